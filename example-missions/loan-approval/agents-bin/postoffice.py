"""A stand-in for the bank's mail service (not an agent): it honours idempotency keys the way
payment and messaging APIs do (Stripe's `Idempotency-Key`, for one).

`send(key, to, body)` delivers a letter and returns its message id; a second call with the same
key delivers nothing and returns the first call's id. That is the receiver's half of the
exactly-once contract: the caller sends its key with every attempt, so a crash between the call
and recording its result can only lead to a repeated call, which the receiver absorbs.

The mail lives in a directory outside any repository, named by `LOAN_POST_OFFICE` (the demo
creates one): `messages.jsonl` holds one line per delivered letter. A file `fail-after-send` in
that directory makes the next accepted letter kill its caller right after delivery (before it can
record anything), once: how the tests and the demo reproduce the double-send incident.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import time
from pathlib import Path


class PostOfficeError(Exception):
    """The post office cannot be used (not configured)."""


def root() -> Path:
    where = os.environ.get("LOAN_POST_OFFICE", "")
    if not where:
        raise PostOfficeError("LOAN_POST_OFFICE is not set: the directory where the post office keeps its mail")
    path = Path(where)
    path.mkdir(parents=True, exist_ok=True)
    return path


def delivered(where: Path) -> list[dict[str, str]]:
    mailbox = where / "messages.jsonl"
    if not mailbox.exists():
        return []
    return [json.loads(line) for line in mailbox.read_text(encoding="utf-8").splitlines() if line.strip()]


def send(key: str, to: str, body: str) -> tuple[str, bool]:
    """Deliver `body` to `to` under idempotency key `key`: (message id, whether it was sent now)."""
    where = root()
    with (where / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one delivery at a time: the key check and the append
        sent = delivered(where)
        for message in sent:
            if message["key"] == key:
                return message["id"], False
        message_id = f"msg-{len(sent) + 1}"
        record = {"id": message_id, "key": key, "to": to, "at": f"{time.time():.3f}", "body": body}
        with (where / "messages.jsonl").open("a", encoding="utf-8") as mailbox:
            mailbox.write(json.dumps(record, sort_keys=True) + "\n")
            mailbox.flush()
            os.fsync(mailbox.fileno())
    fault = where / "fail-after-send"
    if fault.exists():
        fault.unlink()
        os.kill(os.getpid(), signal.SIGKILL)  # the letter is out; the caller never learns its id
    return message_id, True
