"""An in-domain feature network for sample-quality metrics, trained once and cached.

Inception weights cannot be downloaded offline, and for digits an in-domain network is
the better judge anyway (it knows what a 3 looks like). For each labelled image dataset
genzoo trains a small CNN classifier with a fixed seed on the train split and caches it
under ``$GENZOO_HOME/features/``; its penultimate layer (``FEATURES`` = 128 units) is
the feature space of FID, KID, precision/recall and density/coverage, and its softmax
gives the Inception-Score analogue, mode counts of stacked MNIST and the classifier of
the classification accuracy score.

Network: conv 3x3 (32) - ReLU - conv 3x3 (32) - ReLU - max-pool 2 - conv 3x3 (64) -
ReLU - conv 3x3 (64) - ReLU - max-pool 2 - dense 128 - ReLU - dropout 0.3 - dense to
the classes. Inputs are the images scaled to [-1, 1] (:func:`genzoo.nn.values.to_unit`),
so binary, categorical and continuous images of the same digits share one network.
Training: Adam with a one-cycle schedule, random shifts of up to H/14 pixels (2 on
MNIST), ``epochs`` passes but at least 2,000 steps, seed 0.

Datasets without labels borrow the network of a labelled dataset with the same images
(``binarized_mnist`` uses MNIST's, trained on dynamically binarized MNIST so that it
sees binary digits like the ones it judges).

Shipped networks: the built-in image datasets come with their networks already trained
(``genzoo/evaluate/weights/<name>.safetensors`` in float16, beside ``<name>.json`` with the
test accuracy, the training settings and the weights' sha256; :data:`SHIPPED` lists them,
``benchmarks/make_feature_nets.py`` regenerates them). A shipped network is a fixed
feature space, like Inception weights for CIFAR: it is used for its dataset whatever the
local copy of the training files (MNIST's was trained on a 10,000-image subset of the
official 60,000). Lookup in :func:`feature_net`: the user's cache entry for exactly this
data, else the shipped network of the same dataset, variant and recipe, else train now
and cache. ``GENZOO_FEATURES=train`` (or ``shipped=False``) never uses shipped networks.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from genzoo.data.dataset import Dataset, genzoo_home
from genzoo.data.spec import DataSpec
from genzoo.errors import DataFileError, GenzooError
from genzoo.nn.values import to_unit

FEATURES = 128
VERSION = 1  # bump when the network or its training changes: old caches are not read
EPOCHS, MIN_STEPS = 10, 2000  # the recipe of cached and shipped networks
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

# Shipped networks: file stem -> (dataset, its options). One file per distinct network:
# the scale options give the network the same inputs (see variant()), so one grey network
# serves levels, unit and symmetric.
SHIPPED: dict[str, tuple[str, dict[str, Any]]] = {
    "digits": ("digits", {}),
    "mnist": ("mnist", {}),
    "mnist-dynamic": ("mnist", {"binarize": "dynamic"}),
}


class FeatureNet(nn.Module):
    """Small CNN classifier; ``features(x)`` is its penultimate layer (B, 128)."""

    def __init__(self, spec: DataSpec, num_classes: int) -> None:
        super().__init__()
        if spec.kind != "image":
            raise GenzooError(f"the feature network reads images; {spec.name!r} holds {spec.kind}s")
        self.spec = spec
        C, H, W = spec.shape
        self.conv = nn.Sequential(
            nn.Conv2d(C, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2, ceil_mode=True))
        h, w = math.ceil(math.ceil(H / 2) / 2), math.ceil(math.ceil(W / 2) / 2)  # two ceil-mode halvings
        self.dense = nn.Linear(64 * h * w, FEATURES)
        self.drop = nn.Dropout(0.3)
        self.classify = nn.Linear(FEATURES, num_classes)

    def _penultimate(self, u: torch.Tensor) -> torch.Tensor:
        return F.relu(self.dense(self.conv(u).flatten(1)))  # (B, 128)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """Class logits (B, classes) for inputs (B, C, H, W) in [-1, 1]."""
        return self.classify(self.drop(self._penultimate(u)))

    @torch.no_grad()
    def features(self, x: torch.Tensor, *, batch_size: int = 500) -> torch.Tensor:
        """Penultimate features (N, 128) float64 of images ``x`` in the data's own space."""
        return self._batched(x, self._penultimate, batch_size).double()

    @torch.no_grad()
    def probs(self, x: torch.Tensor, *, batch_size: int = 500) -> torch.Tensor:
        """Class probabilities (N, classes) float64 of images ``x`` in the data's own space."""
        return self._batched(x, lambda u: F.softmax(self(u), -1), batch_size).double()

    def _batched(self, x: torch.Tensor, fn, batch_size: int) -> torch.Tensor:
        was = self.training
        self.eval()
        try:
            dev = next(self.parameters()).device
            return torch.cat([fn(to_unit(x[i:i + batch_size].to(dev), self.spec)).cpu()
                              for i in range(0, len(x), batch_size)])
        finally:
            self.train(was)


def _shift(u: torch.Tensor, g: torch.Generator, max_shift: int) -> torch.Tensor:
    """The batch (B, C, H, W) moved by a random number of pixels in [-max_shift, max_shift]
    each way, one shift per batch (cheap), filled with the background value -1."""
    if max_shift == 0:
        return u
    dx, dy = (int(v) for v in torch.randint(-max_shift, max_shift + 1, (2,), generator=g))
    out = torch.full_like(u, -1.0)
    H, W = u.shape[-2:]
    out[..., max(dy, 0):H + min(dy, 0), max(dx, 0):W + min(dx, 0)] = \
        u[..., max(-dy, 0):H + min(-dy, 0), max(-dx, 0):W + min(-dx, 0)]
    return out


@dataclass
class TrainedFeatures:
    """A feature network and how well it classifies its test split."""

    net: FeatureNet
    test_accuracy: float
    info: dict[str, Any]


def train_feature_net(data: Dataset, *, epochs: int = EPOCHS, min_steps: int = MIN_STEPS, batch_size: int = 128,
                      lr: float = 2e-3, seed: int = 0, progress: bool = False) -> TrainedFeatures:
    """Train the feature network on ``data.train`` (labels needed) with a fixed seed:
    ``epochs`` passes, more if needed to make ``min_steps`` steps (small datasets)."""
    spec = data.spec
    if data.train.y is None or not spec.num_classes:
        raise GenzooError(f"the feature network is a classifier; dataset {spec.name!r} has no labels")
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net = FeatureNet(spec, spec.num_classes)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    x, y = data.train.x, data.train.y
    per_epoch = -(-len(x) // batch_size)
    epochs = max(epochs, -(-min_steps // per_epoch))
    steps = epochs * per_epoch
    max_shift = spec.shape[1] // 14  # 2 pixels on 28x28, none on 8x8
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    net.train()
    bar = tqdm(total=steps, disable=not progress, desc=f"feature network ({spec.name})", leave=False)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            xb = x[idx] if data.transform is None else data.transform(x[idx], g)
            loss = F.cross_entropy(net(_shift(to_unit(xb, spec), g, max_shift)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            bar.update()
    bar.close()
    net.eval()
    test = data.fixed("test")
    acc = float((net.probs(test.x).argmax(1) == test.y).double().mean()) if test.y is not None else float("nan")
    info = {"dataset": spec.name, "epochs": epochs, "steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed,
            "train_examples": len(x), "test_examples": len(test.x), "test_accuracy": acc, "version": VERSION}
    return TrainedFeatures(net, acc, info)


def _fingerprint(data: Dataset) -> str:
    """What the cached network depends on: the spec, the training data, the recipe."""
    h = hashlib.sha256()
    h.update(json.dumps([VERSION, data.spec.to_dict()], sort_keys=True, default=str).encode())
    for t in (data.train.x, data.train.y):
        if t is not None:
            h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def variant(spec: DataSpec, *, dynamic: bool) -> str:
    """What the network sees of the images: ``grey`` (grey levels, whatever the scale:
    :func:`to_unit` maps every scale onto the same inputs), ``dynamic`` (fresh binary
    samples each batch, ``dynamic`` True) or ``threshold`` (fixed binary images)."""
    if spec.value_type == "binary":
        return "dynamic" if dynamic else "threshold"
    return "grey"


def use_shipped() -> bool:
    """False when ``GENZOO_FEATURES=train``: always train (and cache) on the data at hand."""
    mode = os.environ.get("GENZOO_FEATURES", "auto").strip().lower() or "auto"
    if mode not in ("auto", "train"):
        raise GenzooError(f"bad value {mode!r} for GENZOO_FEATURES: auto (default) or train")
    return mode == "auto"


def shipped_name(spec: DataSpec, *, dynamic: bool, dataset: str | None = None) -> str | None:
    """The stem of the shipped network for images of ``spec`` (as those of built-in dataset
    ``dataset``, default ``spec.name``), or None when none fits: same dataset, shape,
    classes, number of grey levels and :func:`variant`."""
    name = dataset or spec.name
    for stem, (ds, _) in SHIPPED.items():
        meta = WEIGHTS_DIR / f"{stem}.json"
        if ds != name or not meta.is_file():
            continue
        info = json.loads(meta.read_text())
        made = DataSpec.from_dict(info["spec"])
        # a proxy (dataset given) has no labels of its own; it borrows the twin's classes
        if (tuple(spec.shape) == made.shape and (dataset is not None or spec.num_classes == made.num_classes)
                and variant(spec, dynamic=dynamic) == info["variant"]
                and (spec.value_type != "categorical" or spec.num_values == made.num_values)):
            return stem
    return None


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_shipped(stem: str, spec: DataSpec) -> TrainedFeatures:
    """The shipped network ``stem`` (float16 on disk, float32 here) reading images of ``spec``."""
    weights, meta = WEIGHTS_DIR / f"{stem}.safetensors", WEIGHTS_DIR / f"{stem}.json"
    try:
        info = json.loads(meta.read_text())
        if sha256_of(weights) != info["sha256"]:
            raise DataFileError(f"the shipped feature network {weights} does not match its sha256 in {meta.name}; "
                                "reinstall genzoo or regenerate it (benchmarks/make_feature_nets.py)")
        net = FeatureNet(spec, int(info["spec"]["num_classes"]))
        net.load_state_dict({k: v.float() for k, v in load_file(str(weights)).items()})
    except (OSError, KeyError, ValueError, RuntimeError) as e:
        raise DataFileError(f"cannot read the shipped feature network {weights}: {e}") from None
    return TrainedFeatures(net.eval(), float(info["test_accuracy"]), {**info, "source": "shipped"})


def feature_net(data: Dataset, *, epochs: int = EPOCHS, min_steps: int = MIN_STEPS, cache: bool = True,
                shipped: bool = True, progress: bool = False) -> TrainedFeatures:
    """The feature network of ``data``: from the user's cache (trained on exactly this
    data), else the shipped network of this built-in dataset (default recipe only; not
    when ``shipped`` is False or ``GENZOO_FEATURES=train``), else trained now (then cached).

    The cache key covers the spec, every training example and label, and the network
    version, so a different dataset, split or preprocessing trains a new network.
    ``info["source"]`` says which: ``cache``, ``shipped`` or ``trained``.
    """
    key = f"{data.spec.name}-{_fingerprint(data)}-e{epochs}-s{min_steps}"
    folder = genzoo_home() / "features"
    weights, meta = folder / f"{key}.safetensors", folder / f"{key}.json"
    if cache and weights.is_file() and meta.is_file():
        try:
            info = json.loads(meta.read_text())
            net = FeatureNet(data.spec, int(data.spec.num_classes or 0))
            net.load_state_dict(load_file(str(weights)))
            return TrainedFeatures(net.eval(), float(info["test_accuracy"]), {**info, "source": "cache"})
        except Exception:  # noqa: BLE001 - a damaged cache entry is rebuilt, never trusted
            pass
    if shipped and use_shipped() and (epochs, min_steps) == (EPOCHS, MIN_STEPS):
        stem = shipped_name(data.spec, dynamic=data.transform is not None)
        if stem is not None:
            return load_shipped(stem, data.spec)
    trained = train_feature_net(data, epochs=epochs, min_steps=min_steps, progress=progress)
    if cache:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = weights.with_suffix(".tmp")
            save_file(trained.net.state_dict(), str(tmp))
            tmp.replace(weights)
            meta.write_text(json.dumps(trained.info, indent=2))
        except OSError as e:
            raise DataFileError(f"cannot write the feature-network cache in {folder}: {e}") from None
    return TrainedFeatures(trained.net, trained.test_accuracy, {**trained.info, "source": "trained"})


# Label-less datasets judged by the network of a labelled dataset with the same images:
# name -> (labelled dataset, its options)
PROXIES: dict[str, tuple[str, dict[str, Any]]] = {
    "binarized_mnist": ("mnist", {"binarize": "dynamic"}),
}


def features_for(name: str, data: Dataset, *, root: str | Path | None = None, download: bool = False,
                 progress: bool = False) -> TrainedFeatures:
    """The feature network that judges samples of dataset ``name`` (loaded as ``data``).

    Labelled image datasets use their own; those in :data:`PROXIES` the network of their
    labelled twin, read from ``root`` (or downloaded when allowed), or the twin's shipped
    network when its files are not at hand.
    """
    if data.spec.kind != "image":
        raise GenzooError(f"sample-quality metrics need images; {name!r} holds {data.spec.kind}s")
    if data.train.y is not None and data.spec.num_classes:
        return feature_net(data, progress=progress)
    if name not in PROXIES:
        raise GenzooError(f"dataset {name!r} has no labels to train a feature network on")
    from genzoo.data.dataset import load_dataset

    twin, opts = PROXIES[name]
    try:
        labelled = load_dataset(twin, root=root, download=download, **opts)
    except DataFileError as e:
        # without the twin's files there is no cache entry to look up; its shipped network needs none
        stem = shipped_name(data.spec, dynamic=opts.get("binarize") == "dynamic", dataset=twin)
        if stem is not None and use_shipped():
            return load_shipped(stem, data.spec)
        raise DataFileError(f"the feature network of {name!r} is trained on {twin!r}, whose files are needed: "
                            f"give their folder with --features-data-dir DIR ({e})") from None
    return feature_net(labelled, progress=progress)
