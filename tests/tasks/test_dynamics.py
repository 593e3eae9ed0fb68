"""The GAN dynamics lab: the bilinear game behaves as theory says; the mode-collapse
experiment runs and counts modes."""

from __future__ import annotations

import math

import pytest
import torch

from genzoo.errors import GenzooError
from genzoo.tasks.dynamics import METHODS, bilinear_game, game_table, mode_collapse


def test_simultaneous_descent_ascent_moves_away_from_the_equilibrium():
    eta = 0.1
    t = bilinear_game("simultaneous", steps=100, eta=eta)
    d = t.norm(dim=1)
    assert bool((d[1:] > d[:-1]).all())  # every step moves further out
    # each step multiplies the distance by sqrt(1 + eta^2)
    assert float(d[100] / d[0]) == pytest.approx((1 + eta**2) ** 50, rel=1e-9)


@pytest.mark.parametrize("method", ["extragradient", "optimistic", "consensus"])
def test_extragradient_optimistic_and_consensus_converge(method):
    t = bilinear_game(method, steps=2000, eta=0.1)
    assert float(t[-1].norm()) < 1e-3 < float(t[0].norm())


def test_extragradient_contraction_rate_and_alternating_stays_bounded():
    eta = 0.1
    d = bilinear_game("extragradient", steps=50, eta=eta).norm(dim=1)
    assert float(d[50] / d[0]) == pytest.approx((1 - eta**2 + eta**4) ** 25, rel=1e-9)
    alt = bilinear_game("alternating", steps=5000, eta=eta).norm(dim=1)
    assert 1.5 < float(alt.min()) and float(alt.max()) < 4.0  # neither converges nor diverges


def test_game_table_and_errors():
    trajs = {m: bilinear_game(m, steps=100) for m in METHODS}
    rows = game_table(trajs, (0, 10, 100))
    assert [r["method"] for r in rows] == list(METHODS)
    assert all(r["step 0"] == pytest.approx(math.sqrt(8)) for r in rows)
    with pytest.raises(GenzooError, match="unknown method"):
        bilinear_game("newton")


def test_mode_collapse_experiment_runs_and_counts(one_thread):
    res = mode_collapse(("ring",), ("non_saturating", "hinge"), (1, 2), (0,), steps=40, samples=500, snapshots=2,
                        config={"g_hidden": (32, 32), "d_hidden": (32,)})
    assert len(res["runs"]) == 4 and len(res["summary"]) == 4
    for r in res["runs"]:
        assert r["modes_total"] == 8 and 0 <= r["modes_covered"] <= 8 and 0 <= r["high_quality"] <= 1
    shots = res["snapshots"]["ring/hinge/pack2"]
    assert [s for s, _ in shots] == [20, 40] and shots[0][1].shape == (1000, 2)
    assert torch.isfinite(shots[-1][1]).all()


def test_dynamics_game_command_writes_what_the_library_computes(tmp_path, capsys):
    import json

    from genzoo.cli.main import main
    from genzoo.tasks.dynamics import METHODS, bilinear_game, game_table

    assert main(["dynamics", "game", "--steps", "100", "--out", str(tmp_path)]) == 0
    assert "consensus" in capsys.readouterr().out
    got = json.loads((tmp_path / "game.json").read_text())["rows"]
    want = game_table({m: bilinear_game(m, steps=100, eta=0.1, gamma=1.0) for m in METHODS}, (0, 10, 100))
    assert got == json.loads(json.dumps(want)) and (tmp_path / "game.png").stat().st_size > 0
    assert main(["dynamics", "modes", "--packs", "x", "--out", str(tmp_path)]) == 2
