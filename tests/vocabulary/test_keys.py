"""TaskKey: one type for `mission/task`, split and joined in one place, refusing bad names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.vocabulary.errors import UsageError
from reconciler.vocabulary.keys import TaskKey

LABEL = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?\Z")


@given(mission=LABEL, task=LABEL)
def test_of_and_parse_round_trip(mission: str, task: str) -> None:
    key = TaskKey.of(mission, task)
    assert key == f"{mission}/{task}"
    assert (key.mission, key.name) == (mission, task)
    assert TaskKey.parse(str(key)) == key
    assert TaskKey.parse(task, mission) == key


@pytest.mark.parametrize(
    "text", ["my-mission/", "/t", "m/has space", "m/../x", "m/x.lock", "m/x/", "m", "m/T", "m/a/b", "", "m/-x"]
)
def test_parse_refuses_what_git_or_the_schema_would(text: str) -> None:
    with pytest.raises(UsageError) as info:
        TaskKey.parse(text)
    assert "name" in str(info.value) or "MISSION/TASK" in str(info.value)


def test_a_bare_name_takes_the_given_mission() -> None:
    assert TaskKey.parse("t", "m") == "m/t"
    assert TaskKey.parse("other/t", "m") == "other/t"  # an explicit mission wins
