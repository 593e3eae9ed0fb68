"""Seeded draws: right distributions, reproducible."""

import torch

from genzoo.nn import rand


def test_categorical_matches_probabilities():
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4])
    draws = rand.categorical(probs.log().expand(40000, 4), generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=4).float() / 40000
    assert torch.allclose(freq, probs, atol=0.01), freq


def test_bernoulli_matches_probability_and_is_seeded():
    p = torch.full((20000,), 0.3)
    a = rand.bernoulli(p, generator=torch.Generator().manual_seed(1))
    b = rand.bernoulli(p, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and abs(a.mean().item() - 0.3) < 0.01
