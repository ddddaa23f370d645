"""Benchmark `mc audit verify` on a repository of published, approved tasks.

Builds a throwaway repository of N tasks under a policy that needs one signed approval to
publish, runs each through claim, result, an SSH-signed approval (`git commit-tree -S`, the
key generated here) and publication by the reconciler. Claims and results are signed with a
node's key, passes and publications with a reconciler's (both declared in principals.yaml), and
the mission requires signed custody. Then times, in the same run:

- `mc audit verify` in-process (`reconciler.control.verify.verify`): the fencing of every
  result, the approvals behind every publication, signatures included, and the signature of
  every custody commit (lease, work, status, publication);
- its custody part alone (`reconciler.control.custody.check_custody`);
- the baseline: `git verify-commit` over the same N approval commits, one process each, with an
  allowed-signers file of the same key (signatures only, no policy, no fencing).

Usage: python benchmarks/bench_audit.py [--tasks N] [--quick]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pygit2

from reconciler.agentops.claim import claim
from reconciler.agentops.reports import complete
from reconciler.control.custody import check_custody
from reconciler.control.governed import Governance
from reconciler.control.reconcile import Reconciler
from reconciler.control.verify import _DesiredAt, _tasks, verify
from reconciler.gitstate import signing
from reconciler.gitstate.approvals import approvals_ref, record_approval, statement
from reconciler.gitstate.status import read_status
from reconciler.gitstate.store import Store
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.leases import LeaseHandle
from reconciler.vocabulary.phases import Phase
from reconciler.vocabulary.trailers import Trailer

BIN = Path(sys.executable).parent
PRINCIPALS = """\
apiVersion: missioncontrol.dev/v1
kind: Principals
metadata: {{name: principals}}
spec:
  principals:
    - name: alice
      kind: human
      sshKeys: ["{key}"]
    - name: node-a
      kind: node
      sshKeys: ["{node}"]
    - name: reconciler
      kind: reconciler
      sshKeys: ["{reconciler}"]
  groups:
    - name: officers
      members: [alice]
"""
POLICY = """\
apiVersion: missioncontrol.dev/v1
kind: Policy
metadata: {name: gate}
spec:
  version: 1
  state: active
  rules:
    - name: one-officer
      action: publish
      require: {approvals: 1, groups: [officers]}
"""
TASK = """\
apiVersion: missioncontrol.dev/v1
kind: Task
metadata: {{name: {name}}}
spec:
  title: {name}
  kluster: main
  agent: {{name: worker}}
  approval: {{policy: gate}}
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def keypair(root: Path, name: str) -> Path:
    key = root / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
    return key


def build(root: Path, n: int) -> tuple[Store, Path]:
    """A repository whose N tasks are all published with one signed approval each."""
    repo = root / "repo"
    subprocess.run([BIN / "mc", "init", str(repo), "--mission", "m", "-o", "json"], capture_output=True, check=True)
    key, node, reconciler_key = (keypair(root, name) for name in ("alice", "node-a", "reconciler"))
    public = {name: k.with_suffix(".pub").read_text().strip() for name, k in (("key", key), ("node", node))}
    public["reconciler"] = reconciler_key.with_suffix(".pub").read_text().strip()
    (repo / "principals.yaml").write_text(PRINCIPALS.format(**public))
    mission = repo / "missions/m/mission.yaml"
    mission.write_text(mission.read_text() + "  audit: {requireSignedCustody: true}\n")
    as_node, as_reconciler = signing.load_signer(node), signing.load_signer(reconciler_key)
    (repo / "missions/m/policies").mkdir(parents=True, exist_ok=True)
    (repo / "missions/m/policies/gate.yaml").write_text(POLICY)
    (repo / "missions/m/tasks/hello.yaml").unlink()
    agent = repo / "missions/m/agents/worker.yaml"
    agent.write_text(agent.read_text() + f"  replicas: {n}\n")
    for i in range(n):
        (repo / f"missions/m/tasks/t{i:05d}.yaml").write_text(TASK.format(name=f"t{i:05d}"))
    for setting in (("user.name", "alice"), ("user.email", "alice@example.com"), ("gpg.format", "ssh")):
        git(repo, "config", *setting)
    git(repo, "config", "user.signingkey", str(key.with_suffix(".pub")))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"{n} gated tasks")
    store = Store(pygit2.Repository(str(repo)))
    reconciler = Reconciler(store)
    signing.configure(as_reconciler)
    reconciler.run_once()
    now = time.time()
    signing.configure(as_node)
    for _ in range(n):
        got = claim(store, "worker", now, ttl=3600)
        complete(store, TaskKey(got.lease.key), LeaseHandle(got.lease.generation, got.secret), now)
    signing.configure(as_reconciler)
    reconciler.run_once()
    main = store.require_desired()
    for task_key, st in sorted(read_status(store).tasks.items()):
        trailers: dict[Trailer, object] = {
            Trailer.TASK: task_key,
            Trailer.ACTION: "publish",
            Trailer.APPROVES: st.result_commit,
            Trailer.POLICY: "gate@1",
            Trailer.DESIRED: main,
        }
        record_approval(
            store, approvals_ref(TaskKey(task_key)), statement(f"Approve publish of {task_key}", "", trailers)
        )
    reconciler.run_once()
    signing.configure(None)
    phases = {st.phase for st in read_status(store).tasks.values()}
    if phases != {Phase.SUCCEEDED}:
        raise SystemExit(f"setup failed: phases {sorted(phases)}")
    return store, key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1000, help="published tasks (default 1000)")
    parser.add_argument("--quick", action="store_true", help="100 tasks")
    args = parser.parse_args()
    n = 100 if args.quick else args.tasks
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        store, key = build(Path(tmp), n)
        setup = time.perf_counter() - began
        started = time.perf_counter()
        findings = verify(store)
        audit = time.perf_counter() - started
        if findings:
            raise SystemExit(f"verify found {len(findings)} inconsistencies in a clean repository: {findings[0]}")
        started = time.perf_counter()
        main_tip = store.require_desired()
        desired = _DesiredAt(store, Governance(store))(main_tip)
        custody_findings = check_custody(store, desired, main_tip, _tasks(store, None))
        custody = time.perf_counter() - started
        if custody_findings:
            raise SystemExit(f"custody: {custody_findings[0]}")
        allowed = Path(tmp) / "allowed_signers"
        allowed.write_text(f"alice {key.with_suffix('.pub').read_text().strip()}\n")
        approvals = [store.read(approvals_ref(TaskKey(k))) for k in sorted(read_status(store).tasks)]
        repo = Path(store.repo.workdir or store.repo.path)
        started = time.perf_counter()
        for commit in approvals:
            subprocess.run(
                ["git", "-C", str(repo), "-c", f"gpg.ssh.allowedSignersFile={allowed}", "verify-commit", str(commit)],
                capture_output=True,
                check=True,
            )
        baseline = time.perf_counter() - started
    print(f"{n} published tasks, one SSH-signed approval each (setup {setup:.1f} s)\n")
    print(f"{'measurement':<58}{'seconds':>9}{'per task ms':>13}")
    print(f"{'mc audit verify: fencing + approvals + signatures + custody':<58}{audit:>9.2f}{audit / n * 1000:>13.2f}")
    print(
        f"{'  of which custody signatures (lease, work, status, merges)':<58}{custody:>9.2f}{custody / n * 1000:>13.2f}"
    )
    print(
        f"{'baseline: git verify-commit per approval, 1 process each':<58}{baseline:>9.2f}{baseline / n * 1000:>13.2f}"
    )
    print(f"\nmc audit verify takes x{audit / baseline:.2f} the baseline's time")


if __name__ == "__main__":
    main()
