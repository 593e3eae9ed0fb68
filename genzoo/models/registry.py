"""Model registry: name -> model class (which carries its Config).

Used by the CLI, the Python API and the contract tests. Model modules register
themselves with :func:`register`; they are imported lazily on first lookup so that
``import genzoo`` does no work.
"""

from __future__ import annotations

import importlib
from typing import Any

from genzoo.data.spec import DataSpec
from genzoo.errors import unknown_name
from genzoo.models.base import GenerativeModel

# Modules that define registered models. Add a line when you add a model file.
MODEL_MODULES = (
    "genzoo.models.mixture.gmm",
    "genzoo.models.mixture.lda",
    "genzoo.models.autoregressive.made",
    "genzoo.models.autoregressive.nade",
    "genzoo.models.autoregressive.lstm",
    "genzoo.models.autoregressive.wavenet",
    "genzoo.models.autoregressive.transformer",
    "genzoo.models.autoregressive.gated_pixelcnn",
    "genzoo.models.autoregressive.pixelcnn",
    "genzoo.models.autoregressive.pixel_lstm",
    "genzoo.models.latent.vae",
    "genzoo.models.latent.ae",
    "genzoo.models.latent.cvae",
    "genzoo.models.adversarial.gan",
    "genzoo.models.adversarial.dcgan",
    "genzoo.models.adversarial.cgan",
    "genzoo.models.adversarial.t2i_gan",
    "genzoo.models.adversarial.bigan",
    "genzoo.models.adversarial.aae",
    "genzoo.models.adversarial.ssgan",
    "genzoo.models.adversarial.srgan",
    "genzoo.models.adversarial.pix2pix",
    "genzoo.models.adversarial.frame_predictor",
    "genzoo.models.adversarial.cyclegan",
    "genzoo.models.adversarial.simgan",
    "genzoo.models.energy.rbm",
    "genzoo.models.energy.dbm",
    "genzoo.models.energy.gsn",
    "genzoo.models.flows.realnvp",
    "genzoo.models.flows.glow",
    "genzoo.models.diffusion.ddpm",
    "genzoo.models.diffusion.flow_matching",
    "genzoo.models.diffusion.ncsn",
    "genzoo.models.diffusion.d3pm",
)

_MODELS: dict[str, type[GenerativeModel]] = {}


def register(cls: type[GenerativeModel]) -> type[GenerativeModel]:
    """Class decorator: add a model class to the registry under ``cls.name``."""
    if cls.name in _MODELS and _MODELS[cls.name] is not cls:
        raise RuntimeError(f"model name {cls.name!r} registered twice")
    _MODELS[cls.name] = cls
    return cls


def _ensure_loaded() -> None:
    for m in MODEL_MODULES:
        importlib.import_module(m)


def model_names() -> list[str]:
    _ensure_loaded()
    return sorted(_MODELS)


def get_model_class(name: str) -> type[GenerativeModel]:
    _ensure_loaded()
    if name not in _MODELS:
        raise unknown_name("model", name, _MODELS)
    return _MODELS[name]


def build_model(name: str, spec: DataSpec, config: dict[str, Any] | Any | None = None) -> GenerativeModel:
    """Build a registered model for ``spec``.

    ``config`` is the model's Config instance, or a dict of overrides (strings are
    parsed and type-checked), or None for the defaults.
    """
    from genzoo.config import build_config

    cls = get_model_class(name)
    if config is None or isinstance(config, dict):
        config = build_config(cls.Config, config or {}, what=f"key of model {name!r}")
    return cls(config, spec)  # __init__ refuses data the model cannot model
