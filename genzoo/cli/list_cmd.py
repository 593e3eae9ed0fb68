"""List the registered models and datasets."""

from __future__ import annotations

import argparse

HELP = "list models and datasets"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", nargs="?", choices=["models", "datasets"], help="only one of the two")


def execute(args: argparse.Namespace) -> int:
    from genzoo.data.dataset import dataset_entry, dataset_names
    from genzoo.models.registry import get_model_class, model_names

    if args.what in (None, "models"):
        print("models:")
        w = max(len(n) for n in model_names())
        for name in model_names():
            cls = get_model_class(name)
            lik = cls.likelihood or "none"
            accepts = ", ".join(f"{'any' if k == '*' else k}/{'any' if v == '*' else v}" for k, v in cls.accepts)
            doc = (cls.__doc__ or "").strip().splitlines()[0].replace("``", "") if cls.__doc__ else ""
            print(f"  {name:<{w}} {cls.family:<15} likelihood={lik:<9} accepts {accepts}")
            if doc:
                print(f"  {'':<{w}} {doc}")
    if args.what in (None, "datasets"):
        print("datasets:")
        for name in dataset_names():
            print(f"  {name:<16} {dataset_entry(name)[2]}")
    return 0
