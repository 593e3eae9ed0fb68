"""Every user error: one line naming the problem, exit code 2, no traceback (unless --debug),
and nothing the user had is overwritten."""

from __future__ import annotations

import gzip
import shutil

import pytest

from genzoo.cli.main import main


def _err(capsys, argv) -> str:
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert "\n" not in err and "Traceback" not in err, err
    return err


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs") / "made"
    assert main(["train", "made", "--data", "digits", "--steps", "3", "--set", "hidden=16",
                 "--run-dir", str(d), "--no-progress"]) == 0
    return d


def test_unknown_model_suggests_close_names(capsys):
    err = _err(capsys, ["train", "mdae", "--data", "digits"])
    assert "unknown model 'mdae'" in err and "'made'" in err


def test_unknown_dataset_suggests_close_names(capsys):
    err = _err(capsys, ["train", "made", "--data", "digit"])
    assert "unknown dataset 'digit'" in err and "'digits'" in err


def test_bad_set_key_lists_valid_keys(capsys):
    err = _err(capsys, ["train", "made", "--set", "hiden=3"])
    assert "unknown key 'hiden'" in err and "hidden" in err and "lr" in err


def test_bad_qualified_key(capsys):
    err = _err(capsys, ["train", "made", "--set", "train.lrate=3"])
    assert "lrate" in err and "valid keys" in err


@pytest.mark.parametrize("item,needle", [("train.lr=abc", "expected float"),
                                         ("train.lr=-1", "must be > 0"),
                                         ("train.optimizer=rmsprop", "'adam'"),
                                         ("data.binarize=maybe", "'dynamic'"),
                                         ("hidden=x", "expected"),
                                         ("novalue", "key=value")])
def test_bad_values_say_what_is_allowed(capsys, item, needle):
    err = _err(capsys, ["train", "made", "--set", item])
    assert needle in err


def test_incompatible_model_and_data(capsys):
    err = _err(capsys, ["train", "made", "--data", "toy2d"])
    assert "cannot model" in err and "accepts" in err


def test_missing_data_offline_names_files_and_option(capsys, tmp_path):
    err = _err(capsys, ["train", "made", "--data", "mnist", "--data-dir", str(tmp_path), "--offline"])
    assert "t10k-images-idx3-ubyte" in err and "--data-dir" in err


def test_truncated_data_file_is_named(capsys, tmp_path, shared_data):
    for f in (shared_data / "mnist").iterdir():
        shutil.copy(f, tmp_path / f.name)
    raw = gzip.decompress((tmp_path / "t10k-images-idx3-ubyte.gz").read_bytes())
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw[: len(raw) // 2]))
    err = _err(capsys, ["train", "made", "--data", "mnist", "--data-dir", str(tmp_path), "--offline"])
    assert "t10k-images-idx3-ubyte.gz" in err


def test_corrupt_weights_are_named(capsys, run_dir, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(run_dir, bad)
    data = (bad / "model.safetensors").read_bytes()
    (bad / "model.safetensors").write_bytes(data[: len(data) // 3])
    err = _err(capsys, ["eval", str(bad)])
    assert "model.safetensors" in err and "corrupt" in err


def test_mismatched_checkpoint(capsys, run_dir, tmp_path):
    other = tmp_path / "other"
    assert main(["train", "made", "--data", "digits", "--steps", "2", "--set", "hidden=24",
                 "--run-dir", str(other), "--no-progress"]) == 0
    capsys.readouterr()
    shutil.copy(run_dir / "model.safetensors", other / "model.safetensors")
    err = _err(capsys, ["sample", str(other)])
    assert "do not match" in err


def test_not_a_run(capsys, tmp_path):
    assert "not a genzoo run" in _err(capsys, ["eval", str(tmp_path)])
    assert "not found" in _err(capsys, ["sample", str(tmp_path / "nope")])


def test_existing_run_dir_is_not_overwritten(capsys, run_dir):
    before = (run_dir / "model.safetensors").read_bytes()
    err = _err(capsys, ["train", "made", "--data", "digits", "--steps", "2", "--run-dir", str(run_dir)])
    assert "already exists" in err
    assert (run_dir / "model.safetensors").read_bytes() == before


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--steps", "many"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "invalid int value" in err


def test_no_likelihood_for_gans(capsys, tmp_path):
    d = tmp_path / "gan"
    assert main(["train", "dcgan", "--steps", "2", "--set", "channels=8", "--run-dir", str(d), "--no-progress"]) == 0
    capsys.readouterr()
    assert "no likelihood" in _err(capsys, ["eval", str(d), "--metrics", "nll"])


def test_debug_shows_the_traceback():
    from genzoo.errors import UnknownNameError

    with pytest.raises(UnknownNameError):
        main(["--debug", "train", "mdae"])


def test_cuda_asked_for_without_a_gpu(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert "CUDA is not available" in _err(capsys, ["train", "made", "--device", "cuda", "--steps", "1"])


def test_bf16_autocast_is_refused_on_cpu(capsys):
    err = _err(capsys, ["train", "made", "--device", "cpu", "--set", "train.amp=bf16", "--steps", "1"])
    assert "bf16" in err and "GPU" in err
