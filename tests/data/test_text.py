"""`text`: a file or folder of UTF-8 text as windows of characters, split by position."""

from __future__ import annotations

import json

import pytest
import torch

from genzoo.data.dataset import dataset_names, load_dataset
from genzoo.data.spec import DataSpec
from genzoo.data.text import decode_text, encode_text
from genzoo.errors import DataFileError, GenzooError


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("hello world\n" * 10)  # 120 chars
    (root / "sub" / "b.md").write_text("héllo ☃ end")  # no newline at the end: last file
    (root / "bad.txt").write_bytes(b"\xff\xfe\x00binary\x80junk")  # not UTF-8
    (root / "nul.bin").write_bytes(b"abc\x00def")  # decodes, but binary
    (root / ".hidden.txt").write_text("zzz")  # hidden: ignored
    return root


def test_folder_vocabulary_windows_and_skipped(folder):
    assert "text" in dataset_names()
    d = load_dataset("text", root=folder, block_size=8, test_fraction=0.2)
    text = "hello world\n" * 10 + "héllo ☃ end"
    assert d.info["skipped"] == 2 and set(d.info["skipped_files"]) == {"bad.txt", "nul.bin"}
    assert d.info["files"] == ["a.txt", "sub/b.md"] and d.info["chars"] == len(text)
    s = d.spec
    assert s.vocabulary == tuple(sorted(set(text))) and "z" not in s.vocabulary
    assert (s.kind, s.shape, s.value_type, s.num_values) == ("sequence", (8,), "categorical", len(s.vocabulary))
    # split by position: train is the first 80% of the text, test the rest
    n_test = round(0.2 * len(text))
    train_text, test_text = text[: len(text) - n_test], text[len(text) - n_test:]
    assert d.info["train_chars"] == len(train_text) and d.info["test_chars"] == n_test
    x = d.train.x
    assert x.dtype == torch.int64 and x.shape == (len(range(0, len(train_text) - 8 + 1, 4)), 8)  # stride 8 // 2
    for i in (0, 1, len(x) - 1):
        assert decode_text(x[i], s.vocabulary) == train_text[4 * i: 4 * i + 8]
    t = d.test.x  # non-overlapping test windows
    assert t.shape == (n_test // 8, 8)
    assert decode_text(t.reshape(-1), s.vocabulary) == test_text[: 8 * (n_test // 8)]
    assert torch.equal(encode_text(train_text[:8], s.vocabulary), x[0])
    # the windows are a view of one encoded text, not copies
    assert x.untyped_storage().data_ptr() == t.untyped_storage().data_ptr()
    assert d.train.batch(torch.tensor([2, 0]))["x"].shape == (2, 8)
    # the vocabulary travels in the spec's dict (config.json)
    again = DataSpec.from_dict(json.loads(json.dumps(s.to_dict())))
    assert again.vocabulary == s.vocabulary


def test_single_file_stride_and_options(tmp_path):
    f = tmp_path / "one.txt"
    f.write_text("abcdefghij" * 10)
    d = load_dataset("text", root=f, block_size="10", stride="10", test_fraction="0.1")
    assert d.spec.num_values == 10 and d.info["files"] == ["one.txt"]
    assert d.train.x.shape == (9, 10) and d.test.x.shape == (1, 10)
    assert all(decode_text(r, d.spec.vocabulary) == "abcdefghij" for r in d.train.x)
    d0 = load_dataset("text", root=f, block_size=4, test_fraction=0)
    assert len(d0.test) == 0 and d0.train.x.shape == (49, 4)


@pytest.mark.parametrize("opts,match", [
    ({"block_size": 0}, "block_size"), ({"stride": 0}, "stride"), ({"test_fraction": 1.0}, "test_fraction"),
    ({"block_size": 200}, "block_size"), ({"block_size": 20, "test_fraction": 0.1}, "test part"),
])
def test_bad_options(tmp_path, opts, match):
    (tmp_path / "t.txt").write_text("x" * 150)
    with pytest.raises(GenzooError, match=match):
        load_dataset("text", root=tmp_path, **opts)


def test_missing_and_empty_paths_are_one_line_errors(tmp_path):
    errors = []
    with pytest.raises(GenzooError, match="--data-dir") as e:
        load_dataset("text")
    errors.append(e.value)
    with pytest.raises(DataFileError, match="does not exist") as e:
        load_dataset("text", root=tmp_path / "nowhere")
    errors.append(e.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(GenzooError, match="no UTF-8 text") as e:
        load_dataset("text", root=tmp_path / "empty")
    errors.append(e.value)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x.bin").write_bytes(b"\xff\xfe\xfd")
    with pytest.raises(GenzooError, match="1 undecodable") as e:
        load_dataset("text", root=tmp_path / "junk")
    errors.append(e.value)
    assert all("\n" not in str(err) for err in errors)


def test_encode_rejects_unknown_characters():
    with pytest.raises(GenzooError, match="vocabulary"):
        encode_text("abz", ("a", "b"))


def test_builtin_pydoc_corpus_is_english_prose(tmp_path):
    d = load_dataset("text", corpus="pydoc", block_size=128)
    assert d.info["chars"] > 100_000 and d.info["root"] == "corpus pydoc"
    text = "".join(decode_text(r, d.spec.vocabulary) for r in d.test.x)
    assert text.count(" the ") > 50  # words, not noise
    assert d.train.x.shape[1] == 128 and len(d.test) > 0
    with pytest.raises(GenzooError, match="not both"):
        load_dataset("text", root=tmp_path, corpus="pydoc")
    with pytest.raises(GenzooError, match="corpus"):
        load_dataset("text", corpus="shakespeare")
