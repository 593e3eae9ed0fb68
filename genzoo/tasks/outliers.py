"""Outlier detection with a likelihood model, scored by AUROC against known outliers.

Scores (higher = more outlying), for any model with a likelihood:

* ``likelihood``: ``-log p(x)``. Known to fail in instructive ways: a model of digits
  may give blank or simple images a *higher* likelihood than real digits (Nalisnick et
  al. 2019, "Do Deep Generative Models Know What They Don't Know?").
* ``typicality``: ``|-log p(x) - H|`` with H the mean NLL of the training examples, an
  estimate of the entropy: inputs far from the typical set in either direction are
  flagged (the single-input version of Nalisnick et al.'s typicality test, 2019b).
* ``ratio``: ``-(log p(x) - log q(x))``, a likelihood ratio against a background model q
  that knows only per-pixel statistics: independent pixels fitted to training images
  perturbed as Ren et al. (2019) perturb the training data of their background model
  (each pixel replaced by a uniformly random value with probability ``mu`` = 0.2), which
  gives ``q_d(v) = (1 - mu) p_d(v) + mu u(v)`` with ``p_d`` the pixel's histogram
  (categorical/binary, add-one smoothed) or Gaussian (continuous) and ``u`` uniform.
  What the model explains beyond pixel statistics counts, not how simple the image is.
  (Ren et al.'s background model is a second deep model; this one has no parameters to
  train.)

Outlier sets built from the test split (:mod:`genzoo.tasks.corrupt`): ``noise``
(independent uniform pixels), ``noisy`` (test images plus Gaussian noise),
``inverted``, ``shifted`` (moved by a quarter of the image) and ``glyphs`` (letters and
signs from a font). AUROC is scikit-learn's ``roc_auc_score`` (ties count half).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from genzoo.data.dataset import Dataset, random_rows
from genzoo.data.spec import DataSpec
from genzoo.errors import CapabilityError, GenzooError
from genzoo.models.base import GenerativeModel
from genzoo.tasks import corrupt

SCORES = ("likelihood", "typicality", "ratio")
OUTLIER_SETS = ("noise", "noisy", "inverted", "shifted", "glyphs")


def outlier_set(name: str, x: torch.Tensor, spec: DataSpec, *, seed: int = 0) -> torch.Tensor:
    """The outliers ``name`` made from (or, for noise and glyphs, as many as) images ``x``."""
    n = len(x)
    if name == "noise":
        return _uniform_images(n, spec, torch.Generator().manual_seed(seed))
    if name == "noisy":
        return corrupt.noise(x, spec, 0.5, seed=seed)
    if name == "inverted":
        return corrupt.invert(x, spec)
    if name == "shifted":
        return corrupt.shift(x, spec, max(1, spec.shape[1] // 4))
    if name == "glyphs":
        return corrupt.glyphs(spec, n, seed=seed)
    raise GenzooError(f"unknown outlier set {name!r}; available: {', '.join(OUTLIER_SETS)}")


def _uniform_images(n: int, spec: DataSpec, g: torch.Generator) -> torch.Tensor:
    shape = (n, *spec.shape)
    if spec.value_type == "binary":
        return (torch.rand(shape, generator=g) < 0.5).float()
    if spec.value_type == "categorical":
        return torch.randint(0, int(spec.num_values), shape, generator=g)
    lo, hi = spec.value_range  # type: ignore[misc]
    return lo + (hi - lo) * torch.rand(shape, generator=g)


class PixelBackground:
    """Independent pixels fitted to perturbed training images: the background model of ``ratio``."""

    def __init__(self, x: torch.Tensor, spec: DataSpec, *, mu: float = 0.2) -> None:
        self.spec, self.mu = spec, mu
        flat = x.reshape(len(x), -1)
        if spec.value_type in ("binary", "categorical"):
            K = int(spec.num_values)  # type: ignore[arg-type]
            counts = torch.nn.functional.one_hot(flat.long(), K).sum(0).double() + 1.0  # (D, K), add-one
            p = counts / counts.sum(1, keepdim=True)
            self.log_q = ((1 - mu) * p + mu / K).log()  # (D, K)
        else:
            self.mean, self.std = flat.double().mean(0), flat.double().std(0).clamp_min(1e-3)
            lo, hi = spec.value_range  # type: ignore[misc]
            self.log_uniform = -math.log(hi - lo)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log q(x), (N,)."""
        flat = x.reshape(len(x), -1)
        if self.spec.value_type in ("binary", "categorical"):
            return self.log_q.gather(1, flat.long().T).T.sum(1)
        z = (flat.double() - self.mean) / self.std
        log_gauss = -0.5 * z * z - self.std.log() - 0.5 * math.log(2 * math.pi)
        both = torch.stack([log_gauss + math.log(1 - self.mu),
                            torch.full_like(log_gauss, self.log_uniform + math.log(self.mu))])
        return torch.logsumexp(both, 0).sum(1)


@torch.no_grad()
def _nll(model: GenerativeModel, x: torch.Tensor, batch_size: int = 256, seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    return torch.cat([-model.log_prob(x[i:i + batch_size].to(model.device)).double().cpu()
                      for i in range(0, len(x), batch_size)])


def auroc(inlier_scores: torch.Tensor, outlier_scores: torch.Tensor) -> float:
    """Area under the ROC curve of telling outliers (positives) by a higher score."""
    from sklearn.metrics import roc_auc_score

    s = torch.cat([inlier_scores, outlier_scores]).nan_to_num(posinf=1e300, neginf=-1e300)
    y = torch.cat([torch.zeros(len(inlier_scores)), torch.ones(len(outlier_scores))])
    return float(roc_auc_score(y.numpy(), s.numpy()))


def roc_curve(inlier_scores: torch.Tensor, outlier_scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.metrics import roc_curve as sk_roc

    s = torch.cat([inlier_scores, outlier_scores]).nan_to_num(posinf=1e300, neginf=-1e300)
    y = torch.cat([torch.zeros(len(inlier_scores)), torch.ones(len(outlier_scores))])
    fpr, tpr, _ = sk_roc(y.numpy(), s.numpy())
    return torch.from_numpy(fpr), torch.from_numpy(tpr)


def detect(model: GenerativeModel, data: Dataset, *, count: int = 1000, sets: tuple[str, ...] = OUTLIER_SETS,
           scores: tuple[str, ...] = SCORES, seed: int = 0) -> dict[str, Any]:
    """Score ``count`` test images and ``count`` outliers of each set; AUROC per (set, score).

    Returns ``{"auroc": {set: {score: value}}, "scores": {set or "inliers": {score: (N,)}},
    "typical_nll": H, ...}``.
    """
    if model.likelihood is None:
        raise CapabilityError(f"model {model.name!r} has no likelihood to score outliers with")
    spec = data.spec
    if spec.kind != "image":
        raise GenzooError(f"outlier sets are made of images; {spec.name!r} holds {spec.describe}")
    for s in scores:
        if s not in SCORES:
            raise GenzooError(f"unknown outlier score {s!r}; available: {', '.join(SCORES)}")
    test = random_rows(data.fixed("test").x, count, seed=seed)
    train = data.fixed("train").x
    ref = random_rows(train, count, seed=seed)
    typical = float(_nll(model, ref, seed=seed).mean())  # H, the entropy estimate
    background = PixelBackground(train, spec) if "ratio" in scores else None

    def score(x: torch.Tensor) -> dict[str, torch.Tensor]:
        nll = _nll(model, x, seed=seed)
        out = {}
        if "likelihood" in scores:
            out["likelihood"] = nll
        if "typicality" in scores:
            out["typicality"] = (nll - typical).abs()
        if background is not None:
            out["ratio"] = nll + background.log_prob(x)  # -(log p - log q)
        return out

    all_scores = {"inliers": score(test)}
    table: dict[str, dict[str, float]] = {}
    for name in sets:
        all_scores[name] = score(outlier_set(name, test, spec, seed=seed))
        table[name] = {s: auroc(all_scores["inliers"][s], all_scores[name][s]) for s in scores}
    return {"auroc": table, "scores": all_scores, "typical_nll": typical, "count": len(test),
            "likelihood": model.likelihood_note(), "sets": list(sets), "score_names": list(scores)}
