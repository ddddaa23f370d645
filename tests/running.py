"""A reconciler service as a real process, whose JSON log can be read while it runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from reconciler.gitstate.status_files import status_path
from tests.conftest import MC, env, git


class Running:
    """`mc reconciler run --log-format json` in `repo`, its log in a file beside the repository."""

    def __init__(self, repo: Path, *extra: str, failpoint: str = "", log: Path | None = None) -> None:
        self.log_path = log or repo.parent / f"service-{time.monotonic_ns()}.log"
        self.log_file = self.log_path.open("w")
        extra_env = {"MC_FAILPOINT": failpoint} if failpoint else {}
        self.proc = subprocess.Popen(
            [MC, "reconciler", "run", "--log-format", "json", "-C", str(repo), *extra],
            stdout=subprocess.DEVNULL,
            stderr=self.log_file,
            text=True,
            env=env(**extra_env),
        )

    def logs(self) -> list[dict[str, object]]:
        lines = self.log_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{") and line.endswith("}")]

    def events(self, name: str) -> list[dict[str, object]]:
        return [e for e in self.logs() if e["event"] == name]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def cpu_seconds(self) -> float:
        """User plus system CPU time the process has used so far (from /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.alive():
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            if self.alive():
                self.proc.kill()
                self.proc.wait()
            self.log_file.close()
        return code


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def phase(repo: Path, key: str) -> str | None:
    """The task's phase in refs/mc/status, or None if it has none (yet)."""
    try:
        data = json.loads(git(repo, "show", f"refs/mc/status:{status_path(key)}"))
    except AssertionError:
        return None
    return str(data["phase"])
