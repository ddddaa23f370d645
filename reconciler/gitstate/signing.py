"""Who signs the commits MissionControl writes: a node's or a reconciler's own SSH key.

A process is configured with at most one signer (`configure`), and `commits.write_commit` signs
every commit it writes with it (unsigned when none is configured). Three kinds:

- `KeySigner`: an Ed25519 private key, signing in process (SSHSIG, `gitstate.sshsig`);
- `KeygenSigner`: any other key type `ssh-keygen` can use unattended (`ssh-keygen -Y sign -n git`);
- `OracleSigner`: an agent run by a mesh node, which never holds the node's key: it sends the
  commit it is about to write to its node's signing oracle (a unix socket in its private run
  directory, `MC_SIGNING_SOCKET`), presenting its lease token; the node signs only commits of the
  task and lease generation it launched that agent with (`mesh/signing.py`).

The namespace is always `git`, so `git verify-commit` (with `gpg.format ssh`) accepts the
signatures; `mc audit verify` checks them against the node and reconciler principals.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Protocol

from reconciler.gitstate.sshsig import NAMESPACE, ed25519_public, fingerprint, public_blob, sign_ed25519
from reconciler.vocabulary.errors import McError, UsageError

KEY_ENV = "MC_SIGNING_KEY"  # a private key: the node's or the reconciler's
SOCKET_ENV = "MC_SIGNING_SOCKET"  # an agent's: its node's signing oracle
MAX_REQUEST = 4 * 1024 * 1024  # bytes of one request to an oracle (a commit's headers and message)
ORACLE_TIMEOUT = 30.0


class SigningFailed(McError):
    """A commit could not be signed (the oracle refused, or the key failed): nothing was written."""

    code = "signing_failed"


class CommitSigner(Protocol):
    """Signs commit content (the commit object without its signature header)."""

    @property
    def describe(self) -> str: ...

    def sign(self, content: bytes) -> str: ...


class KeySigner:
    """An Ed25519 private key, signing in process."""

    def __init__(self, path: Path, private: object) -> None:
        self.path, self.private = path, private
        self.public = ed25519_public(private)

    @property
    def describe(self) -> str:
        return f"{self.path} ({fingerprint(self.public)})"

    def sign(self, content: bytes) -> str:
        return sign_ed25519(self.private, content, NAMESPACE)


class KeygenSigner:
    """Any key `ssh-keygen` can sign with unattended (RSA, ECDSA ...): `ssh-keygen -Y sign -n git`."""

    def __init__(self, path: Path, public: str) -> None:
        self.path, self.public_line = path, public
        blob = public_blob(public)
        self.public = blob or b""

    @property
    def describe(self) -> str:
        return f"{self.path} ({fingerprint(self.public)})" if self.public else str(self.path)

    def sign(self, content: bytes) -> str:
        import subprocess  # here: every command imports this module, few sign with ssh-keygen

        proc = subprocess.run(
            ["ssh-keygen", "-q", "-Y", "sign", "-n", NAMESPACE, "-f", str(self.path)],
            input=content,
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0 or not proc.stdout.strip():
            detail = " ".join(proc.stderr.decode(errors="replace").split()) or f"exit status {proc.returncode}"
            raise SigningFailed(f"ssh-keygen cannot sign with {self.path}: {detail}")
        return proc.stdout.decode()


class OracleSigner:
    """An agent's signer: its node's signing oracle, on a unix socket."""

    def __init__(self, path: Path, token: str) -> None:
        self.path, self.token = path, token

    @property
    def describe(self) -> str:
        return f"the node's signing oracle at {self.path}"

    def sign(self, content: bytes) -> str:
        request = json.dumps({"token": self.token, "content": content.decode("utf-8")}).encode() + b"\n"
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(ORACLE_TIMEOUT)
                conn.connect(str(self.path))
                conn.sendall(request)
                conn.shutdown(socket.SHUT_WR)
                reply = read_line(conn)
        except OSError as exc:
            raise SigningFailed(
                f"cannot reach the node's signing oracle ({SOCKET_ENV}={self.path}): {exc.strerror or exc}; "
                "nothing was written"
            ) from None
        try:
            answer = json.loads(reply)
        except ValueError:
            raise SigningFailed(
                f"the node's signing oracle at {self.path} answered garbage; nothing was written"
            ) from None
        if not isinstance(answer, dict) or not isinstance(answer.get("signature"), str):
            why = answer.get("error") if isinstance(answer, dict) else None
            raise SigningFailed(f"the node refused to sign: {why or 'no reason given'}; nothing was written")
        return str(answer["signature"])


def read_line(conn: socket.socket, limit: int = MAX_REQUEST) -> bytes:
    """One newline-terminated message (or everything until the peer stops sending), at most `limit` bytes."""
    chunks, size = [], 0
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise ValueError(f"a message over {limit} bytes")
        if chunk.endswith(b"\n"):
            break
    return b"".join(chunks)


def load_signer(path: Path, option: str = "--signing-key") -> CommitSigner:
    """The signer for the private key at `path`, proved able to sign; UsageError saying why not
    (missing, a public key, protected by a passphrase, a key ssh-keygen cannot use)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot read it ({exc.strerror})") from None
    if b"PRIVATE KEY-----" not in data:
        hint = (
            " (that is a public key: pass the private key beside it)"
            if public_blob(data.decode("utf-8", "replace"))
            else ""
        )
        raise UsageError(f"{option} {path} is not an SSH private key{hint}")
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_ssh_private_key

    try:
        private = load_ssh_private_key(data, password=None)
    except TypeError:  # "Key is password-protected"
        raise UsageError(
            f"{option} {path} is protected by a passphrase: nodes and reconcilers sign unattended, so give "
            "them a key of their own without one (ssh-keygen -t ed25519 -N '' -f KEY)"
        ) from None
    except (ValueError, UnsupportedAlgorithm):  # a type cryptography does not read: let ssh-keygen try
        private = None
    if isinstance(private, Ed25519PrivateKey):
        return KeySigner(path, private)
    return _keygen_signer(path, option)


def _keygen_signer(path: Path, option: str) -> KeygenSigner:
    import subprocess

    public = subprocess.run(
        ["ssh-keygen", "-y", "-P", "", "-f", str(path)], capture_output=True, text=True, check=False
    )
    if public.returncode != 0:
        detail = " ".join(public.stderr.split()) or "ssh-keygen cannot read it"
        raise UsageError(f"{option} {path} cannot sign: {detail}")
    signer = KeygenSigner(path, public.stdout.strip())
    try:
        signer.sign(b"MissionControl signing probe\n")
    except SigningFailed as exc:
        raise UsageError(f"{option} {path} cannot sign: {exc}") from None
    return signer


_SIGNER: list[CommitSigner | None] = [None]


def configure(signer: CommitSigner | None) -> None:
    """Sign every commit this process writes from now on with `signer` (None: unsigned)."""
    _SIGNER[0] = signer


def configured() -> CommitSigner | None:
    return _SIGNER[0]
