#!/usr/bin/env bash
# ProtoNet on miniImageNet, Snell et al. 2017's recipe: Conv-4 on 84x84x3 trained on the Ravi train
# split with 30-way 1-shot (SHOT=1) or 20-way 5-shot (SHOT=5, the default) episodes of 15 queries,
# Adam 1e-3 halved every 2000 episodes, validated on the 5-way 5-shot val suite (the best model
# kept), then evaluated on both 600-episode test suites. Re-running resumes an unfinished run.
#
#   scripts/miniimagenet-protonet.sh                       # 20-way 5-shot, 1000 training episodes
#   SHOT=1 EPISODES=20000 scripts/miniimagenet-protonet.sh # 30-way 1-shot, longer
#
# Needs the miniImageNet cache: fewshot data miniimagenet --from DIR (see `fewshot data download
# miniimagenet`); DATA=dir if it is not in the default place. WAY, QUERY, WIDTH, VAL_SUITE and
# TEST_SUITES override the recipe (for smoke tests on small fixtures). The recipe's episodes (400 or
# 480 images of 84x84x3) need 12-14 GiB to train at width 64: the tensorflow backend (tfjs-node);
# wasm's heap stops at 4 GiB, about 135 images (the script says so before it starts).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/miniimagenet-settings.sh
RUN=${RUN:-runs/miniimagenet-protonet-${SHOT}shot}
RESULTS=${RESULTS:-scripts/results/$(basename "$RUN")}

if [ -f "$RUN/config.json" ]; then
  fewshot train --resume --out "$RUN" --backend "$BACKEND"
else
  fewshot train --out "$RUN" --backend "$BACKEND" "${data[@]}" \
    --dataset miniimagenet --split train --val-suite "$VAL_SUITE" \
    --way "$WAY" --shot "$SHOT" --query "$QUERY" --width "$WIDTH" --episodes "$EPISODES" \
    --validate-every "$VALIDATE_EVERY" --log-every "$LOG_EVERY" --seed 0
fi
mkdir -p "$RESULTS"
cp "$RUN/log.jsonl" "$RESULTS/train-log.jsonl"
fewshot eval "$RUN/best" "${SUITES[@]}" "${data[@]}" --backend "$BACKEND" --out "$RESULTS" | tee "$RESULTS/table.txt"
