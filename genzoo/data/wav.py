"""Sound as numbers: WAV files in and out, resampling, and mu-law quantization.

Only the standard library's :mod:`wave` and numpy are used.

* :func:`read_wav` reads integer PCM WAV files of 8, 16, 24 or 32 bits (8-bit WAV is
  unsigned, the others signed, little-endian) and mixes the channels down to mono,
  as float32 in [-1, 1). Anything else (IEEE float or compressed encodings,
  WAVE_FORMAT_EXTENSIBLE headers, which Python 3.11's ``wave`` cannot read, a
  truncated or corrupt file) raises a one-line :class:`~genzoo.errors.DataFileError`.
* :func:`write_wav` writes mono 16-bit PCM.
* :func:`resample` converts between sample rates by band-limited interpolation: a
  Hann-windowed sinc low-pass (cut-off just below the lower of the two Nyquist
  frequencies, so downsampling does not alias), evaluated at the output instants. For a
  rational ratio up/down the output instants fall on ``up`` distinct phases, so the
  filter is tabulated once per phase (the polyphase form of ``resample_poly``).
* :func:`mulaw_encode` / :func:`mulaw_decode`: the mu-law companding of G.711 and of
  the WaveNet paper (Sec. 2.2), ``F(x) = sign(x) ln(1 + mu |x|) / ln(1 + mu)`` with
  ``mu = levels - 1``, ``F`` quantized uniformly to ``levels`` codes ``0 .. levels-1``.
"""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np

from genzoo.errors import DataFileError

WAV_SUFFIXES = (".wav", ".wave")
_FORMAT_NAMES = {3: "IEEE float", 6: "A-law", 7: "mu-law (G.711)", 0xFFFE: "WAVE_FORMAT_EXTENSIBLE"}


def _format_message(err: str) -> str:
    """A readable reason for ``wave``'s "unknown format: N"."""
    if err.startswith("unknown format:"):
        try:
            tag = int(err.split(":")[1])
        except ValueError:
            return err
        what = _FORMAT_NAMES.get(tag, f"format tag {tag}")
        return (f"unsupported WAV encoding ({what}); convert it to 8/16/24/32-bit integer PCM, "
                "for example `sox IN.wav -b 16 -e signed-integer OUT.wav`")
    return err


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """(mono samples (N,) float32 in [-1, 1), sample rate) of an integer PCM WAV file."""
    p = Path(path)
    try:
        with wave.open(str(p), "rb") as w:
            channels, width, rate, frames = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            if width not in (1, 2, 3, 4):
                raise DataFileError(f"cannot read WAV file {p}: unsupported sample width of {8 * width} bits "
                                    "(8, 16, 24 or 32-bit integer PCM)")
            raw = w.readframes(frames)
    except DataFileError:
        raise
    except OSError as e:
        raise DataFileError(f"cannot read WAV file {p}: {e.strerror or e}") from None
    except Exception as e:  # wave raises wave.Error, EOFError, RuntimeError, struct.error on bad headers
        msg = _format_message(str(e).strip()) or "not a WAV file, or a corrupt header"
        raise DataFileError(f"cannot read WAV file {p}: {msg}") from None
    if channels < 1 or rate < 1:
        raise DataFileError(f"cannot read WAV file {p}: {channels} channels at {rate} Hz in its header")
    got = len(raw) // (width * channels)
    if got < frames:
        raise DataFileError(f"cannot read WAV file {p}: truncated (its header says {frames} frames, "
                            f"the file holds {got})")
    return _pcm_to_float(raw, width, channels), rate


def _pcm_to_float(raw: bytes, width: int, channels: int) -> np.ndarray:
    """Interleaved little-endian PCM bytes -> mono float32 in [-1, 1)."""
    if width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = (np.where(v >= 1 << 23, v - (1 << 24), v) / float(1 << 23)).astype(np.float32)
    else:
        dt = np.dtype("<i2") if width == 2 else np.dtype("<i4")
        x = (np.frombuffer(raw, dt).astype(np.float64) / float(1 << (8 * width - 1))).astype(np.float32)
    return x.reshape(-1, channels).mean(1, dtype=np.float32)


def write_wav(path: str | Path, x: np.ndarray, rate: int) -> Path:
    """Write samples (N,) in [-1, 1] as a mono 16-bit PCM WAV file (values are clipped)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    pcm = np.round(np.clip(np.asarray(x, np.float64), -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(p), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(rate))
        w.writeframes(pcm.tobytes())
    return p


# ---------------------------------------------------------------------------
# resampling

def _phase_filters(up: int, down: int, zeros: int) -> tuple[np.ndarray, int]:
    """Per output phase j (of ``up``), the weights of the input samples around the
    output instant; returns (table (up, 2*half), half)."""
    scale = min(1.0, up / down)  # the output's Nyquist over the input's
    fc = 0.5 * scale * 0.94  # cut-off, cycles per input sample: a little below the lower Nyquist
    half = int(math.ceil(zeros / scale))  # filter half-width in input samples
    offsets = np.arange(-half + 1, half + 1)  # input index - floor(output instant)
    u = offsets[None, :] - np.arange(up)[:, None] / up  # (up, 2*half): input index - output instant
    h = 2 * fc * np.sinc(2 * fc * u) * np.where(np.abs(u) < half, 0.5 + 0.5 * np.cos(np.pi * u / half), 0.0)
    return (h / h.sum(1, keepdims=True)).astype(np.float32), half


def resample(x: np.ndarray, src: int, dst: int, *, zeros: int = 16, chunk: int = 1 << 15) -> np.ndarray:
    """``x`` (N,) sampled at ``src`` Hz, band-limited and resampled to ``dst`` Hz:
    ``ceil(N * dst / src)`` samples, output k at time k / dst. ``zeros`` is the number
    of sinc zero crossings on each side of the filter (at the lower rate)."""
    x = np.asarray(x, np.float32)
    if src == dst or len(x) == 0:
        return x.copy()
    g = math.gcd(int(src), int(dst))
    up, down = int(dst) // g, int(src) // g
    table, half = _phase_filters(up, down, zeros)
    xp = np.pad(x, (half, half + 1))  # zeros before and after the signal
    n_out = -(-len(x) * up // down)
    taps = np.arange(-half + 1, half + 1) + half  # offsets, shifted into xp
    out = np.empty(n_out, np.float32)
    for a in range(0, n_out, chunk):
        k = np.arange(a, min(a + chunk, n_out), dtype=np.int64)
        base, phase = np.divmod(k * down, up)  # output instant = base + phase / up input samples
        out[a:a + len(k)] = np.einsum("ij,ij->i", xp[base[:, None] + taps[None, :]], table[phase])
    return out


# ---------------------------------------------------------------------------
# mu-law

def mulaw_encode(x: np.ndarray, levels: int = 256) -> np.ndarray:
    """Samples in [-1, 1] -> mu-law codes in [0, levels) (int64), mu = levels - 1."""
    mu = levels - 1
    x = np.clip(np.asarray(x, np.float64), -1.0, 1.0)
    f = np.sign(x) * np.log1p(mu * np.abs(x)) / math.log1p(mu)
    return np.clip(np.round((f + 1) / 2 * mu), 0, mu).astype(np.int64)


def mulaw_decode(codes: np.ndarray, levels: int = 256) -> np.ndarray:
    """mu-law codes in [0, levels) -> samples in [-1, 1] (float32), the inverse of
    :func:`mulaw_encode` up to its quantization."""
    mu = levels - 1
    f = 2 * np.asarray(codes, np.float64) / mu - 1
    return (np.sign(f) * np.expm1(np.abs(f) * math.log1p(mu)) / mu).astype(np.float32)
