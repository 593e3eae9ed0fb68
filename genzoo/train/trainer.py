"""The one training loop: the model's players, in order, every step.

The trainer knows nothing about particular models. A model hands it a list of
:class:`~genzoo.models.base.Player`; each player either minimizes its loss with its
own optimizer (``steps`` times per training step) or, for gradient-free players such
as EM, calls its ``update``. Around that loop the trainer adds what every model needs:
learning-rate warm-up and cosine decay, gradient clipping, EMA weights, bf16 autocast
on GPUs, torch.compile, DDP, checkpoints that resume bit-exactly, a NaN guard that
rolls back, validation with best weights and early stopping, metrics.jsonl, progress
bars and sample grids.

Exact resume: the data order is a pure function of (seed, epoch), the per-batch
transform noise of (seed, step), and every other random draw comes from the global
RNGs whose states (every process's, under DDP) are saved in each checkpoint. Validation
runs under forked RNGs, so it changes no training draw, and each checkpoint holds the best
state so far.

Test hook: ``GENZOO_INJECT_NAN=STEP[,nan|inf]`` makes the first player's loss at step
index STEP non-finite, once per process, so the rollback path can be driven from outside.
"""

from __future__ import annotations

import contextlib
import copy
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from genzoo.data.dataset import Dataset
from genzoo.errors import GenzooError, TrainingDiverged
from genzoo.models.base import Batch, GenerativeModel
from genzoo.train import checkpoint as ckpt
from genzoo.train import distributed as ddp
from genzoo.train.config import TrainConfig
from genzoo.train.ema import EMA
from genzoo.train.guard import INJECT_ENV, FiniteWatch, NonFiniteLoss, injected_fault  # noqa: F401
from genzoo.train.logging import MetricsLog
from genzoo.train.players import PlayerForward, make_optimizer, sync_batchnorm
from genzoo.train.validation import Best, Validator, remove_best, write_best


def _mean(values: list[Any]) -> float:
    """Mean of logged values (floats or 0-d tensors): one read-back per key."""
    if isinstance(values[0], torch.Tensor):
        return float(torch.stack([v.float() for v in values]).mean())
    return sum(values) / len(values)


class Trainer:
    """Train ``model`` on ``data.train`` as ``config`` says, writing into ``run_dir``.

    Args:
        model: any registered GenerativeModel.
        data: the dataset (its ``transform``, if any, is applied per batch).
        config: trainer settings.
        run_dir: where checkpoints, metrics and samples go (None: write nothing).
        resume: continue from the newest complete checkpoint in ``run_dir``.
        progress: show a tqdm progress bar.
        on_step: optional callback ``(step, trainer)`` after every step (tests use it).
    """

    def __init__(self, model: GenerativeModel, data: Dataset, config: TrainConfig, *,
                 run_dir: str | Path | None = None, resume: bool = False, progress: bool = True,
                 on_step: Callable[[int, Trainer], None] | None = None) -> None:
        self.cfg = config
        self.data = data
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.device = ddp.resolve_device(config.device)
        self.dist = ddp.setup(self.device, timeout_s=config.dist_timeout)
        self.progress = progress and self.dist.is_main
        self.on_step = on_step
        if config.amp == "bf16" and self.device.type != "cuda":
            raise GenzooError("train.amp=bf16 needs a CUDA GPU: on CPUs bf16 matrix products are "
                              "emulated and hundreds of times slower; use train.amp=none")
        n = len(data.train)
        self.batch_size = min(config.batch_size or n, n)
        if self.batch_size % self.dist.world_size:
            raise GenzooError(f"train.batch_size {self.batch_size} must be divisible by the number of "
                              f"processes ({self.dist.world_size})")
        if config.steps > 0 and n == 0:
            raise GenzooError("the training split is empty")

        model.prepare(data)  # before moving: what it stores in buffers moves with the model
        self.model = model.to(self.device)
        sync_batchnorm(model, config, self.dist, self.device)  # before players() and DDP
        self.model.train()
        self.players = model.players()
        self.optimizers = {p.name: make_optimizer(p, config) for p in self.players
                           if p.update is None and p.parameters}
        self.ema = EMA(model, config.ema, warmup=config.ema_warmup) if config.ema > 0 else None
        self.validator = Validator(model, data, config) if config.eval_every else None
        self.best = Best()
        self._best_state: dict[str, torch.Tensor] | None = None  # CPU copy of the best weights
        self.stopped_early: str | None = None
        self._forward: nn.Module = PlayerForward(model, self.players)
        if self.dist.enabled and self.optimizers:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self._forward = DistributedDataParallel(self._forward, device_ids=ids,
                                                    find_unused_parameters=len(self.optimizers) > 1)
        if config.compile:
            self._forward = torch.compile(self._forward)

        self.step = 0
        self.lr_scale = 1.0
        self.retries = 0
        self._perm_epoch = -1
        self._perm = torch.empty(0, dtype=torch.long)
        self._fault = injected_fault()
        self._watch = FiniteWatch()
        self.ckpt_dir = self.run_dir / "checkpoints" if self.run_dir is not None else None
        if resume:
            self._resume()
        else:
            # Each rank draws its own noise; rank 0 matches a single-process run.
            torch.manual_seed(config.seed + self.dist.rank)
            random.seed(config.seed + self.dist.rank)
        self._initial = None if self._has_checkpoint() else self._snapshot()

    # ---- data --------------------------------------------------------------------
    def _batch(self, step: int) -> Batch:
        n, b = len(self.data.train), self.batch_size
        epoch, j = divmod(step, n // b)
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(n, generator=g)
            self._perm_epoch = epoch
        batch = self.data.train.batch(self._perm[j * b:(j + 1) * b])
        if self.data.transform is not None:
            g = torch.Generator().manual_seed((self.cfg.seed * 2_000_003 + step) % (2**63))
            batch["x"] = self.data.transform(batch["x"], g)
        if self.dist.enabled:
            per = b // self.dist.world_size
            lo = self.dist.rank * per
            batch = {k: v[lo:lo + per] for k, v in batch.items()}
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    # ---- one step ----------------------------------------------------------------
    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.cfg.amp == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _train_step(self, step: int, logs: dict[str, list[Any]], want_grad_norm: bool) -> None:
        batch = self._batch(step)
        factor = self.cfg.lr_factor(step) * self.lr_scale
        for i, p in enumerate(self.players):
            for _ in range(p.steps):
                if p.update is not None:
                    with torch.no_grad():
                        out = p.update(batch)
                    for k, v in out.items():
                        logs[f"{p.name}/{k}"].append(float(v))
                    continue
                opt = self.optimizers.get(p.name)
                if opt is None:
                    continue
                for g in opt.param_groups:
                    g["lr"] = g["base_lr"] * factor
                opt.zero_grad(set_to_none=True)
                with self._autocast():
                    out = self._forward(batch, i)
                loss = out["loss"]
                if self._fault is not None and self._fault[0] == step:
                    loss = loss + self._fault[1]  # the test hook: once per process
                    self._fault = None
                self._watch.note(loss, step=step, label=f"{p.name} loss")
                loss.backward()
                if self.cfg.clip_grad > 0 or want_grad_norm:
                    max_norm = self.cfg.clip_grad if self.cfg.clip_grad > 0 else float("inf")
                    norm = torch.nn.utils.clip_grad_norm_(p.parameters, max_norm)
                    self._watch.note(norm, step=step, label=f"{p.name} gradient norm")
                    logs[f"{p.name}/grad_norm"].append(norm.detach())
                opt.step()
                for k, v in out.items():
                    logs[f"{p.name}/{k}"].append(v.detach())
        if self.ema is not None:
            self.ema.update(self.model)
        done = step + 1
        if self._check_due(done):
            self._check_finite(step)

    def _check_due(self, done: int) -> bool:
        """A check (one host sync) before anything is logged, validated, sampled or saved."""
        cfg = self.cfg
        return any(every and done % every == 0 for every in (
            cfg.check_every, cfg.log_every, cfg.checkpoint_every, cfg.eval_every, cfg.sample_every)) \
            or done == cfg.steps

    def _check_finite(self, step: int) -> None:
        """Raise NonFiniteLoss if a loss or gradient norm since the last check was not finite."""
        found = self._watch.first()
        if ddp.broadcast_flag(found is not None):
            if found is None:
                raise NonFiniteLoss("another process saw a non-finite loss")
            at, what, value = found
            raise NonFiniteLoss(f"{what} is {value:.4g}", step=at)
        # Weights about to be saved must be finite; otherwise roll back instead of saving.
        done = step + 1
        if done == self.cfg.steps or (self.cfg.checkpoint_every and done % self.cfg.checkpoint_every == 0):
            if ddp.broadcast_flag(not self._weights_finite()):
                raise NonFiniteLoss("the weights are not finite")

    def _weights_finite(self) -> bool:
        return ckpt.all_finite(self.model.state_dict()) and (self.ema is None or ckpt.all_finite(self.ema.shadow))

    # ---- the loop ----------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        """Train until ``config.steps``; returns the last logged metrics and timings."""
        cfg = self.cfg
        main = self.dist.is_main and self.run_dir is not None
        log = MetricsLog(self.run_dir if main else None, tensorboard=cfg.tensorboard and main,
                         resume_step=self.step)
        # In a log file (not a terminal) redraw rarely so logs stay readable.
        pbar = tqdm(total=cfg.steps, initial=self.step, disable=not self.progress,
                    desc=f"train {self.model.name}", dynamic_ncols=True, leave=False,
                    mininterval=0.1 if sys.stderr.isatty() else 15.0)
        logs: dict[str, list[Any]] = defaultdict(list)
        last: dict[str, Any] = {}
        t0, steps_done = time.perf_counter(), 0
        say = pbar.write if self.progress else print
        if self._patience_spent():  # resumed after an early stop
            self._stop(say)
        try:
            while self.step < cfg.steps and self.stopped_early is None:
                want_norm = (self.step + 1) % cfg.log_every == 0
                try:
                    self._train_step(self.step, logs, want_norm)
                except NonFiniteLoss as e:
                    self._roll_back(str(e), pbar, self.step if e.step is None else e.step)
                    logs.clear()
                    continue
                except RuntimeError:
                    # A step after an unnoticed NaN can fail inside an op (a Bernoulli draw
                    # of NaN probabilities, say): that is the NaN's doing, so roll back.
                    found = self._watch.first()
                    if found is None:
                        raise
                    at, what, value = found
                    self._roll_back(f"{what} is {value:.4g}", pbar, at)
                    logs.clear()
                    continue
                self.step += 1
                steps_done += 1
                pbar.update(1)
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    last = {k: _mean(v) for k, v in logs.items() if v}
                    logs.clear()
                    row = {"step": self.step, "lr": cfg.lr * cfg.lr_factor(self.step - 1) * self.lr_scale,
                           "time": round(time.perf_counter() - t0, 3), **last}
                    if main:
                        log.write(row)
                    loss_keys = [k for k in last if k.endswith("/loss")]
                    pbar.set_postfix({k.split("/")[0][:5]: f"{last[k]:.4g}" for k in loss_keys[:3]})
                if self.validator is not None and self.step % cfg.eval_every == 0:
                    self._validate(log if main else None)
                    if ddp.broadcast_flag(self._patience_spent()):
                        self._stop(say)
                if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0 \
                        and self.step < cfg.steps and self.stopped_early is None:
                    self._save_checkpoint(pbar)
                if main and cfg.sample_every and self.step % cfg.sample_every == 0:
                    self.save_samples(self.run_dir / "samples" / f"step-{self.step:06d}")
                if self.on_step is not None:
                    self.on_step(self.step, self)
        finally:
            pbar.close()
            log.close()
        seconds = time.perf_counter() - t0
        if cfg.checkpoint_every:
            self._save_checkpoint(pbar)  # every rank: each sends its random state
        if main:
            self.save_final()
        ddp.barrier()
        return {"steps": self.step, "seconds": seconds,
                "steps_per_sec": steps_done / seconds if seconds > 0 else float("nan"),
                "lr_scale": self.lr_scale, "retries": self.retries, "metrics": last,
                "best": self.best.state_dict() if self.validator is not None else None,
                "stopped_early": self.stopped_early}

    # ---- validation --------------------------------------------------------------
    def _validate(self, log: MetricsLog | None) -> None:
        """Score the (EMA) weights on the validation split; keep them if they are the best.

        Under forked RNGs, so a run with validation draws exactly what one without would.
        """
        cuda = [self.device.index or 0] if self.device.type == "cuda" else []
        py_state = random.getstate()
        was_training = self.model.training
        swap = self.ema.swapped(self.model) if self.ema is not None else contextlib.nullcontext()
        with torch.random.fork_rng(devices=cuda), swap:
            scores = self.validator(self.model)
            value = scores[self.validator.key]
            improved = self.best.improves(value)
            if improved:
                state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
                improved = ckpt.all_finite(state)  # never keep non-finite weights as the best
        random.setstate(py_state)
        self.model.train(was_training)
        self.best.record(self.step, value, improved)
        if improved:
            self._best_state = state
        if log is not None:
            log.write({"step": self.step, **scores, f"valid/best_{self.validator.metric}": self.best.value})
            if improved and self.run_dir is not None:
                write_best(self.run_dir, state, self._best_info())

    def _best_info(self) -> dict[str, Any]:
        return {"step": self.best.step, "value": self.best.value, **self.validator.describe(),
                "weights": "ema" if self.ema is not None else "model"}

    def _patience_spent(self) -> bool:
        return bool(self.cfg.patience) and self.best.bad_evals >= self.cfg.patience

    def _stop(self, say: Callable[[str], Any]) -> None:
        self.stopped_early = (f"no improvement of {self.validator.key} in {self.best.bad_evals} evaluations "
                              f"(best {self.best.value:.6g} at step {self.best.step})")
        if self.dist.is_main:
            say(f"step {self.step}: stopping early: {self.stopped_early}")

    # ---- saving and restoring ----------------------------------------------------
    def _train_state(self) -> dict[str, Any]:
        rng: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {"step": self.step, "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
                "rng": rng, "lr_scale": self.lr_scale, "world_size": self.dist.world_size,
                "best": self.best.state_dict()}

    def _save_checkpoint(self, pbar: Any = None) -> None:
        """Rank 0 writes; under DDP every rank must call this (it gathers their RNG states)."""
        if self.ckpt_dir is None:
            return
        train_state = self._train_state()
        rng_ranks = ddp.gather_to_main(train_state["rng"])
        if not self.dist.is_main:
            return
        if self.dist.enabled:
            train_state["rng_ranks"] = rng_ranks
        state = self.model.state_dict()
        ema_state = self.ema.state_dict() if self.ema else None
        if not (ckpt.all_finite(state) and ckpt.all_finite(ema_state or {})
                and ckpt.all_finite(ckpt.state_tensors(train_state["optimizers"]))):
            if pbar is not None:
                pbar.write(f"step {self.step}: weights are not finite; checkpoint not written")
            return
        ckpt.write_checkpoint(self.ckpt_dir, self.step, model_state=state, ema_state=ema_state,
                              train_state=train_state, keep=self.cfg.keep_checkpoints,
                              best_state=self._best_state)

    def save_final(self) -> None:
        """Write ``model.safetensors`` (and ``ema.safetensors``) into the run directory."""
        if self.run_dir is None:
            return
        ckpt.save_weights(self.model.state_dict(), self.run_dir / "model.safetensors")
        if self.ema is not None:
            ckpt.save_weights(self.ema.state_dict(), self.run_dir / "ema.safetensors")

    def save_samples(self, path: Path, n: int = 64) -> None:
        from genzoo.report.render import save_samples

        g = torch.Generator().manual_seed(self.cfg.seed)
        ctx = self.ema.swapped(self.model) if self.ema is not None else contextlib.nullcontext()
        was_training = self.model.training
        self.model.eval()
        with ctx, torch.no_grad():
            x = self.model.sample(n, generator=g)
        self.model.train(was_training)
        save_samples(x.cpu(), self.model.spec, path, title=f"{self.model.name}, step {self.step}")

    def _has_checkpoint(self) -> bool:
        return self.ckpt_dir is not None and bool(ckpt.list_checkpoints(self.ckpt_dir))

    def _snapshot(self) -> dict[str, Any]:
        """In-memory copy of the starting state, for a rollback before the first checkpoint."""
        return {"model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
                "ema": self.ema.state_dict() if self.ema else None,
                "train": {**copy.deepcopy(self._train_state()), "rng_is_own": True}}

    def _restore(self, model_state: dict, ema_state: dict | None, train_state: dict[str, Any]) -> None:
        self.model.load_state_dict(model_state)
        if self.ema is not None and ema_state is not None:
            self.ema.load_state_dict(ema_state, updates=int(train_state["step"]))
        for k, o in self.optimizers.items():
            o.load_state_dict(train_state["optimizers"][k])
        self.step = int(train_state["step"])
        self.lr_scale = float(train_state.get("lr_scale", 1.0))
        rng = self._own_rng(train_state)
        if rng is not None:
            torch.set_rng_state(rng["torch"])
            random.setstate(rng["python"])
            if "cuda" in rng and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(rng["cuda"])
        else:  # no state saved for this rank (older checkpoint, other world size): re-derive
            torch.manual_seed(self.cfg.seed + 7919 * self.step + self.dist.rank)
            random.seed(self.cfg.seed + self.dist.rank)

    def _own_rng(self, train_state: dict[str, Any]) -> dict[str, Any] | None:
        """This rank's saved RNG states: from ``rng_ranks`` when the world size matches."""
        ranks = train_state.get("rng_ranks")
        if ranks is not None and len(ranks) == self.dist.world_size:
            return ranks[self.dist.rank]
        if self.dist.rank == 0 or train_state.get("rng_is_own"):
            return train_state["rng"]
        return None

    def _resume(self) -> None:
        if self.ckpt_dir is None:
            raise GenzooError("resume needs a run directory")
        ckpt.clean_temporaries(self.ckpt_dir)
        found = ckpt.list_checkpoints(self.ckpt_dir)
        if not found:
            raise GenzooError(f"nothing to resume: no complete checkpoint in {self.ckpt_dir}")
        _, path = found[-1]
        model_state, ema_state, train_state = ckpt.read_checkpoint(path)
        ckpt.load_state_dict_checked(self.model, model_state, path)
        missing = set(self.optimizers) - set(train_state.get("optimizers", {}))
        if missing:
            raise GenzooError(f"checkpoint {path} does not match this model's players (no optimizer "
                              f"state for {', '.join(sorted(missing))})")
        self._restore(model_state, ema_state, train_state)
        # The best state as of this checkpoint; best files written after it are replaced.
        self.best.load_state_dict(train_state.get("best"))
        self._best_state = ckpt.read_best(path)
        if self.dist.is_main and self.validator is not None:
            if self._best_state is not None and self.best.step is not None:
                write_best(self.run_dir, self._best_state, self._best_info())
            else:
                remove_best(self.run_dir)

    def _roll_back(self, why: str, pbar: Any, failed_at: int) -> None:
        """Go back to the last good state with half the learning rate, or give up."""
        self._watch.reset()
        self.retries += 1
        if self.retries > self.cfg.max_retries:
            raise TrainingDiverged(
                f"training diverged: {why} at step {failed_at}, still after {self.cfg.max_retries} "
                f"rollbacks with the learning rate halved each time; lower train.lr or check the data")
        new_scale = self.lr_scale * 0.5
        found = ckpt.list_checkpoints(self.ckpt_dir) if self.ckpt_dir is not None else []
        if found:
            self._restore(*ckpt.read_checkpoint(found[-1][1]))
        elif self._initial is not None:
            s = self._initial
            self._restore(s["model"], s["ema"], copy.deepcopy(s["train"]))
        self.lr_scale = new_scale
        msg = (f"step {failed_at}: {why}; rolled back to step {self.step} with learning rate x{new_scale:g} "
               f"(retry {self.retries} of {self.cfg.max_retries})")
        if self.dist.is_main:
            (pbar.write if self.progress else print)(msg)
