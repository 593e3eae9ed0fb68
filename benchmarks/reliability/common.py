"""What the reliability scripts share: running ``genzoo train`` as a separate process
that may be SIGKILLed at a planned point, comparing weights bit for bit, and scanning a
run directory for non-finite values.

Processes are forked from this already-initialised interpreter (torch, genzoo and the
dataset imported once), which saves several seconds of start-up per run; each child is
a real process that runs the real ``genzoo train`` command line and dies by a real
SIGKILL.
"""

from __future__ import annotations

import math
import os
import platform
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)
os.environ.setdefault("OMP_NUM_THREADS", "1")

import _driver  # noqa: E402
import torch  # noqa: E402

from genzoo.cli.main import main as genzoo_main  # noqa: E402
from genzoo.train.checkpoint import list_checkpoints, load_weights, read_checkpoint  # noqa: E402

torch.set_num_threads(1)


def warm_up() -> None:
    """Import what a training run imports, so forked children start fast."""
    import genzoo.report.render  # noqa: F401
    import genzoo.train.trainer  # noqa: F401
    from genzoo.data.dataset import load_dataset

    load_dataset("digits")


def train(argv: list[str], *, plan: dict | None = None, env: dict[str, str] | None = None,
          log: Path | None = None, count_path: Path | None = None) -> int:
    """Run ``genzoo train ARGV`` in a forked child; its exit code, or -signal if killed."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child never returns
        rc = 70
        try:
            fd = os.open(str(log) if log else os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.environ.update(env or {})
            finish = _driver.install(plan, str(count_path) if count_path else None)
            rc = genzoo_main(["train", *argv])
            finish()
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(rc)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def bitwise_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def same_weights(run: Path, reference: Path) -> bool:
    """model.safetensors (and ema.safetensors, when present) bitwise equal."""
    names = ["model.safetensors"] + (["ema.safetensors"] if (reference / "ema.safetensors").exists() else [])
    return all((run / n).exists() and bitwise_equal(load_weights(run / n), load_weights(reference / n))
               for n in names)


def non_finite_files(run: Path) -> list[str]:
    """Every .safetensors and state.pt under ``run`` that holds a non-finite float."""
    from genzoo.train.checkpoint import state_tensors

    bad = []
    for f in sorted(run.rglob("*")):
        if f.suffix == ".safetensors":
            tensors = load_weights(f)
        elif f.name == "state.pt":
            tensors = state_tensors(torch.load(f, map_location="cpu", weights_only=True))
        else:
            continue
        if not all(bool(torch.isfinite(t).all()) for t in tensors.values() if t.is_floating_point()):
            bad.append(str(f.relative_to(run)))
    return bad


def newest_checkpoint_usable(ckpt_dir: Path) -> tuple[int | None, str]:
    """(step of the newest complete checkpoint, '' if usable or why not)."""
    found = list_checkpoints(ckpt_dir)
    if not found:
        return None, ""
    step, path = found[-1]
    try:
        model, ema, state = read_checkpoint(path)
    except Exception as e:  # noqa: BLE001 - any failure to read is what we count
        return step, f"unreadable: {e}"
    if int(state.get("step", -1)) != step:
        return step, f"state.pt says step {state.get('step')}"
    tensors = {**model, **(ema or {})}
    if not all(bool(torch.isfinite(t).all()) for t in tensors.values() if t.is_floating_point()):
        return step, "non-finite weights"
    return step, ""


def machine() -> str:
    return (f"{platform.machine()} {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, torch "
            f"{torch.__version__}, {time.strftime('%Y-%m-%d')}")


def print_table(rows: list[dict[str, Any]], cols: list[str]) -> None:
    from genzoo.report.tables import format_table

    print(format_table(rows, cols))


def fmt_seconds(s: float) -> str:
    return "-" if math.isnan(s) else f"{s:.1f}"


def report(rows: list[dict[str, Any]], summary: str, work: Path, *, keep: bool) -> None:
    """Print the per-run table and the summary line; remove the run directories unless kept."""
    print()
    print_table(rows, list(rows[0]))
    print(f"\n{summary}")
    if keep:
        print(f"run directories: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
