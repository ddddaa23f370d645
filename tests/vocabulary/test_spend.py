"""Spend and spend limits: sums that float noise cannot push over a bound, and old records that
still read."""

from __future__ import annotations

import json
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.leases import Lease, LeaseState
from reconciler.vocabulary.phases import Phase
from reconciler.vocabulary.spend import Spend, SpendLimit
from reconciler.vocabulary.status import TaskStatus

cents = st.integers(min_value=0, max_value=10_000)


@given(st.lists(cents, max_size=200))
def test_a_sum_of_cents_meets_a_cap_of_exactly_that_sum(amounts: list[int]) -> None:
    total = Spend()
    for a in amounts:
        total = total + Spend(a, a / 100)
    cap = SpendLimit(sum(amounts), sum(amounts) / 100)
    assert cap.exceeded_by(total) is None
    assert (cap.reached_by(total) is not None) is True
    assert cap.exceeded_by(total + Spend(0, 0.01)) is not None


def test_limits_name_what_is_over() -> None:
    limit = SpendLimit(tokens=1000)
    assert limit.exceeded_by(Spend(1000, 99.0)) is None  # no cost bound
    assert limit.exceeded_by(Spend(1001)) == "1,001 tokens > 1,000"
    assert SpendLimit(cost_usd=0.5).reached_by(Spend(0, 0.5)) == "$0.5000 of $0.5000"
    assert not SpendLimit()
    assert str(SpendLimit(20000, 0.05)) == "20,000 tokens, $0.0500"


def test_spend_round_trips_through_leases_and_statuses_and_old_records_read() -> None:
    lease = Lease(TaskKey("m/t"), 1, "a", None, LeaseState.ACTIVE, 0.0, 0.0, 60.0, 60.0)
    spent = Lease.from_json(replace(lease, spend=Spend(5, 0.25)).to_json())
    assert (spent.spend, spent.budget) == (Spend(5, 0.25), SpendLimit())
    old = json.loads(lease.to_json())
    del old["spend"], old["budget"]  # a lease written before spend was recorded
    assert Lease.from_json(json.dumps(old)).spend == Spend()
    status = TaskStatus(TaskKey("m/t"), Phase.PENDING, 0.0, 0.0, "blob", spend=Spend(3, 0.1))
    assert TaskStatus.from_dict(json.loads(status.to_json())).spend == Spend(3, 0.1)
    legacy = json.loads(status.to_json())
    del legacy["spend"]
    assert TaskStatus.from_dict(legacy).spend == Spend()
