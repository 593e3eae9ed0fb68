"""The contract every registered model keeps, checked over the whole registry.

Each model is built at its defaults on every tiny spec it accepts, trained two steps
through the real Trainer, and then checked: finite loss with gradients reaching every
player's parameters, samples in the data's shape/dtype/range, seeded determinism,
log_prob of shape [B] (summing to 1 over a tiny discrete space when exact), and a
save/load round trip through safetensors and the config dict.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import itertools

import pytest
import torch

from genzoo.config import build_config
from genzoo.data.dataset import Dataset, Split
from genzoo.data.spec import DataSpec
from genzoo.errors import CapabilityError, IncompatibleDataError
from genzoo.models.registry import build_model, get_model_class, model_names
from genzoo.train.checkpoint import load_weights, save_weights
from genzoo.train.config import TrainConfig
from genzoo.train.trainer import Trainer

SPECS = {
    "img-binary": DataSpec("tiny-bin", "image", (1, 4, 4), "binary", num_classes=2),
    "img-cat": DataSpec("tiny-cat", "image", (1, 8, 8), "categorical", num_values=5, num_classes=2),
    "img-cont": DataSpec("tiny-cont", "image", (1, 4, 4), "continuous", value_range=(-1.0, 1.0)),
    "vec-cont": DataSpec("tiny-vec", "vector", (2,), "continuous", value_range=(-4.0, 4.0)),
    "vec-cat": DataSpec("tiny-vcat", "vector", (3,), "categorical", num_values=3),
    "seq-cat": DataSpec("tiny-seq", "sequence", (6,), "categorical", num_values=4),
    "vec-count": DataSpec("tiny-bow", "vector", (12,), "count", vocabulary=tuple(f"w{i}" for i in range(12))),
    "img-pair": DataSpec("tiny-pair", "image", (1, 8, 8), "continuous", value_range=(0.0, 1.0),
                         extra={"source_shape": [1, 8, 8], "paired": True}),
    "video-cont": DataSpec("tiny-video", "video", (5, 1, 8, 8), "continuous", value_range=(0.0, 1.0)),
    "img-text": DataSpec("tiny-text", "image", (1, 8, 8), "continuous", value_range=(-1.0, 1.0),
                         extra={"captions": {"vocabulary": ["<pad>", "a", "b", "c"], "phrasings": 2, "max_words": 3,
                                             "examples": ["a b", "c", "b c a"]}}),
}
# Models whose defaults are sized for real data get a tiny network here (every other model
# is checked at its defaults): a few-channel U-Net, a short chain and few solver steps.
_TINY_DIFFUSION = {"channels": 8, "channel_mults": (1, 2), "hidden": 16, "mlp_layers": 1, "sample_steps": 4,
                   "complete_steps": 4, "jump_count": 1}
TINY = {"ddpm": {**_TINY_DIFFUSION, "timesteps": 50, "vlb_samples": 4},
        "flow_matching": {**_TINY_DIFFUSION, "likelihood_steps": 3},
        # the adversarial variant: its discriminator too must receive gradients
        "frame_predictor": {"channels": 4, "adversarial_weight": 0.1},
        # ncsn unconditional here: its Langevin chain has no step that amplifies the label's
        # small effect on a randomly weighted network into a flipped binary pixel (ddpm's
        # 1/sqrt(abar) does), so the sample-level label check below cannot see it; the
        # label's path through the score is checked in tests/models/test_ncsn.py.
        "ncsn": {**_TINY_DIFFUSION, "levels": 3, "sample_steps": 2, "conditional": False},
        "d3pm": {"channels": 8, "channel_mults": (1, 2), "embed_dim": 4, "width": 16, "layers": 1, "timesteps": 20,
                 "sample_steps": 20, "vlb_samples": 4}}
# Tiny discrete spaces small enough to enumerate: exact likelihoods must sum to 1 there.
ENUM_SPECS = {
    "binary-2x2": DataSpec("enum-bin", "image", (1, 2, 2), "binary"),
    "cat3-vec3": DataSpec("enum-cat", "vector", (3,), "categorical", num_values=3),
}


def random_data(spec: DataSpec, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if spec.value_type == "binary":
        return (torch.rand(n, *spec.shape, generator=g) < 0.4).float()
    if spec.value_type == "categorical":
        return torch.randint(0, spec.num_values, (n, *spec.shape), generator=g)
    if spec.value_type == "count":  # bag-of-words counts, ~12 words a document
        return torch.poisson(torch.full((n, *spec.shape), 1.0), generator=g).long()
    lo, hi = spec.value_range
    return (torch.rand(n, *spec.shape, generator=g) * 0.5 + 0.25) * (hi - lo) + lo


def tiny_dataset(spec: DataSpec, n: int = 64) -> Dataset:
    y = torch.arange(n) % 2 if spec.num_classes else None

    def extra(m: int, seed: int) -> dict[str, torch.Tensor]:  # the source images of an image pair; captions
        if "captions" in spec.extra:  # word ids (m, phrasings, words), the first word never padding
            ids = torch.randint(1, 4, (m, 2, 3), generator=torch.Generator().manual_seed(seed))
            keep = torch.randint(0, 2, (m, 2, 2), generator=torch.Generator().manual_seed(seed + 1)).cumprod(-1)
            ids[:, :, 1:] *= keep  # padding only at the end
            return {"caption": ids}
        return {"source": random_data(spec, m, seed + 10)} if spec.extra.get("source_shape") else {}

    return Dataset(spec, Split(random_data(spec, n, 0), y, extra(n, 0)),
                   Split(random_data(spec, 16, 1), y[:16] if y is not None else None, extra(16, 1)))


def cases():
    for name in model_names():
        cls = get_model_class(name)
        for key, spec in SPECS.items():
            # captioned images only for the models that need captions: the others are checked on img-cont
            if cls.accepts_spec(spec) and (key != "img-text" or not cls.accepts_spec(SPECS["img-cont"])):
                yield pytest.param((name, key), id=f"{name}-{key}")


def check_values(x: torch.Tensor, spec: DataSpec, n: int) -> None:
    assert tuple(x.shape) == (n, *spec.shape)
    assert x.dtype == spec.dtype
    if spec.value_type == "binary":
        assert set(torch.unique(x).tolist()) <= {0.0, 1.0}
    elif spec.value_type == "categorical":
        assert int(x.min()) >= 0 and int(x.max()) < spec.num_values
    elif spec.value_type == "count":
        assert int(x.min()) >= 0
    else:
        lo, hi = spec.value_range
        assert torch.isfinite(x).all() and float(x.min()) >= lo - 1e-5 and float(x.max()) <= hi + 1e-5


@pytest.fixture(scope="module", params=list(cases()))
def trained(request):  # module-scoped: train once, check many times
    name, key = request.param
    spec = SPECS[key]
    torch.manual_seed(0)
    model = build_model(name, spec, TINY.get(name))
    data = tiny_dataset(spec)
    Trainer(model, data, TrainConfig(steps=2, batch_size=16, checkpoint_every=0), progress=False).fit()
    model.eval()
    return name, spec, model, data


def test_loss_finite_and_gradients_reach_every_player(trained):
    name, spec, model, data = trained
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    try:
        _check_loss_and_gradients(name, model, data)
    finally:  # the fixture is shared: leave the model as it was
        model.load_state_dict(saved)
        model.eval()


def _check_loss_and_gradients(name, model, data):
    batch = data.train.batch(torch.arange(16))
    out = model.loss(batch)
    assert "loss" in out and torch.isfinite(out["loss"]).all() and out["loss"].dim() == 0
    for player in model.players():
        if player.update is not None:
            before = {k: v.clone() for k, v in model.state_dict().items()}
            player.update(batch)
            assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items()), player.name
            continue
        assert player.parameters, f"{name}: player {player.name} has no parameters"
        model.zero_grad(set_to_none=True)
        pout = player.loss(batch)
        assert torch.isfinite(pout["loss"])
        pout["loss"].backward()
        missing = [i for i, p in enumerate(player.parameters) if p.grad is None]
        assert not missing, f"{name}: no gradient for {len(missing)} parameters of player {player.name}"
        assert all(torch.isfinite(p.grad).all() for p in player.parameters)


def test_samples_have_the_data_shape_dtype_and_range(trained):
    _, spec, model, _ = trained
    with torch.no_grad():
        check_values(model.sample(7, generator=torch.Generator().manual_seed(3)), spec, 7)


def test_seeded_sampling_is_deterministic(trained):
    _, _, model, _ = trained
    with torch.no_grad():
        a = model.sample(5, generator=torch.Generator().manual_seed(11))
        b = model.sample(5, generator=torch.Generator().manual_seed(11))
    # equal draws with equal seeds also shows sample() ignores the global RNG
    assert torch.equal(a, b)


def test_log_prob_shape(trained):
    _, _, model, data = trained
    if model.likelihood is None:
        with pytest.raises(CapabilityError):
            model.log_prob(data.test.x[:3])
        return
    torch.manual_seed(0)
    with torch.no_grad():
        lp = model.log_prob(data.test.x[:6])
    assert lp.shape == (6,) and torch.isfinite(lp).all()


def test_save_load_round_trip(trained, tmp_path):
    name, spec, model, data = trained
    save_weights(model.state_dict(), tmp_path / "m.safetensors")
    cfg = build_config(type(model.config), dataclasses.asdict(model.config))
    spec2 = DataSpec.from_dict(spec.to_dict())
    clone = get_model_class(name)(cfg, spec2)
    clone.load_state_dict(load_weights(tmp_path / "m.safetensors"))
    clone.eval()
    with torch.no_grad():
        a = model.sample(4, generator=torch.Generator().manual_seed(5))
        b = clone.sample(4, generator=torch.Generator().manual_seed(5))
        assert torch.equal(a, b)
        if model.likelihood is not None:
            torch.manual_seed(1)
            la = model.log_prob(data.test.x[:4])
            torch.manual_seed(1)
            lb = clone.log_prob(data.test.x[:4])
            assert torch.allclose(la, lb)


def test_missing_capabilities_raise_clear_errors(trained):
    _, spec, model, data = trained
    x = data.test.x[:2]
    for cap, call in [("encode", lambda: model.encode(x)), ("decode", lambda: model.decode(torch.zeros(2, 2))),
                      ("complete", lambda: model.complete(x, torch.ones_like(x, dtype=torch.bool)))]:
        if not model.has(cap):
            with pytest.raises(CapabilityError, match="cannot"):
                call()


@pytest.mark.parametrize("name", model_names())
def test_refuses_data_it_cannot_model(name):
    cls = get_model_class(name)
    refused = [s for s in list(SPECS.values()) + list(ENUM_SPECS.values()) if not cls.accepts_spec(s)]
    for spec in refused:
        with pytest.raises(IncompatibleDataError, match="accepts"):
            build_model(name, spec)


def enum_cases():
    for name in model_names():
        cls = get_model_class(name)
        for key, spec in ENUM_SPECS.items():
            if cls.likelihood is not None and cls.accepts_spec(spec):
                yield pytest.param(name, key, id=f"{name}-{key}")


@pytest.mark.parametrize("name,key", list(enum_cases()))
def test_likelihood_normalizes_over_a_tiny_space(name, key):
    spec = ENUM_SPECS[key]
    torch.manual_seed(0)
    model = build_model(name, spec, TINY.get(name))
    data = tiny_dataset(spec, 32)
    Trainer(model, data, TrainConfig(steps=3, batch_size=16, checkpoint_every=0), progress=False).fit()
    model.eval()
    k = spec.num_values
    grid = torch.tensor(list(itertools.product(range(k), repeat=spec.dim)))
    x = grid.reshape(-1, *spec.shape).to(spec.dtype)
    kind = getattr(model, "likelihood_kind", model.likelihood)
    # A stochastic bound (ELBO, dequantization) is checked through its expectation:
    # a single draw of exp(log w) is unbiased for p(x) and may overshoot 1.
    reps = 1 if kind == "exact" else 64
    torch.manual_seed(0)
    with torch.no_grad():
        lp = torch.stack([model.log_prob(x).double() for _ in range(reps)]).mean(0)
        total = torch.logsumexp(lp, 0).exp().item()
    if kind == "exact":
        assert total == pytest.approx(1.0, abs=1e-4)
    else:  # a lower bound on log p can only lose mass
        assert total <= 1.0 + 1e-4


# ---- every capability a model declares does what it promises --------------------------

def _half_mask(x: torch.Tensor) -> torch.Tensor:
    """Observe the first half of every example in raster order (True = observed)."""
    flat = torch.zeros(x.shape[0], x[0].numel(), dtype=torch.bool)
    flat[:, : flat.shape[1] // 2] = True
    return flat.reshape(x.shape)


def test_complete_keeps_every_observed_value(trained):
    _, spec, model, data = trained
    if not model.has("complete") or "source_shape" in spec.extra:
        return
    x = data.test.x[:3]
    mask = _half_mask(x)
    # iterative completers (pseudo-Gibbs, optimisation, chains): a few iterations suffice here
    kw = {"steps": 3} if "steps" in inspect.signature(model.complete).parameters else {}
    out = model.complete(x, mask, generator=torch.Generator().manual_seed(0), **kw).detach()
    check_values(out, spec, 3)
    assert torch.equal(out[mask], x[mask]), "an observed value changed"


def test_encode_then_decode_gives_data_of_the_spec(trained):
    _, spec, model, data = trained
    if not model.has("encode"):
        return
    x = data.test.x[:3]
    kw = {"condition": data.test.y[:3]} if model.has("conditional") and spec.num_classes else {}
    with torch.no_grad():
        z = model.encode(x, **kw)
    assert z.shape[0] == 3 and torch.isfinite(z).all()
    if model.has("decode"):
        with torch.no_grad():
            back = model.decode(z, **kw)
        check_values(back, spec, 3)


def test_conditional_sampling_uses_the_label(trained):
    _, spec, model, _ = trained
    # class-conditional models; a superres/translation model's condition is an image
    if not model.has("conditional") or not spec.num_classes or model.has("superres") or model.has("translate"):
        return
    # Two training steps leave label embeddings nearly equal, so discrete samples could
    # coincide by chance: on a copy with large random weights the label must show.
    bold = copy.deepcopy(model)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in bold.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    draws = []
    for label in range(spec.num_classes):
        with torch.no_grad():
            x = bold.sample(6, condition=torch.full((6,), label), generator=torch.Generator().manual_seed(4))
        check_values(x, spec, 6)
        draws.append(x)
    # same random numbers, different labels: the label must reach the output
    assert not all(torch.equal(draws[0], d) for d in draws[1:])
