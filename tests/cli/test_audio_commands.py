"""Sound from the command line: train wavenet on a folder of WAV files, sample valid WAV
files with a spectrogram, continue a WAV primer, score the test split, and refuse bad
inputs with one line and exit code 2."""

from __future__ import annotations

import json
import wave

import numpy as np
import pytest

from genzoo.cli.main import main
from genzoo.data.audio import audio_spec, read_audio_primer
from genzoo.data.wav import read_wav, write_wav

RATE = 2000


def tone(freq: float, seconds: float = 0.5, rate: int = RATE) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


def wav_info(path) -> tuple[int, int, int, int]:
    with wave.open(str(path), "rb") as w:
        return w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()


@pytest.fixture(scope="module")
def audio_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("audio")
    folder = root / "clips"
    for k, f in enumerate((110, 147, 196, 220, 262)):
        rate = RATE * (2 if k % 2 else 1)  # two rates: resampled to the one asked for
        write_wav(folder / f"c{k}.wav", tone(f, rate=rate), rate)
    run = root / "run"
    assert main(["train", "wavenet", "--data", "audio", "--data-dir", str(folder), "--set", f"data.rate={RATE}",
                 "--set", "data.window=64", "--set", "data.test_fraction=0.4", "--set", "layers_per_stack=3",
                 "--set", "residual_channels=8", "--set", "gate_channels=8", "--set", "skip_channels=16",
                 "--steps", "10", "--batch-size", "8", "--run-dir", str(run), "--no-progress"]) == 0
    return run


def test_sample_writes_valid_wav_files_and_a_spectrogram(audio_run, capsys):
    assert main(["sample", str(audio_run), "-n", "2", "--length", "100"]) == 0
    assert "2 sounds" in capsys.readouterr().out
    folder = audio_run / "samples" / "audio-seed0"
    assert sorted(p.name for p in folder.iterdir()) == ["sample-01.wav", "sample-02.wav", "spectrogram.png"]
    for f in folder.glob("*.wav"):
        assert wav_info(f) == (1, 2, RATE, 100)
    assert (folder / "spectrogram.png").read_bytes()[:4] == b"\x89PNG"


def test_out_names_the_wav_file(audio_run, tmp_path):
    assert main(["sample", str(audio_run), "-n", "1", "--length", "50", "--out", str(tmp_path / "x.wav")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png", "x.wav"]
    assert wav_info(tmp_path / "x.wav") == (1, 2, RATE, 50)
    many = tmp_path / "many"
    assert main(["sample", str(audio_run), "-n", "3", "--length", "20", "--out", str(many / "x.wav")]) == 0
    assert sorted(p.name for p in many.iterdir()) == ["x-1.wav", "x-2.wav", "x-3.wav", "x.png"]
    # the default sampler path (no sequence options) writes sound too, for the first sample's length
    assert main(["sample", str(audio_run), "-n", "1", "--out", str(tmp_path / "y.wav")]) == 0
    assert wav_info(tmp_path / "y.wav")[3] == 64


def test_primer_continuation_starts_with_the_primers_samples(audio_run, tmp_path):
    primer = tmp_path / "clip.wav"
    write_wav(primer, tone(330, 0.1, rate=4000), 4000)  # another rate: resampled to the run's
    out = tmp_path / "cont.wav"
    assert main(["sample", str(audio_run), "--primer", str(primer), "--length", "40", "-n", "1",
                 "--out", str(out)]) == 0
    spec = audio_spec(64, RATE, 256)
    codes = read_audio_primer(primer, spec)
    written = read_audio_primer(out, spec)
    assert len(codes) == 200 and len(written) == 240
    assert written[:200].tolist() == codes.tolist()
    x, _ = read_wav(out)
    assert np.abs(x[200:]).max() > 0  # something was drawn after it


def test_eval_reports_bits_per_sample(audio_run, capsys):
    assert main(["eval", str(audio_run), "--metrics", "nll"]) == 0
    assert "bits/dim" in capsys.readouterr().out
    row = json.loads((audio_run / "eval.json").read_text())["test/model"]
    # one dimension is one sample: bits per sample = NLL per window / (64 ln 2)
    assert row["kind"] == "exact" and row["n"] == 2 * (1000 // 64)  # two test files of 0.5 s at 2 kHz
    assert abs(row["bits_per_dim"] - row["nll_nats"] / (64 * np.log(2))) < 1e-9
    assert 0 < row["bits_per_dim"] <= 8.2  # about uniform over 256 codes after 10 steps, not worse


def test_complete_writes_wav_files_that_keep_the_visible_start(audio_run, tmp_path):
    out = tmp_path / "comp"
    assert main(["complete", str(audio_run), "-n", "2", "--count", "1", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["example-0-completion-0.wav", "example-0-completion-1.wav",
                                                     "example-0-original.wav"]
    spec = audio_spec(64, RATE, 256)
    original = read_audio_primer(out / "example-0-original.wav", spec)
    for j in range(2):
        comp = read_audio_primer(out / f"example-0-completion-{j}.wav", spec)
        assert len(comp) == 64 and comp[:32].tolist() == original[:32].tolist()  # cover end-0.5


def test_bad_inputs_exit_2_with_one_line(audio_run, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF....WAVEnot really")
    cases = [
        (["train", "wavenet", "--data", "audio", "--data-dir", str(empty), "--steps", "1",
          "--run-dir", str(tmp_path / "r1")], "no WAV files"),
        (["train", "wavenet", "--data", "audio", "--data-dir", str(junk), "--steps", "1",
          "--run-dir", str(tmp_path / "r2")], "junk.wav"),
        (["sample", str(audio_run), "--primer", str(junk)], "cannot read WAV file"),
        (["sample", str(audio_run), "--primer", str(tmp_path / "none.wav")], "none.wav"),
        (["sample", str(audio_run), "--out", str(tmp_path / "x.mid")], "'.mid'"),
        (["sample", str(audio_run), "--prompt", "abc"], "--primer"),
    ]
    for argv, words in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1 and "Traceback" not in err, (argv, err)


def test_valid_files_give_best_weights_scored_on_held_out_files(tmp_path):
    folder = tmp_path / "clips"
    for k, f in enumerate((110, 147, 196, 220, 262)):
        write_wav(folder / f"c{k}.wav", tone(f), RATE)
    run = tmp_path / "run"
    assert main(["train", "wavenet", "--data", "audio", "--data-dir", str(folder), "--set", f"data.rate={RATE}",
                 "--set", "data.window=64", "--set", "data.test_fraction=0.2", "--set", "data.valid_files=2",
                 "--set", "train.eval_every=2", "--set", "layers_per_stack=2", "--set", "residual_channels=4",
                 "--set", "gate_channels=4", "--set", "skip_channels=8", "--steps", "4", "--batch-size", "4",
                 "--run-dir", str(run), "--no-progress"]) == 0
    best = json.loads((run / "best.json").read_text())
    assert best["split"] == "valid" and best["examples"] == 2 * (1000 // 64)  # 2 files, windows not overlapping
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "valid/nll" in r] == [2, 4]
