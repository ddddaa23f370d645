"""The signing oracle: how an agent's commits get the node's signature without the node's key.

An agent run by a mesh node writes its heartbeats, spend, checkpoints, effects and results with
the `mc` CLI, as any agent does. The node's private key never enters its environment; instead
the node serves, for each run, a unix socket in that run's private directory
(`MC_SIGNING_SOCKET`; owner-only). The agent's `mc` sends the commit it is about to write
(`gitstate.signing.OracleSigner`) with its lease token, and the node signs it with its own key
only if:

- the token is the run's lease token (another run's agent cannot use this socket);
- the content is a plain commit (tree, parents, author, committer; no signature of its own);
- its message carries exactly one `MC-Task` and one `MC-Generation` trailer, and they are the
  task and lease generation the node launched that agent with.

Anything else is refused, saying why; the refused `mc` command writes nothing. The oracle lives
as long as the run: once the node reports the attempt's end, the socket is gone.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import re
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reconciler.gitstate.signing import MAX_REQUEST, CommitSigner, SigningFailed, read_line
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.trailers import Trailer

SOCKET_NAME = "sign.sock"
_HEX = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_HEADERS = ("tree", "parent", "author", "committer", "encoding")


def refusal(content: str, key: TaskKey, generation: int) -> str | None:
    """Why a commit `content` is not one the agent of (`key`, `generation`) may have signed; None
    when it is."""
    head, sep, message = content.partition("\n\n")
    if not sep:
        return "not a commit: no message"
    lines = head.split("\n")
    names = [line.split(" ", 1)[0] for line in lines]
    if not lines[0].startswith("tree ") or not _HEX.match(lines[0][5:]):
        return "not a commit: it does not start with its tree"
    unexpected = sorted({n for n in names if n not in _HEADERS})
    if unexpected:
        return f"not a plain commit: header {unexpected[0]!r}"
    if any(line.startswith("parent ") and not _HEX.match(line[7:]) for line in lines):
        return "not a commit: a malformed parent"
    # the trailers as `trailers.parse` reads them: the message's last paragraph
    last = message.rstrip("\n").rsplit("\n\n", 1)[-1]
    found: dict[str, list[str]] = {Trailer.TASK: [], Trailer.GENERATION: []}
    for line in last.splitlines():
        name, sep, value = line.partition(": ")
        if sep and name in found:
            found[name].append(value.strip())
    tasks, generations = found[Trailer.TASK], found[Trailer.GENERATION]
    if len(tasks) != 1 or len(generations) != 1:
        return (
            f"a commit must name exactly one {Trailer.TASK} and one {Trailer.GENERATION} "
            f"(it names {len(tasks)} and {len(generations)})"
        )
    if tasks[0] != key:
        return f"it is a commit of task {tasks[0]}, and this agent was launched for {key}"
    if generations[0] != str(generation):
        return f"it is a commit of generation {generations[0]}, and this agent holds generation {generation} of {key}"
    return None


class SigningOracle:
    """One run's oracle: a unix socket the node serves while the run lives."""

    def __init__(
        self,
        signer: CommitSigner,
        key: TaskKey,
        generation: int,
        secret: str,
        run_dir: Path,
        on_refusal: Callable[[str], None] | None = None,
    ) -> None:
        self.signer, self.key, self.generation, self.secret = signer, key, generation, secret
        self.on_refusal = on_refusal
        # a socket address holds about 100 bytes: a deep run directory gets a private one in /tmp
        self.own_dir: Path | None = None
        if len(str(run_dir / SOCKET_NAME).encode()) > 100:
            self.own_dir = Path(tempfile.mkdtemp(prefix="mc-sign-"))
            run_dir = self.own_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(run_dir, 0o700)  # private: only the node's user reaches the socket
        self.path = run_dir / SOCKET_NAME
        self.signed = self.refused = 0
        self._closed = threading.Event()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.path.unlink(missing_ok=True)
        self._sock.bind(str(self.path))
        os.chmod(self.path, 0o600)
        self._sock.listen(16)
        self._sock.settimeout(0.5)
        self._thread = threading.Thread(target=self._serve, name=f"oracle {key}", daemon=True)
        self._thread.start()

    def answer(self, request: Any) -> dict[str, str]:
        """The reply to one request: {"signature": ...} or {"error": why}."""
        if not isinstance(request, dict) or not isinstance(request.get("content"), str):
            return {"error": "a request is a JSON object with the commit's content"}
        token = request.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), self.secret.encode()):
            return {"error": f"not the lease token of the run of {self.key} this oracle serves"}
        why = refusal(request["content"], self.key, self.generation)
        if why is not None:
            self.refused += 1
            if self.on_refusal is not None:
                self.on_refusal(why)
            return {"error": why}
        try:
            signature = self.signer.sign(request["content"].encode("utf-8"))
        except SigningFailed as exc:
            return {"error": str(exc)}
        self.signed += 1
        return {"signature": signature}

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10.0)
            try:
                reply = self.answer(json.loads(read_line(conn, MAX_REQUEST)))
            except OSError:
                return
            except ValueError as exc:
                reply = {"error": f"a request is one line of JSON, at most {MAX_REQUEST} bytes: {exc}"}
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps(reply).encode() + b"\n")

    def close(self) -> None:
        """Stop serving: the socket is removed; the agent's `mc` can no longer sign."""
        self._closed.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept at once, on Linux
        self._sock.close()
        self.path.unlink(missing_ok=True)
        if self.own_dir is not None:
            shutil.rmtree(self.own_dir, ignore_errors=True)
        self._thread.join(timeout=2)
