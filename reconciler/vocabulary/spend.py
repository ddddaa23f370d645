"""Spend as a value: the model tokens and dollars an agent reports, and the limits they meet.

An agent reports what each call cost (`mc usage --tokens N --cost USD`); the lease it holds
adds it up (`Lease.spend`), the task's status sums every attempt (`TaskStatus.spend`), and a
mission's spend is the sum of its tasks'. A `SpendLimit` is an agent's per-run budget or a
mission's cap; either bound may be absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_DIGITS = 9  # dollars are summed to the nano-dollar, so that float noise never crosses a limit


@dataclass(frozen=True, slots=True)
class Spend:
    tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: Spend) -> Spend:
        return Spend(self.tokens + other.tokens, round(self.cost_usd + other.cost_usd, _DIGITS))

    def __bool__(self) -> bool:
        return bool(self.tokens or self.cost_usd)

    def __str__(self) -> str:
        return f"{self.tokens:,} tokens, ${self.cost_usd:.4f}"

    def trailer(self) -> str:
        """The value of an `MC-Spend` trailer."""
        return f"tokens={self.tokens} cost_usd={self.cost_usd:.6f}"

    def to_dict(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "cost_usd": self.cost_usd}

    @classmethod
    def from_dict(cls, data: Any) -> Spend:
        if not data:
            return cls()
        return cls(int(data.get("tokens", 0)), float(data.get("cost_usd", 0.0)))


@dataclass(frozen=True, slots=True)
class SpendLimit:
    tokens: int | None = None
    cost_usd: float | None = None

    def __bool__(self) -> bool:
        return self.tokens is not None or self.cost_usd is not None

    def __str__(self) -> str:
        bounds = [f"{self.tokens:,} tokens"] if self.tokens is not None else []
        bounds += [f"${self.cost_usd:.4f}"] if self.cost_usd is not None else []
        return ", ".join(bounds) or "no limit"

    def exceeded_by(self, spend: Spend) -> str | None:
        """Why `spend` is over this limit, or None. Reaching a bound exactly is within it."""
        over = []
        if self.tokens is not None and spend.tokens > self.tokens:
            over.append(f"{spend.tokens:,} tokens > {self.tokens:,}")
        if self.cost_usd is not None and spend.cost_usd > self.cost_usd:
            over.append(f"${spend.cost_usd:.4f} > ${self.cost_usd:.4f}")
        return "; ".join(over) or None

    def reached_by(self, spend: Spend) -> str | None:
        """Why `spend` has used this limit up (reached or passed a bound), or None."""
        used = []
        if self.tokens is not None and spend.tokens >= self.tokens:
            used.append(f"{spend.tokens:,} of {self.tokens:,} tokens")
        if self.cost_usd is not None and spend.cost_usd >= self.cost_usd:
            used.append(f"${spend.cost_usd:.4f} of ${self.cost_usd:.4f}")
        return "; ".join(used) or None

    def to_dict(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "cost_usd": self.cost_usd}

    @classmethod
    def from_dict(cls, data: Any) -> SpendLimit:
        if not data:
            return cls()
        tokens, cost = data.get("tokens"), data.get("cost_usd")
        return cls(None if tokens is None else int(tokens), None if cost is None else float(cost))
