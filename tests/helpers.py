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
