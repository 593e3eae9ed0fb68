"""SimGAN's own invariants: the history buffer (bounded, half of D's refined batch from it),
the self-regularisation (keeps an untrained refiner's output near its input), the refiner's
shape, seeded determinism of training, and the rendered-digit datasets it trains on."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genzoo.data.dataset import Dataset, Split, load_dataset
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.adversarial.simgan import History, Refiner
from genzoo.models.registry import build_model
from genzoo.train.config import TrainConfig
from genzoo.train.trainer import Trainer

SPEC = DataSpec("tiny-glyphs", "image", (1, 8, 8), "continuous", value_range=(0.0, 1.0),
                extra={"source_shape": [1, 8, 8], "paired": False})
TINY = {"channels": 4, "blocks": 1, "d_layers": 1, "buffer_size": 8}


def tiny_data(n: int = 16) -> Dataset:
    g = torch.Generator().manual_seed(0)
    split = Split(torch.rand(n, 1, 8, 8, generator=g), None, {"source": torch.rand(n, 1, 8, 8, generator=g)})
    return Dataset(SPEC, split, split)


def test_history_is_bounded_and_fills_then_replaces():
    h = History(6, (1, 2, 2))
    h.push(torch.full((4, 1, 2, 2), 1.0))  # half a batch enters: 2
    assert int(h.count) == 2
    for v in range(2, 10):
        h.push(torch.full((4, 1, 2, 2), float(v)))
    assert int(h.count) == 6 and h.images.shape == (6, 1, 2, 2)
    assert set(h.images.flatten().tolist()) <= set(map(float, range(1, 10)))
    assert 9.0 in h.images.flatten().tolist()  # the newest images replace old ones
    empty = History(0, (1, 2, 2))
    empty.push(torch.ones(4, 1, 2, 2))
    assert torch.equal(empty.mix(torch.ones(4, 1, 2, 2)), torch.ones(4, 1, 2, 2))


def test_half_of_the_refined_batch_comes_from_the_history():
    h = History(8, (1, 2, 2))
    current = torch.full((6, 1, 2, 2), -1.0)
    assert torch.equal(h.mix(current), current)  # empty: all current
    h.push(torch.full((4, 1, 2, 2), 0.5))  # holds 2 < 3: still all current
    assert torch.equal(h.mix(current), current)
    h.push(torch.full((4, 1, 2, 2), 0.5))
    mixed = h.mix(current)
    assert mixed.shape == current.shape
    assert torch.equal(mixed[:3], current[:3]) and torch.all(mixed[3:] == 0.5)


def test_discriminator_step_feeds_the_history_only_while_training():
    model = build_model("simgan", SPEC, TINY)
    batch = tiny_data().train.batch(torch.arange(6))
    model.train()
    model.discriminator_loss(batch)
    assert int(model.history.count) == 3
    model.eval()
    model.discriminator_loss(batch)
    with torch.no_grad():
        model.train().discriminator_loss(batch)
    assert int(model.history.count) == 3


@pytest.mark.parametrize("preact", [False, True])
def test_refiner_keeps_the_shape_and_starts_near_the_identity(preact):
    for shape in ((1, 8, 8), (1, 28, 28), (3, 5, 7)):
        r = Refiner(shape[0], channels=4, blocks=2, preact=preact)
        x = torch.rand(2, *shape) * 2 - 1
        out = r(x)
        assert out.shape == (2, *shape) and out.abs().max() <= 1
        assert float((out - x).abs().max()) < 0.05


def _first_layer_grad(preact: bool) -> float:
    """The gradient reaching the refiner's first convolution when every unit inside the
    ResNet blocks is switched off (their biases far negative): dead units, as in training."""
    torch.manual_seed(0)
    r = Refiner(1, channels=4, blocks=2, preact=preact)
    with torch.no_grad():
        for m in r.modules():
            if isinstance(m, torch.nn.Conv2d) and m is not r.net[0] and m is not r.net[-1]:
                m.bias.fill_(-100.0)
    r.propose(torch.rand(2, 1, 8, 8) * 2 - 1).sum().backward()
    return float(r.net[0].weight.grad.abs().sum())


def test_preactivation_blocks_pass_gradients_past_dead_units():
    assert _first_layer_grad(False) == 0.0  # relu after the sum: the refiner is stuck
    assert _first_layer_grad(True) > 0.0  # the skip path still carries the gradient


@pytest.mark.parametrize("unclipped", [False, True])
def test_reg_unclipped_charges_changes_past_the_range(unclipped):
    """A refiner pushing a black image further below -1 changes nothing visible; only the
    self-regularisation on the unclipped proposal charges it and pulls it back."""
    model = build_model("simgan", SPEC, {**TINY, "reg_unclipped": unclipped, "reg_weight": 2.0})
    with torch.no_grad():
        model.refiner.net[-1].bias.fill_(-5.0)
    black = tiny_data().train.batch(torch.arange(4))
    black["source"] = torch.zeros_like(black["source"])
    out = model.refiner_loss(black)
    out["loss"].backward()
    grad = model.refiner.net[-1].bias.grad
    if unclipped:
        assert float(out["self_regularisation"]) > 4.9 and float(grad) < 0  # a descent step raises the bias
    else:
        assert float(out["self_regularisation"]) == 0.0 and float(grad) == 0.0


def _refiner_steps(reg_weight: float, steps: int = 30) -> float:
    """Train only the refiner (D frozen) from an untrained start; return |R(x) - x|."""
    torch.manual_seed(0)
    model = build_model("simgan", SPEC, {**TINY, "reg_weight": reg_weight})
    batch = tiny_data().train.batch(torch.arange(16))
    opt = torch.optim.Adam(model.refiner.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = model.refiner_loss(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(model.refiner_loss(batch)["self_regularisation"])


def test_self_regularisation_keeps_refined_near_synthetic():
    model = build_model("simgan", SPEC, TINY)
    batch = tiny_data().train.batch(torch.arange(16))
    out = model.refiner_loss(batch)
    synth = batch["source"] * 2 - 1
    assert torch.isclose(out["self_regularisation"], (model.refiner(synth) - synth).abs().mean())
    assert float(out["self_regularisation"]) < 0.01  # an untrained refiner is nearly the identity
    kept, free = _refiner_steps(10.0), _refiner_steps(0.0)
    assert kept < 0.05 and free > 2 * kept  # only the adversarial loss: the refiner drifts away


@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_reg_norm_picks_the_self_regularisation_and_its_pull_on_small_changes(norm):
    """L1 pulls a small change back as hard as a big one; L2's pull fades with the change."""
    model = build_model("simgan", SPEC, {**TINY, "reg_norm": norm, "reg_weight": 1.0})
    batch = tiny_data().train.batch(torch.arange(4))
    synth = batch["source"] * 2 - 1
    with torch.no_grad():
        for p in model.discriminator.parameters():
            p.zero_()  # D's verdict is the same for any image: only the self-regularisation pulls
    grads = []
    for shift in (0.01, 0.1):
        model.zero_grad()
        with torch.no_grad():
            model.refiner.net[-1].weight.zero_()
            model.refiner.net[-1].bias.fill_(-shift)  # every pixel darkened by ``shift``
        out = model.refiner_loss(batch)
        change = model.refiner(synth) - synth
        want = change.abs().mean() if norm == "l1" else change.square().mean()
        assert torch.isclose(out["self_regularisation"], want)
        out["loss"].backward()
        grads.append(float(model.refiner.net[-1].bias.grad))
    if norm == "l1":
        assert grads[0] == pytest.approx(grads[1], rel=0.3)
    else:
        assert abs(grads[0]) < 0.2 * abs(grads[1])


def test_ink_weight_charges_the_ink_the_refiner_removes():
    model = build_model("simgan", SPEC, {**TINY, "ink_weight": 3.0})
    batch = tiny_data().train.batch(torch.arange(16))
    out = model.refiner_loss(batch)
    synth = batch["source"] * 2 - 1
    removed = (synth - model.refiner(synth)).clamp_min(0).mean()
    assert torch.isclose(out["ink_removed"], removed)
    assert torch.isclose(out["loss"], out["adversarial"] + model.config.reg_weight * out["self_regularisation"]
                         + 3.0 * removed)
    # only ink taken away is charged: a refiner that darkens pays, one that brightens does not
    darker = float((synth - (synth - 0.25).clamp_min(-1.0)).mean())  # what is left to take near black
    assert 0.2 < darker < 0.25
    for shift, charged in ((-0.25, darker), (0.25, 0.0)):
        model.refiner = _Shift(shift)
        assert abs(float(model.refiner_loss(batch)["ink_removed"]) - charged) < 1e-6


class _Shift(torch.nn.Module):
    def __init__(self, d: float) -> None:
        super().__init__()
        self.d = d

    def propose(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.propose(x).clamp(-1.0, 1.0)


def _train(seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)  # the same initial weights; the training seed differs
    model = build_model("simgan", SPEC, TINY)
    cfg = TrainConfig(steps=3, batch_size=6, seed=seed, checkpoint_every=0, log_every=1, device="cpu")
    Trainer(model, tiny_data(), cfg, run_dir=None, progress=False).fit()
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_seeded_training_repeats_exactly():
    a, b, c = _train(0), _train(0), _train(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    assert int(a["history.count"]) == 8  # three steps of three refined images, bounded by 8


def test_rendered_digits_are_seeded_labelled_and_varied():
    d = load_dataset("glyph_digits", n_train=40, n_test=20, scale="unit")
    assert d.spec.shape == (1, 28, 28) and d.spec.num_classes == 10 and d.spec.value_type == "continuous"
    assert len(d.train) == 40 and len(d.test) == 20
    assert torch.equal(torch.bincount(d.train.y, minlength=10), torch.full((10,), 4))
    again = load_dataset("glyph_digits", n_train=40, n_test=20, scale="unit")
    assert torch.equal(d.train.x, again.train.x) and torch.equal(d.train.y, again.train.y)
    other = load_dataset("glyph_digits", n_train=40, n_test=20, seed=5, scale="unit")
    assert not torch.equal(d.train.x, other.train.x)
    assert not torch.equal(d.train.x, d.test.x[:20].repeat(2, 1, 1, 1))
    for digit in range(10):  # no two renderings of a digit alike
        x = d.train.x[d.train.y == digit].flatten(1)
        assert torch.cdist(x, x).add(torch.eye(len(x)) * 1e9).min() > 1.0
    ink = d.train.x.flatten(1).mean(1)
    assert 0.05 < float(ink.mean()) < 0.35  # MNIST: about 0.13
    levels = load_dataset("glyph_digits", n_train=10, n_test=10)
    assert levels.spec.value_type == "categorical" and levels.train.x.dtype == torch.int64
    with pytest.raises(GenzooError, match="n_train"):
        load_dataset("glyph_digits", n_train=0)


def test_elastic_distortion_moves_strokes_and_nothing_else():
    plain = load_dataset("glyph_digits", n_train=30, n_test=10, scale="unit")
    # a vanishing field resamples the drawing onto itself: the same images (to rounding)
    still = load_dataset("glyph_digits", n_train=30, n_test=10, scale="unit", elastic=1e-6)
    assert (still.train.x - plain.train.x).abs().max() <= 1.5 / 255
    warped = load_dataset("glyph_digits", n_train=30, n_test=10, scale="unit", elastic=34.0)
    assert torch.equal(warped.train.y, plain.train.y)  # the other draws are untouched
    change = (warped.train.x - plain.train.x).abs().flatten(1).sum(1)
    assert bool((change > 5.0).all())  # every digit bent, by several pixels' worth of ink
    ink, ink_warped = plain.train.x.flatten(1).sum(1), warped.train.x.flatten(1).sum(1)
    assert bool(((ink_warped / ink - 1).abs() < 0.35).all())  # moved, not erased
    again = load_dataset("glyph_digits", n_train=30, n_test=10, scale="unit", elastic=34.0)
    assert torch.equal(again.train.x, warped.train.x)
    with pytest.raises(GenzooError, match="elastic"):
        load_dataset("glyph_digits", elastic=-1.0)


def test_bold_thickens_every_stroke_and_changes_nothing_else():
    from genzoo.data.attributes import thickness

    plain = load_dataset("glyph_digits", n_train=30, n_test=10, scale="unit")
    assert torch.equal(load_dataset("glyph_digits", n_train=30, n_test=10, scale="unit", bold=0.0).train.x,
                       plain.train.x)
    bold = load_dataset("glyph_digits", n_train=30, n_test=10, scale="unit", bold=1.0)
    assert torch.equal(bold.train.y, plain.train.y)
    assert bool((bold.train.x >= plain.train.x - 1.5 / 255).all())  # ink is only ever added (to rounding)
    grown = thickness(bold.train.x) - thickness(plain.train.x)
    assert 0.6 < float(grown.mean()) < 1.8 and bool((grown > 0).all())  # about a pixel thicker, each digit
    again = load_dataset("glyph_digits", n_train=30, n_test=10, scale="unit", bold=1.0, elastic=34.0)
    assert torch.equal(again.train.y, plain.train.y)
    with pytest.raises(GenzooError, match="bold"):
        load_dataset("glyph_digits", bold=-0.5)


def test_glyph_mnist_pairs_rendered_digits_with_unlabelled_mnist(tiny_mnist):
    d = load_dataset("glyph_mnist", root=tiny_mnist)
    assert d.spec.extra["source_shape"] == [1, 28, 28] and d.train.y is None
    assert len(d.train) == 60 and d.train.extra["source"].shape == (60, 1, 28, 28)
    glyphs = load_dataset("glyph_digits", n_train=60, n_test=40, scale="unit")
    assert torch.allclose(d.train.extra["source"], glyphs.train.x) and torch.equal(d.train.extra["source_y"],
                                                                                   glyphs.train.y)
    assert torch.allclose(d.test.extra["source"], glyphs.test.x)
    bent = load_dataset("glyph_mnist", root=tiny_mnist, elastic=34.0)
    assert bent.info["elastic"] == 34.0 and torch.equal(bent.train.x, d.train.x)
    assert not torch.allclose(bent.train.extra["source"], d.train.extra["source"])


def write_idx(path, array: np.ndarray) -> None:
    """An uncompressed IDX file of uint8 ``array``."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def tiny_mnist(shared_data, tmp_path_factory):
    """60 training and 40 test MNIST digits (the first of the real files) as IDX files."""
    from genzoo.data.mnist import MNIST_FILES, load_idx_pair

    root = tmp_path_factory.mktemp("tiny_mnist")
    for split, n in (("train", 60), ("test", 40)):
        names = MNIST_FILES[split]
        images, labels = load_idx_pair(*(shared_data / "mnist" / (s + ".gz") for s in names))
        write_idx(root / names[0], images[:n])
        write_idx(root / names[1], labels[:n])
    return root


def test_more_discriminator_layers_than_the_image_allows_is_an_error():
    build_model("simgan", SPEC, {"d_layers": 2})  # 8 -> 4 -> 2
    with pytest.raises(GenzooError, match="d_layers.*at most 2"):
        build_model("simgan", SPEC, {"d_layers": 3})  # 2 is below the smallest side that halves
