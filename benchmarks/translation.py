"""Image-to-image runs (pix2pix, cyclegan) on their test split: the mean absolute error of
the translations against the targets, and a picture of sources, translations and targets.

The error is meaningful for paired data (pix2pix: each source has its target); for
unpaired runs (cyclegan, ``paired=false``) the targets are shuffled, so the row of
targets only shows what the other domain looks like.

    python benchmarks/translation.py RUN [--out grid.png] [--direction AB|BA] [--count 8]
"""

from __future__ import annotations

import argparse

import torch
from PIL import Image

from genzoo.report.render import image_grid
from genzoo.run import load_data, load_run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run")
    p.add_argument("--out", help="picture (default RUN/translation.png)")
    p.add_argument("--direction", choices=["AB", "BA"], help="cyclegan only (default AB)")
    p.add_argument("--count", type=int, default=8, help="columns of the picture")
    args = p.parse_args()
    loaded = load_run(args.run, weights="auto")
    data = load_data(loaded.config, download=False)
    test = data.fixed("test")
    src, tgt = test.extra["source"], test.x
    model = loaded.model.eval()
    kw = {"direction": args.direction} if args.direction else {}
    with torch.no_grad():
        fake = torch.cat([model.translate(src[i:i + 500], **kw) for i in range(0, len(src), 500)])
    print("| run | test pairs | mean abs error of translations | of the sources themselves |")
    print("|---|---:|---:|---:|")
    print(f"| {loaded.config.model} | {len(src)} | {(fake - tgt).abs().mean():.4f} | {(src - tgt).abs().mean():.4f} |")
    k = args.count
    out = args.out or str(loaded.path / "translation.png")
    Image.fromarray(image_grid(torch.cat([src[:k], fake[:k], tgt[:k]]), data.spec, ncol=k, min_cell=56)).save(out)
    print(f"wrote {out} (rows: sources, translations, targets)")


if __name__ == "__main__":
    main()
