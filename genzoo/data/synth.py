"""A small additive synthesizer: melodies rendered to audio, seeded and deterministic.

It makes the built-in corpus of the ``audio`` dataset (:mod:`genzoo.data.audio`) out of
the Essen folk songs that ship inside music21 (the same tunes as the ``music`` dataset,
read by :mod:`genzoo.data.music`), so that WaveNet can be trained on sound offline.

Each tune gets its own instrument and tempo, drawn from ``numpy.random.default_rng(
[seed, tune index])``: a tempo of 90 .. 150 quarter notes a minute, and a timbre of
``HARMONICS`` partials with amplitudes ``u_k / k^r`` (``u_k`` uniform in [0.3, 1], the
roll-off ``r`` uniform in [0.8, 2]). A note of MIDI pitch m sounds at
``f = 440 * 2^((m - 69) / 12)`` Hz as the sum of its partials ``k f`` below 0.45 times the
sample rate (nothing aliases), every partial starting at phase 0, shaped by an ADSR
envelope (attack 10 ms, decay 60 ms to a sustain level of 0.6, release 50 ms inside the
note's duration, so notes never overlap); rests are silence. The tune is scaled to a
peak of 0.8. The same (melody, rate, seed, tune index) always gives the same samples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

HARMONICS = 6
ATTACK, DECAY, SUSTAIN, RELEASE = 0.010, 0.060, 0.6, 0.050  # seconds, seconds, level, seconds
PEAK = 0.8


def midi_hz(m: float) -> float:
    return 440.0 * 2.0 ** ((m - 69) / 12)


def adsr(n: int, rate: int) -> np.ndarray:
    """The envelope (n,) of a note of n samples: attack, decay, sustain, release."""
    t = np.arange(n) / rate
    dur = n / rate
    release = min(RELEASE, dur / 3)
    env = np.where(t < ATTACK, t / ATTACK,
                   np.where(t < ATTACK + DECAY, 1 - (1 - SUSTAIN) * (t - ATTACK) / DECAY, SUSTAIN))
    tail = t > dur - release
    env[tail] *= np.clip((dur - t[tail]) / release, 0.0, 1.0)
    return env


def instrument(seed: int, index: int) -> tuple[float, np.ndarray]:
    """(seconds per quarter note, partial amplitudes (HARMONICS,)) of tune ``index``."""
    rng = np.random.default_rng([seed, index])
    bpm = rng.uniform(90.0, 150.0)
    rolloff = rng.uniform(0.8, 2.0)
    amps = rng.uniform(0.3, 1.0, HARMONICS) / np.arange(1, HARMONICS + 1) ** rolloff
    return 60.0 / bpm, amps


def render(notes: Sequence[tuple[int | None, float]], rate: int, *, seed: int = 0, index: int = 0,
           max_seconds: float | None = None) -> np.ndarray:
    """Samples (N,) float32 of a melody of (MIDI pitch or None for a rest, quarter notes),
    at ``rate`` Hz, with the instrument of (``seed``, ``index``); cut after ``max_seconds``."""
    quarter, amps = instrument(seed, index)
    parts: list[np.ndarray] = []
    total = 0
    limit = None if max_seconds is None else int(round(max_seconds * rate))
    start = 0.0  # onset in seconds; each note's sample count rounds its exact end, so no drift
    for midi, ql in notes:
        end = start + ql * quarter
        n = int(round(end * rate)) - int(round(start * rate))
        start = end
        if n <= 0:
            continue
        if midi is None:
            parts.append(np.zeros(n, np.float32))
        else:
            f = midi_hz(midi)
            k = np.arange(1, HARMONICS + 1)
            keep = k * f < 0.45 * rate
            t = np.arange(n) / rate
            wave = (amps[keep, None] * np.sin(2 * np.pi * f * k[keep, None] * t[None, :])).sum(0)
            parts.append((wave * adsr(n, rate)).astype(np.float32))
        total += n
        if limit is not None and total >= limit:
            break
    x = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    if limit is not None:
        x = x[:limit]
    peak = float(np.abs(x).max()) if len(x) else 0.0
    return (x * (PEAK / peak)).astype(np.float32) if peak > 0 else x
