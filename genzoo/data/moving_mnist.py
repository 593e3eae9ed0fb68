"""``moving_mnist``: MNIST digits bouncing in a square frame, for next-frame prediction.

After Srivastava, Mansimov & Salakhutdinov (2015), "Unsupervised Learning of Video
Representations using LSTMs" (ICML), whose Moving MNIST has two 28x28 digits in a 64x64
frame. Here the frame is ``size`` pixels square (default 48, cheaper on a CPU; 64 is the
paper's) and holds ``digits`` (1 or 2) MNIST digits. Each digit starts at a random place
with a random direction and moves ``speed`` pixels a frame; it bounces off the walls
(reflected, so its 28x28 box never leaves the frame), and with probability ``turn`` per
frame it takes a new random direction (0, the default, is the classic deterministic
bounce; ``turn > 0`` makes the future uncertain: several next frames are right). Two
digits overlapping take the brighter pixel. One example is ``frames`` consecutive frames,
kind ``video``, shape ``(T, 1, size, size)``, continuous in [0, 1]; no labels.

Everything is a pure function of the options: the sequences of ``train`` are built from
images of MNIST's train file, those of ``test`` from its test file (disjoint digit
images), each drawn with its own seeded stream. The MNIST files are read as for
``mnist`` (``--data-dir`` or the download cache). Generating the default sizes takes
about 0.4 CPU seconds, so nothing is cached. ``Dataset.info`` holds, per split, the MNIST
indices of every sequence's digits (``sources``, (N, digits)) and the top-left corner of
each digit in each frame (``positions``, (N, T, digits, 2) as (row, column)).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genzoo.config import choice, positive
from genzoo.data.dataset import Dataset, Split, register_dataset
from genzoo.data.mnist import MnistOptions, load_mnist
from genzoo.data.video import video_spec
from genzoo.errors import GenzooError

DIGIT = 28  # side of an MNIST digit


@dataclass
class MovingMnistOptions:
    """Options of ``moving_mnist``.

    Args:
        frames: frames per sequence (T).
        size: side of the square frame (at least 29: a digit is 28x28).
        digits: digits per sequence, 1 or 2.
        speed: pixels a digit moves per frame.
        turn: probability per frame and digit of a new random direction.
        n_train: training sequences (digits from MNIST train).
        n_test: test sequences (digits from MNIST test).
        seed: the generator seed.
    """

    frames: int = 10
    size: int = 48
    digits: int = 1
    speed: float = 3.0
    turn: float = 0.0
    n_train: int = 2000
    n_test: int = 256
    seed: int = 0

    def validate(self) -> None:
        for key in ("frames", "n_train", "n_test", "speed"):
            positive(getattr(self, key), key)
        choice(self.digits, (1, 2), "digits")
        if self.frames < 2:
            raise GenzooError(f"bad value {self.frames!r} for frames: a sequence needs at least 2")
        if self.size <= DIGIT:
            raise GenzooError(f"bad value {self.size!r} for size: the frame must be larger than a digit ({DIGIT})")
        if not 0.0 <= self.turn <= 1.0:
            raise GenzooError(f"bad value {self.turn!r} for turn: must be in [0, 1]")


def trajectories(n: int, frames: int, digits: int, room: int, speed: float, turn: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Top-left corners (n, frames, digits, 2) in ``[0, room]``: straight moves of ``speed``
    pixels a frame, reflected at 0 and ``room``, a new direction with probability ``turn``."""
    pos = rng.uniform(0, room, size=(n, digits, 2))
    angle = rng.uniform(0, 2 * np.pi, size=(n, digits))
    vel = speed * np.stack([np.sin(angle), np.cos(angle)], -1)  # (n, digits, 2) as (row, column)
    out = np.empty((n, frames, digits, 2))
    for t in range(frames):
        out[:, t] = pos
        turning = rng.random((n, digits)) < turn
        new = rng.uniform(0, 2 * np.pi, size=(n, digits))
        fresh = speed * np.stack([np.sin(new), np.cos(new)], -1)
        vel = np.where(turning[..., None], fresh, vel)
        pos = pos + vel
        low, high = pos < 0, pos > room  # bounce: reflect the position and the velocity
        pos = np.where(low, -pos, np.where(high, 2 * room - pos, pos))
        vel = np.where(low | high, -vel, vel)
    return np.clip(np.rint(out), 0, room).astype(np.int64)


def render(images: np.ndarray, sources: np.ndarray, positions: np.ndarray, size: int) -> np.ndarray:
    """Frames (n, T, 1, size, size) float32 in [0, 1] from digits ``images`` (M, 28, 28) in
    [0, 1], each sequence's digit indices ``sources`` (n, digits) and ``positions``."""
    n, frames, digits, _ = positions.shape
    out = np.zeros((n, frames, 1, size, size), dtype=np.float32)
    for i in range(n):
        for d in range(digits):
            img = images[sources[i, d]]
            for t in range(frames):
                r, c = positions[i, t, d]
                cell = out[i, t, 0, r: r + DIGIT, c: c + DIGIT]
                np.maximum(cell, img, out=cell)
    return out


def make_split(images: np.ndarray, n: int, opts: MovingMnistOptions, stream: int) -> tuple[Split, dict]:
    """``n`` sequences of digits drawn from ``images`` with the seeded stream ``stream``."""
    rng = np.random.default_rng([opts.seed, stream])
    sources = rng.integers(0, len(images), size=(n, opts.digits))
    positions = trajectories(n, opts.frames, opts.digits, opts.size - DIGIT, opts.speed, opts.turn, rng)
    x = torch.from_numpy(render(images, sources, positions, opts.size))
    return Split(x), {"sources": torch.from_numpy(sources), "positions": torch.from_numpy(positions)}


@register_dataset("moving_mnist", MovingMnistOptions,
                  "MNIST digits bouncing in a square frame (video, T frames); reads the MNIST files; "
                  "options frames, size, digits, speed, turn, n_train, n_test, seed")
def load_moving_mnist(root: Path | None, opts: MovingMnistOptions, *, download: bool = True) -> Dataset:
    mnist = load_mnist(root, MnistOptions(scale="unit"), download=download)
    train, train_info = make_split(mnist.train.x[:, 0].numpy(), opts.n_train, opts, 0)
    test, test_info = make_split(mnist.test.x[:, 0].numpy(), opts.n_test, opts, 1)
    spec = video_spec("moving_mnist", opts.frames, opts.size,
                      extra={"digits": opts.digits, "speed": opts.speed, "turn": opts.turn})
    return Dataset(spec=spec, train=train, test=test,
                   info={**mnist.info, "seed": opts.seed, "sources": {"train": train_info["sources"],
                                                                      "test": test_info["sources"]},
                         "positions": {"train": train_info["positions"], "test": test_info["positions"]}})
