"""The `mc` command: one entry point, each subcommand in a module of its own."""

from __future__ import annotations

import typer

from cli import agent_cmd
from cli.approve_cmd import approve, policy_app
from cli.audit_cmd import audit_app
from cli.common import McGroup
from cli.effect_cmd import effect_app
from cli.get_cmd import describe, get
from cli.init_cmd import init
from cli.logs_cmd import logs
from cli.overlap_cmd import index_app, overlap_app
from cli.reconcile_cmd import reconcile, service_app
from cli.task_cmd import task_app
from cli.validate_cmd import validate
from reconciler import __version__

app = typer.Typer(
    rich_markup_mode=None,
    cls=McGroup,
    name="mc",
    help="MissionControl: a Git-native control plane for teams of AI agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mc {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """MissionControl: a Git-native control plane for teams of AI agents."""


app.command()(validate)
app.command()(init)
app.command()(get)
app.command()(describe)
app.command()(logs)
app.command()(reconcile)
app.add_typer(service_app, name="reconciler")
app.add_typer(effect_app, name="effect")
app.add_typer(policy_app, name="policy")
app.command()(approve)
app.add_typer(audit_app, name="audit")
app.add_typer(overlap_app, name="overlap")
app.add_typer(index_app, name="index")
app.add_typer(task_app, name="task")
for _command in (
    agent_cmd.claim,
    agent_cmd.heartbeat,
    agent_cmd.usage,
    agent_cmd.checkpoint,
    agent_cmd.complete,
    agent_cmd.fail,
    agent_cmd.release,
):
    app.command()(_command)
