"""x4 super-resolution: compare SRGAN, its MSE-only twin and bicubic upsampling.

Low-resolution inputs are 4x4 averages of the test images (as in training). Measures on
the [0, 1] intensity scale, against the true high-resolution image:

* PSNR in dB (higher: closer to the truth pixel by pixel);
* SSIM (Wang et al. 2004, 7x7 Gaussian window as torchmetrics computes it on these small
  images);
* sharpness: the mean variance of the Laplacian (higher: more high-frequency detail;
  the truth's value is printed beside it).

An MSE-trained generator wins PSNR by predicting the average of the plausible details,
which is blurred; the adversarial loss trades some PSNR for sharper, more realistic
detail (Ledig et al. 2017). :func:`compare` returns the table, :func:`grid` the picture
(low-res, bicubic, MSE, GAN, truth); :func:`load_models` loads the runs to compare,
:func:`score_test_images` does the whole test-split comparison that ``genzoo superres``
prints and :func:`superresolve_picture` super-resolves a picture of the user's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.adversarial.srgan import SRGAN
from genzoo.nn.values import from_unit, to_unit

FACTOR = 4
LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def downsample(x: torch.Tensor, spec: DataSpec) -> torch.Tensor:
    """High-res images in the data's space -> their 4x4 averages in [-1, 1]."""
    return F.avg_pool2d(to_unit(x, spec), FACTOR)


def bicubic(low: torch.Tensor) -> torch.Tensor:
    """x4 bicubic upsampling of [-1, 1] images, clamped to [-1, 1]."""
    return F.interpolate(low, scale_factor=FACTOR, mode="bicubic", align_corners=False).clamp(-1, 1)


def sharpness(u01: torch.Tensor) -> float:
    """Mean over images and channels of the variance of the Laplacian."""
    b, c, h, w = u01.shape
    k = LAPLACIAN.to(u01)[None, None]
    lap = F.conv2d(u01.reshape(b * c, 1, h, w), k, padding=1)
    return float(lap.flatten(1).var(1).mean())


def scores(pred01: torch.Tensor, truth01: torch.Tensor) -> dict[str, float]:
    """PSNR, SSIM and sharpness of predictions in [0, 1] against the truth in [0, 1]."""
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    k = 7 if min(truth01.shape[-2:]) >= 7 else (min(truth01.shape[-2:]) // 2) * 2 - 1
    return {"psnr": float(peak_signal_noise_ratio(pred01, truth01, data_range=1.0)),
            "ssim": float(structural_similarity_index_measure(pred01, truth01, data_range=1.0, kernel_size=max(k, 1))),
            "sharpness": sharpness(pred01)}


@torch.no_grad()
def compare(x: torch.Tensor, spec: DataSpec, models: dict[str, SRGAN]) -> dict[str, dict[str, float]]:
    """Scores of bicubic upsampling and of each model (name -> super-resolving model)
    on high-res images ``x`` (data space); the truth's sharpness under ``truth``."""
    truth = (to_unit(x, spec) + 1) / 2
    low = downsample(x, spec)
    out = {"bicubic": scores((bicubic(low) + 1) / 2, truth)}
    for name, m in models.items():
        m.eval()
        sr = m.upscale(low).cpu()  # [-1, 1], no quantisation: the network's estimate
        out[name] = scores((sr + 1) / 2, truth)
    out["truth"] = {"sharpness": sharpness(truth)}
    return out


@torch.no_grad()
def grid(x: torch.Tensor, spec: DataSpec, models: dict[str, SRGAN], path: Path) -> Path:
    """Rows: low-res (nearest-upscaled) | bicubic | each model | truth, one row per image."""
    from PIL import Image

    from genzoo.report.render import grid_from_rgb, to_rgb_uint8

    low = downsample(x, spec)
    cols = [F.interpolate(low, scale_factor=FACTOR, mode="nearest"), bicubic(low)]
    cols += [m.upscale(low).cpu() for m in models.values()]
    cols.append(to_unit(x, spec))
    # continuous values keep their detail in the picture; discrete data is shown on its levels
    shown = [to_rgb_uint8(from_unit(c, spec, stochastic=False), spec) for c in cols]
    cells = np.stack([shown[j][i] for i in range(len(x)) for j in range(len(cols))])
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid_from_rgb(cells, ncol=len(cols))).save(path)
    return path


# ---- what ``genzoo superres`` does ------------------------------------------------------------
def load_models(run: str | Path, *, mse_run: str | Path | None = None, weights: str = "auto",
                data_dir: str | None = None) -> tuple[Any, dict[str, SRGAN]]:
    """The run (a :class:`genzoo.run.LoadedRun` of a super-resolving model) and the models to
    compare by name: ``MSE`` (``mse_run``, the same generator trained with
    ``adversarial_weight=0``) when given, then ``GAN`` (the run's)."""
    from genzoo.run import load_run

    loaded = load_run(run, weights=weights)
    loaded.model.require("superres")
    if data_dir:
        loaded.config.data_dir = data_dir
    models: dict[str, SRGAN] = {}
    if mse_run:
        other = load_run(mse_run, weights=weights)
        other.model.require("superres")
        if other.spec.shape != loaded.spec.shape:
            raise GenzooError(f"--mse-run models {other.spec.shape}, the run {loaded.spec.shape}: not the same images")
        models["MSE"] = other.model
    models["GAN"] = loaded.model
    return loaded, models


def score_test_images(loaded: Any, models: dict[str, SRGAN], out: Path, *, count: int | None = None,
                      mse_run: str | None = None) -> dict[str, Any]:
    """Compare on the first ``count`` test images (default: all): the table of
    :func:`compare`, written with the runs' names (``mse_run``: the MSE model's) to
    ``out/results.json``, and the grid of the first 8 in ``out/grid.png`` (returned under
    ``"grid"``)."""
    from genzoo.run import load_data

    if count is not None and count < 1:
        raise GenzooError(f"bad value {count} for --count: must be >= 1")
    test = load_data(loaded.config, download=False).fixed("test").x
    if count is not None:
        test = test[:count]
    table = compare(test, loaded.spec, models)
    path = grid(test[:8], loaded.spec, models, out / "grid.png")
    res = {"run": str(loaded.path), "mse_run": mse_run, "images": len(test), "scores": table}
    (out / "results.json").write_text(json.dumps(res, indent=2))
    return {**res, "grid": str(path)}


def format_scores(res: dict[str, Any], spec: DataSpec) -> list[str]:
    """The table ``genzoo superres`` prints for a :func:`score_test_images` result."""
    c, h, w = spec.shape
    lines = [f"x4 super-resolution of {res['images']} test images ({h // FACTOR}x{w // FACTOR} -> {h}x{w}); "
             "intensities in [0, 1]",
             f"  {'method':<8} {'PSNR dB':>8} {'SSIM':>7} {'sharpness':>10}"]
    for name, s in res["scores"].items():
        if name == "truth":
            lines.append(f"  {'truth':<8} {'':>8} {'':>7} {s['sharpness']:>10.4f}")
        else:
            lines.append(f"  {name:<8} {s['psnr']:>8.2f} {s['ssim']:>7.4f} {s['sharpness']:>10.4f}")
    return lines


def superresolve_picture(image: str | Path, spec: DataSpec, models: dict[str, SRGAN], out: Path) -> Path:
    """Super-resolve a picture of the user's into ``out/image.png``. One of the model's full
    size is reduced to low-res first and shown as :func:`grid` shows test images; one of the
    low-res size (H/4 x W/4, grey levels as the 4x4 average) is shown nearest-upscaled,
    beside each model's super-resolution."""
    from PIL import Image, UnidentifiedImageError

    from genzoo.report.render import grid_from_rgb, to_rgb_uint8
    from genzoo.tasks.primer import pixels_to_values

    c, h, w = spec.shape
    try:
        img = Image.open(image).convert("L" if c == 1 else "RGB")
    except (OSError, UnidentifiedImageError) as e:
        raise GenzooError(f"{image} is not a readable image ({e})") from None
    a = np.asarray(img)
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)  # (C, H, W)
    path = out / "image.png"
    if (img.height, img.width) == (h, w):
        return grid(pixels_to_values(a, spec)[None].to(spec.dtype), spec, models, path)
    if (img.height, img.width) != (h // FACTOR, w // FACTOR):
        raise GenzooError(f"{image} is {img.width}x{img.height}; this model takes {w // FACTOR}x{h // FACTOR} "
                          f"low-res pictures (or {w}x{h} ones, reduced first)")
    low = torch.from_numpy(a.astype("float32"))[None] / 127.5 - 1.0  # (1, C, h/4, w/4) in [-1, 1]
    cells = [to_rgb_uint8(from_unit(F.interpolate(low, scale_factor=FACTOR), spec, stochastic=False), spec)[0]]
    cells += [to_rgb_uint8(m.superresolve(low, unit=True, stochastic=False).cpu(), spec)[0] for m in models.values()]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid_from_rgb(np.stack(cells), ncol=len(cells))).save(path)
    return path
