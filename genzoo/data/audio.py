"""``audio``: sound as mu-law codes, windows of raw samples for ``wavenet`` (and the other
sequence models).

Sources:

* ``--data-dir PATH``: every ``.wav`` file under PATH (searched recursively, hidden
  files skipped, sorted by path), or PATH itself if it is one file. Integer PCM of 8,
  16, 24 or 32 bits, any number of channels, any sample rate
  (:func:`genzoo.data.wav.read_wav`). A corrupt or truncated file, an unsupported
  encoding or sample width, or a folder without WAV files is a one-line error.
* no ``--data-dir``: a built-in corpus, the first ``tunes`` Essen folk songs of
  music21's corpus (read as the ``music`` dataset reads them, top line of each tune)
  rendered by the seeded additive synthesizer of :mod:`genzoo.data.synth`, each cut
  after ``tune_seconds``, the tunes sharing ``instruments`` timbres (tune i plays
  instrument ``i % instruments``, so test tunes are played by instruments heard in
  training). It is rendered once per (rate, tunes, tune_seconds, instruments,
  synth_seed) into ``genzoo_home()/audio/essen-...`` as 16-bit WAV files (listen to
  them), then read like any folder. The default (64 tunes of 5 s at 8 kHz) builds in a
  few seconds.

Every file is mixed down to mono, resampled to ``rate`` Hz
(:func:`genzoo.data.wav.resample`, a windowed-sinc low-pass, so nothing aliases) and
quantized by mu-law companding to ``levels`` codes (:func:`genzoo.data.wav.mulaw_encode`;
``levels=256`` is the 8-bit mu-law of the WaveNet paper). The spec is a categorical
sequence of ``window`` samples with ``extra = {"modality": "audio", "sample_rate": rate,
"levels": levels}``, which is how samples and primers know they are sound.

The split is by file: a seeded permutation (``seed``) of the files puts
``round(test_fraction * files)`` of them (at least one, and never all) in ``test``, so
no test window shares a recording with a training window. ``valid_files`` > 0 moves
that many more files (seeded, from the rest) to a ``valid`` split the same way, for
validation and early stopping on unseen recordings (``train.eval_every``). A single file is split in
time instead: its last ``test_fraction`` is ``test``. Windows never cross files:
training windows start every ``stride`` samples (default ``window // 2``), test windows
do not overlap, and a file shorter than ``window`` gives none (``info["short_files"]``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genzoo.config import positive
from genzoo.data.dataset import Dataset, Split, genzoo_home, register_dataset
from genzoo.data.spec import DataSpec
from genzoo.data.wav import WAV_SUFFIXES, mulaw_decode, mulaw_encode, read_wav, resample, write_wav
from genzoo.errors import DataFileError, GenzooError

# bump when the synthesizer or the tune reading changes (2: shared instruments, per-note variation, noise)
_CORPUS_VERSION = 2


@dataclass
class AudioOptions:
    """Options of the ``audio`` dataset.

    Args:
        rate: sample rate in Hz every file is resampled to.
        window: samples per example (the sequence length T).
        stride: samples between the starts of consecutive training windows
            (None: ``window // 2``).
        levels: mu-law quantization levels (codes 0 .. levels-1; 256 is 8-bit mu-law).
        test_fraction: share of the files held out as ``test`` (of the samples, for one file).
        seed: the permutation of the files that picks the test (and valid) files.
        valid_files: how many of the non-test files form a ``valid`` split (0: none).
        tunes: built-in corpus: how many Essen tunes are rendered.
        tune_seconds: built-in corpus: each tune is cut after this many seconds.
        instruments: built-in corpus: how many timbres the tunes share (tune i plays i % instruments).
        synth_seed: built-in corpus: the seed of the tunes' tempi, timbres and variations.
    """

    rate: int = 8000
    window: int = 1024
    stride: int | None = None
    levels: int = 256
    test_fraction: float = 0.1
    seed: int = 0
    valid_files: int = 0
    tunes: int = 64
    tune_seconds: float = 5.0
    instruments: int = 4
    synth_seed: int = 0

    def validate(self) -> None:
        positive(self.rate, "rate")
        positive(self.window, "window")
        if self.stride is not None:
            positive(self.stride, "stride")
        if not 2 <= self.levels <= 65536:
            raise GenzooError(f"bad value {self.levels!r} for levels: must be in [2, 65536] (256: 8-bit mu-law)")
        if not 0.0 < self.test_fraction < 1.0:
            raise GenzooError(f"bad value {self.test_fraction!r} for test_fraction: must be in (0, 1)")
        positive(self.tunes, "tunes")
        positive(self.tune_seconds, "tune_seconds")
        positive(self.instruments, "instruments")
        if self.valid_files < 0:
            raise GenzooError(f"bad value {self.valid_files!r} for valid_files: must be >= 0")


def is_audio(spec: DataSpec) -> bool:
    return spec.kind == "sequence" and spec.extra.get("modality") == "audio"


def audio_spec(window: int, rate: int, levels: int) -> DataSpec:
    return DataSpec(name="audio", kind="sequence", shape=(window,), value_type="categorical", num_values=levels,
                    extra={"modality": "audio", "sample_rate": rate, "levels": levels})


# ---------------------------------------------------------------------------
# files <-> codes

def wav_files(root: Path) -> list[Path]:
    """The WAV files under ``root`` (or ``root`` itself), sorted, hidden ones skipped."""
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in WAV_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))


def read_codes(path: str | Path, rate: int, levels: int) -> tuple[np.ndarray, int]:
    """(mu-law codes (N,) int64 of the file resampled to ``rate``, the file's own rate)."""
    x, src = read_wav(path)
    return mulaw_encode(resample(x, src, rate), levels), src


def read_audio_primer(path: str | Path, spec: DataSpec) -> torch.Tensor:
    """The codes (P,) int64 of a WAV clip in an audio run's rate and levels."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise GenzooError(f"primer file {p} does not exist")
    codes, _ = read_codes(p, int(spec.extra["sample_rate"]), int(spec.num_values))  # type: ignore[arg-type]
    if len(codes) == 0:
        raise GenzooError(f"primer file {p} holds no samples")
    return torch.from_numpy(codes)


def codes_to_samples(codes: torch.Tensor | np.ndarray, spec: DataSpec) -> np.ndarray:
    """mu-law codes (N,) of an audio spec -> samples (N,) float32 in [-1, 1]."""
    if isinstance(codes, torch.Tensor):
        codes = codes.detach().cpu().numpy()
    return mulaw_decode(np.asarray(codes).reshape(-1), int(spec.num_values))  # type: ignore[arg-type]


def write_codes(codes: torch.Tensor | np.ndarray, spec: DataSpec, path: str | Path) -> Path:
    """Write mu-law codes (N,) of an audio spec as a 16-bit mono WAV file at its rate."""
    return write_wav(path, codes_to_samples(codes, spec), int(spec.extra["sample_rate"]))


# ---------------------------------------------------------------------------
# the built-in corpus

def essen_melodies(count: int) -> list[tuple[str, list[tuple[int | None, float]]]]:
    """The first ``count`` readable Essen tunes as (name, [(MIDI pitch or None, quarter notes)])."""
    from genzoo.data.music import _abc_elements, _essen_tunes, _top_line

    out = []
    for name, text in _essen_tunes(None):
        try:
            segments, _ = _top_line(_abc_elements(text))
        except Exception:  # a tune music21 cannot tokenize is skipped, as in `music`
            continue
        if segments:
            out.append((name, segments))
        if len(out) == count:
            break
    return out


def corpus_folder(opts: AudioOptions) -> Path:
    """The folder of the rendered built-in corpus, rendered now if it is not there yet."""
    from genzoo.data.synth import render

    name = (f"essen-v{_CORPUS_VERSION}-{opts.rate}hz-{opts.tunes}tunes-{opts.tune_seconds:g}s"
            f"-{opts.instruments}inst-seed{opts.synth_seed}")
    folder = genzoo_home() / "audio" / name
    if (folder / "tunes.json").is_file():
        return folder
    try:
        import music21  # noqa: F401
    except ImportError:
        raise GenzooError("the built-in audio corpus needs music21 (pip install 'music21>=9'); "
                          "or give --data-dir PATH, a folder of WAV files") from None
    melodies = essen_melodies(opts.tunes)
    tmp = folder.with_name(f".{name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for i, (_, notes) in enumerate(melodies):
        x = render(notes, opts.rate, seed=opts.synth_seed, index=i, instruments=opts.instruments,
                   max_seconds=opts.tune_seconds)
        write_wav(tmp / f"tune-{i:03d}.wav", x, opts.rate)
    (tmp / "tunes.json").write_text(json.dumps({"tunes": [n for n, _ in melodies]}, indent=1) + "\n")
    try:
        os.replace(tmp, folder)
    except OSError:  # another process rendered it first
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


# ---------------------------------------------------------------------------
# the dataset

def _windows(codes: list[np.ndarray], window: int, stride: int) -> torch.Tensor:
    """(N, window) int64: the windows of every file, never across files."""
    parts = [torch.from_numpy(c).unfold(0, window, stride) for c in codes if len(c) >= window]
    return torch.cat(parts) if parts else torch.zeros(0, window, dtype=torch.int64)


def split_test_valid(n: int, test_fraction: float, valid_files: int, seed: int) -> tuple[list[int], list[int]]:
    """(test file indices, valid file indices), both sorted: one seeded permutation of the
    ``n`` files; its first ``round(test_fraction * n)`` (at least one, at most n - 1) are
    test, the next ``valid_files`` valid (at least one file must be left for training)."""
    n_test = min(max(int(round(test_fraction * n)), 1), n - 1)
    if valid_files and n_test + valid_files >= n:
        raise GenzooError(f"valid_files={valid_files} with {n_test} test files of {n} leaves no training file")
    perm = np.random.default_rng(seed).permutation(n).tolist()
    return sorted(perm[:n_test]), sorted(perm[n_test:n_test + valid_files])


@register_dataset("audio", AudioOptions,
                  "sound as 8-bit mu-law samples: your WAV files via --data-dir, or Essen folk songs rendered by "
                  "a built-in synthesizer; options rate, window, stride, levels, test_fraction, seed, "
                  "valid_files, tunes, tune_seconds, instruments")
def load_audio(root: Path | None, opts: AudioOptions, *, download: bool = True) -> Dataset:
    t0 = time.perf_counter()
    builtin = root is None
    if builtin:
        root = corpus_folder(opts)
    assert root is not None
    if not root.exists():
        raise DataFileError(f"audio path {root} does not exist; pass --data-dir PATH naming a folder of WAV files")
    files = wav_files(root)
    if not files:
        raise GenzooError(f"no WAV files ({', '.join(WAV_SUFFIXES)}) in {root}")
    codes, rates = [], set()
    for f in files:
        c, src = read_codes(f, opts.rate, opts.levels)
        codes.append(c)
        rates.add(src)
    base = root if root.is_dir() else root.parent
    names = [str(f.relative_to(base)) for f in files]
    W, S = opts.window, opts.stride or max(opts.window // 2, 1)
    valid_codes: list[np.ndarray] = []
    valid_names: list[str] = []
    if len(files) == 1:  # one recording: split in time
        if opts.valid_files:
            raise GenzooError("valid_files needs several files (one recording is split in time); "
                              "use data.valid_fraction instead")
        cut = len(codes[0]) - int(round(opts.test_fraction * len(codes[0])))
        train_codes, test_codes = [codes[0][:cut]], [codes[0][cut:]]
        test_names = [f"{names[0]} (last {opts.test_fraction:g})"]
    else:
        test_list, valid_list = split_test_valid(len(files), opts.test_fraction, opts.valid_files, opts.seed)
        held = set(test_list) | set(valid_list)
        train_codes = [c for i, c in enumerate(codes) if i not in held]
        test_codes, test_names = [codes[i] for i in test_list], [names[i] for i in test_list]
        valid_codes, valid_names = [codes[i] for i in valid_list], [names[i] for i in valid_list]
    train, test = _windows(train_codes, W, S), _windows(test_codes, W, W)
    valid = _windows(valid_codes, W, W) if valid_codes else None
    where = "the built-in corpus" if builtin else str(root)
    checks = [("training", train, train_codes), ("test", test, test_codes)]
    for split, x, what in checks + ([("valid", valid, valid_codes)] if valid is not None else []):
        if len(x) == 0:
            longest = max((len(c) for c in what), default=0)
            raise GenzooError(f"the {split} files of {where} give no window of {W} samples (the longest has "
                              f"{longest} at {opts.rate} Hz); lower data.window or give longer recordings")
    info: dict[str, Any] = {
        "root": str(root), "builtin": builtin, "files": len(files), "train_files": len(train_codes),
        "test_files": len(test_codes), "test_file_names": test_names[:20],
        "valid_files": len(valid_codes), "valid_file_names": valid_names[:20], "rate": opts.rate,
        "source_rates": sorted(rates), "levels": opts.levels, "stride": S,
        "seconds": round(sum(len(c) for c in codes) / opts.rate, 2),
        "short_files": sum(len(c) < W for c in codes), "load_seconds": round(time.perf_counter() - t0, 2)}
    return Dataset(spec=audio_spec(W, opts.rate, opts.levels), train=Split(train), test=Split(test),
                   valid=None if valid is None else Split(valid), info=info)
