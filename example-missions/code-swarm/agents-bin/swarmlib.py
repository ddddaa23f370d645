"""Shared helpers for the code-swarm agents (not an agent itself).

Runtime contract, as every agent script of this example relies on it:

    MC_MISSION           the mission name ("code-swarm")
    MC_TASK              the task being run (the coder, which serves three tasks, dispatches on it)
    MC_AGENT_ID          the agent's stable identity, e.g. "coder-1a2b3c4d"
    MC_LEASE_GENERATION  the fencing token of the lease the run holds
    MC_INPUTS            the task's inputs: a JSON file (as a mesh node writes it: {"inputs": ...,
                         "needs": ...}) or a JSON object string; absent means {}
    MC_OUTPUTS           the file the agent writes its JSON result to; default mc-outputs.json in the cwd

The working directory is the root of the mission repository (the task's worktree); every file an
agent writes is inside its task's path scope. Python standard library only; no model, no network;
same input, same output.
"""

from __future__ import annotations

import ast
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

SRC = Path("src")
INTERFACE = SRC / "payments" / "interface.py"
PROTOCOL = "PaymentProvider"
PROVIDERS = ("card", "bank", "wallet")


class InputError(Exception):
    """Bad input: the agent exits non-zero with this message."""


def task() -> str:
    return os.environ.get("MC_TASK", "")


def inputs() -> dict[str, Any]:
    raw = os.environ.get("MC_INPUTS", "").strip()
    if not raw:
        return {}
    if not raw.startswith("{") and os.path.isfile(raw):  # a mesh node hands over a file
        with open(raw, encoding="utf-8") as f:
            raw = f.read()
    try:
        value = json.loads(raw)
        if isinstance(value, dict) and set(value) <= {"inputs", "needs"} and "inputs" in value:
            value = value["inputs"]
    except json.JSONDecodeError as exc:
        raise InputError(f"MC_INPUTS is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InputError("MC_INPUTS must be a JSON object")
    return value


def currencies(value: Any, what: str = "currencies") -> list[str]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(c, str) and len(c) == 3 and c.isalpha() and c.isupper() for c in value)
    ):
        raise InputError(f"{what} must be a non-empty list of three-letter codes such as 'EUR', got {value!r}")
    return list(dict.fromkeys(value))


def write_outputs(result: dict[str, Any]) -> Path:
    target = Path(os.environ.get("MC_OUTPUTS") or "mc-outputs.json")
    if target.parent != Path(""):
        target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return target


def write_file(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")


def read_interface() -> tuple[dict[str, list[str]], list[str]]:
    """The protocol's methods (name -> argument names, self excluded) and the supported currencies,
    read from src/payments/interface.py without importing it."""
    if not INTERFACE.is_file():
        raise InputError(
            f"{INTERFACE} does not exist: task define-interface must succeed first"
            " (and the agent must run from the mission repository root)"
        )
    try:
        tree = ast.parse(INTERFACE.read_text(encoding="utf-8"), str(INTERFACE))
    except SyntaxError as exc:
        raise InputError(f"{INTERFACE} does not parse: {exc}") from None
    methods: dict[str, list[str]] = {}
    supported: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == PROTOCOL:
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    methods[item.name] = [a.arg for a in item.args.args[1:]]
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "SUPPORTED_CURRENCIES" for t in node.targets
        ):
            supported = list(ast.literal_eval(node.value))
    if not methods:
        raise InputError(f"{INTERFACE} declares no {PROTOCOL} protocol with methods")
    if not supported:
        raise InputError(f"{INTERFACE} declares no SUPPORTED_CURRENCIES")
    return methods, supported


def import_path() -> None:
    """Make `import payments...` work from src/, without writing bytecode into the tree."""
    sys.dont_write_bytecode = True
    if str(SRC.resolve()) not in sys.path:
        sys.path.insert(0, str(SRC.resolve()))


def run(script: str, body: Callable[[], str]) -> None:
    """Run an agent's body; print its one-line report, or fail with a message on bad input."""
    try:
        line = body()
    except InputError as exc:
        fail(script, str(exc))
    print(line)


def fail(script: str, message: str) -> NoReturn:
    print(f"{script}: error: {message}", file=sys.stderr)
    sys.exit(1)
