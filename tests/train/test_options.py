"""Trainer options: schedules, EMA, TensorBoard, torch.compile."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from genzoo.cli.main import main
from genzoo.train.config import TrainConfig


def test_warmup_then_cosine():
    cfg = TrainConfig(steps=100, warmup=10, schedule="cosine", min_lr_ratio=0.1)
    assert cfg.lr_factor(0) == pytest.approx(0.1)
    assert cfg.lr_factor(9) == pytest.approx(1.0)
    assert cfg.lr_factor(10) == pytest.approx(1.0)
    assert cfg.lr_factor(55) == pytest.approx(0.55, abs=1e-6)
    assert cfg.lr_factor(100) == pytest.approx(0.1)


def test_lr_is_logged_and_follows_the_schedule(tmp_path):
    run = tmp_path / "r"
    assert main(["train", "made", "--set", "hidden=16", "--steps", "20", "--set", "train.log_every=5",
                 "--set", "train.schedule=cosine", "--run-dir", str(run), "--no-progress"]) == 0
    lrs = [json.loads(x)["lr"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert lrs == sorted(lrs, reverse=True) and lrs[0] < 1e-3


def test_ema_weights_are_saved_and_used_for_sampling(tmp_path, capsys):
    from genzoo.run import load_run

    run = tmp_path / "r"
    assert main(["train", "made", "--set", "hidden=16", "--steps", "10", "--set", "train.ema=0.9",
                 "--run-dir", str(run), "--no-progress"]) == 0
    assert (run / "ema.safetensors").exists()
    assert load_run(run).weights == "ema" and load_run(run, weights="model").weights == "model"
    ema, raw = load_run(run).model.state_dict(), load_run(run, weights="model").model.state_dict()
    assert any(not torch.equal(ema[k], raw[k]) for k in ema if ema[k].is_floating_point())


def test_tensorboard(tmp_path, capsys):
    run = tmp_path / "r"
    rc = main(["train", "made", "--set", "hidden=16", "--steps", "4", "--set", "train.tensorboard=true",
               "--run-dir", str(run), "--no-progress"])
    if importlib.util.find_spec("tensorboard") is None:
        assert rc == 2 and "pip install 'genzoo[tensorboard]'" in capsys.readouterr().err
    else:
        assert rc == 0 and any((run / "tensorboard").iterdir())


@pytest.mark.slow
def test_torch_compile_trains_the_same_model(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    base = ["train", "made", "--set", "hidden=16", "--steps", "5", "--no-progress", "--checkpoint-every", "0"]
    assert main([*base, "--run-dir", str(a)]) == 0
    assert main([*base, "--run-dir", str(b), "--set", "train.compile=true"]) == 0
    from genzoo.train.checkpoint import load_weights

    wa, wb = load_weights(a / "model.safetensors"), load_weights(b / "model.safetensors")
    for k in wa:
        assert torch.allclose(wa[k], wb[k], atol=1e-5), k


def test_ema_starts_from_the_weights_after_the_first_step():
    """Layers initialised from the first batch (actnorm) must not be averaged with their
    pre-initialisation values."""
    from torch import nn

    from genzoo.train.ema import EMA

    m = nn.Linear(2, 2)
    ema = EMA(m, 0.99, warmup=False)
    with torch.no_grad():
        m.weight.fill_(5.0)
    ema.update(m)
    assert torch.equal(ema.shadow["weight"], m.weight)
    with torch.no_grad():
        m.weight.fill_(6.0)
    ema.update(m)
    assert torch.allclose(ema.shadow["weight"], torch.full((2, 2), 5.01))


def test_ema_warmup_forgets_the_first_steps():
    """With warm-up the decay after n updates is min(decay, (1 + n) / (10 + n)): after
    1,000 steps of 0.999 the first step's weights keep a negligible share instead of 37%."""
    from torch import nn

    from genzoo.train.ema import EMA

    m = nn.Linear(1, 1, bias=False)
    warm, fixed = EMA(m, 0.999), EMA(m, 0.999, warmup=False)
    for step in range(1000):
        with torch.no_grad():
            m.weight.fill_(0.0 if step == 0 else 1.0)  # the first step's weights are 0, then 1
        warm.update(m)
        fixed.update(m)
    share_fixed = 1 - float(fixed.shadow["weight"])
    share_warm = 1 - float(warm.shadow["weight"])
    assert abs(share_fixed - 0.999 ** 999) < 1e-4
    assert share_warm < 1e-3
    assert warm.updates == 1000 and abs(warm.current_decay() - 1001 / 1010) < 1e-12
    warm.updates = 20_000
    assert warm.current_decay() == 0.999
    warm.updates = 1
    assert abs(warm.current_decay() - 2 / 11) < 1e-12


def test_sync_batchnorm_needs_a_batchnorm_layer(tmp_path, capsys):
    rc = main(["train", "made", "--set", "hidden=16", "--steps", "2", "--set", "train.sync_batchnorm=true",
               "--run-dir", str(tmp_path / "r"), "--no-progress"])
    assert rc == 2 and "made has no BatchNorm layer" in capsys.readouterr().err


def test_sync_batchnorm_converts_only_under_ddp_on_cuda():
    from torch import nn

    from genzoo.data.dataset import load_dataset
    from genzoo.errors import GenzooError
    from genzoo.models.registry import build_model
    from genzoo.train.distributed import DistInfo
    from genzoo.train.players import sync_batchnorm as _sync_batchnorm

    spec = load_dataset("digits").spec
    model = build_model("dcgan", spec, {"channels": "4", "latent_dim": "4"})
    params = list(model.parameters())
    keys = list(model.state_dict())
    cfg = TrainConfig(sync_batchnorm=True)
    _sync_batchnorm(model, cfg, DistInfo(), torch.device("cpu"))  # one process: nothing to do
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in model.modules())
    with pytest.raises(GenzooError, match="needs CUDA"):
        _sync_batchnorm(model, cfg, DistInfo(rank=0, world_size=2), torch.device("cpu"))
    # (the conversion itself touches no device, so it can be checked here)
    _sync_batchnorm(model, cfg, DistInfo(rank=0, world_size=2), torch.device("cuda"))
    assert any(isinstance(m, nn.SyncBatchNorm) for m in model.modules())
    assert not any(type(m) in (nn.BatchNorm1d, nn.BatchNorm2d) for m in model.modules())
    assert list(model.state_dict()) == keys  # checkpoints stay interchangeable
    assert all(a is b for a, b in zip(model.parameters(), params, strict=True))  # optimizers unaffected
    _sync_batchnorm(model, TrainConfig(), DistInfo(rank=0, world_size=2), torch.device("cpu"))  # off: no check


def test_sync_batchnorm_single_process_trains(tmp_path):
    assert main(["train", "dcgan", "--set", "channels=4", "--set", "latent_dim=4", "--steps", "2",
                 "--set", "train.sync_batchnorm=true", "--run-dir", str(tmp_path / "r"), "--no-progress"]) == 0


def test_dist_timeout_is_checked(tmp_path, capsys):
    rc = main(["train", "made", "--set", "hidden=16", "--steps", "2", "--set", "train.dist_timeout=0",
               "--run-dir", str(tmp_path / "r"), "--no-progress"])
    assert rc == 2 and "train.dist_timeout" in capsys.readouterr().err


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_adam_is_fused_unless_turned_off(optimizer):
    from genzoo.models.base import Player
    from genzoo.train.players import make_optimizer as _make_optimizer

    def step(fused: bool) -> torch.Tensor:
        w = torch.nn.Parameter(torch.linspace(-1, 1, 6))
        opt = _make_optimizer(Player("model", [w], lambda b: {}),
                              TrainConfig(optimizer=optimizer, weight_decay=0.1, fused=fused))
        assert opt.param_groups[0]["fused"] is (True if fused else None)
        for _ in range(3):
            opt.zero_grad()
            (w.pow(3).sum()).backward()
            opt.step()
        return w.detach()

    assert torch.allclose(step(True), step(False), atol=1e-6)
