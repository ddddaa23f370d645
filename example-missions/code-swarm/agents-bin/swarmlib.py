"""Shared helpers for the code-swarm agents (not an agent itself).

Runtime contract, as every agent script of this example relies on it:

    MC_MISSION           the mission name ("code-swarm")
    MC_TASK              the task being run (the coder, which serves three tasks, dispatches on it)
    MC_AGENT_ID          the agent's stable identity, e.g. "coder-1a2b3c4d"
    MC_LEASE_GENERATION  the fencing token of the lease the run holds
    MC_INPUTS            the task's inputs: a JSON file (as a mesh node writes it: {"inputs": ...,
                         "needs": {task: outputs}, "results": {task: result commit}}) or a JSON
                         object string of the inputs alone; absent means {}

A task's worktree starts from the results of the tasks it needs (a mesh node creates its work
branch at main merged with them), so the coders find src/payments/interface.py there, and the
reviewer finds every implementation.
    MC_OUTPUTS           the file the agent writes its JSON result to; default mc-outputs.json in the cwd

The working directory is the root of the mission repository (the task's worktree); every file an
agent writes is inside its task's path scope. Python standard library only; no model, no network;
same input, same output.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
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
        if isinstance(value, dict) and set(value) <= {"inputs", "needs", "results"} and "inputs" in value:
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


NOMINAL_USD_PER_TOKEN = 0.000002


def write_outputs(result: dict[str, Any]) -> Path:
    """Write the result to MC_OUTPUTS, and report the run's (nominal) spend with it."""
    target = Path(os.environ.get("MC_OUTPUTS") or "mc-outputs.json")
    if target.parent != Path(""):
        target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2, sort_keys=True) + "\n"
    target.write_text(text, encoding="utf-8")
    report_usage(len(text) // 4, len(text) // 4 * NOMINAL_USD_PER_TOKEN)
    return target


def report_usage(tokens: int, cost_usd: float) -> None:
    """Report this run's spend with `mc usage` when it runs under a lease. These agents use no
    model: the figures are nominal (a token per four characters of result, $2 per million), so
    that the budget machinery has something to count; a model-backed agent reports real usage."""
    if not os.environ.get("MC_LEASE_TOKEN") or not shutil.which("mc"):
        return
    key = f"{os.environ.get('MC_MISSION', '')}/{task()}"
    usage = ["mc", "usage", key, "--tokens", str(tokens), "--cost", f"{cost_usd:.6f}"]
    proc = subprocess.run(usage, capture_output=True, text=True, check=False)
    if proc.returncode == 4:  # over budget: the attempt has failed; stop now
        print(f"usage: {proc.stderr.strip()}", file=sys.stderr)
        sys.exit(1)
    if proc.returncode != 0:
        print(f"warning: mc usage: {proc.stderr.strip()}", file=sys.stderr)


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
