"""Governance: which policy rules govern an action on a task (`rules`). Approvals, signature
verification and publication will live here (docs/design.md, "Governance").
"""
