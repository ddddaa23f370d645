"""MissionControl's control-plane core (docs/design.md, "Module map").

One subpackage per concern, each importing only those below it:

- `vocabulary`: typed values shared by everything (keys, kinds, phases, leases, statuses,
  conditions, trailers, errors); no I/O.
- `manifests`: desired state as people write it: the YAML reader, schemas, loader,
  cross-file checks and findings; reads Git trees, never writes.
- `governance`: which policy rules govern an action on a task.
- `gitstate`: observed state in Git (refs, compare-and-swap, lease chains, the status chain,
  the queue, work branches); the only code that writes Git.
- `control`: the pure decision, the reconcile pass, the service and its leader.
- `agentops`: what an agent does (claim, heartbeat, checkpoint, complete, fail, release);
  called by the `mc` CLI and by mesh nodes.
- `overlap`, `audit`: homes for the overlap checks and the audit trail (not built yet).

`cli` and `mesh` import this package; it imports neither.
"""

__version__ = "0.1.0"
