#!/usr/bin/env bash
# MissionControl demo. Run it with `make demo`, which sets up .venv and puts .venv/bin first on
# PATH; or by hand from the project root: PATH="$PWD/.venv/bin:$PATH" bash example-missions/demo.sh
#
# For now it validates the two example mission repositories and shows what they declare.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."   # the project root, wherever we were started from
EXAMPLES=(loan-approval code-swarm)

if ! command -v mc >/dev/null 2>&1; then
    echo "demo.sh: 'mc' is not on PATH; run 'make demo', or put .venv/bin first on PATH" >&2
    exit 2
fi
# Tables fit the terminal; when the output is not one (a pipe, CI), give them room to breathe.
if [[ ! -t 1 ]]; then
    export COLUMNS="${COLUMNS:-160}"
fi
if [[ -t 1 ]]; then bold=$'\e[1m' dim=$'\e[2m' off=$'\e[0m'; else bold='' dim='' off=''; fi

section() { printf '\n%s== %s ==%s\n' "$bold" "$*" "$off"; }
run() { printf '\n%s$ %s%s\n' "$dim" "$*" "$off"; "$@"; }

cat <<TEXT
${bold}MissionControl demo${off}
A Git-native control plane for AI agents: missions, klusters, agents, policies and tasks are
YAML manifests in a Git repository. Two example mission repositories (see example-missions/README.md):
  loan-approval  a five-step lending chain with a human review gate before the offer is sent
  code-swarm     a feature split into parallel coding tasks, reviewed, and published with two approvals
TEXT

for example in "${EXAMPLES[@]}"; do
    section "$example: validate, then list what it declares"
    run mc validate "example-missions/$example"
    run mc get missions -C "example-missions/$example"
    run mc get tasks -C "example-missions/$example"
done

section "The approval gate: send-offer waits for a credit officer"
run mc describe task loan-approval/send-offer -C example-missions/loan-approval

printf '\n%sDemo complete.%s\n' "$bold" "$off"
