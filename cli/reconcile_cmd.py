"""`mc reconcile` (one pass) and `mc reconciler run` (the service)."""

from __future__ import annotations

import signal
import threading
from enum import StrEnum

import typer

from cli.common import branch_option, handle_errors, output_option, remote_option, repo_option, signing_key_option
from cli.output import Output, emit, out
from cli.store_opts import open_signing_store
from reconciler.vocabulary.errors import McError


class LogFormat(StrEnum):
    text = "text"
    json = "json"


@handle_errors
def reconcile(
    once: bool = typer.Option(True, "--once", help="Run one pass and exit (the service is `mc reconciler run`)."),
    output: Output = output_option(),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
    branch: str | None = branch_option(),
    signing_key: str | None = signing_key_option(),
) -> None:
    """Run one reconcile pass: read desired and observed state, decide, write to Git."""
    from reconciler.control.reconcile import Reconciler

    result = Reconciler(open_signing_store(repo, remote, branch, signing_key)).run_once()
    data = {
        "transitions": [str(t) for t in result.transitions],
        "statusCommit": result.status_commit,
        "leasesWritten": result.leases_written,
        "conflicts": result.conflicts,
        "seconds": round(result.seconds, 4),
    }
    if result.gave_up:
        raise McError(
            f"pass gave up after {result.conflicts} lost compare-and-swaps (refs kept moving); nothing was written, run it again"
        )
    if output is not Output.table:
        emit(data, output)
        return
    for t in result.transitions:
        out.print(str(t), markup=False)
    out.print(
        f"{len(result.transitions)} transition(s) in {result.seconds * 1000:.1f} ms"
        + (f", status {result.status_commit[:12]}" if result.status_commit else ", nothing to write"),
        markup=False,
    )


service_app = typer.Typer(rich_markup_mode=None, help="The long-running reconciler service.", no_args_is_help=True)


@service_app.command("run")
@handle_errors
def run(
    log_format: LogFormat = typer.Option(LogFormat.text, "--log-format", help="text, or json (one object per line)."),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
    branch: str | None = branch_option(),
    leader_ttl: float = typer.Option(15.0, "--leader-ttl", min=1.0, help="Seconds before a silent leader is replaced."),
    signing_key: str | None = signing_key_option(),
) -> None:
    """Reconcile until SIGINT or SIGTERM: on every ref change and every deadline. One leader per repository."""
    from reconciler.control.log import Log
    from reconciler.control.service import Service

    store = open_signing_store(repo, remote, branch, signing_key)  # a key that cannot sign stops us here
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    Service(store, Log(log_format), leader_ttl=leader_ttl).run(stop)
