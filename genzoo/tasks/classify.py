"""Classification with generative models: Bayes' rule over class-conditional likelihoods.

``p(y | x) = p(x | y) p(y) / sum_k p(x | k) p(k)``, with ``p(x | y)`` from either one
class-conditional model (``log_prob(x, y=k)``: cvae, pixelcnn/gated_pixelcnn with
``conditional=true``) or one model per class, each trained on that class alone, and
``p(y)`` the class frequencies of the labelled examples. A bound (cvae) or an estimate
stands in for the likelihood where the model has no exact one.

:func:`learning_curve` trains the generative classifier and a discriminative classifier
of about the same number of parameters (an MLP, width chosen to match) on the same n
labelled examples per class, for growing n: the classic comparison of Ng & Jordan
(2002), where the generative classifier tends to win with few labels and the
discriminative one with many.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from genzoo.data.dataset import Dataset, Split
from genzoo.errors import CapabilityError, GenzooError
from genzoo.models.base import GenerativeModel, count_parameters
from genzoo.models.registry import build_model, get_model_class
from genzoo.nn.values import to_unit
from genzoo.train.config import TrainConfig


@torch.no_grad()
def class_log_likelihoods(models: GenerativeModel | list[GenerativeModel], x: torch.Tensor, num_classes: int,
                          *, batch_size: int = 256, seed: int = 0) -> torch.Tensor:
    """log p(x | k) for every class k, (N, K): from one conditional model or K models."""
    torch.manual_seed(seed)  # stochastic bounds (cvae) give the same numbers every time
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        if isinstance(models, list):
            cols = [m.log_prob(xb.to(m.device)).cpu() for m in models]
        else:
            if "conditional" not in models.capabilities:
                raise CapabilityError(f"model {models.name!r} is not class-conditional; train one model per "
                                      "class instead (genzoo classify MODEL --data DATA)")
            cols = [models.log_prob(xb.to(models.device), y=torch.full((len(xb),), k, device=models.device)).cpu()
                    for k in range(num_classes)]
        out.append(torch.stack(cols, 1).double())
    return torch.cat(out)


def bayes_rule(log_lik: torch.Tensor, log_prior: torch.Tensor) -> torch.Tensor:
    """Posterior class probabilities (N, K) from log p(x|k) (N, K) and log p(k) (K,)."""
    return F.softmax(log_lik + log_prior.to(log_lik), 1)


def labelled_subset(split: Split, per_class: int | None, num_classes: int, *, seed: int = 0) -> Split:
    """``per_class`` examples of every class (all when None), a seeded stratified draw."""
    if split.y is None:
        raise GenzooError("classification needs labels")
    if per_class is None:
        return split
    g = torch.Generator().manual_seed(seed)
    idx = []
    for k in range(num_classes):
        members = (split.y == k).nonzero().flatten()
        if len(members) < per_class:
            raise GenzooError(f"class {k} has only {len(members)} training examples; asked for {per_class}")
        idx.append(members[torch.randperm(len(members), generator=g)[:per_class]])
    idx = torch.cat(idx)
    return Split(split.x[idx], split.y[idx])


def log_prior(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    counts = torch.bincount(y, minlength=num_classes).double()
    return (counts + 1e-12).log() - counts.sum().log()


@dataclass
class GenerativeClassifier:
    """Trained class-conditional likelihood model(s) and the class prior."""

    models: GenerativeModel | list[GenerativeModel]
    log_prior: torch.Tensor
    num_classes: int

    @property
    def parameters(self) -> int:
        ms = self.models if isinstance(self.models, list) else [self.models]
        return sum(count_parameters(m) for m in ms)

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        return bayes_rule(class_log_likelihoods(self.models, x, self.num_classes), self.log_prior)

    def accuracy(self, split: Split) -> float:
        assert split.y is not None
        return float((self.predict_proba(split.x).argmax(1) == split.y).double().mean())


def train_generative_classifier(model: str, data: Dataset, labelled: Split, *, config: dict[str, Any] | None = None,
                                train: TrainConfig, conditional: bool = False,
                                progress: bool = False) -> GenerativeClassifier:
    """Train one conditional model (``conditional``) or one model per class on ``labelled``."""
    from genzoo.train.trainer import Trainer

    K = int(data.spec.num_classes or 0)
    if not K or labelled.y is None:
        raise GenzooError(f"classification needs labelled data; {data.spec.name!r} has no labels")
    cfg = dict(config or {})
    if conditional:
        if "conditional" in get_model_class(model).Config.__dataclass_fields__:
            cfg["conditional"] = True
        m = build_model(model, data.spec, cfg)
        if "conditional" not in m.capabilities:
            raise CapabilityError(f"model {model!r} has no class-conditional form; drop --conditional to train "
                                  "one model per class")
        sub = Dataset(data.spec, labelled, data.test, transform=data.transform)
        Trainer(m, sub, _fit(train, len(labelled)), progress=progress).fit()
        return GenerativeClassifier(m.eval(), log_prior(labelled.y, K), K)
    models = []
    for k in tqdm(range(K), disable=not progress, desc=f"one {model} per class", leave=False):
        members = labelled.y == k
        sub = Dataset(data.spec, Split(labelled.x[members], labelled.y[members]), data.test, transform=data.transform)
        torch.manual_seed(train.seed + k)
        m = build_model(model, data.spec, cfg)
        Trainer(m, sub, _fit(replace(train, seed=train.seed + k), int(members.sum())), progress=False).fit()
        models.append(m.eval())
    return GenerativeClassifier(models, log_prior(labelled.y, K), K)


def _fit(train: TrainConfig, n: int) -> TrainConfig:
    """The trainer settings, with the batch no larger than the examples and no files."""
    return replace(train, batch_size=min(train.batch_size or n, n), checkpoint_every=0, sample_every=0)


class MLPClassifier(nn.Module):
    """The discriminative baseline: x in [-1, 1] -> h -> h -> classes, ReLU, dropout 0.2."""

    def __init__(self, dim: int, width: int, classes: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, width), nn.ReLU(), nn.Dropout(0.2), nn.Linear(width, width),
                                 nn.ReLU(), nn.Dropout(0.2), nn.Linear(width, classes))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.net(u.flatten(1))


def width_for(parameters: int, dim: int, classes: int) -> int:
    """MLP width h whose parameter count D h + h + h^2 + h + h K + K is closest to ``parameters``."""
    b = dim + classes + 2
    h = (-b + math.sqrt(b * b + 4 * max(parameters - classes, 1))) / 2
    return max(4, round(h))


def train_discriminative(data: Dataset, labelled: Split, *, parameters: int, steps: int = 2000,
                         batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 1e-4,
                         seed: int = 0) -> tuple[float, int]:
    """Test accuracy of an MLP of about ``parameters`` weights trained on ``labelled``;
    returns (accuracy, its parameter count)."""
    spec = data.spec
    K = int(spec.num_classes or 0)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net = MLPClassifier(spec.dim, width_for(parameters, spec.dim, K), K)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    n = len(labelled)
    for _ in range(steps):
        idx = torch.randint(n, (min(batch_size, n),), generator=g)
        xb = labelled.x[idx] if data.transform is None else data.transform(labelled.x[idx], g)
        loss = F.cross_entropy(net(to_unit(xb, spec)), labelled.y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    test = data.fixed("test")
    with torch.no_grad():
        acc = float((net(to_unit(test.x, spec)).argmax(1) == test.y).double().mean())
    return acc, sum(p.numel() for p in net.parameters())


def learning_curve(model: str, data: Dataset, sizes: list[int | None], *, config: dict[str, Any] | None = None,
                   train: TrainConfig, conditional: bool = False, seed: int = 0,
                   progress: bool = False) -> list[dict[str, Any]]:
    """For each n in ``sizes`` (labelled examples per class; None = all): the test accuracy
    of the generative classifier and of the discriminative MLP of about its size."""
    K = int(data.spec.num_classes or 0)
    if not K or data.train.y is None or data.test.y is None:
        raise GenzooError(f"classification needs labelled train and test splits; {data.spec.name!r} has none")
    test = data.fixed("test")
    rows = []
    for n in sizes:
        labelled = labelled_subset(data.train, n, K, seed=seed)
        gen = train_generative_classifier(model, data, labelled, config=config, train=train,
                                          conditional=conditional, progress=progress)
        gen_acc = gen.accuracy(test)
        disc_acc, disc_params = train_discriminative(data, labelled, parameters=gen.parameters, seed=seed)
        rows.append({"labels_per_class": n if n is not None else "all", "labelled": len(labelled),
                     "generative_accuracy": gen_acc, "discriminative_accuracy": disc_acc,
                     "generative_parameters": gen.parameters, "discriminative_parameters": disc_params})
    return rows


def run_classifier(loaded: Any) -> tuple[Dataset, GenerativeClassifier]:
    """The Bayes-rule classifier of a trained class-conditional run (a
    :class:`genzoo.run.LoadedRun`), with the class prior of its training labels, and its data."""
    from genzoo.run import load_data

    data = load_data(loaded.config, download=False)
    K = int(loaded.spec.num_classes or 0)
    if not K or data.train.y is None:
        raise GenzooError(f"{loaded.config.data!r} has no labels to classify")
    return data, GenerativeClassifier(loaded.model, log_prior(data.train.y, K), K)


def classify_run(loaded: Any, split: str, out: Path) -> dict[str, Any]:
    """Bayes-rule classification with a trained class-conditional run (a
    :class:`genzoo.run.LoadedRun`) on ``split``: the accuracy and confusion matrix, written
    to ``out/results.json`` and ``out/confusion.png``; returns the results."""
    from genzoo.report.plots import confusion_matrix_png

    data, clf = run_classifier(loaded)
    K = clf.num_classes
    examples = data.fixed(split)
    pred = clf.predict_proba(examples.x).argmax(1)
    acc = float((pred == examples.y).double().mean())
    out.mkdir(parents=True, exist_ok=True)
    cm = torch.zeros(K, K, dtype=torch.long)
    cm.index_put_((examples.y, pred), torch.ones_like(pred), accumulate=True)
    confusion_matrix_png(cm, out / "confusion.png", title=f"{loaded.config.model}: Bayes-rule classifier")
    res = {"run": str(loaded.path), "model": loaded.config.model, "split": split, "accuracy": acc,
           "examples": len(examples), "likelihood": loaded.model.likelihood_note(y=examples.y[:1]),
           "confusion": cm.tolist()}
    (out / "results.json").write_text(json.dumps(res, indent=2))
    return res
