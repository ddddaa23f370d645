"""Observed state in Git, and the only code that writes Git (docs/design.md, "Observed state").

Ref names and compare-and-swap transactions (`refs`), the local or remote authority
(`store`), lease chains (`leases`), the status chain (`status`), the claim queue (`queue`),
work branches (`work`), and the first commit of a new mission repository (`bootstrap`).
"""
