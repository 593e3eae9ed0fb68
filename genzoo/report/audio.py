"""Audio samples as files people listen to and look at: WAV files and a spectrogram PNG.

Used by :func:`genzoo.report.render.save_samples` for runs on the ``audio`` dataset
(sequences of mu-law codes, ``spec.extra["modality"] == "audio"``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genzoo.data.audio import codes_to_samples, write_codes
from genzoo.data.spec import DataSpec


def stft_db(x: np.ndarray, *, frame: int = 256, hop: int = 64) -> np.ndarray:
    """Magnitude spectrogram (frame // 2 + 1, frames) in dB (0 dB: a full-scale sine's
    peak) of samples (N,), Hann window; a clip shorter than a frame is zero-padded."""
    x = np.asarray(x, np.float64)
    if len(x) < frame:
        x = np.pad(x, (0, frame - len(x)))
    n = 1 + (len(x) - frame) // hop
    idx = np.arange(frame)[None, :] + hop * np.arange(n)[:, None]
    win = np.hanning(frame)
    mag = np.abs(np.fft.rfft(x[idx] * win, axis=1)).T / (win.sum() / 2)
    return 20 * np.log10(np.maximum(mag, 1e-5))


def spectrogram_png(clips: list[np.ndarray], rate: int, path: Path, *, title: str, rows: int = 8) -> Path:
    """Spectrograms of audio clips (one panel each, time in seconds, frequency in Hz)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clips = clips[:rows]
    frame = 256 if rate <= 16000 else 1024
    fig, axes = plt.subplots(len(clips), 1, figsize=(8, 1.4 * len(clips) + 0.5), dpi=100, squeeze=False)
    for ax, x in zip(axes[:, 0], clips):
        s = stft_db(x, frame=frame, hop=frame // 4)
        ax.imshow(s, origin="lower", aspect="auto", cmap="magma", vmin=-80, vmax=0,
                  extent=(0, max(len(x), frame) / rate, 0, rate / 2))
        ax.tick_params(labelsize=6)
        ax.set_ylabel("Hz", fontsize=6)
    axes[-1, 0].set_xlabel("time (s)", fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def save_audio(x: torch.Tensor, spec: DataSpec, path: Path, *, title: str | None = None) -> Path:
    """Write mu-law code sequences (n, T) of an audio run.

    ``NAME.wav``: that WAV file (several samples: ``NAME-1.wav``, ``NAME-2.wav``, ... beside
    it) and their spectrograms in ``NAME.png``; ``NAME.png``: the spectrograms alone; a name
    without a suffix: a folder of ``sample-01.wav`` ... and ``spectrogram.png``. Returns
    the WAV file for one sample, else the folder (or the PNG)."""
    from genzoo.report.render import numbered

    rows = list(x.detach().cpu().long().reshape(len(x), -1))
    rate = int(spec.extra["sample_rate"])
    title = title or f"{len(rows)} audio sample{'' if len(rows) == 1 else 's'}, {rate} Hz"
    suffix = path.suffix.lower()
    if suffix == ".png":
        return spectrogram_png([codes_to_samples(r, spec) for r in rows], rate, path, title=title)
    if suffix == ".wav":
        files = numbered(path, len(rows))
        png = path.with_suffix(".png")
    else:
        folder = path.with_suffix("") if suffix else path
        files = [folder / f"sample-{i:02d}.wav" for i in range(1, len(rows) + 1)]
        png = folder / "spectrogram.png"
    for r, f in zip(rows, files):
        write_codes(r, spec, f)
    spectrogram_png([codes_to_samples(r, spec) for r in rows], rate, png, title=title)
    return files[0] if len(files) == 1 else files[0].parent
