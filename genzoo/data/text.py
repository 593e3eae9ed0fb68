"""``text``: windows of characters from your own UTF-8 text, for sequence models (``lstm``).

``--data-dir PATH`` (required) names one UTF-8 file, or a folder whose files (searched
recursively, hidden files skipped, sorted by path) are read and concatenated, a newline
between files that do not end in one. Files that are not UTF-8 text (undecodable, or
holding NUL bytes) are skipped and counted in ``Dataset.info["skipped"]``.

The vocabulary is the sorted set of distinct characters of the whole text; it goes into
``spec.vocabulary`` so it travels with a run's ``config.json`` (:func:`encode_text` /
:func:`decode_text` map between strings and token ids with it). The split is by
position: the first ``1 - test_fraction`` of the text is ``train``, the rest ``test``,
so no held-out character was seen in training.

Without a data directory, ``corpus=pydoc`` reads a built-in English corpus that every
Python installation carries: the help pages of the Python reference (``pydoc_data.topics``,
about 465,000 characters of prose and code examples, in sorted topic order). It needs no
download, so the text recipes and tests run offline.

Examples are windows of ``block_size`` characters, int64 ids: kind ``sequence``, shape
``(block_size,)``, ``categorical(V)``. Training windows start every ``stride``
characters (default ``block_size // 2``); test windows do not overlap (stride
``block_size``), so every held-out character is scored once. Windows are a strided
view (``Tensor.unfold``) of the encoded text, so memory is 8 bytes per character
whatever the stride; a batch materialises only its own rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genzoo.config import choice, positive
from genzoo.data.dataset import Dataset, Split, register_dataset
from genzoo.data.spec import DataSpec
from genzoo.errors import DataFileError, GenzooError


@dataclass
class TextOptions:
    """Options of the ``text`` dataset.

    Args:
        block_size: characters per example (the sequence length T).
        stride: characters between the starts of consecutive training windows
            (None: ``block_size // 2``).
        test_fraction: share of the text, taken from its end, held out as ``test``.
        corpus: ``pydoc`` reads Python's bundled help pages instead of ``--data-dir``.
    """

    block_size: int = 64
    stride: int | None = None
    test_fraction: float = 0.1
    corpus: str | None = None

    def validate(self) -> None:
        if self.corpus is not None:
            choice(self.corpus, ("pydoc",), "corpus")
        positive(self.block_size, "block_size")
        if self.stride is not None:
            positive(self.stride, "stride")
        if not 0.0 <= self.test_fraction < 1.0:
            raise GenzooError(f"bad value {self.test_fraction!r} for test_fraction: must be in [0, 1)")


def _read_texts(root: Path) -> tuple[list[str], list[str], list[str]]:
    """(texts, kept file names, skipped file names) of ``root`` (a file or a folder)."""
    if root.is_file():
        files, base = [root], root.parent
    else:
        files = sorted(p for p in root.rglob("*") if p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(root).parts))
        base = root
    texts: list[str] = []
    kept: list[str] = []
    skipped: list[str] = []
    for p in files:
        name = str(p.relative_to(base))
        try:
            t = p.read_bytes().decode("utf-8")
        except (UnicodeDecodeError, OSError):
            skipped.append(name)
            continue
        if "\x00" in t:  # decodes, but is a binary file
            skipped.append(name)
            continue
        texts.append(t.removeprefix("\ufeff"))  # drop a byte-order mark
        kept.append(name)
    return texts, kept, skipped


def _pydoc_text() -> str:
    """Python's bundled help pages, one topic after another in sorted order."""
    from pydoc_data.topics import topics

    return "\n".join(topics[k].strip("\n") + "\n" for k in sorted(topics))


def _windows(ids: torch.Tensor, block_size: int, stride: int) -> torch.Tensor:
    """(N, block_size) view of ``ids`` (L,): windows starting at 0, stride, 2*stride, ..."""
    if len(ids) < block_size:
        return ids.new_empty(0, block_size)
    return ids.unfold(0, block_size, stride)  # a view: no copy of the text


def encode_text(text: str, vocabulary: tuple[str, ...] | list[str]) -> torch.Tensor:
    """Token ids (len(text),) int64 of ``text``; a character outside the vocabulary is an error."""
    index = {c: i for i, c in enumerate(vocabulary)}
    unknown = sorted({c for c in text if c not in index})
    if unknown:
        raise GenzooError(f"characters not in the model's vocabulary: {''.join(unknown)!r}")
    return torch.tensor([index[c] for c in text], dtype=torch.int64)


def decode_text(ids: torch.Tensor, vocabulary: tuple[str, ...] | list[str]) -> str:
    """The string of token ids ``ids`` (L,)."""
    return "".join(vocabulary[i] for i in ids.tolist())


@register_dataset("text", TextOptions,
                  "your own UTF-8 text file or folder (--data-dir) or the built-in English corpus "
                  "(corpus=pydoc), as windows of characters; options block_size, stride, test_fraction, corpus")
def load_text(root: Path | None, opts: TextOptions, *, download: bool = True) -> Dataset:
    if root is not None and opts.corpus is not None:
        raise GenzooError(f"dataset 'text': give either --data-dir or corpus={opts.corpus}, not both")
    if root is None and opts.corpus is None:
        raise GenzooError("dataset 'text' needs a UTF-8 text file or folder: pass --data-dir PATH "
                          "(or --set data.corpus=pydoc for the built-in corpus)")
    if root is not None and not root.exists():
        raise DataFileError(f"text path {root} does not exist; pass --data-dir PATH naming a UTF-8 file or folder")
    source = root if root is not None else f"corpus {opts.corpus}"
    if root is None:
        texts, kept, skipped = [_pydoc_text()], ["pydoc_data.topics"], []
    else:
        texts, kept, skipped = _read_texts(root)
    # a newline between files that do not end in one, so words do not run together
    text = "".join(t if (i == len(texts) - 1 or t.endswith("\n")) else t + "\n" for i, t in enumerate(texts))
    if not text:
        raise GenzooError(f"no UTF-8 text in {source}" + (f" ({len(skipped)} undecodable files skipped)"
                                                        if skipped else ""))
    # code points (L,) -> sorted distinct characters and each character's index in them
    points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    uniq, inverse = np.unique(points, return_inverse=True)
    vocabulary = tuple(chr(int(c)) for c in uniq)
    ids = torch.from_numpy(inverse.astype(np.int64).reshape(-1))  # (L,)

    T = opts.block_size
    n = len(ids)
    n_test = int(round(opts.test_fraction * n))
    n_train = n - n_test
    if n_train < T:
        raise GenzooError(f"the training part of {source} has {n_train} characters, fewer than block_size={T}; "
                          "lower block_size or test_fraction, or give more text")
    if opts.test_fraction > 0 and n_test < T:
        raise GenzooError(f"the test part of {source} has {n_test} characters, fewer than block_size={T}; "
                          "lower block_size, raise test_fraction, or give more text")
    stride = opts.stride or max(T // 2, 1)
    train = _windows(ids[:n_train], T, stride)
    test = _windows(ids[n_train:], T, T)
    spec = DataSpec(name="text", kind="sequence", shape=(T,), value_type="categorical",
                    num_values=len(vocabulary), vocabulary=vocabulary)
    return Dataset(spec=spec, train=Split(train), test=Split(test),
                   info={"root": str(source), "files": kept, "skipped": len(skipped),
                         "skipped_files": skipped[:20], "chars": n, "train_chars": n_train,
                         "test_chars": n_test, "vocab_size": len(vocabulary), "stride": stride})
