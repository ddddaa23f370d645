"""The task key `mission/task`: one type, split and joined only here.

A key is a `str` (so it works as a dict key, in JSON and in ref names unchanged), built with
`TaskKey.of` or checked with `TaskKey.parse`, which refuses anything that is not two DNS
labels: a key becomes part of ref names (`refs/mc/leases/<xx>/<mission>_<task>`), so a space,
`..`, `.lock` or a trailing `/` must be refused before Git sees it. A label has no `_`, so
`<mission>_<task>` names one key.

`shard` spreads names over 256 directories (two hex digits of their SHA-1), wherever one
directory would otherwise hold an entry per task: the status tree, the lease refs.
"""

from __future__ import annotations

import hashlib
import re

from reconciler.vocabulary.errors import UsageError

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
SHARD_HEX = 2  # 256 shards


def shard(text: str) -> str:
    """The shard directory of `text`: two hex digits of its SHA-1."""
    return hashlib.sha1(text.encode()).hexdigest()[:SHARD_HEX]


DNS_RULE = "lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"


def check_name(what: str, name: str, text: str | None = None) -> str:
    """`name` if it is a DNS label; UsageError naming `what` it was meant to be otherwise."""
    if not DNS_LABEL.match(name):
        where = f" in {text!r}" if text is not None and text != name else ""
        raise UsageError(f"invalid {what} name {name!r}{where}: a DNS label is {DNS_RULE}")
    return name


class TaskKey(str):
    """`mission/task`."""

    __slots__ = ()

    @classmethod
    def of(cls, mission: str, task: str) -> TaskKey:
        return cls(f"{mission}/{task}")

    @classmethod
    def parse(cls, text: str, mission: str | None = None) -> TaskKey:
        """`MISSION/TASK`, or `TASK` with `mission`; UsageError naming what is wrong."""
        if "/" not in text and mission is not None:
            text = f"{mission}/{text}"
        parts = text.split("/")
        if len(parts) != 2:
            raise UsageError(f"{text!r} is not a task: write MISSION/TASK (or TASK with --mission)")
        for what, part in zip(("mission", "task"), parts, strict=True):
            check_name(what, part, text)
        return cls(text)

    @property
    def mission(self) -> str:
        return self.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.split("/", 1)[1]
