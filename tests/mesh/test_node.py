"""`mc-mesh run` as a real process: it claims what its agents may run, runs each in a worktree
with only the environment it is granted, reports results and failures, and leaves no process
and no worktree behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.gitstate.refs import lease_ref
from reconciler.gitstate.status_files import status_path
from tests.conftest import MC, env, git, mc, write
from tests.running import Running, phase, wait_for

MC_MESH = str(Path(MC).parent / "mc-mesh")

PROBE = """\
import json, os, pathlib, signal, subprocess, sys, time
spec = json.loads(pathlib.Path(os.environ["MC_INPUTS"]).read_text())["inputs"]
mode = spec.get("mode", "ok")
print("the secret is", os.environ.get("API_KEY", "-"), flush=True)
if mode in ("sleep", "spawn"):
    if mode == "spawn":
        subprocess.Popen(["sh", "-c", "sleep 300; : " + spec["marker"]])  # a grandchild, marked
    time.sleep(300)
if mode == "crash-once":  # crashes after a checkpoint; resumed, it must find exactly that
    here = pathlib.Path("notes", os.environ["MC_TASK"])
    if os.environ.get("MC_RESUME") != "1":
        here.mkdir(parents=True, exist_ok=True)
        (here / "progress.txt").write_text("step 1")
        task = os.environ["MC_MISSION"] + "/" + os.environ["MC_TASK"]
        subprocess.run([spec["mc"], "checkpoint", task, "--message", "step 1", "--worktree", "."], check=True)
        (here / "scratch.txt").write_text("never checkpointed")
        os.kill(os.getpid(), signal.SIGKILL)
    assert (here / "progress.txt").read_text() == "step 1"
    assert not (here / "scratch.txt").exists()
if mode == "spend":  # reports each step's spend; over the budget, `mc usage` exits 4
    task = os.environ["MC_MISSION"] + "/" + os.environ["MC_TASK"]
    for tokens in spec["steps"]:
        step = [spec["mc"], "usage", task, "--tokens", str(tokens), "--cost", str(tokens / 100000)]
        if subprocess.run(step).returncode == 4:
            subprocess.Popen(["sh", "-c", "sleep 300; : " + spec["marker"]])  # keeps going regardless
            time.sleep(300)
if mode == "fail":
    print("something broke", file=sys.stderr)
    sys.exit(3)
if mode == "outside":
    pathlib.Path("elsewhere.txt").write_text("not mine")
done = pathlib.Path("notes", os.environ["MC_TASK"], "done.txt")
done.parent.mkdir(parents=True, exist_ok=True)
done.write_text(mode)
outputs = {"env": sorted(os.environ), "home": os.environ["HOME"], "cwd": os.getcwd()}
if mode == "badout":
    outputs = {"wrong": True}
pathlib.Path(os.environ["MC_OUTPUTS"]).write_text(json.dumps(outputs))
"""

AGENT = """\
apiVersion: missioncontrol.dev/v1
kind: Agent
metadata: {{name: prober}}
spec:
  runtime:
    command: ["{python}", "agents-bin/probe.py"]
    env: {{FIXED: "from-the-manifest"}}
  permissions:
    env: [GRANTED]
    secrets: [API_KEY]
  budget: {{wallTimeSeconds: {wall}, tokens: 20000}}
  replicas: 4
  nodeSelector: {{matchLabels: {{pool: probes}}}}
"""

TASK = """\
apiVersion: missioncontrol.dev/v1
kind: Task
metadata: {{name: {name}}}
spec:
  title: {name}
  kluster: main
  agent: {{name: prober}}
  paths: ["notes/{name}/**"]
  inputs: {inputs}
  retries: {{maxAttempts: {attempts}, backoff: {{initialSeconds: 0}}}}
{extra}
  outputs:
    schema: {{type: object, required: [env], properties: {{env: {{type: array}}}}}}
"""


def declare(
    repo: Path, tasks: dict[str, dict[str, object]], wall: int = 60, attempts: int = 1, extra: str = ""
) -> None:
    write(repo, "agents-bin/probe.py", PROBE)
    # the interpreter itself, not a shim that adds variables of its own (pyenv's does)
    write(repo, "missions/m/agents/prober.yaml", AGENT.format(wall=wall, python=sys.executable))
    for name, inputs in tasks.items():
        write(
            repo,
            f"missions/m/tasks/{name}.yaml",
            TASK.format(name=name, inputs=json.dumps(inputs), attempts=attempts, extra=extra),
        )
    (repo / "missions/m/tasks/hello.yaml").unlink(missing_ok=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "probes")


class MeshNode:
    def __init__(self, repo: Path, secrets: Path, *extra: str) -> None:
        self.log_path = repo.parent / f"node-{time.monotonic_ns()}.log"
        self.log_file = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [
                MC_MESH,
                "run",
                *([] if "--node" in extra else ["--node", "n1"]),
                "--label",
                "pool=probes",
                "--secrets",
                str(secrets),
                "--log-format",
                "json",
                "-C",
                str(repo),
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.log_file,
            env=env(GRANTED="yes", WITHHELD="no"),
        )

    def events(self, name: str) -> list[dict[str, object]]:
        lines = self.log_path.read_text().splitlines()
        return [e for e in (json.loads(x) for x in lines if x.startswith("{")) if e["event"] == name]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.log_file.close()


def processes_with(marker: str) -> list[int]:
    """Every live process whose command line mentions `marker`, read from /proc."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    out.append(int(entry.name))
            except OSError:
                continue
    return [pid for pid in out if pid != os.getpid()]


@pytest.fixture
def cluster(repo: Path, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    secrets = tmp_path / "secrets.env"
    secrets.write_text("API_KEY=s3cr3t-value\n")
    service = Running(repo)
    yield repo, secrets
    service.stop()


def status_of(repo: Path, name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(git(repo, "show", "refs/mc/status:" + status_path("m/" + name)))
    return data


def test_a_node_runs_a_task_with_only_its_granted_environment(cluster: tuple[Path, Path]) -> None:
    repo, secrets = cluster
    declare(repo, {"probe": {"mode": "ok"}})
    node = MeshNode(repo, secrets)
    try:
        assert wait_for(lambda: phase(repo, "m/probe") == "Succeeded", timeout=30), node.log_path.read_text()
        nodes = json.loads(mc("get", "nodes", "-C", str(repo), "-o", "json").stdout)
        assert [(n["node"], n["health"], n["labels"]) for n in nodes] == [("n1", "healthy", {"pool": "probes"})]
    finally:
        assert node.stop() == 0
    outputs = status_of(repo, "probe")["outputs"]
    assert isinstance(outputs, dict)
    granted = {"PATH", "HOME", "LANG", "GRANTED", "FIXED", "API_KEY"}
    contract = {
        f"MC_{n}"
        for n in (
            "MISSION",
            "TASK",
            "AGENT_ID",
            "NODE",
            "LEASE_GENERATION",
            "LEASE_TOKEN",
            "IDEMPOTENCY_KEY",
            "INPUTS",
            "OUTPUTS",
        )
    }
    assert set(outputs["env"]) - {"PWD", "SHLVL", "_"} == granted | contract  # WITHHELD never reached it
    assert ".mc/mesh/n1/homes/" in str(outputs["home"])
    result = git(repo, "log", "-1", "--format=%B", "refs/heads/mc/work/m/probe")
    assert "MC-Kind: result" in result
    assert "MC-Node: n1" in result
    assert "MC-Exit-Status: 0" in result
    assert "MC-Duration: " in result
    assert git(repo, "show", "refs/heads/mc/work/m/probe:notes/probe/done.txt") == "ok"
    logged = mc("logs", "m/probe", "-C", str(repo))
    assert logged.exit_code == 0
    assert "the secret is ***" in logged.stdout
    assert "s3cr3t-value" not in logged.stdout
    as_json = mc("logs", "probe", "-C", str(repo), "-o", "json")  # a bare name, unique in the status
    assert as_json.exit_code == 0, as_json.output
    assert (json.loads(as_json.stdout)["attempt"], json.loads(as_json.stdout)["task"]) == (1, "m/probe")
    assert "the secret is ***" in json.loads(as_json.stdout)["log"]
    assert len(git(repo, "worktree", "list").splitlines()) == 1  # its worktree is gone
    assert json.loads(git(repo, "show", "refs/mc/nodes/n1:node.json"))["event"] == "stop"


def test_failures_are_reported_with_their_reason(cluster: tuple[Path, Path]) -> None:
    repo, secrets = cluster
    declare(repo, {"crash": {"mode": "fail"}, "badout": {"mode": "badout"}, "outside": {"mode": "outside"}})
    node = MeshNode(repo, secrets)
    try:
        assert wait_for(
            lambda: all(phase(repo, f"m/{n}") == "Failed" for n in ("crash", "badout", "outside")), timeout=40
        ), node.log_path.read_text()
    finally:
        node.stop()
    reasons = {n: str(status_of(repo, n)["message"]) for n in ("crash", "badout", "outside")}
    assert "exit status 3" in reasons["crash"]
    assert "something broke" in reasons["crash"]
    assert "outputs refused" in reasons["badout"]
    assert "outside the task's paths" in reasons["outside"]
    assert "elsewhere.txt" in reasons["outside"]


def test_wall_time_stops_the_whole_process_group(cluster: tuple[Path, Path]) -> None:
    repo, secrets = cluster
    marker = f"marker-{uuid.uuid4().hex}"
    declare(repo, {"slow": {"mode": "spawn", "marker": marker}}, wall=2)
    node = MeshNode(repo, secrets)
    try:
        assert wait_for(lambda: bool(processes_with(marker)), timeout=20)
        assert wait_for(lambda: phase(repo, "m/slow") == "Failed", timeout=30), node.log_path.read_text()
        assert "wall time exceeded" in str(status_of(repo, "slow")["message"])
        assert wait_for(lambda: not processes_with(marker), timeout=10), processes_with(marker)
    finally:
        node.stop()


def test_sigterm_stops_agents_releases_leases_and_leaves_nothing(cluster: tuple[Path, Path]) -> None:
    repo, secrets = cluster
    marker = f"marker-{uuid.uuid4().hex}"
    declare(repo, {"long": {"mode": "spawn", "marker": marker}})
    node = MeshNode(repo, secrets)
    assert wait_for(lambda: bool(processes_with(marker)), timeout=20)
    assert node.stop() == 0
    assert not processes_with(marker)
    lease = json.loads(git(repo, "show", lease_ref("m/long") + ":lease.json"))
    assert (lease["state"], lease["node"]) == ("released", "n1")
    assert len(git(repo, "worktree", "list").splitlines()) == 1
    assert wait_for(lambda: phase(repo, "m/long") == "Queued")  # given back, to run elsewhere


def test_one_node_heartbeat_renews_every_lease_and_a_lapsed_node_loses_them(cluster: tuple[Path, Path]) -> None:
    repo, secrets = cluster
    marker = f"marker-{uuid.uuid4().hex}"
    names = ("one", "two", "three")
    declare(repo, {n: {"mode": "sleep", "marker": marker} for n in names}, attempts=2)
    first = MeshNode(repo, secrets, "--ttl", "3", "--lease-ttl", "2")
    second: MeshNode | None = None
    try:
        assert wait_for(lambda: all(phase(repo, f"m/{n}") == "Running" for n in names), timeout=20)
        leases = [git(repo, "rev-parse", lease_ref(f"m/{n}")) for n in names]
        node_tip = git(repo, "rev-parse", "refs/mc/nodes/n1")
        time.sleep(4)  # twice a lease's own TTL: only the node's heartbeat keeps them alive
        assert [git(repo, "rev-parse", lease_ref(f"m/{n}")) for n in names] == leases  # not one write each
        assert git(repo, "rev-parse", "refs/mc/nodes/n1") != node_tip  # one heartbeat for all
        assert all(phase(repo, f"m/{n}") == "Running" for n in names)
        assert int(git(repo, "rev-list", "--count", "refs/mc/nodes/n1")) == 2  # heartbeats replace each other

        first.proc.kill()  # the node dies; its heartbeat lapses
        for pid in processes_with(marker):  # (adopting what a killed node left is not built yet)
            os.kill(pid, signal.SIGKILL)
        second = MeshNode(repo, secrets, "--node", "n2")
        assert wait_for(
            lambda: all(
                json.loads(git(repo, "show", lease_ref(f"m/{n}") + ":lease.json"))["node"] == "n2" for n in names
            ),
            timeout=30,
        ), second.log_path.read_text()
        for n in names:
            lease = json.loads(git(repo, "show", lease_ref(f"m/{n}") + ":lease.json"))
            assert lease["generation"] == 2
    finally:
        first.stop()
        if second is not None:
            second.stop()
        for pid in processes_with(marker):
            os.kill(pid, signal.SIGKILL)


def test_a_node_killed_and_started_again_cleans_up_what_it_left(cluster: tuple[Path, Path]) -> None:
    repo, secrets = cluster
    marker = f"marker-{uuid.uuid4().hex}"
    declare(repo, {"long": {"mode": "spawn", "marker": marker}}, attempts=2)
    first = MeshNode(repo, secrets, "--lease-ttl", "2", "--ttl", "3")
    again: MeshNode | None = None
    try:
        assert wait_for(lambda: bool(processes_with(marker)), timeout=20)  # the agent's marked child
        first.proc.kill()
        first.proc.wait()
        orphans = processes_with(marker)
        assert orphans  # SIGKILL to the node leaves its agents running...
        again = MeshNode(repo, secrets, "--lease-ttl", "2", "--ttl", "3")
        assert wait_for(lambda: not set(orphans) & set(processes_with(marker)), timeout=15)  # ...until it is back
        assert wait_for(lambda: bool(again.events("adopted")), timeout=10)
        # its lease was vouched by the dead incarnation: it expires, and the task runs again (once)
        assert wait_for(
            lambda: json.loads(git(repo, "show", lease_ref("m/long") + ":lease.json"))["generation"] == 2, timeout=30
        )
        assert len(processes_with(marker)) <= 1  # one attempt runs, never two
        worktrees = git(repo, "worktree", "list").splitlines()
        assert len(worktrees) == 2  # the main one and the new attempt's, not the dead one's as well
    finally:
        first.stop()
        if again is not None:
            again.stop()
        for pid in processes_with(marker):
            os.kill(pid, signal.SIGKILL)


def test_a_silent_agent_is_stopped_as_stuck_after_its_stall_timeout(cluster: tuple[Path, Path]) -> None:
    repo, secrets = cluster
    marker = f"marker-{uuid.uuid4().hex}"
    declare(repo, {"quiet": {"mode": "spawn", "marker": marker}}, extra="  stallSeconds: 2")
    node = MeshNode(repo, secrets)
    try:
        assert wait_for(lambda: bool(processes_with(marker)), timeout=20)
        assert wait_for(lambda: phase(repo, "m/quiet") == "Failed", timeout=30), node.log_path.read_text()
        assert "stalled: no output and no report for 2s" in str(status_of(repo, "quiet")["message"])
        assert wait_for(lambda: not processes_with(marker), timeout=10)
    finally:
        node.stop()


def test_spend_is_recorded_and_an_agent_over_its_budget_is_stopped(cluster: tuple[Path, Path]) -> None:
    repo, secrets = cluster
    marker = f"marker-{uuid.uuid4().hex}"
    thrifty: dict[str, object] = {"mode": "spend", "mc": MC, "steps": [100, 200], "marker": marker}
    spender: dict[str, object] = {"mode": "spend", "mc": MC, "steps": [15000, 15000, 1], "marker": marker}
    declare(repo, {"thrifty": thrifty, "spender": spender}, attempts=2)
    node = MeshNode(repo, secrets)
    try:
        assert wait_for(lambda: phase(repo, "m/thrifty") == "Succeeded", timeout=40), node.log_path.read_text()
        assert wait_for(lambda: phase(repo, "m/spender") == "Failed", timeout=60), node.log_path.read_text()
        assert wait_for(lambda: not processes_with(marker), timeout=10), processes_with(marker)
        assert wait_for(lambda: len([e for e in node.events("run.finished") if e["task"] == "m/spender"]) == 2)
    finally:
        node.stop()
    assert status_of(repo, "thrifty")["spend"] == {"tokens": 300, "cost_usd": 0.003}
    result = git(repo, "log", "-1", "--format=%B", "refs/heads/mc/work/m/thrifty")
    assert "MC-Spend: tokens=300 cost_usd=0.003000" in result
    spent = status_of(repo, "spender")
    assert "over budget: 30,000 tokens > 20,000" in str(spent["message"])
    assert spent["spend"] == {"tokens": 60000, "cost_usd": 0.6}  # both attempts, each stopped at its 2nd step
    stopped = [e for e in node.events("run.finished") if e["task"] == "m/spender"]
    assert [e["outcome"] for e in stopped] == ["stopped: lease failed: over budget: 30,000 tokens > 20,000"] * 2


def test_a_crashed_agent_is_restarted_on_its_last_checkpoint_with_mc_resume(cluster: tuple[Path, Path]) -> None:
    repo, secrets = cluster
    declare(repo, {"phoenix": {"mode": "crash-once", "mc": MC}})
    node = MeshNode(repo, secrets)
    try:
        assert wait_for(lambda: phase(repo, "m/phoenix") == "Succeeded", timeout=40), node.log_path.read_text()
        assert node.events("run.restarted")
    finally:
        node.stop()
    st = status_of(repo, "phoenix")
    assert (st["attempts"], st["generation"]) == (1, 1)  # the same attempt, the same lease
    outputs = st["outputs"]
    assert isinstance(outputs, dict)
    assert "MC_RESUME" in outputs["env"]
    log = git(repo, "log", "--format=%s", "refs/heads/mc/work/m/phoenix").splitlines()
    assert log[:2] == ["Result of m/phoenix", "step 1"]
