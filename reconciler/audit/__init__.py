"""The audit trail: the chain of custody of a task read back from Git, and its re-verification
(docs/design.md, "Audit"). Not built yet; it will read commits through
`reconciler.vocabulary.trailers`.
"""
