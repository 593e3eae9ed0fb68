"""Captions: image descriptions as word tokens, for text-to-image models.

A captioned dataset carries, besides its images, ``Split.extra["caption"]``: int64 word ids
``(N, P, L)``, P phrasings of each image's caption, each padded with 0 to L words. The spec
holds what a model needs to read them, ``spec.extra["captions"]``:

* ``vocabulary``: the words, id 0 being the padding ``<pad>``;
* ``phrasings`` P and ``max_words`` L;
* ``examples``: a few training captions (strings) that unconditional sampling draws from.

Words are runs of lower-case letters and digits (:func:`words`: case and punctuation are
dropped). The vocabulary is closed: a prompt with a word outside it is refused with an
error naming the word (there is no "unknown" token), as character models refuse unknown
characters.

MNIST captions (:func:`digit_captions`) are built from each image's label and its
measured stroke thickness and slant (:mod:`genzoo.data.attributes`): "thin" and "thick"
for the lowest and highest third of the training split's thickness, "leaning left" /
"leaning right" beyond ``SLANT_DEGREES`` of slant and "upright" inside it. The
:data:`TEMPLATES` give P = 4 fixed phrasings per image ("a thick seven leaning right",
"a thick 7 leaning right", "the digit seven, thick stroke, slanted right", "7 written with
a thick pen leaning right"); which phrasing a training step sees is chosen by the model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch

from genzoo.data import attributes
from genzoo.errors import GenzooError

PAD = "<pad>"
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SLANT_DEGREES = 8.0  # |slant| above this is "leaning"; the middle of MNIST's spread is within about 10 degrees
EXAMPLES = 200  # training captions kept in the spec for unconditional sampling
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """The words of ``text``: lower-cased runs of letters and digits."""
    return _WORD.findall(text.lower())


def _article(rest: str) -> str:
    first = rest.split(" ", 1)[0]
    return "an" if first[:1] in "aeiou" or first == "8" else "a"


def _phrase(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def _with_article(*parts: str) -> str:
    rest = _phrase(*parts)
    return f"{_article(rest)} {rest}"


# Each template: (digit, digit word, thickness word or "", slant words or "") -> caption.
SLANT_WORDS = {"left": "leaning left", "right": "leaning right", "upright": "upright"}
TEMPLATES = (
    lambda d, w, t, s: _with_article(t, w, SLANT_WORDS.get(s, "")),
    lambda d, w, t, s: _with_article(t, str(d), SLANT_WORDS.get(s, "")),
    lambda d, w, t, s: _phrase(f"the digit {w}", f", {t} stroke" if t else "",
                               {"left": ", slanted left", "right": ", slanted right",
                                "upright": ", upright"}.get(s, "")).replace(" ,", ","),
    lambda d, w, t, s: _phrase(str(d), f"written with a {t} pen" if t else "", SLANT_WORDS.get(s, "")),
)


def thickness_thresholds(ink: torch.Tensor) -> tuple[float, float]:
    """The training split's thickness terciles (thin below the first, thick above the second)."""
    t = attributes.thickness(ink)
    lo, hi = torch.quantile(t.double(), torch.tensor([1 / 3, 2 / 3], dtype=torch.float64)).tolist()
    return float(lo), float(hi)


def digit_descriptions(ink: torch.Tensor, labels: torch.Tensor, thresholds: tuple[float, float]
                       ) -> list[tuple[int, str, str]]:
    """(digit, thickness word or "", slant word or "") of each image, from its measures."""
    t, s = attributes.thickness(ink).tolist(), attributes.slant(ink).tolist()
    lo, hi = thresholds
    out = []
    for d, ti, si in zip(labels.tolist(), t, s):
        thick = "thin" if ti < lo else "thick" if ti > hi else ""
        lean = "left" if si < -SLANT_DEGREES else "right" if si > SLANT_DEGREES else "upright"
        out.append((int(d), thick, lean))
    return out


def digit_captions(ink: torch.Tensor, labels: torch.Tensor, thresholds: tuple[float, float]) -> list[list[str]]:
    """The P phrasings (one per template) of each digit image: ``ink`` (N, 1, H, W) in [0, 1]."""
    return [[tpl(d, DIGIT_WORDS[d], t, s) for tpl in TEMPLATES]
            for d, t, s in digit_descriptions(ink, labels, thresholds)]


def template_vocabulary() -> list[str]:
    """Every word the digit templates can write (fixed, so every MNIST run shares it)."""
    seen: set[str] = set()
    for d in range(10):
        for t in ("", "thin", "thick"):
            for s in ("", *SLANT_WORDS):
                for tpl in TEMPLATES:
                    seen.update(words(tpl(d, DIGIT_WORDS[d], t, s)))
    return [PAD, *sorted(seen)]


def vocabulary_of(captions: Sequence[Sequence[str]]) -> list[str]:
    """``<pad>`` then the sorted words of every caption."""
    return [PAD, *sorted({w for phr in captions for c in phr for w in words(c)})]


def encode(text: str, vocabulary: Sequence[str], *, length: int | None = None) -> torch.Tensor:
    """Word ids (L,) int64 of ``text`` (padded with 0 to ``length`` when given).

    Raises:
        GenzooError: a word outside ``vocabulary``, an empty caption, or more than
            ``length`` words.
    """
    index = {w: i for i, w in enumerate(vocabulary) if w != PAD}
    ws = words(text)
    if not ws:
        raise GenzooError(f"empty caption {text!r}: a caption needs at least one word")
    unknown = sorted({w for w in ws if w not in index})
    if unknown:
        shown = ", ".join(w for w in vocabulary if w != PAD)
        raise GenzooError(f"word(s) not in the model's vocabulary: {', '.join(unknown)} (known: {shown})")
    if length is not None and len(ws) > length:
        raise GenzooError(f"caption {text!r} has {len(ws)} words; at most {length}")
    ids = [index[w] for w in ws]
    return torch.tensor(ids + [0] * ((length or len(ids)) - len(ids)), dtype=torch.int64)


def encode_batch(texts: Sequence[str] | str, vocabulary: Sequence[str], n: int | None = None) -> torch.Tensor:
    """Word ids (n, L) of ``texts``: one text repeated ``n`` times, or one per row, padded
    with 0 to the longest (errors as :func:`encode`)."""
    texts = [texts] * (n or 1) if isinstance(texts, str) else list(texts)
    rows = [encode(t, vocabulary) for t in texts]
    length = max(len(r) for r in rows)
    return torch.stack([torch.nn.functional.pad(r, (0, length - len(r))) for r in rows])


def checked_ids(condition: Any, n: int, vocabulary_size: int, *, who: str) -> torch.Tensor:
    """``condition`` as word ids (n, L) int64, or a GenzooError saying what ``who`` (the
    model) expects: ids in [0, vocabulary_size), at least one word in every row."""
    ids = torch.as_tensor(condition)
    if (ids.dim() != 2 or ids.shape[0] != n or ids.dtype.is_floating_point or ids.numel() == 0
            or int(ids.min()) < 0 or int(ids.max()) >= vocabulary_size or bool((ids != 0).sum(1).eq(0).any())):
        raise GenzooError(f"{who} is conditioned on captions: condition must be word ids ({n}, L) in "
                          f"[0, {vocabulary_size}), at least one word each (genzoo sample --text)")
    return ids.long()


def decode(ids: torch.Tensor, vocabulary: Sequence[str]) -> str:
    """The caption of word ids ``ids`` (L,), padding left out."""
    return " ".join(vocabulary[i] for i in ids.tolist() if i != 0)


def encode_all(captions: Sequence[Sequence[str]], vocabulary: Sequence[str], length: int) -> torch.Tensor:
    """(N, P, L) word ids of N images' P phrasings each."""
    done: dict[str, torch.Tensor] = {}  # digit captions repeat: encode each text once
    for phr in captions:
        for c in phr:
            if c not in done:
                done[c] = encode(c, vocabulary, length=length)
    return torch.stack([torch.stack([done[c] for c in phr]) for phr in captions])


def caption_info(train: Sequence[Sequence[str]], vocabulary: Sequence[str], length: int,
                 **more: Any) -> dict[str, Any]:
    """``spec.extra["captions"]``: the vocabulary, P, L and a spread of training captions."""
    step = max(1, len(train) // EXAMPLES)
    examples = [phr[i % len(phr)] for i, phr in enumerate(train[::step][:EXAMPLES])]
    return {"vocabulary": list(vocabulary), "phrasings": len(train[0]), "max_words": length,
            "examples": examples, **more}


def max_words(*captions: Sequence[Sequence[str]]) -> int:
    return max(len(words(c)) for part in captions for phr in part for c in phr)


def describe_digits(train_ink: torch.Tensor, train_y: torch.Tensor, test_ink: torch.Tensor, test_y: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """Caption ids of a digit dataset's train and test images and its ``spec.extra["captions"]``
    (terciles of thickness measured on train)."""
    thresholds = thickness_thresholds(train_ink)
    tr, te = digit_captions(train_ink, train_y, thresholds), digit_captions(test_ink, test_y, thresholds)
    vocab = template_vocabulary()
    length = max_words(tr, te)
    info = caption_info(tr, vocab, length, thickness_thresholds=list(thresholds), slant_degrees=SLANT_DEGREES)
    return encode_all(tr, vocab, length), encode_all(te, vocab, length), info
