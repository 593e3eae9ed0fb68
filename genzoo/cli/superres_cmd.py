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

HELP = "x4 super-resolution: SRGAN vs MSE vs bicubic (PSNR, SSIM, sharpness, grid)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="an srgan run directory")
    p.add_argument("--mse-run", help="the same generator trained with adversarial_weight=0, for comparison")
    p.add_argument("--count", type=int, help="test images to score (default: all)")
    p.add_argument("--image", help="super-resolve this picture instead of test images")
    p.add_argument("--out", help="output folder (default RUN/superres)")
    p.add_argument("--data-dir")
    p.add_argument("--weights", choices=["auto", "best", "ema", "model"], default="auto")
    p.add_argument("--json", action="store_true")


def _load(path: str, weights: str):
    from genzoo.run import load_run

    loaded = load_run(path, weights=weights)
    loaded.model.require("superres")
    return loaded


def run(args: argparse.Namespace) -> int:
    import torch

    from genzoo.errors import GenzooError
    from genzoo.run import load_data
    from genzoo.tasks import superres

    loaded = _load(args.run, args.weights)
    spec = loaded.spec
    models = {}
    if args.mse_run:
        other = _load(args.mse_run, args.weights)
        if other.spec.shape != spec.shape:
            raise GenzooError(f"--mse-run models {other.spec.shape}, the run {spec.shape}: not the same images")
        models["MSE"] = other.model
    models["GAN"] = loaded.model
    out = Path(args.out) if args.out else loaded.path / "superres"
    if args.image:
        import numpy as np
        from PIL import Image, UnidentifiedImageError

        from genzoo.tasks.primer import pixels_to_values

        c, h, w = spec.shape
        try:
            img = Image.open(args.image).convert("L" if c == 1 else "RGB")
        except (OSError, UnidentifiedImageError) as e:
            raise GenzooError(f"{args.image} is not a readable image ({e})") from None
        a = np.asarray(img)
        a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
        if (img.height, img.width) == (h, w):
            x = pixels_to_values(a, spec)[None].to(spec.dtype)
            path = superres.grid(x, spec, models, out / "image.png")
        elif (img.height, img.width) == (h // 4, w // 4):
            low = torch.from_numpy(a.astype("float32"))[None] / 127.5 - 1.0  # (1, C, h/4, w/4) in [-1, 1]
            from genzoo.nn.values import from_unit
            from genzoo.report.render import grid_from_rgb, to_rgb_uint8

            cells = [to_rgb_uint8(from_unit(torch.nn.functional.interpolate(low, scale_factor=4), spec,
                                            stochastic=False), spec)[0]]
            cells += [to_rgb_uint8(from_unit(m.generator(low), spec, stochastic=False), spec)[0] for m in models.values()]
            out.mkdir(parents=True, exist_ok=True)
            path = out / "image.png"
            Image.fromarray(grid_from_rgb(np.stack(cells), ncol=len(cells))).save(path)
        else:
            raise GenzooError(f"{args.image} is {img.width}x{img.height}; this model takes {w // 4}x{h // 4} "
                              f"low-res pictures (or {w}x{h} ones, reduced first)")
        print(f"wrote {path}")
        return 0
    if args.data_dir:
        loaded.run.data_dir = args.data_dir
    test = load_data(loaded.run, download=False).fixed("test").x
    if args.count is not None:
        if args.count < 1:
            raise GenzooError(f"bad value {args.count} for --count: must be >= 1")
        test = test[: args.count]
    table = superres.compare(test, spec, models)
    path = superres.grid(test[:8], spec, models, out / "grid.png")
    res = {"run": str(loaded.path), "mse_run": args.mse_run, "images": len(test), "scores": table}
    (out / "results.json").write_text(json.dumps(res, indent=2))
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"x4 super-resolution of {len(test)} test images ({spec.shape[1] // 4}x{spec.shape[2] // 4} -> "
          f"{spec.shape[1]}x{spec.shape[2]}); intensities in [0, 1]")
    print(f"  {'method':<8} {'PSNR dB':>8} {'SSIM':>7} {'sharpness':>10}")
    for name, s in table.items():
        if name == "truth":
            print(f"  {'truth':<8} {'':>8} {'':>7} {s['sharpness']:>10.4f}")
        else:
            print(f"  {name:<8} {s['psnr']:>8.2f} {s['ssim']:>7.4f} {s['sharpness']:>10.4f}")
    print(f"wrote {path} (columns: low-res, bicubic, {', '.join(models)}, truth) and {out / 'results.json'}")
    return 0
