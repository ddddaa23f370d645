"""The dependency graph of a mission's tasks: cycles, found once, for validation and decisions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def find_cycles(needs: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Each dependency cycle once, as `[a, b, ..., a]`; the last edge is the one that closes it.

    `needs` maps a task to the tasks it needs; names it does not contain are ignored (they are
    unknown references, reported elsewhere), and so are self-references.
    """
    color: dict[str, int] = {}  # 1: on the stack, 2: done
    reported: set[frozenset[str]] = set()
    found: list[list[str]] = []
    for start in sorted(needs):
        if color.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        color[start] = 1
        while stack:
            name, i = stack[-1]
            edges = [n for n in needs[name] if n in needs and n != name]
            if i == len(edges):
                color[name] = 2
                stack.pop()
                continue
            stack[-1] = (name, i + 1)
            nxt = edges[i]
            if color.get(nxt) == 1:
                chain = [n for n, _ in stack]
                cycle = [*chain[chain.index(nxt) :], nxt]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    found.append(cycle)
            elif not color.get(nxt):
                color[nxt] = 1
                stack.append((nxt, 0))
    return found


def cycle_members(needs: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Every task on a dependency cycle, with that cycle written as `a -> b -> a`."""
    out: dict[str, str] = {}
    for cycle in find_cycles(needs):
        text = " -> ".join(cycle)
        for name in cycle:
            out.setdefault(name, text)
    return out
