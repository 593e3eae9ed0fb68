"""``music``: monophonic melodies as pitch and duration tokens, for sequence models
(``lstm``, ``wavenet``, ``transformer``).

Sources (option ``source``; parsing uses music21, imported only when music is loaded):

* ``essen`` (the default without ``--data-dir``): the Essen folk song collection bundled
  with music21 (``corpus/essenFolksong``: 31 ABC files, about 8,500 tunes), files in
  sorted order, tunes in file order.
* ``bach``: the soprano part of the Bach chorales (``music21.corpus.chorales``, 371 in
  Riemenschneider order, 350 distinct files; a chorale listed twice is read once).
* ``folder`` (the default with ``--data-dir PATH``): every ``.mid``, ``.midi``, ``.xml``,
  ``.musicxml``, ``.mxl`` and ``.abc`` file under PATH (searched recursively, hidden
  files skipped, sorted by path); an ABC file of several tunes gives one piece per tune.
  Files music21 cannot read are skipped and counted in ``Dataset.info["skipped"]``.

Tokens. Each note is a pitch token (``"p60"``: MIDI pitch 60) followed by a duration
token (``"d0.5"``: half a quarter note); a rest is ``"rest"`` followed by a duration
token; every piece ends with ``"end"``. The vocabulary is fixed, so primers, datasets
and runs always agree (:data:`VOCABULARY`, V = 77):
``end``, ``rest``, ``p36`` .. ``p96`` (C2 .. C7), then the durations in quarter notes
:data:`DURATIONS` (``d0.125`` .. ``d8``, triplets written ``d1/3`` and ``d2/3``). A
duration not in the list snaps to the nearest one on a log scale (``info["snapped"]``
counts them); a pitch outside C2..C7 moves by octaves into the range
(``info["folded"]``). Tied notes are merged into one note before snapping.

Polyphony (chords, several voices or parts) keeps the top line: at each onset the
highest new pitch, unless a higher note still sounds; gaps become rests, a leading rest
is dropped (a note overlapping the next by at most 1/16 of a quarter is legato, not
polyphony). Files where this happened are listed in ``info["polyphonic_files"]`` and
reported with a warning.

The pieces' tokens are concatenated into one stream; the last ``test_fraction`` of the
pieces (whole pieces, in source order) is ``test``. ``transpose`` adds transposed copies
of the TRAINING pieces only (``true``: every key, shifts -5 .. +6 semitones; an int n:
shifts -n .. +n), skipping a copy that would move a pitch out of C2..C7. Examples are
windows of ``block_size`` tokens (a strided view, as in ``text``): training windows
start every ``stride`` tokens (default ``block_size // 2``), test windows do not overlap.

Parsing with music21 is slow (a tenth of a second or more per score), so the parsed
pieces are cached under ``genzoo_home()/music`` as a compact ``.npz`` keyed by the
source, the options that change parsing (``max_pieces``) and, for a folder, every
file's path, size and modification time; a cached load takes well under a second. The
Essen tunes are read from music21's ABC tokens (about 10 ms a tune) and the chorales
from their soprano part alone. Cold loads measured on a busy 2-core machine: ``essen``
with the default ``max_pieces=3000`` 29 s (290,000 tokens), all 8,514 tunes
(``max_pieces=none``) 106 s; ``bach``, all 350 chorales, 27 s (36,000 tokens).

:func:`encode_stream`, :func:`read_primer`, :func:`decode_tokens` and
:func:`write_melody` map between music21 streams or files and token ids.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import time
import warnings
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from genzoo.config import choice, positive
from genzoo.data.dataset import Dataset, Split, genzoo_home, register_dataset
from genzoo.data.spec import DataSpec
from genzoo.errors import DataFileError, GenzooError

if TYPE_CHECKING:
    from music21 import stream as m21stream

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
MUSIC_SUFFIXES = (".mid", ".midi", ".xml", ".musicxml", ".mxl", ".abc")
TRANSPOSE_ALL = tuple(k for k in range(-5, 7) if k)  # `transpose=true`: the 11 other keys
_MIDI_DIVISORS = (8, 3)  # quantise MIDI onsets/durations to 32nds and triplets, as DURATIONS
_CACHE_VERSION = 1  # bump when the encoding changes, so stale caches are not read
_EPS = 1e-6
# a note may overlap the next one by this much (quarter notes) and still be a single line:
# legato playing, or onsets and ends quantised to different grids (32nds vs triplets)
_LEGATO = 1 / 16


@dataclass
class MusicOptions:
    """Options of the ``music`` dataset.

    Args:
        source: ``essen``, ``bach`` or ``folder`` (None: ``folder`` with ``--data-dir``,
            else ``essen``).
        block_size: tokens per example (the sequence length T; a note is two tokens).
        stride: tokens between the starts of consecutive training windows
            (None: ``block_size // 2``).
        test_fraction: share of the pieces, taken from the end, held out as ``test``.
        max_pieces: read at most this many pieces (tunes, chorales, files), the first in
            source order (None: all).
        transpose: add transposed copies of the training pieces: ``true`` for shifts
            -5 .. +6 semitones, an int n for -n .. +n, ``false`` / 0 for none.
    """

    source: str | None = None
    block_size: int = 64
    stride: int | None = None
    test_fraction: float = 0.1
    max_pieces: int | None = 3000
    transpose: int | bool = False

    def validate(self) -> None:
        if self.source is not None:
            choice(self.source, ("essen", "bach", "folder"), "source")
        positive(self.block_size, "block_size")
        if self.stride is not None:
            positive(self.stride, "stride")
        if not 0.0 <= self.test_fraction < 1.0:
            raise GenzooError(f"bad value {self.test_fraction!r} for test_fraction: must be in [0, 1)")
        if self.max_pieces is not None:
            positive(self.max_pieces, "max_pieces")
        if not isinstance(self.transpose, bool) and not 0 <= self.transpose <= 12:
            raise GenzooError(f"bad value {self.transpose!r} for transpose: true, false or an int in [0, 12]")

    def shifts(self) -> tuple[int, ...]:
        """The semitone shifts of the transposed training copies."""
        if isinstance(self.transpose, bool):
            return TRANSPOSE_ALL if self.transpose else ()
        return tuple(k for k in range(-self.transpose, self.transpose + 1) if k)


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


# ---------------------------------------------------------------------------
# sources: each yields (piece name, elements) or raises DataFileError for one file

def _essen_tunes(limit: int | None) -> Iterator[tuple[str, str]]:
    """(name, ABC text) of the Essen tunes in order, the file's header before each tune."""
    from music21 import corpus

    files = sorted(Path(p) for p in corpus.getComposer("essenFolksong"))
    if not files:
        raise GenzooError("music21's corpus has no essenFolksong files (a music21 install without its corpus?)")
    n = 0
    for f in files:
        header, *tunes = re.split(r"(?m)^(?=X:)", f.read_text(encoding="utf-8", errors="replace"))
        for k, tune in enumerate(tunes, 1):
            if limit is not None and n >= limit:
                return
            n += 1
            yield f"essen/{f.stem}#{k}", header + tune


def _abc_elements(text: str) -> list[Element]:
    """Elements of one ABC tune read from music21's ABC tokens.

    Building a full music21 score (measures, beams) costs ten times more and adds
    nothing to a token stream; this reads the same note values music21's translator
    uses (tuplets, broken rhythms, ties, key-signature accidentals; chords and grace
    notes as there: chords as their pitches, grace notes dropped).
    """
    from music21 import abcFormat

    ah = abcFormat.ABCHandler()
    ah.process(text)
    out: list[Element] = []
    t = 0.0
    for tok in ah.tokens:
        if not isinstance(tok, abcFormat.ABCNote) or tok.inGrace:
            continue
        if isinstance(tok, abcFormat.ABCChord):
            subs = [s for s in tok.subTokens if isinstance(s, abcFormat.ABCNote)]
            if not subs:
                continue
            pitches = tuple(_midi(s.pitchName) for s in subs if s.pitchName and not s.isRest)
        else:
            pitches = () if tok.isRest else (_midi(tok.pitchName),)
        ql = float(tok.quarterLength)
        if tok.activeTuplet is not None:
            ql *= float(tok.activeTuplet.tupletMultiplier())
        out.append((t, ql, pitches, tok.tie))
        t += ql
    return out


@functools.lru_cache(maxsize=512)
def _midi(name: str) -> int:
    from music21 import pitch

    return pitch.Pitch(name).midi


def _chorale_files(limit: int | None) -> list[tuple[str, Path]]:
    from music21 import corpus
    from music21.common.pathTools import getCorpusFilePath

    names = list(dict.fromkeys(corpus.chorales.Iterator(returnType="filename")))[:limit]
    root = Path(getCorpusFilePath())
    out = []
    for name in names:
        p = root / f"{name}.mxl"
        if not p.is_file():  # not a compressed MusicXML file: ask the corpus
            try:
                works = corpus.getWork(name)
            except Exception:
                continue
            found = [Path(w) for w in (works if isinstance(works, list) else [works])
                     if Path(w).suffix in (".mxl", ".xml", ".musicxml")]
            if not found:
                continue
            p = found[0]
        out.append((name, p))
    return out


def _soprano_elements(path: Path) -> list[Element]:
    """Elements of the soprano (else the first) part of a chorale's MusicXML.

    The other parts are cut from the XML before music21 reads it: a quarter of the work.
    """
    from music21 import converter

    if path.suffix == ".mxl":
        with zipfile.ZipFile(path) as z:
            name = next(n for n in z.namelist() if not n.startswith("META-INF") and n.endswith((".xml", ".musicxml")))
            data = z.read(name)
    else:
        data = path.read_bytes()
    root = ET.fromstring(data)
    part_list = root.find("part-list")
    score_parts = part_list.findall("score-part") if part_list is not None else []
    if score_parts:
        keep = next((sp for sp in score_parts if "soprano" in (sp.findtext("part-name") or "").lower()),
                    score_parts[0]).get("id")
        for sp in score_parts:
            if sp.get("id") != keep:
                part_list.remove(sp)
        for part in root.findall("part"):
            if part.get("id") != keep:
                root.remove(part)
    s = converter.parseData(ET.tostring(root, encoding="unicode"), format="musicxml")
    return _stream_elements(s)


def _folder_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in MUSIC_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))


def _folder_pieces(root: Path, files: list[Path]) -> Iterator[tuple[str, list[Element] | None]]:
    """(name, elements) per piece; elements None for a file music21 cannot read."""
    from music21 import stream as m21s

    base = root if root.is_dir() else root.parent
    for f in files:
        name = str(f.relative_to(base))
        try:
            s = _parse_file(f)
        except DataFileError:
            yield name, None
            continue
        if isinstance(s, m21s.Opus):
            for k, score in enumerate(s.scores, 1):
                yield f"{name}#{k}", _stream_elements(score)
        else:
            yield name, _stream_elements(s)


# ---------------------------------------------------------------------------
# parsing with a cache

def _parse_source(source: str, root: Path | None, max_pieces: int | None) -> dict[str, Any]:
    """Parse the pieces: {"pieces": [int array], "names": [...], "stats": {...}}."""
    voc = _Vocab.of(VOCABULARY)
    pieces: list[np.ndarray] = []
    names: list[str] = []
    stats: dict[str, Any] = {"polyphonic": 0, "folded": 0, "snapped": 0, "empty": 0,
                             "skipped_files": [], "polyphonic_files": []}

    def add(name: str, elements: list[Element]) -> None:
        ids, counts = _encode(elements, voc)
        stats["folded"] += counts["folded"]
        stats["snapped"] += counts["snapped"]
        if counts["polyphonic"]:
            stats["polyphonic"] += 1
            stats["polyphonic_files"].append(name)
        if not ids:
            stats["empty"] += 1
            return
        pieces.append(np.asarray(ids, dtype=np.int16))
        names.append(name)

    if source == "essen":
        for name, text in _essen_tunes(max_pieces):
            try:
                add(name, _abc_elements(text))
            except Exception:  # a tune music21 cannot tokenize
                stats["skipped_files"].append(name)
    elif source == "bach":
        for name, path in _chorale_files(max_pieces):
            try:
                add(name, _soprano_elements(path))
            except Exception:
                stats["skipped_files"].append(name)
    else:
        assert root is not None
        for name, elements in _folder_pieces(root, _folder_files(root)):
            if max_pieces is not None and len(pieces) >= max_pieces:
                break
            if elements is None:
                stats["skipped_files"].append(name)
            else:
                add(name, elements)
    return {"pieces": pieces, "names": names, "stats": stats}


def _cache_path(source: str, root: Path | None, max_pieces: int | None) -> Path:
    import music21

    key: dict[str, Any] = {"v": _CACHE_VERSION, "source": source, "max_pieces": max_pieces,
                           "vocabulary": VOCABULARY, "music21": music21.__version__}
    if root is not None:
        key["root"] = str(root.resolve())
        key["files"] = [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in _folder_files(root)]
    digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]
    return genzoo_home() / "music" / f"{source}-{digest}.npz"


def _load_pieces(source: str, root: Path | None, max_pieces: int | None) -> tuple[dict[str, Any], Path, bool]:
    """Parsed pieces, from the cache when there (returns (parsed, cache path, was cached))."""
    path = _cache_path(source, root, max_pieces)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                tokens, offsets = z["tokens"], z["offsets"]
                parsed = {"pieces": [tokens[a:b] for a, b in zip(offsets[:-1], offsets[1:])],
                          "names": [str(n) for n in z["names"]], "stats": json.loads(str(z["stats"]))}
            return parsed, path, True
        except Exception:  # a corrupt or truncated cache: parse again
            pass
    parsed = _parse_source(source, root, max_pieces)
    lengths = [len(p) for p in parsed["pieces"]]
    tokens = np.concatenate(parsed["pieces"]) if lengths else np.zeros(0, np.int16)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, tokens=tokens, offsets=np.cumsum([0, *lengths]).astype(np.int64),
                        names=np.array(parsed["names"], dtype=str), stats=np.array(json.dumps(parsed["stats"])))
    os.replace(tmp, path)
    return parsed, path, False


# ---------------------------------------------------------------------------
# the dataset

def _transposed(piece: np.ndarray, k: int) -> np.ndarray | None:
    """``piece`` shifted by k semitones, or None if a pitch would leave the range."""
    lo, hi = VOCABULARY.index(f"p{PITCH_LOW}"), VOCABULARY.index(f"p{PITCH_HIGH}")
    is_pitch = (piece >= lo) & (piece <= hi)
    shifted = piece + k * is_pitch
    if np.any(is_pitch & ((shifted < lo) | (shifted > hi))):
        return None
    return shifted.astype(piece.dtype)


def _stream(pieces: list[np.ndarray]) -> torch.Tensor:
    """(L,) int64: the pieces one after another, each followed by ``end``."""
    end = np.array([VOCABULARY.index("end")], dtype=np.int16)
    if not pieces:
        return torch.zeros(0, dtype=torch.int64)
    return torch.from_numpy(np.concatenate([x for p in pieces for x in (p, end)]).astype(np.int64))


def _windows(ids: torch.Tensor, block_size: int, stride: int) -> torch.Tensor:
    """(N, block_size) view of ``ids`` (L,): windows starting at 0, stride, 2*stride, ..."""
    if len(ids) < block_size:
        return ids.new_empty(0, block_size)
    return ids.unfold(0, block_size, stride)


@register_dataset("music", MusicOptions,
                  "monophonic melodies as pitch/duration tokens: source essen (Essen folk songs) or bach "
                  "(chorale sopranos) from music21's corpus, or your MIDI/MusicXML/ABC files via --data-dir; "
                  "options block_size, stride, test_fraction, max_pieces, transpose")
def load_music(root: Path | None, opts: MusicOptions, *, download: bool = True) -> Dataset:
    source = opts.source or ("folder" if root is not None else "essen")
    if root is not None and source != "folder":
        raise GenzooError(f"dataset 'music': give either --data-dir or source={source}, not both")
    if source == "folder" and root is None:
        raise GenzooError("dataset 'music' with source=folder needs --data-dir PATH (a folder of "
                          "MIDI/MusicXML/ABC files), or use source=essen or source=bach")
    if root is not None and not root.exists():
        raise DataFileError(f"music path {root} does not exist; pass --data-dir PATH naming a folder of "
                            "MIDI/MusicXML/ABC files")
    if root is not None and not _folder_files(root):
        raise GenzooError(f"no music files ({', '.join(MUSIC_SUFFIXES)}) in {root}")
    try:
        import music21  # noqa: F401
    except ImportError:
        raise GenzooError("dataset 'music' needs music21: pip install 'music21>=9'") from None

    t0 = time.perf_counter()
    parsed, cache, cached = _load_pieces(source, root, opts.max_pieces)
    seconds = time.perf_counter() - t0
    pieces, stats = parsed["pieces"], parsed["stats"]
    where = str(root) if root is not None else f"source {source}"
    if not pieces:
        raise GenzooError(f"no melodies in {where}" + (f" ({len(stats['skipped_files'])} unreadable files skipped)"
                                                      if stats["skipped_files"] else ""))
    if source == "folder" and stats["polyphonic"]:
        warnings.warn(f"music: {stats['polyphonic']} of {len(pieces)} pieces in {root} hold chords or several "
                      "voices; kept the top line (highest pitch)", stacklevel=2)
    if source == "folder" and stats["skipped_files"]:
        warnings.warn(f"music: skipped {len(stats['skipped_files'])} unreadable files in {root}", stacklevel=2)

    n_test = int(round(opts.test_fraction * len(pieces)))
    if opts.test_fraction > 0 and len(pieces) > 1:
        n_test = min(max(n_test, 1), len(pieces) - 1)  # a test split needs a piece, training too
    train_pieces, test_pieces = pieces[: len(pieces) - n_test], pieces[len(pieces) - n_test:]
    copies = [c for k in opts.shifts() for p in train_pieces if (c := _transposed(p, k)) is not None]
    train_ids, test_ids = _stream(train_pieces + copies), _stream(test_pieces)

    T = opts.block_size
    if len(train_ids) < T:
        raise GenzooError(f"the training pieces of {where} have {len(train_ids)} tokens, fewer than block_size={T}; "
                          "lower block_size or test_fraction, or give more music")
    if n_test and len(test_ids) < T:
        raise GenzooError(f"the test pieces of {where} have {len(test_ids)} tokens, fewer than block_size={T}; "
                          "lower block_size, raise test_fraction, or give more music")
    stride = opts.stride or max(T // 2, 1)
    spec = DataSpec(name="music", kind="sequence", shape=(T,), value_type="categorical",
                    num_values=len(VOCABULARY), vocabulary=VOCABULARY, extra={"modality": "music"})
    names = parsed["names"]
    return Dataset(spec=spec, train=Split(_windows(train_ids, T, stride)), test=Split(_windows(test_ids, T, T)),
                   info={"root": where, "source": source, "pieces": len(pieces),
                         "train_pieces": len(train_pieces), "test_pieces": len(test_pieces),
                         "transposed_copies": len(copies), "test_piece_names": names[len(train_pieces):][:20],
                         "tokens": int(sum(len(p) + 1 for p in pieces)), "train_tokens": len(train_ids),
                         "test_tokens": len(test_ids), "vocab_size": len(VOCABULARY), "stride": stride,
                         "polyphonic": stats["polyphonic"], "polyphonic_files": stats["polyphonic_files"][:20],
                         "folded": stats["folded"], "snapped": stats["snapped"], "empty": stats["empty"],
                         "skipped": len(stats["skipped_files"]), "skipped_files": stats["skipped_files"][:20],
                         "cache": str(cache), "cached": cached, "load_seconds": round(seconds, 2)})
