"""Every shipped recipe resolves (names, keys and values check out)."""

from pathlib import Path

import pytest

from genzoo.run import resolve

RECIPE_DIR = Path(__file__).resolve().parents[1] / "recipes"


@pytest.mark.parametrize("path", sorted(RECIPE_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_recipe_resolves(path):
    run_config = resolve(recipe=path)
    assert run_config.model and run_config.data


GPU_RECIPES = sorted(RECIPE_DIR.glob("*-gpu.yaml"))


@pytest.mark.slow
@pytest.mark.parametrize("path", GPU_RECIPES, ids=lambda p: p.name)
def test_gpu_recipe_builds_and_trains_a_few_steps_on_cpu(path, shared_data, tmp_path):
    """A GPU recipe cannot rot unnoticed: its full-size model builds and takes a few steps
    on the CPU (device, AMP and compile switched off, a small batch); the loss is finite."""
    import math

    import torch

    from genzoo.run import build, load_data
    from genzoo.train.trainer import Trainer

    flags = {"device": "cpu", "amp": "none", "compile": False, "steps": 2, "batch_size": 4,
             "checkpoint_every": 0, "eval_every": 0, "patience": 0, "sample_every": 0, "log_every": 1}
    run_config = resolve(recipe=path, train_flags=flags, data_dir=str(shared_data / run_data_dir(path)))
    data = load_data(run_config, download=False)
    model = build(run_config, data.spec)
    result = Trainer(model, data, run_config.train, run_dir=tmp_path, progress=False).fit()
    assert result["steps"] == 2
    losses = [v for k, v in result["metrics"].items() if k.endswith("/loss")]
    assert losses and all(math.isfinite(v) for v in losses)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def run_data_dir(path: Path) -> str:
    """The ../shared/data folder a recipe's dataset reads."""
    return resolve(recipe=path).data
