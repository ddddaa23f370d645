"""Who signed an approval, checked offline against the keys and identities the principals declare.

SSH signatures (`gpg.format ssh`) are checked with `ssh-keygen -Y find-principals` and
`ssh-keygen -Y verify` against an allowed-signers file built from `principals.yaml` (as of the
version the caller chooses), never against the local git configuration or keyring. Sigstore
bundles are checked with sigstore's offline verifier (the trust root shipped in the package)
against each declared identity (issuer and certificate subject); sigstore is imported only here,
when a bundle is checked.
"""

from __future__ import annotations

import logging
import re
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NAMESPACE = "git"
SSH_ARMOR = b"-----BEGIN SSH SIGNATURE-----"
_FINGERPRINT = re.compile(r"key (SHA256:[A-Za-z0-9+/=]+)")


@dataclass(frozen=True, slots=True)
class Signer:
    """The verdict on one signature: the principal whose key made it (and the key's
    fingerprint), or why nobody counts as its signer."""

    principal: str | None
    fingerprint: str = ""
    reason: str = ""


def allowed_signers(keys: Mapping[str, Sequence[str]]) -> str:
    """An allowed-signers file: one line per principal and key (`name namespaces="git" type base64`)."""
    lines = []
    for principal, principal_keys in sorted(keys.items()):
        for key in principal_keys:
            parts = key.split()
            if len(parts) >= 2:
                lines.append(f'{principal} namespaces="{NAMESPACE}" {parts[0]} {parts[1]}')
    return "\n".join(lines) + "\n"


def ssh_signer(signature: bytes | None, signed: bytes, keys: Mapping[str, Sequence[str]]) -> Signer:
    """Which principal's key made `signature` over `signed`, as `ssh-keygen` checks it."""
    if signature is None:
        return Signer(None, reason="unsigned")
    if not signature.lstrip().startswith(SSH_ARMOR):
        return Signer(None, reason="not an SSH signature")
    with tempfile.TemporaryDirectory(prefix="mc-verify-") as tmp:
        allowed, sig = Path(tmp) / "allowed_signers", Path(tmp) / "commit.sig"
        allowed.write_text(allowed_signers(keys), encoding="utf-8")
        sig.write_bytes(signature)
        found = _keygen("-Y", "find-principals", "-s", str(sig), "-f", str(allowed))
        names = found.stdout.decode().split() if found.returncode == 0 else []
        if not names:
            return Signer(None, reason="signed by a key no principal declares")
        for name in names:
            checked = _keygen(
                "-Y", "verify", "-f", str(allowed), "-I", name, "-n", NAMESPACE, "-s", str(sig), data=signed
            )
            if checked.returncode == 0:
                match = _FINGERPRINT.search(checked.stdout.decode() + checked.stderr.decode())
                return Signer(name, match.group(1) if match else "")
        return Signer(None, reason=f"the signature does not verify with {names[0]}'s key (altered after signing?)")


def sigstore_signer(
    bundle: bytes | None, statement: bytes, identities: Mapping[str, Sequence[tuple[str, str]]]
) -> Signer:
    """Which principal's sigstore identity (issuer, subject) signed `statement` with `bundle`,
    verified offline; the fingerprint names the identity."""
    if bundle is None:
        return Signer(None, reason="no sigstore bundle")
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import Bundle
    from sigstore.verify import policy

    try:
        parsed = Bundle.from_json(bundle)
    except (SigstoreError, ValueError) as exc:
        return Signer(None, reason=f"the sigstore bundle cannot be read: {(str(exc).splitlines() or ['?'])[0]}")
    verifier = _verifier()
    declared = False
    for principal, pairs in sorted(identities.items()):
        for issuer, subject in pairs:
            declared = True
            try:
                verifier.verify_artifact(statement, parsed, policy.Identity(identity=subject, issuer=issuer))
            except SigstoreError:
                continue
            return Signer(principal, f"sigstore:{subject}")
    if not declared:
        return Signer(None, reason="no principal declares a sigstore identity")
    return Signer(None, reason="the sigstore bundle does not verify for any identity a principal declares")


_VERIFIER: list[object] = []


def _verifier() -> Any:
    """sigstore's production verifier with its bundled trust root, offline (built once)."""
    if not _VERIFIER:
        from sigstore.verify import Verifier

        logging.getLogger("sigstore").setLevel(logging.ERROR)  # "offline mode" is what we asked for
        _VERIFIER.append(Verifier.production(offline=True))
    return _VERIFIER[0]


def _keygen(*args: str, data: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["ssh-keygen", *args], input=data, capture_output=True, check=False)
