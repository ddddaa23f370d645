"""Commit trailers are built and parsed in one module, in git's own trailer format."""

from __future__ import annotations

import subprocess

from hypothesis import given
from hypothesis import strategies as st

from reconciler.vocabulary.trailers import Trailer, compose, identity, parse


def test_compose_then_parse_round_trips() -> None:
    message = compose("lease m/t: grant", {Trailer.TASK: "m/t", Trailer.GENERATION: 3}, "a body\n\nwith paragraphs")
    assert message.startswith("lease m/t: grant\n\na body")
    assert parse(message) == {Trailer.TASK: "m/t", Trailer.GENERATION: "3"}


def test_git_reads_our_trailers() -> None:
    message = compose("subject", {Trailer.TASK: "m/t", Trailer.AGENT: "a-1234abcd", Trailer.KIND: "result"})
    proc = subprocess.run(
        ["git", "interpret-trailers", "--parse"], input=message, capture_output=True, text=True, check=True
    )
    assert proc.stdout.splitlines() == ["MC-Task: m/t", "MC-Agent: a-1234abcd", "MC-Kind: result"]


@given(subject=st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40))
def test_only_the_last_paragraph_is_read(subject: str) -> None:
    message = compose(subject + "\n\nMC-Task: forged/x", {Trailer.TASK: "m/t"})
    assert parse(message)[Trailer.TASK] == "m/t"


def test_identity_is_never_a_real_mailbox() -> None:
    assert identity("mc-reconciler") == ("mc-reconciler", "mc-reconciler@missioncontrol.invalid")
