"""Desired state as people write it: the safe YAML reader, the schemas, typed manifests, the
loader (from a Git tree or a directory), per-file and cross-file checks, and findings that
name file, line, column and field (docs/design.md, "Desired state").

It reads Git trees but never writes Git, and imports nothing of `gitstate` or `control`.
"""
