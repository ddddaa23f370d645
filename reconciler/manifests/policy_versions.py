"""A policy whose rules or state change must get a new `spec.version`: approvals name a policy as
`name@version`, so rules changed under the same version would let approvals made under the old
rules count under the new ones. `mc validate --base REV` checks every policy the change edits."""

from __future__ import annotations

import pygit2

from reconciler.manifests.findings import Finding
from reconciler.manifests.layout import classify
from reconciler.manifests.loader import Snapshot
from reconciler.manifests.manifest_file import read_manifest
from reconciler.manifests.model import Policy
from reconciler.vocabulary.kinds import Kind


def policy_version_findings(repo: pygit2.Repository, base: pygit2.Tree, snapshot: Snapshot) -> list[Finding]:
    out: list[Finding] = []
    for mf in snapshot.manifests():
        location = classify(mf.path)
        if location is None or location.kind is not Kind.POLICY or not isinstance(mf.obj, Policy):
            continue
        try:
            entry = base[mf.path]
        except KeyError:
            continue  # a new policy
        if str(entry.id) == mf.oid:
            continue
        before = read_manifest(mf.path, str(entry.id), entry.peel(pygit2.Blob).data, location).obj
        if not isinstance(before, Policy):
            continue
        now = mf.obj
        if (now.rules, now.state) != (before.rules, before.state) and now.version <= before.version:
            out.append(
                mf.finding(
                    ("spec", "version"),
                    f"the rules or state changed since the base, but the version is still {now.version} "
                    f"(was {before.version}): raise it, since approvals name {now.meta.name}@{now.version}",
                    "policy-version",
                )
            )
    return out
