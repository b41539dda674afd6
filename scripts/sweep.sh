#!/usr/bin/env bash
# One sweep spec, one command: every point trained (or distilled) and evaluated, then the report
# (Markdown tables, accuracy and training-curve plots) beside the CSV. Re-running resumes.
#
#   scripts/sweep.sh scripts/sweeps/omniglot-rkd.json      # ProtoNet vs RKD-D vs RKD-DA, 3 seeds
#   scripts/sweep.sh scripts/sweeps/student-widths.json    # RKD-DA students of width 16, 32, 64
#
# The Omniglot specs need the Omniglot cache (fewshot data omniglot --from DIR) and the teacher of
# scripts/omniglot-protonet.sh (runs/omniglot-protonet/best). On a cluster, run shards instead
# (README, "Sweeps").
set -euo pipefail
cd "$(dirname "$0")/.."
SPEC=${1:?usage: scripts/sweep.sh SPEC.json}
BACKEND=${BACKEND:-auto}
RESULTS=${RESULTS:-scripts/results/sweep-$(basename "$SPEC" .json)}
fewshot() { node dist/src/cli/main.js "$@"; }

mkdir -p "$RESULTS"
fewshot sweep "$SPEC" --out "$RESULTS/sweep.csv" --backend "$BACKEND"
fewshot report "$RESULTS/sweep.csv" --out "$RESULTS" | tee "$RESULTS/table.txt"
