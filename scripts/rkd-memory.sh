#!/usr/bin/env bash
# Peak memory of RKD-A (forward + backward) for a 600-image Omniglot episode (D=64) and a
# 480-image miniImageNet one (D=1600): the bounded, block-by-block loss against the direct formula.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-scripts/results/rkd-memory.jsonl}
: > "$out"
for shape in "600 64" "480 1600"; do
  for method in bounded direct; do
    node scripts/rkd-memory.mjs $shape $method ${BACKEND:-wasm} | tee -a "$out"
  done
done
