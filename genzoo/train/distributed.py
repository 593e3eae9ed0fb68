"""Several processes under torchrun: process-group set-up and who writes.

``torchrun --nproc_per_node N -m genzoo train ...`` sets WORLD_SIZE/RANK/LOCAL_RANK;
genzoo then joins a process group (gloo on CPU, nccl on CUDA), wraps the model in
DistributedDataParallel, gives each rank its slice of every global batch, and lets
only rank 0 write files.

When a worker dies, torchrun (``max_restarts=0`` by default) notices within its
``--monitor-interval`` (0.1 s) and terminates the others; the process group's timeout
(``train.dist_timeout``) bounds how long a survivor can wait in a collective when no
agent is there to stop it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: torch.device, timeout_s: float | None = None) -> DistInfo:
    """Join the process group if launched by torchrun; a no-op otherwise.

    ``timeout_s`` bounds every collective: a rank whose peers died gives up after it.
    """
    if not launched_by_torchrun():
        return DistInfo()
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)  # object collectives use the current device
        kw = {"timeout": timedelta(seconds=timeout_s)} if timeout_s else {}
        dist.init_process_group(backend=backend, **kw)
    info = DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return info


def resolve_device(name: str, info_local_rank: int | None = None) -> torch.device:
    """``auto`` picks cuda (one device per local rank), then mps, then cpu."""
    from genzoo.errors import GenzooError

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise GenzooError(f"device {name!r} asked for, but CUDA is not available here; use --device cpu")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise GenzooError(f"device {name!r} asked for, but MPS is not available here; use --device cpu")
    return dev


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def broadcast_flag(flag: bool) -> bool:
    """True on every rank if ``flag`` is true on any rank (for the NaN guard)."""
    if not dist.is_initialized():
        return flag
    t = torch.tensor([1.0 if flag else 0.0])
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def gather_to_main(obj: Any) -> list[Any] | None:
    """Every rank's ``obj`` as a list on rank 0 (None on the others); ``[obj]`` alone."""
    if not dist.is_initialized():
        return [obj]
    out: list[Any] | None = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(obj, out, dst=0)
    return out


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
