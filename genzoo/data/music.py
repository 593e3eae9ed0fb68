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

The token encoding (:func:`encode_stream`, :func:`read_primer`, :func:`decode_tokens`,
:func:`write_melody`) lives in :mod:`genzoo.data.melody` and is re-exported here.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import time
import warnings
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genzoo.config import choice, positive
from genzoo.data.dataset import Dataset, Split, genzoo_home, register_dataset
from genzoo.data.melody import (  # noqa: F401  (the token API, re-exported)
    _EPS,
    _MIDI_DIVISORS,
    DURATIONS,
    MUSIC_SUFFIXES,
    PITCH_HIGH,
    PITCH_LOW,
    VOCABULARY,
    Element,
    _encode,
    _parse_file,
    _stream_elements,
    _top_line,
    _Vocab,
    decode_tokens,
    encode_stream,
    read_primer,
    write_melody,
)
from genzoo.data.spec import DataSpec
from genzoo.errors import DataFileError, GenzooError

TRANSPOSE_ALL = tuple(k for k in range(-5, 7) if k)  # `transpose=true`: the 11 other keys
_CACHE_VERSION = 1  # bump when the encoding changes, so stale caches are not read


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
    if stats["skipped_files"]:  # a corpus piece music21 cannot read is never dropped silently
        warnings.warn(f"music: skipped {len(stats['skipped_files'])} unreadable files in {where} "
                      f"({', '.join(stats['skipped_files'][:3])}{', ...' if len(stats['skipped_files']) > 3 else ''})",
                      stacklevel=2)

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
