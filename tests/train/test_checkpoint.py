"""Checkpoint files: a ``step-N`` directory is always complete, whatever moment a
process dies in (the kill-during-save figures come from benchmarks/reliability)."""

from __future__ import annotations

import pytest
import torch

from genzoo.train import checkpoint as ck


def _write(d, step, keep=2, value=0.0):
    return ck.write_checkpoint(d, step, model_state={"w": torch.full((3,), value)}, ema_state=None,
                               train_state={"step": step, "optimizers": {}}, keep=keep)


def test_a_replaced_checkpoint_killed_between_the_renames_is_put_back(tmp_path):
    _write(tmp_path, 4, value=1.0)
    # what a kill between os.replace(final, old) and os.replace(tmp, final) leaves behind
    (tmp_path / "step-4").rename(tmp_path / ".old-step-4-123")
    (tmp_path / ".tmp-step-4-123").mkdir()
    ck.clean_temporaries(tmp_path)
    assert [s for s, _ in ck.list_checkpoints(tmp_path)] == [4]
    assert torch.equal(ck.read_checkpoint(tmp_path / "step-4")[0]["w"], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-4"]


def test_leftovers_are_removed_when_the_checkpoint_exists(tmp_path):
    _write(tmp_path, 2)
    for name in (".old-step-2-9", ".del-step-1-9", ".tmp-step-3-9"):
        (tmp_path / name).mkdir()
    ck.clean_temporaries(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-2"]


def test_pruning_never_leaves_a_half_deleted_checkpoint_listed(tmp_path, monkeypatch):
    _write(tmp_path, 2, keep=1)

    def dies(path, **kw):  # the process dies while deleting the old checkpoint
        (path / "model.safetensors").unlink()
        raise KeyboardInterrupt

    monkeypatch.setattr(ck.shutil, "rmtree", dies)
    with pytest.raises(KeyboardInterrupt):
        _write(tmp_path, 4, keep=1)
    assert [s for s, _ in ck.list_checkpoints(tmp_path)] == [4]
    monkeypatch.undo()
    ck.clean_temporaries(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-4"]


def test_state_tensors_finds_nested_optimizer_state():
    opt = torch.optim.Adam([torch.nn.Parameter(torch.ones(2))])
    opt.param_groups[0]["params"][0].grad = torch.ones(2)
    opt.step()
    found = ck.state_tensors(opt.state_dict())
    assert any(k.endswith("exp_avg") for k in found) and ck.all_finite(found)
    opt.state_dict()["state"][0]["exp_avg"].fill_(float("inf"))
    assert not ck.all_finite(ck.state_tensors(opt.state_dict()))
