"""`mc effect check KEY` and `mc effect record KEY`: the side-effect ledger, for agents. The typer
commands are built from their declarations (cli/agent_params.py); what they do is cli/effect_run.py."""

from __future__ import annotations

import typer

from cli.agent_params import EFFECT_CHECK, EFFECT_RECORD
from cli.common import typer_command

effect_app = typer.Typer(
    rich_markup_mode=None, help="The side-effect ledger: check and record idempotency keys.", no_args_is_help=True
)
effect_app.command("check")(typer_command(EFFECT_CHECK))
effect_app.command("record")(typer_command(EFFECT_RECORD))
