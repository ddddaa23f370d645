"""`mc-mesh run`: a node daemon, the kubelet of MissionControl.

It registers `refs/mc/nodes/<node>` (labels, capacity, what it runs) and heartbeats there, and
that one heartbeat renews every lease it holds (`vocabulary.nodes`: its leases are vouched); it
claims Queued tasks for the agents whose `nodeSelector` its labels fit, while it has capacity,
and runs each in its own worktree of the task's work branch (`mesh.runner`); it stops a run
whose lease was revoked or whose wall time ran out, and reports each exit:
a result (outputs checked, paths checked) or a failure with the tail of its output. On SIGTERM
it stops its agents (SIGTERM, then SIGKILL after a grace period), releases their leases and
records that it stopped.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import pygit2

from mesh.adopt import record_runs, stop_orphans
from mesh.runner import Launch, Run, log_path, tools_dir
from mesh.signing import SigningOracle
from reconciler import __version__
from reconciler.agentops.claim import claim
from reconciler.agentops.reports import complete, end, heartbeat
from reconciler.control.log import Log
from reconciler.gitstate.effects import effects_ref
from reconciler.gitstate.leases import read_lease
from reconciler.gitstate.nodes import read_node, write_node
from reconciler.gitstate.refs import lease_ref, work_ref
from reconciler.gitstate.signing import configured
from reconciler.gitstate.status import StatusView, read_status
from reconciler.gitstate.store import Store
from reconciler.gitstate.work import add_worktree, remove_worktree, reset_worktree
from reconciler.manifests.desired import DesiredState, index
from reconciler.manifests.loader import GitSource, Snapshot, load
from reconciler.manifests.model import Agent, Task
from reconciler.vocabulary.errors import CorruptState, McError, NothingToClaim
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.leases import LeaseHandle, LeaseState
from reconciler.vocabulary.nodes import NodeEvent, NodeRecord
from reconciler.vocabulary.trailers import Trailer

NODE_TTL = 15.0  # a node whose heartbeat is older than this is unhealthy
LEASE_TTL = 30.0  # the leases a node takes last this long on their own, then as long as its heartbeat
POLL = 0.5
GRACE = 5.0  # seconds between SIGTERM and SIGKILL when an agent must stop
MAX_RESTARTS = 3  # restarts of a crashed agent within one attempt, before the attempt fails


@dataclass(slots=True)
class NodeConfig:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    capacity: int = 4
    secrets: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    ttl: float = NODE_TTL
    lease_ttl: float = LEASE_TTL
    grace: float = GRACE


@dataclass(slots=True)
class _Running:
    run: Run
    handle: LeaseHandle
    refs: tuple[str | None, ...] = ()  # the task's lease, work and effects tips: reports move them
    restarts: int = 0
    oracle: SigningOracle | None = None  # signs the agent's own commits with this node's key


class Node:
    def __init__(self, store: Store, config: NodeConfig, log: Log, clock: Callable[[], float] = time.time) -> None:
        self.store, self.config, self.log, self.clock = store, config, log, clock
        git_dir = Path(store.repo.path)
        self.root = (Path(store.repo.workdir) if store.repo.workdir else git_dir) / ".mc" / "mesh" / config.name
        self.runs: dict[TaskKey, _Running] = {}
        self.tools = tools_dir(self.root / "bin")  # the node's own `mc`, first on its agents' PATH
        self.snapshot: Snapshot | None = None
        self.state = DesiredState()
        self.tip: str | None = None
        self.desired_tip: str | None = None
        self.statuses: StatusView | None = None
        self.wake = threading.Event()  # set when an agent exits, or the node must stop: no waiting for POLL
        self.started = clock()
        self.heartbeat_at = 0.0

    # -- the node record -----------------------------------------------------------------
    def _record(self, event: NodeEvent) -> NodeRecord:
        now = self.clock()
        return NodeRecord(
            self.config.name,
            event,
            dict(self.config.labels),
            self.config.capacity,
            sorted(self.runs),
            __version__,
            self.started,
            now,
            self.config.ttl,
            os.getpid(),
        )

    def _write(self, event: NodeEvent) -> None:
        self.store.sync()
        tip, _ = read_node(self.store, self.config.name)
        self.tip = write_node(self.store, self._record(event), tip)
        self.heartbeat_at = self.clock()

    def heartbeat_if_due(self) -> None:
        if self.clock() >= self.heartbeat_at + self.config.ttl / 3:
            self._write(NodeEvent.HEARTBEAT)

    # -- desired state --------------------------------------------------------------------
    def refresh(self) -> None:
        """Read desired state again, if the branch moved since the last read."""
        tip = self.store.require_desired()
        if tip == self.desired_tip:
            return
        tree = self.store.repo[tip].peel(pygit2.Commit).tree
        self.snapshot = load(GitSource(self.store.repo, tree), previous=self.snapshot)
        self.state = index(self.snapshot.manifests())
        self.desired_tip = tip  # only once read: a failed read is tried again at the next loop

    def agents(self) -> list[Agent]:
        """The agents this node may run: those whose node selector its labels satisfy."""
        labels = self.config.labels
        return [
            a
            for ms in self.state.missions.values()
            for a in ms.agents.values()
            if all(labels.get(k) == v for k, v in a.node_selector.items()) and a.command
        ]

    # -- claiming and starting ------------------------------------------------------------
    def claim_some(self) -> None:
        progress = True
        while progress and len(self.runs) < self.config.capacity:
            progress = False
            for agent in self.agents():
                if len(self.runs) >= self.config.capacity:
                    return
                try:
                    got = claim(
                        self.store,
                        agent.agent_id,
                        self.clock(),
                        node=self.config.name,
                        ttl=self.config.lease_ttl,
                        vouched=True,  # renewed by this node's heartbeat, not one by one
                    )
                except NothingToClaim:
                    continue
                key = TaskKey(got.lease.key)
                handle = LeaseHandle(got.lease.generation, got.secret, agent.agent_id)
                try:
                    self.start(key, agent, handle)
                except McError as exc:
                    self.log("run.refused", level="error", task=key, error=str(exc))
                    end(self.store, key, handle, self.clock(), LeaseState.FAILED, f"node {self.config.name}: {exc}")
                    continue
                progress = True

    def _inputs(self, key: TaskKey) -> dict[str, object]:
        """What `MC_INPUTS` hands over: the task's own `inputs`, and for each task it `needs`, the
        validated outputs (`needs`) and the result commit they came with (`results`)."""
        task = self.state.missions[key.mission].tasks[key.name]
        self.statuses = read_status(self.store, previous=self.statuses)  # reparses only what changed
        statuses = self.statuses.tasks
        done = {n: statuses[k] for n in task.needs if (k := TaskKey.of(key.mission, n)) in statuses}
        return {
            "inputs": dict(task.inputs),
            "needs": {n: st.outputs or {} for n, st in done.items()},
            "results": {n: st.result_commit for n, st in done.items()},
        }

    def start(self, key: TaskKey, agent: Agent, handle: LeaseHandle) -> None:
        task = self.state.missions[key.mission].tasks.get(key.name)
        if task is None:
            raise McError(f"{key} is not in the desired state this node read")
        worktree = self.root / "worktrees" / key.mission / key.name
        add_worktree(self.store, key, worktree)
        home = self.root / "homes" / key.mission / f"{key.name}-{handle.generation}"
        oracle = self._oracle(key, handle, home)
        try:
            run = self._launch(key, agent, task, handle, worktree, home, oracle)
        except BaseException:
            if oracle is not None:
                oracle.close()
            raise
        self.runs[key] = _Running(run, handle, oracle=oracle)
        self._record_runs()  # on disk before anything else: a killed node's successor finds it
        heartbeat(self.store, key, handle, self.clock())  # records that the agent started
        self.log("run.started", task=key, generation=handle.generation, agent=agent.agent_id)

    def _oracle(self, key: TaskKey, handle: LeaseHandle, home: Path) -> SigningOracle | None:
        """The run's signing oracle, when this node signs: the agent's commits get the node's
        signature, never its key."""
        signer = configured()
        if signer is None:
            return None

        def refused(why: str) -> None:
            self.log("signing.refused", level="warn", task=key, generation=handle.generation, reason=why)

        return SigningOracle(signer, key, handle.generation, handle.secret, home, on_refusal=refused)

    def _launch(
        self,
        key: TaskKey,
        agent: Agent,
        task: Task,
        handle: LeaseHandle,
        worktree: Path,
        home: Path,
        oracle: SigningOracle | None,
    ) -> Run:
        launch = Launch(
            key=key,
            generation=handle.generation,
            secret=handle.secret,
            agent=agent,
            task=task,
            worktree=worktree,
            home=home,
            log=log_path(self.root, key, handle.generation),
            inputs=self._inputs(key),
            node=self.config.name,
            secrets=self.config.secrets,
            node_env=self.config.env,
            remote=self.store.remote,
            branch=self.store.branch,
            tools=self.tools,
            on_exit=self.wake.set,
            signing_socket=oracle.path if oracle is not None else None,
        )
        run = Run(launch)
        run.start()
        return run

    # -- supervision ------------------------------------------------------------------------
    def supervise(self) -> None:
        for key, running in list(self.runs.items()):
            run, now = running.run, self.clock()
            code = run.poll()
            if code is None:
                if run.deadline is not None and now >= run.deadline:
                    run.stop("wall time exceeded", self.config.grace)
                elif (lost := self._lost(key, running.handle)) is not None:
                    run.stop(lost, self.config.grace)
                elif self._stalled(key, running, now):
                    run.stop(
                        f"stalled: no output and no report for {run.launch.task.stall_seconds}s", self.config.grace
                    )
                code = run.poll()
            if code is not None and self._crashed(key, running, code) and running.restarts < MAX_RESTARTS:
                self.restart(key, running, code)
            elif code is not None:
                self.finish(key, running, code)

    def _crashed(self, key: TaskKey, running: _Running, code: int) -> bool:
        """Killed by a signal the node did not send (an OOM kill, a segfault): worth a restart."""
        return code < 0 and not running.run.stop_reason and self._lost(key, running.handle) is None

    def restart(self, key: TaskKey, running: _Running, code: int) -> None:
        """The same agent identity and lease, on the same branch, from its last checkpoint."""
        reset_worktree(running.run.launch.worktree)
        launch = replace(running.run.launch, resume=True)
        running.run = Run(launch)
        running.run.start()
        running.restarts += 1
        self._record_runs()
        self.log("run.restarted", level="warn", task=key, signal=-code, restarts=running.restarts)

    def _stalled(self, key: TaskKey, running: _Running, now: float) -> bool:
        """No output and no report (heartbeat, checkpoint, effect) for the task's stall timeout."""
        stall = running.run.launch.task.stall_seconds
        if stall is None:
            return False
        refs = tuple(self.store.read(r) for r in (lease_ref(key), work_ref(key), effects_ref(key)))
        if refs != running.refs:
            running.refs, running.run.active_at = refs, max(running.run.active_at, now)
        return now - running.run.active_at > stall

    def _lost(self, key: TaskKey, handle: LeaseHandle) -> str | None:
        """Why the run's lease is no longer its to act on (starting "lease"), or None while it is:
        revoked, expired, superseded, or ended by a report (an over-budget `mc usage` fails it)."""
        try:
            _, lease = read_lease(self.store, key)
        except CorruptState as exc:
            return f"lease unreadable: {exc}"
        if lease is None or lease.generation != handle.generation:
            return "lease superseded by another generation"
        if lease.state is not LeaseState.ACTIVE:
            return f"lease {lease.state}" + (f": {lease.reason}" if lease.reason else "")
        return None

    def _record_runs(self) -> None:
        record_runs(self.root, {key: r.run.pgid for key, r in self.runs.items() if r.run.pgid is not None})

    def adopt(self) -> None:
        """Clean up what a killed incarnation of this node left: its agents' process groups (their
        leases were vouched by a node that no longer exists) and its worktrees."""
        stopped = stop_orphans(self.root, self.config.grace)
        left = sorted(p for p in (self.root / "worktrees").glob("*/*") if p.is_dir())
        for path in left:
            remove_worktree(self.store, path)
        if stopped or left:
            self.log("adopted", level="warn", stopped=stopped, worktrees=[str(p) for p in left])

    def finish(self, key: TaskKey, running: _Running, code: int) -> None:
        run, handle, now = running.run, running.handle, self.clock()
        del self.runs[key]
        self._record_runs()
        if running.oracle is not None:
            running.oracle.close()  # the agent has exited: nothing more of it gets signed

        def fail(reason: str) -> str:
            end(self.store, key, handle, now, LeaseState.FAILED, reason)
            return f"failed: {reason.split(';', maxsplit=1)[0]}"

        try:
            if run.stop_reason.startswith("lease"):
                outcome = f"stopped: {run.stop_reason}"  # nothing to report: the lease is not ours
            elif run.stop_reason:
                outcome = fail(f"{run.stop_reason}; output ends: {run.tail()[-300:]}")
            elif code == 0:
                try:
                    facts = {
                        Trailer.NODE: self.config.name,
                        Trailer.EXIT_STATUS: code,
                        Trailer.DURATION: f"{now - run.started:.3f}",
                    }
                    complete(self.store, key, handle, now, run.outputs(), run.launch.worktree, facts)
                    outcome = "succeeded"
                except McError as exc:  # outputs refused, or paths outside the task's scope
                    outcome = fail(str(exc))
            else:
                outcome = fail(f"exit status {code}; output ends: {run.tail()[-300:]}")
        except McError as exc:
            outcome = f"not reported: {exc}"
        finally:
            remove_worktree(self.store, run.launch.worktree)
        self.log("run.finished", task=key, generation=handle.generation, outcome=outcome)

    # -- the loop ---------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop every agent, give its lease back, and record that this node stopped."""
        for key, running in list(self.runs.items()):
            running.run.stop("node stopping", self.config.grace)
            if running.oracle is not None:
                running.oracle.close()
            try:
                end(
                    self.store,
                    key,
                    running.handle,
                    self.clock(),
                    LeaseState.RELEASED,
                    f"node {self.config.name} stopped",
                )
            except McError as exc:
                self.log("release.failed", level="warn", task=key, error=str(exc))
            remove_worktree(self.store, running.run.launch.worktree)
            del self.runs[key]
            self._record_runs()
        self._write(NodeEvent.STOP)
        self.log("stop", node=self.config.name)

    def run(self, stop: threading.Event) -> None:
        self.store.require_desired()
        self.adopt()
        self._write(NodeEvent.REGISTER)
        signer = configured()
        self.log(
            "start",
            node=self.config.name,
            labels=self.config.labels,
            capacity=self.config.capacity,
            signing=signer.describe if signer is not None else "none: this node's commits are unsigned",
        )
        try:
            while not stop.is_set():
                self.wake.clear()  # before looking: an exit from now on wakes the next wait
                try:
                    self.heartbeat_if_due()
                    self.refresh()
                    self.supervise()
                    self.claim_some()
                except McError as exc:
                    self.log("loop.failed", level="error", error=str(exc), code=exc.code)
                self.wake.wait(POLL)
        finally:
            self.shutdown()
