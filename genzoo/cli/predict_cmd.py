"""Next-frame prediction with a trained frame_predictor run: rollouts, scores, a GIF.

  genzoo predict runs/frames-adv --frames 6 --compare runs/frames-mse
  genzoo predict runs/frames-mse --count 64 --json

Each test sequence gives the model its first ``context`` frames; it predicts ``--frames``
more (default: as many as the sequences hold), feeding its predictions back. Prints, per
rollout step, the PSNR, SSIM and sharpness (mean gradient magnitude, beside the true
frames') of the run and of ``--compare RUN2`` (the same predictor trained with another
adversarial weight: MSE vs adversarial), and writes ``rollout.gif`` (truth and each method
side by side, one GIF frame per context frame and rollout step), ``strip.png`` and
``results.json`` to ``RUN/predict`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from genzoo.cli.runargs import add_run_arguments

HELP = "next-frame prediction: roll out a frame_predictor (vs --compare RUN2), PSNR and sharpness per step, GIF"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="a frame_predictor run directory")
    p.add_argument("--frames", type=int, help="frames to roll out (default: the rest of each test sequence)")
    p.add_argument("--compare", metavar="RUN2", help="another frame_predictor run to compare (e.g. the MSE one)")
    p.add_argument("--count", type=int, help="test sequences to score (default: all)")
    p.add_argument("--out", help="output folder (default RUN/predict)")
    add_run_arguments(p)
    p.add_argument("--json", action="store_true")


def execute(args: argparse.Namespace) -> int:
    from genzoo.tasks import predict

    loaded, models = predict.load_models(args.run, compare=args.compare, weights=args.weights,
                                         data_dir=args.data_dir)
    out = Path(args.out) if args.out else loaded.path / "predict"
    res = predict.predict(loaded, models, out, frames=args.frames, count=args.count, compare=args.compare)
    gif, strip = res.pop("gif"), res.pop("strip")
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print("\n".join(predict.format_scores(res)))
    print(f"wrote {gif} (columns: truth, {', '.join(models)}), {strip} and {out / 'results.json'}")
    return 0
