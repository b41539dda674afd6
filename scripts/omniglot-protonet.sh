#!/usr/bin/env bash
# ProtoNet on real Omniglot: Conv-4 trained on the Vinyals train split (60-way 5-shot 5-query,
# Adam 1e-3, validated on the val split), then evaluated on the four shipped 1000-episode test
# suites. Re-running resumes an unfinished run from its last checkpoint.
#
#   scripts/omniglot-protonet.sh                 # 1000 training episodes (the README's budget)
#   EPISODES=20000 RUN=runs/omniglot-long scripts/omniglot-protonet.sh
#
# Needs the Omniglot cache: fewshot data omniglot --from DIR_WITH_THE_TWO_ZIPS
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-runs/omniglot-protonet}
EPISODES=${EPISODES:-1000}
BACKEND=${BACKEND:-auto}
RESULTS=${RESULTS:-scripts/results/$(basename "$RUN")}
fewshot() { node dist/src/cli/main.js "$@"; }

if [ -f "$RUN/config.json" ]; then
  fewshot train --resume --out "$RUN" --backend "$BACKEND"
else
  fewshot train --out "$RUN" --backend "$BACKEND" \
    --dataset omniglot --split train --val-suite episodes/omniglot-val-20w1s.json \
    --way 60 --shot 5 --query 5 --episodes "$EPISODES" \
    --validate-every 250 --log-every 50 --seed 0
fi
mkdir -p "$RESULTS"
cp "$RUN/log.jsonl" "$RESULTS/train-log.jsonl"
fewshot eval "$RUN/best" episodes/omniglot-test-{5w1s,5w5s,20w1s,20w5s}.json \
  --backend "$BACKEND" --out "$RESULTS" | tee "$RESULTS/table.txt"
