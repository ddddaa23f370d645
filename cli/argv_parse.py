"""An agent command's arguments, parsed from its declaration (cli/params.py) without typer.

The grammar is click's, for what the agent commands declare (options that take one value, and
positional arguments): `--name VALUE`, `--name=VALUE`, `-x VALUE`, `-xVALUE`; an option takes
the next word as its value even if it starts with `-` (as a lease token may); `--` ends the
options; an unset or empty environment variable falls back to the default.

`parse` accepts only what it can read exactly as typer would: plain decimal numbers within
their bounds, a choice whatever its case, a non-empty path. Anything else (a usage error, an
unusual spelling such as ` 7` or `1_0`, help) is `None`: the caller hands the whole command
line to typer, which then either reads it or reports the error in its own words. So both
paths accept the same command lines, with the same values, and every usage error is worded
by one parser."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from cli.params import Command, Param

_INT = re.compile(r"[0-9]+")
_FLOAT = re.compile(r"[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")


class _Unsure(Exception):
    """The command line is not certainly what typer would read: leave it to typer."""


def convert(param: Param, raw: str) -> Any:
    """`raw` as the value of `param`, or _Unsure."""
    kind = param.type
    value: Any
    if kind is str:
        return raw
    if kind is int and _INT.fullmatch(raw):
        value = int(raw)
    elif kind is float and _FLOAT.fullmatch(raw):
        value = float(raw)
    elif kind is Path and raw:
        return Path(raw)
    elif issubclass(kind, Enum):
        folded = raw.casefold()
        for choice in kind:
            if str(choice.value).casefold() == folded:
                return choice
        raise _Unsure
    else:
        raise _Unsure
    if (param.min is not None and not value >= param.min) or (param.max is not None and not value <= param.max):
        raise _Unsure
    return value


def _split(command: Command, args: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """The raw value of each option given, by parameter name, and the positional words."""
    longs = {d: p for p in command.params for d in p.decls if d.startswith("--")}
    shorts = {d: p for p in command.params for d in p.decls if not d.startswith("--")}
    given: dict[str, str] = {}
    positional: list[str] = []
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            positional += rest
            break
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            continue
        name, eq, attached = arg.partition("=")
        param = longs.get(name)
        if param is not None:  # --name VALUE, --name=VALUE
            if eq:
                rest.insert(0, attached)
        elif arg.startswith("--") or (param := shorts.get(arg[:2])) is None:
            raise _Unsure  # no such option
        elif len(arg) > 2:  # -xVALUE
            rest.insert(0, arg[2:])
        if not rest:
            raise _Unsure  # the option requires a value
        given[param.name] = rest.pop(0)
    return given, positional


def parse(command: Command, args: Sequence[str], environ: Mapping[str, str]) -> dict[str, Any] | None:
    """The keyword arguments of `command`'s implementation, from `args` (the words after the
    command's name) and the environment; None if typer should read them instead."""
    try:
        given, positional = _split(command, args)
        arguments = [p for p in command.params if p.is_argument]
        if len(positional) > len(arguments):
            return None  # unexpected extra arguments
        given.update((p.name, word) for p, word in zip(arguments, positional, strict=False))
        values: dict[str, Any] = {}
        for param in command.params:
            raw = given.get(param.name)
            if raw is None and param.envvar:
                raw = environ.get(param.envvar) or None
            if raw is not None:
                values[param.name] = convert(param, raw)
            elif param.required:
                return None  # missing
            else:
                values[param.name] = param.default
    except _Unsure:
        return None
    return values
