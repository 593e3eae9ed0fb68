"""Music from the command line: train a melody model on a folder of MIDI/MusicXML files,
sample playable MIDI, continue a primer melody (a polyphonic one keeps its top line, with
a warning), and complete test melodies."""

from __future__ import annotations

import subprocess
import sys

import pytest
from music21 import chord, converter, note, stream

from genzoo.cli.main import main
from genzoo.data import music


def tune(shift: int) -> stream.Score:
    part = stream.Part()
    for m, ql in [(60, 1), (62, 1), (64, 1), (65, 1), (67, 2), (None, 1), (65, 0.5), (64, 0.5), (62, 1), (60, 2)]:
        part.append(note.Rest(quarterLength=ql) if m is None else note.Note(m + shift, quarterLength=ql))
    return stream.Score([part])


@pytest.fixture(scope="module")
def music_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("music")
    folder = root / "tunes"
    folder.mkdir()
    for k in range(6):
        tune(k).write("midi" if k % 2 else "musicxml", fp=folder / (f"t{k}.mid" if k % 2 else f"t{k}.musicxml"))
    run = root / "run"
    assert main(["train", "transformer", "--data", "music", "--data-dir", str(folder), "--set", "data.block_size=16",
                 "--set", "data.test_fraction=0.34", "--set", "layers=1", "--set", "width=32", "--steps", "60",
                 "--set", "train.lr=0.005", "--run-dir", str(run), "--no-progress"]) == 0
    return run


def test_sample_writes_midi_and_musicxml_that_music21_reads(music_run, capsys):
    assert main(["sample", str(music_run), "-n", "2", "--length", "24"]) == 0
    assert "MIDI and MusicXML" in capsys.readouterr().out
    mids = sorted((music_run / "samples").rglob("*.mid"))
    xmls = sorted((music_run / "samples").rglob("*.musicxml"))
    assert len(mids) == 2 and len(xmls) == 2
    assert len(list((music_run / "samples").rglob("pianoroll.png"))) == 1
    for path in mids + xmls:
        score = converter.parse(path)  # playable: music21 reads it back
        assert all(n.quarterLength > 0 for n in score.flatten().notesAndRests)


def test_out_names_the_file_written(music_run, tmp_path, capsys):
    # one sample: exactly the file named; several: numbered beside it; .png: the piano roll
    assert main(["sample", str(music_run), "-n", "1", "--length", "8", "--out", str(tmp_path / "tune.mid")]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["tune.mid"]
    converter.parse(tmp_path / "tune.mid")
    many = tmp_path / "many"
    assert main(["sample", str(music_run), "-n", "3", "--length", "8", "--out", str(many / "tune.musicxml")]) == 0
    assert sorted(p.name for p in many.iterdir()) == ["tune-1.musicxml", "tune-2.musicxml", "tune-3.musicxml"]
    assert main(["sample", str(music_run), "-n", "2", "--length", "8", "--out", str(tmp_path / "roll.png")]) == 0
    assert (tmp_path / "roll.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert main(["sample", str(music_run), "--out", str(tmp_path / "tune.jpg")]) == 2
    assert "'.jpg'" in capsys.readouterr().err
    assert not (tmp_path / "tune.jpg").exists()


def test_primer_melody_is_continued_and_polyphony_warns(music_run, tmp_path, capsys):
    primer = tmp_path / "primer.mid"
    tune(0).write("midi", fp=primer)
    out = tmp_path / "cont"
    assert main(["sample", str(music_run), "--primer", str(primer), "--length", "8", "-n", "1",
                 "--out", str(out)]) == 0
    first = next(out.rglob("*.mid"))
    vocab = music.VOCABULARY
    assert music.read_primer(first, vocab)[:20].tolist() == music.read_primer(primer, vocab).tolist()
    chords = stream.Score([stream.Part([chord.Chord([60, 64, 67], quarterLength=1), note.Note(62, quarterLength=1)])])
    poly = tmp_path / "chords.musicxml"
    chords.write("musicxml", fp=poly)
    with pytest.warns(UserWarning, match="top line"):
        assert main(["sample", str(music_run), "--primer", str(poly), "--length", "4", "-n", "1",
                     "--out", str(tmp_path / "poly")]) == 0
    capsys.readouterr()
    # from a shell, the warning is one line, like the errors
    done = subprocess.run([sys.executable, "-m", "genzoo", "sample", str(music_run), "--primer", str(poly),
                           "--length", "4", "-n", "1", "--out", str(tmp_path / "poly2")],
                          capture_output=True, text=True, check=True)
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("genzoo sample: warning:") and "top line" in done.stderr
    assert main(["sample", str(music_run), "--primer", str(tmp_path / "none.mid")]) == 2
    assert "none.mid" in capsys.readouterr().err
    assert main(["sample", str(music_run), "--prompt", "abc"]) == 2
    assert "--primer" in capsys.readouterr().err


def test_complete_writes_original_and_completions(music_run, tmp_path, capsys):
    out = tmp_path / "comp"
    assert main(["complete", str(music_run), "-n", "2", "--count", "2", "--out", str(out)]) == 0
    assert "cover end-0.5" in capsys.readouterr().out
    names = sorted(p.name for p in out.glob("*.mid"))
    assert names == ["example-0-completion-0.mid", "example-0-completion-1.mid", "example-0-original.mid",
                     "example-1-completion-0.mid", "example-1-completion-1.mid", "example-1-original.mid"]
