"""What the diffusion family shares: the network settings, class or caption conditioning
with a null condition (classifier-free guidance, Ho & Salimans 2022), checking sampling
options in one place, and RePaint completion (Lugmayr et al. 2022).

A model here works on the [-1, 1] scale of :func:`genzoo.nn.values.to_unit` and moves
through *levels* ``n, n-1, ..., 0`` from pure noise to data. A subclass says how to

* go down one level (``_down``: one sampler step with the network),
* noise clean data to a level (``_marginal``: a draw from q(x_level | x_0)),
* go back up (``_up``: the forward process from one level to a higher one),

and :meth:`DiffusionModel.repaint` does the rest: known pixels are replaced by noised
ground truth at every level, with resampling jumps back up the chain.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genzoo.config import positive
from genzoo.data import captions as cap
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError, IncompatibleDataError
from genzoo.models.base import GenerativeModel
from genzoo.models.diffusion.networks import MLPNet, UNet
from genzoo.models.diffusion.schedule import repaint_schedule
from genzoo.nn import rand
from genzoo.nn.modes import eval_mode


@dataclass
class DiffusionNetConfig:
    """Settings every diffusion model shares (its Config adds its own).

    Args:
        channels: U-Net base width (images).
        channel_mults: width multiplier per resolution level (one level per entry).
        res_blocks: residual blocks per level.
        attention: self-attention at the lowest resolution.
        dropout: in the residual blocks.
        hidden: MLP width (vector data).
        mlp_layers: residual layers of the MLP (vector data).
        conditional: condition on class labels when the data has them.
        label_dropout: fraction of training labels (or captions) replaced by the null one,
            so one network is both conditional and unconditional (classifier-free guidance).
        text: condition on the data's captions (word ids, ``captions=true`` datasets)
            instead of class labels, through a jointly trained word encoder (a GRU);
            ``genzoo sample RUN --text "a thick 3" --guidance 3``.
        word_dim: size of the word embeddings of the caption encoder.
        complete_steps: levels of the chain ``complete`` runs down (RePaint).
        jump_length: RePaint: levels to go back up at each resampling jump.
        jump_count: RePaint: how often each jump segment is run (1 = no resampling).
    """

    channels: int = 32
    channel_mults: tuple[int, ...] = (1, 2, 2)
    res_blocks: int = 1
    attention: bool = True
    dropout: float = 0.0
    hidden: int = 128
    mlp_layers: int = 3
    conditional: bool = True
    label_dropout: float = 0.1
    text: bool = False
    word_dim: int = 32
    complete_steps: int = 50
    jump_length: int = 5
    jump_count: int = 2

    def validate(self) -> None:
        for key in ("channels", "res_blocks", "hidden", "mlp_layers", "word_dim", "complete_steps",
                    "jump_length", "jump_count"):
            positive(getattr(self, key), key)
        if not self.channel_mults:
            raise GenzooError("bad value () for channel_mults: give at least one level")
        for m in self.channel_mults:
            positive(m, "channel_mults")
        if not 0.0 <= self.dropout < 1.0:
            raise GenzooError(f"bad value {self.dropout!r} for dropout: must be in [0, 1)")
        if not 0.0 <= self.label_dropout <= 1.0:
            raise GenzooError(f"bad value {self.label_dropout!r} for label_dropout: must be in [0, 1]")


class DiffusionModel(GenerativeModel):
    """Base of ddpm, flow_matching and ncsn: network, labels, guidance, option checks, RePaint."""

    accepts = (("image", "binary"), ("image", "categorical"), ("image", "continuous"), ("vector", "continuous"))
    capabilities: tuple[str, ...] = ("complete",)
    family = "diffusion"
    #: the samplers this model has; the first is the default.
    samplers: tuple[str, ...] = ()

    def __init__(self, config: DiffusionNetConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.vocabulary: tuple[str, ...] = ()
        self.examples: list[str] = []
        if config.text:
            info = spec.extra.get("captions")
            if not isinstance(info, dict) or not info.get("vocabulary"):
                raise IncompatibleDataError(
                    f"text=true needs captioned data; {spec.name!r} has no captions (e.g. mnist with "
                    "--set data.captions=true, or images with captions=true)")
            self.vocabulary = tuple(info["vocabulary"])
            self.examples = [str(t) for t in info.get("examples", [])]
        self.num_classes = spec.num_classes if config.conditional and spec.num_classes and not config.text else None
        self.capabilities = ("complete", *(("conditional",) if self.num_classes else ()),
                             *(("text",) if config.text else ()), *(("chain",) if spec.kind == "image" else ()))
        vocab = len(self.vocabulary) or None
        if spec.kind == "image":
            self.net: torch.nn.Module = UNet(
                spec.shape, channels=config.channels, channel_mults=tuple(config.channel_mults),
                res_blocks=config.res_blocks, attention=config.attention, dropout=config.dropout,
                num_classes=self.num_classes, vocab=vocab, word_dim=config.word_dim)
        else:
            self.net = MLPNet(spec.dim, hidden=config.hidden, layers=config.mlp_layers, num_classes=self.num_classes,
                              vocab=vocab, word_dim=config.word_dim)

    @property
    def conditioned(self) -> bool:
        """Whether the network takes a condition (class labels or captions)."""
        return bool(self.num_classes or self.vocabulary)

    # ---- labels and guidance --------------------------------------------------------
    def training_labels(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """The batch's labels with ``label_dropout`` of them set to the null label; for a
        text-conditioned model one phrasing of each caption (B, L), ``label_dropout`` of
        them all padding (the null caption). Draws from the global RNG; None when the
        model is unconditional."""
        if self.vocabulary:
            if "caption" not in batch:
                raise GenzooError(f"a text-conditioned {self.name} trains on captioned batches: "
                                  "use a dataset with captions=true")
            ids = batch["caption"].to(self.device).long()  # (B, P, L)
            n = ids.shape[0]
            pick = torch.randint(0, ids.shape[1], (n,), device=self.device)
            ids = ids[torch.arange(n, device=self.device), pick]  # (B, L)
            drop = torch.rand(n, device=self.device) < self.config.label_dropout
            return torch.where(drop[:, None], torch.zeros_like(ids), ids)
        if not self.num_classes:
            return None
        y = batch["y"].to(self.device).long()
        drop = torch.rand(y.shape, device=y.device) < self.config.label_dropout
        return torch.where(drop, torch.full_like(y, self.num_classes), y)

    def _null(self, n: int, like: torch.Tensor | None) -> torch.Tensor:
        """The null condition for n examples: label K, or an all-padding caption."""
        if self.vocabulary:
            return torch.zeros((n, like.shape[1] if like is not None else 1), device=self.device, dtype=torch.long)
        return torch.full((n,), int(self.num_classes or 0), device=self.device, dtype=torch.long)

    def encode_text(self, texts: list[str] | str, n: int | None = None) -> torch.Tensor:
        """Word ids (n, L) of ``texts`` (one text repeated ``n`` times, or one per sample);
        a word outside the run's vocabulary is a GenzooError naming it."""
        if not self.vocabulary:
            raise GenzooError(f"this {self.name!r} run is not conditioned on text (train it with --set text=true)")
        return cap.encode_batch(texts, self.vocabulary, n).to(self.device)

    def predict(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None, guidance: float) -> torch.Tensor:
        """Network output at (x, t); with a condition y (labels or caption ids),
        classifier-free guidance ``out_null + w (out_y - out_null)`` (w = 1: plain
        conditional, w = 0: unconditional)."""
        if not self.conditioned:
            return self.net(x, t)
        null = self._null(x.shape[0], y)
        if y is None or guidance == 0:
            return self.net(x, t, null)
        if guidance == 1:
            return self.net(x, t, y)
        both = self.net(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null]))
        cond, uncond = both.chunk(2)
        return uncond + guidance * (cond - uncond)

    # ---- sampling options: checked here, once ------------------------------------------
    def sampling_options(self, n: int, *, condition: torch.Tensor | None, steps: int | None,
                         sampler: str | None, eta: float | None, guidance: float | None
                         ) -> tuple[torch.Tensor | None, int, str, float, float]:
        """Check sampling options; returns (labels or None, steps, sampler, eta, guidance).

        Defaults come from the config. ``guidance`` without a ``condition`` on a labelled
        model samples the classes in turn (0, 1, ..., K-1, 0, ...).
        """
        cfg = self.config
        sampler = getattr(cfg, "sampler", self.samplers[0]) if sampler is None else sampler
        if sampler not in self.samplers:
            raise GenzooError(f"model {self.name!r} has no sampler {sampler!r}; its samplers: "
                              f"{', '.join(self.samplers)}")
        steps = getattr(cfg, "sample_steps", None) if steps is None else steps
        if not isinstance(steps, int) or steps < 1:
            raise GenzooError(f"bad value {steps!r} for steps: must be an integer >= 1")
        eta = getattr(cfg, "eta", 0.0) if eta is None else float(eta)
        if not 0.0 <= eta <= 1.0:
            raise GenzooError(f"bad value {eta!r} for eta: must be in [0, 1]")
        if (condition is not None or guidance is not None) and not self.conditioned:
            raise GenzooError(f"this {self.name!r} run is unconditional (trained without labels); "
                              "a label or guidance needs a class-conditional run")
        if guidance is not None and guidance < 0:
            raise GenzooError(f"bad value {guidance!r} for guidance: must be >= 0 (0 = unconditional)")
        labels = None
        if self.vocabulary:
            labels = self._caption_ids(n, condition, guidance)
        elif self.num_classes:
            if condition is None and guidance:
                condition = torch.arange(n) % self.num_classes
            if condition is not None:
                labels = torch.as_tensor(condition).long().reshape(-1).to(self.device)
                if labels.numel() == 1:
                    labels = labels.expand(n)
                if labels.numel() != n:
                    raise GenzooError(f"condition holds {labels.numel()} labels for {n} samples")
                if int(labels.min()) < 0 or int(labels.max()) >= self.num_classes:
                    raise GenzooError(f"bad label {int(labels.max() if labels.max() >= self.num_classes else labels.min())}: "
                                      f"this run has {self.num_classes} classes (0..{self.num_classes - 1})")
        if guidance is None:
            guidance = cfg.guidance if labels is not None else 0.0
        return labels, steps, sampler, eta, float(guidance)

    def _caption_ids(self, n: int, condition: torch.Tensor | None, guidance: float | None) -> torch.Tensor | None:
        """Checked caption word ids (n, L) of a text-conditioned model: ``condition``
        (one row for all or one per sample), or with ``guidance`` alone the training
        captions kept in the run, in turn; None (unconditional) without either."""
        if condition is None:
            if not guidance:
                return None
            if not self.examples:
                raise GenzooError("this run keeps no example captions: give a caption (--text)")
            return self.encode_text([self.examples[i % len(self.examples)] for i in range(n)])
        ids = torch.as_tensor(condition)
        if ids.dim() == 2 and ids.shape[0] == 1:
            ids = ids.expand(n, -1)
        return cap.checked_ids(ids, n, len(self.vocabulary), who=f"this {self.name!r} run").to(self.device)

    # ---- RePaint ------------------------------------------------------------------
    def _down(self, x: torch.Tensor, level: int, levels: int, y: torch.Tensor | None,
              generator: torch.Generator | None) -> torch.Tensor:
        """One sampler step from ``level`` to ``level - 1`` of ``levels``."""
        raise NotImplementedError

    def _marginal(self, x0: torch.Tensor, level: int, levels: int, generator: torch.Generator | None
                  ) -> torch.Tensor:
        """A draw of x at ``level`` given clean x0 (unit scale)."""
        raise NotImplementedError

    def _up(self, x: torch.Tensor, level: int, to: int, levels: int, generator: torch.Generator | None
            ) -> torch.Tensor:
        """The forward process from ``level`` up to ``to`` > level."""
        raise NotImplementedError

    def _prior(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        """Where the chain starts at its top level: N(0, I) unless the model says otherwise."""
        return rand.randn(n, *self.spec.shape, generator=generator, device=self.device)

    def _unit(self, x: torch.Tensor) -> torch.Tensor:
        """Data -> the unit scale the model diffuses (centred values for discrete data)."""
        from genzoo.nn.values import to_unit

        return to_unit(x.to(self.device), self.spec)

    def _data(self, u: torch.Tensor, generator: torch.Generator | None, stochastic: bool = True) -> torch.Tensor:
        """[-1, 1] -> the data's space (binary drawn with ``generator`` unless not ``stochastic``)."""
        from genzoo.nn.values import from_unit

        return from_unit(u.clamp(-1, 1), self.spec, generator=generator, stochastic=stochastic)

    # ---- the sampling chain (genzoo sample --gif) -------------------------------------
    def _chain(self, n: int, *, labels: torch.Tensor | None, steps: int, sampler: str, eta: float,
               guidance: float, generator: torch.Generator | None, every: int = 0
               ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The model's sampler from noise: (final state, states after every ``every`` steps)."""
        raise NotImplementedError

    @torch.no_grad()
    def sample_chain(self, n: int, *, steps: int, generator: torch.Generator | None = None, every: int = 1,
                     condition: torch.Tensor | None = None, sampler: str | None = None, eta: float | None = None,
                     guidance: float | None = None) -> torch.Tensor:
        """Frames of ``n`` sampling chains of ``steps`` sampler steps (options as for
        ``sample``): the noise and the state after every ``every`` steps, shown in the
        data's space (binary thresholded): (1 + steps // every, n, *shape)."""
        if every < 1:
            raise GenzooError(f"every must be >= 1, got {every}")
        if eta is not None and (sampler or self.config.sampler) != "ddim":
            raise GenzooError(f"eta is an option of the ddim sampler; {self.name}'s "
                              f"{sampler or self.config.sampler} sampler has none")
        labels, steps, sampler, eta, guidance = self.sampling_options(
            n, condition=condition, steps=steps, sampler=sampler, eta=eta, guidance=guidance)
        with eval_mode(self):
            _, frames = self._chain(n, labels=labels, steps=steps, sampler=sampler, eta=eta, guidance=guidance,
                                    generator=generator, every=every)
        return torch.stack([self._data(f, None, stochastic=False) for f in frames])

    def repaint(self, x: torch.Tensor, mask: torch.Tensor, *, generator: torch.Generator | None = None,
                steps: int | None = None, jump_length: int | None = None, jump_count: int | None = None,
                condition: torch.Tensor | None = None) -> torch.Tensor:
        """Fill the entries where ``mask`` is False (RePaint); observed entries come back as given.

        The chain runs down ``steps`` levels (default ``complete_steps``); at every level
        the known entries are replaced by a fresh draw of the noised ground truth, and
        every ``jump_length`` levels the chain is taken back up ``jump_length`` levels
        ``jump_count - 1`` times (resampling, so the unknown part harmonizes with the known).
        """
        cfg = self.config
        if tuple(mask.shape) != tuple(x.shape):
            raise GenzooError(f"mask shape {tuple(mask.shape)} does not match x shape {tuple(x.shape)}")
        levels = cfg.complete_steps if steps is None else steps
        jl = cfg.jump_length if jump_length is None else jump_length
        jc = cfg.jump_count if jump_count is None else jump_count
        for key, v in (("steps", levels), ("jump_length", jl), ("jump_count", jc)):
            if v < 1:
                raise GenzooError(f"bad value {v!r} for {key}: must be >= 1")
        observed = mask.to(device=self.device, dtype=torch.bool)
        x = x.to(self.device)
        x0 = torch.where(observed, self._unit(torch.where(observed, x, torch.zeros_like(x))), 0.0)
        labels, *_ = self.sampling_options(x.shape[0], condition=condition, steps=levels, sampler=None,
                                           eta=None, guidance=None)
        with eval_mode(self):
            h = self._prior(x.shape[0], generator)
            seq = repaint_schedule(levels, jl, jc)
            for cur, nxt in zip(seq[:-1], seq[1:]):
                if nxt < cur:
                    known = self._marginal(x0, cur, levels, generator)
                    h = self._down(torch.where(observed, known, h), cur, levels, labels, generator)
                else:
                    h = self._up(h, cur, nxt, levels, generator)
            filled = self._data(h, generator)
        return torch.where(observed, x.to(self.spec.dtype), filled)
