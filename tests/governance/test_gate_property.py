"""Publication never happens with approvals missing, whatever the order of events: random
interleavings of approvals (valid, by an unknown key, by a principal outside the group, for
another result, replayed from another task), policy version bumps and reconcile passes. The gate
(`governance.gate.evaluate`, with a stand-in for the signature check) and the decision (`decide`)
are the real ones."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.governance.gate import evaluate
from reconciler.governance.signatures import Signer
from reconciler.manifests.model import Group, Meta, Policy, Principal, Principals, Requirement, Rule, RuleMatch
from reconciler.vocabulary.approvals import ApprovalRecord
from reconciler.vocabulary.kinds import PolicyAction, PolicyState
from reconciler.vocabulary.phases import Phase
from reconciler.vocabulary.trailers import Trailer
from tests.control.decide_world import M, World, key, task

PRINCIPALS = Principals(
    Meta("principals"),
    None,
    "principals.yaml",
    principals=(Principal("alice", ssh_keys=("k-alice",)), Principal("carol", ssh_keys=("k-carol",))),
    groups=(Group("officers", ("alice",)),),
)
EVENTS = st.lists(
    st.sampled_from(["valid", "unknown-key", "outsider", "other-result", "other-task", "bump", "pass", "pass"]),
    max_size=25,
)


def policy(version: int) -> Policy:
    rule = Rule("one", PolicyAction.PUBLISH, match=RuleMatch(tasks=("t",)), require=Requirement(1, (), ("officers",)))
    return Policy(
        Meta("gate"), M, "missions/m/policies/gate.yaml", version=version, state=PolicyState.ACTIVE, rules=(rule,)
    )


def awaiting() -> World:
    world = World.of(task("t", approval_policy="gate"), policies=[policy(1)])
    world.reconcile()
    world.claim("t")
    world.complete("t", {"summary": "ok"})
    world.reconcile()
    assert world.phase("t") == Phase.AWAITING_APPROVAL
    return world


@settings(max_examples=150, deadline=None)
@given(EVENTS)
def test_a_result_is_published_only_with_a_counting_approval_for_it(events: list[str]) -> None:
    world = awaiting()
    result = world.status("t").result_commit
    records: list[ApprovalRecord] = []
    version = 1
    valid_since: int | None = None  # the policy version of the newest valid approval

    def record(signer: str, task_key: str, approves: str | None, at_version: int) -> ApprovalRecord:
        claims = {
            Trailer.TASK: task_key,
            Trailer.ACTION: "publish",
            Trailer.APPROVES: str(approves),
            Trailer.POLICY: f"gate@{at_version}",
        }
        return ApprovalRecord(f"approval-{len(records)}", claims, signer, 0.0, signer.encode(), b"")

    def signer(r: ApprovalRecord, principals: Principals) -> Signer:
        known = {k: p.name for p in principals.principals for k in p.ssh_keys}
        name = known.get(f"k-{r.signature.decode()}" if r.signature else "")
        return Signer(name, "SHA256:x") if name else Signer(None, reason="signed by a key no principal declares")

    for event in events:
        if event == "valid":
            records.append(record("alice", key("t"), result, version))
            valid_since = version
        elif event == "unknown-key":
            records.append(record("mallory", key("t"), result, version))
        elif event == "outsider":
            records.append(record("carol", key("t"), result, version))
        elif event == "other-result":
            records.append(record("alice", key("t"), "0" * 40, version))
        elif event == "other-task":
            records.append(record("alice", key("other"), result, version))
        elif event == "bump":
            version += 1
            world.desired.missions[M].policies["gate"] = policy(version)
        else:
            before = world.phase("t")
            t = world.tasks["t"]
            gate = evaluate(
                t,
                PolicyAction.PUBLISH,
                world.status("t").result_commit,
                list(world.desired.missions[M].policies.values()),
                records,
                lambda r: (PRINCIPALS, None),
                signer=signer,
            )
            approved = {key("t"): str(gate.commit)} if gate.governed and gate.open else {}
            plan = _decide(world, approved)
            after = plan.get(key("t"), before)
            if after == Phase.SUCCEEDED and before == Phase.AWAITING_APPROVAL:
                assert valid_since == version, (events, records)  # a valid approval under this version
            if before == Phase.SUCCEEDED:
                assert after == Phase.SUCCEEDED


def _decide(world: World, approved: dict[str, str]) -> dict[str, Phase]:
    from reconciler.control.decide import decide

    plan = decide(world.desired, world.specs, world.statuses, world.leases, world.now, approved=approved)
    world.statuses = {**world.statuses, **plan.statuses}
    return {k: s.phase for k, s in world.statuses.items()}


def test_the_stand_in_is_not_vacuous() -> None:
    """The property above can fail: without a valid approval nothing is published."""
    world = awaiting()
    assert _decide(world, {})[key("t")] == Phase.AWAITING_APPROVAL
    result = world.status("t").result_commit
    assert _decide(world, {key("t"): str(result)})[key("t")] == Phase.SUCCEEDED
    assert replace(world.status("t")).phase == Phase.SUCCEEDED
