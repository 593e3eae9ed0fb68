"""`audio`: WAV files as mu-law codes (reading, resampling, quantization, the split by
file, windows), the built-in synthesized corpus, and one-line errors for bad files."""

from __future__ import annotations

import math
import struct
import wave

import numpy as np
import pytest
import torch

from genzoo.data import audio, synth
from genzoo.data.dataset import dataset_names, load_dataset
from genzoo.data.wav import mulaw_decode, mulaw_encode, read_wav, resample, write_wav
from genzoo.errors import DataFileError, GenzooError


def sine(freq: float, rate: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


def peak_hz(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec)) * rate / len(x)


def write_pcm(path, frames: np.ndarray, rate: int, width: int) -> None:
    """Raw integer PCM frames (N, channels) written with `wave` at ``width`` bytes."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(frames.shape[1])
        w.setsampwidth(width)
        w.setframerate(rate)
        if width == 1:
            raw = frames.astype(np.uint8).tobytes()
        elif width == 3:
            v = frames.astype(np.int32).reshape(-1)
            raw = np.stack([v & 255, (v >> 8) & 255, (v >> 16) & 255], 1).astype(np.uint8).tobytes()
        else:
            raw = frames.astype("<i2" if width == 2 else "<i4").tobytes()
        w.writeframes(raw)


@pytest.mark.parametrize("levels", [256, 16])
def test_mulaw_round_trip_error_is_within_half_a_step(levels):
    mu = levels - 1
    x = np.linspace(-1, 1, 20001)
    codes = mulaw_encode(x, levels)
    assert codes.dtype == np.int64 and codes.min() == 0 and codes.max() == mu
    err = np.abs(mulaw_decode(codes, levels) - x)
    # half a code step in F = 1/mu; dx/dF = ln(1+mu)/mu (1 + mu|x|), grown by at most e^(ln(1+mu)/mu)
    bound = math.log1p(mu) / mu * (1 + mu * np.abs(x)) / mu * math.exp(math.log1p(mu) / mu) + 1e-6
    assert np.all(err <= bound)
    if levels == 256:
        assert err[np.abs(x) < 0.001].max() < 1.2e-4  # fine steps near silence
    assert np.array_equal(mulaw_encode(mulaw_decode(codes, levels), levels), codes)  # codes survive decoding


@pytest.mark.parametrize(("src", "dst"), [(16000, 8000), (44100, 8000), (8000, 11025)])
def test_resampling_keeps_a_sines_frequency_and_amplitude(src, dst):
    y = resample(sine(440.0, src, 1.0), src, dst)
    assert len(y) == math.ceil(src * 1.0 * dst / src)
    assert abs(peak_hz(y, dst) - 440.0) <= 1.5  # one FFT bin is 1 Hz
    middle = y[len(y) // 4: 3 * len(y) // 4]
    assert abs(np.abs(middle).max() - 0.5) < 0.01
    assert np.array_equal(resample(y, dst, dst), y)


def test_downsampling_removes_tones_above_the_new_nyquist():
    y = resample(sine(6000.0, 16000, 1.0), 16000, 8000)  # 6 kHz would alias to 2 kHz at 8 kHz
    assert np.abs(y[1000:-1000]).max() < 0.01


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_integer_pcm_of_every_width_reads_as_a_mono_mixdown(tmp_path, width):
    full = 2.0 ** (8 * width - 1)
    left, right = sine(100, 4000, 0.25, 0.6), sine(100, 4000, 0.25, 0.2)
    frames = np.round(np.stack([left, right], 1) * full).astype(np.int64)
    if width == 1:
        frames = frames + 128  # 8-bit WAV is unsigned
    path = tmp_path / f"w{width}.wav"
    write_pcm(path, frames, 4000, width)
    x, rate = read_wav(path)
    assert rate == 4000 and x.dtype == np.float32 and x.shape == (1000,)
    assert np.abs(x - (left + right) / 2).max() <= 1.5 / full


def make_folder(root, n_files: int = 5, seconds: float = 0.5, rate: int = 4000):
    """Files f0 .. f{n-1}, file k a constant level (k+1)/10: every file has its own codes."""
    root.mkdir(parents=True, exist_ok=True)
    for k in range(n_files):
        write_wav(root / f"f{k}.wav", np.full(int(rate * seconds), (k + 1) / 10, np.float32), rate)
    return root


def test_split_is_by_file_and_seeded(tmp_path):
    root = make_folder(tmp_path / "clips", n_files=6)
    assert "audio" in dataset_names()
    code_of = {int(mulaw_encode(np.array([(k + 1) / 10]))[0]): f"f{k}.wav" for k in range(6)}
    seen = {}
    for seed in (0, 1, 2):
        d = load_dataset("audio", root=root, rate=4000, window=100, test_fraction=0.34, seed=seed)
        test_files = set(d.info["test_file_names"])
        assert len(test_files) == 2 and d.info["train_files"] == 4
        # every window lies in one file, and test windows come only from the test files
        for split, want_test in ((d.train, False), (d.test, True)):
            for row in split.x:
                assert len(row.unique()) == 1
                assert (code_of[int(row[0])] in test_files) == want_test
        again = load_dataset("audio", root=root, rate=4000, window=100, test_fraction=0.34, seed=seed)
        assert again.info["test_file_names"] == d.info["test_file_names"] and torch.equal(again.test.x, d.test.x)
        seen[seed] = tuple(sorted(test_files))
    assert len(set(seen.values())) > 1  # the seed chooses the files


def test_window_count_spec_and_resampling_to_the_rate(tmp_path):
    root = make_folder(tmp_path / "clips", n_files=3, seconds=0.5, rate=4000)  # 1,000 samples at 2 kHz
    d = load_dataset("audio", root=root, rate=2000, window=64, stride=48, test_fraction=0.34)
    n_train = (1000 - 64) // 48 + 1  # per file
    assert d.train.x.shape == (2 * n_train, 64) and d.train.x.dtype == torch.int64
    assert d.test.x.shape == (1000 // 64, 64)  # test windows do not overlap
    assert d.spec.kind == "sequence" and d.spec.num_values == 256 and d.spec.shape == (64,)
    assert audio.is_audio(d.spec) and d.spec.extra["sample_rate"] == 2000
    assert d.info["source_rates"] == [4000] and d.info["seconds"] == 1.5
    q = load_dataset("audio", root=root, rate=2000, window=64, levels=16)
    assert q.spec.num_values == 16 and int(q.train.x.max()) < 16


def test_one_file_is_split_in_time(tmp_path):
    write_wav(tmp_path / "one.wav", sine(200, 2000, 1.0), 2000)
    d = load_dataset("audio", root=tmp_path / "one.wav", rate=2000, window=100, stride=100, test_fraction=0.2)
    assert (len(d.train), len(d.test)) == (16, 4) and d.info["files"] == 1


def test_synthesizer_is_deterministic_and_in_tune():
    notes = [(69, 1.0), (None, 0.5), (57, 1.0)]
    a = synth.render(notes, 8000, seed=3, index=1)
    assert np.array_equal(a, synth.render(notes, 8000, seed=3, index=1))
    assert not np.array_equal(a, synth.render(notes, 8000, seed=4, index=1))  # another instrument
    assert a.dtype == np.float32 and abs(np.abs(a).max() - synth.PEAK) < 1e-6
    quarter, _ = synth.instrument(3, 1)
    n = int(round(quarter * 8000))
    assert abs(peak_hz(a[:n], 8000) - 440.0) < 8000 / n * 1.5  # A4, fundamental strongest
    assert np.abs(a[n + 10: n + n // 2 - 10]).max() == 0  # the rest is silent (no noise in rests)
    assert len(synth.render(notes, 8000, seed=3, index=1, max_seconds=0.1)) == 800


def test_tunes_share_instruments_but_every_note_varies(monkeypatch):
    k = 4
    q1, amps1 = synth.instrument(0, 1, k)
    q5, amps5 = synth.instrument(0, 1 + k, k)
    assert np.array_equal(amps1, amps5)  # tune 1 and tune 5 play instrument 1
    assert not np.array_equal(amps1, synth.instrument(0, 2, k)[1]) and q1 != q5  # own tempo
    assert not np.array_equal(amps5, synth.instrument(0, 1 + k, 3)[1])  # of 3 instruments, tune 5 plays 2
    notes = [(69, 2.0), (64, 2.0)]
    a, b = synth.render(notes, 8000, seed=0, index=1), synth.render(notes, 8000, seed=0, index=1 + k)
    assert not np.array_equal(a, b)  # same instrument, another performance
    monkeypatch.setattr(synth, "NOISE", 0.0)
    clean = synth.render(notes, 8000, seed=0, index=1)
    noise = a - clean * (np.abs(a).max() / np.abs(clean).max())
    assert 1e-3 < noise.std() < 0.03  # a little breath noise, well below the tone
    monkeypatch.setattr(synth, "VELOCITY", (1.0, 1.0))
    monkeypatch.setattr(synth, "VIBRATO_DEPTH", 0.0)
    flat = synth.render([(69, 4.0)], 8000, seed=0, index=1)
    # without vibrato and noise a sustained A4 repeats every 200 samples (11 periods at 8 kHz);
    # with them it does not
    mid = slice(2000, 4000)
    assert np.abs(flat[mid] - flat[2200:4200]).max() < 1e-4
    monkeypatch.undo()
    wobbly = synth.render([(69, 4.0)], 8000, seed=0, index=1)
    assert np.abs(wobbly[mid] - wobbly[2200:4200]).max() > 1e-2


def test_valid_files_are_held_out_by_file(tmp_path):
    root = make_folder(tmp_path / "clips", n_files=6)
    code_of = {int(mulaw_encode(np.array([(k + 1) / 10]))[0]): f"f{k}.wav" for k in range(6)}
    plain = load_dataset("audio", root=root, rate=4000, window=100, test_fraction=0.34)
    d = load_dataset("audio", root=root, rate=4000, window=100, test_fraction=0.34, valid_files=2)
    assert d.info["test_file_names"] == plain.info["test_file_names"]  # the same test files
    assert torch.equal(d.test.x, plain.test.x) and plain.valid is None
    valid, test = set(d.info["valid_file_names"]), set(d.info["test_file_names"])
    assert len(valid) == 2 and not valid & test and d.info["train_files"] == 2
    assert len(d.valid.x) == 2 * (2000 // 100)  # valid windows do not overlap
    for split, files in ((d.valid, valid), (d.train, set(code_of.values()) - valid - test)):
        assert {code_of[int(row[0])] for row in split.x} == files
    assert d.split("valid") is d.valid
    with pytest.raises(GenzooError, match="leaves no training file"):
        load_dataset("audio", root=root, rate=4000, window=100, test_fraction=0.34, valid_files=4)
    with pytest.raises(GenzooError, match="valid_files"):
        load_dataset("audio", root=root / "f0.wav", rate=4000, window=100, valid_files=1)


def test_builtin_corpus_is_rendered_once_and_loads(monkeypatch):
    opts = dict(rate=2000, tunes=3, tune_seconds=1.0, window=256, test_fraction=0.34)
    d = load_dataset("audio", **opts)
    assert d.info["builtin"] and d.info["files"] == 3 and (d.info["train_files"], d.info["test_files"]) == (2, 1)
    folder = audio.corpus_folder(audio.AudioOptions(**opts))
    wavs = sorted(folder.glob("*.wav"))
    assert len(wavs) == 3 and read_wav(wavs[0])[1] == 2000
    monkeypatch.setattr(synth, "render", lambda *a, **k: pytest.fail("rendered again"))
    again = load_dataset("audio", **opts)  # from the cache
    assert torch.equal(again.train.x, d.train.x)


def test_bad_files_and_folders_are_one_line_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no sound here")
    with pytest.raises(GenzooError, match="no WAV files"):
        load_dataset("audio", root=empty)
    with pytest.raises(DataFileError, match="does not exist"):
        load_dataset("audio", root=tmp_path / "missing")

    bad = tmp_path / "bad"
    make_folder(bad, n_files=2)
    (bad / "junk.wav").write_bytes(b"this is not a RIFF file at all")
    with pytest.raises(DataFileError, match=r"cannot read WAV file .*junk\.wav"):
        load_dataset("audio", root=bad)

    good = (bad / "f0.wav").read_bytes()
    (bad / "junk.wav").write_bytes(good[: len(good) // 2])  # cut in the middle of its data
    with pytest.raises(DataFileError, match="truncated"):
        load_dataset("audio", root=bad)

    (bad / "junk.wav").write_bytes(good[:20])  # cut in the header
    with pytest.raises(DataFileError, match="junk.wav"):
        load_dataset("audio", root=bad)

    # a PCM header claiming 40-bit samples, and an IEEE-float file
    fmt40 = struct.pack("<HHIIHH", 1, 1, 8000, 8000 * 5, 5, 40)
    fmt_float = struct.pack("<HHIIHH", 3, 1, 8000, 8000 * 4, 4, 32)
    for fmt, what in ((fmt40, "sample width of 40 bits"), (fmt_float, "IEEE float")):
        data = bytes(40)
        body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
        (bad / "junk.wav").write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
        with pytest.raises(DataFileError, match=what):
            load_dataset("audio", root=bad)
    (bad / "junk.wav").unlink()

    with pytest.raises(GenzooError, match="no window of 10000 samples"):
        load_dataset("audio", root=bad, rate=4000, window=10000)
    with pytest.raises(GenzooError, match="levels"):
        load_dataset("audio", root=bad, levels=1)


def test_primer_reads_in_the_runs_rate_and_levels(tmp_path):
    write_wav(tmp_path / "clip.wav", sine(300, 16000, 0.1), 16000)
    spec = audio.audio_spec(64, 8000, 256)
    p = audio.read_audio_primer(tmp_path / "clip.wav", spec)
    assert p.shape == (800,) and p.dtype == torch.int64
    with pytest.raises(GenzooError, match="does not exist"):
        audio.read_audio_primer(tmp_path / "nope.wav", spec)
