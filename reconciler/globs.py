"""Path globs for task scopes, agent permissions and policy targets.

Syntax (relative to the repository root, '/'-separated): '*' matches within one segment,
'**' (a whole segment) matches any number of segments, '?' one character, '[abc]' and
'[!abc]' character classes.
"""

from __future__ import annotations

import re
from functools import lru_cache


class GlobError(ValueError):
    """A glob that is not valid, with the reason."""


def _class_end(pattern: str, start: int) -> int:
    """Index of the ']' closing the class opened at `start`, or -1."""
    i = start + 1
    if i < len(pattern) and pattern[i] == "!":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        if pattern[i] == "/":
            return -1
        i += 1
    return i if i < len(pattern) else -1


def check_glob(pattern: str) -> None:
    """Raise GlobError if `pattern` is not a valid relative path glob."""
    if not pattern:
        raise GlobError("empty glob")
    if pattern.startswith("/"):
        raise GlobError("must be relative to the repository root (no leading '/')")
    if "\\" in pattern:
        raise GlobError("use '/' to separate path segments, not '\\'")
    if pattern.endswith("/"):
        raise GlobError("ends with '/'; write 'dir/**' for everything under a directory")
    for segment in pattern.split("/"):
        if segment == "":
            raise GlobError("empty path segment ('//')")
        if segment in (".", ".."):
            raise GlobError(f"'{segment}' segments are not allowed")
        if "**" in segment and segment != "**":
            raise GlobError("'**' must be a whole path segment, as in 'src/**/*.py'")
    i = 0
    while i < len(pattern):
        if pattern[i] == "[":
            end = _class_end(pattern, i)
            if end < 0:
                raise GlobError(f"unclosed '[' at character {i + 1}")
            i = end
        elif pattern[i] == "]":
            raise GlobError(f"unmatched ']' at character {i + 1}")
        i += 1


def _translate_segment(segment: str) -> str:
    out = []
    i = 0
    while i < len(segment):
        ch = segment[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = _class_end(segment, i)
            body = segment[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


@lru_cache(maxsize=4096)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """Compile a checked glob into a regular expression matching whole paths."""
    check_glob(pattern)
    parts: list[str] = []
    segments = pattern.split("/")
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            parts.append(".*" if last else "(?:[^/]+/)*")
        else:
            parts.append(_translate_segment(segment) + ("" if last else "/"))
    return re.compile("".join(parts) + r"\Z")


def glob_matches(pattern: str, path: str) -> bool:
    return compile_glob(pattern).match(path) is not None
