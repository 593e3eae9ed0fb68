"""`genzoo serve` from the command line: which hosts count as local, the warning for any
other, and errors before anything is served."""

from __future__ import annotations

import pytest

from genzoo.cli.main import main
from genzoo.serve.server import is_loopback


@pytest.mark.parametrize("host,local", [("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.0.0.2", True),
                                        ("0.0.0.0", False), ("192.168.1.5", False), ("::", False), ("example.org", False)])
def test_loopback(host, local):
    assert is_loopback(host) is local


def test_another_host_warns_and_a_missing_run_is_an_error(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "nope"), "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "warning: serving on 0.0.0.0" in err and "run directory not found" in err


def test_runs_dir_errors(tmp_path, capsys):
    assert main(["serve", "--runs-dir", str(tmp_path)]) == 2
    assert "no runs" in capsys.readouterr().err
    assert main(["serve"]) == 2
    assert "no runs to serve" in capsys.readouterr().err
    assert main(["serve", "--runs-dir", str(tmp_path), "--threads", "-1"]) == 2


def test_runs_dir_finds_runs(serve_runs):
    from genzoo.serve.runs import RunTable, find_runs

    table = RunTable(find_runs(serve_runs["root"]))
    assert [r.name for r in table.runs] == ["gan", "lstm", "made", "music", "vae"]
    twice = RunTable([serve_runs["root"] / "made", serve_runs["root"] / "made"])
    assert [r.name for r in twice.runs] == ["made", "made-2"]
