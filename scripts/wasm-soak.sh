#!/usr/bin/env bash
# A soak test of 84x84x3 training on the wasm backend (miniImageNet-sized episodes): colour glyph
# JPEGs (scripts/make-colour-glyphs.mjs) imported as a folder dataset, then EPISODES training steps
# of WAY-way SHOT-shot QUERY-query, logging process RSS and live tensors every 25 episodes.
#
#   scripts/wasm-soak.sh                       # 5-way 5-shot 15-query, 300 episodes
#   WAY=20 EPISODES=100 scripts/wasm-soak.sh   # 400-image episodes
set -euo pipefail
cd "$(dirname "$0")/.."
WAY=${WAY:-5}; SHOT=${SHOT:-5}; QUERY=${QUERY:-15}; EPISODES=${EPISODES:-300}
BACKEND=${BACKEND:-wasm}
WORK=${WORK:-$(mktemp -d)}
RESULTS=${RESULTS:-scripts/results/wasm-soak}
name="${WAY}w${SHOT}s${QUERY}q"
fewshot() { node dist/src/cli/main.js "$@"; }

[ -d "$WORK/glyphs" ] || node scripts/make-colour-glyphs.mjs "$WORK/glyphs" "$((WAY > 20 ? WAY : 20))" "$((SHOT + QUERY + 5))"
[ -d "$WORK/cache" ] || fewshot data folder --from "$WORK/glyphs" --out "$WORK/cache" --size 84 --channels 3
mkdir -p "$RESULTS"
fewshot train --dataset folder --data "$WORK/cache" --split train --way "$WAY" --shot "$SHOT" --query "$QUERY" \
  --episodes "$EPISODES" --log-every "$((EPISODES < 25 ? EPISODES : 25))" --validate-every "$EPISODES" --backend "$BACKEND" --json --out "$WORK/run-$name-$EPISODES" \
  > "$RESULTS/$name.log.jsonl"
echo "log in $RESULTS/$name.log.jsonl"
