"""Read one manifest file: YAML, schema, location, per-file semantics, typed object."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reconciler.manifests.findings import FieldPath, Finding, FindingError, format_field_path
from reconciler.manifests.globs import GlobError, check_glob
from reconciler.manifests.layout import Location
from reconciler.manifests.model import Manifest, build
from reconciler.manifests.schema_check import check_output_schema, check_schema
from reconciler.manifests.yamldoc import YamlDoc, read_yaml
from reconciler.vocabulary.keys import DNS_LABEL, DNS_RULE
from reconciler.vocabulary.kinds import Kind


@dataclass(slots=True)
class ManifestFile:
    """One file as read: its blob id, the parsed document, findings, and the object if valid."""

    path: str
    oid: str
    location: Location
    doc: YamlDoc | None = None
    obj: Manifest | None = None
    findings: list[Finding] = field(default_factory=list)

    def declared_name(self) -> str:
        """The name this file declares: `metadata.name` if it can be read, else the file's stem.

        A file that fails its own checks still declares a name, so that other manifests that
        refer to it are not reported again as naming an unknown object."""
        data = self.doc.data if self.doc is not None else None
        meta = data.get("metadata") if isinstance(data, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        return name if isinstance(name, str) else self.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]

    def finding(
        self, path: FieldPath, message: str, rule: str, *, key: bool = False, severity: str = "error"
    ) -> Finding:
        line, column = self.doc.position(path, key=key) if self.doc else (1, 1)
        return Finding(self.path, line, column, format_field_path(path), message, rule, severity)


def _glob_fields(kind: str, data: dict[str, Any]) -> list[tuple[FieldPath, str]]:
    spec = data.get("spec", {})
    out: list[tuple[FieldPath, str]] = []
    if kind == Kind.TASK:
        out += [(("spec", "paths", i), g) for i, g in enumerate(spec.get("paths", ()))]
    elif kind == Kind.AGENT:
        paths = spec.get("permissions", {}).get("paths", ())
        out += [(("spec", "permissions", "paths", i), g) for i, g in enumerate(paths)]
    elif kind == Kind.POLICY:
        for r, rule in enumerate(spec.get("rules", ())):
            paths = rule.get("match", {}).get("paths", ())
            out += [(("spec", "rules", r, "match", "paths", i), g) for i, g in enumerate(paths)]
    return out


def _semantic_findings(mf: ManifestFile, data: dict[str, Any]) -> list[Finding]:
    kind, found = mf.location.kind, []
    mission = mf.location.mission
    if mission is not None and not DNS_LABEL.match(mission):
        # a mission's name becomes part of ref names (refs/mc/leases/<xx>/<mission>_<task>)
        found.append(
            Finding(mf.path, 1, 1, "", f"mission directory {mission!r} is not a DNS label: {DNS_RULE}", "layout")
        )
    for where, pattern in _glob_fields(kind, data):
        try:
            check_glob(pattern)
        except GlobError as exc:
            found.append(mf.finding(where, f"invalid glob {pattern!r}: {exc}", "glob"))
    if kind == Kind.TASK and "outputs" in data["spec"] and mf.doc is not None:
        found += check_output_schema(mf.doc, mf.path, ("spec", "outputs", "schema"))
    if kind == Kind.MISSION and data["metadata"]["name"] != mf.location.mission:
        found.append(
            mf.finding(
                ("metadata", "name"),
                f"mission name {data['metadata']['name']!r} must equal its directory name {mf.location.mission!r}",
                "layout",
            )
        )
    return found


def read_manifest(path: str, oid: str, data: bytes, location: Location) -> ManifestFile:
    """Parse and check one file; never raises for bad content."""
    mf = ManifestFile(path, oid, location)
    try:
        mf.doc = read_yaml(data, path)
    except FindingError as exc:
        mf.findings.append(exc.finding)
        return mf
    if not isinstance(mf.doc.data, dict):
        what = "a list" if isinstance(mf.doc.data, list) else f"a scalar ({mf.doc.data!r:.40})"
        mf.findings.append(
            mf.finding((), f"expected a manifest mapping (apiVersion, kind, metadata, spec), got {what}", "schema")
        )
        return mf
    mf.findings = check_schema(mf.doc, path, location.kind)
    if mf.findings:
        return mf
    mf.findings = _semantic_findings(mf, mf.doc.data)
    if not mf.findings:
        mf.obj = build(location.kind, mf.doc.data, location.mission, path)
    return mf
