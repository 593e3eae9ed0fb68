"""MNIST from the original IDX files, plus the download helper shared with binarized MNIST.

The loader reads the image count from the IDX header (any subset works) and accepts the
files gzipped or not. Missing files are downloaded from the canonical mirrors unless
``GENZOO_OFFLINE=1`` or ``download=False``; the official MD5 is checked only for files
fetched here, so a local subset with other checksums still loads.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genzoo.data.dataset import Dataset, Split, genzoo_home, register_dataset
from genzoo.data.spec import DataSpec
from genzoo.data.transforms import ImageOptions, prepare_images
from genzoo.errors import DataFileError

MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

# split -> (images stem, labels stem)
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# Official checksums of the gzipped files as served by the mirrors.
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

DOWNLOAD_TIMEOUT_S = 30.0


# ---------------------------------------------------------------------------------------
# Files: find, download, read


@dataclass(frozen=True)
class WantedFile:
    """A file a dataset needs.

    Args:
        stem: the uncompressed name; ``stem`` or ``stem + ".gz"`` is accepted on disk.
        download_name: the name fetched from a mirror (and written to disk).
        md5: expected MD5 of the downloaded bytes, or None to skip the check.
        verify: optional check run on a freshly downloaded file (raise DataFileError).
    """

    stem: str
    download_name: str
    md5: str | None = None
    verify: Callable[[Path], None] | None = None


def offline() -> bool:
    return os.environ.get("GENZOO_OFFLINE", "") == "1"


def mirrors_from_env(var: str, default: Sequence[str]) -> list[str]:
    """Mirror base URLs: the comma-separated ``$var`` if set, else ``default``."""
    raw = os.environ.get(var, "").strip()
    if not raw:
        return list(default)
    return [m.strip() for m in raw.split(",") if m.strip()]


def find_local(root: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        p = root / name
        if p.is_file():
            return p
    return None


def _one_line(e: BaseException) -> str:
    s = str(e) or type(e).__name__
    return " ".join(s.split())


def _download(url: str, dest: Path, md5: str | None) -> None:
    """Fetch ``url`` to ``dest`` through a temp file; verify ``md5`` if given."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    tmp = Path(tmp_name)
    h = hashlib.md5()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
            while True:
                chunk = resp.read(1 << 16)
                if not chunk:
                    break
                h.update(chunk)
                out.write(chunk)
        if md5 is not None and h.hexdigest() != md5:
            raise DataFileError(f"downloaded {dest.name} from {url} has MD5 {h.hexdigest()}, "
                                f"expected {md5}; the download was deleted")
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()


def ensure_files(dataset: str, root: Path, wanted: Sequence[WantedFile], *, download: bool,
                 mirrors: Sequence[str]) -> list[Path]:
    """Return local paths for ``wanted``, downloading missing ones when allowed.

    Raises:
        DataFileError: files missing and downloading is off or failed, or a download
            fails its checksum / validation.
    """
    found: list[Path | None] = [find_local(root, w.stem) for w in wanted]
    missing = [w for w, p in zip(wanted, found) if p is None]
    if not missing:
        return [p for p in found if p is not None]
    names = ", ".join(w.download_name for w in missing)
    hint = "pass --data-dir DIR (or root=DIR) naming a directory that holds them"
    if not download or offline():
        why = "downloading is disabled (GENZOO_OFFLINE=1)" if offline() else "download=False"
        raise DataFileError(f"{dataset}: missing {names} in {root}; {why}; {hint}")
    for i, w in enumerate(wanted):
        if found[i] is not None:
            continue
        dest = root / w.download_name
        errors = []
        for base in mirrors:
            url = base.rstrip("/") + "/" + w.download_name
            try:
                _download(url, dest, w.md5)
            except DataFileError:
                raise
            except (urllib.error.URLError, OSError, ValueError, TimeoutError) as e:
                errors.append(f"{url}: {_one_line(e)}")
                continue
            break
        else:
            tried = "; ".join(errors) if errors else "no mirrors configured"
            raise DataFileError(f"{dataset}: could not download {w.download_name} into {root} "
                                f"({tried}); {hint}")
        if w.verify is not None:
            try:
                w.verify(dest)
            except DataFileError:
                dest.unlink(missing_ok=True)
                raise
        found[i] = dest
    return [p for p in found if p is not None]


def read_maybe_gzip(path: Path) -> bytes:
    """All bytes of ``path``, gunzipped when it starts with the gzip magic."""
    try:
        with open(path, "rb") as f:
            head = f.read(2)
            f.seek(0)
            if head == b"\x1f\x8b":
                with gzip.GzipFile(fileobj=f) as gz:
                    return gz.read()
            return f.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise DataFileError(f"{path} is not a valid gzip file ({_one_line(e)}); delete it or "
                            "replace it with a good copy") from None
    except OSError as e:
        raise DataFileError(f"cannot read {path}: {_one_line(e)}") from None


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (gzipped or not); the shape comes from its header."""
    data = read_maybe_gzip(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES or data[3] == 0:
        raise DataFileError(f"{path} is not an IDX file (bad magic number {data[:4].hex() or 'empty'})")
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataFileError(f"{path} is truncated: the IDX header is incomplete")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    have = len(data) - header
    if have < expected:
        raise DataFileError(f"{path} is truncated: header says {dims} ({expected} bytes) "
                            f"but it holds {have} bytes of data")
    if have > expected:
        raise DataFileError(f"{path} is corrupt: header says {dims} ({expected} bytes) "
                            f"but it holds {have} bytes of data")
    return np.frombuffer(data, dtype=dtype, count=int(np.prod(dims)), offset=header).reshape(dims)


def load_idx_pair(images_path: Path, labels_path: Path, *, num_classes: int = 10,
                  image_shape: tuple[int, int] = (28, 28)) -> tuple[np.ndarray, np.ndarray]:
    """Read and cross-check one split's images (N, H, W) and labels (N,)."""
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != image_shape or images.dtype != np.uint8:
        raise DataFileError(f"{images_path} does not hold {image_shape[0]}x{image_shape[1]} "
                            f"8-bit images (header shape {images.shape}, dtype {images.dtype})")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataFileError(f"{labels_path} does not hold 8-bit labels (header shape {labels.shape})")
    if len(labels) != len(images):
        raise DataFileError(f"{images_path} holds {len(images)} images but {labels_path} "
                            f"holds {len(labels)} labels")
    if len(labels) and int(labels.max()) >= num_classes:
        raise DataFileError(f"{labels_path} holds label {int(labels.max())}, expected 0..{num_classes - 1}")
    return images, labels


# ---------------------------------------------------------------------------------------
# The dataset


@dataclass
class MnistOptions(ImageOptions):
    """MNIST options: ``binarize`` and ``scale`` (see :class:`ImageOptions`).

    Args:
        captions: add a caption to every image (label, thickness, slant; four phrasings,
            :mod:`genzoo.data.captions`) as ``batch["caption"]``, for text-to-image models.
    """

    captions: bool = False


def _mnist_verify(path: Path) -> None:
    read_idx(path)


@register_dataset("mnist", MnistOptions,
                  "MNIST handwritten digits, 28x28 grey (256 levels), 10 classes; "
                  "options binarize, scale, captions")
def load_mnist(root: Path | None, opts: MnistOptions, *, download: bool = True) -> Dataset:
    import torch

    root = root if root is not None else genzoo_home() / "mnist"
    wanted = [WantedFile(stem, stem + ".gz", MNIST_MD5[stem + ".gz"], _mnist_verify)
              for split in ("train", "test") for stem in MNIST_FILES[split]]
    paths = ensure_files("mnist", root, wanted, download=download,
                         mirrors=mirrors_from_env("GENZOO_MNIST_MIRRORS", MNIST_MIRRORS))
    splits: dict[str, Split] = {}
    fields: dict = {}
    transform = None
    ink: dict[str, torch.Tensor] = {}
    for i, split in enumerate(("train", "test")):
        images, labels = load_idx_pair(paths[2 * i], paths[2 * i + 1])
        x, fields, transform = prepare_images(images[:, None, :, :], 256, opts)
        splits[split] = Split(x, torch.from_numpy(labels.astype(np.int64)))
        if opts.captions:
            ink[split] = torch.from_numpy(images[:, None].astype(np.float32) / 255.0)
    extra = {}
    if opts.captions:
        from genzoo.data.captions import describe_digits

        tr, te, extra["captions"] = describe_digits(ink["train"], splits["train"].y, ink["test"], splits["test"].y)
        splits["train"].extra["caption"], splits["test"].extra["caption"] = tr, te
    spec = DataSpec(name="mnist", kind="image", shape=(1, 28, 28), num_classes=10, extra=extra, **fields)
    return Dataset(spec=spec, train=splits["train"], test=splits["test"], transform=transform,
                   info={"root": str(root), "files": [str(p) for p in paths]})
