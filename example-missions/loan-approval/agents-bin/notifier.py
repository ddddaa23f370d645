#!/usr/bin/env python3
"""Agent notifier, tasks human-review, draft-offer and send-offer (it dispatches on MC_TASK).

Runtime contract (MissionControl runs `python3 agents-bin/notifier.py` from the root of the
mission repository, the task's worktree):

    MC_MISSION           the mission name ("loan-approval")
    MC_TASK              "human-review", "draft-offer" or "send-offer"; anything else is an error
    MC_AGENT_ID          the agent's stable identity ("notifier-<8 hex>"), quoted in the packet
    MC_LEASE_GENERATION  the fencing token of the lease this run holds, quoted in the packet
    MC_INPUTS            the task's spec.inputs (a JSON object string, or the node's file, which
                         also holds the result commits of the tasks it needs); absent means {}
                         (applicationId defaults to "app-001"; draft-offer also reads
                         baseRatePercent, default 6.5, and currency, default "EUR")
    MC_IDEMPOTENCY_KEY   send-offer: the task's key, stable across retries; sent with the letter
    LOAN_POST_OFFICE     send-offer: the post office's directory (agents-bin/postoffice.py)
    MC_OUTPUTS           where to write the JSON result; default mc-outputs.json in the cwd

human-review: gathers the parsed record, the eligibility checks and the risk score (from work/, or
recomputed from the sample data if absent) into a one-page Markdown packet for a credit officer,
work/review/<id>.md, with a recommendation (approve unless ineligible or high risk). MC_OUTPUTS:
{applicationId, packet, recommendation, summary}.

draft-offer: drafts the letter to the applicant, work/offers/<id>.txt (and the offer terms as
work/offers/<id>.json): an offer at baseRatePercent plus a margin by risk band (low +1.0, medium
+3.0), or a decline. Nothing leaves the building here: the task's approval gate (policy
lending-governance) holds the result until a credit officer approves it.
MC_OUTPUTS: {applicationId, decision, letter, offer}.

send-offer: runs only once draft-offer has succeeded, that is, after its approval. It reads the
letter from draft-offer's result commit (the approved one) and posts it exactly once: through the
effects ledger (`mc effect check`, then `mc effect record`) with the idempotency key, which the
post office also deduplicates by, so a crash between posting and recording never sends twice.
It writes a receipt to work/sent/<id>.json. MC_OUTPUTS: {applicationId, messageId, letter, letterCommit}.

Prints one line; exits 1 with a message on bad input.

Try it:  MC_TASK=human-review MC_OUTPUTS=/tmp/o.json python3 agents-bin/notifier.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.dont_write_bytecode = True  # importing the helper must not write outside the path scope

import lendinglib as lib  # noqa: E402
import postoffice  # noqa: E402

MARGIN_PERCENT = {"low": 1.0, "medium": 3.0}


def recommendation(eligibility: dict[str, Any], risk: dict[str, Any]) -> str:
    return "approve" if eligibility["eligible"] and risk["band"] in MARGIN_PERCENT else "decline"


def human_review(app: str, _params: dict[str, Any]) -> str:
    parsed, elig, risk = lib.parsed_record(app), lib.eligibility_record(app), lib.risk_record(app)
    rec = recommendation(elig, risk)
    summary = (
        f"{parsed['applicant']} asks for {parsed['loanAmount']:.0f} over {parsed['termMonths']} months; "
        f"{'eligible' if elig['eligible'] else 'not eligible'}, risk {risk['band']} ({risk['score']:.2f}); "
        f"recommendation: {rec}."
    )
    verified = "verified" if parsed["incomeVerified"] else "NOT verified; payslip income used"
    lines = [
        f"# Review packet: loan application {app}",
        "",
        summary,
        "",
        "## Application",
        f"- Applicant: {parsed['applicant']}",
        f"- Amount: {parsed['loanAmount']:.2f} over {parsed['termMonths']} months",
        f"- Annual income: {parsed['annualIncome']:.2f} ({verified})",
        f"- Monthly debts: {parsed['monthlyDebts']:.2f}",
        f"- Documents: {', '.join(parsed['documents'])}",
        "",
        "## Eligibility",
        *(f"- {reason}" for reason in elig["reasons"]),
        "",
        "## Risk",
        f"- Score: {risk['score']:.4f} (0 is safest, 1 riskiest)",
        f"- Band: {risk['band']}",
        "",
        "## What the credit officer decides",
        "Approving the draft-offer task's result (policy lending-governance, rule",
        "offer-needs-credit-officer) releases send-offer, which sends the letter of that exact result.",
        "Nobody approves an offer they authored.",
        "",
        f"_Prepared by agent {os.environ.get('MC_AGENT_ID', 'notifier (local run)')}, "
        f"lease generation {os.environ.get('MC_LEASE_GENERATION', '-')}._",
    ]
    packet = lib.WORK_DIR / "review" / f"{app}.md"
    lib.write_artifact(packet, "\n".join(lines) + "\n")
    lib.write_outputs({"applicationId": app, "packet": str(packet), "recommendation": rec, "summary": summary})
    return f"human-review: {app} packet written to {packet} (recommendation: {rec})"


def draft_offer(app: str, params: dict[str, Any]) -> str:
    base = params.get("baseRatePercent", 6.5)
    if isinstance(base, bool) or not isinstance(base, (int, float)) or not 0 <= base <= 30:
        raise lib.InputError(f"baseRatePercent must be a number from 0 to 30, got {base!r}")
    currency = params.get("currency", "EUR")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isupper():
        raise lib.InputError(f"currency must be a three-letter code such as 'EUR', got {currency!r}")
    parsed, elig, risk = lib.parsed_record(app), lib.eligibility_record(app), lib.risk_record(app)
    decision = "offer" if recommendation(elig, risk) == "approve" else "decline"
    offer: dict[str, Any] | None = None
    amount, months = parsed["loanAmount"], parsed["termMonths"]
    if decision == "offer":
        apr = round(float(base) + MARGIN_PERCENT[risk["band"]], 2)
        payment = lib.monthly_payment(parsed["loanAmount"], apr / 100, parsed["termMonths"])
        offer = {
            "offerId": f"offer-{app}",
            "amount": parsed["loanAmount"],
            "currency": currency,
            "termMonths": parsed["termMonths"],
            "aprPercent": apr,
            "monthlyPayment": payment,
        }
        body = [
            f"Dear {parsed['applicant']},",
            "",
            f"We are pleased to offer you a loan of {amount:.2f} {currency} over {months} months",
            f"at an annual rate of {apr:.2f}%, that is {months} monthly payments of {payment:.2f} {currency}.",
            f"Your offer reference is {offer['offerId']}.",
        ]
    else:
        body = [
            f"Dear {parsed['applicant']},",
            "",
            f"Thank you for your application {app}. We are sorry that we cannot offer you this loan at present.",
            "You may ask us for the reasons, and apply again when your circumstances change.",
        ]
    letter = lib.WORK_DIR / "offers" / f"{app}.txt"
    lib.write_artifact(letter, "\n".join([*body, "", "Example Bank, Lending"]) + "\n")
    result = {"applicationId": app, "decision": decision, "letter": str(letter), "offer": offer}
    lib.write_json_artifact(lib.WORK_DIR / "offers" / f"{app}.json", result)
    lib.write_outputs(result)
    terms = f"{offer['aprPercent']:.2f}% APR, {offer['monthlyPayment']:.2f} {currency}/month" if offer else "no offer"
    return f"draft-offer: {app} {decision} drafted to {letter} ({terms}); held for credit-officer approval"


def _approved_letter(app: str) -> tuple[str, str, str | None]:
    """(path, text, commit) of the letter in draft-offer's result commit; by hand, the file on disk."""
    letter = str(lib.WORK_DIR / "offers" / f"{app}.txt")
    commit = lib.result_commit("draft-offer")
    if commit is None:
        path = Path(letter)
        if not path.is_file():
            raise lib.InputError(f"no letter {letter}: run draft-offer first")
        return letter, path.read_text(encoding="utf-8"), None
    shown = subprocess.run(["git", "show", f"{commit}:{letter}"], capture_output=True, text=True, check=False)
    if shown.returncode != 0:
        raise lib.InputError(f"draft-offer's result {commit[:12]} has no {letter}: {shown.stderr.strip()}")
    return letter, shown.stdout, commit


def send_offer(app: str, _params: dict[str, Any]) -> str:
    letter, text, commit = _approved_letter(app)
    key = f"{os.environ.get('MC_IDEMPOTENCY_KEY', 'local/' + app)}:letter"
    to = lib.parsed_record(app)["applicant"]
    try:
        posted = lib.effect(key, lambda: dict(zip(("messageId", "fresh"), postoffice.send(key, to, text), strict=True)))
    except postoffice.PostOfficeError as exc:
        raise lib.InputError(str(exc)) from None
    receipt = {"applicationId": app, "messageId": posted["messageId"], "letter": letter, "letterCommit": commit}
    lib.write_json_artifact(lib.WORK_DIR / "sent" / f"{app}.json", receipt)
    lib.write_outputs(receipt)
    return f"send-offer: {app} letter {letter} posted to {to} as {posted['messageId']} (key {key})"


TASKS = {"human-review": human_review, "draft-offer": draft_offer, "send-offer": send_offer}


def main() -> str:
    handler = TASKS.get(lib.task())
    if handler is None:
        raise lib.InputError(f"MC_TASK must be one of {', '.join(TASKS)}, got {lib.task()!r}")
    params = lib.inputs()
    return handler(lib.application_id(params), params)


if __name__ == "__main__":
    lib.run("notifier", main)
