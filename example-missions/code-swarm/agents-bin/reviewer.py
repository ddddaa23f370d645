#!/usr/bin/env python3
"""Agent reviewer, task review: check the three providers together against the interface.

Runtime contract (MissionControl runs `python3 agents-bin/reviewer.py` from the root of the
mission repository, the task's worktree):

    MC_MISSION           the mission name ("code-swarm")
    MC_TASK              the task being run ("review")
    MC_AGENT_ID          the agent's stable identity ("reviewer-<8 hex>"), quoted in the report
    MC_LEASE_GENERATION  the fencing token of the lease this run holds, quoted in the report
    MC_INPUTS            the task's spec.inputs as a JSON object string; absent means {}
                         (providers defaults to ["card", "bank", "wallet"])
    MC_OUTPUTS           where to write the JSON result; default mc-outputs.json in the cwd

What it does: for each provider, src/payments/<provider>/provider.py must exist (the coding tasks
this one needs write them; a missing one is an error, exit 1). Each is checked without trusting
it: it imports only the interface and the standard library, declares one public class, the class
satisfies PaymentProvider, its name matches its directory, a charge and a refund work, a bad
amount and an unsupported currency are refused. Writes reviews/payments.md (for people) and
reviews/payments.json (the verdict the publish task reads). Result: {approved, report, checks}.
A negative review is still a successful run (exit 0, approved false). Prints one line.

Try it (after the coding tasks):  MC_TASK=review MC_OUTPUTS=/tmp/o.json python3 agents-bin/reviewer.py
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.dont_write_bytecode = True  # importing must not write outside the path scope

import swarmlib as lib  # noqa: E402

ALLOWED_IMPORTS = {"__future__", "dataclasses", "typing", "decimal", "payments.interface"}
REPORT = Path("reviews/payments.md")
VERDICT = Path("reviews/payments.json")


def review(provider: str) -> dict[str, Any]:
    path = lib.SRC / "payments" / provider / "provider.py"
    notes: list[str] = []
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        names = (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
        notes += [
            f"imports {n}, which is neither the interface nor an allowed standard module"
            for n in names
            if n not in ALLOWED_IMPORTS
        ]
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef) and not n.name.startswith("_")]
    if len(classes) != 1:
        notes.append(f"declares {len(classes)} public classes ({', '.join(classes) or 'none'}); expected one")
        return {"module": str(path), "ok": False, "notes": notes}
    cls = classes[0]
    try:
        interface = importlib.import_module("payments.interface")
        impl = getattr(importlib.import_module(f"payments.{provider}.provider"), cls)()
        if not isinstance(impl, interface.PaymentProvider):
            notes.append(f"{cls} does not satisfy PaymentProvider")
        else:
            if impl.name != provider:
                notes.append(f"name is {impl.name!r}, expected {provider!r}")
            currency = impl.currencies[0]
            receipt = impl.charge(12_345, currency, "review")
            if (receipt.amount_cents, receipt.currency, receipt.status) != (12_345, currency, "captured"):
                notes.append(f"charge returned {receipt}")
            if not 0 <= receipt.fee_cents < receipt.amount_cents:
                notes.append(f"fee of {receipt.fee_cents} cents on 12345 is not plausible")
            if impl.refund(receipt).status != "refunded":
                notes.append("refund did not mark the receipt refunded")
            for amount, cur, what in ((-5, currency, "a negative amount"), (100, "XXX", "currency XXX")):
                try:
                    impl.charge(amount, cur, "review")
                    notes.append(f"accepted {what}")
                except interface.PaymentError:
                    pass
    except Exception as exc:  # the code under review may fail in any way
        notes.append(f"failed when exercised: {type(exc).__name__}: {exc}")
    return {"module": str(path), "className": cls, "ok": not notes, "notes": notes or ["all checks passed"]}


def main() -> str:
    params = lib.inputs()
    providers = params.get("providers", list(lib.PROVIDERS))
    if (
        not isinstance(providers, list)
        or not providers
        or not all(isinstance(p, str) and p.isidentifier() for p in providers)
    ):
        raise lib.InputError(f"providers must be a non-empty list of provider directory names, got {providers!r}")
    lib.read_interface()
    missing = [p for p in providers if not (lib.SRC / "payments" / p / "provider.py").is_file()]
    if missing:
        raise lib.InputError(
            f"nothing to review for {', '.join(missing)}: src/payments/<provider>/provider.py missing"
            " (the coding tasks must succeed first)"
        )
    lib.import_path()
    checks = [review(p) for p in providers]
    approved = all(c["ok"] for c in checks)
    lines = [
        "# Review: payments providers",
        "",
        f"Verdict: **{'approved' if approved else 'changes requested'}**",
        "",
    ]
    for c in checks:
        lines += [
            f"## {c['module']} ({c.get('className', '?')}): {'ok' if c['ok'] else 'NOT ok'}",
            *(f"- {n}" for n in c["notes"]),
            "",
        ]
    agent, generation = (
        os.environ.get("MC_AGENT_ID", "reviewer (local run)"),
        os.environ.get("MC_LEASE_GENERATION", "-"),
    )
    lines.append(f"_Reviewed by agent {agent}, lease generation {generation}._")
    lib.write_file(REPORT, "\n".join(lines) + "\n")
    result = {"approved": approved, "report": str(REPORT), "checks": checks}
    lib.write_file(VERDICT, json.dumps(result, indent=2, sort_keys=True) + "\n")
    lib.write_outputs(result)
    ok = sum(c["ok"] for c in checks)
    return f"review: {ok}/{len(checks)} providers pass; {'approved' if approved else 'changes requested'} -> {REPORT}"


if __name__ == "__main__":
    lib.run("reviewer", main)
