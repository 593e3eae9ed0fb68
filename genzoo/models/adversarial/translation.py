"""What the image-to-image models (pix2pix, cyclegan) share: they train on the ``pairs``
dataset (a target ``batch["x"]`` and a source ``batch["source"]``), keep some training
sources so that ``sample`` without a condition has something to translate, and refuse
data without source images."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from genzoo.config import choice, positive
from genzoo.data.spec import DataSpec
from genzoo.errors import IncompatibleDataError
from genzoo.models.adversarial import losses
from genzoo.models.adversarial.base import AdversarialModel
from genzoo.models.base import Batch
from genzoo.nn import rand
from genzoo.nn.values import to_unit

KEPT = 64  # training sources kept for unconditional sampling


@dataclass
class TranslationConfig:
    """The settings pix2pix and cyclegan share (each Config documents them and adds its own).

    Args:
        channels: base width of the U-Net(s) and the PatchGAN(s).
        depth: most U-Net levels (fewer if the image is small).
        d_layers: stride-2 layers of the PatchGAN(s).
        loss: GAN loss (:data:`genzoo.models.adversarial.losses.LOSSES` but ``wasserstein_gp``).
        lr: learning rate of every player (Adam, betas 0.5, 0.999).
    """

    channels: int = 32
    depth: int = 3
    d_layers: int = 2
    loss: str = "non_saturating"
    lr: float = 2e-4

    def validate(self) -> None:
        for key in ("channels", "depth", "d_layers", "lr"):
            positive(getattr(self, key), key)
        choice(self.loss, tuple(x for x in losses.LOSSES if x != "wasserstein_gp"), "loss")


class TranslationModel(AdversarialModel):
    """Base class: translates source images into target images; no likelihood. Every
    player trains at the one ``lr`` with Adam betas 0.5, 0.999 (each model lists its roles)."""

    accepts = (("image", "binary"), ("image", "continuous"))
    capabilities = ("conditional", "translate")

    def __init__(self, config: Any, spec: DataSpec) -> None:
        super().__init__(config, spec)
        c, h, w = (int(v) for v in spec.extra["source_shape"])
        self.src_shape = (c, h, w)
        self.register_buffer("kept", torch.zeros(KEPT, *self.src_shape))

    @classmethod
    def accepts_spec(cls, spec: DataSpec) -> bool:
        return super().accepts_spec(spec) and bool(spec.extra.get("source_shape"))

    @classmethod
    def check_spec(cls, spec: DataSpec) -> None:
        if not cls.accepts_spec(spec):
            raise IncompatibleDataError(
                f"model {cls.name!r} cannot model {spec.name!r} ({spec.describe}); it accepts: image pairs "
                "(the 'pairs' dataset: binary or continuous target images with source images)")

    def prepare(self, data: Any) -> None:
        """Keep the first training sources (in [-1, 1]) for unconditional sampling."""
        src = to_unit(data.fixed("train").extra["source"][:KEPT], self.spec)
        self.kept[: len(src)] = src

    def source(self, batch: Batch) -> torch.Tensor:
        """The batch's source images in [-1, 1]."""
        if "source" not in batch:
            raise IncompatibleDataError(f"{self.name} trains on the 'pairs' dataset (batches with a 'source' image)")
        return to_unit(batch["source"].to(self.device), self.spec)

    def kept_sources(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        """``n`` kept training sources, chosen with ``generator``."""
        idx = torch.floor(KEPT * rand.rand(n, generator=generator)).long().clamp(max=KEPT - 1)
        return self.kept[idx.to(self.kept.device)]
