"""Sample-quality metrics in a feature space: FID, KID, an Inception-Score analogue,
precision/recall and density/coverage.

All take features (N, d) of real examples and of samples (from
:mod:`genzoo.evaluate.features`) and return plain floats; the number of examples
behind each number is part of its result, since FID and KID depend on it.

* FID (Heusel et al. 2017): ``|mu_r - mu_g|^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))``
  between Gaussians fitted to the two feature sets; the matrix square root is scipy's.
* KID (Binkowski et al. 2018): the unbiased MMD^2 with the cubic polynomial kernel
  ``k(a, b) = (a.b / d + 1)^3``, averaged over random subsets (mean and std).
* IS analogue (Salimans et al. 2016): ``exp(E_x KL(p(y|x) || p(y)))`` with the feature
  network's class probabilities, over ``splits`` folds.
* Precision and recall (Kynkaanniemi et al. 2019, k = 3): the share of samples inside
  the real manifold (the union of k-NN balls around real features) and the share of real
  examples inside the samples' manifold.
* Density and coverage (Naeem et al. 2020, k = 5): how many real k-NN balls hold a
  sample, on average, divided by k; the share of real balls that hold at least one sample.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from genzoo.errors import GenzooError


def _check(real: torch.Tensor, fake: torch.Tensor, least: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    real, fake = torch.as_tensor(real).double(), torch.as_tensor(fake).double()
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise GenzooError(f"feature sets must be (N, d) with the same d; got {tuple(real.shape)} and {tuple(fake.shape)}")
    if len(real) < least or len(fake) < least:
        raise GenzooError(f"need at least {least} real and {least} generated examples; "
                          f"got {len(real)} and {len(fake)}")
    return real, fake


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """FID between feature sets (N, d) and (M, d)."""
    from scipy import linalg

    real, fake = _check(real, fake)
    mu_r, mu_g = real.mean(0).numpy(), fake.mean(0).numpy()
    s_r, s_g = np.cov(real.numpy(), rowvar=False), np.cov(fake.numpy(), rowvar=False)
    with warnings.catch_warnings():
        # features with dead units make the product singular; its square root is still fine
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s_r @ s_g)
    if not np.isfinite(covmean).all():  # near-singular product: regularise, as is customary
        eps = 1e-6 * np.eye(len(s_r))
        covmean = linalg.sqrtm((s_r + eps) @ (s_g + eps))
    covmean = np.real(covmean)  # imaginary parts are round-off
    return float(((mu_r - mu_g) ** 2).sum() + np.trace(s_r) + np.trace(s_g) - 2 * np.trace(covmean))


def kernel_inception_distance(real: torch.Tensor, fake: torch.Tensor, *, subsets: int = 100,
                              subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """KID: (mean, std) of the unbiased MMD^2 over ``subsets`` random subsets of
    ``min(subset_size, N, M)`` examples of each set."""
    real, fake = _check(real, fake)
    d = real.shape[1]
    m = min(subset_size, len(real), len(fake))
    g = torch.Generator().manual_seed(seed)
    vals = []
    for _ in range(subsets):
        a = real[torch.randperm(len(real), generator=g)[:m]]
        b = fake[torch.randperm(len(fake), generator=g)[:m]]
        kaa, kbb, kab = ((a @ a.T / d + 1) ** 3, (b @ b.T / d + 1) ** 3, (a @ b.T / d + 1) ** 3)
        off = (kaa.sum() - kaa.diagonal().sum() + kbb.sum() - kbb.diagonal().sum()) / (m * (m - 1))
        vals.append(float(off - 2 * kab.mean()))
    v = torch.tensor(vals, dtype=torch.float64)
    return float(v.mean()), float(v.std()) if len(v) > 1 else 0.0


def inception_score(probs: torch.Tensor, *, splits: int = 10) -> tuple[float, float]:
    """IS analogue: (mean, std) over ``splits`` folds of ``exp(E KL(p(y|x) || p(y)))``."""
    p = torch.as_tensor(probs).double().clamp_min(1e-12)
    splits = max(1, min(splits, len(p)))
    scores = []
    for part in p.chunk(splits):
        marginal = part.mean(0, keepdim=True)
        scores.append(math.exp(float((part * (part.log() - marginal.log())).sum(1).mean())))
    s = torch.tensor(scores, dtype=torch.float64)
    return float(s.mean()), float(s.std()) if len(s) > 1 else 0.0


def _kth_neighbour_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance of each row of x to its k-th nearest other row, (N,)."""
    d = torch.cdist(x, x)
    return d.kthvalue(k + 1, dim=1).values  # the 1st "neighbour" is the point itself


def precision_recall_density_coverage(real: torch.Tensor, fake: torch.Tensor, *, k_pr: int = 3,
                                      k_dc: int = 5) -> dict[str, float]:
    """Precision and recall (k = ``k_pr``), density and coverage (k = ``k_dc``)."""
    real, fake = _check(real, fake, least=max(k_pr, k_dc) + 1)
    d_rf = torch.cdist(real, fake)  # (N, M)
    r_real_pr, r_fake_pr = _kth_neighbour_radius(real, k_pr), _kth_neighbour_radius(fake, k_pr)
    precision = float((d_rf <= r_real_pr[:, None]).any(0).double().mean())  # sample in some real ball
    recall = float((d_rf <= r_fake_pr[None, :]).any(1).double().mean())  # real point in some sample ball
    r_real_dc = r_real_pr if k_dc == k_pr else _kth_neighbour_radius(real, k_dc)
    inside = d_rf <= r_real_dc[:, None]  # (N, M): sample j in real ball i
    density = float(inside.double().sum(0).mean() / k_dc)
    coverage = float(inside.any(1).double().mean())  # real ball i holds a sample
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}
