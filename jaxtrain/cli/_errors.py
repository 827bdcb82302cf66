"""The one exception a command raises to end with a clear message and exit status 1."""

from __future__ import annotations

__all__ = ["CommandError"]


class CommandError(Exception):
    """A failure the user can fix (a bad file, a wrong shape): printed as one line, exit 1."""
