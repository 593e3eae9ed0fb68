"""x4 super-resolution with a trained srgan run.

  genzoo superres runs/srgan-mnist --mse-run runs/srresnet-mnist --count 8
  genzoo superres runs/srgan-mnist --image small.png          # a low-res (H/4 x W/4) picture of yours

On the test split: the 4x4 averages of the test images are super-resolved by bicubic
upsampling, by the ``--mse-run`` generator (the same srgan trained with
``adversarial_weight=0``), if given, and by the run's GAN generator; prints PSNR, SSIM and
sharpness of each on ``--count`` images (default: all test images) and writes a grid
(low-res, bicubic, MSE, GAN, truth) of the first 8 to ``RUN/superres/grid.png``.
With ``--image``: a picture of the low-res size is super-resolved; one of the model's
full size is first reduced to low-res, and the truth is shown beside it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from genzoo.cli.runargs import add_run_arguments

HELP = "x4 super-resolution: SRGAN vs MSE vs bicubic (PSNR, SSIM, sharpness, grid)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="an srgan run directory")
    p.add_argument("--mse-run", help="the same generator trained with adversarial_weight=0, for comparison")
    p.add_argument("--count", type=int, help="test images to score (default: all)")
    p.add_argument("--image", help="super-resolve this picture instead of test images")
    p.add_argument("--out", help="output folder (default RUN/superres)")
    add_run_arguments(p)
    p.add_argument("--json", action="store_true")


def execute(args: argparse.Namespace) -> int:
    from genzoo.tasks import superres

    loaded, models = superres.load_models(args.run, mse_run=args.mse_run, weights=args.weights,
                                          data_dir=args.data_dir)
    out = Path(args.out) if args.out else loaded.path / "superres"
    if args.image:
        print(f"wrote {superres.superresolve_picture(args.image, loaded.spec, models, out)}")
        return 0
    res = superres.score_test_images(loaded, models, out, count=args.count, mse_run=args.mse_run)
    grid = res.pop("grid")
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print("\n".join(superres.format_scores(res, loaded.spec)))
    print(f"wrote {grid} (columns: low-res, bicubic, {', '.join(models)}, truth) and {out / 'results.json'}")
    return 0
