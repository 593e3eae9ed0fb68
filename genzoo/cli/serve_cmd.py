"""Serve trained runs in a local web playground: sample, paint a mask and complete, walk
a latent space, continue text and music, and watch a GAN train (docs/serve.md).

Binds 127.0.0.1 unless --host says otherwise; only the runs named here are served."""

from __future__ import annotations

import argparse

HELP = "serve trained runs in a local web playground"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="*", metavar="RUN", help="run directories to serve")
    p.add_argument("--runs-dir", help="also serve every run directly under this folder (e.g. quickstart/runs)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--weights", choices=["auto", "best", "ema", "model"], default="auto",
                   help="auto: the best validation weights when a run has them, else EMA, else the final ones")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads (default 0: torch's choice; 1 suits a busy shared machine)")


def execute(args: argparse.Namespace) -> int:
    from genzoo.serve.runs import find_runs
    from genzoo.serve.server import serve
    from genzoo.train.distributed import resolve_device

    paths = list(args.runs) + (find_runs(args.runs_dir) if args.runs_dir else [])
    serve(paths, host=args.host, port=args.port, weights=args.weights, device=str(resolve_device(args.device)),
          threads=args.threads)
    return 0
