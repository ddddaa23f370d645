"""Fencing the writes of a reconcile pass with the leader lease it holds.

Every write of a pass (a lease it ends, the status commit) carries a `Fence`: locally a
verification that the leader ref is still at the tip this leader holds; through a remote, a
renewal of the leader lease in the same atomic push (a push cannot verify a ref it does not
move). A leader that was deposed while its pass ran therefore writes nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

from reconciler.gitstate.refs import Update, Verify


@dataclass(frozen=True, slots=True)
class Fence:
    updates: tuple[Update, ...] = ()
    verifies: tuple[Verify, ...] = ()


FenceProvider = Callable[[], AbstractContextManager[Fence]]


@contextlib.contextmanager
def no_fence() -> Iterator[Fence]:
    """For a single pass outside the service (`mc reconcile`): nothing to fence with."""
    yield Fence()
