#!/usr/bin/env python3
"""Agent coder, tasks implement-card-provider, implement-bank-transfer and implement-wallet.

The coder agent has three replicas, so the three tasks run at once; it dispatches on MC_TASK.

Runtime contract (MissionControl runs `python3 agents-bin/coder.py` from the root of the mission
repository, the task's worktree):

    MC_MISSION           the mission name ("code-swarm")
    MC_TASK              one of implement-card-provider, implement-bank-transfer, implement-wallet
    MC_AGENT_ID          the agent's stable identity ("coder-<8 hex>")
    MC_LEASE_GENERATION  the fencing token of the lease this run holds
    MC_INPUTS            the task's spec.inputs as a JSON object string; absent means {}
                         (className, currencies, feeBasisPoints, feeFixedCents; each defaults to
                         the value in the task manifest)
    MC_OUTPUTS           where to write the JSON result; default mc-outputs.json in the cwd

What it does: reads the PaymentProvider protocol from src/payments/interface.py (written by the
define-interface task, which every coding task needs; without it the coder fails), generates a
class implementing every method of the protocol into src/payments/<provider>/provider.py (the
task's whole path scope: card, bank or wallet), imports it and self-tests it (it satisfies the
protocol; charge and refund work; a bad amount and an unsupported currency are refused).
Result: {module, className, methods, currencies, selfTest, lines}. Prints one line; exits 1 with
a message on bad input or a failed self-test.

Try it (after define-interface):
    MC_TASK=implement-card-provider MC_OUTPUTS=/tmp/o.json python3 agents-bin/coder.py
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

sys.dont_write_bytecode = True  # importing must not write outside the path scope

import swarmlib as lib  # noqa: E402

# task -> (provider directory, class, currencies, fee in basis points, fixed fee in cents)
TASKS: dict[str, tuple[str, str, list[str], int, int]] = {
    "implement-card-provider": ("card", "CardProvider", ["EUR", "GBP", "USD"], 140, 25),
    "implement-bank-transfer": ("bank", "BankTransferProvider", ["EUR"], 0, 50),
    "implement-wallet": ("wallet", "WalletProvider", ["EUR", "USD"], 90, 0),
}

# What the coder knows how to write: method name -> (arguments after self, body).
METHODS: dict[str, tuple[list[str], str]] = {
    "fee_cents": (
        ["amount_cents"],
        """\
    def fee_cents(self, amount_cents: int) -> int:
        return (amount_cents * self.fee_basis_points + 5_000) // 10_000 + self.fee_fixed_cents
""",
    ),
    "charge": (
        ["amount_cents", "currency", "reference"],
        """\
    def charge(self, amount_cents: int, currency: str, reference: str) -> Receipt:
        if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
            raise PaymentError(f"{self.name}: the amount must be a positive number of cents, got {amount_cents!r}")
        if currency not in self.currencies:
            raise PaymentError(f"{self.name}: currency {currency!r} is not supported ({', '.join(self.currencies)})")
        return Receipt(self.name, reference, amount_cents, self.fee_cents(amount_cents), currency, "captured")
""",
    ),
    "refund": (
        ["receipt"],
        """\
    def refund(self, receipt: Receipt) -> Receipt:
        if receipt.provider != self.name or receipt.status != "captured":
            raise PaymentError(f"{self.name}: only a captured {self.name} charge can be refunded")
        return replace(receipt, status="refunded")
""",
    ),
}

HEADER = '''\
"""{title} payments: the {cls} implementation of payments.interface.PaymentProvider.

Written by the coder agent (task {task}).
"""

from __future__ import annotations

from dataclasses import replace

from payments.interface import PaymentError, Receipt


class {cls}:
    """Charges and refunds by {provider}: {fee}, in {currency_list}."""

    name = {provider!r}
    currencies = {currencies!r}
    fee_basis_points = {bp}
    fee_fixed_cents = {fixed}
'''


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10_000:
        raise lib.InputError(f"{what} must be an integer from 0 to 10000, got {value!r}")
    return value


def generate(
    task: str, provider: str, cls: str, currencies: list[str], bp: int, fixed: int, methods: dict[str, list[str]]
) -> str:
    parts = []
    for name in sorted(methods):
        known = METHODS.get(name)
        if known is None:
            raise lib.InputError(f"the interface declares {name}(), which this coder does not know how to implement")
        if known[0] != methods[name]:
            declared, implemented = ", ".join(methods[name]), ", ".join(known[0])
            raise lib.InputError(
                f"the interface declares {name}({declared}); this coder implements {name}({implemented})"
            )
        parts.append(known[1])
    fee = " + ".join([f"{bp / 100:g}%"] * bool(bp) + [f"{fixed} cents"] * bool(fixed)) or "no fee"
    head = HEADER.format(
        title=provider.capitalize(),
        cls=cls,
        task=task,
        provider=provider,
        fee=fee,
        currency_list=", ".join(currencies),
        currencies=tuple(currencies),
        bp=bp,
        fixed=fixed,
    )
    return head + "".join("\n" + p for p in parts)


def _problems(provider: str, cls: str, currencies: list[str]) -> list[str]:
    """What is wrong with the generated class when exercised; empty when nothing is."""
    interface = importlib.import_module("payments.interface")
    impl = getattr(importlib.import_module(f"payments.{provider}.provider"), cls)()
    if not isinstance(impl, interface.PaymentProvider):
        return [f"{cls} does not satisfy PaymentProvider"]
    problems = []
    receipt = impl.charge(10_000, currencies[0], "self-test")
    if receipt.status != "captured" or not 0 <= receipt.fee_cents < 10_000:
        problems.append(f"bad receipt {receipt}")
    if impl.refund(receipt).status != "refunded":
        problems.append("refund did not refund")
    for amount, currency in ((0, currencies[0]), (100, "XXX")):
        try:
            impl.charge(amount, currency, "self-test")
            problems.append(f"charge({amount}, {currency!r}) was not refused")
        except interface.PaymentError:
            pass
    return problems


def self_test(provider: str, cls: str, currencies: list[str]) -> None:
    lib.import_path()
    try:
        problems = _problems(provider, cls, currencies)
    except Exception as exc:  # any failure of the generated code is a failed self-test
        problems = [f"{type(exc).__name__}: {exc}"]
    if problems:
        raise lib.InputError(f"self-test of {cls} failed: {'; '.join(problems)}")


def main() -> str:
    task = lib.task()
    if task not in TASKS:
        raise lib.InputError(f"MC_TASK must be one of {', '.join(TASKS)}, got {task!r}")
    provider, cls, currencies, bp, fixed = TASKS[task]
    params = lib.inputs()
    cls = params.get("className", cls)
    if not isinstance(cls, str) or not cls.isidentifier() or not cls[0].isupper():
        raise lib.InputError(f"className must be a Python class name, got {cls!r}")
    currencies = lib.currencies(params.get("currencies", currencies))
    bp = _int(params.get("feeBasisPoints", bp), "feeBasisPoints")
    fixed = _int(params.get("feeFixedCents", fixed), "feeFixedCents")
    methods, supported = lib.read_interface()
    unsupported = [c for c in currencies if c not in supported]
    if unsupported:
        raise lib.InputError(f"currencies {unsupported} are not in the interface's SUPPORTED_CURRENCIES {supported}")
    source = generate(task, provider, cls, currencies, bp, fixed, methods)
    target = Path(lib.SRC, "payments", provider, "provider.py")
    lib.write_file(target, source)
    self_test(provider, cls, currencies)
    lines = source.count("\n")
    lib.write_outputs(
        {
            "module": str(target),
            "className": cls,
            "methods": sorted(methods),
            "currencies": currencies,
            "selfTest": "passed",
            "lines": lines,
        }
    )
    return f"{task}: wrote {target} ({cls}, {lines} lines, {', '.join(currencies)}); self-test passed"


if __name__ == "__main__":
    lib.run("coder", main)
