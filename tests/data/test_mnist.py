"""MNIST IDX loading on the real files, corrupt files, offline errors and downloads."""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import pytest
import torch

from genzoo.data.dataset import load_dataset
from genzoo.data.mnist import MNIST_MD5, read_idx
from genzoo.errors import DataFileError

NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


@pytest.fixture(scope="module")
def real(shared_data):
    return load_dataset("mnist", root=shared_data / "mnist")


def _copy_gz(src: Path, dst: Path, names=NAMES) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for n in names:
        shutil.copyfile(src / f"{n}.gz", dst / f"{n}.gz")


def test_real_files(real):
    d = real
    s = d.spec
    assert (s.name, s.kind, s.shape, s.value_type, s.num_values, s.num_classes) == (
        "mnist", "image", (1, 28, 28), "categorical", 256, 10)
    assert len(d.train) == 10000 and len(d.test) == 10000  # the count comes from the header
    assert d.train.x.dtype == torch.int64 and d.train.y.dtype == torch.int64
    assert int(d.train.x.min()) == 0 and int(d.train.x.max()) == 255
    assert set(d.train.y.unique().tolist()) == set(range(10))
    # The shared train subset's label counts (its README says "1,000 per digit", but the
    # file holds these counts) and the official test counts.
    assert d.train.y.bincount().tolist() == [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    assert d.test.y.bincount().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert d.valid is None and d.transform is None
    mean = d.test.x.float().mean() / 255
    assert 0.12 < float(mean) < 0.14  # the well-known MNIST mean intensity ~0.13


def test_options_through_loader(shared_data, real):
    u = load_dataset("mnist", root=shared_data / "mnist", scale="unit")
    assert u.spec.value_type == "continuous" and u.spec.value_range == (0.0, 1.0)
    assert torch.allclose(u.test.x[:50] * 255, real.test.x[:50].float())
    dyn = load_dataset("mnist", root=str(shared_data / "mnist"), binarize="dynamic")
    assert dyn.spec.value_type == "binary" and dyn.transform is not None
    b1 = dyn.transform(dyn.train.x[:64], torch.Generator().manual_seed(0))
    b2 = dyn.transform(dyn.train.x[:64], torch.Generator().manual_seed(0))
    b3 = dyn.transform(dyn.train.x[:64], torch.Generator().manual_seed(1))
    assert torch.equal(b1, b2) and not torch.equal(b1, b3)
    thr = load_dataset("mnist", root=shared_data / "mnist", binarize="threshold")
    assert set(thr.test.x.unique().tolist()) == {0.0, 1.0}


def test_uncompressed_and_mixed_files_load(shared_data, tmp_path, real):
    src = shared_data / "mnist"
    for i, n in enumerate(NAMES):
        if i % 2 == 0:  # images uncompressed, labels gzipped
            (tmp_path / n).write_bytes(gzip.decompress((src / f"{n}.gz").read_bytes()))
        else:
            shutil.copyfile(src / f"{n}.gz", tmp_path / f"{n}.gz")
    d = load_dataset("mnist", root=tmp_path)
    assert torch.equal(d.train.x, real.train.x) and torch.equal(d.test.y, real.test.y)


def _good_labels(shared_data) -> bytes:
    return gzip.decompress((shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes())


def test_truncated_uncompressed_idx(shared_data, tmp_path):
    raw = _good_labels(shared_data)
    p = tmp_path / "labels"
    p.write_bytes(raw[:-10])
    with pytest.raises(DataFileError, match="truncated") as e:
        read_idx(p)
    assert str(p) in str(e.value)
    p.write_bytes(raw[:6])
    with pytest.raises(DataFileError, match="header"):
        read_idx(p)


def test_bad_magic_and_bad_gzip(shared_data, tmp_path):
    p = tmp_path / "x.idx"
    p.write_bytes(b"\x12\x34\x56\x78" + b"\x00" * 100)
    with pytest.raises(DataFileError, match="magic") as e:
        read_idx(p)
    assert str(p) in str(e.value)
    p.write_bytes(b"")
    with pytest.raises(DataFileError, match="not an IDX"):
        read_idx(p)
    gz = (shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    q = tmp_path / "t.gz"
    q.write_bytes(gz[: len(gz) // 2])  # truncated gzip stream
    with pytest.raises(DataFileError, match="gzip") as e:
        read_idx(q)
    assert str(q) in str(e.value)
    q.write_bytes(gz[:20] + b"\xff" * 200)  # gzip magic, garbage body
    with pytest.raises(DataFileError, match="gzip"):
        read_idx(q)


def test_corrupt_file_in_dataset_names_it(shared_data, tmp_path):
    _copy_gz(shared_data / "mnist", tmp_path)
    bad = tmp_path / "t10k-images-idx3-ubyte.gz"
    data = gzip.decompress(bad.read_bytes())
    bad.write_bytes(gzip.compress(data[: len(data) - 784 * 3], compresslevel=1))  # header count > data
    with pytest.raises(DataFileError) as e:
        load_dataset("mnist", root=tmp_path)
    assert "t10k-images-idx3-ubyte.gz" in str(e.value) and "truncated" in str(e.value)


def test_label_image_count_mismatch(shared_data, tmp_path):
    _copy_gz(shared_data / "mnist", tmp_path)
    # swap in a labels file with a different count
    raw = bytearray(_good_labels(shared_data))
    raw[4:8] = (5000).to_bytes(4, "big")
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(bytes(raw[: 8 + 5000]))
    with pytest.raises(DataFileError, match="5000 labels"):
        load_dataset("mnist", root=tmp_path)


def test_missing_files_offline(tmp_path):
    with pytest.raises(DataFileError) as e:
        load_dataset("mnist", root=tmp_path / "empty")
    msg = str(e.value)
    assert "\n" not in msg
    for n in NAMES:
        assert n in msg
    assert "--data-dir" in msg and str(tmp_path / "empty") in msg and "GENZOO_OFFLINE" in msg


def test_missing_files_default_root_and_download_false(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("GENZOO_HOME", str(tmp_path / "home"))
    with pytest.raises(DataFileError, match="home/mnist"):
        load_dataset("mnist")
    monkeypatch.delenv("GENZOO_OFFLINE")
    _copy_gz(shared_data / "mnist", tmp_path / "part", NAMES[:3])
    with pytest.raises(DataFileError) as e:
        load_dataset("mnist", root=tmp_path / "part", download=False)
    assert "t10k-labels-idx1-ubyte" in str(e.value) and "train-images" not in str(e.value)
    assert "--data-dir" in str(e.value)


# ------------------------------------------------------------------------ downloads


def test_download_official_test_files(shared_data, tmp_path, server, monkeypatch):
    served, url = server
    src = shared_data / "mnist"
    _copy_gz(src, served, NAMES[2:])
    root = tmp_path / "root"
    _copy_gz(src, root, NAMES[:2])  # the (non-official) train subset is already local
    # first mirror has nothing (404), the second serves the files
    monkeypatch.setenv("GENZOO_MNIST_MIRRORS", f"{url}/nothing-here/, {url}/")
    d = load_dataset("mnist", root=root)
    assert len(d.test) == 10000
    for n in NAMES[2:]:
        got = root / f"{n}.gz"
        assert got.is_file()
        assert hashlib.md5(got.read_bytes()).hexdigest() == MNIST_MD5[f"{n}.gz"]
    assert not list(root.glob("*.part"))
    # local train files keep their own (non-official) checksums
    assert hashlib.md5((root / "train-images-idx3-ubyte.gz").read_bytes()).hexdigest() != MNIST_MD5[
        "train-images-idx3-ubyte.gz"]


def test_download_with_wrong_content_is_rejected(shared_data, tmp_path, server, monkeypatch):
    served, url = server
    src = shared_data / "mnist"
    _copy_gz(src, served, NAMES[2:3])
    # a labels file with the wrong content under the official name
    shutil.copyfile(src / "train-labels-idx1-ubyte.gz", served / "t10k-labels-idx1-ubyte.gz")
    root = tmp_path / "root"
    _copy_gz(src, root, NAMES[:2])
    monkeypatch.setenv("GENZOO_MNIST_MIRRORS", url)
    with pytest.raises(DataFileError) as e:
        load_dataset("mnist", root=root)
    assert "t10k-labels-idx1-ubyte.gz" in str(e.value) and "MD5" in str(e.value)
    assert not (root / "t10k-labels-idx1-ubyte.gz").exists()
    assert not list(root.glob("*.part"))
    assert (root / "t10k-images-idx3-ubyte.gz").is_file()  # the good one was kept


def test_download_failure_is_one_line(tmp_path, server, monkeypatch):
    _, url = server
    monkeypatch.setenv("GENZOO_MNIST_MIRRORS", f"{url}/a/,{url}/b/")
    with pytest.raises(DataFileError) as e:
        load_dataset("mnist", root=tmp_path / "root")
    msg = str(e.value)
    assert "\n" not in msg and "could not download" in msg and "--data-dir" in msg
    assert "404" in msg
