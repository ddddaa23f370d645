#!/usr/bin/env python3
"""Agent underwriter, tasks check-eligibility and score-risk (it dispatches on MC_TASK).

Runtime contract (MissionControl runs `python3 agents-bin/underwriter.py` from the root of the
mission repository, the task's worktree):

    MC_MISSION           the mission name ("loan-approval")
    MC_TASK              "check-eligibility" or "score-risk"; anything else is an error
    MC_AGENT_ID          the agent's stable identity ("underwriter-<8 hex>")
    MC_LEASE_GENERATION  the fencing token of the lease this run holds
    MC_INPUTS            the task's spec.inputs as a JSON object string; absent means {}
                         ({"applicationId": "app-001"} by default)
    MC_OUTPUTS           where to write the JSON result; default mc-outputs.json in the cwd

check-eligibility: reads the parsed record (work/applications/<id>.json, or parses the sample data
afresh if absent), computes debt-to-income with the new loan's payment at a 7% assessment rate and
loan-to-income, applies the rules (income >= 18000, DTI <= 0.45, LTI <= 0.8) and writes
work/eligibility/<id>.json and MC_OUTPUTS: {applicationId, eligible, debtToIncome, loanToIncome, reasons}.

score-risk: score = 0.6*min(DTI/0.6, 1) + 0.3*min(LTI, 1) + 0.1*(income unverified), in [0, 1];
band low (< 0.35), medium (< 0.6) or high. Writes work/risk/<id>.json and MC_OUTPUTS:
{applicationId, score, band}.

Prints one line; exits 1 with a message on bad input.

Try it:  MC_TASK=score-risk MC_OUTPUTS=/tmp/o.json python3 agents-bin/underwriter.py
"""

from __future__ import annotations

import sys

sys.dont_write_bytecode = True  # importing the helper must not write outside the path scope

import lendinglib as lib  # noqa: E402


def check_eligibility(app: str) -> str:
    result = lib.check_eligibility(lib.parsed_record(app))
    lib.write_json_artifact(lib.WORK_DIR / "eligibility" / f"{app}.json", result)
    lib.write_outputs(result)
    verdict = "eligible" if result["eligible"] else "NOT eligible"
    return f"check-eligibility: {app} {verdict} (DTI {result['debtToIncome']:.2f}, LTI {result['loanToIncome']:.2f})"


def score_risk(app: str) -> str:
    result = lib.score_risk(lib.parsed_record(app), lib.eligibility_record(app))
    lib.write_json_artifact(lib.WORK_DIR / "risk" / f"{app}.json", result)
    lib.write_outputs(result)
    return f"score-risk: {app} scored {result['score']:.4f} ({result['band']} risk)"


TASKS = {"check-eligibility": check_eligibility, "score-risk": score_risk}


def main() -> str:
    handler = TASKS.get(lib.task())
    if handler is None:
        raise lib.InputError(f"MC_TASK must be one of {', '.join(TASKS)}, got {lib.task()!r}")
    return handler(lib.application_id(lib.inputs()))


if __name__ == "__main__":
    lib.run("underwriter", main)
