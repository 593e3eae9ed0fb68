"""The feature network (shipped for digits; trained once and cached otherwise) and the checks
that FID, KID and PRDC computed in its features say what they should on real digits."""

from __future__ import annotations

import pytest
import torch

from genzoo.data.dataset import Dataset, Split, genzoo_home, load_dataset
from genzoo.evaluate import quality
from genzoo.evaluate.features import feature_net
from genzoo.tasks import corrupt


@pytest.fixture
def digits():
    return load_dataset("digits")


@pytest.fixture
def net(digits):
    # function scope, so that GENZOO_HOME is the test session's
    return feature_net(digits)


def test_feature_network_classifies_and_is_shipped(digits, net):
    assert net.test_accuracy >= 0.95  # measured 0.997 on the 359 test digits
    assert net.info["source"] == "shipped"  # tests/evaluate/test_shipped_features.py checks it further
    assert net.net.features(digits.test.x[:5]).shape == (5, 128)
    again = feature_net(digits)  # the same weights again, no training
    assert torch.equal(again.net.features(digits.test.x), net.net.features(digits.test.x))


def test_a_damaged_cache_is_rebuilt(digits):
    small = Dataset(digits.spec, Split(digits.train.x[:100], digits.train.y[:100]), digits.test)
    first = feature_net(small, epochs=1, min_steps=5)
    for f in (genzoo_home() / "features").glob("digits-*-e1-s5.safetensors"):
        f.write_bytes(b"damaged")
    rebuilt = feature_net(small, epochs=1, min_steps=5)  # trained again, with the same seed
    assert torch.allclose(rebuilt.net.features(digits.test.x), first.net.features(digits.test.x))


def test_fid_is_small_between_splits_and_grows_with_corruption(digits, net):
    f = net.net.features
    spec, test = digits.spec, digits.test.x
    f_train, f_test = f(digits.train.x), f(test)
    base = quality.frechet_distance(f_train, f_test)
    noisy = [quality.frechet_distance(f_train, f(corrupt.noise(test, spec, s))) for s in (0.4, 0.8, 1.6)]
    blurred = [quality.frechet_distance(f_train, f(corrupt.blur(test, spec, r))) for r in (1, 2, 3)]
    assert noisy == sorted(noisy) and blurred == sorted(blurred), (noisy, blurred)
    # measured: 34 between the splits; noise 105, 322, 589; blur 979, 2417, 2860
    assert base < 0.35 * min(noisy[0], blurred[0]), (base, noisy, blurred)
    kid_same = quality.kernel_inception_distance(f_train, f_test, subsets=20, subset_size=300)[0]
    kid_noisy = quality.kernel_inception_distance(f_train, f(corrupt.noise(test, spec, 0.8)), subsets=20,
                                                  subset_size=300)[0]
    assert kid_noisy > 10 * max(kid_same, 1e-4)


def test_prdc_of_real_against_real_and_against_noise(digits, net):
    f = net.net.features
    same = quality.precision_recall_density_coverage(f(digits.train.x[:359]), f(digits.test.x))
    bad = quality.precision_recall_density_coverage(f(digits.train.x[:359]),
                                                    f(corrupt.noise(digits.test.x, digits.spec, 1.6)))
    assert same["coverage"] > 0.8 and same["density"] > 0.7
    assert bad["coverage"] < 0.5 * same["coverage"] and bad["precision"] < same["precision"]


def test_corruptions_keep_the_value_type(digits):
    for spec_opts in ({}, {"binarize": "threshold"}, {"scale": "unit"}):
        d = load_dataset("digits", **spec_opts)
        x = d.test.x[:8]
        for y in (corrupt.noise(x, d.spec, 0.5), corrupt.blur(x, d.spec, 1), corrupt.invert(x, d.spec),
                  corrupt.shift(x, d.spec, 2), corrupt.glyphs(d.spec, 8)):
            d.spec.check(y)
            assert y.shape == x.shape and y.dtype == x.dtype
    inv = corrupt.invert(corrupt.invert(x, d.spec), d.spec)
    assert torch.allclose(inv, x, atol=1e-6)


def test_binarized_mnist_borrows_the_mnist_network_and_says_where_its_data_is(shared_data):
    from genzoo.errors import DataFileError
    from genzoo.evaluate.features import features_for

    data = load_dataset("binarized_mnist", root=shared_data / "binarized_mnist")
    # without MNIST's files: MNIST's shipped network, trained on dynamically binarized MNIST
    borrowed = features_for("binarized_mnist", data, root=None)
    assert borrowed.info["source"] == "shipped" and borrowed.info["variant"] == "dynamic"
    assert borrowed.net.features(data.test.x[:4]).shape == (4, 128)
    with pytest.MonkeyPatch.context() as mp:  # a network trained here needs those files
        mp.setenv("GENZOO_FEATURES", "train")
        with pytest.raises(DataFileError, match="--features-data-dir"):
            features_for("binarized_mnist", data, root=None)
