"""Two processes (torchrun, gloo on CPU) with the same global batch train the same
model as one process: each rank takes half of every global batch and DDP averages the
gradients. Only rank 0 writes the run directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
