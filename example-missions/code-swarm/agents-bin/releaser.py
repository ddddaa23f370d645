#!/usr/bin/env python3
"""Agent releaser, task publish: write the release notes and changelog of a reviewed release.

Runtime contract (MissionControl runs `python3 agents-bin/releaser.py` from the root of the
mission repository, the task's worktree):

    MC_MISSION           the mission name ("code-swarm")
    MC_TASK              the task being run ("publish")
    MC_AGENT_ID          the agent's stable identity ("releaser-<8 hex>")
    MC_LEASE_GENERATION  the fencing token of the lease this run holds
    MC_INPUTS            the task's spec.inputs as a JSON object string; absent means {}
                         (version defaults to "0.1.0")
    MC_OUTPUTS           where to write the JSON result; default mc-outputs.json in the cwd

What it does: reads the review verdict reviews/payments.json (written by the review task, which
this one needs); refuses (exit 1) if it is missing or not approved. Writes releases/v<version>.md
with one line per provider (class, currencies, fee, read from the reviewed modules) and adds the
release to CHANGELOG.md (once: rerunning does not duplicate it). Nothing is uploaded here: the
task's approval gate (policy release-governance: two maintainers, not the author) holds the result
until it is approved, and only then is it published. Result: {version, notes, changelog, modules}.
Prints one line; exits 1 with a message on bad input.

Try it (after review):  MC_TASK=publish MC_OUTPUTS=/tmp/o.json python3 agents-bin/releaser.py
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path

sys.dont_write_bytecode = True  # importing must not write outside the path scope

import swarmlib as lib  # noqa: E402

VERDICT = Path("reviews/payments.json")
CHANGELOG = Path("CHANGELOG.md")
SEMVER = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+$")


def main() -> str:
    version = lib.inputs().get("version", "0.1.0")
    if not isinstance(version, str) or not SEMVER.match(version):
        raise lib.InputError(f"version must look like '1.2.3', got {version!r}")
    if not VERDICT.is_file():
        raise lib.InputError(f"{VERDICT} does not exist: task review must succeed first")
    try:
        verdict = json.loads(VERDICT.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise lib.InputError(f"{VERDICT} is not valid JSON: {exc}") from None
    if verdict.get("approved") is not True:
        raise lib.InputError(f"the review did not approve this release (see {verdict.get('report', VERDICT)})")
    lib.import_path()
    modules, bullets = [], []
    for check in verdict.get("checks", []):
        module = check["module"]
        provider = Path(module).parent.name
        impl = getattr(importlib.import_module(f"payments.{provider}.provider"), check["className"])
        bp, fixed = impl.fee_basis_points, impl.fee_fixed_cents
        fee = " + ".join([f"{bp / 100:g}%"] * bool(bp) + [f"{fixed} cents"] * bool(fixed)) or "no fee"
        bullets.append(f"- `{check['className']}` ({module}): {', '.join(impl.currencies)}; fee {fee}")
        modules.append(module)
    if not modules:
        raise lib.InputError(f"{VERDICT} lists no reviewed modules")
    notes = Path("releases") / f"v{version}.md"
    lib.write_file(
        notes,
        "\n".join(
            [f"# payments {version}", "", "Payment providers behind one PaymentProvider interface:", "", *bullets, ""]
        ),
    )
    heading = f"## {version}"
    existing = CHANGELOG.read_text(encoding="utf-8") if CHANGELOG.is_file() else "# Changelog\n"
    if heading not in existing.splitlines():
        head, _, rest = existing.partition("\n")
        entry = f"{heading}\n\n- Payment providers: {', '.join(Path(m).parent.name for m in modules)}. See {notes}.\n"
        lib.write_file(CHANGELOG, f"{head}\n\n{entry}{rest if rest.strip() else ''}".rstrip("\n") + "\n")
    lib.write_outputs({"version": version, "notes": str(notes), "changelog": str(CHANGELOG), "modules": modules})
    return f"publish: release {version} prepared ({notes}, {CHANGELOG}); held for two maintainers' approval"


if __name__ == "__main__":
    lib.run("releaser", main)
