"""Captions of digits: built from the measured attributes, deterministic, closed vocabulary;
captions read from a folder of images with .txt files beside them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from genzoo.data import captions as cap
from genzoo.data.dataset import load_dataset
from genzoo.errors import DataFileError, GenzooError


def _stroke(width: int, shear: float = 0.0, size: int = 28) -> torch.Tensor:
    """A vertical bar ``width`` pixels wide, its top moved right by ``shear`` pixels per row up."""
    ink = torch.zeros(1, size, size)
    for r in range(4, size - 4):
        c = int(round(size / 2 + shear * (size / 2 - r)))
        ink[0, r, c - width // 2: c - width // 2 + width] = 1.0
    return ink


def test_thick_and_leaning_digits_are_captioned_so():
    ink = torch.stack([_stroke(1), _stroke(3), _stroke(6), _stroke(3, 0.5), _stroke(3, -0.5)])
    labels = torch.tensor([1, 1, 1, 7, 7])
    thresholds = cap.thickness_thresholds(ink[:3])
    got = cap.digit_captions(ink, labels, thresholds)
    assert len(got) == 5 and all(len(p) == len(cap.TEMPLATES) for p in got)
    assert "thin" in cap.words(got[0][0]) and "thick" in cap.words(got[2][0])
    assert not {"thin", "thick"} & set(cap.words(got[1][0]))  # the middle third gets no word
    assert got[3][0].endswith("leaning right") and got[4][0].endswith("leaning left")
    assert got[0][0] == "a thin one upright" and got[3][1] == "a 7 leaning right"
    for phrasings in got:  # every phrasing names the digit, in words or as a numeral
        d = int(labels[got.index(phrasings)])
        assert all({cap.DIGIT_WORDS[d], str(d)} & set(cap.words(p)) for p in phrasings)


def test_captions_are_deterministic_and_in_the_fixed_vocabulary():
    g = torch.Generator().manual_seed(0)
    ink = torch.rand(30, 1, 12, 12, generator=g) ** 3
    y = torch.arange(30) % 10
    a = cap.describe_digits(ink[:20], y[:20], ink[20:], y[20:])
    b = cap.describe_digits(ink[:20], y[:20], ink[20:], y[20:])
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2] == b[2]
    vocab = a[2]["vocabulary"]
    assert vocab == cap.template_vocabulary() and vocab[0] == cap.PAD
    assert a[0].shape == (20, len(cap.TEMPLATES), a[2]["max_words"]) and int(a[0].max()) < len(vocab)
    assert (a[0][:, :, 0] != 0).all()  # no empty phrasing


def test_encode_refuses_unknown_words_and_empty_text():
    vocab = cap.template_vocabulary()
    ids = cap.encode("A thick 3!", vocab, length=6)  # case and punctuation are dropped
    assert cap.decode(ids, vocab) == "a thick 3" and ids.tolist()[3:] == [0, 0, 0]
    with pytest.raises(GenzooError, match="purple"):
        cap.encode("a purple 3", vocab)
    with pytest.raises(GenzooError, match="empty caption"):
        cap.encode(" ?! ", vocab)


def test_digits_with_captions_option():
    d = load_dataset("digits", captions=True)
    info = d.spec.extra["captions"]
    c = d.train.extra["caption"]
    assert c.shape[:2] == (len(d.train), 4) and d.test.extra["caption"].shape[0] == len(d.test)
    first = cap.decode(c[0, 0], info["vocabulary"])
    assert cap.DIGIT_WORDS[int(d.train.y[0])] in first.split()
    assert "caption" in d.train.batch(torch.arange(3)) and load_dataset("digits").spec.extra == {}


def _folder(tmp_path, captions: dict[str, str | None]):
    for i, (name, text) in enumerate(captions.items()):
        a = np.zeros((8, 8), np.uint8)
        a[:, i % 8] = 255
        Image.fromarray(a).save(tmp_path / f"{name}.png")
        if text is not None:
            (tmp_path / f"{name}.txt").write_text(text)
    return tmp_path


def test_image_folder_reads_captions_beside_images(tmp_path):
    root = _folder(tmp_path, {"a": "a red bar\nthe bar", "b": "a blue bar", "c": "Blue, bar."})
    d = load_dataset("images", root=root, size=8, captions=True, test_fraction=0.0)
    info = d.spec.extra["captions"]
    assert info["vocabulary"] == [cap.PAD, "a", "bar", "blue", "red", "the"] and info["phrasings"] == 2
    texts = {tuple(cap.decode(p, info["vocabulary"]) for p in row) for row in d.train.extra["caption"]}
    assert texts == {("a red bar", "the bar"), ("a blue bar", "a blue bar"), ("blue bar", "blue bar")}


@pytest.mark.parametrize("captions,match", [({"a": "a bar", "b": None}, "no caption file"),
                                            ({"a": "a bar", "b": "  \n ..\n"}, "empty caption")])
def test_image_folder_bad_captions(tmp_path, captions, match):
    with pytest.raises(DataFileError, match=match):
        load_dataset("images", root=_folder(tmp_path, captions), size=8, captions=True)
