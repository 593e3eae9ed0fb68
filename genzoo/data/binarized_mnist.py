"""Binarized MNIST with the fixed binarization of Larochelle & Murray (2011).

The standard benchmark split (50,000 train / 10,000 valid / 10,000 test) used for the
test NLL in nats reported by NADE, MADE, PixelCNN and VAE papers. Files are
``binarized_mnist_{train,valid,test}.amat`` (the canonical download) or ``.amat.gz``:
one row per image, 784 space-separated 0/1 values, row-major 28x28.

No official checksums are published for these files, so a download is not MD5-checked;
instead every file (downloaded or local) is validated: only 0/1 values, exactly 784 per
row, and a freshly downloaded file must hold the official row count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genzoo.config import positive
from genzoo.data.dataset import Dataset, Split, genzoo_home, register_dataset
from genzoo.data.mnist import WantedFile, ensure_files, mirrors_from_env, read_maybe_gzip
from genzoo.data.spec import DataSpec
from genzoo.errors import DataFileError

BINARIZED_MNIST_MIRRORS = ("http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/",)
SPLIT_ROWS = {"train": 50_000, "valid": 10_000, "test": 10_000}
ROW = 784

_SPACE = np.zeros(256, dtype=bool)
_SPACE[[ord(c) for c in " \t\r\n"]] = True


def _fast_parse(buf: np.ndarray) -> np.ndarray | None:
    """The canonical layout ("v v ... v\\n", 1568 bytes a row), or None if it is not."""
    width = 2 * ROW
    if len(buf) == 0 or len(buf) % width:
        return None
    grid = buf.reshape(-1, width)
    seps = grid[:, 1::2]
    if not ((seps[:, :-1] == ord(" ")).all() and (seps[:, -1] == ord("\n")).all()):
        return None
    vals = grid[:, 0::2] - np.uint8(ord("0"))
    if (vals > 1).any():
        return None  # let the general path report where
    return vals


def read_amat(path: Path, expected_rows: int | None = None) -> np.ndarray:
    """Parse a binarized-MNIST ``.amat`` (or ``.amat.gz``) into uint8 (N, 784) of 0/1."""
    buf = np.frombuffer(read_maybe_gzip(path), dtype=np.uint8)
    rows = _fast_parse(buf)
    if rows is not None:
        if expected_rows is not None and len(rows) != expected_rows:
            raise DataFileError(f"{path} holds {len(rows)} rows, expected {expected_rows}")
        return rows
    # General (slower) path: any whitespace layout, with precise error messages.
    is_digit = (buf == ord("0")) | (buf == ord("1"))
    bad = ~(is_digit | _SPACE[buf])
    if bad.any():
        pos = int(np.argmax(bad))
        line = int(np.count_nonzero(buf[:pos] == ord("\n"))) + 1
        raise DataFileError(f"{path} is corrupt: unexpected byte {bytes([buf[pos]])!r} on line {line} "
                            "(expected only 0/1 values)")
    # Digits must be single characters separated by whitespace ("10" would be two values).
    if (is_digit[1:] & is_digit[:-1]).any():
        pos = int(np.argmax(is_digit[1:] & is_digit[:-1]))
        line = int(np.count_nonzero(buf[:pos] == ord("\n"))) + 1
        raise DataFileError(f"{path} is corrupt: a value other than 0 or 1 on line {line}")
    # Values per line: sum the digit mask over each line's byte range.
    ends = np.flatnonzero(buf == ord("\n"))
    if len(buf) and buf[-1] != ord("\n"):
        ends = np.append(ends, len(buf) - 1)
    if len(ends):
        starts = np.concatenate([[0], ends[:-1] + 1])
        per_line = np.add.reduceat(is_digit.view(np.uint8), starts, dtype=np.int64)
    else:
        per_line = np.zeros(0, np.int64)
    per_line = per_line[per_line > 0]  # blank lines are harmless
    wrong = np.flatnonzero(per_line != ROW)
    if len(wrong):
        raise DataFileError(f"{path} is corrupt or truncated: row {int(wrong[0]) + 1} holds "
                            f"{int(per_line[wrong[0]])} values, expected {ROW}")
    if len(per_line) == 0:
        raise DataFileError(f"{path} holds no rows")
    if expected_rows is not None and len(per_line) != expected_rows:
        raise DataFileError(f"{path} holds {len(per_line)} rows, expected {expected_rows}")
    return (buf[is_digit] - ord("0")).reshape(-1, ROW)


@dataclass
class BinarizedMnistOptions:
    """Binarized MNIST options.

    Args:
        subset: 0 for the full training split, else only its first ``subset`` rows
            (quick runs); valid and test are always complete.
    """

    subset: int = 0

    def validate(self) -> None:
        positive(self.subset, "subset", allow_zero=True)


def _verify(split: str):
    def check(path: Path) -> None:
        read_amat(path, SPLIT_ROWS[split])

    return check


@register_dataset("binarized_mnist", BinarizedMnistOptions,
                  "MNIST with the fixed Larochelle & Murray binarization (50k/10k/10k), "
                  "28x28 binary, no labels; option subset")
def load_binarized_mnist(root: Path | None, opts: BinarizedMnistOptions, *, download: bool = True) -> Dataset:
    root = root if root is not None else genzoo_home() / "binarized_mnist"
    splits = ("train", "valid", "test")
    wanted = [WantedFile(f"binarized_mnist_{s}.amat", f"binarized_mnist_{s}.amat", None, _verify(s))
              for s in splits]
    paths = ensure_files("binarized_mnist", root, wanted, download=download,
                         mirrors=mirrors_from_env("GENZOO_BINARIZED_MNIST_MIRRORS", BINARIZED_MNIST_MIRRORS))
    out: dict[str, Split] = {}
    for s, p in zip(splits, paths):
        rows = read_amat(p)
        if s == "train" and opts.subset:
            rows = rows[: opts.subset]
        x = torch.from_numpy(rows.astype(np.float32)).reshape(-1, 1, 28, 28)
        out[s] = Split(x)
    spec = DataSpec(name="binarized_mnist", kind="image", shape=(1, 28, 28), value_type="binary")
    return Dataset(spec=spec, train=out["train"], test=out["test"], valid=out["valid"],
                   info={"root": str(root), "files": [str(p) for p in paths]})
