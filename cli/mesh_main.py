"""The `mc-mesh` node daemon command."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import typer

from cli.common import McGroup, branch_option, handle_errors, remote_option, repo_option, signing_key_option
from cli.store_opts import open_signing_store
from reconciler.vocabulary.errors import UsageError

app = typer.Typer(
    rich_markup_mode=None,
    cls=McGroup,
    name="mc-mesh",
    help="mc-mesh: the MissionControl node daemon that runs leased agents in worktrees.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def main() -> None:
    """mc-mesh: the MissionControl node daemon."""


def _labels(values: list[str]) -> dict[str, str]:
    out = {}
    for value in values:
        name, sep, label = value.partition("=")
        if not sep or not name:
            raise UsageError(f"--label takes KEY=VALUE, not {value!r}")
        out[name] = label
    return out


def _secrets(path: Path | None) -> dict[str, str]:
    """A node-local secrets file: `NAME=value` lines (never in Git)."""
    if path is None:
        return {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read --secrets {path}: {exc.strerror}") from None
    out = {}
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"{path}:{number}: expected NAME=value")
        out[name.strip()] = value
    return out


@app.command("run")
@handle_errors
def run(
    node: str = typer.Option(..., "--node", envvar="MC_NODE", help="This node's name (env MC_NODE)."),
    label: list[str] = typer.Option([], "--label", help="A label KEY=VALUE that agents' nodeSelector can match."),
    capacity: int = typer.Option(4, "--capacity", min=1, max=1000, help="How many agents may run at once."),
    secrets: Path | None = typer.Option(None, "--secrets", help="A node-local file of NAME=value secrets."),
    ttl: float = typer.Option(
        15.0, "--ttl", min=1.0, max=3600.0, help="Seconds a heartbeat vouches for (sent every third)."
    ),
    lease_ttl: float = typer.Option(30.0, "--lease-ttl", min=1.0, max=3600.0, help="Seconds a lease lasts on its own."),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
    branch: str | None = branch_option(),
    log_format: str = typer.Option("text", "--log-format", help="text, or json (one object per line)."),
    signing_key: str | None = signing_key_option(),
) -> None:
    """Run the agents this node is leased, until SIGINT or SIGTERM."""
    from mesh.node import Node, NodeConfig
    from reconciler.control.log import Log
    from reconciler.vocabulary.keys import check_name

    check_name("node", node)
    config = NodeConfig(node, _labels(label), capacity, _secrets(secrets), ttl=ttl, lease_ttl=lease_ttl)
    stop = threading.Event()
    store = open_signing_store(repo, remote, branch, signing_key)  # a key that cannot sign stops us here
    daemon = Node(store, config, Log(log_format))

    def wake_up() -> None:
        stop.set()
        daemon.wake.set()

    def halt(*_: object) -> None:
        # From another thread: an Event's lock may be held by the very code this handler interrupted.
        threading.Thread(target=wake_up, daemon=True).start()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, halt)
    daemon.run(stop)


@app.command()
def version() -> None:
    """Print the version."""
    from reconciler import __version__

    typer.echo(f"mc-mesh {__version__}")
