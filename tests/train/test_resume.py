"""Exact resume: a run killed with SIGKILL and resumed ends bitwise equal to one that
was never interrupted, and a kill during a save never leaves a checkpoint that resume
would pick up half-written.

The runs are real ``genzoo train`` processes; a small driver patches the trainer to
SIGKILL itself at a chosen step (or in the middle of writing a checkpoint).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from genzoo.train.checkpoint import list_checkpoints, load_weights

ROOT = Path(__file__).resolve().parents[2]
DRIVER = r'''
import os, signal, sys
from genzoo.train import checkpoint as ck
from genzoo.train import trainer as tr
kill_step, mode = int(os.environ.get("KILL_STEP", "-1")), os.environ.get("KILL_MODE", "step")
if mode == "step":
    orig = tr.Trainer._train_step
    def step(self, s, *a, **k):
        if s == kill_step:
            os.kill(os.getpid(), signal.SIGKILL)
        return orig(self, s, *a, **k)
    tr.Trainer._train_step = step
elif mode == "save":
    orig_save = ck.torch.save
    def save(obj, f, *a, **k):
        if isinstance(obj, dict) and obj.get("step") == kill_step:
            os.kill(os.getpid(), signal.SIGKILL)  # model.safetensors written, state.pt not
        return orig_save(obj, f, *a, **k)
    ck.torch.save = save
from genzoo.cli.main import main
sys.exit(main(sys.argv[1:]))
'''

MODELS = {
    # deterministic loss
    "made": ["--set", "hidden=32,32"],
    # stochastic loss (global RNG must be restored) and a learning-rate schedule
    "vae": ["--set", "hidden=32", "--set", "latent_dim=4", "--set", "arch=mlp",
            "--set", "train.schedule=cosine", "--set", "train.warmup=5"],
    # two players with their own optimizers, and EMA weights
    "dcgan": ["--set", "channels=8", "--set", "latent_dim=8", "--set", "train.ema=0.9"],
}


def _train(run_dir: Path, model: str, *extra: str, kill_step: int = -1, mode: str = "step",
           args: list[str] | None = None) -> int:
    env = {**os.environ, "KILL_STEP": str(kill_step), "KILL_MODE": mode, "PYTHONPATH": str(ROOT),
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-c", DRIVER, "train", model, "--data", "digits", "--run-dir", str(run_dir),
           "--no-progress", *(args if args is not None else
                              ["--steps", "30", "--batch-size", "32", "--checkpoint-every", "4", "--seed", "3",
                               *MODELS[model]]), *extra]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300).returncode


def _weights(run_dir: Path, name: str = "model.safetensors") -> dict[str, torch.Tensor]:
    return load_weights(run_dir / name)


def _assert_bitwise_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs after resume"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Uninterrupted runs, one per model."""
    out = {}
    for model in MODELS:
        d = tmp_path_factory.mktemp("ref") / model
        assert _train(d, model) == 0
        out[model] = d
    return out


@pytest.mark.parametrize("model,kill_step", [("made", 13), ("vae", 9), ("dcgan", 21)])
def test_sigkill_then_resume_is_bitwise_identical(tmp_path, reference, model, kill_step):
    run = tmp_path / "run"
    rc = _train(run, model, kill_step=kill_step)
    assert rc == -signal.SIGKILL
    assert not (run / "model.safetensors").exists()
    assert _train(run, model, "--resume") == 0
    _assert_bitwise_equal(_weights(run), _weights(reference[model]))
    if model == "dcgan":
        _assert_bitwise_equal(_weights(run, "ema.safetensors"), _weights(reference[model], "ema.safetensors"))


def test_kill_during_save_leaves_no_half_checkpoint(tmp_path, reference):
    run = tmp_path / "run"
    assert _train(run, "made", kill_step=12, mode="save") == -signal.SIGKILL
    steps = [s for s, _ in list_checkpoints(run / "checkpoints")]
    assert steps == [4, 8], steps  # step 12 was being written: invisible
    assert any(p.name.startswith(".tmp-step-12") for p in (run / "checkpoints").iterdir())
    assert _train(run, "made", "--resume") == 0
    _assert_bitwise_equal(_weights(run), _weights(reference["made"]))
    assert not any(p.name.startswith(".tmp") for p in (run / "checkpoints").iterdir())


def test_resume_refuses_a_different_config(tmp_path, reference):
    from genzoo.cli.main import main

    run = tmp_path / "run"
    assert _train(run, "made", kill_step=6) == -signal.SIGKILL
    assert main(["train", "--run-dir", str(run), "--resume", "--set", "hidden=64,64"]) == 2
    assert main(["train", "vae", "--run-dir", str(run), "--resume"]) == 2


# Validation every 5 steps with patience 3 on a MADE that overfits its small training
# split: the best is at step 35 and training stops at step 50 (see test_validation.py).
VALIDATED = ["--steps", "300", "--batch-size", "32", "--seed", "1", "--checkpoint-every", "10",
             "--set", "hidden=128", "--set", "train.lr=0.03", "--set", "data.valid_fraction=0.8",
             "--set", "train.ema=0.5", "--set", "train.eval_every=5", "--set", "train.patience=3"]


def _best(run: Path) -> tuple[dict, dict, list]:
    rows = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines() if "valid/" in ln]
    return json.loads((run / "best.json").read_text()), _weights(run, "best.safetensors"), rows


def test_sigkill_then_resume_keeps_the_best_state_and_stopping_step(tmp_path):
    ref, run = tmp_path / "ref", tmp_path / "run"
    assert _train(ref, "made", args=VALIDATED) == 0
    ref_info, ref_best, ref_rows = _best(ref)
    assert ref_info["step"] < ref_rows[-1]["step"] < 300  # stopped early, after its best
    # Killed after an evaluation without improvement that the last checkpoint (step 40)
    # also saw, so the resumed run must take the best and the patience count from it.
    kill = ref_info["step"] + 2 * 5 + 2
    assert kill < ref_rows[-1]["step"]
    assert _train(run, "made", args=VALIDATED, kill_step=kill) == -signal.SIGKILL
    assert max(s for s, _ in list_checkpoints(run / "checkpoints")) > ref_info["step"]
    assert _train(run, "made", "--resume", args=VALIDATED) == 0
    info, best, rows = _best(run)
    assert info == ref_info and rows == ref_rows
    _assert_bitwise_equal(best, ref_best)
    _assert_bitwise_equal(_weights(run), _weights(ref))
    # Resuming a run that stopped early stops again at once, without training.
    assert _train(run, "made", "--resume", args=VALIDATED) == 0
    _assert_bitwise_equal(_weights(run), _weights(ref))


def test_every_ranks_random_state_is_saved_and_each_rank_restores_its_own(tmp_path, monkeypatch):
    """Under DDP rank 0 gathers every rank's RNG states into state.pt; on resume rank r
    takes entry r (with another world size it re-derives its states from the seed)."""
    import random

    from genzoo.data.dataset import load_dataset
    from genzoo.models.registry import build_model
    from genzoo.train import distributed as ddp
    from genzoo.train.checkpoint import read_checkpoint
    from genzoo.train.config import TrainConfig
    from genzoo.train.trainer import Trainer

    saved_torch, saved_py = torch.get_rng_state(), random.getstate()
    other = {"torch": torch.Generator().manual_seed(99).get_state(), "python": random.Random(99).getstate()}
    monkeypatch.setattr(ddp, "gather_to_main", lambda own: [own, other])
    data = load_dataset("digits")
    try:
        tr = Trainer(build_model("made", data.spec, {"hidden": "8"}), data,
                     TrainConfig(steps=4, batch_size=16, checkpoint_every=2), run_dir=tmp_path, progress=False)
        tr.dist = ddp.DistInfo(rank=0, world_size=2)  # as rank 0 of two (no process group needed)
        tr.fit()
        _, _, state = read_checkpoint(tmp_path / "checkpoints" / "step-4")
        assert len(state["rng_ranks"]) == 2
        assert torch.equal(state["rng_ranks"][0]["torch"], state["rng"]["torch"])
        assert torch.equal(state["rng_ranks"][1]["torch"], other["torch"])

        tr.dist = ddp.DistInfo(rank=1, world_size=2)
        tr._restore(*read_checkpoint(tmp_path / "checkpoints" / "step-4"))
        assert torch.equal(torch.get_rng_state(), other["torch"]) and random.getstate() == other["python"]
        tr.dist = ddp.DistInfo(rank=0, world_size=2)
        tr._restore(*read_checkpoint(tmp_path / "checkpoints" / "step-4"))
        assert torch.equal(torch.get_rng_state(), state["rng"]["torch"])
        tr.dist = ddp.DistInfo(rank=1, world_size=3)  # another world size: re-derived, not rank 1's
        tr._restore(*read_checkpoint(tmp_path / "checkpoints" / "step-4"))
        assert not torch.equal(torch.get_rng_state(), other["torch"])
    finally:
        torch.set_rng_state(saved_torch)
        random.setstate(saved_py)
