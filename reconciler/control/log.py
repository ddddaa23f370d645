"""Structured logs for the long-running commands: one JSON object per line, or a readable line."""

from __future__ import annotations

import json
import sys
import time
from typing import Any


class Log:
    """Structured logs: one JSON object per line, or a readable line; always to stderr."""

    def __init__(self, fmt: str = "text", stream: Any = None) -> None:
        self.fmt = fmt
        self.stream = stream or sys.stderr

    def __call__(self, event: str, level: str = "info", **fields: Any) -> None:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"
        if self.fmt == "json":
            line = json.dumps({"ts": ts, "level": level, "event": event, **fields}, default=str)
        else:
            extra = " ".join(f"{k}={v}" for k, v in fields.items() if not isinstance(v, list))
            line = f"{ts} {level:5} {event} {extra}".rstrip()
            for item in next((v for v in fields.values() if isinstance(v, list)), []):
                line += f"\n    {item}"
        print(line, file=self.stream, flush=True)
