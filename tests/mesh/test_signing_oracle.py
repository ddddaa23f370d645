"""A node's agents get their commits signed with the node's key without ever holding it: the
node's signing oracle (`mesh/signing.py`) signs only commits of the task and lease generation it
launched the agent with, for a client presenting that run's lease token; a real node and a real
reconciler, each with its own key, leave a record whose every custody commit `mc audit verify`
and `git verify-commit` accept."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pygit2
import pytest

from mesh.runner import Launch, agent_environment
from mesh.signing import SigningOracle, refusal
from reconciler.gitstate import signing, sshsig
from reconciler.gitstate.commits import signature
from reconciler.gitstate.refs import lease_ref
from reconciler.gitstate.status_files import status_path
from reconciler.manifests.model import Agent, Meta, Permissions, Task
from reconciler.vocabulary.keys import TaskKey
from tests.conftest import claim, git, mc, rev, write
from tests.mesh.test_node import MeshNode
from tests.running import Running, phase, wait_for
from tests.signers import chain, declare_principals, git_verifies, keys

TOKEN = "the-run-s-lease-token"


@pytest.fixture(autouse=True)
def _unsigned() -> Iterator[None]:
    yield
    signing.configure(None)


@pytest.fixture
def oracle(tmp_path: Path) -> Iterator[tuple[SigningOracle, Path]]:
    key = keys(tmp_path, "node")["node"]
    served = SigningOracle(signing.load_signer(key), TaskKey("m/hello"), 2, TOKEN, tmp_path / "run")
    yield served, key
    served.close()


def content(repo: pygit2.Repository, message: str) -> bytes:
    sig = signature("worker-1234abcd")
    return str(repo.create_commit_string(sig, sig, message, repo.TreeBuilder().write(), [])).encode()


def test_the_oracle_signs_its_run_s_commits_and_refuses_anything_else(
    oracle: tuple[SigningOracle, Path], tmp_path: Path
) -> None:
    served, key = oracle
    repo = pygit2.init_repository(str(tmp_path / "r"))
    client = signing.OracleSigner(served.path, TOKEN)
    mine = content(repo, "checkpoint\n\nMC-Task: m/hello\nMC-Agent: worker-1234abcd\nMC-Generation: 2\n")
    parsed = sshsig.parse(client.sign(mine).encode())
    assert parsed.public == sshsig.public_blob(key.with_suffix(".pub").read_text())
    assert sshsig.verify_ed25519(parsed, mine)
    refused = {
        "it is a commit of task m/other": "x\n\nMC-Task: m/other\nMC-Generation: 2\n",
        "generation 1, and this agent holds generation 2": "x\n\nMC-Task: m/hello\nMC-Generation: 1\n",
        "exactly one MC-Task and one MC-Generation (it names 0 and 0)": "x\n\nMC-Agent: worker-1234abcd\n",
        "(it names 2 and 1)": "x\n\nMC-Task: m/hello\nMC-Task: m/other\nMC-Generation: 2\n",
        "(it names 0 and 1)": "x\n\nMC-Task: m/hello\n\nMC-Generation: 2\n",  # not in the trailer block
    }
    for why, message in refused.items():
        with pytest.raises(signing.SigningFailed, match="the node refused to sign") as raised:
            client.sign(content(repo, message))
        assert why in str(raised.value)
    with pytest.raises(signing.SigningFailed, match="not the lease token"):
        signing.OracleSigner(served.path, "someone-else-s-token").sign(mine)
    already = mine.replace(b"\n\n", b"\ngpgsig -----BEGIN SSH SIGNATURE-----\n\n", 1)
    assert refusal(already.decode(), TaskKey("m/hello"), 2) == "not a plain commit: header 'gpgsig'"
    assert refusal("hello\n\nMC-Task: m/hello\nMC-Generation: 2\n", TaskKey("m/hello"), 2) is not None
    assert (served.signed, served.refused) == (1, 5)
    served.close()
    with pytest.raises(signing.SigningFailed, match="cannot reach the node's signing oracle"):
        client.sign(mine)
    assert not served.path.exists()


def test_an_agent_s_report_refused_by_the_oracle_writes_nothing(
    queued: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = claim(queued)
    key = keys(tmp_path, "node")["node"]
    node = signing.load_signer(key)
    work = rev(queued, "refs/heads/mc/work/m/hello")
    for generation, expect in ((2, 1), (1, 0)):  # an oracle for another generation, then the agent's own
        served = SigningOracle(
            node, TaskKey("m/hello"), generation, str(held["leaseToken"]), tmp_path / f"run{generation}"
        )
        monkeypatch.setenv("MC_SIGNING_SOCKET", str(served.path))
        monkeypatch.setenv("MC_LEASE_TOKEN", str(held["leaseToken"]))
        try:
            result = mc("checkpoint", "m/hello", "-g", "1", "--message", "step", "-C", str(queued))
        finally:
            served.close()
        assert result.exit_code == expect, result.output
        if expect:
            assert "the node refused to sign: it is a commit of generation 1" in result.output
            assert rev(queued, "refs/heads/mc/work/m/hello") == work  # nothing moved
    checkpoint = rev(queued, "refs/heads/mc/work/m/hello")
    assert checkpoint is not None
    assert checkpoint != work
    assert git_verifies(queued, checkpoint, {"node": key})


def test_the_node_s_key_never_reaches_an_agent(tmp_path: Path) -> None:
    agent = Agent(
        Meta("a"),
        "m",
        "missions/m/agents/a.yaml",
        command=("true",),
        env={"MC_SIGNING_KEY": "/from/the/manifest"},
        permissions=Permissions(env=("MC_SIGNING_KEY", "MC_SIGNING_SOCKET", "GRANTED")),
    )
    launch = Launch(
        TaskKey("m/t"),
        1,
        "token",
        agent,
        Task(Meta("t"), "m", "missions/m/tasks/t.yaml", "t"),
        tmp_path,
        tmp_path,
        tmp_path / "log",
        {},
        "n1",
        node_env={"MC_SIGNING_KEY": "/the/node/key", "MC_SIGNING_SOCKET": "/elsewhere", "GRANTED": "yes"},
        signing_socket=tmp_path / "sign.sock",
    )
    env = agent_environment(launch, tmp_path / "in.json", tmp_path / "out.json")
    assert "MC_SIGNING_KEY" not in env
    assert env["MC_SIGNING_SOCKET"] == str(tmp_path / "sign.sock")
    assert env["GRANTED"] == "yes"


AGENT_SCRIPT = """\
import json, os, pathlib, subprocess
from reconciler.gitstate.commits import signature
from reconciler.gitstate.signing import OracleSigner, SigningFailed
import pygit2

task = os.environ["MC_MISSION"] + "/" + os.environ["MC_TASK"]
pathlib.Path("notes").mkdir(exist_ok=True)
pathlib.Path("notes", "draft.txt").write_text("a first draft")
subprocess.run(["mc", "checkpoint", task, "--message", "a first draft", "--worktree", "."], check=True)
subprocess.run(["mc", "effect", "record", os.environ["MC_IDEMPOTENCY_KEY"] + ":mail", "--task", task,
                "--result", '{"sent": 1}'], check=True)
subprocess.run(["mc", "heartbeat", task], check=True)
# the oracle signs this run's commits only: try another task's
repo = pygit2.Repository(".")
sig = signature(os.environ["MC_AGENT_ID"])
forged = repo.create_commit_string(sig, sig, "x\\n\\nMC-Task: m/other\\nMC-Generation: 1\\n",
                                   repo.TreeBuilder().write(), [])
try:
    OracleSigner(pathlib.Path(os.environ["MC_SIGNING_SOCKET"]), os.environ["MC_LEASE_TOKEN"]).sign(forged.encode())
    refused = ""
except SigningFailed as exc:
    refused = str(exc)
pathlib.Path("notes", "result.txt").write_text("done")
pathlib.Path(os.environ["MC_OUTPUTS"]).write_text(json.dumps({
    "keyInEnv": "MC_SIGNING_KEY" in os.environ, "refused": refused,
}))
"""

AGENT = """\
apiVersion: missioncontrol.dev/v1
kind: Agent
metadata: {{name: writer}}
spec:
  runtime:
    command: ["{python}", "agents-bin/writer.py"]
  replicas: 2
"""

TASK = """\
apiVersion: missioncontrol.dev/v1
kind: Task
metadata: {name: letter}
spec:
  title: letter
  kluster: main
  agent: {name: writer}
  paths: ["notes/**"]
"""


def test_a_signing_node_and_reconciler_leave_a_record_every_check_accepts(repo: Path, tmp_path: Path) -> None:
    signers = keys(tmp_path, "n1", "reconciler", "alice")
    declare_principals(repo, {"n1": ("node", signers["n1"]), "reconciler": ("reconciler", signers["reconciler"])})
    write(repo, "agents-bin/writer.py", AGENT_SCRIPT)
    write(repo, "missions/m/agents/writer.yaml", AGENT.format(python=sys.executable))
    write(repo, "missions/m/tasks/letter.yaml", TASK)
    mission = repo / "missions/m/mission.yaml"
    mission.write_text(mission.read_text() + "  audit: {requireSignedCustody: true}\n")
    (repo / "missions/m/tasks/hello.yaml").unlink()
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a letter, written by a signing node")
    secrets = tmp_path / "secrets.env"
    secrets.write_text("")
    service = Running(repo, "--signing-key", str(signers["reconciler"]))
    node = MeshNode(repo, secrets, "--signing-key", str(signers["n1"]))
    try:
        assert wait_for(lambda: phase(repo, "m/letter") == "Succeeded", timeout=40), node.log_path.read_text()
    finally:
        node.stop()
        service.stop()
    outputs = json.loads(git(repo, "show", "refs/mc/status:" + status_path("m/letter")))["outputs"]
    assert outputs["keyInEnv"] is False
    assert "the node refused to sign: it is a commit of task m/other" in outputs["refused"]
    [refused] = node.events("signing.refused")
    assert "m/other" in str(refused["reason"])
    assert "SHA256:" in str(node.events("start")[0]["signing"])
    assert "SHA256:" in str(service.events("start")[0]["signing"])

    verdict = mc("audit", "verify", "-C", str(repo))
    assert verdict.exit_code == 0, verdict.output
    assert verdict.stdout.strip().endswith("the record holds: 0 inconsistencies"), verdict.output  # no warning

    node_key, reconciler_key = {"n1": signers["n1"]}, {"reconciler": signers["reconciler"]}
    work = chain(repo, "refs/heads/mc/work/m/letter", stop="main")
    messages = [git(repo, "log", "-1", "--format=%B", c) for c in work]
    assert sum("MC-Kind: checkpoint" in m for m in messages) == 1  # the agent's own, through the oracle
    leases, effects = chain(repo, lease_ref("m/letter")), chain(repo, "refs/mc/effects/m/letter")
    assert effects  # the agent's own, through the oracle
    for commit in work + leases + effects:
        assert git_verifies(repo, commit, node_key), commit
        assert not git_verifies(repo, commit, reconciler_key)
    for commit in chain(repo, "refs/mc/status"):
        assert git_verifies(repo, commit, reconciler_key), commit
        assert not git_verifies(repo, commit, node_key)
