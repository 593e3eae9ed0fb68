"""The metric checks on real MNIST (slow: trains the MNIST feature network, ~1-2 minutes
on 2 cores): its accuracy, FID against corrupted test images, density/coverage of two
real samples, and the stacked-MNIST mode counter on real stacked digits."""

from __future__ import annotations

import pytest
import torch

from genzoo.data.dataset import load_dataset
from genzoo.evaluate import quality
from genzoo.evaluate.features import feature_net
from genzoo.evaluate.metrics import judge_for
from genzoo.evaluate.modes import stacked_modes
from genzoo.tasks import corrupt

pytestmark = pytest.mark.slow


@pytest.fixture
def mnist(shared_data):
    return load_dataset("mnist", root=shared_data / "mnist", scale="unit")


def test_feature_network_accuracy_on_the_mnist_test_set(mnist):
    net = feature_net(mnist)
    print(f"MNIST feature network: test accuracy {net.test_accuracy:.4f} ({net.info})")
    assert net.info["train_examples"] == 10000 and net.info["test_examples"] == 10000
    assert net.test_accuracy >= 0.985, net.test_accuracy


def test_fid_checks_on_mnist(mnist):
    f = feature_net(mnist).net.features
    spec, test = mnist.spec, mnist.test.x
    f_train = f(mnist.train.x)
    base = quality.frechet_distance(f_train, f(test))
    noisy = [quality.frechet_distance(f_train, f(corrupt.noise(test, spec, s))) for s in (0.1, 0.2, 0.4, 0.8)]
    blurred = [quality.frechet_distance(f_train, f(corrupt.blur(test, spec, r))) for r in (1, 2, 3)]
    print(f"FID train-test {base:.2f}; noise 0.1-0.8 {noisy}; blur 1-3 {blurred}")
    assert noisy == sorted(noisy) and blurred == sorted(blurred), (noisy, blurred)
    # measured: 9.4 between the splits; noise 13, 31, 197, 1492; blur 454, 1670, 2625
    assert base < noisy[0] and base < 0.35 * noisy[1] and base < 0.05 * min(noisy[2], blurred[0])
    same = quality.precision_recall_density_coverage(f(mnist.train.x[:5000]), f(test[:5000]))
    print(f"real vs real (5,000 each): {same}")
    assert same["density"] == pytest.approx(1.0, abs=0.15) and same["coverage"] == pytest.approx(0.97, abs=0.03)


def test_stacked_mnist_mode_counter_finds_the_modes_of_real_data(shared_data):
    data = load_dataset("stacked_mnist", root=shared_data / "mnist", scale="unit", n_train=100, n_test=26000)
    judge = judge_for("stacked_mnist", data, root=shared_data / "mnist")
    r = stacked_modes(judge.digit_probs(data.test.x))
    print(f"stacked MNIST, 26,000 real stacks: {r}")
    assert r["modes_covered"] >= 995 and r["kl_to_uniform"] < 0.1, r
    truth = torch.bincount(data.test.y, minlength=1000)
    assert int((truth > 0).sum()) == 1000
