"""The vocabulary: typed values every part of MissionControl shares, with no I/O.

Task keys, manifest kinds, task phases and their legal edges, lease and status records as
values, condition types and reasons, commit trailers and identities, time, and the expected
errors. One spelling for each concept lives here (docs/design.md, "Vocabulary").
"""
