"""What each agent holds, `refs/mc/agents/<agent-id>`: the replicas limit as a compare-and-swap.

A claim moves the task's lease chain and its agent's holdings ref in one transaction (one atomic
push through a remote). Every claimer of an agent must move that one ref, so N concurrent claims
can never take more than `replicas` tasks: of two claims that both saw a free slot, only one
moves the ref from the value both read. An entry counts until its lease chain records that the
generation ended (released, finished, failed, expired by the reconciler): never by the clock,
since a holder's renewal may still land on a lease that looks expired. Ended entries are dropped
by a claim that finds the agent's entries at its limit (`agentops.claim`).

Each commit's message holds the entries (a JSON paragraph) and its tree is empty, as an
approval's is: a claim writes one object for the holdings, not three. Commits written before
kept the same JSON in a `holdings.json` file, which is still read.
"""

from __future__ import annotations

import json
from typing import NamedTuple

import pygit2

from reconciler.gitstate.commits import write_commit
from reconciler.gitstate.leases import lease_at, read_lease
from reconciler.gitstate.refs import ZERO, Update, agent_ref, lease_key, tree_file
from reconciler.gitstate.store import Store
from reconciler.vocabulary.errors import CorruptState
from reconciler.vocabulary.leases import LeaseState
from reconciler.vocabulary.trailers import Trailer, compose

HOLDINGS_FILE = "holdings.json"


class Holding(NamedTuple):  # not a frozen dataclass: `mc claim` defines it, and a NamedTuple costs less
    key: str
    generation: int


def read_holdings(store: Store, agent: str) -> tuple[str | None, list[Holding]]:
    """The tip of the agent's holdings ref and its entries. An unreadable ref is rebuilt from the
    lease chains (every active lease the agent holds), so damage never lifts the limit."""
    tip = store.read(agent_ref(agent))
    if tip is None:
        return None, []
    known = _SEEN.get(tip)
    if known is not None:
        return tip, list(known)
    try:
        commit = store.repo[tip].peel(pygit2.Commit)
        data = json.loads(_recorded(commit))
        return tip, _seen(tip, [Holding(str(h["key"]), int(h["generation"])) for h in data["holdings"]])
    except (KeyError, ValueError, TypeError, AttributeError, pygit2.GitError):
        return tip, _from_lease_chains(store, agent)


# The entries of holdings commits this process read or wrote, by commit (commits never change):
# an agent that claims again and again reads back what it wrote without parsing it.
_SEEN: dict[str, tuple[Holding, ...]] = {}


def _seen(commit: str, holdings: list[Holding]) -> list[Holding]:
    if len(_SEEN) >= 256:
        _SEEN.clear()
    _SEEN[commit] = tuple(holdings)
    return holdings


def _recorded(commit: pygit2.Commit) -> str | bytes:
    """The JSON of a holdings commit: its message's JSON paragraph (or, written before, its file)."""
    if HOLDINGS_FILE in commit.tree:
        return tree_file(commit.tree, HOLDINGS_FILE)
    for paragraph in commit.message.split("\n\n"):
        if paragraph.startswith("{"):
            return paragraph
    raise KeyError(HOLDINGS_FILE)


def _from_lease_chains(store: Store, agent: str) -> list[Holding]:
    out = []
    for ref in store.repo.references.iterator():
        key = lease_key(ref.name)
        if key is not None:
            try:
                lease = lease_at(store.repo, str(ref.target))
            except CorruptState:
                continue
            if lease.agent == agent and lease.state is LeaseState.ACTIVE:
                out.append(Holding(key, lease.generation))
    return out


def still_held(store: Store, holdings: list[Holding]) -> list[Holding]:
    """The entries whose lease chain has not recorded the end of that generation (an unreadable
    chain counts as held)."""
    out = []
    for h in holdings:
        try:
            _, lease = read_lease(store, h.key)
        except CorruptState:
            out.append(h)
            continue
        if lease is not None and lease.generation == h.generation and lease.state is LeaseState.ACTIVE:
            out.append(h)
    return out


def holdings_update(store: Store, agent: str, parent: str | None, holdings: list[Holding], subject: str) -> Update:
    """The next commit of the agent's holdings (objects only) and the CAS that installs it."""
    body = json.dumps({"agent": agent, "holdings": [{"key": h.key, "generation": h.generation} for h in holdings]})
    message = compose(subject, {Trailer.AGENT: agent}, body)
    empty = store.repo.TreeBuilder().write()  # written once: then it exists, and this costs nothing
    commit = write_commit(store.repo, agent, message, empty, [parent] if parent else [])
    _seen(commit, holdings)
    return Update(agent_ref(agent), commit, parent or ZERO)
