"""Measure whether a text-to-image run draws what its prompts ask: for every digit, the
prompts "a thick d", "a thin d", "a d leaning left", "a d leaning right"; the digit
classifier's accuracy per prompt and the measured thickness and slant of the samples
(see :mod:`genzoo.tasks.prompts`). Writes a grid (rows = prompts) and the numbers as JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from genzoo.cli.runargs import add_run_arguments, load_run_from_args

HELP = "text-to-image runs: digit accuracy per prompt, thickness and slant asked vs measured"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory of a text-to-image run (t2i_gan, or a diffusion model with text=true, on mnist with captions=true)")
    p.add_argument("--samples", type=int, default=100, help="samples per prompt (default 100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="grid PNG (default RUN/prompts.png); the numbers go beside it as .json")
    add_run_arguments(p)


def execute(args: argparse.Namespace) -> int:
    from genzoo.tasks.prompts import prompt_report, save_grid

    loaded = load_run_from_args(args.run, args)
    rep = prompt_report(loaded, samples=args.samples, seed=args.seed)
    out = save_grid(rep, loaded.spec, Path(args.out) if args.out else loaded.path / "prompts.png")
    out.with_suffix(".json").write_text(json.dumps({"summary": rep.summary, "prompts": rep.rows}, indent=2) + "\n")
    s = rep.summary
    print(f"{'prompt':<24} digit acc  thickness  slant")
    for r in rep.rows:
        print(f"{r['prompt']:<24} {r['accuracy']:9.2f}  {r['thickness']:9.2f}  {r['slant']:+6.1f}")
    t, sl, ref = s["thickness"], s["slant"], s["test_data"]
    print(f"digit accuracy over {s['prompts']} prompts x {s['samples_per_prompt']} samples: {s['accuracy']:.3f}")
    print(f"thickness: thick {t['mean_thick']:.2f} px vs thin {t['mean_thin']:.2f} px (gap {t['gap']:+.2f}; "
          f"test data {ref['thickness_gap']:+.2f}), in order for {t['digits_in_order']}/{t['digits']} digits")
    print(f"slant: right {sl['mean_right']:+.1f} deg vs left {sl['mean_left']:+.1f} deg (gap {sl['gap']:+.1f}; "
          f"test data {ref['slant_gap']:+.1f}), in order for {sl['digits_in_order']}/{sl['digits']} digits")
    print(f"wrote the grid to {out} and the numbers to {out.with_suffix('.json')}")
    return 0
