"""The phase table (docs/design.md, "Task state machine"): which edges exist, and how an illegal one is refused."""

from __future__ import annotations

import itertools

import pytest

from reconciler.vocabulary.phases import EDGES, HELD, TERMINAL, IllegalTransition, Phase, check_transition


def test_every_phase_has_an_entry_and_every_target_is_a_phase() -> None:
    assert set(EDGES) == set(Phase)
    for targets in EDGES.values():
        assert set(targets) <= set(Phase)
        assert all(reason for reason in targets.values())


def test_terminal_phases_have_no_way_out_but_redeclaration() -> None:
    assert {Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED} == TERMINAL
    assert EDGES[Phase.SUCCEEDED] == {}
    assert EDGES[Phase.FAILED] == {}
    assert set(EDGES[Phase.CANCELLED]) == {Phase.PENDING}


def test_no_self_loops() -> None:
    for phase, targets in EDGES.items():
        assert phase not in targets


def test_held_phases_can_expire_and_be_cancelled() -> None:
    for phase in HELD:
        assert Phase.EXPIRED in EDGES[phase]
        assert Phase.CANCELLED in EDGES[phase]


def test_every_non_terminal_phase_can_be_cancelled() -> None:
    for phase in set(Phase) - TERMINAL:
        assert Phase.CANCELLED in EDGES[phase], phase


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (Phase.PENDING, Phase.QUEUED),
        (Phase.QUEUED, Phase.LEASED),
        (Phase.LEASED, Phase.RUNNING),
        (Phase.RUNNING, Phase.SUCCEEDED),
        (Phase.RUNNING, Phase.AWAITING_APPROVAL),
        (Phase.AWAITING_APPROVAL, Phase.SUCCEEDED),
        (Phase.RUNNING, Phase.FAILED),
        (Phase.RUNNING, Phase.QUEUED),
        (Phase.LEASED, Phase.EXPIRED),
        (Phase.RUNNING, Phase.EXPIRED),
        (Phase.EXPIRED, Phase.QUEUED),
        (Phase.EXPIRED, Phase.FAILED),
        (Phase.PENDING, Phase.BLOCKED),
        (Phase.BLOCKED, Phase.PENDING),
        (Phase.CANCELLED, Phase.PENDING),
    ],
)
def test_design_edges_are_legal(source: Phase, target: Phase) -> None:
    assert check_transition(source, target) == EDGES[source][target]


def test_check_transition_agrees_with_the_table() -> None:
    for source, target in itertools.product(Phase, Phase):
        if target in EDGES[source]:
            assert check_transition(source, target)
        else:
            with pytest.raises(IllegalTransition):
                check_transition(source, target)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (Phase.PENDING, Phase.RUNNING),
        (Phase.QUEUED, Phase.SUCCEEDED),
        (Phase.BLOCKED, Phase.QUEUED),
        (Phase.EXPIRED, Phase.RUNNING),
        (Phase.AWAITING_APPROVAL, Phase.QUEUED),
    ],
)
def test_illegal_edge_names_both_phases_and_the_allowed_ones(source: Phase, target: Phase) -> None:
    with pytest.raises(IllegalTransition) as info:
        check_transition(source, target)
    message = str(info.value)
    assert str(source) in message
    assert str(target) in message
    for allowed in EDGES[source]:
        assert str(allowed) in message


@pytest.mark.parametrize("source", [Phase.SUCCEEDED, Phase.FAILED])
def test_leaving_a_final_phase_says_it_is_final(source: Phase) -> None:
    with pytest.raises(IllegalTransition, match="final") as info:
        check_transition(source, Phase.QUEUED)
    assert str(source) in str(info.value)
    assert "Queued" in str(info.value)


def test_cancelled_only_goes_back_to_pending() -> None:
    with pytest.raises(IllegalTransition, match=r"Cancelled -> Queued .*Pending"):
        check_transition(Phase.CANCELLED, Phase.QUEUED)
    assert check_transition(Phase.CANCELLED, Phase.PENDING)


def test_illegal_transition_is_a_value_error() -> None:
    assert issubclass(IllegalTransition, ValueError)
