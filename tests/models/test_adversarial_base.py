"""The one adversarial base: every registered adversarial-family model is an
AdversarialModel and declares its players through its roles, nothing else."""

from __future__ import annotations

import pytest
import torch

from genzoo.data.dataset import load_dataset
from genzoo.models.adversarial.base import AdversarialModel, NoiseGAN, Role
from genzoo.models.registry import build_model, get_model_class, model_names
from genzoo.nn.values import to_unit
from tests.models.test_contract import SPECS

ADVERSARIAL = [n for n in model_names() if get_model_class(n).family == "adversarial"]


def test_the_family_is_every_gan_type_model():
    assert {"gan", "dcgan", "cgan", "ssgan", "srgan", "pix2pix", "cyclegan", "aae"} <= set(ADVERSARIAL)
    others = [n for n in model_names() if n not in ADVERSARIAL]
    assert not [n for n in others if issubclass(get_model_class(n), AdversarialModel)]


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_one_base_and_players_declared_as_roles(name):
    cls = get_model_class(name)
    assert issubclass(cls, AdversarialModel)
    # players and their summed loss come from the base, never a hand-written list
    assert cls.players is AdversarialModel.players and cls.player is AdversarialModel.player
    assert cls.loss is AdversarialModel.loss
    assert cls.roles and all(isinstance(r, Role) for r in cls.roles)
    assert len({r.name for r in cls.roles}) == len(cls.roles)
    assert any(r.critic for r in cls.roles), "an adversarial game has a discriminator"
    fields = cls.Config.__dataclass_fields__
    for r in cls.roles:
        assert callable(getattr(cls, r.loss))
        for key in (r.lr, r.steps, r.when, r.betas if isinstance(r.betas, str) else None):
            assert key is None or key in fields, f"{name}: role {r.name} names {key!r}, not a Config key"


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_players_follow_the_roles_and_cover_every_parameter(name):
    cls = get_model_class(name)
    spec = next(s for s in SPECS.values() if cls.accepts_spec(s))
    model = build_model(name, spec)
    players = model.players()
    roles = model.active_roles()
    assert [p.name for p in players] == [r.name for r in roles]
    for p, r in zip(players, roles):
        declared = [q for m in r.modules for q in getattr(model, m).parameters() if q.requires_grad]
        assert [id(q) for q in p.parameters] == [id(q) for q in declared]
        assert p.lr == getattr(model.config, r.lr)
        assert p.steps == (getattr(model.config, r.steps) if r.steps else 1)
        want = getattr(model.config, r.betas) if isinstance(r.betas, str) else r.betas
        assert p.betas == (None if want is None else tuple(want))
    trained = {id(q) for p in players for q in p.parameters}
    assert trained == {id(q) for q in model.parameters() if q.requires_grad}, "a parameter no player updates"


def test_settings_reach_the_players_and_roles_can_be_switched_off():
    spec = SPECS["img-binary"]
    gan = build_model("gan", spec, {"lr_d": 3e-4, "lr_g": 1e-5, "n_critic": 4, "betas": (0.0, 0.9)})
    d, g = gan.players()
    assert (d.lr, d.steps, d.betas, g.lr, g.steps, g.betas) == (3e-4, 4, (0.0, 0.9), 1e-5, 1, (0.0, 0.9))
    assert isinstance(gan, NoiseGAN)
    mse = build_model("srgan", spec, {"adversarial_weight": 0.0})
    assert [p.name for p in mse.players()] == ["generator"]
    assert set(mse.loss({"x": torch.zeros(4, 1, 4, 4)})) == {"loss", "content"}


def test_spectral_norm_goes_to_the_critics_only():
    from torch.nn.utils import parametrize

    model = build_model("gan", SPECS["vec-cont"], {"spectral_norm": True, "g_hidden": (8,), "d_hidden": (8,)})
    assert any(parametrize.is_parametrized(m) for m in model.discriminator.modules())
    assert not any(parametrize.is_parametrized(m) for m in model.generator.modules())


def test_ssgan_data_init_standardises_and_frozen_scales_stay():
    data = load_dataset("digits")
    model = build_model("ssgan", data.spec, {"d_hidden": (32, 16), "g_hidden": (16,), "labels_per_class": 2,
                                             "input_noise": 0.0, "hidden_noise": 0.0})
    model.prepare(data)  # standardises on 500 of the training rows
    d = model.discriminator
    h = to_unit(data.train.x, data.spec).flatten(1)
    pre = d.layers[0](h)
    assert pre.mean(0).abs().max() < 0.2 and (pre.std(0) - 1).abs().max() < 0.2
    logits, _ = d(h)
    assert (logits.std(0) - 1).abs().max() < 0.25  # every layer up to the head
    scales = [layer.parametrizations.weight.original0 for layer in d.layers]
    assert not any(g.requires_grad for g in scales)
    assert d.head.parametrizations.weight.original0.requires_grad
    plain = build_model("ssgan", data.spec, {"d_hidden": (32, 16), "g_hidden": (16,), "labels_per_class": 2,
                                          "data_init": False, "fixed_scales": False})
    plain.prepare(data)
    assert (plain.discriminator.layers[0](h).std(0) - 1).abs().max() > 0.35  # the init did the work
    assert all(layer.parametrizations.weight.original0.requires_grad for layer in plain.discriminator.layers)
