"""Classify, or say "I don't know": Bayes-rule classification with a reject option.

The generative classifier of :mod:`genzoo.tasks.classify` labels every input, even one
that is no digit at all. Its class-conditional likelihoods also say how *typical* an input
is for each class: with ``H_k`` and ``s_k`` the mean and the standard deviation of
``-log p(x | k)`` over training examples of class k (the typical-set view of
:mod:`genzoo.tasks.outliers`, per class), the input's atypicality under class k is
``z_k(x) = |-log p(x | k) - H_k| / s_k``, and the reject score is

    r(x) = min_k z_k(x)                (atypical under *every* class model)

An input with ``r(x) > tau`` is rejected; the others get the Bayes-rule label
``argmax_k log p(x | k) + log p(k)``. Over a range of thresholds tau,
:func:`reject_curve` reports the accuracy on the accepted clean inputs and the share of
clean inputs and of outliers (the sets of ``genzoo outliers``) that are rejected.
:func:`classify_with_reject` adds the operating point that rejects a chosen share of the
*training* examples (thresholds are set without looking at test data or outliers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from genzoo.data.dataset import Dataset, Split, random_rows
from genzoo.errors import GenzooError
from genzoo.tasks.classify import GenerativeClassifier, class_log_likelihoods
from genzoo.tasks.outliers import OUTLIER_SETS, outlier_set


@dataclass
class ClassTypicality:
    """Per-class mean ``H`` (K,) and standard deviation ``s`` (K,) of ``-log p(x | k)``
    over training examples of class k."""

    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def fit(cls, log_lik: torch.Tensor, y: torch.Tensor) -> ClassTypicality:
        """From log p(x | k) (N, K) of labelled examples with labels y (N,)."""
        K = log_lik.shape[1]
        mean, std = torch.empty(K, dtype=torch.float64), torch.empty(K, dtype=torch.float64)
        for k in range(K):
            own = -log_lik[y == k, k].double()  # NLL of class-k examples under class k
            if len(own) < 2:
                raise GenzooError(f"class {k} has {len(own)} reference examples; the reject option needs "
                                  "at least 2 per class to measure what is typical")
            mean[k], std[k] = own.mean(), own.std().clamp_min(1e-6)
        return cls(mean, std)

    def score(self, log_lik: torch.Tensor) -> torch.Tensor:
        """Reject score ``r(x) = min_k |-log p(x|k) - H_k| / s_k`` (N,) from (N, K)."""
        return ((-log_lik.double() - self.mean) / self.std).abs().min(1).values


def reject_curve(clean_log_lik: torch.Tensor, y: torch.Tensor, log_prior: torch.Tensor,
                 outlier_log_lik: dict[str, torch.Tensor], typicality: ClassTypicality,
                 thresholds: list[float]) -> list[dict[str, Any]]:
    """One row per threshold tau: ``accuracy_accepted`` (Bayes-rule accuracy on the
    accepted clean inputs; None when none is accepted), ``clean_rejected``,
    ``outliers_rejected`` (all sets pooled), ``rejected`` per set and ``accepted_outliers``
    (share of the accepted inputs that are outliers).

    Args:
        clean_log_lik: log p(x | k) (N, K) of clean inputs with labels ``y`` (N,).
        outlier_log_lik: set name -> log p(x | k) (M, K) of its outliers.
    """
    pred = (clean_log_lik.double() + log_prior.double()).argmax(1)
    correct = pred == y
    r_clean = typicality.score(clean_log_lik)
    r_out = {name: typicality.score(ll) for name, ll in outlier_log_lik.items()}
    pooled = torch.cat(list(r_out.values())) if r_out else torch.zeros(0, dtype=torch.float64)
    rows = []
    for tau in thresholds:
        keep = r_clean <= tau
        kept_out = int((pooled <= tau).sum())
        n_acc = int(keep.sum())
        rows.append({
            "threshold": tau,
            "accuracy_accepted": float(correct[keep].double().mean()) if n_acc else None,
            "clean_rejected": 1.0 - n_acc / max(len(keep), 1),
            "outliers_rejected": float((pooled > tau).double().mean()) if len(pooled) else None,
            "rejected": {name: float((r > tau).double().mean()) for name, r in r_out.items()},
            "accepted_outliers": kept_out / (n_acc + kept_out) if n_acc + kept_out else None,
        })
    return rows


def threshold_grid(scores: torch.Tensor, points: int) -> list[float]:
    """Thresholds spread over the scores' quantiles, from rejecting everything (below
    the smallest score) to rejecting nothing (infinity), increasing."""
    s = scores.double()
    s = s[torch.isfinite(s)]
    inner = torch.quantile(s, torch.linspace(0, 1, points, dtype=torch.float64)).tolist() if len(s) else []
    lowest = (min(inner) - 1.0) if inner else 0.0
    return sorted({lowest, *inner, math.inf})


def check_options(*, count: int, sets: tuple[str, ...], reject_rate: float) -> None:
    """Refuse bad settings of :func:`classify_with_reject` (before any training)."""
    if not 0.0 <= reject_rate < 1.0:
        raise GenzooError(f"bad value {reject_rate!r} for the reject rate: must be in [0, 1)")
    if count < 2:
        raise GenzooError(f"bad value {count} for the count: must be >= 2")
    for name in sets:
        if name not in OUTLIER_SETS:
            raise GenzooError(f"unknown outlier set {name!r}; available: {', '.join(OUTLIER_SETS)}")


def split_off_reference(labelled: Split, fraction: float, *, seed: int = 0) -> tuple[Split, Split]:
    """``(train, reference)``: ``fraction`` of every class's labelled examples held out
    (at least 2 a class) as the reference of :func:`classify_with_reject`, so the typical
    NLLs are measured on examples the class models never saw."""
    if labelled.y is None:
        raise GenzooError("the reject option needs labelled examples")
    if not 0.0 < fraction < 1.0:
        raise GenzooError(f"bad value {fraction!r} for the held-out fraction: must be in (0, 1)")
    g = torch.Generator().manual_seed(seed)
    keep, held = [], []
    for k in labelled.y.unique().tolist():
        members = (labelled.y == k).nonzero().flatten()
        members = members[torch.randperm(len(members), generator=g)]
        n = max(2, round(fraction * len(members)))
        if n >= len(members):
            raise GenzooError(f"class {k} has {len(members)} labelled examples: too few to hold out {n} "
                              "as the reject option's reference and train on the rest")
        held.append(members[:n])
        keep.append(members[n:])
    a, b = torch.cat(keep), torch.cat(held)
    return Split(labelled.x[a], labelled.y[a]), Split(labelled.x[b], labelled.y[b])


def classify_with_reject(clf: GenerativeClassifier, data: Dataset, *, count: int = 1000,
                         sets: tuple[str, ...] = OUTLIER_SETS, reject_rate: float = 0.05, points: int = 50,
                         seed: int = 0, reference: Split | None = None) -> dict[str, Any]:
    """The reject option on ``count`` test examples mixed with ``count`` outliers of each
    set: the curve over thresholds and the operating point that rejects ``reject_rate``
    of ``count`` training examples.

    Returns ``{"curve": rows, "operating_point": row, "accuracy_without_reject": float,
    "typical_nll": per-class H, ...}``.
    """
    spec = data.spec
    K = clf.num_classes
    if spec.kind != "image":
        raise GenzooError(f"the outlier sets are made of images; {spec.name!r} holds {spec.describe}")
    check_options(count=count, sets=sets, reject_rate=reject_rate)
    train, test = data.fixed("train"), data.fixed("test")
    if train.y is None or test.y is None:
        raise GenzooError(f"the reject option needs labelled train and test splits; {spec.name!r} has none")
    if reference is None:  # ceil(count / K) training examples of every class (all of a smaller class)
        per_class = max(2, math.ceil(count / K))
        rows = torch.cat([random_rows((train.y == k).nonzero().flatten(), per_class, seed=seed) for k in range(K)])
        reference = Split(train.x[rows], train.y[rows])
        where = "training examples"
    else:
        where = "held-out labelled examples"
    if reference.y is None:
        raise GenzooError("the reject option's reference examples need labels")
    ref_ll = class_log_likelihoods(clf.models, reference.x, K, seed=seed)
    typicality = ClassTypicality.fit(ref_ll, reference.y)
    pick = random_rows(torch.arange(len(test)), count, seed=seed)
    x, y = test.x[pick], test.y[pick]
    clean_ll = class_log_likelihoods(clf.models, x, K, seed=seed)
    out_ll = {name: class_log_likelihoods(clf.models, outlier_set(name, x, spec, seed=seed), K, seed=seed)
              for name in sets}
    all_scores = torch.cat([typicality.score(clean_ll), *(typicality.score(v) for v in out_ll.values())])
    curve = reject_curve(clean_ll, y, clf.log_prior, out_ll, typicality, threshold_grid(all_scores, points))
    r_ref = typicality.score(ref_ll)
    tau = float(torch.quantile(r_ref, 1.0 - reject_rate)) if reject_rate > 0 else math.inf
    point = reject_curve(clean_ll, y, clf.log_prior, out_ll, typicality, [tau])[0]
    plain = (clean_ll + clf.log_prior.to(clean_ll)).argmax(1) == y
    return {"curve": curve, "operating_point": point, "reject_rate_reference": reject_rate,
            "reference": f"{len(reference)} {where}",
            "accuracy_without_reject": float(plain.double().mean()), "count": len(x), "sets": list(sets),
            "typical_nll": typicality.mean.tolist(), "typical_nll_std": typicality.std.tolist()}
