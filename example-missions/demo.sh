#!/usr/bin/env bash
# MissionControl demo. Run it with `make demo`, which sets up .venv and puts .venv/bin first on
# PATH; or by hand from the project root: PATH="$PWD/.venv/bin:$PATH" bash example-missions/demo.sh
#
# It validates the two example mission repositories and shows what they declare; then it runs
# loan-approval for real on a temporary copy: the reconciler service, and one agent step in
# pull mode, claimed and completed with `mc` exactly as an agent would.
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

section "Run it: a temporary copy of loan-approval as a Git repository"
work="$(mktemp -d)"
repo="$work/loan-approval"
cp -r example-missions/loan-approval "$repo"
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" -c user.name=demo -c user.email=demo@example.invalid commit -qm "Declare the loan-approval mission"
export MC_REPO="$repo"
echo "mission repository: $repo"

mc reconciler run --log-format text >"$work/reconciler.log" 2>&1 &
reconciler=$!
cleanup() { kill -TERM "$reconciler" 2>/dev/null || true; wait "$reconciler" 2>/dev/null || true; }
trap cleanup EXIT

phase_of() {  # phase_of TASK: the task's phase in refs/mc/status, or "none"
    mc get tasks -o json | python3 -c 'import json,sys; t=sys.argv[1]; print(next((d["status"]["phase"] or "none" for d in json.load(sys.stdin) if d["metadata"]["name"]==t), "none"))' "$1"
}
wait_phase() {  # wait_phase TASK PHASE: until the reconciler has moved it there (at most 20 s)
    for _ in $(seq 200); do [[ "$(phase_of "$1")" == "$2" ]] && return 0; sleep 0.1; done
    echo "demo.sh: $1 did not reach $2; reconciler log:" >&2; cat "$work/reconciler.log" >&2; return 1
}
wait_phase parse-documents Queued
echo "the reconciler queued the first step (no dependencies)"

section "An agent claims the first step, works in a worktree of its branch, checkpoints and completes"
printf '\n%s$ mc claim --agent doc-parser --ttl 300 -o env%s\n' "$dim" "$off"
mc claim --agent doc-parser --ttl 300 -o env | tee "$work/lease.env"
source "$work/lease.env"   # MC_MISSION, MC_TASK, MC_AGENT_ID, MC_LEASE_GENERATION, MC_WORK_BRANCH
run mc heartbeat "$MC_MISSION/$MC_TASK"
run git -C "$repo" worktree add -q "$work/worktree" "$MC_WORK_BRANCH"
(cd "$work/worktree" && MC_INPUTS='{"applicationId": "app-001"}' MC_OUTPUTS="$work/outputs.json" \
    python3 agents-bin/parse_documents.py)
run mc checkpoint "$MC_MISSION/$MC_TASK" --message "Parsed app-001" --worktree "$work/worktree"
run mc complete "$MC_MISSION/$MC_TASK" --outputs "$work/outputs.json" --worktree "$work/worktree"
wait_phase check-eligibility Queued
echo "parse-documents succeeded, so the reconciler queued check-eligibility"

section "Where things stand"
run mc get tasks
run mc get leases
run git -C "$repo" log --oneline refs/mc/status
run git -C "$repo" log --format='%h %s' refs/heads/mc/work/loan-approval/parse-documents -3

section "The reconciler's log"
cleanup
trap - EXIT
cat "$work/reconciler.log"
rm -rf "$work"

printf '\n%sDemo complete.%s\n' "$bold" "$off"
