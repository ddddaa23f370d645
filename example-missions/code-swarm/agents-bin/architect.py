#!/usr/bin/env python3
"""Agent architect, task define-interface: write the shared PaymentProvider interface.

Runtime contract (MissionControl runs `python3 agents-bin/architect.py` from the root of the
mission repository, the task's worktree):

    MC_MISSION           the mission name ("code-swarm")
    MC_TASK              the task being run ("define-interface")
    MC_AGENT_ID          the agent's stable identity ("architect-<8 hex>")
    MC_LEASE_GENERATION  the fencing token of the lease this run holds
    MC_INPUTS            the task's spec.inputs as a JSON object string; absent means {}
                         (currencies defaults to ["EUR", "GBP", "USD"])
    MC_OUTPUTS           where to write the JSON result; default mc-outputs.json in the cwd

What it does: writes src/payments/interface.py (its whole path scope) with the Receipt record, the
PaymentError exception, SUPPORTED_CURRENCIES and the PaymentProvider protocol, checks that the file
compiles, and reads the protocol's methods back from it for the result:
{module, protocol, methods, currencies}. Prints one line; exits 1 with a message on bad input.

Try it:  MC_TASK=define-interface MC_OUTPUTS=/tmp/o.json python3 agents-bin/architect.py
"""

from __future__ import annotations

import sys

sys.dont_write_bytecode = True  # importing the helper must not write outside the path scope

import swarmlib as lib  # noqa: E402

TEMPLATE = '''\
"""The payments interface: what every payment provider implements.

Written by the architect agent (task define-interface). Providers live in
src/payments/<provider>/provider.py and import only this module and the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

SUPPORTED_CURRENCIES = {currencies!r}


class PaymentError(ValueError):
    """A payment that cannot be made: a bad amount, an unsupported currency, a bad refund."""


@dataclass(frozen=True)
class Receipt:
    """The record of a charge or a refund. Amounts are integers in minor units (cents)."""

    provider: str
    reference: str
    amount_cents: int
    fee_cents: int
    currency: str
    status: str  # "captured" or "refunded"


@runtime_checkable
class PaymentProvider(Protocol):
    """A way to take money: card, bank transfer, wallet..."""

    name: str

    def fee_cents(self, amount_cents: int) -> int:
        """The provider's fee for a charge of amount_cents."""
        ...

    def charge(self, amount_cents: int, currency: str, reference: str) -> Receipt:
        """Take amount_cents; raise PaymentError for an amount <= 0 or a currency not supported."""
        ...

    def refund(self, receipt: Receipt) -> Receipt:
        """Give back a captured charge of this provider; raise PaymentError otherwise."""
        ...
'''


def main() -> str:
    params = lib.inputs()
    wanted = lib.currencies(params.get("currencies", ["EUR", "GBP", "USD"]))
    source = TEMPLATE.format(currencies=tuple(sorted(wanted)))
    compile(source, str(lib.INTERFACE), "exec")
    lib.write_file(lib.INTERFACE, source)
    methods, supported = lib.read_interface()
    result = {
        "module": str(lib.INTERFACE),
        "protocol": lib.PROTOCOL,
        "methods": sorted(methods),
        "currencies": supported,
    }
    lib.write_outputs(result)
    declared = ", ".join(sorted(methods))
    return f"define-interface: wrote {lib.INTERFACE} ({lib.PROTOCOL}: {declared}; currencies {', '.join(supported)})"


if __name__ == "__main__":
    lib.run("architect", main)
