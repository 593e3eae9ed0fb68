"""Sampling with options and the sampling chain of ``genzoo sample --gif``: the diffusion
chain runs the sampler that was asked for, from its noise to the sample drawn with the
same seed and options; options a model lacks are refused."""

from __future__ import annotations

import pytest
import torch

from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.registry import build_model
from genzoo.tasks.sampling import chain_with_options, sample_with_options

LEVELS = DataSpec("tiny-levels", "image", (1, 4, 4), "categorical", num_values=5, num_classes=3)
NET = {"channels": 8, "channel_mults": [1, 2], "attention": False}


def _model(name: str, **config):
    torch.manual_seed(0)
    model = build_model(name, LEVELS, {**NET, **config})
    g = torch.Generator().manual_seed(0)
    for p in model.net.out.parameters():  # zero at init: make the network do something
        p.data = torch.randn(p.shape, generator=g) * 0.3
    return model


@pytest.mark.parametrize("name,config,options", [
    ("ddpm", {"timesteps": 30, "sample_steps": 10}, {"sampler": "ddpm"}),
    ("ddpm", {"timesteps": 30, "sample_steps": 10}, {"sampler": "ddim", "eta": 0.5, "guidance": 2.0}),
    ("flow_matching", {}, {"sampler": "midpoint"}),
])
def test_the_diffusion_chain_runs_from_noise_to_the_sample_of_the_same_options(name, config, options):
    model = _model(name, **config)
    frames = chain_with_options(model, 3, steps=6, frames=3, generator=torch.Generator().manual_seed(4), label=2,
                                **options)
    assert frames.shape == (4, 3, 1, 4, 4) and frames.dtype == torch.long  # noise + every 2nd of 6 steps
    x = sample_with_options(model, 3, steps=6, generator=torch.Generator().manual_seed(4), label=2, **options)
    assert torch.equal(frames[-1], x)
    g = torch.Generator().manual_seed(4)
    noise = torch.randn(3, 1, 4, 4, generator=g)  # the sampler's first draw: the chain's start
    assert torch.equal(frames[0], model._data(noise, None, stochastic=False))
    assert not torch.equal(frames[0], frames[-1])
    other = chain_with_options(model, 3, steps=6, frames=3, generator=torch.Generator().manual_seed(4), label=0,
                               **options)
    assert torch.equal(other[0], frames[0]) and not torch.equal(other[-1], frames[-1])  # the label counts


@pytest.mark.parametrize("options,needle", [
    ({"sampler": "heun"}, "no sampler 'heun'"),
    ({"sampler": "ddpm", "eta": 0.5}, "eta is an option of the ddim sampler"),
    ({"eta": 2.0}, "eta"),
    ({"label": 3}, "3 classes"),
])
def test_bad_chain_options_are_refused(options, needle):
    with pytest.raises(GenzooError, match=needle):
        chain_with_options(_model("ddpm", timesteps=30, sample_steps=10), 2, steps=4, frames=2, **options)


def test_chain_models_without_sampler_options_refuse_them():
    rbm = build_model("rbm", DataSpec("tiny-bin", "image", (1, 4, 4), "binary"), {"hidden": 4})
    assert chain_with_options(rbm, 2, steps=4, frames=2).shape == (3, 2, 1, 4, 4)
    with pytest.raises(GenzooError, match="takes no --sampler"):
        chain_with_options(rbm, 2, steps=4, frames=2, sampler="ddim")
