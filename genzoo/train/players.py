"""What the trainer builds around a model's players before the loop: one optimizer per
player, the module DDP wraps (player losses routed through ``forward``), and
SyncBatchNorm under DDP."""

from __future__ import annotations

import torch
from torch import nn

from genzoo.errors import GenzooError
from genzoo.models.base import Batch, GenerativeModel, Player
from genzoo.train import distributed as ddp
from genzoo.train.config import TrainConfig


def sync_batchnorm(model: GenerativeModel, cfg: TrainConfig, dist: ddp.DistInfo,
                    device: torch.device) -> None:
    """Swap BatchNorm layers for SyncBatchNorm under DDP (in place; same parameters)."""
    if not cfg.sync_batchnorm:
        return
    norms = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
    if not any(isinstance(m, norms) for m in model.modules()):
        raise GenzooError(f"train.sync_batchnorm is set, but {model.name} has no BatchNorm layer")
    if not dist.enabled:
        return  # one process: plain BatchNorm already sees the whole batch
    if device.type != "cuda":
        raise GenzooError("train.sync_batchnorm needs CUDA devices (PyTorch's SyncBatchNorm does not run "
                          "on CPU); set train.sync_batchnorm=false")
    for name, child in model.named_children():  # the model itself stays a GenerativeModel
        model.add_module(name, nn.SyncBatchNorm.convert_sync_batchnorm(child))


class PlayerForward(nn.Module):
    """Routes player losses through ``forward`` so DistributedDataParallel sees them."""

    def __init__(self, model: GenerativeModel, players: list[Player]):
        super().__init__()
        self.model = model
        self._losses = [p.loss for p in players]

    def forward(self, batch: Batch, index: int) -> dict[str, torch.Tensor]:
        return self._losses[index](batch)


def make_optimizer(player: Player, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The player's optimizer from the train config (its own lr and betas when it has them);
    every group remembers ``base_lr`` for the schedule."""
    lr = player.lr if player.lr is not None else cfg.lr
    betas = player.betas if player.betas is not None else cfg.betas
    params = list(player.parameters)
    # The fused kernels run on CPU and CUDA and need floating-point parameters.
    fused = {"fused": True} if cfg.fused and params and all(
        p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params) else {}
    if cfg.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=cfg.weight_decay, **fused)
    elif cfg.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=cfg.weight_decay, **fused)
    else:
        opt = torch.optim.SGD(params, lr=lr, momentum=betas[0], weight_decay=cfg.weight_decay)
    for g in opt.param_groups:
        g["base_lr"] = lr
    return opt
