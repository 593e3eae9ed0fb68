"""`music`: melodies as pitch/duration tokens from music21's corpora or your own files."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from music21 import chord, converter, note, stream, tie

from genzoo.data import music
from genzoo.data.dataset import dataset_names, load_dataset
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError

V = music.VOCABULARY


def ids(*tokens: str) -> list[int]:
    return [V.index(t) for t in tokens]


def melody(*events: tuple[int | None, float]) -> stream.Stream:
    """A one-part score of (MIDI pitch or None for a rest, quarterLength) events."""
    part = stream.Part()
    for m, ql in events:
        part.append(note.Rest(quarterLength=ql) if m is None else note.Note(m, quarterLength=ql))
    return stream.Score([part])


A = [(60, 1), (62, 0.5), (None, 1), (64, 2), (65, 0.5)]
A_TOKENS = ids("p60", "d1", "p62", "d0.5", "rest", "d1", "p64", "d2", "p65", "d0.5")
B = [(67, 1.5), (69, 0.5), (71, 2)]
B_TOKENS = ids("p67", "d1.5", "p69", "d0.5", "p71", "d2")
C = [(72, 1), (74, 1), (76, 2)]
C_TOKENS = ids("p72", "d1", "p74", "d1", "p76", "d2")


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "tunes"
    (root / "sub").mkdir(parents=True)
    melody(*A).write("musicxml", fp=root / "a.musicxml")
    melody(*B).write("midi", fp=root / "b.mid")
    melody(*C).write("musicxml", fp=root / "sub" / "c.xml")
    (root / "notes.txt").write_text("not music")  # not a music suffix: ignored
    return root


def test_folder_tokens_split_and_spec(folder):
    assert "music" in dataset_names()
    d = load_dataset("music", root=folder, block_size=4, stride=4, test_fraction=0.34)
    end = ids("end")
    train = A_TOKENS + end + B_TOKENS + end  # the last third of the pieces (c.xml) is the test split
    assert d.info["source"] == "folder" and (d.info["train_pieces"], d.info["test_pieces"]) == (2, 1)
    assert d.info["test_piece_names"] == ["sub/c.xml"] and d.info["polyphonic"] == 0
    assert d.train.x.reshape(-1).tolist() == train[: 4 * (len(train) // 4)]
    assert d.test.x.reshape(-1).tolist() == (C_TOKENS + end)[:4]
    s = d.spec
    assert (s.kind, s.shape, s.value_type, s.num_values) == ("sequence", (4,), "categorical", len(V))
    assert s.vocabulary == V and len(V) == 77 and s.extra == {"modality": "music"}
    again = DataSpec.from_dict(json.loads(json.dumps(s.to_dict())))  # config.json keeps vocabulary and extra
    assert again.vocabulary == V and again.extra == {"modality": "music"}
    # the second load reads the cache
    assert not d.info["cached"] and load_dataset("music", root=folder, block_size=4, stride=4,
                                                 test_fraction=0.34).info["cached"]


def test_polyphony_keeps_the_top_line_with_a_warning(tmp_path):
    upper, lower = stream.Part(), stream.Part()
    upper.append([note.Note(72, quarterLength=2), note.Note(74, quarterLength=1), note.Rest(quarterLength=1)])
    lower.append([note.Note(60, quarterLength=1), note.Note(64, quarterLength=1), note.Note(65, quarterLength=1),
                  note.Note(67, quarterLength=1)])  # moves under the held 72; 67 sounds in the upper rest
    two_parts = stream.Score([upper, lower])
    expected = ids("p72", "d2", "p74", "d1", "p67", "d1")
    with pytest.warns(UserWarning, match="top line"):
        assert music.encode_stream(two_parts, V) == expected
    chords = stream.Part([chord.Chord([60, 64, 67], quarterLength=1), note.Note(62, quarterLength=1)])
    with pytest.warns(UserWarning, match="top line"):
        assert music.encode_stream(chords, V) == ids("p67", "d1", "p62", "d1")
    legato = stream.Part()
    legato.insert(0, note.Note(64, quarterLength=1.05))  # overlaps the next note a little: still one line
    legato.insert(1, note.Note(62, quarterLength=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a plain melody, or warn=False: no warning
        assert music.encode_stream(melody(*A), V) == A_TOKENS
        assert music.encode_stream(legato, V) == ids("p64", "d1", "p62", "d1")
        music.encode_stream(chords, V, warn=False)
    root = tmp_path / "poly"
    root.mkdir()
    two_parts.write("musicxml", fp=root / "duet.musicxml")
    melody(*B).write("musicxml", fp=root / "solo.musicxml")
    with pytest.warns(UserWarning, match="1 of 2 pieces"):
        d = load_dataset("music", root=root, block_size=4, test_fraction=0)
    assert d.info["polyphonic"] == 1 and d.info["polyphonic_files"] == ["duet.musicxml"]


def test_ties_merge_and_durations_snap_and_pitches_fold():
    part = stream.Part()
    a, b = note.Note(60, quarterLength=1), note.Note(60, quarterLength=0.5)
    a.tie, b.tie = tie.Tie("start"), tie.Tie("stop")
    part.append([a, b, note.Note(100, quarterLength=0.3), note.Note(30, quarterLength=20)])
    # 1 + 0.5 tied -> 1.5; 0.3 -> 1/3 (nearest on a log scale); 100 -> 88, 30 -> 42; 20 -> 8
    assert music.encode_stream(part, V) == ids("p60", "d1.5", "p88", "d1/3", "p42", "d8")


def test_transposition_only_on_training_pieces(folder):
    base = load_dataset("music", root=folder, block_size=4, stride=4, test_fraction=0.34)
    d = load_dataset("music", root=folder, block_size=4, stride=4, test_fraction=0.34, transpose=2)
    assert torch.equal(d.test.x, base.test.x)  # test pieces are never transposed
    assert d.info["transposed_copies"] == 2 * 4 and base.info["transposed_copies"] == 0
    train = d.train.x.reshape(-1).tolist()
    originals = A_TOKENS + ids("end") + B_TOKENS + ids("end")
    n = len(originals)
    assert train[:n] == originals
    first_copy = train[n: n + len(A_TOKENS)]  # A shifted by -2 semitones
    assert [V[i] for i in first_copy[:4]] == ["p58", "d1", "p60", "d0.5"]
    # a copy that would leave C2..C7 is skipped
    assert music._transposed(np.array(ids("p95", "d1"), dtype=np.int16), 2) is None
    assert load_dataset("music", root=folder, block_size=4, transpose=True).info["transposed_copies"] == 2 * 11


def test_decode_is_robust_and_files_round_trip(tmp_path):
    s = music.decode_tokens(torch.tensor(ids("d0.5", "p60", "p62", "d2", "rest", "d1", "d4", "p64", "end", "p70")), V)
    got = [("rest" if n.isRest else n.pitch.midi, float(n.quarterLength)) for n in s.notesAndRests]
    assert got == [(60, 1.0), (62, 2.0), ("rest", 1.0), (64, 1.0)]
    tokens = ids("p60", "d1", "p62", "d0.5", "p64", "d0.5", "rest", "d1", "p67", "d1/3", "p65", "d1/3", "p64",
                 "d1/3", "p62", "d0.75", "p60", "d0.25", "p72", "d1.5", "p36", "d0.5", "p96", "d3")
    paths = music.write_melody(tokens + ids("end"), V, tmp_path / "out" / "tune")
    assert [p.name for p in paths] == ["tune.mid", "tune.musicxml"] and all(p.is_file() for p in paths)
    for p in paths:
        primer = music.read_primer(p, V)
        assert primer.dtype == torch.int64 and primer.tolist() == tokens, p.name  # no "end" appended
    assert converter.parse(paths[1]).flatten().notes[0].pitch.midi == 60


def test_bad_primers_are_one_line_errors(tmp_path):
    (tmp_path / "junk.mid").write_bytes(b"MThd\x00\x00garbage")
    (tmp_path / "junk.musicxml").write_text("<score-partwise><part-list>")
    (tmp_path / "tune.txt").write_text("X:1")
    melody((None, 4)).write("musicxml", fp=tmp_path / "silence.musicxml")
    cases = {"missing.mid": "does not exist", "junk.mid": "cannot read", "junk.musicxml": "cannot read",
             "tune.txt": "unknown music format", "silence.musicxml": "no notes"}
    for name, match in cases.items():
        with pytest.raises(GenzooError, match=match) as e:
            music.read_primer(tmp_path / name, V)
        assert "\n" not in str(e.value) and name in str(e.value)
    # in a dataset folder a corrupt file is skipped, with a warning
    root = tmp_path / "mixed"
    root.mkdir()
    (root / "junk.mid").write_bytes(b"MThd\x00\x00garbage")
    melody(*A, *B, *C).write("midi", fp=root / "ok.mid")
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        d = load_dataset("music", root=root, block_size=8, test_fraction=0)
    assert d.info["skipped_files"] == ["junk.mid"] and d.info["pieces"] == 1


@pytest.mark.parametrize("opts,match", [
    ({"source": "folder"}, "--data-dir"), ({"source": "mozart"}, "source"), ({"transpose": 13}, "transpose"),
    ({"max_pieces": 0}, "max_pieces"), ({"test_fraction": 1.0}, "test_fraction"),
])
def test_bad_options(opts, match):
    with pytest.raises(GenzooError, match=match):
        load_dataset("music", **opts)


def test_bad_folders(tmp_path, folder):
    with pytest.raises(GenzooError, match="not both"):
        load_dataset("music", root=folder, source="bach")
    with pytest.raises(GenzooError, match="does not exist"):
        load_dataset("music", root=tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GenzooError, match="no music files"):
        load_dataset("music", root=tmp_path / "empty")
    with pytest.raises(GenzooError, match="fewer than block_size"):
        load_dataset("music", root=folder, block_size=500)


@pytest.mark.parametrize("source,n", [("essen", 4), ("bach", 3)])
def test_bundled_corpora_slice(source, n):
    d = load_dataset("music", source=source, max_pieces=n, block_size=16, test_fraction=0.25)
    assert d.info["pieces"] == n and d.info["test_pieces"] == 1 and d.info["skipped"] == 0
    assert d.info["polyphonic"] == 0  # folk tunes and a soprano part are single lines
    x = torch.cat([d.train.x.reshape(-1), d.test.x.reshape(-1)])
    assert x.dtype == torch.int64 and 0 <= int(x.min()) and int(x.max()) < len(V)
    # tokens alternate pitch-or-rest and duration
    tokens = [V[i] for i in d.train.x[0].tolist()]
    kinds = ["d" if t.startswith("d") else "e" if t == "end" else "p" for t in tokens]
    assert all(a != b or a == "e" for a, b in zip(kinds, kinds[1:]))
    assert load_dataset("music", source=source, max_pieces=n, block_size=16, test_fraction=0.25).info["cached"]


def test_fast_abc_reader_matches_music21():
    # the Essen tunes are read from music21's ABC tokens, skipping its score building
    voc = music._Vocab.of(V)
    for _, text in music._essen_tunes(3):
        fast, _ = music._encode(music._abc_elements(text), voc)
        assert fast == music.encode_stream(converter.parseData(text, format="abc"), V)


def test_a_chorale_that_fails_to_parse_is_recorded_and_warned_about(tmp_path, monkeypatch):
    monkeypatch.setenv("GENZOO_HOME", str(tmp_path))  # a fresh parse cache
    real = music._soprano_elements
    calls = []

    def flaky(path):
        calls.append(path)
        if len(calls) == 2:
            raise ValueError("music21 cannot read this one")
        return real(path)

    monkeypatch.setattr(music, "_soprano_elements", flaky)
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        d = load_dataset("music", source="bach", max_pieces=3)
    assert d.info["skipped"] == 1 and len(d.info["skipped_files"]) == 1 and d.info["pieces"] == 2
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):  # and again when read from the cache
        load_dataset("music", source="bach", max_pieces=3)
