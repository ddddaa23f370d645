"""The agent commands, declared once: `mc claim`, `heartbeat`, `usage`, `checkpoint`, `complete`,
`fail`, `release`, `effect check` and `effect record`.

Agents call them in loops. The typer commands (cli/agent_cmd.py, cli/effect_cmd.py) are built
from these tables, and so is the fast path of the `mc` entry point (cli/entry.py), which parses
them without importing typer. Their implementations are cli/agent_run.py and cli/effect_run.py."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cli.options import BRANCH, OUTPUT, REMOTE, REPO
from cli.output import ClaimOutput
from cli.params import REQUIRED, Command, Param, argument, option
from reconciler.vocabulary.leases import MAX_TTL

GENERATION = option(
    "generation",
    "--generation",
    "-g",
    type=int,
    default=REQUIRED,
    envvar="MC_LEASE_GENERATION",
    min=1,
    help="The lease generation you hold (env MC_LEASE_GENERATION).",
)
LEASE_TOKEN = option(
    "token",
    "--lease-token",
    envvar="MC_LEASE_TOKEN",
    help="The lease secret `mc claim` returned: only the holder may report. Prefer the environment "
    "(MC_LEASE_TOKEN): other users can read command lines in `ps`.",
    show_default=False,
)
AGENT = option(
    "agent",
    "--agent",
    envvar="MC_AGENT_ID",
    help="Your agent id; checked against the lease's holder (env MC_AGENT_ID).",
)
HELD = (GENERATION, LEASE_TOKEN, AGENT)  # what every report presents: the lease it holds

TASK = argument("task", help="MISSION/TASK, or TASK.")
MISSION = option(
    "mission",
    "--mission",
    "-m",
    envvar="MC_MISSION",
    help="The task's mission, if TASK has no MISSION/ prefix (env MC_MISSION).",
)
WHERE = (OUTPUT, REPO, REMOTE)


def worktree(what: str) -> Param:
    return option(
        "worktree",
        "--worktree",
        type=Path,
        help=f"A checkout of the task's work branch (`git worktree add DIR mc/work/MISSION/TASK`) whose changes {what}.",
    )


CLAIM = Command(
    ("claim",),
    "Take the next ready task (highest priority, then oldest) by compare-and-swap. Exit 3 if none.",
    (
        option("mission", "-m", "--mission", envvar="MC_MISSION", help="Only tasks of this mission (env MC_MISSION)."),
        option(
            "agent", "--agent", envvar="MC_AGENT_ID", help="Your agent id, or a unique agent name (env MC_AGENT_ID)."
        ),
        option(
            "ttl",
            "--ttl",
            type=float,
            default=60.0,
            min=1.0,
            max=MAX_TTL,
            help="Lease length in seconds (at most a week); renew with `mc heartbeat` before it runs out.",
        ),
        option("node", "--node", envvar="MC_NODE", help="The node you run on, if any."),
        option(
            "output",
            "-o",
            "--output",
            type=ClaimOutput,
            default=ClaimOutput.table,
            help='Output format; env prints `export` lines for a shell: eval "$(mc claim ... -o env)".',
        ),
        REPO,
        REMOTE,
        BRANCH,
    ),
    "cli.agent_run:claim",
)

HEARTBEAT = Command(
    ("heartbeat",),
    "Renew your lease. Refused if your generation is stale.",
    (TASK, *HELD, MISSION, *WHERE),
    "cli.agent_run:heartbeat",
)

USAGE = Command(
    ("usage",),
    "Report spend: add TOKENS and COST to your attempt's total (it also renews the lease).\n\n"
    "Going over the agent's budget (spec.budget.tokens, costUsd) records the spend and fails the attempt: "
    "exit 4, stop working.",
    (
        argument("task", envvar="MC_TASK", help="MISSION/TASK, or TASK (env MC_TASK)."),
        option("tokens", "--tokens", type=int, default=0, min=0, help="Model tokens this step used."),
        option("cost", "--cost", type=float, default=0.0, min=0.0, help="What this step cost, in US dollars."),
        *HELD,
        MISSION,
        *WHERE,
    ),
    "cli.agent_run:usage",
)

CHECKPOINT = Command(
    ("checkpoint",),
    "Commit progress on the task's work branch, with trailers naming task, agent and generation.",
    (
        TASK,
        option("message", "--message", default=REQUIRED, help="What this checkpoint holds."),
        *HELD,
        worktree("the checkpoint records (default: none)"),
        MISSION,
        *WHERE,
    ),
    "cli.agent_run:checkpoint",
)

COMPLETE = Command(
    ("complete",),
    "Report success. Outputs are checked against the task's output schema; invalid ones are refused.",
    (
        TASK,
        option("outputs", "--outputs", help="A JSON file (or - for stdin) with the typed result."),
        *HELD,
        worktree("the result records"),
        MISSION,
        *WHERE,
    ),
    "cli.agent_run:complete",
)

FAIL = Command(
    ("fail",),
    "Report failure: the task is retried with backoff while attempts remain.",
    (TASK, option("reason", "--reason", default=REQUIRED, help="Why the attempt failed."), *HELD, MISSION, *WHERE),
    "cli.agent_run:fail",
)

RELEASE = Command(
    ("release",),
    "Give the task back without using up an attempt.",
    (TASK, *HELD, option("reason", "--reason", default="", help="Why you give it back."), MISSION, *WHERE),
    "cli.agent_run:release",
)

# `mc effect`: the task is an option (MC_TASK), the effect's key the argument.
EFFECT_TASK = option("task", "--task", envvar="MC_TASK", help="MISSION/TASK, or TASK with MC_MISSION (env MC_TASK).")
EFFECT_MISSION = option("mission", "--mission", "-m", envvar="MC_MISSION", help="The task's mission (env MC_MISSION).")

EFFECT_CHECK = Command(
    ("effect", "check"),
    "Whether KEY is recorded, and its result: if it is, do not carry the effect out again.",
    (
        argument("key", help="The effect's idempotency key (derive it from MC_IDEMPOTENCY_KEY)."),
        EFFECT_TASK,
        EFFECT_MISSION,
        *HELD,
        *WHERE,
    ),
    "cli.effect_run:check",
)

EFFECT_RECORD = Command(
    ("effect", "record"),
    "Record that the effect KEY was carried out, with its result (idempotent).",
    (
        argument("key", help="The effect's idempotency key."),
        option("result", "--result", default="null", help="The effect's result, as JSON."),
        EFFECT_TASK,
        EFFECT_MISSION,
        *HELD,
        *WHERE,
    ),
    "cli.effect_run:record",
)

AGENT_COMMANDS = (CLAIM, HEARTBEAT, USAGE, CHECKPOINT, COMPLETE, FAIL, RELEASE, EFFECT_CHECK, EFFECT_RECORD)
HELP_FLAGS = frozenset({"-h", "--help"})


def agent_command(args: Sequence[str]) -> Command | None:
    """The agent command `args` (what follows `mc`) call, unless they ask for help anywhere."""
    if HELP_FLAGS.intersection(args):
        return None
    return next((c for c in AGENT_COMMANDS if tuple(args[: len(c.path)]) == c.path), None)
