"""Linear probes: how much class information a model's learned codes carry.

A multinomial logistic regression (scikit-learn, features standardised on the training
codes, L2 strength ``C``) is fitted on the codes ``model.encode(x)`` of labelled
training examples and scored on the codes of the test split, for a growing number of
labels per class. The same probe on the raw pixels is the baseline: codes that beat it
with few labels have organised the data by class without ever seeing a label, which is
the feature-learning use of a generative model.

Models with an encoder: vae, ae, aae (mean codes), bigan (E(x)), realnvp and glow (the
latent z of the whole image), rbm (hidden-unit means p(h = 1 | v)) and lda (topic
proportions).
Conditional encoders (cvae) are refused: their codes are meant to leave the label out.
"""

from __future__ import annotations

from typing import Any

import torch

from genzoo.data.dataset import Dataset, Split
from genzoo.errors import GenzooError
from genzoo.models.base import GenerativeModel
from genzoo.nn.values import to_unit
from genzoo.tasks.classify import labelled_subset
from genzoo.tasks.interpolate import encode


def codes(model: GenerativeModel, x: torch.Tensor, *, batch_size: int = 512) -> torch.Tensor:
    """Flat codes (N, D) of ``x`` from an unconditional encoder."""
    model.require("encode")
    if model.has("conditional"):
        raise GenzooError(f"model {model.name!r} encodes given the label, so its codes cannot be probed for it; "
                          "probe an unconditional encoder (vae, ae, aae, bigan, realnvp, glow, rbm)")
    model.eval()
    return encode(model, x, batch_size=batch_size).flatten(1).double()


def linear_probe_accuracy(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
                          test_y: torch.Tensor, *, C: float = 1.0, seed: int = 0) -> float:
    """Test accuracy of a standardised multinomial logistic regression fitted on (train_x, train_y)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(torch.unique(train_y)) < 2:
        raise GenzooError("a linear probe needs labelled examples of at least two classes")
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000, random_state=seed))
    clf.fit(train_x.numpy(), train_y.numpy())
    return float((torch.as_tensor(clf.predict(test_x.numpy())) == test_y).double().mean())


def probe(model: GenerativeModel, data: Dataset, *, sizes: list[int | None], split: str = "test",
          C: float = 1.0, seed: int = 0) -> dict[str, Any]:
    """Probe accuracies of the codes and of the pixels for each number of labels per class.

    Returns ``{"rows": [{labelled, per_class, code_accuracy, pixel_accuracy}], "code_dim",
    "pixel_dim", "test"}``; the labelled subsets are seeded stratified draws of the
    training split (the same subset for codes and pixels).
    """
    train, test = data.fixed("train"), data.fixed(split)
    if train.y is None or test.y is None or not data.spec.num_classes:
        raise GenzooError(f"dataset {data.spec.name!r} has no labels: a linear probe needs a labelled dataset")
    K = int(data.spec.num_classes)
    test_codes = codes(model, test.x)
    train_codes = codes(model, train.x)
    coded = Split(train_codes, train.y)
    pixels = Split(to_unit(train.x, data.spec).flatten(1).double(), train.y)
    test_pixels = to_unit(test.x, data.spec).flatten(1).double()
    rows = []
    for n in sizes:
        # the same seeded draw picks the same examples from both views of the training split
        sub_codes = labelled_subset(coded, n, K, seed=seed)
        sub_pixels = labelled_subset(pixels, n, K, seed=seed)
        rows.append({
            "per_class": n if n is not None else "all",
            "labelled": len(sub_codes.x),
            "code_accuracy": linear_probe_accuracy(sub_codes.x, sub_codes.y, test_codes, test.y, C=C, seed=seed),
            "pixel_accuracy": linear_probe_accuracy(sub_pixels.x, sub_pixels.y, test_pixels, test.y, C=C, seed=seed),
        })
    return {"rows": rows, "code_dim": int(train_codes.shape[1]), "pixel_dim": int(pixels.x.shape[1]),
            "test": len(test.x), "split": split, "C": C}
