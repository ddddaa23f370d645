"""Named crash points for tests: `MC_FAILPOINT=name` kills the process there with SIGKILL.

Crash-consistency is a claim about every point of a write sequence; failpoints let tests
stop a real process at exactly those points, as etcd and TiKV do.
"""

from __future__ import annotations

import os
import signal


def failpoint(name: str) -> None:
    if os.environ.get("MC_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
