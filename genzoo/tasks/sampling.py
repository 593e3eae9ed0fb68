"""Sampling with options: pass a model the sampler options its ``sample`` takes
(``steps``, ``sampler``, ``eta``, ``guidance``: the diffusion family) and a class label
or (text-conditional models) a caption, refusing what the model does not have with one clear error; and the same for the frames
of a sampling chain (``genzoo sample --gif``: Gibbs or GSN chains, diffusion from noise
to data)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch

from genzoo.errors import GenzooError
from genzoo.models.base import GenerativeModel

SAMPLER_OPTIONS = ("steps", "sampler", "eta", "guidance")


def _checked(model: GenerativeModel, fn: Callable[..., Any], n: int, label: int | None,
             options: dict[str, object]) -> tuple[dict[str, object], torch.Tensor | None]:
    """The options ``fn`` takes (None values left out) and the condition for ``label``."""
    opts = {k: v for k, v in options.items() if v is not None}
    unknown = [k for k in opts if k not in SAMPLER_OPTIONS]
    if unknown:
        raise GenzooError(f"unknown sampling option(s) {', '.join(unknown)}")
    params = inspect.signature(fn).parameters
    missing = [k for k in opts if k not in params]
    if missing:
        raise GenzooError(f"model {model.name!r} takes no {', '.join('--' + k for k in missing)} "
                          "(sampler options are for the diffusion models)")
    condition = None
    if label is not None:
        k = model.spec.num_classes
        if not model.has("conditional") or not k:
            raise GenzooError(f"this {model.name!r} run is not class-conditional; --label needs one")
        if not 0 <= label < k:
            raise GenzooError(f"bad value {label} for --label: this run has {k} classes (0..{k - 1})")
        condition = torch.full((n,), label, dtype=torch.long)
    return opts, condition


def sample_with_options(model: GenerativeModel, n: int, *, generator: torch.Generator | None = None,
                        label: int | None = None, text: str | None = None, **options: object) -> torch.Tensor:
    """``model.sample(n)`` with the given sampler ``options`` (None values are left out)
    and, with ``label``, every sample conditioned on that class; with ``text``, on that
    caption (models with the ``text`` capability; a word outside the run's vocabulary is
    an error naming it). The model checks the values themselves (step counts, eta range,
    known samplers)."""
    if text is not None and label is not None:
        raise GenzooError("give --text or --label, not both")
    opts, condition = _checked(model, model.sample, n, label, options)
    if text is not None:
        if not model.has("text"):
            raise GenzooError(f"this {model.name!r} run is not conditioned on text; --text needs a text-to-image "
                              "run (t2i_gan, or ddpm/flow_matching/ncsn trained with text=true)")
        condition = model.encode_text(text, n)  # type: ignore[attr-defined]
    return model.sample(n, condition=condition, generator=generator, **opts)


@torch.no_grad()
def chain_with_options(model: GenerativeModel, n: int, *, steps: int, frames: int,
                       generator: torch.Generator | None = None, label: int | None = None,
                       **options: object) -> torch.Tensor:
    """About ``frames`` frames of ``n`` sampling chains of ``steps`` steps, (F, n, *shape),
    from the start (noise) to the end: the Markov chain of rbm, dbm and gsn, or a
    diffusion model's sampler from noise to data with its ``options`` (sampler, eta,
    guidance) and ``label``."""
    model.require("chain")
    if model.spec.kind != "image":
        raise GenzooError("--gif animates image chains")
    if steps < 1 or frames < 1:
        raise GenzooError(f"the chain needs steps and frames >= 1, got {steps} and {frames}")
    opts, condition = _checked(model, model.sample_chain, n, label, options)
    if condition is not None:
        opts["condition"] = condition
    every = max(1, steps // frames)
    return model.sample_chain(n, steps=steps, generator=generator, every=every, **opts)
