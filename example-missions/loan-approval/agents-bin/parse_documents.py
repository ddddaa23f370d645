#!/usr/bin/env python3
"""Agent doc-parser, task parse-documents: turn an application form and its payslip into a record.

Runtime contract (MissionControl runs `python3 agents-bin/parse_documents.py` from the root of the
mission repository, the task's worktree):

    MC_MISSION           the mission name ("loan-approval")
    MC_TASK              the task being run ("parse-documents")
    MC_AGENT_ID          the agent's stable identity ("doc-parser-<8 hex>")
    MC_LEASE_GENERATION  the fencing token of the lease this run holds
    MC_INPUTS            the task's spec.inputs as a JSON object string; absent means {}
                         ({"applicationId": "app-001"} by default)
    MC_OUTPUTS           where to write the JSON result; default mc-outputs.json in the cwd

What it does: reads data/applications/<applicationId>.json and the payslip it lists, checks the
declared annual income against twelve times the payslip's gross pay (10% tolerance), writes the
parsed record to work/applications/<applicationId>.json (the task's path scope) and the same record
to MC_OUTPUTS, matching the task's outputs schema. Prints one line; exits 1 with a message on bad
input (malformed MC_INPUTS, unknown application, missing or unreadable document).

Try it:  MC_TASK=parse-documents MC_OUTPUTS=/tmp/o.json python3 agents-bin/parse_documents.py
"""

from __future__ import annotations

import sys

sys.dont_write_bytecode = True  # importing the helper must not write outside the path scope

import lendinglib as lib  # noqa: E402


def main() -> str:
    app = lib.application_id(lib.inputs())
    record = lib.parse_application(app)
    lib.write_json_artifact(lib.WORK_DIR / "applications" / f"{app}.json", record)
    lib.write_outputs(record)
    verified = "verified" if record["incomeVerified"] else "NOT verified, payslip income used"
    who = f"{record['applicant']}, income {record['annualIncome']:.0f} {verified}"
    return f"parse-documents: {app} parsed ({who}) -> {record['record']}"


if __name__ == "__main__":
    lib.run("parse_documents", main)
