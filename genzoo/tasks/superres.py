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
(low-res, bicubic, MSE, GAN, truth).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from genzoo.data.spec import DataSpec
from genzoo.models.base import GenerativeModel
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
def compare(x: torch.Tensor, spec: DataSpec, models: dict[str, GenerativeModel]) -> dict[str, dict[str, float]]:
    """Scores of bicubic upsampling and of each model (name -> super-resolving model)
    on high-res images ``x`` (data space); the truth's sharpness under ``truth``."""
    truth = (to_unit(x, spec) + 1) / 2
    low = downsample(x, spec)
    out = {"bicubic": scores((bicubic(low) + 1) / 2, truth)}
    for name, m in models.items():
        m.eval()
        sr = m.generator(low.to(m.device)).cpu()  # [-1, 1], no quantisation: the network's estimate
        out[name] = scores((sr + 1) / 2, truth)
    out["truth"] = {"sharpness": sharpness(truth)}
    return out


@torch.no_grad()
def grid(x: torch.Tensor, spec: DataSpec, models: dict[str, GenerativeModel], path: Path) -> Path:
    """Rows: low-res (nearest-upscaled) | bicubic | each model | truth, one row per image."""
    from PIL import Image

    from genzoo.report.render import grid_from_rgb, to_rgb_uint8

    low = downsample(x, spec)
    cols = [F.interpolate(low, scale_factor=FACTOR, mode="nearest"), bicubic(low)]
    cols += [m.generator(low.to(m.device)).cpu() for m in models.values()]
    cols.append(to_unit(x, spec))
    # continuous values keep their detail in the picture; discrete data is shown on its levels
    shown = [to_rgb_uint8(from_unit(c, spec, stochastic=False), spec) for c in cols]
    cells = np.stack([shown[j][i] for i in range(len(x)) for j in range(len(cols))])
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid_from_rgb(cells, ncol=len(cols))).save(path)
    return path
