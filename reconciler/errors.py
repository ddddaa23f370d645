"""Expected failures that reach a user as a message and an exit code, never a traceback."""

from __future__ import annotations


class McError(Exception):
    """An expected failure: the message is for the user; exit_code is what the CLI returns."""

    exit_code = 1


class UsageError(McError):
    """The command was called wrongly (a bad path, revision or option)."""

    exit_code = 2
