"""Binarized MNIST: the real 50k/10k/10k files, .amat parsing and validation, downloads."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest
import torch

from genzoo.data.binarized_mnist import read_amat
from genzoo.data.dataset import load_dataset
from genzoo.errors import DataFileError

SPLITS = ("train", "valid", "test")


@pytest.fixture(scope="module")
def real(shared_data):
    return load_dataset("binarized_mnist", root=shared_data / "binarized_mnist")


def _amat(rows: np.ndarray) -> bytes:
    return b"".join(" ".join(map(str, r)).encode() + b"\n" for r in rows)


def test_real_files(real):
    d = real
    s = d.spec
    assert (s.name, s.kind, s.shape, s.value_type, s.num_values, s.num_classes) == (
        "binarized_mnist", "image", (1, 28, 28), "binary", 2, None)
    assert (len(d.train), len(d.valid), len(d.test)) == (50000, 10000, 10000)
    for sp in (d.train, d.valid, d.test):
        assert sp.y is None and sp.x.dtype == torch.float32
        s.check(sp.x[:2])
    assert set(d.test.x.unique().tolist()) == {0.0, 1.0}
    assert 0.12 < float(d.train.x.mean()) < 0.145
    # digits are drawn upright: ink is concentrated in the centre rows/cols
    m = d.test.x.mean(0)[0]
    assert float(m[10:18, 10:18].mean()) > 4 * float(m[:3].mean() + 1e-3)
    assert d.split("valid") is d.valid


def test_uncompressed_and_gz_parse_the_same(tmp_path):
    rows = np.random.default_rng(0).integers(0, 2, size=(5, 784))
    (tmp_path / "a.amat").write_bytes(_amat(rows))
    (tmp_path / "a.amat.gz").write_bytes(gzip.compress(_amat(rows)))
    crlf = _amat(rows).replace(b"\n", b"\r\n").rstrip(b"\r\n")  # CRLF, no final newline
    (tmp_path / "b.amat").write_bytes(crlf)
    for name in ("a.amat", "a.amat.gz", "b.amat"):
        got = read_amat(tmp_path / name)
        assert got.shape == (5, 784) and np.array_equal(got, rows)


def test_small_dataset_and_subset(tmp_path):
    rng = np.random.default_rng(1)
    for i, s in enumerate(SPLITS):
        data = _amat(rng.integers(0, 2, size=(6 + i, 784)))
        if s == "valid":
            (tmp_path / f"binarized_mnist_{s}.amat.gz").write_bytes(gzip.compress(data))
        else:
            (tmp_path / f"binarized_mnist_{s}.amat").write_bytes(data)
    d = load_dataset("binarized_mnist", root=tmp_path)
    assert (len(d.train), len(d.valid), len(d.test)) == (6, 7, 8)
    sub = load_dataset("binarized_mnist", root=tmp_path, subset="4")
    assert len(sub.train) == 4 and len(sub.test) == 8
    assert torch.equal(sub.train.x, d.train.x[:4])


@pytest.mark.parametrize("mutate,match", [
    (lambda b: b[:-100], "row 3 holds"),                   # truncated last row
    (lambda b: b.replace(b"0 ", b"2 ", 1), "unexpected byte"),
    (lambda b: b.replace(b"1 ", b"11 ", 1), "other than 0 or 1"),
    (lambda b: b"", "no rows"),
])
def test_corrupt_amat(tmp_path, mutate, match):
    rows = np.random.default_rng(2).integers(0, 2, size=(3, 784))
    p = tmp_path / "binarized_mnist_test.amat"
    p.write_bytes(mutate(_amat(rows)))
    with pytest.raises(DataFileError, match=match) as e:
        read_amat(p)
    assert str(p) in str(e.value)


def test_missing_files_offline(tmp_path):
    with pytest.raises(DataFileError) as e:
        load_dataset("binarized_mnist", root=tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and "--data-dir" in msg and str(tmp_path) in msg
    for s in SPLITS:
        assert f"binarized_mnist_{s}.amat" in msg


def test_download(shared_data, tmp_path, server, monkeypatch, real):
    served, url = server
    url += "/"
    src = shared_data / "binarized_mnist"
    # serve the real test split uncompressed, as the canonical site does
    (served / "binarized_mnist_test.amat").write_bytes(gzip.decompress((src / "binarized_mnist_test.amat.gz").read_bytes()))
    # a short "valid" file: downloads must hold the official row count
    (served / "binarized_mnist_valid.amat").write_bytes(_amat(np.zeros((3, 784), dtype=int)))
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(src / "binarized_mnist_train.amat.gz", root / "binarized_mnist_train.amat.gz")
    os.symlink(src / "binarized_mnist_valid.amat.gz", root / "binarized_mnist_valid.amat.gz")
    monkeypatch.setenv("GENZOO_BINARIZED_MNIST_MIRRORS", url)
    d = load_dataset("binarized_mnist", root=root)
    assert (root / "binarized_mnist_test.amat").is_file()
    assert torch.equal(d.test.x, real.test.x)
    # now the valid file must be downloaded too, and the short one is rejected and deleted
    (root / "binarized_mnist_valid.amat.gz").unlink()
    with pytest.raises(DataFileError, match="3 rows, expected 10000"):
        load_dataset("binarized_mnist", root=root)
    assert not (root / "binarized_mnist_valid.amat").exists()
    assert not list(root.glob("*.part"))
