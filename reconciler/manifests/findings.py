"""Validation findings: what is wrong, where (file, line, column, field), and why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

FieldPath = tuple[str | int, ...]


def format_field_path(path: Sequence[str | int]) -> str:
    """Render a field path as `spec.needs[0]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem in one manifest. Lines and columns are 1-based; 0 means unknown."""

    file: str
    line: int
    column: int
    field: str
    message: str
    rule: str
    severity: str = "error"

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "field": self.field,
            "message": self.message,
            "rule": self.rule,
            "severity": self.severity,
        }

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.line, self.column, self.message)


class FindingError(Exception):
    """An expected failure carrying one finding (raised while reading a single file)."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding
