"""The dependency rule, checked from the imports: a package never imports one above it.

    cli > tasks, serve > run > train, evaluate > models > nn, report > data > config, errors

Packages on one floor may use each other. Every import counts, including the ones inside
functions (genzoo defers heavy imports), so the rule holds for every code path.
"""

from __future__ import annotations

import ast
from pathlib import Path

import genzoo

FLOORS = {
    "config": 0, "errors": 0,
    "data": 1,
    "nn": 2, "report": 2,
    "models": 3,
    "train": 4, "evaluate": 4,
    "run": 5,
    "tasks": 6, "serve": 6,
    "cli": 7,
    "__main__": 8,
    "__init__": 0,  # genzoo/__init__.py: the version and nothing else
}
ROOT = Path(genzoo.__file__).parent


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "genzoo" and len(parts) > 1 else None


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            if node.module == "genzoo":  # from genzoo import run (not __version__)
                found += [(node.lineno, f"genzoo.{a.name}") for a in node.names if a.name in FLOORS]
    return found


def upward_imports() -> list[str]:
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        src = rel.parts[0].removesuffix(".py")
        for line, module in _imports(path):
            dst = _package(module)
            if dst is None or dst == src:
                continue
            if dst not in FLOORS or src not in FLOORS:
                bad.append(f"genzoo/{rel}:{line}: package {src if src not in FLOORS else dst!r} has no floor")
            elif FLOORS[dst] > FLOORS[src]:
                bad.append(f"genzoo/{rel}:{line}: {src} imports {module} (a higher floor)")
    return bad


def test_no_package_imports_a_higher_floor():
    assert upward_imports() == []


def test_every_package_has_a_floor():
    packages = {p.name.removesuffix(".py") for p in ROOT.iterdir()
                if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"}
    assert packages <= set(FLOORS), packages - set(FLOORS)


def test_the_check_catches_an_upward_import(tmp_path, monkeypatch):
    """The checker itself can fail: a models module importing the cli is reported."""
    fake = tmp_path / "genzoo"
    (fake / "models").mkdir(parents=True)
    (fake / "models" / "bad.py").write_text("def f():\n    from genzoo.cli import main\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", fake)
    assert upward_imports() == ["genzoo/models/bad.py:2: models imports genzoo.cli (a higher floor)"]


def test_families_keep_their_layers():
    """nn/ holds only what several families share; a family's own layers live in its folder."""
    shared = sorted(p.stem for p in (ROOT / "nn").glob("*.py") if p.stem != "__init__")
    assert shared == ["modes", "rand", "text", "values"]
    # text.py (the caption encoder) is there because two families use it
    users = {f.parent.name for f in (ROOT / "models").rglob("*.py") if "genzoo.nn.text" in f.read_text()}
    assert {"adversarial", "diffusion"} <= users
