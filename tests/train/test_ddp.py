"""Two processes (torchrun, gloo on CPU) with the same global batch train the same
model as one process: each rank takes half of every global batch and DDP averages the
gradients. Only rank 0 writes the run directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from genzoo.train.checkpoint import load_weights

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["train", "made", "--data", "digits", "--steps", "25", "--batch-size", "32", "--seed", "1",
        "--no-progress", "--checkpoint-every", "10", "--set", "hidden=48,48", "--device", "cpu"]


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def test_two_processes_match_one(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    r1 = _run([sys.executable, "-m", "genzoo", *ARGS, "--run-dir", str(one)])
    assert r1.returncode == 0, r1.stderr
    r2 = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "genzoo", *ARGS, "--run-dir", str(two)])
    assert r2.returncode == 0, r2.stderr[-3000:]
    assert "2 processes" in r2.stdout
    a, b = load_weights(one / "model.safetensors"), load_weights(two / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        # same math, different summation order in the all-reduce: equal to float tolerance
        assert torch.allclose(a[k], b[k], atol=1e-5, rtol=1e-4), k
    assert sum(1 for _ in (two / "checkpoints").iterdir()) >= 1
    # rank 0 alone wrote the metrics: one row per logged step, no duplicates
    steps = [line for line in (two / "metrics.jsonl").read_text().splitlines() if line]
    assert len(steps) == len({s for s in steps})


def test_several_processes_need_a_run_dir(tmp_path):
    r = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
              "-m", "genzoo", *ARGS])
    assert r.returncode != 0
    assert "give --run-dir" in r.stderr


KILL_DRIVER = r'''
import os, signal, sys, time
from genzoo.train import trainer as tr
orig = tr.Trainer._train_step
def step(self, s, *a, **k):
    if s == int(os.environ["KILL_STEP"]) and self.dist.rank == int(os.environ["KILL_RANK"]):
        open(os.environ["KILL_STAMP"], "w").write(repr(time.time()))
        os.kill(os.getpid(), signal.SIGKILL)
    return orig(self, s, *a, **k)
tr.Trainer._train_step = step
from genzoo.cli.main import main
sys.exit(main(sys.argv[1:]))
'''
VAE = ["train", "vae", "--data", "digits", "--steps", "20", "--batch-size", "32", "--seed", "2", "--no-progress",
       "--checkpoint-every", "5", "--device", "cpu", "--set", "arch=mlp", "--set", "hidden=16", "--set", "latent_dim=4"]


@pytest.mark.slow
def test_killed_worker_stops_the_run_and_two_process_resume_is_bitwise_exact(tmp_path):
    """Rank 1 draws its own noise (a VAE): only its saved RNG state makes the resumed
    run bitwise equal to the uninterrupted one."""
    import time

    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    ref, run, driver, stamp = tmp_path / "ref", tmp_path / "run", tmp_path / "driver.py", tmp_path / "stamp"
    driver.write_text(KILL_DRIVER)
    r = _run([*torchrun, "-m", "genzoo", *VAE, "--run-dir", str(ref)])
    assert r.returncode == 0, r.stderr[-3000:]
    os.environ.update(KILL_STEP="13", KILL_RANK="1", KILL_STAMP=str(stamp))
    try:
        r = _run([*torchrun, str(driver), *VAE, "--run-dir", str(run)])
        stopped = time.time() - float(stamp.read_text())
    finally:
        for k in ("KILL_STEP", "KILL_RANK", "KILL_STAMP"):
            os.environ.pop(k)
    assert r.returncode != 0 and stopped < 10, stopped
    assert not (run / "model.safetensors").exists()
    r = _run([*torchrun, "-m", "genzoo", "train", "--run-dir", str(run), "--resume", "--no-progress"])
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resuming at step 10" in r.stdout
    a, b = load_weights(ref / "model.safetensors"), load_weights(run / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a), "two-process resume is not bitwise exact"
