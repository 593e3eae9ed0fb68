"""The arguments of every command that loads a trained run: ``--weights`` and ``--data-dir``."""

from __future__ import annotations

import argparse
from typing import Any

#: which weights of a run to load (:func:`genzoo.run.load_run`): ``auto`` (best, else
#: EMA, else the final weights), ``model``, ``ema``, or ``best`` (the best validation score's).
WEIGHTS = ("auto", "model", "ema", "best")


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """Add ``--weights`` and ``--data-dir`` to a command that loads a run."""
    p.add_argument("--weights", choices=WEIGHTS, default="auto",
                   help="auto (default): the best validation weights when the run has them, else "
                        "the EMA weights, else the final ones; or model, ema, best")
    p.add_argument("--data-dir", help="where the dataset files are (default: as in training)")


def load_run_from_args(path: str, args: argparse.Namespace, *, device: str = "cpu") -> Any:
    """:func:`genzoo.run.load_run` with the command's ``--weights``, its data read from
    ``--data-dir`` when given."""
    from genzoo.run import load_run

    loaded = load_run(path, weights=args.weights, device=device)
    if args.data_dir:
        loaded.config.data_dir = args.data_dir
    return loaded
