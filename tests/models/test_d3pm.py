"""D3PM (absorbing state): the forward masking marginal follows the schedule; on three
binary pixels with a known joint distribution and a network that outputs the true
conditionals, the bound (enumerated exactly) is never below the exact NLL, equals the sum
of marginal NLLs at T = 1 and approaches the NLL as T grows, and log_prob estimates it
without bias; the reverse process with the true conditionals draws the joint; it never
changes a revealed token; completion keeps observed pixels; seeded sampling repeats."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.diffusion.d3pm import keep_probability
from genzoo.models.registry import build_model
from tests.helpers import check_in_spec, random_batch

BIN3 = DataSpec("bin3", "vector", (3,), "binary")
IMG = DataSpec("tiny", "image", (1, 4, 4), "categorical", num_values=5)
SEQ = DataSpec("seq", "sequence", (6,), "categorical", num_values=4)
SMALL = {"channels": 8, "channel_mults": [1, 2], "embed_dim": 4, "width": 16, "layers": 1, "timesteps": 20,
         "sample_steps": 20}
GRID = torch.tensor(list(itertools.product((0, 1), repeat=3)))  # the 8 states, (8, 3)
# a correlated joint over three binary pixels
P = torch.tensor([0.30, 0.02, 0.05, 0.13, 0.04, 0.16, 0.10, 0.20], dtype=torch.float64)


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


class TrueConditionals(nn.Module):
    """log p(x_0^d | the unmasked tokens of x_t) under the joint P, for every d: (B, 3, 2)."""

    def __init__(self, mask_id: int) -> None:
        super().__init__()
        self.mask_id = mask_id
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, tokens):
        ok = ((tokens[:, None, :] == GRID[None]) | (tokens[:, None, :] == self.mask_id)).all(-1)  # (B, 8)
        w = P[None] * ok  # the states consistent with what is revealed
        marg = torch.stack([torch.stack([(w * (GRID[:, d] == v)).sum(1) for v in (0, 1)], -1) for d in range(3)], 1)
        return (marg / marg.sum(-1, keepdim=True)).clamp_min(1e-300).log().float()


def _oracle(T: int, schedule: str = "linear"):
    model = build_model("d3pm", BIN3, {"width": 8, "layers": 1, "timesteps": T, "sample_steps": T,
                                       "schedule": schedule})
    model.net = TrueConditionals(model.mask_id)
    return model


def exact_bound(model, x0: torch.Tensor) -> torch.Tensor:
    """The bound for each x0 (B, 3), its expectations over x_t summed over all 2^3 masks."""
    total = torch.zeros(len(x0), dtype=torch.float64)
    for t in range(1, model.T + 1):
        a = float(model.alpha[t])
        for m in itertools.product((False, True), repeat=3):
            mask = torch.tensor(m)
            prob = (1 - a) ** int(mask.sum()) * a ** int((~mask).sum())
            if prob == 0:
                continue
            xt = torch.where(mask, model.mask_id, x0)
            total += prob * model.bound_term(x0, xt, torch.full((len(x0),), t)).double()
    return total


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_forward_masking_has_the_schedules_marginal(schedule):
    model = build_model("d3pm", IMG, {**SMALL, "schedule": schedule})
    alpha = keep_probability(schedule, 20)
    assert alpha[0] == 1 and alpha[-1] == 0 and (alpha[1:] < alpha[:-1]).all()
    x0 = random_batch(IMG, 4000, seed=0)
    g = torch.Generator().manual_seed(0)
    for t in (1, 5, 10, 19, 20):
        xt = model.q_sample(x0, torch.full((4000,), t), g)
        masked = xt == model.mask_id
        assert float(masked.float().mean()) == pytest.approx(1 - float(alpha[t]), abs=0.01)
        assert torch.equal(xt[~masked], x0[~masked])  # an unmasked token is the clean one


def model_nll(model) -> torch.Tensor:
    """The exact -log p(x_0) of the model's reverse process for the 8 states: the chain run
    forward over all 27 states of {0, 1, mask}^3 from all masks, step by step (T steps)."""
    states = torch.tensor(list(itertools.product((0, 1, model.mask_id), repeat=3)))  # (27, 3)
    logp = model.net(states).double().exp()  # (27, 3, 2): p(x_0^d | state)
    dist = (states == model.mask_id).all(1).double()  # all masks at t = T
    for t in range(model.T, 0, -1):
        a_t, a_s = float(model.alpha[t]), float(model.alpha[t - 1])
        stay = (1 - a_s) / (1 - a_t)
        # per-token transition from each state's token to each next state's token
        trans = torch.ones(27, 27, dtype=torch.float64)
        for d in range(3):
            cur, nxt = states[:, d][:, None], states[:, d][None, :]
            masked = cur == model.mask_id
            reveal = (1 - stay) * logp[:, d, :].gather(1, nxt.clamp(max=1).expand(27, 27))
            p = torch.where(masked, torch.where(nxt == model.mask_id, stay, reveal), (nxt == cur).double())
            trans = trans * p
        dist = dist @ trans
    final = {tuple(s.tolist()): float(p) for s, p in zip(states, dist)}
    return -torch.log(torch.tensor([final[tuple(x.tolist())] for x in GRID], dtype=torch.float64))


def test_the_bound_is_above_the_exact_nll_and_tight_as_T_grows():
    x0 = GRID
    one = exact_bound(_oracle(1), x0)
    # T = 1: every token is revealed at once from nothing: the sum of the marginal NLLs
    marginals = torch.stack([-torch.log((P * (GRID[:, d] == GRID[i, d])).sum()) for i in range(8) for d in range(3)])
    assert torch.allclose(one, marginals.reshape(8, 3).sum(1), atol=1e-5)
    gaps = []
    for T in (1, 2, 4, 32, 256):
        model = _oracle(T)
        b, nll = exact_bound(model, x0), model_nll(model)
        assert (b >= nll - 1e-4).all(), (T, b - nll)  # the bound on the model's own exact NLL, per example
        assert float((b * P).sum()) >= float(-(P * P.log()).sum())  # and above the data's entropy
        gaps.append(float((b + P.log()).abs().max()))  # distance from the data's NLL
    assert gaps[0] > 0.3 and all(g2 < g1 for g1, g2 in zip(gaps, gaps[1:])) and gaps[-1] < 0.01, gaps


@pytest.mark.parametrize("samples", [0, 8])
def test_log_prob_estimates_the_bound_without_bias(samples):
    model = _oracle(8, "cosine")
    exact = exact_bound(model, GRID)
    g = torch.Generator().manual_seed(0)
    est = torch.stack([-model.log_prob(GRID, vlb_samples=samples, generator=g).double() for _ in range(200)])
    se = est.std(0) / 200 ** 0.5
    assert ((est.mean(0) - exact).abs() < 4 * se + 1e-6).all(), (est.mean(0), exact)


def test_the_reverse_process_with_the_true_conditionals_draws_the_joint():
    model = _oracle(50)
    x = model.sample(6000, generator=torch.Generator().manual_seed(0)).long()
    idx = x[:, 0] * 4 + x[:, 1] * 2 + x[:, 2]
    freq = torch.bincount(idx, minlength=8).double() / len(x)
    assert (freq - P).abs().max() < 0.02
    # one step reveals all three together, independently: the correlation is lost (the check can fail)
    x1 = model.sample(6000, generator=torch.Generator().manual_seed(0), steps=1).long()
    f1 = torch.bincount(x1[:, 0] * 4 + x1[:, 1] * 2 + x1[:, 2], minlength=8).double() / len(x1)
    assert (f1 - P).abs().max() > 0.05


def test_the_reverse_process_never_changes_a_revealed_token():
    model = build_model("d3pm", SEQ, SMALL)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
        trace = []
        start = torch.full((5, 6), model.mask_id)
        start[:, 0] = 2
        model.reverse(start, 20, torch.Generator().manual_seed(1), trace)
    states = torch.stack([start, *trace])
    revealed = states != model.mask_id
    assert (revealed[1:] >= revealed[:-1]).all()  # once revealed, never masked again
    for a, b in zip(states[:-1], states[1:]):
        assert torch.equal(b[a != model.mask_id], a[a != model.mask_id])
    assert revealed[-1].all() and (states[:, :, 0] == 2).all()


@pytest.mark.parametrize("spec", [IMG, SEQ], ids=["unet", "transformer"])
def test_completion_keeps_observed_values_and_seeded_sampling_repeats(spec):
    model = build_model("d3pm", spec, SMALL)
    x = random_batch(spec, 4, seed=3)
    mask = torch.rand(x.shape, generator=torch.Generator().manual_seed(1)) < 0.5
    out = model.complete(x, mask, generator=torch.Generator().manual_seed(0), steps=7)
    check_in_spec(out, spec, 4)
    assert torch.equal(out[mask], x[mask])
    a = model.sample(4, generator=torch.Generator().manual_seed(2))
    b = model.sample(4, generator=torch.Generator().manual_seed(2))
    c = model.sample(4, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("steps", [0, 21])
def test_bad_step_counts_are_user_errors(steps):
    model = build_model("d3pm", IMG, SMALL)
    with pytest.raises(GenzooError, match="steps"):
        model.sample(2, steps=steps)


@pytest.mark.parametrize("cfg,needle", [({"timesteps": 0}, "timesteps"), ({"schedule": "sqrt"}, "schedule"),
                                        ({"width": 10, "heads": 4}, "heads"),
                                        ({"sample_steps": 2000}, "sample_steps")])
def test_bad_config_is_a_user_error(cfg, needle):
    with pytest.raises(GenzooError, match=needle):
        build_model("d3pm", IMG, cfg)


def test_training_lowers_the_bound():
    from tests.helpers import adam_steps

    x = (torch.rand(256, 6, generator=torch.Generator().manual_seed(0)) < 0.5).long() * 3  # tokens 0 or 3
    torch.manual_seed(0)
    model = build_model("d3pm", SEQ, SMALL)
    before = -float(model.log_prob(x[:64], vlb_samples=0, generator=torch.Generator().manual_seed(0)).mean())
    adam_steps(model, x, steps=80, batch=64, lr=5e-3)
    after = -float(model.log_prob(x[:64], vlb_samples=0, generator=torch.Generator().manual_seed(0)).mean())
    # the data's entropy is 6 ln 2 = 4.2 nats; a uniform guess over the 4 tokens costs 8.3
    assert before > 6.0 and after < 5.0, (before, after)
