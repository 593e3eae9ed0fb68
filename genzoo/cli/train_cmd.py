"""Train a model on a dataset and write a run directory.

Examples:
  genzoo train made --data digits --steps 2000
  genzoo train vae --data mnist --data-dir ~/mnist --set latent_dim=32 --set train.lr=5e-4
  genzoo train --config recipes/made-binarized_mnist-cpu.yaml
  genzoo train --run-dir runs/made-digits --resume --steps 4000
  torchrun --nproc_per_node 2 -m genzoo train made --data digits --run-dir runs/ddp
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

HELP = "train a model and write a run directory"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", nargs="?", help="model name (genzoo list models); optional with --config or --resume")
    p.add_argument("--data", help="dataset name (default: digits)")
    p.add_argument("--data-dir", help="directory holding (or receiving) the dataset files")
    p.add_argument("--config", help="a recipe YAML file (sections model, data, train)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a model, train.* or data.* setting (repeatable)")
    p.add_argument("--steps", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--checkpoint-every", type=int)
    p.add_argument("--run-dir", help="where to write the run (default: runs/<model>-<data>[-N])")
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint")
    p.add_argument("--offline", action="store_true", help="never download data")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def execute(args: argparse.Namespace) -> int:
    import torch

    from genzoo import run as runs
    from genzoo.config import split_overrides
    from genzoo.errors import GenzooError
    from genzoo.train import distributed as ddp
    from genzoo.train.trainer import Trainer

    overrides = split_overrides(args.set)
    flags = {"steps": args.steps, "batch_size": args.batch_size, "seed": args.seed, "device": args.device,
             "checkpoint_every": args.checkpoint_every}
    run_dir = Path(args.run_dir) if args.run_dir else None
    if args.resume:
        if run_dir is None:
            raise GenzooError("--resume needs --run-dir (the run to continue)")
        saved = runs.runconfig_from_dict(runs.read_config(run_dir))
        base = {"model": {"name": saved.model, **dataclasses.asdict(saved.model_config)},
                "data": {"name": saved.data, **dataclasses.asdict(saved.data_options)},
                "train": dataclasses.asdict(saved.train)}
        run_config = runs.resolve(args.model, args.data, recipe=base, overrides=overrides, train_flags=flags,
                            data_dir=args.data_dir or saved.data_dir)
        runs.check_resumable(saved, run_config)
    else:
        run_config = runs.resolve(args.model, args.data, recipe=args.config, overrides=overrides, train_flags=flags,
                            data_dir=args.data_dir)
        if ddp.launched_by_torchrun() and run_dir is None:
            raise GenzooError("give --run-dir when training with several processes")
        if run_dir is None:
            run_dir = runs.new_run_dir("runs", run_config.model, run_config.data)
        elif run_dir.exists() and any(run_dir.iterdir()):
            raise GenzooError(f"run directory {run_dir} already exists and is not empty; "
                              "use --resume to continue it or choose another --run-dir")

    dist = ddp.setup(ddp.resolve_device(run_config.train.device), timeout_s=run_config.train.dist_timeout)
    data = runs.load_data(run_config, download=not args.offline)
    torch.manual_seed(run_config.train.seed)  # identical initial weights on every rank
    model = runs.build(run_config, data.spec)
    ddp.barrier()
    if dist.is_main and not args.resume:
        runs.write_config(run_dir, run_config, data.spec)
    trainer = Trainer(model, data, run_config.train, run_dir=run_dir, resume=args.resume,
                      progress=not args.no_progress)
    if dist.is_main:
        from genzoo.models.base import count_parameters

        n_params = count_parameters(model)
        print(f"training {run_config.model} ({n_params:,} parameters) on {run_config.data} {data.spec.describe}, "
              f"{len(data.train)} examples, device {trainer.device}"
              + (f", {dist.world_size} processes" if dist.enabled else "")
              + (f", resuming at step {trainer.step}" if args.resume else ""))
    result = trainer.fit()
    if dist.is_main:
        losses = ", ".join(f"{k}={v:.4g}" for k, v in result["metrics"].items() if k.endswith("loss"))
        print(f"done: {result['steps']} steps in {result['seconds']:.1f}s "
              f"({result['steps_per_sec']:.1f} steps/s){'; ' + losses if losses else ''}")
        if result["stopped_early"]:
            print(f"stopped early: {result['stopped_early']}")
        elif result["best"] and result["best"]["step"] is not None:
            b = result["best"]
            print(f"best {trainer.validator.key} {b['value']:.6g} at step {b['step']} (best.safetensors)")
        if model.has("classify"):  # e.g. the semi-supervised GAN: report what it is for
            from genzoo.evaluate.metrics import classifier_accuracy

            acc = classifier_accuracy(model.eval(), data.fixed("test"))
            print(f"test error: {acc['errors']} of {acc['examples']} ({1 - acc['accuracy']:.2%})")
        print(f"run directory: {run_dir}")
    ddp.teardown()
    return 0
