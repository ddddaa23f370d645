"""Benchmark what signing custody commits costs: per commit written, and per signature checked.

Writes the same small lease-like commit N times with `gitstate.commits.write_commit`:

- unsigned (no signer configured: what MissionControl did before custody signing);
- signed in process (an Ed25519 key, SSHSIG built and signed with `cryptography`);
- signed by `ssh-keygen -Y sign -n git` (one process per commit: the fallback for other key types);
- signed through a node's signing oracle (a unix socket round trip, as an agent's `mc` does).

Then checks N signatures in process (`gitstate.sshsig`) and with `ssh-keygen -Y verify` (what
`git verify-commit` runs). Usage: python benchmarks/bench_signing.py [--commits N]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pygit2

from mesh.signing import SigningOracle
from reconciler.gitstate import signing, sshsig
from reconciler.gitstate.commits import single_file_tree, write_commit
from reconciler.governance.signatures import ssh_signer
from reconciler.vocabulary.keys import TaskKey

MESSAGE = "lease m/t: renew generation {i}\n\nMC-Task: m/t\nMC-Generation: 1\nMC-Lease-State: active\n"


def per_commit(repo: pygit2.Repository, n: int, signer: signing.CommitSigner | None) -> tuple[float, list[str]]:
    signing.configure(signer)
    tree = single_file_tree(repo, "lease.json", b"{}")
    started = time.perf_counter()
    commits = [write_commit(repo, "worker-1234abcd", MESSAGE.format(i=i), tree, []) for i in range(n)]
    elapsed = time.perf_counter() - started
    signing.configure(None)
    return elapsed / n, commits


def per_check(repo: pygit2.Repository, commits: list[str], check: Callable[[bytes, bytes], bool]) -> float:
    started = time.perf_counter()
    for commit in commits:
        signature, signed = repo[commit].peel(pygit2.Commit).gpg_signature
        if not check(signature, signed):
            raise SystemExit(f"{commit} does not verify")
    return (time.perf_counter() - started) / len(commits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=500, help="commits per measurement (default 500)")
    n = parser.parse_args().commits
    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "node"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        public = key.with_suffix(".pub").read_text().strip()
        repo = pygit2.init_repository(str(Path(tmp) / "repo"), bare=True)
        in_process = signing.load_signer(key)
        keygen = signing.KeygenSigner(key, public)
        oracle = SigningOracle(in_process, TaskKey("m/t"), 1, "token", Path(tmp) / "run")
        try:
            rows = {
                "unsigned": per_commit(repo, n, None),
                "signed in process (Ed25519, SSHSIG)": per_commit(repo, n, in_process),
                "signed by ssh-keygen -Y sign, 1 process each": per_commit(repo, max(n // 5, 1), keygen),
                "signed through the node's oracle (unix socket)": per_commit(
                    repo, n, signing.OracleSigner(oracle.path, "token")
                ),
            }
        finally:
            oracle.close()
        signed = rows["signed in process (Ed25519, SSHSIG)"][1]
        blob = sshsig.public_blob(public)

        def in_process_check(signature: bytes, data: bytes) -> bool:
            parsed = sshsig.parse(signature)
            return parsed.public == blob and sshsig.verify_ed25519(parsed, data)

        checks = {
            "checked in process (gitstate/sshsig.py)": per_check(repo, signed, in_process_check),
            "checked by ssh-keygen (find-principals + verify)": per_check(
                repo,
                signed[: max(n // 5, 1)],
                lambda signature, data: ssh_signer(signature, data, {"node": [public]}).principal == "node",
            ),
        }
    print(f"{n} commits (ssh-keygen rows: {max(n // 5, 1)})\n")
    print(f"{'write_commit':<52}{'ms per commit':>14}")
    for name, (seconds, _) in rows.items():
        print(f"{name:<52}{seconds * 1000:>14.3f}")
    print(f"\n{'signature check':<52}{'ms per commit':>14}")
    for name, seconds in checks.items():
        print(f"{name:<52}{seconds * 1000:>14.3f}")


if __name__ == "__main__":
    main()
