"""Per-pixel output distributions: normalisation, sampling frequencies, 8-bit binning."""

from __future__ import annotations

import pytest
import torch

from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.autoregressive.pixel_outputs import make_pixel_output

BIN = DataSpec("b", "image", (1, 2, 2), "binary")
CAT = DataSpec("c", "image", (3, 2, 2), "categorical", num_values=7)
CONT = DataSpec("r", "image", (1, 2, 2), "continuous", value_range=(-1.0, 1.0))

CASES = {
    "binary-categorical": (BIN, "categorical"),
    "binary-mixture": (BIN, "logistic_mixture"),
    "cat-categorical": (CAT, "categorical"),
    "cat-mixture": (CAT, "logistic_mixture"),
    "cont-mixture": (CONT, "logistic_mixture"),
    "cont-categorical": (CONT, "categorical"),
}


def all_values(out) -> torch.Tensor:
    return out.from_index(torch.arange(out.num_bins))


def random_params(out, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, out.params_per_channel, generator=g) * 2


@pytest.mark.parametrize("case", list(CASES))
def test_probabilities_sum_to_one(case):
    spec, kind = CASES[case]
    out = make_pixel_output(spec, kind, mixtures=3)
    params = random_params(out, 6)  # (N, P)
    values = all_values(out)  # (K,)
    K = out.num_bins
    # through the public (B, C, P, H, W) API: every value at a (1, 1) pixel of each row
    p5 = params[:, None, :, None, None].expand(6, 1, out.params_per_channel, 1, K)
    x = values[None, None, None, :].expand(6, 1, 1, K)
    lp = out.log_prob(p5, x)  # (6, 1, 1, K)
    assert lp.shape == (6, 1, 1, K)
    assert torch.allclose(lp.exp().sum(-1), torch.ones(6, 1, 1), atol=1e-5)
    assert torch.allclose(out.log_probs_all(params), lp[:, 0, 0], atol=1e-5)


def test_extreme_mixture_parameters_stay_finite_and_normalised():
    out = make_pixel_output(CONT, "logistic_mixture", mixtures=2)
    params = torch.tensor([[0.0, 0.0, 5.0, -5.0, -9.0, -9.0], [3.0, -3.0, 0.001, 0.9, 4.0, -7.0]])
    lp = out.log_probs_all(params)
    assert torch.isfinite(lp).all()
    assert torch.allclose(lp.exp().sum(-1), torch.ones(2), atol=1e-5)


@pytest.mark.parametrize("case", list(CASES))
def test_sampling_frequencies_match_probabilities(case):
    spec, kind = CASES[case]
    out = make_pixel_output(spec, kind, mixtures=3)
    params = random_params(out, 1, seed=1)
    probs = out.log_probs_all(params)[0].exp().double()  # (K,)
    n = 20000 if spec.value_type != "continuous" else 4000
    draws = out.sample(params.expand(n, -1), generator=torch.Generator().manual_seed(0))
    assert draws.shape == (n,) and draws.dtype == spec.dtype
    counts = torch.bincount(out.to_index(draws), minlength=out.num_bins).double()
    # values are exact levels in the data's space
    assert torch.equal(out.from_index(out.to_index(draws)), draws)
    keep = probs * n >= 5  # chi-square over the well-populated bins, rest pooled
    obs = torch.cat([counts[keep], counts[~keep].sum()[None]])
    exp = torch.cat([probs[keep] * n, (probs[~keep] * n).sum()[None]])
    nz = exp > 0
    chi2 = float(((obs[nz] - exp[nz]) ** 2 / exp[nz]).sum())
    dof = int(nz.sum()) - 1
    assert chi2 < dof + 6 * (2 * max(dof, 1)) ** 0.5 + 10


def test_seeded_sampling_is_repeatable():
    out = make_pixel_output(CONT, "auto")
    params = random_params(out, 5)
    a = out.sample(params, generator=torch.Generator().manual_seed(3))
    b = out.sample(params, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_continuous_values_fall_in_their_8bit_bin():
    out = make_pixel_output(CONT, "auto")
    assert out.num_bins == 256 and "8-bit" in out.note
    k = torch.arange(256)
    x = out.from_index(k)
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0
    assert torch.equal(out.to_index(x), k)
    # dequantised values within half a bin of the level land in the same bin
    assert torch.equal(out.to_index(x + 0.49 * 2 / 255).clamp(max=255), k.clamp(max=255))
    # a value's log_prob is that of its bin
    params = random_params(out, 1).expand(256, -1)
    p5 = params[:, None, :, None, None]
    a = out.log_prob(p5, x[:, None, None, None])
    b = out.log_prob(p5, (x + 0.3 / 255).clamp(-1, 1)[:, None, None, None])
    assert torch.allclose(a, b)


def test_auto_kinds_and_bad_requests():
    assert make_pixel_output(BIN).params_per_channel == 1
    assert make_pixel_output(CAT).params_per_channel == 7
    assert make_pixel_output(CONT, mixtures=4).params_per_channel == 12
    assert "exact" in make_pixel_output(BIN).note
    with pytest.raises(GenzooError):
        make_pixel_output(BIN, "gaussian")
    with pytest.raises(GenzooError):
        make_pixel_output(CONT, "logistic_mixture", mixtures=0)
