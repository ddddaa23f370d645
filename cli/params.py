"""A command's parameters, declared once, as data.

From one declaration, `cli/common.py` builds the typer parameter (what `--help` shows and the
normal path parses) and `cli/argv_parse.py` parses the agent commands' fast path, so the two
cannot drift: same names, short flags, environment variables, types, defaults, bounds and
choices."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, NamedTuple

REQUIRED: Any = ...  # the default of a parameter that has none (typer's marker)


class Param(NamedTuple):
    """One option (`decls` names it, long and short, in the order help shows them) or, with no
    `decls`, one positional argument.

    `type` is str, int, float, pathlib.Path or a StrEnum (its values are the choices, matched
    case-insensitively). A default of None makes the parameter optional (`type | None`);
    REQUIRED makes it required. An empty environment variable counts as unset.

    (A NamedTuple, not a dataclass: the fast path builds some forty of them, and a NamedTuple
    class costs a tenth of a frozen dataclass to create.)"""

    name: str  # the keyword the implementation takes
    decls: tuple[str, ...]
    help: str
    type: type[Any] = str
    default: Any = None
    envvar: str | None = None
    min: float | None = None
    max: float | None = None
    show_default: bool = True

    @property
    def is_argument(self) -> bool:
        return not self.decls

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def option(
    name: str,
    *decls: str,
    help: str,
    type: type[Any] = str,
    default: Any = None,
    envvar: str | None = None,
    min: float | None = None,
    max: float | None = None,
    show_default: bool = True,
) -> Param:
    return Param(name, decls, help, type, default, envvar, min, max, show_default)


def argument(name: str, *, help: str, envvar: str | None = None) -> Param:
    """A required positional argument (a string)."""
    return Param(name, (), help, str, REQUIRED, envvar)


class Command(NamedTuple):
    """A command: its words after `mc`, its help (first paragraph: the summary), its parameters
    in help order, and its implementation as `module:function`, called with one keyword per
    parameter. The implementation raises McError for expected failures and returns nothing."""

    path: tuple[str, ...]
    help: str
    params: tuple[Param, ...]
    run: str

    @property
    def name(self) -> str:
        return " ".join(self.path)

    def implementation(self) -> Callable[..., None]:
        module, _, function = self.run.partition(":")
        found: Callable[..., None] = getattr(importlib.import_module(module), function)
        return found
