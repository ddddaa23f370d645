"""What of a task's text is about the work: templated text removed, words and identifiers found.

Templated text causes most false matches: bracketed or conventional-commit prefixes
(`[Bug]`, `feat(api):`), issue-template headings and checklists, HTML comments, and boilerplate
lines an agent repeats in every task (lines that many indexed tasks share: `boilerplate`).
Identifiers (`4-e4n`, `v1.2.3`, `CVE-2024-1234`, `#123`) decide between near twins: titles that
agree word for word but name different identifiers are different work.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

_PREFIX = re.compile(
    r"^\s*(?:(?:\[[^\]]{1,40}\]|\([^)]{1,40}\))\s*:?\s*|(?:feat|fix|bug|docs?|chore|refactor|perf|test|ci|build|style)"
    r"(?:\([^)]{0,40}\))?!?\s*:\s*)+",
    re.IGNORECASE,
)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_HEADING = re.compile(r"^\s*(?:#{1,6}\s+|\*\*[^*]{1,80}\*\*\s*:?\s*$)")
_CHECKBOX = re.compile(r"^\s*[-*]\s*\[[ xX]\]")
_IDENTIFIER = re.compile(r"(?<![\w.])(?:#\d+|[A-Za-z0-9]+(?:[._\-/][A-Za-z0-9]+)*)(?![\w])")
_WORD = re.compile(r"[a-z0-9]+(?:['_][a-z0-9]+)*")
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "could",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "may",
        "not",
        "of",
        "on",
        "or",
        "our",
        "should",
        "so",
        "than",
        "that",
        "the",
        "their",
        "then",
        "there",
        "this",
        "to",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "while",
        "will",
        "with",
        "would",
        "you",
        "your",
        "add",
        "adds",
        "added",
        "fix",
        "fixes",
        "fixed",
        "support",
        "make",
        "use",
        "using",
        "when",
        "via",
        "new",
    ]
)
BOILERPLATE_SHARE = 0.2  # a line in this share of indexed tasks (and at least 3) is boilerplate
BOILERPLATE_MIN = 3


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z][a-z])")


def strip_title(title: str) -> str:
    """The title without bracketed or conventional-commit prefixes, `CamelCase` split in words."""
    stripped = _PREFIX.sub("", title).strip() or title.strip()
    return _CAMEL.sub(" ", stripped)


def strip_body(text: str, boilerplate: frozenset[str] = frozenset()) -> str:
    """The description without HTML comments, template headings, checklists and boilerplate lines."""
    kept = []
    for line in _COMMENT.sub("", text).splitlines():
        if not line.strip() or _HEADING.match(line) or _CHECKBOX.match(line):
            continue
        if _line_key(line) in boilerplate:
            continue
        kept.append(line.strip())
    return "\n".join(kept)


def _line_key(line: str) -> str:
    return " ".join(line.lower().split())


def boilerplate(descriptions: Iterable[str]) -> frozenset[str]:
    """Lines that at least `BOILERPLATE_SHARE` of the descriptions (and `BOILERPLATE_MIN`) share."""
    counts: Counter[str] = Counter()
    total = 0
    for text in descriptions:
        total += 1
        counts.update({_line_key(line) for line in _COMMENT.sub("", text).splitlines() if len(line.strip()) > 12})
    floor = max(BOILERPLATE_MIN, int(total * BOILERPLATE_SHARE))
    return frozenset(line for line, n in counts.items() if n >= floor)


def words(text: str) -> list[str]:
    """Content words, lower case, without stopwords."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1]


def identifiers(text: str) -> frozenset[str]:
    """Tokens that name something exact: with a digit in them (versions, ids, model names), or
    joined by `.`, `_`, `-` or `/` (module paths, flags, file names)."""
    out = set()
    for token in _IDENTIFIER.findall(text):
        has_digit = any(c.isdigit() for c in token)
        joined = any(c in "._-/" for c in token.strip("._-/"))
        if (has_digit and len(token) > 1) or token.startswith("#") or (joined and len(token) > 3):
            out.add(token.lower())
    return frozenset(out)


def document(title: str, description: str = "", boiler: frozenset[str] = frozenset()) -> str:
    """The text embedded and searched for a task: its title, then what its description says."""
    body = strip_body(description, boiler)
    return strip_title(title) + ("\n" + body if body else "")
