"""Control: the pure decision step (`decide`), one reconcile pass that reads Git, decides and
writes (`reconcile`), and the long-running service with its leader lease (`service`)
(docs/design.md, "The reconcile pass"). `decide` imports no Git at all.
"""
