"""A task's outputs against its output schema: the one check, used by `mc complete` (which
refuses invalid outputs, the task staying Running) and by the decision (which fails the
attempt if outputs that bypassed the CLI do not match)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def output_error(schema: Mapping[str, Any] | None, outputs: Mapping[str, Any]) -> str | None:
    """The first way `outputs` violate `schema` (`at PATH: message`), or None if they satisfy it."""
    if schema is None:
        return None
    import jsonschema  # only here: claims and heartbeats start measurably faster without it

    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(dict(outputs)), key=lambda e: (list(e.path), e.message)
    )
    if not errors:
        return None
    where = "/".join(str(p) for p in errors[0].absolute_path) or "(root)"
    return f"at {where}: {errors[0].message}"
