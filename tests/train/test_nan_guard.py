"""The NaN guard: roll back, halve the learning rate, retry at most max_retries times;
the GENZOO_INJECT_NAN hook drives it from outside; nothing non-finite is ever saved."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from genzoo.data.dataset import Dataset, Split
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError, TrainingDiverged
from genzoo.models.base import GenerativeModel
from genzoo.train.checkpoint import list_checkpoints, load_weights, state_tensors
from genzoo.train.config import TrainConfig
from genzoo.train.trainer import INJECT_ENV, FiniteWatch, Trainer, injected_fault


@dataclass
class _Cfg:
    pass


class Poisonable(GenerativeModel):
    """A diagonal Gaussian whose loss turns NaN when told to."""

    name = "poisonable"
    Config = _Cfg
    likelihood = "exact"
    accepts = (("vector", "continuous"),)

    def __init__(self, config, spec):
        super().__init__(config, spec)
        self.mu = nn.Parameter(torch.zeros(spec.dim))
        self.poison = False
        self.always = False
        self.poison_grad = False

    def loss(self, batch):
        nll = 0.5 * ((batch["x"] - self.mu) ** 2).sum(-1).mean()
        if self.poison or self.always:
            self.poison = False
            nll = nll * float("nan")
        if self.poison_grad:  # the loss stays finite (adds sqrt(0)); its gradient is NaN
            self.poison_grad = False
            nll = nll + (self.mu * 0).sum().sqrt()
        return {"loss": nll}


def _data(n=64):
    g = torch.Generator().manual_seed(0)
    spec = DataSpec("toy", "vector", (2,), "continuous", value_range=(-10, 10))
    return Dataset(spec, Split(torch.randn(n, 2, generator=g) + 3), Split(torch.randn(16, 2, generator=g) + 3))


def test_rollback_halves_lr_and_continues(tmp_path):
    data = _data()
    model = Poisonable(_Cfg(), data.spec)
    cfg = TrainConfig(steps=12, batch_size=16, lr=0.05, checkpoint_every=4, log_every=1)

    def on_step(step, tr):
        if step == 6 and tr.lr_scale == 1.0:
            model.poison = True  # the 7th step's loss is NaN

    tr = Trainer(model, data, cfg, run_dir=tmp_path, progress=False, on_step=on_step)
    res = tr.fit()
    assert res["steps"] == 12
    assert tr.retries == 1 and tr.lr_scale == 0.5
    assert torch.isfinite(model.mu).all()
    # the rollback went to the step-4 checkpoint: training restarted there with half the rate
    ckpts = [s for s, _ in list_checkpoints(tmp_path / "checkpoints")]
    assert ckpts[-1] == 12


def test_rollback_before_first_checkpoint_uses_initial_state():
    data = _data()
    model = Poisonable(_Cfg(), data.spec)
    fired = []

    def on_step(step, tr):
        if step == 2 and not fired:
            fired.append(1)
            model.poison = True

    tr = Trainer(model, data, TrainConfig(steps=5, batch_size=16, checkpoint_every=0), progress=False,
                 on_step=on_step)
    tr.fit()
    assert tr.retries == 1 and tr.lr_scale == 0.5


def test_gives_up_after_max_retries_with_clear_message(tmp_path):
    data = _data()
    model = Poisonable(_Cfg(), data.spec)
    tr = Trainer(model, data, TrainConfig(steps=10, batch_size=16, checkpoint_every=2, max_retries=3),
                 run_dir=tmp_path, progress=False,
                 on_step=lambda s, t: setattr(model, "always", s >= 3))
    with pytest.raises(TrainingDiverged, match="after 3 rollbacks"):
        tr.fit()
    assert tr.retries == 4
    for _, p in list_checkpoints(tmp_path / "checkpoints"):
        assert all(torch.isfinite(v).all() for v in load_weights(p / "model.safetensors").values())


def test_non_finite_weights_are_never_checkpointed(tmp_path):
    data = _data()
    model = Poisonable(_Cfg(), data.spec)
    tr = Trainer(model, data, TrainConfig(steps=2, batch_size=16, checkpoint_every=1),
                 run_dir=tmp_path, progress=False)
    tr.fit()
    before = [s for s, _ in list_checkpoints(tmp_path / "checkpoints")]
    with torch.no_grad():
        model.mu.fill_(float("nan"))
    tr.step = 3
    tr._save_checkpoint()
    assert [s for s, _ in list_checkpoints(tmp_path / "checkpoints")] == before


def _non_finite_files(run):
    bad = []
    for f in run.rglob("*"):
        if f.suffix == ".safetensors":
            tensors = load_weights(f)
        elif f.name == "state.pt":
            tensors = state_tensors(torch.load(f, map_location="cpu", weights_only=True))
        else:
            continue
        if not all(torch.isfinite(t).all() for t in tensors.values() if t.is_floating_point()):
            bad.append(f)
    return bad


@pytest.mark.parametrize("kind", ["nan", "inf"])
def test_injected_loss_rolls_back_and_nothing_saved_is_non_finite(tmp_path, monkeypatch, capsys, kind):
    monkeypatch.setenv(INJECT_ENV, f"5,{kind}")
    data = _data()
    model = Poisonable(_Cfg(), data.spec)
    cfg = TrainConfig(steps=10, batch_size=16, lr=0.05, checkpoint_every=2, keep_checkpoints=100, ema=0.5)
    tr = Trainer(model, data, cfg, run_dir=tmp_path, progress=False)
    res = tr.fit()
    assert res["steps"] == 10 and tr.retries == 1 and tr.lr_scale == 0.5
    out = capsys.readouterr().out
    assert f"step 5: model loss is {kind}; rolled back to step 4 with learning rate x0.5" in out
    assert [s for s, _ in list_checkpoints(tmp_path / "checkpoints")] == [2, 4, 6, 8, 10]
    assert len(list(tmp_path.rglob("*.safetensors"))) == 12 and not _non_finite_files(tmp_path)


def test_no_injection_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(INJECT_ENV, raising=False)
    data = _data()
    tr = Trainer(Poisonable(_Cfg(), data.spec), data, TrainConfig(steps=6, batch_size=16, checkpoint_every=0),
                 progress=False)
    tr.fit()
    assert tr.retries == 0


@pytest.mark.parametrize("value", ["x", "3,zero", "-1", "2,nan,1"])
def test_injection_variable_is_checked(monkeypatch, value):
    monkeypatch.setenv(INJECT_ENV, value)
    with pytest.raises(GenzooError, match=INJECT_ENV):
        injected_fault()


def test_injection_variable_forms(monkeypatch):
    monkeypatch.setenv(INJECT_ENV, "7")
    step, value = injected_fault()
    assert step == 7 and value != value  # NaN by default
    monkeypatch.setenv(INJECT_ENV, "3, Inf")
    assert injected_fault() == (3, float("inf"))


def test_non_finite_weights_at_the_last_step_roll_back_instead_of_being_saved(tmp_path, capsys):
    """A finite loss with a NaN gradient makes the weights NaN with no loss to notice it;
    the final weights must still never be written non-finite."""
    data = _data()
    model = Poisonable(_Cfg(), data.spec)

    def on_step(step, tr):
        if step == 9 and tr.retries == 0:
            model.poison_grad = True  # the last step (index 9)

    tr = Trainer(model, data, TrainConfig(steps=10, batch_size=16, checkpoint_every=4, log_every=7),
                 run_dir=tmp_path, progress=False, on_step=on_step)
    tr.fit()
    assert tr.retries == 1 and "step 9: the weights are not finite; rolled back to step 8" in capsys.readouterr().out
    assert torch.isfinite(load_weights(tmp_path / "model.safetensors")["mu"]).all()
    assert not _non_finite_files(tmp_path)


def test_the_guard_reads_back_only_at_checks_and_names_the_step_that_went_wrong(tmp_path, monkeypatch, capsys):
    """check_every=10: the NaN at step index 3 is found at the step-10 check, reported as
    step 3, and training restarts from the initial state; 4 checks in 40 steps, not 40."""
    monkeypatch.setenv(INJECT_ENV, "3")
    reads = []
    real_first = FiniteWatch.first
    monkeypatch.setattr(FiniteWatch, "first", lambda self: reads.append(1) or real_first(self))
    data = _data()
    model = Poisonable(_Cfg(), data.spec)
    cfg = TrainConfig(steps=40, batch_size=16, checkpoint_every=0, log_every=40, check_every=10)
    tr = Trainer(model, data, cfg, run_dir=tmp_path, progress=False)
    res = tr.fit()
    assert res["steps"] == 40 and tr.retries == 1
    assert "step 3: model loss is nan; rolled back to step 0 with learning rate x0.5" in capsys.readouterr().out
    assert len(reads) == 1 + 4  # the failed check at step 10, then 10, 20, 30, 40 again
    assert torch.isfinite(model.mu).all() and not _non_finite_files(tmp_path)


def test_an_op_failing_after_an_unnoticed_nan_rolls_back_too(tmp_path, capsys):
    class Fragile(Poisonable):
        def loss(self, batch):
            if not torch.isfinite(self.mu).all():
                raise RuntimeError("probability tensor contains nan")  # as torch.bernoulli does
            return super().loss(batch)

    data = _data()
    model = Fragile(_Cfg(), data.spec)
    fired = []

    def on_step(step, tr):
        if step == 2 and not fired:
            fired.append(1)
            model.poison = True  # NaN loss at step index 2: the weights turn NaN, step 3 fails

    tr = Trainer(model, data, TrainConfig(steps=8, batch_size=16, checkpoint_every=0, check_every=8,
                                          log_every=8), progress=False, on_step=on_step)
    tr.fit()
    assert tr.retries == 1 and "step 2: model loss is nan" in capsys.readouterr().out
    assert torch.isfinite(model.mu).all()


def test_a_real_error_is_not_taken_for_a_nan():
    class Broken(Poisonable):
        def loss(self, batch):
            raise RuntimeError("shape mismatch")

    data = _data()
    tr = Trainer(Broken(_Cfg(), data.spec), data, TrainConfig(steps=3, batch_size=16, checkpoint_every=0),
                 progress=False)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        tr.fit()
