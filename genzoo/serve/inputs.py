"""Checked inputs of the playground's API: every value has a type and limits, and a bad
one is a :class:`~genzoo.serve.jobs.ServeError` (HTTP 400 with a one-line message).

Uploads come as base64 data inside JSON (``data:image/png;base64,...``), at most
:data:`MAX_UPLOAD` bytes decoded; images are opened with a pixel limit before anything
is decoded, so a decompression bomb is refused from its header.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import re
from typing import Any

from genzoo.serve.jobs import ServeError

MAX_SAMPLES = 256
MAX_UPLOAD = 5 * 1024 * 1024  # bytes of a decoded upload
MAX_BODY = 7 * 1024 * 1024  # bytes of a request body (base64 makes 5 MB about 6.7 MB)
MAX_PIXELS = 4096 * 4096  # an uploaded image may have at most this many pixels
MAX_SEED = 2**63 - 1
_DATA_URL = re.compile(r"^data:[\w.+/-]*(;[\w=.-]+)*;base64,", re.ASCII)


def _bad(key: str, why: str) -> ServeError:
    return ServeError(f"bad value for {key!r}: {why}")


def get_int(d: dict[str, Any], key: str, default: int | None, lo: int, hi: int) -> int | None:
    """An integer in [lo, hi] (JSON numbers or, from query strings, digit strings)."""
    v = d.get(key, default)
    if v is None:
        return None
    if isinstance(v, str) and re.fullmatch(r"-?\d{1,20}", v.strip()):
        v = int(v)
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        raise _bad(key, f"expected an integer, got {v!r}"[:200])
    if not lo <= v <= hi:
        raise _bad(key, f"{v} is outside [{lo}, {hi}]")
    return v


def get_float(d: dict[str, Any], key: str, default: float | None, lo: float, hi: float, *,
              open_lo: bool = False) -> float | None:
    """A finite number in [lo, hi] (or (lo, hi] with ``open_lo``)."""
    v = d.get(key, default)
    if v is None:
        return None
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            raise _bad(key, f"expected a number, got {v[:50]!r}") from None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _bad(key, f"expected a finite number, got {v!r}"[:200])
    if v < lo or v > hi or (open_lo and v == lo):
        raise _bad(key, f"{v} is outside {'(' if open_lo else '['}{lo}, {hi}]")
    return float(v)


def get_choice(d: dict[str, Any], key: str, default: str, choices: tuple[str, ...]) -> str:
    v = d.get(key, default)
    if v not in choices:
        raise _bad(key, f"{str(v)[:50]!r} is not one of {', '.join(choices)}")
    return v


def get_bool(d: dict[str, Any], key: str, default: bool) -> bool:
    v = d.get(key, default)
    if isinstance(v, str) and v in ("0", "1", "true", "false"):
        v = v in ("1", "true")
    if not isinstance(v, bool):
        raise _bad(key, f"expected true or false, got {v!r}"[:200])
    return v


def get_str(d: dict[str, Any], key: str, default: str | None, max_len: int) -> str | None:
    v = d.get(key, default)
    if v is None:
        return None
    if not isinstance(v, str):
        raise _bad(key, "expected a string")
    if len(v) > max_len:
        raise _bad(key, f"longer than {max_len} characters")
    return v


def decode_upload(d: dict[str, Any], key: str) -> bytes:
    """The bytes of a base64 upload (a data URL or plain base64), at most MAX_UPLOAD."""
    v = d.get(key)
    if not isinstance(v, str) or not v:
        raise _bad(key, "expected base64 data (a data: URL)")
    if len(v) > MAX_UPLOAD * 4 // 3 + 200:
        raise ServeError(f"upload {key!r} is larger than {MAX_UPLOAD // (1024 * 1024)} MB", 413)
    m = _DATA_URL.match(v)
    raw = v[m.end():] if m else v
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise _bad(key, "not valid base64") from None
    if len(data) > MAX_UPLOAD:
        raise ServeError(f"upload {key!r} is larger than {MAX_UPLOAD // (1024 * 1024)} MB", 413)
    if not data:
        raise _bad(key, "empty upload")
    return data


def open_image(data: bytes, key: str = "image"):
    """A PIL image from uploaded bytes: refused before decoding when it has more than
    MAX_PIXELS pixels (PIL's own bomb check fires too), or when it is not an image."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.width * img.height > MAX_PIXELS:
                raise _bad(key, f"the image is {img.width}x{img.height}; at most {MAX_PIXELS} pixels")
            img.load()
    except ServeError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning):
        raise _bad(key, "not a readable image (PNG, GIF, JPEG or BMP)") from None
    return img


def png_data_url(rgb) -> str:
    """A uint8 (H, W, 3) array as a ``data:image/png;base64,`` URL."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
