"""Module-mode helpers shared by models."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[None]:
    """Run a block with ``module`` in eval mode (running statistics, no dropout), then
    restore the mode it had."""
    was = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was)
