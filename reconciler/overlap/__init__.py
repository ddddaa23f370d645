"""Overlap checks before a task is created: fuzzy, full-text and vector search over an index of
the repository, and path-scope conflicts (docs/design.md, "Overlap"). Not built yet.
"""
