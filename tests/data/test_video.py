"""The ``video`` dataset: clips from GIF files and folders of numbered frames, windows,
a clip-disjoint split, and bad input as one-line errors (exit code 2 from the CLI)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from genzoo.cli.main import main
from genzoo.data.dataset import load_dataset
from genzoo.data.video import read_frames
from genzoo.errors import DataFileError, GenzooError
from tests.helpers import write_clips


def _png_clip(folder, frames, size=(10, 10)):
    folder.mkdir(parents=True)
    for t in range(frames):
        a = np.full(size[::-1], 20 * t, np.uint8)
        Image.fromarray(a).save(folder / f"frame-{t}.png")


def test_gif_and_png_clips_become_windows_of_frames(tmp_path):
    write_clips(tmp_path, clips=2, frames=8, size=8)
    _png_clip(tmp_path / "pngclip", 12)
    (tmp_path / "notes.txt").write_text("ignored")
    d = load_dataset("video", root=tmp_path, frames=5, size=8, stride=1, test_fraction=0.34)
    s = d.spec
    assert (s.kind, s.shape, s.value_type, s.value_range) == ("video", (5, 1, 8, 8), "continuous", (0.0, 1.0))
    assert d.info["clips"] == ["clip0.gif", "clip1.gif", "pngclip"] and len(d.info["test_clips"]) == 1
    windows = {"clip0.gif": 8 - 5 + 1, "clip1.gif": 4, "pngclip": 12 - 5 + 1}
    test_clip = d.info["test_clips"][0]
    assert len(d.test) == windows[test_clip] and len(d.train) == sum(windows.values()) - windows[test_clip]
    assert float(d.train.x.min()) >= 0.0 and float(d.train.x.max()) <= 1.0
    # frames keep their numeric order (frame-10 after frame-9): the png clip brightens frame by frame
    levels = read_frames(tmp_path / "pngclip", 8)[:, 4, 4].astype(int)
    assert levels.tolist() == [20 * t for t in range(12)]


def test_one_clip_is_split_in_time(tmp_path):
    write_clips(tmp_path, clips=1, frames=20, size=8)
    d = load_dataset("video", root=tmp_path, frames=4, size=8, stride=4, test_fraction=0.25)
    # 20 frames: the last 5 are test (one window of 4), the first 15 train (windows at 0, 4, 8)
    assert len(d.train) == 3 and len(d.test) == 1
    assert d.info["test_clips"] == []


@pytest.mark.parametrize("case", ["empty", "no-clips", "corrupt-gif", "sizes", "short", "missing"])
def test_bad_input_is_one_line(tmp_path, case, capsys):
    root = tmp_path / "clips"
    root.mkdir()
    if case == "no-clips":
        (root / "readme.txt").write_text("x")
    elif case == "corrupt-gif":
        write_clips(root, clips=1)
        (root / "broken.gif").write_bytes(b"GIF89a" + b"\x00garbage" * 4)
    elif case == "sizes":
        _png_clip(root / "a", 3, size=(10, 10))
        Image.fromarray(np.zeros((12, 10), np.uint8)).save(root / "a" / "frame-3.png")
    elif case == "short":
        write_clips(root, clips=2, frames=3)
    elif case == "missing":
        root = tmp_path / "nowhere"
    expected = {"empty": "empty", "no-clips": "no clips", "corrupt-gif": "broken.gif is not a readable GIF",
                "sizes": "share one size", "short": "the longest has 3", "missing": "does not exist"}[case]
    with pytest.raises(GenzooError, match=expected):
        load_dataset("video", root=root, frames=5, size=8)
    capsys.readouterr()
    assert main(["train", "frame_predictor", "--data", "video", "--data-dir", str(root), "--steps", "1",
                 "--run-dir", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and expected in err and "Traceback" not in err


def test_corrupt_frame_is_a_data_file_error(tmp_path):
    _png_clip(tmp_path / "a", 6)
    (tmp_path / "a" / "frame-2.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataFileError, match="frame-2.png is not a readable image"):
        load_dataset("video", root=tmp_path, frames=3, size=8)
