"""What an agent does, in pull mode or under a mesh node: claim a task, renew its lease,
checkpoint, complete, fail or release (docs/design.md, "Agents"). The `mc` CLI and the mesh
call these functions; every report is fenced by the lease generation.
"""
