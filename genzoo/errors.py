"""User-facing errors.

Anything the user can fix (a bad name, a bad value, a missing or corrupt file, a model
that cannot model the given data) raises a :class:`GenzooError`. The CLI turns it into
one line on stderr and exit code 2; the Python API lets it propagate.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GenzooError(Exception):
    """An error the user can fix; the message is one line and names the problem."""


class UnknownNameError(GenzooError, KeyError):
    """An unknown model, dataset or option name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class IncompatibleDataError(GenzooError, ValueError):
    """A model was given data of a kind or value type it cannot model."""


class CapabilityError(GenzooError, NotImplementedError):
    """A model was asked for an optional capability it does not have."""


class DataFileError(GenzooError, OSError):
    """A data file is missing (offline), corrupt or truncated."""


class CheckpointError(GenzooError, OSError):
    """A run directory or checkpoint is missing, corrupt or does not match the model."""


class TrainingDiverged(GenzooError, RuntimeError):
    """Training produced non-finite losses even after rolling back and lowering the rate."""


def unknown_name(what: str, name: str, known: Iterable[str]) -> UnknownNameError:
    """Build an error for an unknown ``name`` that suggests the closest known names."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return UnknownNameError(f"unknown {what} {name!r}{hint} (known: {', '.join(known)})")
