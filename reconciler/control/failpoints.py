"""Named crash and stall points for tests: `MC_FAILPOINT=name` kills the process there with
SIGKILL; `MC_FAILPOINT=name:sleep=SECONDS` stalls it there (a slow pass, on demand).

Crash-consistency is a claim about every point of a write sequence; failpoints let tests
stop a real process at exactly those points, as etcd and TiKV do.
"""

from __future__ import annotations

import os
import signal
import time


def failpoint(name: str) -> None:
    spec = os.environ.get("MC_FAILPOINT")
    if not spec:
        return
    point, _, action = spec.partition(":")
    if point != name:
        return
    if action.startswith("sleep="):
        time.sleep(float(action.removeprefix("sleep=")))
    else:
        os.kill(os.getpid(), signal.SIGKILL)
