"""The bench on diffusion entries: the bounds (ddpm, d3pm) and the ODE estimate
(flow_matching) come out labelled as such beside the sample metrics, as for every other
family; ncsn has no likelihood and is judged by its samples."""

from __future__ import annotations

import json
import math

import torch

from genzoo.tasks.bench import load_suite, run_suite


def test_bench_evaluates_the_four_diffusion_models(tmp_path, capsys):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convolutions: thread hand-offs only cost on a busy machine
    try:
        net = {"channels": 8, "channel_mults": [1, 2], "attention": False, "conditional": False, "sample_steps": 3}
        suite = {"name": "tiny-diffusion", "data": {"name": "digits"},  # shipped features
                 "train": {"steps": 3, "batch_size": 16},
                 "evaluate": {"metrics": ["nll", "fid", "kid", "cas"], "samples": 40},
                 "entries": [{"model": "ddpm", "config": {**net, "timesteps": 20, "vlb_samples": 2}},
                             {"model": "flow_matching", "config": {**net, "likelihood_steps": 2}},
                             {"model": "ncsn", "config": {**net, "levels": 2, "sample_steps": 2}},
                             {"model": "d3pm", "config": {"channels": 8, "channel_mults": [1, 2], "attention": False,
                                                          "timesteps": 20, "sample_steps": 4, "vlb_samples": 2}}]}
        path = tmp_path / "suite.yaml"
        path.write_text(json.dumps(suite))  # YAML is a superset of JSON
        out = run_suite(*load_suite(str(path)), tmp_path / "bench", progress=False, log=lambda *a: None)
    finally:
        torch.set_num_threads(threads)
    ddpm, fm, ncsn, d3pm = (r["metrics"] for r in out["results"])
    assert ddpm["nll"]["kind"] == "bound" and "2 sampled t" in ddpm["nll"]["note"]
    assert fm["nll"]["kind"] == "estimate" and "probability-flow ODE, 2 heun steps" in fm["nll"]["note"]
    assert d3pm["nll"]["kind"] == "bound" and "absorbing" in d3pm["nll"]["note"]
    assert "nll" not in ncsn
    for m in (ddpm, fm, d3pm):
        assert math.isfinite(m["nll"]["nll_nats"]) and m["nll"]["nll_nats"] > 0
    for m in (ddpm, fm, ncsn, d3pm):
        assert math.isfinite(m["fid"]["value"]) and m["fid"]["samples"] == 40
        assert "cas" not in m  # unconditional: no classification accuracy score
    capsys.readouterr()


def test_the_shipped_quick_suite_has_every_diffusion_model():
    suite, *_ = load_suite("quick")
    models = [e.get("model") for e in suite["entries"]]
    assert {"ddpm", "flow_matching", "ncsn", "d3pm"} <= set(models)
