"""Every shipped recipe resolves (names, keys and values check out)."""

from pathlib import Path

import pytest

from genzoo.run import resolve

RECIPE_DIR = Path(__file__).resolve().parents[1] / "recipes"


@pytest.mark.parametrize("path", sorted(RECIPE_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_recipe_resolves(path):
    run_config = resolve(recipe=path)
    assert run_config.model and run_config.data
