"""genzoo: the whole taxonomy of generative models behind one interface.

The Python API mirrors the command line::

    import genzoo
    data = genzoo.load_dataset("digits")
    model = genzoo.build_model("made", data.spec)
    genzoo.Trainer(model, data, genzoo.TrainConfig(steps=500)).fit()
    x = model.sample(16, generator=torch.Generator().manual_seed(0))

Importing genzoo does no work: submodules load on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "load_dataset": ("genzoo.data.dataset", "load_dataset"),
    "dataset_names": ("genzoo.data.dataset", "dataset_names"),
    "DataSpec": ("genzoo.data.spec", "DataSpec"),
    "build_model": ("genzoo.models.registry", "build_model"),
    "model_names": ("genzoo.models.registry", "model_names"),
    "GenerativeModel": ("genzoo.models.base", "GenerativeModel"),
    "Player": ("genzoo.models.base", "Player"),
    "Trainer": ("genzoo.train.trainer", "Trainer"),
    "TrainConfig": ("genzoo.train.config", "TrainConfig"),
    "load_run": ("genzoo.run", "load_run"),
    "GenzooError": ("genzoo.errors", "GenzooError"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(mod), attr)
    raise AttributeError(f"module 'genzoo' has no attribute {name!r}")
