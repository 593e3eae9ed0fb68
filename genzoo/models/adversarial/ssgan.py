"""Semi-supervised GAN: a (K+1)-class discriminator that is also the classifier.

Salimans, Goodfellow, Zaremba, Cheung, Radford & Chen (2016), "Improved Techniques for
Training GANs", NeurIPS, section 5 (with feature matching, section 3.1).

The discriminator outputs K logits ``l_1..l_K``; the (K+1)-th class, "generated", has
its logit fixed at 0, so ``p(real | x) = Z / (Z + 1)`` with ``Z = sum_k exp(l_k)``, and
``p(y = k | x, real) = softmax(l)_k`` is the classifier. Its loss, every step:

* supervised: cross-entropy of ``softmax(l)`` on a batch of the few labelled examples
  (``labels_per_class`` per class, chosen with ``seed`` when training starts and kept in
  buffers, so the labelled set is part of the saved model);
* unsupervised: ``-log p(real | x)`` on a batch of the training data (labels unused) and
  ``-log(1 - p(real | G(z)))`` on fakes.

The generator is trained by feature matching: ``|E f(x) - E f(G(z))|^2`` on the
discriminator's last hidden layer f. The paper's MNIST networks: a generator of two
softplus layers of 500 units with batch norm, sigmoid output; a discriminator of five
hidden layers (1000, 500, 250, 250, 250) with weight normalisation and Gaussian noise
added to each layer's input (std 0.3 at the input, 0.5 after). As in the authors' code
(openai/improved-gan, ``train_mnist_feature_matching.py``), also by default: the
unsupervised loss weighted 0.5, a data-dependent initialisation of the weight-normalised
layers (which sets the scale the hidden noise is measured against), hidden-layer scales
kept fixed after it, and every labelled example in every supervised batch (100 labels,
batch 100). ``classify(x)`` gives the class logits; ``genzoo train`` and ``genzoo eval
--metrics accuracy`` report the test error. No likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from genzoo.config import positive
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError, IncompatibleDataError
from genzoo.models.adversarial.base import GAN_BETAS, AdversarialModel, Role
from genzoo.models.base import Batch
from genzoo.models.registry import register
from genzoo.nn import rand
from genzoo.nn.values import from_unit, to_unit


@dataclass
class SSGANConfig:
    """Semi-supervised GAN hyperparameters (the paper's MNIST sizes).

    Args:
        labels_per_class: labelled training examples per class (the rest unlabelled).
        labelled_batch: labelled examples per step for the supervised loss.
        latent_dim: size of the noise z ~ U(0, 1) as in the paper.
        g_hidden: widths of the generator's softplus layers.
        d_hidden: widths of the discriminator's hidden layers.
        input_noise: std of the Gaussian noise on the discriminator's input (training only),
            on the [0, 1] pixel scale of the paper and its code.
        hidden_noise: std of the noise on its hidden layers' inputs (training only).
        unsupervised_weight: weight of the unsupervised loss against the supervised one
            (the authors' code: 0.5).
        activation: of the discriminator's hidden layers, ``relu`` (the authors' code) or
            ``leaky_relu`` (slope 0.2).
        data_init: when training starts, set each discriminator layer's scale and bias so
            that its pre-activations on 500 training images have mean 0 and std 1
            (Salimans & Kingma 2016, as in the authors' code); the noise stds are relative
            to that scale.
        fixed_scales: keep the hidden layers' weight-norm scales where ``data_init`` put
            them (the authors' code trains only the output layer's scale).
        lr: learning rate of both players (Adam, beta1 = 0.5).
        seed: chooses the labelled examples.
    """

    labels_per_class: int = 10
    labelled_batch: int = 100
    latent_dim: int = 100
    g_hidden: tuple[int, ...] = (500, 500)
    d_hidden: tuple[int, ...] = (1000, 500, 250, 250, 250)
    input_noise: float = 0.3
    hidden_noise: float = 0.5
    unsupervised_weight: float = 0.5
    activation: str = "leaky_relu"
    data_init: bool = True
    fixed_scales: bool = True
    lr: float = 3e-3
    seed: int = 0

    def validate(self) -> None:
        for key in ("labels_per_class", "labelled_batch", "latent_dim", "lr"):
            positive(getattr(self, key), key)
        for key in ("input_noise", "hidden_noise", "unsupervised_weight"):
            positive(getattr(self, key), key, allow_zero=True)
        if not self.g_hidden or not self.d_hidden:
            raise GenzooError("g_hidden and d_hidden need at least one layer each")
        if self.activation not in ACTIVATIONS:
            raise GenzooError(f"bad value {self.activation!r} for activation: choose from {', '.join(ACTIVATIONS)}")


ACTIVATIONS = ("relu", "leaky_relu")


class NoisyDiscriminator(nn.Module):
    """x in [-1, 1] (B, D) -> (class logits (B, K), last hidden features (B, F)).

    ``input_noise`` is the std on the [0, 1] pixel scale of the paper (the input here is on
    [-1, 1], so the noise added is twice that)."""

    def __init__(self, dim: int, hidden: tuple[int, ...], classes: int, input_noise: float, hidden_noise: float,
                 activation: str = "leaky_relu"):
        super().__init__()
        widths = (dim, *hidden)
        self.layers = nn.ModuleList(weight_norm(nn.Linear(a, b)) for a, b in zip(widths[:-1], widths[1:]))
        self.head = weight_norm(nn.Linear(widths[-1], classes))
        self.noise = [2 * input_noise] + [hidden_noise] * len(hidden)
        self.act = nn.ReLU() if activation == "relu" else nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = x.flatten(1)  # (B, D)
        for layer, std in zip(self.layers, self.noise):
            if self.training and std > 0:
                h = h + std * torch.randn_like(h)
            h = self.act(layer(h))  # (B, width)
        if self.training and self.noise[-1] > 0:
            h_in = h + self.noise[-1] * torch.randn_like(h)
        else:
            h_in = h
        return self.head(h_in), h  # (B, K), (B, F)

    @torch.no_grad()
    def data_init(self, x: torch.Tensor, generator: torch.Generator) -> None:
        """Data-dependent initialisation (Salimans & Kingma 2016): layer by layer, scale and
        shift so that the pre-activations of ``x`` (B, D) have mean 0 and std 1, with the
        training noise on (drawn from ``generator``)."""
        h = x.flatten(1)
        for layer, std in zip([*self.layers, self.head], [*self.noise, self.noise[-1]]):
            h = h + std * torch.randn(h.shape, generator=generator)
            layer.bias.zero_()
            pre = layer(h)
            mean, sd = pre.mean(0), pre.std(0, unbiased=False).clamp_min(1e-6)
            layer.parametrizations.weight.original0.div_(sd.view(-1, 1))  # the scale g
            layer.bias.copy_(-mean / sd)
            h = self.act(layer(h))


@register
class SSGAN(AdversarialModel):
    """Semi-supervised GAN: a generator, and a discriminator that classifies; no likelihood."""

    name = "ssgan"
    Config = SSGANConfig
    accepts = (("image", "*"), ("vector", "*"))
    capabilities = ("classify",)
    #: both players at the one ``lr``, Adam betas 0.5, 0.999
    roles = (Role("discriminator", ("discriminator",), "discriminator_loss", lr="lr", betas=GAN_BETAS, critic=True),
             Role("generator", ("generator",), "generator_loss", lr="lr", betas=GAN_BETAS))

    def __init__(self, config: SSGANConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        K = int(spec.num_classes or 0)  # check_spec asked for labels
        self.num_classes = K
        layers: list[nn.Module] = []
        width = config.latent_dim
        for h in config.g_hidden:
            layers += [nn.Linear(width, h), nn.BatchNorm1d(h), nn.Softplus()]
            width = h
        self.generator = nn.Sequential(*layers, nn.Linear(width, spec.dim), nn.Tanh())
        self.discriminator = NoisyDiscriminator(spec.dim, tuple(config.d_hidden), K, config.input_noise,
                                                config.hidden_noise, config.activation)
        if config.fixed_scales:
            for layer in self.discriminator.layers:
                layer.parametrizations.weight.original0.requires_grad_(False)
        n = K * config.labels_per_class
        self.register_buffer("labelled_x", torch.zeros(n, *spec.shape, dtype=spec.dtype))
        self.register_buffer("labelled_y", torch.zeros(n, dtype=torch.long))

    @classmethod
    def accepts_spec(cls, spec: DataSpec) -> bool:
        return super().accepts_spec(spec) and bool(spec.num_classes)

    @classmethod
    def check_spec(cls, spec: DataSpec) -> None:
        if not cls.accepts_spec(spec):
            raise IncompatibleDataError(f"model 'ssgan' cannot model {spec.name!r} ({spec.describe}); it accepts: "
                                        "labelled images and vectors (it is a semi-supervised classifier)")

    # ---- the labelled subset ---------------------------------------------------------
    def prepare(self, data: Any) -> None:
        """Choose ``labels_per_class`` labelled training examples per class (seeded)."""
        y = data.train.y
        if y is None:
            raise GenzooError("ssgan needs the training labels to choose its labelled examples")
        g = torch.Generator().manual_seed(self.config.seed)
        idx = []
        for k in range(self.num_classes):
            members = (y == k).nonzero().flatten()
            if len(members) < self.config.labels_per_class:
                raise GenzooError(f"class {k} has {len(members)} training examples; labels_per_class is "
                                  f"{self.config.labels_per_class}")
            idx.append(members[torch.randperm(len(members), generator=g)[:self.config.labels_per_class]])
        idx = torch.cat(idx)
        x = data.train.x[idx]
        if data.transform is not None:
            x = data.transform(x, g)
        self.labelled_x.copy_(x.to(self.labelled_x.dtype))
        self.labelled_y.copy_(y[idx])
        if self.config.data_init:
            rows = torch.randperm(len(y), generator=g)[:500]
            x0 = data.train.x[rows]
            if data.transform is not None:
                x0 = data.transform(x0, g)
            self.discriminator.data_init(to_unit(x0, self.spec), g)

    # ---- networks --------------------------------------------------------------------
    def _noise(self, n: int) -> torch.Tensor:
        return torch.rand(n, self.config.latent_dim, device=self.device)  # the paper's uniform noise

    def _generate(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z).view(z.shape[0], *self.spec.shape)  # (B, *shape) in [-1, 1]

    @staticmethod
    def _log_real(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(log p(real | x), log p(fake | x)) with the fake logit fixed at 0."""
        lse = torch.logsumexp(logits, 1)
        return lse - F.softplus(lse), -F.softplus(lse)

    # ---- the players -----------------------------------------------------------------
    def discriminator_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Supervised cross-entropy on labelled examples plus the unsupervised GAN loss."""
        x = to_unit(batch["x"].to(self.device), self.spec)
        n = x.shape[0]
        # without replacement: with 100 labels and batch 100, every label every step (the authors' code)
        pick = torch.randperm(len(self.labelled_y), device=self.device)[:self.config.labelled_batch]
        logits_lab, _ = self.discriminator(to_unit(self.labelled_x[pick], self.spec))
        supervised = F.cross_entropy(logits_lab, self.labelled_y[pick])
        logits_real, _ = self.discriminator(x)
        logits_fake, _ = self.discriminator(self._generate(self._noise(n)).detach())
        unsupervised = -self._log_real(logits_real)[0].mean() - self._log_real(logits_fake)[1].mean()
        loss = supervised + self.config.unsupervised_weight * unsupervised
        with torch.no_grad():
            acc = (logits_lab.argmax(1) == self.labelled_y[pick]).float().mean()
        return {"loss": loss, "supervised": supervised.detach(), "unsupervised": unsupervised.detach(),
                "d_real": self._log_real(logits_real)[0].exp().mean().detach(),
                "d_fake": self._log_real(logits_fake)[0].exp().mean().detach(), "labelled_accuracy": acc}

    def generator_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Feature matching on the discriminator's last hidden layer."""
        x = to_unit(batch["x"].to(self.device), self.spec)
        _, f_real = self.discriminator(x)
        _, f_fake = self.discriminator(self._generate(self._noise(x.shape[0])))
        loss = (f_real.detach().mean(0) - f_fake.mean(0)).pow(2).mean()
        return {"loss": loss, "feature_matching": loss.detach()}

    # ---- sampling and classification -------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, *, condition: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """G(z), z ~ U(0, 1) from ``generator``, in the data's own space (n, *shape)."""
        self.sample_condition(n, condition)
        z = rand.rand(n, self.config.latent_dim, generator=generator, device=self.device)
        return from_unit(self._generate(z), self.spec, generator=generator)

    @torch.no_grad()
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (B, K) of the discriminator (noise off)."""
        was = self.discriminator.training
        self.discriminator.eval()
        try:
            return self.discriminator(to_unit(x.to(self.device), self.spec))[0]
        finally:
            self.discriminator.train(was)
