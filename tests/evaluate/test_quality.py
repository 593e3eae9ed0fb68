"""FID, KID, the IS analogue and precision/recall/density/coverage on feature sets whose
answers are known."""

from __future__ import annotations

import math

import pytest
import torch

from genzoo.errors import GenzooError
from genzoo.evaluate import quality


def gauss(n: int, d: int, seed: int, mean: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    return mean + scale * torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_fid_matches_the_gaussian_formula():
    # N(0, I) vs N(m, s^2 I) in d dims: |m|^2 d + d (1 + s^2 - 2 s)
    d, n = 4, 40000
    a, b = gauss(n, d, 0), gauss(n, d, 1, mean=0.5, scale=2.0)
    expected = d * 0.25 + d * (1 + 4 - 2 * 2)
    assert quality.frechet_distance(a, b) == pytest.approx(expected, rel=0.03)
    assert quality.frechet_distance(a, gauss(n, d, 2)) < 0.01


def test_kid_is_unbiased_near_zero_and_grows_with_a_shift():
    a, b = gauss(1000, 16, 0), gauss(1000, 16, 1)
    mean, std = quality.kernel_inception_distance(a, b, subsets=20, subset_size=500)
    assert abs(mean) < 3 * std + 1e-3
    shifted = [quality.kernel_inception_distance(a, gauss(1000, 16, 1, mean=m), subsets=20, subset_size=500)[0]
               for m in (0.25, 0.5, 1.0)]
    assert shifted[0] > 3 * std and shifted == sorted(shifted)


def test_inception_score_bounds():
    K = 10
    confident = torch.eye(K).repeat(50, 1)  # every class equally often, each certain
    assert quality.inception_score(confident, splits=5)[0] == pytest.approx(K, rel=1e-6)
    one_class = torch.zeros(500, K)
    one_class[:, 3] = 1
    assert quality.inception_score(one_class)[0] == pytest.approx(1.0)
    assert quality.inception_score(torch.full((500, K), 1 / K))[0] == pytest.approx(1.0)


def test_density_and_coverage_for_two_samples_of_one_distribution():
    # Naeem et al. (2020): for identical distributions E[density] = 1 and
    # E[coverage] = 1 - 1/2^k = 0.969 for k = 5 (with as many fakes as reals).
    r = quality.precision_recall_density_coverage(gauss(3000, 64, 0), gauss(3000, 64, 1))
    assert r["density"] == pytest.approx(1.0, abs=0.08)
    assert r["coverage"] == pytest.approx(1 - 2 ** -5, abs=0.02)
    assert r["precision"] > 0.5 and r["recall"] > 0.5


def test_prdc_separates_fidelity_from_diversity():
    real = torch.cat([gauss(1000, 8, 0, mean=-4), gauss(1000, 8, 1, mean=4)])
    half = gauss(2000, 8, 2, mean=4)  # only one of the two modes: faithful, not diverse
    r = quality.precision_recall_density_coverage(real, half)
    assert r["precision"] > 0.8 and r["recall"] < 0.6 and r["coverage"] < 0.6
    noisy = gauss(2000, 8, 3, scale=6.0)  # everywhere: diverse, not faithful
    r = quality.precision_recall_density_coverage(real, noisy)
    assert r["precision"] < 0.3 and r["density"] < 0.3


def test_bad_inputs_are_refused():
    with pytest.raises(GenzooError, match="same d"):
        quality.frechet_distance(gauss(10, 3, 0), gauss(10, 4, 0))
    with pytest.raises(GenzooError, match="at least"):
        quality.precision_recall_density_coverage(gauss(4, 3, 0), gauss(10, 3, 0))
    assert math.isfinite(quality.frechet_distance(gauss(10, 3, 0), gauss(10, 3, 1)))
