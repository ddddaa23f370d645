"""Exactly-once side effects, tested as the classic double-refund incident happens: an agent
that issues a refund is SIGKILLed at random points, before or after the call, between the call
and its record, or after both; after recovery every refund appears exactly once and every task
succeeds. The fake refund service honours idempotency keys as a payment API does."""

from __future__ import annotations

import json
import random
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from reconciler.gitstate.status_files import status_path
from tests.conftest import MC, git, mc, write
from tests.mesh.test_node import MeshNode
from tests.running import Running, phase, wait_for

REFUNDER = """\
import json, os, pathlib, signal, subprocess, sys, time, urllib.request
spec = json.loads(pathlib.Path(os.environ["MC_INPUTS"]).read_text())["inputs"]
first = os.environ["MC_LEASE_GENERATION"] == "1"

def crash(point):
    if first and spec["crash"] == point:
        time.sleep(spec["delay"])
        os.kill(os.getpid(), signal.SIGKILL)

def mc(*args):
    out = subprocess.run([spec["mc"], "effect", *args, "-o", "json"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)

key = os.environ["MC_IDEMPOTENCY_KEY"] + ":refund"
crash("before-check")
seen = mc("check", key)
if seen["recorded"]:
    receipt = seen["entry"]["result"]
else:
    crash("before-call")
    request = urllib.request.Request(spec["service"], data=json.dumps({"amount": 100}).encode(),
                                     headers={"Idempotency-Key": key}, method="POST")
    receipt = json.loads(urllib.request.urlopen(request, timeout=10).read())
    crash("after-call")
    if first and spec["crash"] == "hang-after-call":
        time.sleep(300)  # the whole node is killed here
    mc("record", key, "--result", json.dumps(receipt))
crash("after-record")
pathlib.Path(os.environ["MC_OUTPUTS"]).write_text(json.dumps({"env": [], "receipt": receipt}))
"""

AGENT = """\
apiVersion: missioncontrol.dev/v1
kind: Agent
metadata: {{name: refunder}}
spec:
  runtime:
    command: ["{python}", "agents-bin/refund.py"]
  replicas: 25
  nodeSelector: {{matchLabels: {{pool: probes}}}}
"""

TASK = """\
apiVersion: missioncontrol.dev/v1
kind: Task
metadata: {{name: {name}}}
spec:
  title: refund {name}
  kluster: main
  agent: {{name: refunder}}
  paths: ["refunds/{name}/**"]
  inputs: {inputs}
  retries: {{maxAttempts: 3, backoff: {{initialSeconds: 0}}}}
"""

CRASHES = ["before-check", "before-call", "after-call", "after-record", "none"]


class RefundService(BaseHTTPRequestHandler):
    """A payment API: a repeated Idempotency-Key returns the first response and refunds nothing."""

    ledger: ClassVar[Path]
    lock: ClassVar[threading.Lock] = threading.Lock()
    receipts: ClassVar[dict[str, dict[str, object]]]

    def do_POST(self) -> None:
        key = self.headers["Idempotency-Key"]
        self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            if key not in self.receipts:
                with self.ledger.open("a") as f:
                    f.write(key + "\n")
                self.receipts[key] = {"refund": len(self.receipts) + 1, "key": key}
            body = json.dumps(self.receipts[key]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    ledger = tmp_path / "refunds.log"
    ledger.touch()
    handler = type("Handler", (RefundService,), {"ledger": ledger, "receipts": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/refund", ledger
    server.shutdown()


def declare(repo: Path, url: str, crashes: dict[str, tuple[str, float]]) -> None:
    write(repo, "agents-bin/refund.py", REFUNDER)
    write(repo, "missions/m/agents/refunder.yaml", AGENT.format(python=sys.executable))
    for name, (crash, delay) in crashes.items():
        inputs = {"service": url, "mc": MC, "crash": crash, "delay": delay}
        write(repo, f"missions/m/tasks/{name}.yaml", TASK.format(name=name, inputs=json.dumps(inputs)))
    (repo / "missions/m/tasks/hello.yaml").unlink(missing_ok=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "refunds")


def test_every_refund_happens_exactly_once_whatever_the_crash(
    repo: Path, tmp_path: Path, service: tuple[str, Path]
) -> None:
    url, ledger = service
    rng = random.Random(20261130)
    crashes = {f"r{i:02d}": (CRASHES[i % len(CRASHES)], rng.uniform(0, 0.05)) for i in range(20)}
    declare(repo, url, crashes)
    secrets = tmp_path / "secrets.env"
    secrets.write_text("")
    reconciler = Running(repo)
    node = MeshNode(repo, secrets, "--capacity", "6")
    try:
        assert wait_for(lambda: all(phase(repo, f"m/{n}") == "Succeeded" for n in crashes), timeout=120), [
            (n, phase(repo, f"m/{n}")) for n in crashes
        ]
    finally:
        node.stop()
        reconciler.stop()
    refunds = ledger.read_text().splitlines()
    assert sorted(refunds) == sorted(f"m/{n}:refund" for n in crashes)  # each exactly once
    for name, (crash, _) in crashes.items():
        st = json.loads(git(repo, "show", "refs/mc/status:" + status_path("m/" + name)))
        assert st["attempts"] == (1 if crash == "none" else 2), (name, crash, st["attempts"])
        effects = json.loads(git(repo, "show", f"refs/mc/effects/m/{name}:effects.json"))
        assert list(effects) == [f"m/{name}:refund"]
        assert st["outputs"]["receipt"]["key"] == f"m/{name}:refund"


def test_effect_commands_are_fenced_and_idempotent(repo: Path) -> None:
    assert mc("reconcile", "-C", str(repo)).exit_code == 0
    claimed = json.loads(mc("claim", "--agent", "worker", "-C", str(repo), "-o", "json").stdout)
    token, task = claimed["leaseToken"], claimed["task"]
    base = ["--task", task, "-g", "1", "-C", str(repo), "-o", "json"]
    assert json.loads(mc("effect", "check", "k1", "--lease-token", token, *base).stdout)["recorded"] is False
    first = json.loads(mc("effect", "record", "k1", "--result", '{"id": 7}', "--lease-token", token, *base).stdout)
    assert first["recordedNow"] is True
    again = json.loads(mc("effect", "record", "k1", "--result", '{"id": 8}', "--lease-token", token, *base).stdout)
    assert (again["recordedNow"], again["entry"]["result"]) == (False, {"id": 7})
    seen = json.loads(mc("effect", "check", "k1", "--lease-token", token, *base).stdout)
    assert seen["entry"]["result"] == {"id": 7}
    stolen = mc("effect", "record", "k2", "--lease-token", "guess", *base)
    assert stolen.exit_code == 1
    assert json.loads(stolen.stdout)["error"]["code"] == "not_holder"


def test_a_refund_survives_the_whole_node_being_killed_after_the_call(
    repo: Path, tmp_path: Path, service: tuple[str, Path]
) -> None:
    url, ledger = service
    declare(repo, url, {"big": ("hang-after-call", 0.0)})
    secrets = tmp_path / "secrets.env"
    secrets.write_text("")
    reconciler = Running(repo)
    node = MeshNode(repo, secrets, "--ttl", "3", "--lease-ttl", "2")
    again: MeshNode | None = None
    try:
        assert wait_for(lambda: ledger.read_text().splitlines() == ["m/big:refund"], timeout=30)
        node.proc.kill()  # the node dies between the refund and its record
        node.proc.wait()
        again = MeshNode(repo, secrets, "--ttl", "3", "--lease-ttl", "2")
        assert wait_for(lambda: phase(repo, "m/big") == "Succeeded", timeout=60), again.log_path.read_text()
    finally:
        node.stop()
        if again is not None:
            again.stop()
        reconciler.stop()
    assert ledger.read_text().splitlines() == ["m/big:refund"]  # once, although it was called twice
    effects = json.loads(git(repo, "show", "refs/mc/effects/m/big:effects.json"))
    assert effects["m/big:refund"]["generation"] == 2
