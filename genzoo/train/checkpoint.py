"""Checkpoints that are either complete or invisible.

A checkpoint is a directory ``checkpoints/step-N/`` holding

* ``model.safetensors`` (and ``ema.safetensors``): weights and buffers,
* ``best.safetensors`` when validation has chosen best weights so far (resume puts them
  back as the run's ``best.safetensors``, so a resumed run keeps exactly its best),
* ``state.pt``: optimizer states, step, RNG states, learning-rate scale, retries;
  plain tensors and numbers only, read back with ``torch.load(weights_only=True)``,
* ``meta.json``: step and wall time, for people.

It is written under ``checkpoints/.tmp-step-N-PID`` and renamed when every file is on
disk, so a kill during a save leaves only a temp directory that resume ignores. Old
checkpoints are renamed away (``.del-step-N``) before they are deleted, and one being
replaced (``.old-step-N``, after a rollback) is put back if the kill came between the two
renames, so every ``step-N`` directory is always complete.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from genzoo.errors import CheckpointError

_STEP_DIR = re.compile(r"^step-(\d+)$")


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def tensors_for_save(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CPU, contiguous, unshared copies (safetensors refuses shared storage)."""
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}


def save_weights(state: dict[str, torch.Tensor], path: Path) -> None:
    """Write a safetensors file atomically (temp file, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    save_file(tensors_for_save(state), str(tmp))
    _fsync_file(tmp)
    os.replace(tmp, path)


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file, turning damage into a one-line CheckpointError."""
    if not path.is_file():
        raise CheckpointError(f"weights file not found: {path}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"weights file {path} is corrupt or truncated ({str(e).splitlines()[0]})") from None


def load_state_dict_checked(module: torch.nn.Module, state: dict[str, torch.Tensor], source: Path) -> None:
    """Load weights, naming the first mismatch instead of printing a traceback."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        what = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise CheckpointError(f"weights in {source} do not match the model ({what}); "
                              "was it trained with a different model or config?")
    for k, v in state.items():
        if own[k].shape != v.shape:
            raise CheckpointError(f"weights in {source} do not match the model: {k} has shape "
                                  f"{tuple(v.shape)}, the model expects {tuple(own[k].shape)}")
    module.load_state_dict(state)


def all_finite(state: dict[str, torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in state.values() if v.is_floating_point())


def state_tensors(obj: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    """The tensors inside nested dicts and lists (an optimizer's state), by path."""
    if isinstance(obj, torch.Tensor):
        return {prefix: obj}
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple)) else ()
    out: dict[str, torch.Tensor] = {}
    for k, v in items:
        out.update(state_tensors(v, f"{prefix}.{k}"))
    return out


def list_checkpoints(ckpt_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints, oldest first. Temp directories are not listed."""
    if not ckpt_dir.is_dir():
        return []
    out = []
    for p in ckpt_dir.iterdir():
        m = _STEP_DIR.match(p.name)
        if m and p.is_dir():
            out.append((int(m.group(1)), p))
    return sorted(out)


def write_checkpoint(ckpt_dir: Path, step: int, *, model_state: dict[str, torch.Tensor],
                     ema_state: dict[str, torch.Tensor] | None, train_state: dict[str, Any],
                     keep: int, best_state: dict[str, torch.Tensor] | None = None) -> Path:
    """Write ``step-N`` atomically and prune to the newest ``keep`` checkpoints."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    tmp = ckpt_dir / f".tmp-step-{step}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    save_file(tensors_for_save(model_state), str(tmp / "model.safetensors"))
    if ema_state is not None:
        save_file(tensors_for_save(ema_state), str(tmp / "ema.safetensors"))
    if best_state is not None:
        save_file(tensors_for_save(best_state), str(tmp / "best.safetensors"))
    torch.save(train_state, tmp / "state.pt")
    (tmp / "meta.json").write_text(json.dumps({"step": step, "time": time.time()}))
    for f in tmp.iterdir():
        _fsync_file(f)
    _fsync_dir(tmp)
    final = ckpt_dir / f"step-{step}"
    if final.exists():  # after a rollback the same step can be saved again
        old = ckpt_dir / f".old-step-{step}-{os.getpid()}"
        os.replace(final, old)
        os.replace(tmp, final)
        _delete(old, step)
    else:
        os.replace(tmp, final)
    _fsync_dir(ckpt_dir)
    for s, p in list_checkpoints(ckpt_dir)[:-keep]:
        _delete(p, s)
    return final


def _delete(path: Path, step: int) -> None:
    """Rename, then delete: a half-deleted directory never keeps a name resume trusts."""
    gone = path.with_name(f".del-step-{step}-{os.getpid()}")
    os.replace(path, gone)
    shutil.rmtree(gone, ignore_errors=True)


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None, dict[str, Any]]:
    """Read (model_state, ema_state or None, train_state) from a checkpoint directory."""
    model_state = load_weights(path / "model.safetensors")
    ema_path = path / "ema.safetensors"
    ema_state = load_weights(ema_path) if ema_path.exists() else None
    try:
        train_state = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} has no state.pt") from None
    except Exception as e:  # unpickling errors come in many types
        raise CheckpointError(f"checkpoint {path}/state.pt is corrupt ({str(e).splitlines()[0][:120]})") from None
    return model_state, ema_state, train_state


def read_best(path: Path) -> dict[str, torch.Tensor] | None:
    """The best weights saved in checkpoint ``path`` (None when it holds none)."""
    f = path / "best.safetensors"
    return load_weights(f) if f.exists() else None


def clean_temporaries(ckpt_dir: Path) -> None:
    """Remove half-written checkpoints left by a killed process.

    A ``.old-step-N`` whose ``step-N`` is missing was killed between the two renames of
    a replacement: it is the complete previous version, so it is put back.
    """
    if not ckpt_dir.is_dir():
        return
    for p in sorted(ckpt_dir.iterdir()):
        m = re.match(r"^\.old-step-(\d+)-\d+$", p.name)
        final = ckpt_dir / f"step-{m.group(1)}" if m else None
        if final is not None and not final.exists():
            os.replace(p, final)
        elif p.name.startswith((".tmp-step-", ".old-step-", ".del-step-")):
            shutil.rmtree(p, ignore_errors=True)
