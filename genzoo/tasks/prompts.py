"""Does a text-to-image run draw what the prompt asks? (``genzoo prompts RUN``)

For a run trained on captioned digits (``mnist`` with ``captions=true``) every digit d gets
the four prompts of :data:`KINDS`: "a thick d", "a thin d", "a d leaning left", "a d leaning
right". For each prompt the run draws ``samples`` images (seed ``seed + prompt index``) and

* the digit classifier of the data (the feature network of
  :mod:`genzoo.evaluate.features`, the one FID and CAS use) names the digit of each: the
  share naming d is the prompt's accuracy (a CAS-style check: does the text reach the
  class?);
* the measured stroke thickness and slant (:mod:`genzoo.data.attributes`) of the samples
  are averaged: "thick" prompts must draw thicker digits than "thin" ones, "leaning right"
  prompts more slant than "leaning left" ones. Both are reported over all digits and as
  the number of digits where the order holds, beside the same gap in the test images that
  the captions call thick/thin and left/right (the scale of the gap the data shows).

The grid (rows = prompts, ``row_digits`` digits x the four kinds) is written with the JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from genzoo.data import attributes
from genzoo.data import captions as cap
from genzoo.errors import GenzooError
from genzoo.nn.values import to_unit

#: prompt kind -> template (d = the digit as a numeral)
KINDS = {"thick": "a thick {d}", "thin": "a thin {d}", "left": "a {d} leaning left", "right": "a {d} leaning right"}


@dataclass
class PromptReport:
    """Per-prompt rows and the summary numbers; ``grid`` (rows, cols, *shape) and its row labels."""

    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    grid: torch.Tensor
    grid_labels: list[str] = field(default_factory=list)


def _ink(x: torch.Tensor, spec: Any) -> torch.Tensor:
    return (to_unit(x, spec) + 1) / 2


def _gap(rows: list[dict[str, Any]], hi: str, lo: str, key: str) -> dict[str, Any]:
    by = {(r["digit"], r["kind"]): r[key] for r in rows}
    digits = sorted({r["digit"] for r in rows})
    hi_mean = sum(by[(d, hi)] for d in digits) / len(digits)
    lo_mean = sum(by[(d, lo)] for d in digits) / len(digits)
    return {f"mean_{hi}": hi_mean, f"mean_{lo}": lo_mean, "gap": hi_mean - lo_mean,
            "digits_in_order": sum(by[(d, hi)] > by[(d, lo)] for d in digits), "digits": len(digits)}


def data_gaps(test_x: torch.Tensor, spec: Any) -> dict[str, float]:
    """The same gaps in the test images: thick vs thin tercile, right vs left leaning."""
    info = spec.extra["captions"]
    lo, hi = info["thickness_thresholds"]
    s_lim = float(info["slant_degrees"])
    ink = _ink(test_x, spec)
    t, s = attributes.thickness(ink), attributes.slant(ink)
    return {"thickness_gap": float(t[t > hi].mean() - t[t < lo].mean()),
            "slant_gap": float(s[s > s_lim].mean() - s[s < -s_lim].mean())}


def prompt_report(loaded: Any, *, samples: int = 100, seed: int = 0, row_digits: tuple[int, ...] = (0, 3, 7),
                  cols: int = 10) -> PromptReport:
    """Sample every prompt of :data:`KINDS` for every digit and measure (see the module doc)."""
    from genzoo.evaluate.features import features_for
    from genzoo.run import load_data
    from genzoo.tasks.sampling import sample_with_options

    model, spec = loaded.model, loaded.spec
    if not model.has("text"):
        raise GenzooError(f"genzoo prompts needs a text-to-image run (t2i_gan, or a diffusion run with text=true); {model.name!r} takes no text")
    info = spec.extra.get("captions", {})
    if spec.num_classes != 10 or "thickness_thresholds" not in info:
        raise GenzooError("genzoo prompts checks digit prompts: it needs a run trained on captioned digits "
                          "(mnist with captions=true)")
    if samples < 1:
        raise GenzooError(f"bad value {samples} for --samples: must be >= 1")
    cols = min(cols, samples)
    data = load_data(loaded.config, download=False)
    classifier = features_for(loaded.config.data, data).net
    model.eval()
    rows: list[dict[str, Any]] = []
    grid_rows, labels = [], []
    for i, (d, kind) in enumerate((d, k) for d in range(10) for k in KINDS):
        prompt = KINDS[kind].format(d=d)
        g = torch.Generator().manual_seed(seed + i)
        with torch.no_grad():
            x = sample_with_options(model, samples, generator=g, text=prompt).cpu()
        pred = classifier.probs(x).argmax(1)
        ink = _ink(x, spec)
        rows.append({"prompt": prompt, "digit": d, "kind": kind, "accuracy": float((pred == d).float().mean()),
                     "thickness": float(attributes.thickness(ink).mean()),
                     "slant": float(attributes.slant(ink).mean())})
        if d in row_digits:
            grid_rows.append(x[:cols])
            labels.append(prompt)
    per_digit = {d: sum(r["accuracy"] for r in rows if r["digit"] == d) / len(KINDS) for d in range(10)}
    summary = {"samples_per_prompt": samples, "seed": seed, "prompts": len(rows),
               "accuracy": sum(r["accuracy"] for r in rows) / len(rows),
               "accuracy_per_digit": per_digit,
               "thickness": _gap(rows, "thick", "thin", "thickness"),
               "slant": _gap(rows, "right", "left", "slant"),
               "test_data": data_gaps(data.test.x, spec),
               "words": [w for w in info["vocabulary"] if w != cap.PAD]}
    return PromptReport(rows, summary, torch.stack(grid_rows), labels)


def save_grid(report: PromptReport, spec: Any, path: Any) -> Any:
    """The grid as a PNG at ``path``, each row's prompt written to its left."""
    from pathlib import Path

    import numpy as np
    from PIL import Image, ImageDraw

    from genzoo.report.render import image_grid

    rows, cols = report.grid.shape[:2]
    img = image_grid(report.grid.reshape(rows * cols, *spec.shape), spec, ncol=cols)
    margin = 8 * max(len(t) for t in report.grid_labels) + 8
    canvas = Image.new("RGB", (img.shape[1] + margin, img.shape[0]), (255, 255, 255))
    canvas.paste(Image.fromarray(np.ascontiguousarray(img)).convert("RGB"), (margin, 0))
    draw, step = ImageDraw.Draw(canvas), img.shape[0] / rows
    for i, text in enumerate(report.grid_labels):
        draw.text((4, int(i * step + step / 2 - 5)), text, fill=(0, 0, 0))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path
