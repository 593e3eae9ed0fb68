"""Every shipped recipe resolves (names, keys and values check out), and the quickstart
uses exactly the recipes it ships."""

from pathlib import Path

import pytest
import yaml

from genzoo.cli.quickstart_cmd import RECIPES
from genzoo.run import resolve

RECIPE_DIR = Path(__file__).resolve().parents[1] / "recipes"


@pytest.mark.parametrize("path", sorted(RECIPE_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_recipe_resolves(path):
    run = resolve(recipe=path)
    assert run.model and run.data


@pytest.mark.parametrize("model", sorted(RECIPES))
def test_quickstart_matches_its_recipe_file(model):
    rec = yaml.safe_load((RECIPE_DIR / f"{model}-digits.yaml").read_text())
    assert {k: v for k, v in rec["model"].items() if k != "name"} == RECIPES[model]["model"]
    assert rec["train"] == RECIPES[model]["train"]
