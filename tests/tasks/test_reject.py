"""Classification with a reject option: the typicality score, the curve over thresholds
(by hand and in a constructed case), and tiny per-class models on digits."""

from __future__ import annotations

import math

import pytest
import torch

from genzoo.data.dataset import Split, load_dataset
from genzoo.errors import GenzooError
from genzoo.tasks.classify import labelled_subset, train_generative_classifier
from genzoo.tasks.reject import (
    ClassTypicality,
    check_options,
    classify_with_reject,
    reject_curve,
    split_off_reference,
    threshold_grid,
)
from genzoo.train.config import TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")


def test_typicality_is_fitted_per_class_and_the_score_is_the_least_atypical_class():
    # class 0: NLLs 10, 12 -> H 11, s sqrt(2); class 1: NLLs 20, 24, 28 -> H 24, s 4
    nll = torch.tensor([[10.0, 99.0], [12.0, 99.0], [99.0, 20.0], [99.0, 24.0], [99.0, 28.0]])
    typ = ClassTypicality.fit(-nll, torch.tensor([0, 0, 1, 1, 1]))
    assert typ.mean.tolist() == [11.0, 24.0]
    assert typ.std.tolist() == pytest.approx([math.sqrt(2), 4.0])
    x = -torch.tensor([[11.0, 40.0], [11.0 + 3 * math.sqrt(2), 32.0], [0.0, 0.0]])
    assert typ.score(x).tolist() == pytest.approx([0.0, 2.0, min(11 / math.sqrt(2), 6.0)])
    with pytest.raises(GenzooError, match="at least 2"):
        ClassTypicality.fit(-nll[:3], torch.tensor([0, 0, 1]))


def constructed(n: int = 60, K: int = 3, seed: int = 0):
    """Clean inputs whose misclassified ones are the most atypical (their true class's
    likelihood falls with their distance from the typical NLL), plus outliers far off."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % K
    dist = torch.rand(n, generator=g) * 6  # atypicality of each clean input, in std units
    ll = torch.full((n, K), -100.0, dtype=torch.float64)
    wrong = dist > 3.0  # the most atypical are the ones Bayes' rule gets wrong
    dist[wrong] += 0.5  # their score (d - 0.2, see below) stays above every correct one's
    ll[torch.arange(n), y] = -(50.0 + 5.0 * dist.double())  # H = 50, s = 5 for every class
    ll[wrong, (y[wrong] + 1) % K] = ll[wrong, y[wrong]] + 1.0  # another class wins
    ll[~wrong] = torch.where(ll[~wrong] == -100.0, -200.0, ll[~wrong])  # others far below for correct ones
    outliers = {"far": -torch.full((10, K), 50.0 + 5.0 * 9.0, dtype=torch.float64),
                "near": -torch.full((10, K), 50.0 + 5.0 * 2.5, dtype=torch.float64)}
    return ll, y, outliers, ClassTypicality(torch.full((K,), 50.0, dtype=torch.float64),
                                            torch.full((K,), 5.0, dtype=torch.float64)), wrong


def test_rejecting_more_never_lowers_accepted_accuracy_in_a_constructed_case():
    ll, y, outliers, typ, wrong = constructed()
    prior = torch.full((3,), -math.log(3), dtype=torch.float64)
    scores = torch.cat([typ.score(ll), *(typ.score(v) for v in outliers.values())])
    taus = threshold_grid(scores, 40)
    rows = reject_curve(ll, y, prior, outliers, typ, taus)
    assert taus == sorted(taus) and taus[-1] == math.inf
    accepted = [r["accuracy_accepted"] for r in rows if r["accuracy_accepted"] is not None]
    # thresholds rise along the curve: accepting more may only lower the accuracy
    assert all(a >= b - 1e-12 for a, b in zip(accepted, accepted[1:]))
    assert accepted[0] == 1.0 and accepted[-1] == pytest.approx(1 - wrong.double().mean().item())
    assert rows[0]["clean_rejected"] == 1.0 and rows[0]["accuracy_accepted"] is None
    assert rows[-1]["clean_rejected"] == 0.0 and rows[-1]["outliers_rejected"] == 0.0
    for key in ("clean_rejected", "outliers_rejected"):
        assert all(a >= b for a, b in zip([r[key] for r in rows], [r[key] for r in rows][1:]))
    # one threshold by hand: tau = 3 accepts exactly the correctly classified inputs
    (row,) = reject_curve(ll, y, prior, outliers, typ, [3.0])
    assert row["accuracy_accepted"] == 1.0
    assert row["clean_rejected"] == pytest.approx(wrong.double().mean().item())
    assert row["rejected"] == {"far": 1.0, "near": 0.0} and row["outliers_rejected"] == 0.5
    n_acc = int((~wrong).sum())
    assert row["accepted_outliers"] == pytest.approx(10 / (n_acc + 10))


@pytest.fixture(scope="module")
def digits_classifier():
    torch.manual_seed(0)
    data = load_dataset("digits")
    labelled = labelled_subset(data.train, 30, 10, seed=0)
    clf = train_generative_classifier("made", data, labelled, config={"hidden": [16]},
                                      train=TrainConfig(steps=25, batch_size=32, lr=1e-2, seed=0))
    return data, clf


def test_tiny_digit_models_reject_noise_and_keep_digits(digits_classifier):
    data, clf = digits_classifier
    res = classify_with_reject(clf, data, count=120, sets=("noise", "inverted"), reject_rate=0.05, points=30)
    curve, op = res["curve"], res["operating_point"]
    assert curve[-1]["threshold"] == math.inf and curve[-1]["clean_rejected"] == 0.0
    assert curve[-1]["accuracy_accepted"] == pytest.approx(res["accuracy_without_reject"])
    assert res["accuracy_without_reject"] > 0.5
    assert op["rejected"]["noise"] > 0.9  # uniform noise is atypical under every digit model
    assert op["outliers_rejected"] > op["clean_rejected"]
    assert op["clean_rejected"] < 0.5
    assert len(res["typical_nll"]) == 10 and res["count"] == 120
    no_reject = classify_with_reject(clf, data, count=120, sets=("noise",), reject_rate=0.0, points=5)
    assert no_reject["operating_point"]["clean_rejected"] == 0.0


def test_bad_options_are_refused(digits_classifier):
    data, clf = digits_classifier
    for kw in ({"reject_rate": 1.0}, {"reject_rate": -0.1}, {"count": 1}, {"sets": ("cats",)}):
        with pytest.raises(GenzooError):
            check_options(**{"count": 10, "sets": ("noise",), "reject_rate": 0.05, **kw})
        with pytest.raises(GenzooError):
            classify_with_reject(clf, data, **{"count": 10, "sets": ("noise",), "reject_rate": 0.05, **kw})


def test_the_reference_is_held_out_of_every_class():
    x = torch.arange(50.0)[:, None]
    y = torch.tensor([0] * 30 + [1] * 20)
    train, ref = split_off_reference(Split(x, y), 0.1, seed=1)
    assert torch.bincount(ref.y).tolist() == [3, 2] and torch.bincount(train.y).tolist() == [27, 18]
    assert set(train.x.flatten().tolist()).isdisjoint(ref.x.flatten().tolist())
    assert len(train) + len(ref) == 50
    with pytest.raises(GenzooError, match="too few"):
        split_off_reference(Split(x[:3], torch.tensor([0, 0, 1])), 0.1)
    with pytest.raises(GenzooError):
        split_off_reference(Split(x, y), 1.0)
