"""Next-frame prediction: roll a frame predictor out on test sequences and measure it.

Each test sequence gives the model its first ``context`` frames; the model predicts the
next frame, feeds it back as the newest past frame, and so on for ``frames`` steps. The
rollout is compared with the true frames step by step, on the [0, 1] intensity scale,
over all the sequences scored:

* PSNR in dB and SSIM (:func:`genzoo.tasks.superres.scores`): closeness to the truth;
* sharpness: the mean gradient magnitude ``sqrt(dx^2 + dy^2)`` of the predicted frames
  (forward differences), beside the true frames' (the seeds' measure: an MSE predictor
  averages the possible futures into a blur, whose gradients are weak), and the variance
  of the Laplacian that ``genzoo superres`` reports (``laplacian``).

With a second run (``compare``: the same predictor trained with another
``adversarial_weight``) both are measured on the same sequences. Pictures: a GIF whose
frames are the context and then the rollout steps, each frame a grid with one row per
sequence and one column per method (truth first; a bar below grows with the step, grey
over the context, red over the predictions), and a PNG strip of the first sequences
(rows: truth, each method; columns: the steps).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genzoo.errors import CapabilityError, GenzooError
from genzoo.tasks.superres import scores

GIF_ROWS = 4  # sequences in the GIF
STRIP_ROWS = 2  # sequences in the PNG strip
CELL = 96  # frames are scaled up to at least this many pixels in the pictures
FRAME_MS = 400  # GIF frame duration
LABEL_W = 70  # width of the strip's row labels


def gradient_sharpness(u01: torch.Tensor) -> float:
    """Mean gradient magnitude of images (B, C, H, W) in [0, 1] (forward differences)."""
    dx = u01[..., :-1, 1:] - u01[..., :-1, :-1]
    dy = u01[..., 1:, :-1] - u01[..., :-1, :-1]
    return float(torch.sqrt(dx**2 + dy**2).mean())


def method_name(model: Any) -> str:
    """``MSE`` for a predictor trained without the adversarial loss, else ``adversarial``."""
    return "adversarial" if getattr(model.config, "adversarial_weight", 0) > 0 else "MSE"


def load_models(run: str | Path, *, compare: str | Path | None = None, weights: str = "auto",
                data_dir: str | None = None) -> tuple[Any, dict[str, Any]]:
    """The run (a :class:`genzoo.run.LoadedRun` of a frame predictor) and the models by
    method name (:func:`method_name`; the run directory's name when both share one), the
    ``compare`` run's first when it is the MSE one."""
    from genzoo.run import load_run

    loaded = load_run(run, weights=weights)
    loaded.model.require("predict")
    if data_dir:
        loaded.config.data_dir = data_dir
    runs = [loaded]
    if compare:
        other = load_run(compare, weights=weights)
        try:
            other.model.require("predict")
        except CapabilityError as e:
            raise GenzooError(f"--compare {compare}: {e}") from None
        if other.spec.shape != loaded.spec.shape or other.model.config.context != loaded.model.config.context:
            raise GenzooError(f"--compare {compare} predicts {other.spec.shape} from {other.model.config.context} "
                              f"frames, the run {loaded.spec.shape} from {loaded.model.config.context}: "
                              "not the same task")
        runs = [other, loaded] if method_name(other.model) == "MSE" else [loaded, other]
    names = [method_name(r.model) for r in runs]
    if len(set(names)) < len(names):
        names = [r.path.name for r in runs]
        if len(set(names)) < len(names):
            names = [f"{n}-{i + 1}" for i, n in enumerate(names)]
    return loaded, dict(zip(names, (r.model for r in runs)))


@torch.no_grad()
def rollouts(x: torch.Tensor, spec: Any, models: dict[str, Any], frames: int
             ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Context, true and predicted frames in [0, 1]: (N, K, C, H, W), (N, frames, C, H, W)
    and method -> (N, frames, C, H, W), for sequences ``x`` (N, T, C, H, W) in the data's space."""
    from genzoo.nn.values import to_unit

    k = next(iter(models.values())).config.context
    t = spec.shape[0]
    if not 1 <= frames <= t - k:
        raise GenzooError(f"bad value {frames} for --frames: the test sequences have {t} frames and the model "
                          f"sees {k}, so it can be compared with at most {t - k} true frames (and at least 1)")
    u = to_unit(x, spec)
    preds = {}
    for name, m in models.items():
        m.eval()
        preds[name] = (m.rollout(u[:, :k], frames).cpu() + 1) / 2
    return (u[:, :k] + 1) / 2, (u[:, k: k + frames] + 1) / 2, preds


def step_scores(truth01: torch.Tensor, preds01: dict[str, torch.Tensor]) -> dict[str, list[dict[str, float]]]:
    """Per rollout step: the truth's sharpness, and each method's PSNR, SSIM and sharpness."""
    from genzoo.tasks.superres import sharpness

    out: dict[str, list[dict[str, float]]] = {
        "truth": [{"sharpness": gradient_sharpness(truth01[:, s]), "laplacian": sharpness(truth01[:, s])}
                  for s in range(truth01.shape[1])]}
    for name, p in preds01.items():
        rows = []
        for s in range(p.shape[1]):
            sc = scores(p[:, s], truth01[:, s])
            rows.append({"psnr": sc["psnr"], "ssim": sc["ssim"], "sharpness": gradient_sharpness(p[:, s]),
                         "laplacian": sc["sharpness"]})
        out[name] = rows
    return out


def _cells(frames01: torch.Tensor) -> np.ndarray:
    """Grey frames (N, C, H, W) in [0, 1] -> uint8 RGB (N, H, W, 3)."""
    v = (frames01.clamp(0, 1) * 255).round().to(torch.uint8)[:, :1].repeat(1, 3, 1, 1)
    return v.permute(0, 2, 3, 1).numpy()


def _labelled(grid: np.ndarray, labels: list[str], cell: int, pad: int = 2) -> Any:
    """``grid`` (H, W, 3) with the column ``labels`` written above it."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (grid.shape[1], grid.shape[0] + 14), (255, 255, 255))
    img.paste(Image.fromarray(grid), (0, 14))
    draw = ImageDraw.Draw(img)
    for j, label in enumerate(labels):
        draw.text((pad + j * (cell + pad) + 2, 1), label, fill=(0, 0, 0))
    return img


def write_gif(context01: torch.Tensor, truth01: torch.Tensor, preds01: dict[str, torch.Tensor], path: Path,
              *, rows: int = GIF_ROWS) -> Path:
    """One GIF frame per context frame and per rollout step: rows = sequences, columns =
    truth and each method (over the context every column shows the given frames)."""
    from genzoo.report.render import grid_from_rgb

    k, steps = context01.shape[1], truth01.shape[1]
    n = min(rows, len(truth01))
    cols = 1 + len(preds01)
    images = []
    for i in range(k + steps):
        shown = [context01[:n, i]] * cols if i < k else [truth01[:n, i - k], *(p[:n, i - k] for p in preds01.values())]
        grid = grid_from_rgb(_cells(torch.stack(shown, 1).flatten(0, 1)), ncol=cols, min_cell=CELL)  # row = sequence
        cell = (grid.shape[1] - 2) // cols - 2
        bar = np.full((6, grid.shape[1], 3), 255, np.uint8)  # progress: grey over the context, red after
        bar[1:5, : round(grid.shape[1] * (i + 1) / (k + steps))] = (160, 160, 160) if i < k else (200, 30, 30)
        images.append(_labelled(np.concatenate([grid, bar]), ["truth", *preds01], cell))
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=FRAME_MS, loop=0)
    return path


def write_strip(context01: torch.Tensor, truth01: torch.Tensor, preds01: dict[str, torch.Tensor], path: Path,
                *, rows: int = STRIP_ROWS) -> Path:
    """A PNG: for each of the first ``rows`` sequences, a row of the truth (context then the
    true future) and one row per method (context then its rollout), labelled on the left."""
    from PIL import Image, ImageDraw

    from genzoo.report.render import grid_from_rgb

    n = min(rows, len(truth01))
    k, steps = context01.shape[1], truth01.shape[1]
    lines = []
    for j in range(n):
        for fut in [truth01, *preds01.values()]:
            lines.append(torch.cat([context01[j], fut[j]]))  # (k + steps, C, H, W)
    cells = _cells(torch.cat(lines))
    grid = grid_from_rgb(cells, ncol=k + steps, min_cell=CELL // 2)
    labels = ["truth", *preds01] * n
    row_h = (grid.shape[0] - 2) // len(labels)
    img = Image.new("RGB", (grid.shape[1] + LABEL_W, grid.shape[0]), (255, 255, 255))
    img.paste(Image.fromarray(grid), (LABEL_W, 0))
    draw = ImageDraw.Draw(img)
    for i, label in enumerate(labels):
        draw.text((2, 2 + i * row_h + row_h // 2 - 5), label[:11], fill=(0, 0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def predict(loaded: Any, models: dict[str, Any], out: Path, *, frames: int | None = None, count: int | None = None,
            compare: str | None = None) -> dict[str, Any]:
    """Roll out every model on the first ``count`` test sequences (default: all) for
    ``frames`` steps (default: as many as the sequences hold); writes ``out/results.json``,
    ``out/rollout.gif`` and ``out/strip.png`` and returns the results (with the paths)."""
    from genzoo.run import load_data

    if count is not None and count < 1:
        raise GenzooError(f"bad value {count} for --count: must be >= 1")
    spec = loaded.spec
    k = loaded.model.config.context
    frames = spec.shape[0] - k if frames is None else frames
    x = load_data(loaded.config, download=False).fixed("test").x
    if count is not None:
        x = x[:count]
    context, truth, preds = rollouts(x, spec, models, frames)
    res = {"run": str(loaded.path), "compare": compare, "sequences": len(x), "context": k, "frames": frames,
           "scores": step_scores(truth, preds)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(res, indent=2))
    gif = write_gif(context, truth, preds, out / "rollout.gif")
    strip = write_strip(context, truth, preds, out / "strip.png")
    return {**res, "gif": str(gif), "strip": str(strip)}


def format_scores(res: dict[str, Any]) -> list[str]:
    """The table ``genzoo predict`` prints: per step, the truth's sharpness and each method's
    PSNR, SSIM and sharpness (mean gradient magnitude; its share of the truth's)."""
    sc = res["scores"]
    methods = [m for m in sc if m != "truth"]
    lines = [f"{res['frames']}-step rollouts from {res['context']} frames on {res['sequences']} test sequences; "
             "intensities in [0, 1]; sharpness = mean gradient magnitude",
             f"  {'step':>4} {'truth sharp':>11}" + "".join(f" {m[:12] + ' PSNR':>17} {'SSIM':>6} {'sharp':>7} {'/truth':>6}"
                                                           for m in methods)]
    for s, tr in enumerate(sc["truth"]):
        row = f"  {s + 1:>4} {tr['sharpness']:>11.4f}"
        for m in methods:
            v = sc[m][s]
            row += f" {v['psnr']:>17.2f} {v['ssim']:>6.3f} {v['sharpness']:>7.4f} {v['sharpness'] / tr['sharpness']:>6.2f}"
        lines.append(row)
    return lines
