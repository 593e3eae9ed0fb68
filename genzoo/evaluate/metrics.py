"""One place that evaluates a model with any of genzoo's metrics, with the settings
stated beside every number.

Metrics (``METRICS``): ``nll`` (exact / bound / estimate, :mod:`.likelihood`), ``fid``,
``kid``, ``is`` (the Inception-Score analogue), ``prdc`` (precision, recall, density,
coverage), ``modes`` (toy 2-D rings and grids, stacked MNIST), ``cas`` (classification
accuracy score of a class-conditional model), ``accuracy`` (test accuracy of a model
that classifies, such as the semi-supervised GAN) and ``recon`` (reconstruction error
x -> encode -> decode of a model with an encoder and a decoder, and for labelled images
how often the feature network still recognises the label in the reconstruction). The sample-based metrics share one set of
``samples`` drawn with a fixed seed and compare it with as many examples of the real split
(a seeded random subset; all of it if smaller), in the features of a :class:`Judge`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from genzoo.data.dataset import Dataset, random_rows
from genzoo.data.spec import DataSpec
from genzoo.errors import CapabilityError, GenzooError
from genzoo.evaluate import quality
from genzoo.evaluate.features import FeatureNet, TrainedFeatures, feature_net, features_for, train_feature_net
from genzoo.evaluate.modes import stacked_modes, toy2d_modes
from genzoo.models.base import GenerativeModel

METRICS = ("nll", "fid", "kid", "is", "prdc", "modes", "cas", "accuracy", "recon")
SAMPLE_METRICS = ("fid", "kid", "is", "prdc", "modes")


class Judge:
    """The feature space of a dataset: ``features(x)`` (N, d), ``probs(x)`` (N, K) class
    probabilities (None when there are no classes) and ``describe`` for reports.

    Images: the penultimate layer of the dataset's feature network (stacked MNIST: the
    MNIST network on each channel, features side by side, class probabilities the product
    of the channels'). Low-dimensional vectors (toy 2-D data): the points themselves.
    """

    def __init__(self, spec: DataSpec, trained: TrainedFeatures | None, *, per_channel: bool = False) -> None:
        self.spec, self.trained, self.per_channel = spec, trained, per_channel
        if trained is None:
            self.describe = f"the raw {spec.shape[0]}-d values"
        else:
            acc, info = trained.test_accuracy, trained.info
            source = {"shipped": "shipped network", "cache": "trained here, cached",
                      "trained": "trained here"}.get(info.get("source", ""), "trained here")
            what = f"genzoo CNN features of {info['dataset']}"
            self.describe = (f"{what}{' per channel' if per_channel else ''} "
                             f"({source}, {info['train_examples']} training images, test accuracy {acc:.2%})")

    @property
    def about(self) -> dict[str, Any] | None:
        """The feature network in a few fields (None for raw values): where it came from
        (``shipped``, ``cache`` or ``trained``), its dataset, variant and test accuracy."""
        if self.trained is None:
            return None
        info = self.trained.info
        return {"source": info.get("source"), "dataset": info["dataset"], "variant": info.get("variant"),
                "test_accuracy": self.trained.test_accuracy, "train_examples": info["train_examples"],
                "test_examples": info["test_examples"], "version": info.get("version")}

    @property
    def net(self) -> FeatureNet | None:
        return None if self.trained is None else self.trained.net

    def _channels(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, 1, *x.shape[2:])  # (N*C, 1, H, W)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if self.net is None:
            return x.reshape(len(x), -1).double()
        if self.per_channel:
            return self.net.features(self._channels(x)).reshape(len(x), -1)
        return self.net.features(x)

    def probs(self, x: torch.Tensor) -> torch.Tensor | None:
        if self.net is None:
            return None
        if self.per_channel:
            p = self.net.probs(self._channels(x)).reshape(len(x), -1, 10)  # (N, 3, 10)
            joint = p[:, 0, :, None, None] * p[:, 1, None, :, None] * p[:, 2, None, None, :]
            return joint.reshape(len(x), -1)  # (N, 1000)
        return self.net.probs(x)

    def digit_probs(self, x: torch.Tensor) -> torch.Tensor:
        """Stacked MNIST: (N, 3, 10) class probabilities of each channel."""
        assert self.net is not None and self.per_channel
        return self.net.probs(self._channels(x)).reshape(len(x), -1, 10)


def judge_for(name: str, data: Dataset, *, root: str | Path | None = None, features_root: str | Path | None = None,
              download: bool = False, progress: bool = False) -> Judge:
    """The judge of dataset ``name`` (as loaded in ``data``): see :class:`Judge`."""
    spec = data.spec
    if spec.kind == "vector" and spec.dim <= 16 and spec.value_type == "continuous":
        return Judge(spec, None)
    if spec.extra.get("stacked_of") == "mnist":
        from genzoo.data.dataset import load_dataset
        from genzoo.data.mnist import MnistOptions

        opts = {k: v for k, v in data.info.get("options", {}).items() if k in MnistOptions.__dataclass_fields__}
        mnist = load_dataset("mnist", root=features_root or root, download=download, **opts)
        if mnist.spec.value_type != spec.value_type:
            raise GenzooError("stacked_mnist and its MNIST feature data must share binarize/scale")
        return Judge(spec, feature_net(mnist, progress=progress), per_channel=True)
    if spec.kind != "image":
        raise GenzooError(f"sample-quality metrics are for images and low-dimensional vectors; "
                          f"{name!r} holds {spec.describe}")
    return Judge(spec, features_for(name, data, root=features_root, download=download, progress=progress))


@torch.no_grad()
def draw_samples(model: GenerativeModel, n: int, *, batch_size: int = 500, seed: int = 0,
                 condition: torch.Tensor | None = None, progress: bool = False,
                 options: dict[str, Any] | None = None) -> torch.Tensor:
    """``n`` samples on the CPU, in batches, from one seeded generator; ``options`` go to
    ``model.sample`` as keywords (the diffusion models' ``steps``, ``sampler``, ...)."""
    g = torch.Generator().manual_seed(seed)
    model.eval()
    out = []
    for i in tqdm(range(0, n, batch_size), disable=not progress, desc="sampling", leave=False):
        m = min(batch_size, n - i)
        c = None if condition is None else condition[i:i + m]
        out.append(model.sample(m, condition=c, generator=g, **(options or {})).cpu())
    return torch.cat(out)


def classification_accuracy_score(model: GenerativeModel, data: Dataset, *, per_class: int = 500,
                                  epochs: int = 10, seed: int = 0, progress: bool = False) -> dict[str, Any]:
    """CAS (Ravuri & Vinyals 2019): a classifier (the feature network's architecture and
    recipe) trained only on ``per_class`` samples of each class from a class-conditional
    model, tested on the real test split; beside it the same classifier trained on as many
    real training examples."""
    if "conditional" not in model.capabilities:
        raise CapabilityError(f"cas needs a class-conditional model; {model.name!r} samples without labels")
    spec = data.spec
    if spec.kind != "image" or not spec.num_classes or data.test.y is None:
        raise GenzooError(f"cas needs labelled images; {spec.name!r} is {spec.describe}")
    K = spec.num_classes
    labels = torch.arange(K).repeat_interleave(per_class)
    x = draw_samples(model, len(labels), condition=labels, seed=seed, progress=progress)
    from genzoo.data.dataset import Split

    fake = Dataset(spec, Split(x, labels), data.test)
    synthetic = train_feature_net(fake, epochs=epochs, seed=seed, progress=progress)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data.train), generator=g)[:len(labels)]
    real = Dataset(spec, Split(data.train.x[idx], data.train.y[idx]), data.test, transform=data.transform)
    baseline = train_feature_net(real, epochs=epochs, seed=seed, progress=progress)
    return {"accuracy": synthetic.test_accuracy, "real_data_accuracy": baseline.test_accuracy,
            "train_examples": len(labels), "per_class": per_class, "epochs": epochs,
            "test_examples": len(data.test)}


@torch.no_grad()
def classifier_accuracy(model: GenerativeModel, split, *, batch_size: int = 500) -> dict[str, Any]:
    """Test accuracy and error count of a model with the ``classify`` capability."""
    model.require("classify")
    if split.y is None:
        raise GenzooError("accuracy needs a labelled split")
    pred = torch.cat([model.classify(split.x[i:i + batch_size]).argmax(1).cpu()
                      for i in range(0, len(split), batch_size)])
    wrong = int((pred != split.y).sum())
    return {"accuracy": 1 - wrong / len(split), "errors": wrong, "examples": len(split)}


@torch.no_grad()
def reconstruction_error(model: GenerativeModel, split, *, judge: Judge | None = None,
                         batch_size: int = 500) -> dict[str, Any]:
    """x -> encode -> decode over every example of ``split``: mean squared and mean absolute
    error per value in [-1, 1] units, beside the error of predicting the split's mean
    example for every one (the floor a reconstruction must beat), and, with a ``judge``
    that classifies, the share of reconstructions given the original's label."""
    from genzoo.nn.values import to_unit

    model.require("encode")
    model.require("decode")
    if model.has("conditional"):
        raise GenzooError(f"model {model.name!r} encodes given the label; its reconstructions are not measured")
    model.eval()
    rec = torch.cat([model.decode(model.encode(split.x[i:i + batch_size].to(model.device))).cpu()
                     for i in range(0, len(split.x), batch_size)])
    u, r = to_unit(split.x, model.spec), to_unit(rec, model.spec)
    mean = u.mean(0, keepdim=True)
    out = {"mse": float((r - u).pow(2).mean()), "l1": float((r - u).abs().mean()),
           "mean_example_mse": float((mean - u).pow(2).mean()), "mean_example_l1": float((mean - u).abs().mean()),
           "examples": len(u), "units": "[-1, 1]"}
    probs = judge.probs(rec) if judge is not None and split.y is not None else None
    if probs is not None:
        out["label_kept"] = float((probs.argmax(1) == split.y).double().mean())
        out["label_kept_originals"] = float((judge.probs(split.x).argmax(1) == split.y).double().mean())
        out["features"] = judge.describe
    return out


def evaluate(model: GenerativeModel, data: Dataset, metrics: list[str], *, name: str, split: str = "test",
             samples: int | None = None, seed: int = 0, root: str | Path | None = None,
             features_root: str | Path | None = None, nll_kwargs: dict[str, Any] | None = None,
             batch_size: int = 256, progress: bool = False) -> dict[str, Any]:
    """Evaluate ``model`` on ``data`` (dataset ``name``) with ``metrics``; a dict per metric."""
    from genzoo.evaluate.likelihood import evaluate_nll

    for m in metrics:
        if m not in METRICS:
            raise GenzooError(f"unknown metric {m!r}; available: {', '.join(METRICS)}")
    real = data.fixed(split)
    out: dict[str, Any] = {}
    if "nll" in metrics:
        out["nll"] = evaluate_nll(model, real.x, batch_size=batch_size, progress=progress, **(nll_kwargs or {}))
    wanted = [m for m in metrics if m in SAMPLE_METRICS]
    if wanted:
        n = samples or min(len(real), 10000)
        if n < 10:
            raise GenzooError(f"bad value {n} for samples: sample-quality metrics need at least 10")
        ref = random_rows(real.x, n, seed=seed)
        fake = draw_samples(model, n, seed=seed, progress=progress)
        judge = judge_for(name, data, root=root, features_root=features_root, progress=progress)
        out.update(sample_metrics(fake, ref, judge, wanted, split=split, seed=seed, name=name))
    if "cas" in metrics:
        out["cas"] = classification_accuracy_score(model, data, seed=seed, progress=progress)
    if "accuracy" in metrics:
        out["accuracy"] = classifier_accuracy(model, real)
    if "recon" in metrics:
        judge = None
        if data.spec.kind == "image" and data.spec.num_classes:
            judge = judge_for(name, data, root=root, features_root=features_root, progress=progress)
        out["recon"] = reconstruction_error(model, real, judge=judge)
    return out


def sample_metrics(fake: torch.Tensor, ref: torch.Tensor, judge: Judge, wanted: list[str], *, split: str = "test",
                   seed: int = 0, name: str = "") -> dict[str, Any]:
    """The sample metrics ``wanted`` (of ``SAMPLE_METRICS``) of samples ``fake`` against
    real examples ``ref`` (of ``split``) in ``judge``'s features; a dict per metric, each
    with the counts and the feature space it rests on."""
    n = len(fake)
    base = {"samples": n, "real": len(ref), "real_split": split, "features": judge.describe, "seed": seed}
    if judge.about is not None:
        base["feature_net"] = judge.about
    out: dict[str, Any] = {}
    need_feats = any(m in wanted for m in ("fid", "kid", "prdc"))
    f_real = judge.features(ref) if need_feats else None
    f_fake = judge.features(fake) if need_feats else None
    if "fid" in wanted:
        out["fid"] = {"value": quality.frechet_distance(f_real, f_fake), **base}
    if "kid" in wanted:
        size = min(1000, n, len(ref))
        mean, std = quality.kernel_inception_distance(f_real, f_fake, subsets=100, subset_size=size, seed=seed)
        out["kid"] = {"value": mean, "std": std, "subsets": 100, "subset_size": size, **base}
    if "prdc" in wanted:
        out["prdc"] = {**quality.precision_recall_density_coverage(f_real, f_fake), "k_pr": 3, "k_dc": 5, **base}
    if "is" in wanted:
        p = judge.probs(fake)
        if p is None:
            raise GenzooError(f"the Inception-Score analogue needs a classifier; {name!r} has none")
        mean, std = quality.inception_score(p, splits=10)
        p_real = judge.probs(ref)
        real_is = quality.inception_score(p_real, splits=10)[0] if p_real is not None else math.nan
        out["is"] = {"value": mean, "std": std, "splits": 10, "real_data_value": real_is, **base}
    if "modes" in wanted:
        if judge.per_channel:
            out["modes"] = {**stacked_modes(judge.digit_probs(fake)), "features": judge.describe}
        else:
            out["modes"] = toy2d_modes(fake, judge.spec)
    return out
