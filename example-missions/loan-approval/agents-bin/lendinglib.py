"""Shared helpers for the loan-approval agents (not an agent itself).

Runtime contract, as every agent script of this example relies on it:

    MC_MISSION           the mission name ("loan-approval")
    MC_TASK              the task being run (the scripts that serve several tasks dispatch on it)
    MC_AGENT_ID          the agent's stable identity, e.g. "underwriter-1a2b3c4d"
    MC_LEASE_GENERATION  the fencing token of the lease the run holds
    MC_INPUTS            the task's inputs: a JSON file (as a mesh node writes it: {"inputs": ...,
                         "needs": {task: outputs}, "results": {task: result commit}}) or a JSON
                         object string of the inputs alone; absent means {}
    MC_OUTPUTS           the file the agent writes its JSON result to; default mc-outputs.json in the cwd

The working directory is the root of the mission repository (the task's worktree), so the shipped
sample data is at data/applications/ and every file an agent writes is inside its task's path scope
(work/<stage>/**). Python standard library only; no model, no network; same input, same output.

Each stage writes its artifact under work/ and the next stage reads it when it is there; when it is
not (for instance, when a stage is run on its own), the next stage recomputes it from the sample data,
with the same deterministic formulas, so every script can be tried in isolation.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

DATA_DIR = Path("data/applications")
WORK_DIR = Path("work")
DEFAULT_APPLICATION = "app-001"
APPLICATION_ID = re.compile(r"^app-[0-9]{3,}$")

ASSESSMENT_RATE = 0.07  # the annual rate used to test affordability, whatever the offered rate
MIN_ANNUAL_INCOME = 18_000
MAX_DEBT_TO_INCOME = 0.45
MAX_LOAN_TO_INCOME = 0.8
INCOME_TOLERANCE = 0.10  # declared income may differ from 12 payslips by this fraction


class InputError(Exception):
    """Bad input: the agent exits non-zero with this message."""


def fail(script: str, message: str) -> NoReturn:
    print(f"{script}: error: {message}", file=sys.stderr)
    sys.exit(1)


def task() -> str:
    return os.environ.get("MC_TASK", "")


NODE_INPUTS = {"inputs", "needs", "results"}  # the keys of the file a mesh node writes


def _handed_over() -> dict[str, Any]:
    raw = os.environ.get("MC_INPUTS", "").strip()
    if not raw:
        return {"inputs": {}}
    if not raw.startswith("{") and os.path.isfile(raw):  # a mesh node hands over a file
        with open(raw, encoding="utf-8") as f:
            raw = f.read()
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InputError(f"MC_INPUTS is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InputError("MC_INPUTS must be a JSON object")
    if set(value) <= NODE_INPUTS and "inputs" in value:
        return value
    return {"inputs": value}


def inputs() -> dict[str, Any]:
    """The task's own `inputs`."""
    value = _handed_over()["inputs"]
    if not isinstance(value, dict):
        raise InputError("the inputs in MC_INPUTS must be a JSON object")
    return value


def result_commit(need: str) -> str | None:
    """The result commit of a task this one `needs`, as the node handed it over (None when run by hand)."""
    commit = _handed_over().get("results", {}).get(need)
    return str(commit) if commit else None


def report_usage(tokens: int, cost_usd: float) -> None:
    """Report this run's spend with `mc usage`, when it runs under a lease (a mesh node or a claim).

    These agents use no model: the figures are nominal (a token per four characters of result,
    $2 per million tokens), so that the budget machinery has something to count. A model-backed
    agent reports what its model calls actually used."""
    if not os.environ.get("MC_LEASE_TOKEN") or not shutil.which("mc"):
        return
    key = f"{os.environ.get('MC_MISSION', '')}/{task()}"
    proc = subprocess.run(
        ["mc", "usage", key, "--tokens", str(tokens), "--cost", f"{cost_usd:.6f}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode == 4:  # over budget: the attempt has failed; stop now
        fail("usage", proc.stderr.strip())
    if proc.returncode != 0:
        print(f"warning: mc usage: {proc.stderr.strip()}", file=sys.stderr)


def effect(key: str, carry_out: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Carry out a side effect at most once per task, through the effects ledger (`mc effect`).

    If the ledger has `key`, return what it recorded; otherwise `carry_out()` (which must pass
    `key` on to the receiver, which deduplicates by it) and record its result. Run by hand, with
    no lease, there is no ledger: just carry it out."""
    if not os.environ.get("MC_LEASE_TOKEN"):
        return carry_out()
    checked = subprocess.run(["mc", "effect", "check", key, "-o", "json"], capture_output=True, text=True, check=False)
    if checked.returncode != 0:
        fail("effect", checked.stderr.strip())
    entry = json.loads(checked.stdout)
    if entry["recorded"]:
        recorded: dict[str, Any] = entry["entry"]["result"]
        return recorded
    result = carry_out()
    record = ["mc", "effect", "record", key, "--result", json.dumps(result), "-o", "json"]
    recorded_now = subprocess.run(record, capture_output=True, text=True, check=False)
    if recorded_now.returncode != 0:
        fail("effect", recorded_now.stderr.strip())
    return result


def application_id(params: dict[str, Any]) -> str:
    app = params.get("applicationId", DEFAULT_APPLICATION)
    if not isinstance(app, str) or not APPLICATION_ID.match(app):
        raise InputError(f"applicationId must look like 'app-001', got {app!r}")
    return app


NOMINAL_USD_PER_TOKEN = 0.000002


def write_outputs(result: dict[str, Any]) -> Path:
    """Write the result to MC_OUTPUTS, and report the run's (nominal) spend with it."""
    target = Path(os.environ.get("MC_OUTPUTS") or "mc-outputs.json")
    if target.parent != Path(""):
        target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2, sort_keys=True) + "\n"
    target.write_text(text, encoding="utf-8")
    tokens = len(text) // 4
    report_usage(tokens, tokens * NOMINAL_USD_PER_TOKEN)
    return target


def write_artifact(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")


def write_json_artifact(path: Path, data: dict[str, Any]) -> None:
    write_artifact(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _number(value: Any, what: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (positive and value == 0):
        raise InputError(f"{what} must be a {'positive' if positive else 'non-negative'} number, got {value!r}")
    return float(value)


def _payslip_gross(text: str, source: Path) -> float:
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "gross pay":
            amount = value.strip().split()[0].replace(",", "") if value.strip() else ""
            try:
                return float(amount)
            except ValueError:
                raise InputError(f"{source}: cannot read the gross pay {value.strip()!r}") from None
    raise InputError(f"{source}: no 'Gross pay:' line")


def parse_application(app: str) -> dict[str, Any]:
    """Read the application form and its payslip: the parse-documents result."""
    form_path = DATA_DIR / f"{app}.json"
    if not form_path.is_file():
        raise InputError(f"no application form {form_path} (run from the mission repository root)")
    try:
        form = json.loads(form_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{form_path} is not valid JSON: {exc}") from None
    try:
        name = form["applicant"]["name"]
        declared = _number(form["annualIncome"], "annualIncome")
        debts = _number(form["monthlyDebts"], "monthlyDebts")
        amount = _number(form["loan"]["amount"], "loan.amount", positive=True)
        term = form["loan"]["termMonths"]
        documents = list(form["documents"])
    except (KeyError, TypeError) as exc:
        raise InputError(f"{form_path} lacks a field: {exc}") from None
    if form.get("applicationId") != app:
        raise InputError(f"{form_path} holds application {form.get('applicationId')!r}, not {app!r}")
    if not isinstance(term, int) or isinstance(term, bool) or not 1 <= term <= 480:
        raise InputError(f"loan.termMonths must be an integer from 1 to 480, got {term!r}")
    payslips = [d for d in documents if "payslip" in d]
    if not payslips:
        raise InputError(f"{form_path}: no payslip among the documents {documents}")
    payslip = DATA_DIR / payslips[0]
    if not payslip.is_file():
        raise InputError(f"missing document {payslip}")
    from_payslip = round(_payslip_gross(payslip.read_text(encoding="utf-8"), payslip) * 12, 2)
    verified = declared > 0 and abs(declared - from_payslip) <= INCOME_TOLERANCE * declared
    return {
        "applicationId": app,
        "applicant": name,
        # An income the payslip does not bear out is replaced by the payslip's.
        "annualIncome": declared if verified else from_payslip,
        "monthlyDebts": debts,
        "loanAmount": amount,
        "termMonths": term,
        "incomeVerified": verified,
        "documents": [str(DATA_DIR / form_path.name), *(str(DATA_DIR / d) for d in documents)],
        "record": str(WORK_DIR / "applications" / f"{app}.json"),
    }


def monthly_payment(amount: float, annual_rate: float, months: int) -> float:
    """The annuity payment that repays `amount` in `months` equal instalments."""
    r = annual_rate / 12
    if r == 0:
        return round(amount / months, 2)
    return round(amount * r / (1 - (1 + r) ** -months), 2)


def check_eligibility(parsed: dict[str, Any]) -> dict[str, Any]:
    income, amount = parsed["annualIncome"], parsed["loanAmount"]
    monthly_income = income / 12
    payment = monthly_payment(amount, ASSESSMENT_RATE, parsed["termMonths"])
    dti = round((parsed["monthlyDebts"] + payment) / monthly_income, 4) if monthly_income else 99.0
    lti = round(amount / income, 4) if income else 99.0
    checks = [
        (income >= MIN_ANNUAL_INCOME, f"annual income {income:.0f} (minimum {MIN_ANNUAL_INCOME})"),
        (
            dti <= MAX_DEBT_TO_INCOME,
            f"debt-to-income {dti:.2f} with the new payment of {payment:.2f} (maximum {MAX_DEBT_TO_INCOME})",
        ),
        (lti <= MAX_LOAN_TO_INCOME, f"loan-to-income {lti:.2f} (maximum {MAX_LOAN_TO_INCOME})"),
    ]
    reasons = [("ok: " if passed else "fail: ") + text for passed, text in checks]
    if not parsed["incomeVerified"]:
        reasons.append("note: declared income not borne out by the payslip; the payslip income was used")
    return {
        "applicationId": parsed["applicationId"],
        "eligible": all(passed for passed, _ in checks),
        "debtToIncome": dti,
        "loanToIncome": lti,
        "reasons": reasons,
    }


def score_risk(parsed: dict[str, Any], eligibility: dict[str, Any]) -> dict[str, Any]:
    """A deliberately simple score in [0, 1]: higher is riskier."""
    dti_part = min(eligibility["debtToIncome"] / 0.6, 1.0)
    lti_part = min(eligibility["loanToIncome"] / 1.0, 1.0)
    unverified = 0.0 if parsed["incomeVerified"] else 1.0
    score = round(0.6 * dti_part + 0.3 * lti_part + 0.1 * unverified, 4)
    band = "low" if score < 0.35 else "medium" if score < 0.6 else "high"
    return {"applicationId": parsed["applicationId"], "score": score, "band": band}


def stage(name: str, app: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """An upstream stage's artifact work/<name>/<app>.json if it exists, else computed afresh."""
    path = WORK_DIR / name / f"{app}.json"
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("applicationId") != app:
            raise InputError(f"{path} is not the {name} record of {app}")
        return data
    return compute()


def parsed_record(app: str) -> dict[str, Any]:
    return stage("applications", app, lambda: parse_application(app))


def eligibility_record(app: str) -> dict[str, Any]:
    return stage("eligibility", app, lambda: check_eligibility(parsed_record(app)))


def risk_record(app: str) -> dict[str, Any]:
    return stage("risk", app, lambda: score_risk(parsed_record(app), eligibility_record(app)))


def run(script: str, body: Callable[[], str]) -> None:
    """Run an agent's body; print its one-line report, or fail with a message on bad input."""
    try:
        line = body()
    except InputError as exc:
        fail(script, str(exc))
    print(line)
