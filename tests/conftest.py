"""Shared fixtures: the real data beside the checkout, tiny specs, temp homes."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (MNIST IDX files and binarized MNIST); skip when absent."""
    if not (SHARED_DATA / "mnist").is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True, scope="session")
def _isolated_home(tmp_path_factory):
    # Never touch the user's ~/.cache/genzoo nor the network from tests (GENZOO_OFFLINE=1
    # makes loaders fail fast instead of downloading; download tests unset it). Session
    # scope, so that module- and session-scoped fixtures see it too.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENZOO_HOME", str(tmp_path_factory.getbasetemp() / "genzoo_home"))
        mp.setenv("GENZOO_OFFLINE", "1")
        yield


@pytest.fixture
def one_thread():
    """Run a test on one torch thread: loops of many tiny ops (Gibbs chains, AIS, the
    E-step) only pay for thread hand-offs on a busy 2-core machine."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(autouse=True)
def _restore_threads():
    """Every test leaves torch's thread count as it found it (a test that pins one thread
    must not slow every later test)."""
    import torch

    n = torch.get_num_threads()
    yield
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
