"""What every token-stream model (lstm, pixel_lstm, wavenet, transformer) shares:
dropout never touches the likelihood or sampling, and data round-trips through tokens."""

from __future__ import annotations

import pytest
import torch

from genzoo.data.spec import DataSpec
from genzoo.models.registry import build_model
from tests.helpers import random_batch

SEQ = DataSpec("seq", "sequence", (8,), "categorical", num_values=5)
RGB = DataSpec("rgb", "image", (3, 2, 3), "categorical", num_values=4)
BIN = DataSpec("bin", "image", (1, 3, 3), "binary")
DROPOUT = {"lstm": (SEQ, {"dropout": 0.5, "hidden": 16, "embed": 8}),
           "transformer": (SEQ, {"dropout": 0.5, "layers": 2, "heads": 2, "width": 16}),
           "pixel_lstm": (BIN, {"dropout": 0.5, "hidden": 8, "embed": 4})}


@pytest.mark.parametrize("name", sorted(DROPOUT))
def test_dropout_is_off_for_log_prob_and_sampling(name):
    spec, config = DROPOUT[name]
    torch.manual_seed(0)
    model = build_model(name, spec, config).train()
    x = random_batch(spec, 4)
    torch.manual_seed(0)
    a = model.log_prob(x)
    torch.manual_seed(1)
    assert torch.equal(a, model.log_prob(x)) and model.training
    s1 = model.sample(3, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(5)
    assert torch.equal(s1, model.sample(3, generator=torch.Generator().manual_seed(2)))
    assert model.training


@pytest.mark.parametrize("name", ["wavenet", "transformer", "pixel_lstm"])
@pytest.mark.parametrize("spec", [RGB, BIN], ids=["rgb", "binary"])
def test_images_are_read_in_raster_order_with_channels_interleaved(name, spec):
    model = build_model(name, spec)
    x = random_batch(spec, 2)
    t = model.to_tokens(x)  # (B, C*H*W)
    C, H, W = spec.shape
    assert t.dtype == torch.long and t.shape == (2, C * H * W)
    for c in range(C):
        for i in range(H):
            for j in range(W):
                assert torch.equal(t[:, (i * W + j) * C + c], x[:, c, i, j].long())
    back = model.from_tokens(t)
    assert torch.equal(back, x) and back.dtype == spec.dtype
