"""Path globs for task scopes, agent permissions and policy targets.

Syntax (relative to the repository root, '/'-separated): '*' matches within one segment,
'**' (a whole segment) matches any number of segments, '?' one character, '[abc]' and
'[!abc]' character classes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache, lru_cache


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


def _tokens(segment: str) -> tuple[str, ...]:
    """A segment as tokens: '*' (any run), '?' (any one character; classes too), or a literal."""
    out: list[str] = []
    i = 0
    while i < len(segment):
        ch = segment[i]
        if ch == "[":
            i = _class_end(segment, i)
            out.append("?")
        elif ch == "*":
            if not out or out[-1] != "*":
                out.append("*")
        else:
            out.append(ch if ch != "?" else "?")
        i += 1
    return tuple(out)


@lru_cache(maxsize=65536)
def _segments_overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether two token sequences can match one common string ('*' any run, '?' any one)."""

    @cache
    def f(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i] == "*" and (f(i + 1, j) or (j < len(b) and f(i, j + 1))):
            return True
        if j < len(b) and b[j] == "*" and (f(i, j + 1) or (i < len(a) and a[i] != "*" and f(i + 1, j))):
            return True
        if i < len(a) and j < len(b) and "*" not in (a[i], b[j]):
            return (a[i] == b[j] or "?" in (a[i], b[j])) and f(i + 1, j + 1)
        return False

    return f(0, 0)


@lru_cache(maxsize=65536)
def globs_overlap(a: str, b: str) -> bool:
    """Whether some path matches both globs. Character classes count as any character, so the
    answer errs towards "overlap": two tasks are serialised rather than wrongly run together."""
    sa = tuple(None if s == "**" else _tokens(s) for s in a.split("/"))
    sb = tuple(None if s == "**" else _tokens(s) for s in b.split("/"))

    @cache
    def f(i: int, j: int) -> bool:
        if i == len(sa) and j == len(sb):
            return True
        if i < len(sa) and sa[i] is None and (f(i + 1, j) or (j < len(sb) and f(i, j + 1))):
            return True
        if j < len(sb) and sb[j] is None and (f(i, j + 1) or (i < len(sa) and f(i + 1, j))):
            return True
        if i < len(sa) and j < len(sb):
            x, y = sa[i], sb[j]
            if x is not None and y is not None:
                return _segments_overlap(x, y) and f(i + 1, j + 1)
        return False

    return f(0, 0)


def scopes_overlap(a: tuple[str, ...] | list[str], b: tuple[str, ...] | list[str]) -> bool:
    return any(globs_overlap(x, y) for x in a for y in b)


_WILD = frozenset("*?[")


def _literal_prefix(glob: str) -> tuple[str, ...]:
    """The leading segments of `glob` that hold no wildcard."""
    out = []
    for segment in glob.split("/"):
        if segment == "**" or _WILD & set(segment):
            break
        out.append(segment)
    return tuple(out)


@dataclass(slots=True)
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    entries: list[tuple[str, str]] = field(default_factory=list)  # (key, glob)


class ScopeIndex:
    """Path scopes held by keys, indexed by their leading literal segments, so that finding which
    held scope a new one overlaps compares it only with globs that can overlap it: two globs
    whose literal prefixes diverge at some segment match no common path. Equivalent to scanning
    every held scope (`first_overlap` returns the smallest key that overlaps, so that the answer
    does not depend on the order scopes were added in)."""

    def __init__(self) -> None:
        self._root = _Node()

    def add(self, key: str, globs: tuple[str, ...] | list[str]) -> None:
        for glob in globs:
            node = self._root
            for segment in _literal_prefix(glob):
                node = node.children.setdefault(segment, _Node())
            node.entries.append((key, glob))

    def _candidates(self, glob: str) -> list[tuple[str, str]]:
        node = self._root
        found = list(node.entries)
        for segment in _literal_prefix(glob):
            child = node.children.get(segment)
            if child is None:
                return found  # held globs longer along this path diverge from it
            node = child
            found += node.entries
        stack = list(node.children.values())  # held globs whose literal prefix extends this one's
        while stack:
            below = stack.pop()
            found += below.entries
            stack += below.children.values()
        return found

    def first_overlap(self, globs: tuple[str, ...] | list[str], exclude: str | None = None) -> str | None:
        """The smallest key of a held scope that overlaps `globs` (other than `exclude`)."""
        best: str | None = None
        for glob in globs:
            for key, held in sorted(self._candidates(glob)):
                if best is not None and key >= best:
                    break
                if key != exclude and globs_overlap(held, glob):
                    best = key
                    break
        return best
