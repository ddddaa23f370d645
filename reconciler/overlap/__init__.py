"""Overlap checks before a task is created: embeddings, templated-text stripping and identifiers,
channel scores and their combination, and the LanceDB index of the repository (docs/design.md,
"Overlap"). The check itself reads statuses, so it lives in `control.overlap_check`.
"""
