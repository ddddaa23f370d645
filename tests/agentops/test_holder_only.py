"""Only a lease's holder may report on it: the generation is a fencing token, the lease token
(a secret the claim returns, stored in Git only as a hash) is the credential."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from reconciler.gitstate.refs import lease_ref
from tests.conftest import claim, git, rev


def run(repo: Path, *args: str, **env: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [*args, "-C", str(repo)], env={"MC_LEASE_TOKEN": "", **env})
    return result.exit_code, result.stdout, result.stderr


def tips(repo: Path) -> tuple[str | None, ...]:
    return tuple(rev(repo, r) for r in (lease_ref("m/hello"), "refs/heads/mc/work/m/hello", "refs/mc/status"))


REPORTS = [
    ["heartbeat", "m/hello"],
    ["checkpoint", "m/hello", "--message", "hijack"],
    ["complete", "m/hello"],
    ["fail", "m/hello", "--reason", "hijack"],
    ["release", "m/hello"],
]


@pytest.mark.parametrize("report", REPORTS, ids=[r[0] for r in REPORTS])
def test_a_report_without_the_holders_token_is_refused_and_changes_nothing(queued: Path, report: list[str]) -> None:
    lease = claim(queued)
    before = tips(queued)
    # another agent that knows the generation (it is in Git for anyone to read)
    code, _, err = run(queued, *report, "-g", "1", MC_AGENT_ID="underwriter-79979a06")
    assert code == 2
    assert "--lease-token or MC_LEASE_TOKEN" in err
    code, out, err = run(queued, *report, "-g", "1", "-o", "json", MC_LEASE_TOKEN="guessed")
    assert code == 1
    assert "only the holder may report" in err
    assert json.loads(out)["error"]["code"] == "not_holder"
    # the right token under another agent's name is refused too
    code, _, err = run(queued, *report, "-g", "1", MC_LEASE_TOKEN=str(lease["leaseToken"]), MC_AGENT_ID="underwriter")
    assert code == 1
    assert f"held by {lease['agent']}, not underwriter" in err
    assert tips(queued) == before


def test_the_holder_reports_with_its_token_and_git_keeps_only_its_hash(queued: Path) -> None:
    lease = claim(queued)
    token = str(lease["leaseToken"])
    code, _, err = run(queued, "heartbeat", "m/hello", "-g", "1", "--agent", str(lease["agent"]), MC_LEASE_TOKEN=token)
    assert code == 0, err
    stored = git(queued, "show", lease_ref("m/hello") + ":lease.json")
    assert token not in stored
    assert json.loads(stored)["secret_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in git(queued, "log", "-p", "--all")


def test_claim_exports_the_token_for_a_shell(queued: Path) -> None:
    code, out, _ = run(queued, "claim", "--agent", "worker", "-o", "env")
    assert code == 0
    exported = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines())
    assert exported["MC_LEASE_GENERATION"] == "1"
    assert len(exported["MC_LEASE_TOKEN"]) >= 40
    code, _, err = run(queued, "heartbeat", "m/hello", "-g", "1", MC_LEASE_TOKEN=exported["MC_LEASE_TOKEN"])
    assert code == 0, err


def test_renewals_replace_each_other_and_custody_stays_history(queued: Path) -> None:
    """A lease renewed for days keeps two commits, its grant and its latest renewal."""
    lease = claim(queued)
    token = str(lease["leaseToken"])
    tips = []
    for _ in range(5):
        code, _, err = run(queued, "heartbeat", "m/hello", "-g", "1", MC_LEASE_TOKEN=token)
        assert code == 0, err
        tips.append(rev(queued, lease_ref("m/hello")))
    assert len(set(tips)) == 5  # each renewal moved the ref
    chain = git(queued, "log", "--format=%s", lease_ref("m/hello")).splitlines()
    assert chain == ["lease m/hello: renew generation 1", "lease m/hello: grant generation 1 to " + str(lease["agent"])]
    code, _, err = run(queued, "release", "m/hello", "-g", "1", MC_LEASE_TOKEN=token)
    assert code == 0, err
    states = [
        json.loads(git(queued, "show", f"{c}:lease.json"))["state"]
        for c in git(queued, "rev-list", lease_ref("m/hello")).split()
    ]
    assert states == ["released", "active", "active"]  # the end is custody: it stays
