"""Text-to-image GAN: cgan's networks conditioned on a caption instead of a class.

Reed, Akata, Yan, Logeswaran, Schiele & Lee (2016), "Generative Adversarial Text to Image
Synthesis", ICML: a generator and a discriminator both conditioned on an embedding of the
caption, and the *matching-aware* discriminator (GAN-CLS) that must also call a real image
with a caption that does not describe it fake, so that D judges the match and not only
realism. Reed et al. pre-trained a char-CNN-RNN text encoder; here a small word encoder
is trained jointly, one per player (:class:`genzoo.nn.text.TextEncoder`: word embeddings, a
GRU, its last state), so each player's parameters stay its own.

The networks are cgan's (:mod:`genzoo.models.adversarial.cgan`): in the generator each
conditional batch norm takes its per-channel scale ``1 + W_g e`` and shift ``W_b e`` from
the text embedding e (:class:`TextBatchNorm2d`) instead of a class table; in the
projection discriminator ``D(x, e) = psi(phi(x)) + <V e, phi(x)>``. D's loss (hinge by
default) counts (real image, its caption) as real and both (G(z, caption), caption) and
(real image, another image's caption) as fake, the two fakes weighted one half each as in
GAN-CLS (``mismatch`` 0 turns the second off: then it is the plain conditional game).

Captions come from the data (``batch["caption"]``, word ids (B, P, L), P phrasings per
image; :mod:`genzoo.data.captions`): each step every image is paired with one of its
phrasings drawn at random (the trainer's seeded RNG). ``sample(n, condition=ids)`` draws
images for word ids (n, L) (``genzoo sample RUN --text "a thick 3"``); without a
condition it draws captions from the training captions kept in the spec. No likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genzoo.config import positive
from genzoo.data import captions as cap
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError, IncompatibleDataError
from genzoo.models.adversarial import losses
from genzoo.models.adversarial.base import NoiseGAN
from genzoo.models.adversarial.cgan import CGANConfig, CondGenerator, ProjectionDiscriminator
from genzoo.models.adversarial.dcgan import dcgan_init
from genzoo.models.base import Batch
from genzoo.models.registry import register
from genzoo.nn import rand
from genzoo.nn.text import TextEncoder
from genzoo.nn.values import to_unit


@dataclass
class T2IGANConfig(CGANConfig):
    """cgan's settings (hinge loss, spectral norm in D, TTUR) plus the text encoder's.

    Args:
        word_dim: size of the word embeddings.
        text_dim: size of the caption embedding (the GRU's state).
        mismatch: weight share of the (real image, wrong caption) fakes in D's fake term
            (Reed et al.'s GAN-CLS: 0.5; 0 plays the plain conditional game).
    """

    word_dim: int = 32
    text_dim: int = 64
    mismatch: float = 0.5

    def validate(self) -> None:
        super().validate()
        positive(self.word_dim, "word_dim")
        positive(self.text_dim, "text_dim")
        if not 0.0 <= self.mismatch < 1.0:
            raise GenzooError(f"bad value {self.mismatch!r} for mismatch: must be in [0, 1)")


class TextBatchNorm2d(nn.Module):
    """Batch norm without its own affine map, then a per-channel scale and shift computed
    from the text embedding: ``(1 + W_g e) * bn(h) + W_b e``."""

    def __init__(self, channels: int, text_dim: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gamma = nn.Linear(text_dim, channels)
        self.beta = nn.Linear(text_dim, channels)

    def forward(self, h: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        return (1 + self.gamma(e))[:, :, None, None] * self.bn(h) + self.beta(e)[:, :, None, None]

    def reset(self) -> None:
        for m in (self.gamma, self.beta):  # start as plain batch norm
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)


class TextGenerator(nn.Module):
    """(z (B, latent), word ids (B, L)) -> image (B, C, H, W) in [-1, 1]: cgan's generator
    with text batch norm."""

    def __init__(self, latent: int, c: int, h: int, w: int, ch: int, vocab: int, cfg: T2IGANConfig) -> None:
        super().__init__()
        self.text = TextEncoder(vocab, cfg.word_dim, cfg.text_dim)
        self.body = CondGenerator(latent, c, h, w, ch, 1)
        self.body.norms = nn.ModuleList([TextBatchNorm2d(n, cfg.text_dim) for n in (4 * ch, 2 * ch, ch)])

    def forward(self, z: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        return self.body(z, self.text(ids))


class TextDiscriminator(nn.Module):
    """(x (B, C, H, W), word ids (B, L)) -> psi(phi(x)) + <V text(ids), phi(x)> (B,)."""

    def __init__(self, c: int, ch: int, vocab: int, cfg: T2IGANConfig) -> None:
        super().__init__()
        self.text = TextEncoder(vocab, cfg.word_dim, cfg.text_dim)
        self.body = ProjectionDiscriminator(c, ch, 1)
        self.body.embed = nn.Linear(cfg.text_dim, 4 * ch, bias=False)  # the projection of the text

    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        return self.body(x, self.text(ids))


@register
class T2IGAN(NoiseGAN):
    """Text-conditional GAN for captioned images (H, W divisible by 4); no likelihood."""

    name = "t2i_gan"
    Config = T2IGANConfig
    accepts = (("image", "*"),)
    capabilities = ("text", "complete", "decode", "invert")

    def __init__(self, config: T2IGANConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        c, h, w = spec.shape
        info = spec.extra["captions"]  # check_spec asked for captions
        self.vocabulary = tuple(info["vocabulary"])
        self.examples = [str(t) for t in info.get("examples", [])]
        v = len(self.vocabulary)
        self.generator = TextGenerator(config.latent_dim, c, h, w, config.channels, v, config)
        self.discriminator = TextDiscriminator(c, config.channels, v, config)
        self.apply(dcgan_init)
        for m in self.generator.body.norms:
            m.reset()
        self.finish()

    @classmethod
    def accepts_spec(cls, spec: DataSpec) -> bool:
        info = spec.extra.get("captions")
        return (super().accepts_spec(spec) and isinstance(info, dict) and bool(info.get("vocabulary"))
                and len(spec.shape) == 3 and spec.shape[1] % 4 == 0 and spec.shape[2] % 4 == 0)

    @classmethod
    def check_spec(cls, spec: DataSpec) -> None:
        """Captioned images with height and width divisible by 4."""
        if not cls.accepts_spec(spec):
            raise IncompatibleDataError(
                f"model 't2i_gan' cannot model {spec.name!r} ({spec.describe}); it accepts: captioned images "
                "with H and W divisible by 4 (e.g. mnist with --set data.captions=true, or images with captions=true)")

    # ---- captions ----------------------------------------------------------------------
    def labels_for(self, batch: Batch, n: int) -> torch.Tensor:
        """One phrasing of each image's caption, drawn with the global RNG: (n, L) word ids."""
        if "caption" not in batch:
            raise GenzooError("t2i_gan trains on captioned batches (batch['caption']): "
                              "use a dataset with captions=true")
        ids = batch["caption"][:n].to(self.device).long()  # (n, P, L)
        pick = torch.randint(0, ids.shape[1], (n,), device=self.device)
        return ids[torch.arange(n, device=self.device), pick]

    def encode_text(self, texts: list[str] | str, n: int | None = None) -> torch.Tensor:
        """Word ids (n, L) of ``texts`` (one text repeated ``n`` times, or one per sample);
        a word outside the vocabulary is a GenzooError naming it."""
        return cap.encode_batch(texts, self.vocabulary, n).to(self.device)

    def sample_labels(self, n: int, condition: torch.Tensor | None,
                      generator: torch.Generator | None) -> torch.Tensor:
        if condition is None:  # captions of training images, from the same generator as z
            if not self.examples:
                raise GenzooError("this t2i_gan run keeps no example captions: pass condition=word ids")
            pick = torch.floor(len(self.examples) * rand.rand(n, generator=generator)).long()
            return self.encode_text([self.examples[min(int(i), len(self.examples) - 1)] for i in pick])
        return cap.checked_ids(condition, n, len(self.vocabulary), who="t2i_gan").to(self.device)

    # ---- the matching-aware discriminator ----------------------------------------------
    def discriminator_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """GAN-CLS: real + its caption is real; a fake, and a real image with another image's
        caption, are fake (weights 1 - mismatch and mismatch in the fake term)."""
        c = self.config
        real = to_unit(batch["x"].to(self.device), self.spec)
        n = real.shape[0]
        ids = self.labels_for(batch, n)
        fake = self.generator(self._noise(n), ids).detach()
        r, f = self.critic(real, ids), self.critic(fake, ids)
        extra: dict[str, torch.Tensor] = {}
        if c.mismatch > 0 and n > 1:
            wrong = ids.roll(1, 0)
            differ = (wrong != ids).any(1)  # an identical caption would be no mismatch
            w = self.critic(real, wrong)[differ]
            k = max(1, round(len(f) * c.mismatch / (1 - c.mismatch)))  # so that f : w weigh (1 - m) : m
            if len(w):
                f = torch.cat([f, w.repeat(-(-k // len(w)))[:k]])
                extra["d_mismatch"] = losses.d_probability(self.gan_loss, w).detach()
        gp = None
        if c.loss == "wasserstein_gp" and c.gp_weight > 0:
            gp = losses.gradient_penalty(self.discriminator, real, fake, weight=c.gp_weight, ids=ids)
        return {**self.judge(r, f, penalty=gp), **extra}
