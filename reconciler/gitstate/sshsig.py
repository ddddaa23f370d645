"""The SSHSIG signature format (OpenSSH `PROTOCOL.sshsig`), in process, for Ed25519 keys.

It is what `ssh-keygen -Y sign` writes and what `git verify-commit` checks for `gpg.format ssh`:
an armored blob holding the signer's public key, the namespace (`git` for commits), a hash
algorithm and the signature over

    "SSHSIG" || string(namespace) || string(reserved) || string(hash_algorithm) || string(H(message))

Signing and verifying an Ed25519 signature here costs tens of microseconds; spawning `ssh-keygen`
costs milliseconds. Other key types are left to `ssh-keygen` (the callers fall back to it).
`cryptography` is imported only when a key is used.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from typing import Any, NamedTuple

MAGIC = b"SSHSIG"
VERSION = 1
NAMESPACE = "git"
ED25519 = b"ssh-ed25519"
HASHES = ("sha512", "sha256")
BEGIN = "-----BEGIN SSH SIGNATURE-----"
END = "-----END SSH SIGNATURE-----"
WIDTH = 70  # as ssh-keygen wraps it


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise ValueError("truncated")
        out = self.data[self.at : self.at + n]
        self.at += n
        return out

    def uint32(self) -> int:
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def string(self) -> bytes:
        return self.take(self.uint32())


def signed_data(namespace: str, hash_algorithm: str, message: bytes) -> bytes:
    """What the key actually signs: the message's hash, bound to the namespace."""
    digest = hashlib.new(hash_algorithm, message).digest()
    return MAGIC + _string(namespace.encode()) + _string(b"") + _string(hash_algorithm.encode()) + _string(digest)


def public_blob(key_line: str) -> bytes | None:
    """The wire-format public key of an OpenSSH public key line (`type base64 [comment]`), or
    None when the line is not one."""
    parts = key_line.split()
    if len(parts) < 2:
        return None
    try:
        blob = base64.b64decode(parts[1], validate=True)
        kind = _Reader(blob).string()
    except (ValueError, struct.error):
        return None
    return blob if kind == parts[0].encode() else None


def fingerprint(blob: bytes) -> str:
    """`SHA256:...`, as `ssh-keygen -l` prints it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def armor(blob: bytes) -> str:
    text = base64.b64encode(blob).decode()
    lines = [text[i : i + WIDTH] for i in range(0, len(text), WIDTH)]
    return "\n".join([BEGIN, *lines, END]) + "\n"


def ed25519_public(private: Any) -> bytes:
    """The wire-format public key of an Ed25519 private key (a `cryptography` object)."""
    from cryptography.hazmat.primitives import serialization

    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return _string(ED25519) + _string(raw)


def sign_ed25519(private: Any, message: bytes, namespace: str = NAMESPACE, hash_algorithm: str = "sha512") -> str:
    """An armored SSHSIG signature of `message` by an Ed25519 private key."""
    raw = private.sign(signed_data(namespace, hash_algorithm, message))
    blob = (
        MAGIC
        + struct.pack(">I", VERSION)
        + _string(ed25519_public(private))
        + _string(namespace.encode())
        + _string(b"")
        + _string(hash_algorithm.encode())
        + _string(_string(ED25519) + _string(raw))
    )
    return armor(blob)


class Signature(NamedTuple):
    """An SSHSIG signature, read: who claims to have made it, for what namespace, and how.

    (A NamedTuple: every command that writes imports this module, through `gitstate.signing`,
    and a NamedTuple class costs a fraction of a dataclass to create.)"""

    public: bytes  # the signer's public key, wire format
    key_type: bytes  # such as b"ssh-ed25519"
    namespace: str
    hash_algorithm: str
    algorithm: bytes  # the signature's own algorithm name
    raw: bytes  # the signature proper

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)


def parse(armored: bytes) -> Signature:
    """Read an armored SSHSIG signature; ValueError saying why it is not one."""
    text = armored.decode("ascii", "replace").strip()
    if not text.startswith(BEGIN) or not text.endswith(END):
        raise ValueError("not an SSH signature")
    try:
        blob = base64.b64decode("".join(text[len(BEGIN) : -len(END)].split()), validate=True)
    except ValueError:
        raise ValueError("an SSH signature that is not base64") from None
    reader = _Reader(blob)
    if reader.take(len(MAGIC)) != MAGIC:
        raise ValueError("an SSH signature without the SSHSIG preamble")
    if reader.uint32() != VERSION:
        raise ValueError("an SSH signature of an unknown version")
    public, namespace, _reserved, hash_algorithm, signature = (reader.string() for _ in range(5))
    sig = _Reader(signature)
    algorithm, raw = sig.string(), sig.string()
    key_type = _Reader(public).string()
    hash_name = hash_algorithm.decode("ascii", "replace")
    if hash_name not in HASHES:
        raise ValueError(f"an SSH signature with the unknown hash {hash_name!r}")
    return Signature(public, key_type, namespace.decode("utf-8", "replace"), hash_name, algorithm, raw)


def verify_ed25519(signature: Signature, message: bytes) -> bool:
    """Whether `signature` (parsed) is a valid Ed25519 signature over `message` by the key it names."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if signature.key_type != ED25519 or signature.algorithm != ED25519:
        return False
    try:
        key = _Reader(signature.public)
        key.string()
        public = Ed25519PublicKey.from_public_bytes(key.string())
        public.verify(signature.raw, signed_data(signature.namespace, signature.hash_algorithm, message))
    except (InvalidSignature, ValueError):
        return False
    return True
