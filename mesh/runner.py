"""Running one leased task: a worktree on its work branch, the agent's command with only the
environment it is granted, its output captured (secrets masked), and its whole process group
stopped when it must stop."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from reconciler.gitstate.signing import KEY_ENV, SOCKET_ENV
from reconciler.manifests.model import Agent, Task
from reconciler.vocabulary.keys import TaskKey

TAIL_BYTES = 2000


def log_path(root: Path, key: TaskKey, generation: int) -> Path:
    """Where the node keeps the output of one attempt: `.mc/mesh/logs/<mission>/<task>/<gen>.log`."""
    return root / "logs" / key.mission / key.name / f"{generation}.log"


@dataclass(slots=True)
class Launch:
    """Everything a run needs, decided by the node before it starts."""

    key: TaskKey
    generation: int
    secret: str
    agent: Agent
    task: Task
    worktree: Path
    home: Path
    log: Path
    inputs: dict[str, Any]
    node: str
    secrets: Mapping[str, str] = field(default_factory=dict)
    node_env: Mapping[str, str] = field(default_factory=dict)
    resume: bool = False  # restarted after a crash, on its last checkpoint: MC_RESUME=1
    remote: str | None = None  # the shared remote the node coordinates through: the agent's `mc` uses it too
    branch: str | None = None  # the desired-state branch the node reads: the agent's `mc` reads it too
    tools: Path | None = None  # a directory with the node's own `mc`, first on the agent's PATH
    on_exit: Callable[[], None] | None = None  # told when the agent has exited
    signing_socket: Path | None = None  # the node's signing oracle for this run (mesh.signing)


def tools_dir(where: Path) -> Path | None:
    """A directory holding only a link to the node's own `mc`, to put first on agents' PATH: an
    agent reports with the MissionControl that runs it, and gets nothing else of the node's
    environment (not its Python). None when this installation has no `mc` next to its Python."""
    mc = Path(sys.executable).parent / "mc"
    if not mc.exists():
        return None
    where.mkdir(parents=True, exist_ok=True)
    link = where / "mc"
    if not link.is_symlink() or os.readlink(link) != str(mc):
        link.unlink(missing_ok=True)
        link.symlink_to(mc)
    return where


def agent_environment(launch: Launch, inputs_file: Path, outputs_file: Path) -> dict[str, str]:
    """Only what the agent is granted: no variable of the node's leaks through unless named."""
    env = {
        "PATH": os.pathsep.join(
            [*([str(launch.tools)] if launch.tools else []), launch.node_env.get("PATH", os.defpath)]
        ),
        "HOME": str(launch.home),
        "LANG": "C.UTF-8",
        "MC_MISSION": launch.key.mission,
        "MC_TASK": launch.key.name,
        "MC_AGENT_ID": launch.agent.agent_id,
        "MC_NODE": launch.node,
        "MC_LEASE_GENERATION": str(launch.generation),
        "MC_LEASE_TOKEN": launch.secret,
        "MC_IDEMPOTENCY_KEY": f"{launch.key}",
        "MC_INPUTS": str(inputs_file),
        "MC_OUTPUTS": str(outputs_file),
    }
    if launch.resume:
        env["MC_RESUME"] = "1"
    if launch.remote is not None:
        env["MC_REMOTE"] = launch.remote
    if launch.branch is not None and launch.branch != "main":
        env["MC_BRANCH"] = launch.branch
    for name in launch.agent.permissions.env:
        if name in launch.node_env:
            env[name] = launch.node_env[name]
    env.update(launch.agent.env)
    for name in launch.agent.permissions.secrets:
        if name in launch.secrets:
            env[name] = launch.secrets[name]
    # The node's key never reaches an agent, whatever the manifest names: its commits are signed
    # through the node's oracle for this run only.
    for name in (KEY_ENV, SOCKET_ENV):
        env.pop(name, None)
    if launch.signing_socket is not None:
        env[SOCKET_ENV] = str(launch.signing_socket)
    return env


class Run:
    """One attempt of one task, as a process group the node supervises."""

    def __init__(self, launch: Launch) -> None:
        self.launch = launch
        self.started = time.time()
        wall = launch.agent.budget.wall_time_seconds
        self.deadline = self.started + wall if wall else None
        self.inputs_file = launch.home / "inputs.json"
        self.outputs_file = launch.home / "outputs.json"
        self.stop_reason = ""
        self.active_at = self.started  # the last sign of life: a line of output, or a report
        self.proc: subprocess.Popen[bytes] | None = None
        self._pump: threading.Thread | None = None

    def start(self) -> None:
        launch = self.launch
        launch.home.mkdir(parents=True, exist_ok=True)
        launch.log.parent.mkdir(parents=True, exist_ok=True)
        self.inputs_file.write_text(json.dumps(launch.inputs, indent=2) + "\n", encoding="utf-8")
        cwd = launch.worktree / (launch.agent.working_dir or "")
        self.proc = subprocess.Popen(
            list(launch.agent.command),
            cwd=cwd,
            env=agent_environment(launch, self.inputs_file, self.outputs_file),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopping it stops everything it started
        )
        log = launch.log.open("ab")
        self._pump = threading.Thread(target=self._copy, args=(self.proc.stdout, log), daemon=True)
        self._pump.start()

    def _copy(self, source: IO[bytes] | None, sink: IO[bytes]) -> None:
        """Copy the agent's output to its log line by line, secrets masked."""
        masks = [v.encode() for v in self.launch.secrets.values() if v]
        with sink:
            for raw in iter(source.readline, b"") if source is not None else ():
                line = raw
                for secret in masks:
                    line = line.replace(secret, b"***")
                self.active_at = time.time()
                sink.write(line)
                sink.flush()
        if self.launch.on_exit is not None and self.proc is not None:
            self.proc.wait()  # its output closed: it has exited, or is about to
            self.launch.on_exit()  # the node looks now, not at its next poll

    @property
    def pgid(self) -> int | None:
        """The run's process group (the agent leads it), once started."""
        return self.proc.pid if self.proc is not None else None

    def poll(self) -> int | None:
        assert self.proc is not None
        code = self.proc.poll()
        if code is not None and self._pump is not None:
            self._pump.join(timeout=5)
        return code

    def stop(self, reason: str, grace: float = 5.0) -> None:
        """SIGTERM to the whole group, then SIGKILL after `grace`; every process of it ends."""
        assert self.proc is not None
        self.stop_reason = self.stop_reason or reason
        pgid = self.proc.pid
        _signal_group(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=grace)
        _signal_group(pgid, signal.SIGKILL)  # also what the agent left behind in its group
        self.proc.wait()
        if self._pump is not None:
            self._pump.join(timeout=5)

    def outputs(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.outputs_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def tail(self) -> str:
        try:
            with self.launch.log.open("rb") as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - TAIL_BYTES))
                return f.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)
