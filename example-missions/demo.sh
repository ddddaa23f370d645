#!/usr/bin/env bash
# MissionControl demo. Run it with `make demo`, which sets up .venv and puts .venv/bin first on
# PATH; or by hand from the project root: PATH="$PWD/.venv/bin:$PATH" bash example-missions/demo.sh
#
# It validates the two example mission repositories and shows what they declare; then it runs
# each for real on a temporary copy (example-missions/run_mesh.py): `mc reconciler run` and two
# `mc-mesh run` nodes, which run the agents until the mission waits at its approval gate.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."   # the project root, wherever we were started from
EXAMPLES=(loan-approval code-swarm)

if ! command -v mc >/dev/null 2>&1; then
    echo "demo.sh: 'mc' is not on PATH; run 'make demo', or put .venv/bin first on PATH" >&2
    exit 2
fi
if [[ -t 1 ]]; then bold=$'\e[1m' dim=$'\e[2m' off=$'\e[0m'; else bold='' dim='' off=''; fi

section() { printf '\n%s== %s ==%s\n' "$bold" "$*" "$off"; }
run() { printf '\n%s$ %s%s\n' "$dim" "$*" "$off"; "$@"; }

cat <<TEXT
${bold}MissionControl demo${off}
A Git-native control plane for AI agents: missions, klusters, agents, policies and tasks are
YAML manifests in a Git repository. Two example mission repositories (see example-missions/README.md):
  loan-approval  a lending chain with a human review gate before the offer is sent
  code-swarm     a feature split into parallel coding tasks, reviewed, and published with two approvals
TEXT

for example in "${EXAMPLES[@]}"; do
    section "$example: validate, then list what it declares"
    run mc validate "example-missions/$example"
    run mc get missions -C "example-missions/$example"
    run mc get tasks -C "example-missions/$example"
done

section "The approval gate: draft-offer waits for a credit officer; send-offer needs it"
run mc describe task loan-approval/draft-offer -C example-missions/loan-approval

section "Run loan-approval: a reconciler and two mesh nodes run the agents; a credit officer signs the approval"
echo "Each step runs as a real process in its own worktree, on whichever node claims it first."
echo "At the review gate, alice (a credit officer) approves with an SSH key the demo generates for her;"
echo "only then does send-offer post the letter, exactly once."
run python3 example-missions/run_mesh.py example-missions/loan-approval --approve alice --keep

section "Run code-swarm: three coders in parallel on disjoint paths, a review, then the publish gate"
run python3 example-missions/run_mesh.py example-missions/code-swarm --keep

printf '\n%sDemo complete.%s\n' "$bold" "$off"
