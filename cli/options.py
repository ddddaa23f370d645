"""Options many commands share, declared once (see cli/params.py): the repository, the shared
remote, the desired-state branch, the signing key and the output format."""

from __future__ import annotations

from cli.output import Output
from cli.params import option

REPO = option(
    "repo",
    "--repo",
    "-C",
    default=".",
    envvar="MC_REPO",
    help="The mission repository, or any directory inside it (default: the current directory; env MC_REPO).",
    show_default=False,
)
REMOTE = option(
    "remote", "--remote", envvar="MC_REMOTE", help="Coordinate through this shared Git remote (env MC_REMOTE)."
)
BRANCH = option(
    "branch",
    "--branch",
    envvar="MC_BRANCH",
    help="The branch holding desired state (env MC_BRANCH; default: `git config mc.branch`, else main).",
    show_default=False,
)
SIGNING_KEY = option(
    "signing_key",
    "--signing-key",
    envvar="MC_SIGNING_KEY",
    help="Sign the commits this process writes with this SSH private key, declared in principals.yaml "
    "for a principal of kind node or reconciler (env MC_SIGNING_KEY).",
    show_default=False,
)
OUTPUT = option("output", "-o", "--output", type=Output, default=Output.table, help="Output format.")
