#!/usr/bin/env bash
# The small synthetic sweep behind the README's sweep table: a width-16 ProtoNet teacher, then
# scripts/sweeps/synthetic-small.json (ProtoNet vs RKD-DA, widths 8 and 16, seeds 1-3) run as two
# shards one after the other (as two machines would run them), merged, and reported (tables and
# plots). Re-running resumes: finished points are skipped, an unfinished one continues.
#
#   scripts/sweep-synthetic.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BACKEND=${BACKEND:-auto}
RESULTS=${RESULTS:-scripts/results/sweep-synthetic}
TEACHER=runs/sweeps/synthetic-teacher
fewshot() { node dist/src/cli/main.js "$@"; }

if [ -f "$TEACHER/config.json" ]; then fewshot train --resume --out "$TEACHER" --backend "$BACKEND"
else
  fewshot train --out "$TEACHER" --backend "$BACKEND" --dataset synthetic --split train \
    --val-suite episodes/synthetic-val-5w1s.json --way 10 --shot 5 --query 5 --width 16 --episodes 100 \
    --validate-every 20 --log-every 10 --seed 0
fi
mkdir -p "$RESULTS"
for i in 0 1; do
  fewshot sweep scripts/sweeps/synthetic-small.json --shard "$i/2" --out "$RESULTS/shard-$i.csv" --backend "$BACKEND"
done
fewshot sweep merge "$RESULTS/shard-0.csv" "$RESULTS/shard-1.csv" --out "$RESULTS/sweep.csv"
fewshot report "$RESULTS/sweep.csv" --out "$RESULTS" | tee "$RESULTS/table.txt"
