"""``video``: your own clips, cut into sequences of frames (and the spec every video has).

``--data-dir DIR`` (required) holds the clips at its top level: each subfolder is one
clip whose image files (PNG, JPEG, ...) are its frames in the order of the numbers in
their names (``frame-2.png`` before ``frame-10.png``), and each ``.gif`` file is one clip
of all its frames. Other files are ignored. Frames are read as grey levels, centre-cropped
to a square and resized to ``size`` (as the ``images`` dataset does), and every run of
``frames`` consecutive frames starting every ``stride`` frames becomes one example: kind
``video``, shape ``(T, 1, size, size)``, continuous in [0, 1]. Clips shorter than
``frames`` are skipped (counted in ``Dataset.info["short"]``).

The test split is a seeded ``test_fraction`` of the clips (at least one when there are
two or more), so no test frame is seen in training; a single clip is split in time
instead (its last ``test_fraction`` of frames, at least ``frames`` of them).

Bad input is one line: an empty folder, a folder without clips, an unreadable frame or
GIF, frames of different sizes within one clip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genzoo.config import positive
from genzoo.data.dataset import Dataset, Split, register_dataset
from genzoo.data.image_folder import fit_square
from genzoo.data.spec import DataSpec
from genzoo.errors import DataFileError, GenzooError

SPLIT_SEED = 0


def video_spec(name: str, frames: int, size: int, *, extra: dict[str, Any] | None = None) -> DataSpec:
    """The spec of grey videos: ``frames`` frames of ``size`` x ``size``, continuous [0, 1]."""
    return DataSpec(name=name, kind="video", shape=(frames, 1, size, size), value_type="continuous",
                    value_range=(0.0, 1.0), extra=dict(extra or {}))


@dataclass
class VideoOptions:
    """Options of the ``video`` dataset.

    Args:
        frames: frames per example (T).
        size: side of the square frames.
        stride: frames between the starts of consecutive examples of a clip.
        test_fraction: share of the clips held out (seeded).
    """

    frames: int = 10
    size: int = 48
    stride: int = 1
    test_fraction: float = 0.2

    def validate(self) -> None:
        for key in ("frames", "size", "stride"):
            positive(getattr(self, key), key)
        if self.frames < 2:
            raise GenzooError(f"bad value {self.frames!r} for frames: a sequence needs at least 2")
        if not 0.0 < self.test_fraction < 1.0:
            raise GenzooError(f"bad value {self.test_fraction!r} for test_fraction: must be in (0, 1)")


def _natural_key(p: Path) -> list[Any]:
    """``frame-2`` before ``frame-10``: digit runs compare as numbers."""
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", p.name)]


def _grey(im: Any, size: int) -> np.ndarray:
    return np.asarray(fit_square(im.convert("L"), size), dtype=np.uint8)


def read_gif(path: Path, size: int) -> np.ndarray:
    """All frames of a GIF (n, size, size) uint8."""
    from PIL import Image, ImageSequence

    try:
        with Image.open(path) as im:
            frames = [_grey(f, size) for f in ImageSequence.Iterator(im)]
    except Exception as e:  # anything PIL cannot decode
        raise DataFileError(f"{path} is not a readable GIF ({' '.join(str(e).split()) or type(e).__name__})") from None
    return np.stack(frames)


def read_frames(folder: Path, size: int) -> np.ndarray:
    """The numbered image files of ``folder`` as frames (n, size, size) uint8; they must
    share one size."""
    from PIL import Image

    files = sorted((p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")), key=_natural_key)
    frames, first = [], None
    for p in files:
        try:
            with Image.open(p) as im:
                im.load()
                if first is None:
                    first = (p.name, im.size)
                elif im.size != first[1]:
                    raise DataFileError(f"clip {folder}: frame {p.name} is {im.size[0]}x{im.size[1]} but "
                                        f"{first[0]} is {first[1][0]}x{first[1][1]}; frames of a clip share one size")
                frames.append(_grey(im, size))
        except DataFileError:
            raise
        except Exception as e:
            raise DataFileError(f"clip {folder}: {p.name} is not a readable image "
                                f"({' '.join(str(e).split()) or type(e).__name__})") from None
    if not frames:
        raise DataFileError(f"clip {folder} holds no frames (numbered PNG files)")
    return np.stack(frames)


def read_clips(root: Path, size: int) -> dict[str, np.ndarray]:
    """Every clip under ``root`` by name: subfolders of frames and GIF files."""
    if not root.is_dir():
        raise DataFileError(f"video folder {root} does not exist or is not a directory; pass --data-dir DIR naming "
                            "a folder of clips (subfolders of numbered PNG frames, or GIF files)")
    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    clips = {}
    for p in entries:
        if p.is_dir():
            clips[p.name] = read_frames(p, size)
        elif p.suffix.lower() == ".gif":
            clips[p.name] = read_gif(p, size)
    if not clips:
        raise GenzooError(f"no clips in {root}: expected subfolders of numbered PNG frames or GIF files"
                          + (f" ({len(entries)} other entries)" if entries else " (the folder is empty)"))
    return clips


def windows(frames: np.ndarray, length: int, stride: int) -> np.ndarray:
    """Every run of ``length`` frames starting every ``stride``: (n, length, H, W); the
    clip has at least ``length`` frames."""
    return np.stack([frames[s: s + length] for s in range(0, len(frames) - length + 1, stride)])


def _to_split(parts: list[np.ndarray], size: int) -> Split:
    x = np.concatenate(parts) if parts else np.zeros((0, 1, size, size), np.uint8)
    return Split(torch.from_numpy(x[:, :, None].astype(np.float32) / 255.0))


@register_dataset("video", VideoOptions,
                  "your own clips (needs --data-dir): subfolders of numbered PNG frames or GIF files, grey, "
                  "resized square, cut into T-frame sequences; options frames, size, stride, test_fraction")
def load_video(root: Path | None, opts: VideoOptions, *, download: bool = True) -> Dataset:
    if root is None:
        raise GenzooError("dataset 'video' needs a folder of clips: pass --data-dir DIR (or root=DIR)")
    clips = read_clips(root, opts.size)
    t = opts.frames
    long = {k: v for k, v in clips.items() if len(v) >= t}
    if not long:
        most = max(len(v) for v in clips.values())
        raise GenzooError(f"no clip in {root} has {t} frames (the longest has {most}); set data.frames lower")
    names = sorted(long)
    if len(names) >= 2:
        perm = np.random.default_rng(SPLIT_SEED).permutation(len(names))
        n_test = min(max(round(opts.test_fraction * len(names)), 1), len(names) - 1)
        test_names = {names[i] for i in perm[len(names) - n_test:]}
        train = [windows(long[k], t, opts.stride) for k in names if k not in test_names]
        test = [windows(long[k], t, opts.stride) for k in names if k in test_names]
    else:  # one clip: split it in time
        clip = long[names[0]]
        n_test = max(round(opts.test_fraction * len(clip)), t)
        if len(clip) - n_test < t:
            raise GenzooError(f"the one clip in {root} has {len(clip)} frames: too few for a training and a test "
                              f"part of {t} frames each; add clips or set data.frames lower")
        train, test = [windows(clip[:-n_test], t, opts.stride)], [windows(clip[-n_test:], t, opts.stride)]
        test_names = set()
    spec = video_spec("video", t, opts.size)
    return Dataset(spec=spec, train=_to_split(train, opts.size), test=_to_split(test, opts.size),
                   info={"root": str(root), "clips": names, "test_clips": sorted(test_names),
                         "short": len(clips) - len(long)})
