"""A small additive synthesizer: melodies rendered to audio, seeded and deterministic.

It makes the built-in corpus of the ``audio`` dataset (:mod:`genzoo.data.audio`) out of
the Essen folk songs that ship inside music21 (the same tunes as the ``music`` dataset,
read by :mod:`genzoo.data.music`), so that WaveNet can be trained on sound offline.

**Instruments are shared.** There are ``instruments`` timbres (default 4); tune ``index``
plays timbre ``index % instruments``, so with more tunes than twice the instruments
every held-out tune is played by an instrument that training tunes play too (the test
split holds out *melodies*, not instruments). Timbre t is drawn from
``numpy.random.default_rng([seed, 1, t])``: ``HARMONICS`` partials with amplitudes
``u_k / k^r`` (``u_k`` uniform in [0.3, 1], roll-off ``r`` uniform in [0.8, 2]).
(Version 1 gave every tune a timbre of its own; a WaveNet trained on 29 of them scored
the 3 held-out tunes worse than a uniform guess, see docs/results.md.)

**Each tune** draws from ``default_rng([seed, 0, index])`` a tempo of 90 .. 150 quarter
notes a minute and, per note, the small variations of a player: a velocity uniform in
[0.6, 1], a start phase per partial, a vibrato of ``VIBRATO_HZ`` (+-20%) Hz and
``VIBRATO_DEPTH`` relative depth (about 5 cents), and Gaussian noise of standard
deviation ``NOISE`` times the note's envelope (breath; rests stay exactly silent).

A note of MIDI pitch m sounds at ``f = 440 * 2^((m - 69) / 12)`` Hz as the sum of its
partials ``k f`` below 0.45 times the sample rate (nothing aliases), shaped by an ADSR
envelope (attack 10 ms, decay 60 ms to a sustain level of 0.6, release 50 ms inside the
note's duration, so notes never overlap); rests are silence. The tune is scaled to a
peak of 0.8. The same (melody, rate, seed, tune index, instruments) always gives the
same samples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

HARMONICS = 6
INSTRUMENTS = 4
ATTACK, DECAY, SUSTAIN, RELEASE = 0.010, 0.060, 0.6, 0.050  # seconds, seconds, level, seconds
PEAK = 0.8
VELOCITY = (0.6, 1.0)
VIBRATO_HZ, VIBRATO_DEPTH = 5.5, 0.003  # 0.3% of the frequency: about 5 cents
NOISE = 0.01  # noise standard deviation per unit of envelope (the fundamental's amplitude is <= 1)


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


def timbre(seed: int, t: int) -> np.ndarray:
    """The partial amplitudes (HARMONICS,) of instrument ``t``."""
    rng = np.random.default_rng([seed, 1, t])
    rolloff = rng.uniform(0.8, 2.0)
    return rng.uniform(0.3, 1.0, HARMONICS) / np.arange(1, HARMONICS + 1) ** rolloff


def instrument(seed: int, index: int, instruments: int = INSTRUMENTS) -> tuple[float, np.ndarray]:
    """(seconds per quarter note, partial amplitudes (HARMONICS,)) of tune ``index``."""
    bpm = np.random.default_rng([seed, 0, index]).uniform(90.0, 150.0)
    return 60.0 / bpm, timbre(seed, index % instruments)


def note(f: float, n: int, rate: int, amps: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One note (n,) of ``f`` Hz with a drawn velocity, phases, vibrato and noise."""
    k = np.arange(1, HARMONICS + 1)
    keep = k * f < 0.45 * rate
    velocity = rng.uniform(*VELOCITY)
    phases = rng.uniform(0.0, 2 * np.pi, HARMONICS)[keep, None]
    vib_hz, vib_phase = VIBRATO_HZ * rng.uniform(0.8, 1.2), rng.uniform(0.0, 2 * np.pi)
    noise = rng.standard_normal(n)
    t = np.arange(n) / rate
    # phase of the fundamental with vibrato f (1 + d sin(2 pi v t + p)), integrated exactly
    theta = 2 * np.pi * f * t - f * VIBRATO_DEPTH / vib_hz * (np.cos(2 * np.pi * vib_hz * t + vib_phase)
                                                             - np.cos(vib_phase))
    wave = (amps[keep, None] * np.sin(k[keep, None] * theta[None, :] + phases)).sum(0)
    env = adsr(n, rate) * velocity
    return ((wave + NOISE * noise) * env).astype(np.float32)


def render(notes: Sequence[tuple[int | None, float]], rate: int, *, seed: int = 0, index: int = 0,
           instruments: int = INSTRUMENTS, max_seconds: float | None = None) -> np.ndarray:
    """Samples (N,) float32 of a melody of (MIDI pitch or None for a rest, quarter notes),
    at ``rate`` Hz, as tune ``index`` of (``seed``, ``instruments``); cut after ``max_seconds``."""
    quarter, amps = instrument(seed, index, instruments)
    rng = np.random.default_rng([seed, 2, index])  # the per-note variations
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
        parts.append(np.zeros(n, np.float32) if midi is None else note(midi_hz(midi), n, rate, amps, rng))
        total += n
        if limit is not None and total >= limit:
            break
    x = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    if limit is not None:
        x = x[:limit]
    peak = float(np.abs(x).max()) if len(x) else 0.0
    return (x * (PEAK / peak)).astype(np.float32) if peak > 0 else x
