"""The scope index answers exactly what a scan of every held scope in order would: the earliest
added key whose globs overlap (admission used to do this pairwise over all tasks)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.manifests.globs import ScopeIndex, scopes_overlap

SEGMENT = st.sampled_from(["src", "docs", "a", "b", "x.py", "*", "**", "*.py", "a?", "[ab]", "te*t"])
GLOB = st.lists(SEGMENT, min_size=1, max_size=4).map("/".join)
SCOPE = st.lists(GLOB, min_size=1, max_size=3)


@settings(max_examples=300)
@given(st.lists(SCOPE, max_size=12), SCOPE, st.booleans())
def test_first_overlap_is_the_smallest_key_a_linear_scan_finds(
    held: list[list[str]], new: list[str], exclude_first: bool
) -> None:
    index = ScopeIndex()
    scan = []
    for n, scope in enumerate(held):
        index.add(f"k{n}", scope)
        scan.append((f"k{n}", scope))
    exclude = "k0" if exclude_first else None
    expected = min((key for key, scope in scan if key != exclude and scopes_overlap(scope, new)), default=None)
    assert index.first_overlap(new, exclude=exclude) == expected


def test_scopes_that_diverge_are_not_compared() -> None:
    index = ScopeIndex()
    for n in range(1000):
        index.add(f"t{n}", [f"services/s{n}/**"])
    assert index.first_overlap(["services/s500/api/*.py"]) == "t500"
    assert index.first_overlap(["docs/**"]) is None
    assert index.first_overlap(["services/*/README.md"]) == "t0"
    assert index.first_overlap(["**"], exclude="t0") == "t1"
