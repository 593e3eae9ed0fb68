"""Small helpers shared by the model tests."""

from __future__ import annotations

import torch

from genzoo.data.spec import DataSpec


def random_batch(spec: DataSpec, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` random examples of ``spec`` in its own value type (seeded)."""
    g = torch.Generator().manual_seed(seed)
    if spec.value_type == "continuous":
        lo, hi = spec.value_range
        return lo + (hi - lo) * torch.rand(n, *spec.shape, generator=g)
    if spec.value_type == "binary":
        return torch.randint(0, 2, (n, *spec.shape), generator=g).float()
    return torch.randint(0, spec.num_values, (n, *spec.shape), generator=g)


def check_in_spec(x: torch.Tensor, spec: DataSpec, n: int) -> None:
    """``x`` holds ``n`` examples of ``spec``: shape, dtype and values in range."""
    x = x.detach()
    spec.check(x)
    assert x.shape[0] == n
    if spec.value_type == "binary":
        assert set(x.unique().tolist()) <= {0.0, 1.0}
    elif spec.value_type in ("categorical", "count"):
        assert 0 <= int(x.min()) and (spec.value_type == "count" or int(x.max()) < spec.num_values)
    else:
        lo, hi = spec.value_range
        assert lo <= float(x.min()) and float(x.max()) <= hi


def adam_steps(model, x: torch.Tensor, *, steps: int, batch: int = 32, lr: float = 2e-3, seed: int = 0) -> None:
    """A few plain Adam steps on random minibatches of ``x`` (for "training helps" tests)."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        loss = model.loss({"x": x[torch.randint(len(x), (batch,), generator=g)]})["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()


def write_clips(folder, *, clips: int = 3, frames: int = 8, size: int = 8) -> None:
    """``clips`` GIF files in ``folder``: a 3x3 white square crossing a black frame, one
    pixel a frame (each clip on its own row), for the video dataset and frame predictors."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for c in range(clips):
        imgs = []
        for t in range(frames):
            a = np.zeros((size, size), np.uint8)
            r, col = c % (size - 2), t % (size - 2)
            a[r: r + 3, col: col + 3] = 255
            imgs.append(Image.fromarray(a))
        imgs[0].save(folder / f"clip{c}.gif", save_all=True, append_images=imgs[1:], duration=100, loop=0)


def bold_copy(model, *, scale: float = 0.5, seed: int = 0):
    """An eval-mode copy of ``model`` with large random weights (zero-initialised output
    layers included), so that its inputs visibly change its outputs."""
    import copy

    bold = copy.deepcopy(model).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in bold.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)
    return bold


def caption_batch(vocabulary, n: int = 6, *, with_labels: bool = False) -> dict[str, torch.Tensor]:
    """n random 8x8 images, each with two phrasings of a digit caption (word ids (n, 2, 5))."""
    from genzoo.data import captions as cap

    ids = torch.stack([torch.stack([cap.encode(f"a thick {i % 10}", vocabulary, length=5),
                                    cap.encode(f"the digit {cap.DIGIT_WORDS[i % 10]}", vocabulary, length=5)])
                       for i in range(n)])
    out = {"x": torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(1)), "caption": ids}
    if with_labels:
        out["y"] = torch.arange(n) % 10
    return out
