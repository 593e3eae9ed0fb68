"""Melodies as tokens: a pitch token and a duration token per note, read from and
written to music21 streams, MIDI, MusicXML and ABC files.

The vocabulary is fixed (:data:`VOCABULARY`, V = 77): ``end``, ``rest``, ``p36`` .. ``p96``
(C2 .. C7), then the durations in quarter notes :data:`DURATIONS` (``d0.125`` .. ``d8``,
triplets ``d1/3`` and ``d2/3``), so primers, datasets and runs always agree. A duration
not in the list snaps to the nearest on a log scale; a pitch outside C2..C7 moves by
octaves into the range; tied notes merge; polyphony keeps the top line (with a warning).
The ``music`` dataset (:mod:`genzoo.data.music`) is built on these.
"""

from __future__ import annotations

import functools
import math
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from genzoo.errors import DataFileError, GenzooError

if TYPE_CHECKING:
    from music21 import stream as m21stream


MUSIC_SUFFIXES = (".mid", ".midi", ".xml", ".musicxml", ".mxl", ".abc")
PITCH_LOW, PITCH_HIGH = 36, 96  # C2 .. C7, MIDI numbers
# note values in quarter notes: 32nd, 16th, triplet 8th, dotted 16th, 8th, triplet
# quarter, dotted 8th, quarter, dotted quarter, half, dotted half, whole, dotted whole, breve
DURATIONS: tuple[Fraction, ...] = tuple(Fraction(x) for x in (
    "1/8", "1/4", "1/3", "3/8", "1/2", "2/3", "3/4", "1", "3/2", "2", "3", "4", "6", "8"))


def _duration_token(q: Fraction) -> str:
    # dyadic values as decimals ("d0.375"), triplet values as fractions ("d1/3")
    return f"d{float(q):g}" if q.denominator & (q.denominator - 1) == 0 else f"d{q}"


VOCABULARY: tuple[str, ...] = ("end", "rest", *(f"p{m}" for m in range(PITCH_LOW, PITCH_HIGH + 1)),
                               *(_duration_token(q) for q in DURATIONS))
_MIDI_DIVISORS = (8, 3)  # quantise MIDI onsets/durations to 32nds and triplets, as DURATIONS
_EPS = 1e-6
# a note may overlap the next one by this much (quarter notes) and still be a single line:
# legato playing, or onsets and ends quantised to different grids (32nds vs triplets)
_LEGATO = 1 / 16


# ---------------------------------------------------------------------------
# tokens <-> (pitch, duration) events

@dataclass(frozen=True)
class _Vocab:
    """Lookup tables of a vocabulary of pitch/duration tokens (the run's, maybe not ours)."""

    index: dict[str, int]
    pitch_low: int
    pitch_high: int
    durations: tuple[Fraction, ...]  # sorted
    duration_ids: tuple[int, ...]

    @staticmethod
    @functools.lru_cache(maxsize=8)
    def of(vocabulary: tuple[str, ...]) -> _Vocab:
        index = {t: i for i, t in enumerate(vocabulary)}
        pitches = [int(t[1:]) for t in vocabulary if re.fullmatch(r"p\d+", t)]
        durs = sorted((Fraction(t[1:]), i) for i, t in enumerate(vocabulary) if re.fullmatch(r"d[\d./]+", t))
        missing = [t for t in ("end", "rest") if t not in index]
        if missing or not pitches or not durs:
            raise GenzooError("not a music vocabulary (needs 'end', 'rest', pitch tokens 'p60' and duration "
                              "tokens 'd0.5'); was the run trained on the music dataset?")
        return _Vocab(index, min(pitches), max(pitches), tuple(d for d, _ in durs), tuple(i for _, i in durs))

    def duration_id(self, q: float) -> tuple[int, bool]:
        """(token id of the duration nearest to ``q`` on a log scale, whether it snapped)."""
        best = min(range(len(self.durations)), key=lambda i: abs(math.log(q / self.durations[i])))
        return self.duration_ids[best], abs(float(self.durations[best]) - q) > _EPS


# An element of a melody source: (onset, quarterLength, MIDI pitches (empty: a rest), tie type).
Element = tuple[float, float, tuple[int, ...], str | None]


def _top_line(elements: Iterable[Element]) -> tuple[list[tuple[int | None, float]], bool]:
    """(segments (MIDI pitch or None for a rest, quarterLength), whether it was polyphonic)."""
    # 1. one event per sounding element: its top pitch, tied continuations merged
    events: list[list[float]] = []  # [onset, end, midi]
    tie_open: dict[int, int] = {}  # midi -> index of the last event of that pitch
    poly = False
    for onset, ql, pitches, tie in sorted(elements, key=lambda e: e[0]):
        if ql <= _EPS or not pitches:
            continue
        poly |= len(set(pitches)) > 1
        top = max(pitches)
        j = tie_open.get(top)
        if tie in ("stop", "continue") and j is not None and abs(events[j][1] - onset) < _EPS:
            events[j][1] = onset + ql
        else:
            events.append([onset, onset + ql, top])
            tie_open[top] = len(events) - 1
    # 2. skyline: at each onset the highest new pitch, unless a higher note still sounds
    events.sort(key=lambda e: (e[0], -e[2]))
    segments: list[tuple[int | None, float]] = []
    cur: list[float] | None = None  # [start, end, midi] of the note being held
    i = 0
    while i < len(events):
        t, top = events[i][0], events[i][2]
        j = i
        while j < len(events) and events[j][0] - t < _EPS:
            j += 1
        poly |= j - i > 1
        end = max(e[1] for e in events[i:j] if e[2] == top)
        i = j
        if cur is not None and cur[1] - t > _LEGATO:
            poly = True
            if cur[2] >= top:  # the held note stays the top line
                continue
        if cur is not None:
            stop = min(cur[1], t)
            segments.append((int(cur[2]), stop - cur[0]))
            if t - stop > _EPS:
                segments.append((None, t - stop))
        cur = [t, end, top]
    if cur is not None:
        segments.append((int(cur[2]), cur[1] - cur[0]))
    return segments, poly


def _encode(elements: Iterable[Element], voc: _Vocab) -> tuple[list[int], dict[str, int]]:
    """Token ids of a melody (no ``end``) and counts: polyphonic (0/1), folded, snapped."""
    segments, poly = _top_line(elements)
    ids: list[int] = []
    folded = snapped = 0
    shortest = float(voc.durations[0])
    for midi, ql in segments:
        if midi is None:
            if ql < shortest / 2:  # a sliver of silence between overlapping notes
                continue
            ids.append(voc.index["rest"])
        else:
            m = midi
            while m < voc.pitch_low:
                m += 12
            while m > voc.pitch_high:
                m -= 12
            folded += m != midi
            ids.append(voc.index[f"p{m}"])
        d, s = voc.duration_id(ql)
        ids.append(d)
        snapped += s
    return ids, {"polyphonic": int(poly), "folded": folded, "snapped": snapped}


def _stream_elements(s: m21stream.Stream) -> list[Element]:
    """The notes and chords of a music21 stream (all parts), with absolute onsets."""
    from music21 import harmony
    from music21 import stream as m21s

    if isinstance(s, m21s.Opus):
        scores = list(s.scores)
        s = scores[0] if scores else m21s.Stream()
    flat = s.flatten()
    out: list[Element] = []
    for el in flat.notes:
        if isinstance(el, harmony.Harmony) or el.duration.isGrace:
            continue
        pitches = tuple(p.midi for p in getattr(el, "pitches", ()))
        if pitches:
            out.append((float(el.getOffsetBySite(flat)), float(el.quarterLength), pitches,
                        el.tie.type if el.tie is not None else None))
    return out


def encode_stream(stream: m21stream.Stream, vocabulary: Iterable[str], *, warn: bool = True) -> list[int]:
    """Token ids of the melody of a music21 stream (no final ``end`` token).

    A polyphonic stream (chords, several voices or parts) keeps its top line, with a
    warning when ``warn``; an Opus is read as its first score.
    """
    ids, counts = _encode(_stream_elements(stream), _Vocab.of(tuple(vocabulary)))
    if warn and counts["polyphonic"]:
        warnings.warn("music: the stream holds chords or several voices; kept the top line (highest pitch)",
                      stacklevel=2)
    return ids


def decode_tokens(ids: Iterable[int] | torch.Tensor, vocabulary: Iterable[str]) -> m21stream.Stream:
    """A music21 stream of notes and rests from token ids, whatever their order.

    A duration without a pitch or rest before it is skipped, a pitch or rest without a
    duration lasts a quarter note, and ``end`` stops the melody.
    """
    from music21 import note
    from music21 import stream as m21s

    vocabulary = tuple(vocabulary)
    if isinstance(ids, torch.Tensor):
        ids = ids.reshape(-1).tolist()
    out = m21s.Stream()
    pending: str | None = None  # a pitch or rest token waiting for its duration

    def emit(tok: str, ql: Fraction) -> None:
        n = note.Rest() if tok == "rest" else note.Note(int(tok[1:]))
        n.duration.quarterLength = ql
        out.append(n)

    for i in ids:
        if not 0 <= int(i) < len(vocabulary):
            raise GenzooError(f"token id {i} is outside the vocabulary of {len(vocabulary)} tokens")
        tok = vocabulary[int(i)]
        if tok == "end":
            break
        if tok == "rest" or re.fullmatch(r"p\d+", tok):
            if pending is not None:
                emit(pending, Fraction(1))
            pending = tok
        elif re.fullmatch(r"d[\d./]+", tok) and pending is not None:
            emit(pending, Fraction(tok[1:]))
            pending = None
    if pending is not None:
        emit(pending, Fraction(1))
    return out


def write_melody(ids: Iterable[int] | torch.Tensor, vocabulary: Iterable[str], path_stem: str | Path) -> list[Path]:
    """Write the melody of token ids as ``PATH.mid`` and ``PATH.musicxml``; returns both paths."""
    s = decode_tokens(ids, vocabulary)
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_name(stem.name + ".mid"), stem.with_name(stem.name + ".musicxml")]
    s.write("midi", fp=paths[0])
    s.write("musicxml", fp=paths[1])
    return paths


def _parse_file(path: Path) -> m21stream.Stream:
    """music21's parse of a music file (no music21 pickle cache), errors as DataFileError."""
    from music21 import converter

    kw: dict[str, Any] = {"quarterLengthDivisors": _MIDI_DIVISORS} if path.suffix.lower() in (".mid", ".midi") else {}
    try:
        return converter.parse(path, forceSource=True, **kw)
    except Exception as e:  # music21 raises many kinds of errors on bad files
        msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise DataFileError(f"cannot read music file {path}: {msg}") from None


def read_primer(path: str | Path, vocabulary: Iterable[str]) -> torch.Tensor:
    """Token ids (P,) int64 of the melody in a MIDI, MusicXML or ABC file, without ``end``.

    Polyphony keeps the top line (with a warning); an ABC file of several tunes gives
    its first tune. A missing, unreadable or empty file raises a GenzooError.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise GenzooError(f"primer file {p} does not exist")
    if p.suffix.lower() not in MUSIC_SUFFIXES:
        raise GenzooError(f"primer file {p}: unknown music format {p.suffix!r} (use {', '.join(MUSIC_SUFFIXES)})")
    ids = encode_stream(_parse_file(p), vocabulary)
    if not ids:
        raise GenzooError(f"primer file {p} holds no notes")
    return torch.tensor(ids, dtype=torch.int64)


