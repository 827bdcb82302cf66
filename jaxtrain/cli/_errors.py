"""The exceptions a command raises to end with a clear message: one line, then exit 1 or 2."""

from __future__ import annotations

__all__ = ["CommandError", "UsageError"]


class CommandError(Exception):
    """A failure the user can fix (a bad file, a wrong shape): printed as one line, exit 1."""


class UsageError(CommandError):
    """A bad argument found after parsing (flags that do not go together, a value the data
    cannot take): printed as one line, exit 2, as argparse's own usage errors."""
