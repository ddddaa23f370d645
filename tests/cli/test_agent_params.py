"""The agent commands' tables: each names an implementation that takes exactly its parameters,
the typer commands `mc` registers are the ones built from them, and the fast path takes only
agent commands, never a request for help."""

from __future__ import annotations

import inspect

import pytest
import typer

from cli.agent_params import AGENT_COMMANDS, agent_command
from cli.main import app
from cli.params import Command


@pytest.mark.parametrize("command", AGENT_COMMANDS, ids=[c.name for c in AGENT_COMMANDS])
def test_each_implementation_takes_exactly_the_declared_parameters(command: Command) -> None:
    signature = inspect.signature(command.implementation())
    assert list(signature.parameters) == [p.name for p in command.params]
    assert len({p.name for p in command.params}) == len(command.params)
    decls = [d for p in command.params for d in p.decls]
    assert len(set(decls)) == len(decls), "an option name used twice"
    assert all(d.startswith("--") or (len(d) == 2 and d[0] == "-") for d in decls)


@pytest.mark.parametrize("command", AGENT_COMMANDS, ids=[c.name for c in AGENT_COMMANDS])
def test_mc_registers_the_typer_command_built_from_the_table(command: Command) -> None:
    group = typer.main.get_command(app)
    ctx = typer.Context(group)
    found = group
    for word in command.path:
        assert isinstance(found, typer.core.TyperGroup)
        found = found.get_command(ctx, word)  # type: ignore[assignment]
        assert found is not None, command.path
    names = [p.name for p in found.params if p.name != "help"]
    assert names == [p.name for p in command.params]
    options = {o for p in found.params for o in p.opts if p.name != "help"}
    assert options == {d for p in command.params for d in p.decls} | {p.name for p in command.params if p.is_argument}
    assert found.help is not None
    assert found.help == command.help


def test_the_fast_path_takes_agent_commands_only_and_never_help() -> None:
    assert agent_command(["heartbeat", "m/t", "-g", "1"]) is not None
    assert agent_command(["effect", "check", "k"]) is not None
    for args in (
        [],
        ["get", "tasks"],
        ["effect"],
        ["effect", "list"],
        ["--version"],
        ["-C", ".", "claim"],
        ["claim", "--help"],
        ["claim", "-h"],
        ["heartbeat", "m/t", "--agent", "--help"],
        ["effect", "check", "-h"],
        ["Claim"],
    ):
        assert agent_command(args) is None, args
