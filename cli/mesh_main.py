"""The `mc-mesh` node daemon command (the runtime arrives with the mesh issue)."""

from __future__ import annotations

import typer

from cli.common import McGroup

app = typer.Typer(
    cls=McGroup,
    name="mc-mesh",
    help="mc-mesh: the MissionControl node daemon that runs agents in worktrees (not implemented yet).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def main() -> None:
    """mc-mesh: the MissionControl node daemon (not implemented yet)."""


@app.command()
def version() -> None:
    """Print the version."""
    from reconciler import __version__

    typer.echo(f"mc-mesh {__version__}")
