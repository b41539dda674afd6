#!/usr/bin/env bash
# CIFAR-FS and FC100, 1-shot and 5-shot: a Conv-4 ProtoNet teacher by each recipe
# (protonet-<dataset>-<shot>shot), evaluated on its frozen test suite, then the student grid of
# scripts/sweeps/<dataset>-<shot>shot-rkd.json (same-budget baseline, RKD-D and RKD-DA, five training
# seeds) with `fewshot sweep`. Two lanes, one core each: teachers two at a time, then both lanes work
# on each sweep together (the sweep's workers never train a point twice). Everything lives under the
# cache root (runs/cifar/); re-running the script resumes every unfinished run from its checkpoint.
# Results (teacher evaluations, logs and training curves, the sweep CSVs, per-episode files and
# reports, whose curves.png draws every student's training) go to RESULTS.
#
#   CIFAR100=path/to/cifar-100-binary.tar.gz scripts/cifar-rkd.sh    # nohup ... & for the background
#   CODE=DIR runs another built checkout (a snapshot kept for resumes); ONLY="cifar-fs-1" one pipeline
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CODE=${CODE:-$ROOT}
CACHE=${FEWSHOT_CACHE:-$HOME/.cache/fewshot-rkd}
RESULTS=${RESULTS:-$ROOT/scripts/results/cifar-rkd}
ONLY=${ONLY:-cifar-fs-1 cifar-fs-5 fc100-1 fc100-5}
export FEWSHOT_CACHE=$CACHE OMP_NUM_THREADS=1
fewshot() { node "$CODE/dist/src/cli/main.js" "$@"; }
# Reports and plots come from this checkout, which may be newer than the snapshot that trains.
reporting() { node "$ROOT/dist/src/cli/main.js" "$@"; }

if [ ! -f "$CACHE/cifar-fs/train.bin" ] || [ ! -f "$CACHE/fc100/train.bin" ]; then
  fewshot data cifar100 --from "${CIFAR100:?set CIFAR100 to the CIFAR-100 archive or its folder}" --out "$CACHE"
fi
cd "$CACHE"

# teacher DATASET SHOT: trains (or resumes) the recipe's teacher, then evaluates it.
teacher() {
  local d=$1 s=$2 out=runs/cifar/$1-$2shot/teacher results=$RESULTS/$1-$2shot/teacher
  if [ -f "$out/config.json" ]; then fewshot train --resume --out "$out" --json
  else fewshot train --recipe "protonet-$d-${s}shot" --out "$out" --json; fi
  fewshot eval "$out/select/best" "$d-test-5w${s}s" --out "$results"
  cp "$out/select/log.jsonl" "$results/train-log.jsonl"
  reporting plot "$out" --label teacher --out "$results" --name curves --title "$d ${s}-shot teacher (protonet-$d-${s}shot)"
}

# lane PIPELINES...: each pipeline's teacher, one after another.
lane() { for p in "$@"; do teacher "${p%-*}" "${p##*-}"; done; }

# students PIPELINE: this lane's worker on the pipeline's sweep (the other lane's works beside it).
students() {
  local p=$1 spec=$ROOT/scripts/sweeps/${1}shot-rkd.json
  fewshot sweep "$spec" --out "runs/cifar/${p}shot/students.csv"
}

mkdir -p runs/cifar
mine=() other=()
i=0
for p in $ONLY; do if [ $((i++ % 2)) = 0 ]; then mine+=("$p"); else other+=("$p"); fi; done
lane "${mine[@]}" > runs/cifar/lane-1.log 2>&1 &
first=$!
[ ${#other[@]} = 0 ] || lane "${other[@]}" > runs/cifar/lane-2.log 2>&1
wait $first
for p in $ONLY; do
  students "$p" >> runs/cifar/lane-1.log 2>&1 &
  first=$!
  students "$p" >> runs/cifar/lane-2.log 2>&1
  wait $first
  # The CSV, and per point its per-episode evaluation and training log (the paired comparisons' inputs).
  mkdir -p "$RESULTS/${p}shot/students"
  cp "runs/cifar/${p}shot/students.csv" "$RESULTS/${p}shot/students.csv"
  for dir in "runs/cifar/${p}shot/students"/*/; do
    key=$(basename "$dir")
    mkdir -p "$RESULTS/${p}shot/students/$key"
    cp "$dir"eval/*.episodes.csv "$RESULTS/${p}shot/students/$key/"
    cp "$(ls "$dir"log.jsonl "$dir"gen1/log.jsonl 2>/dev/null | head -1)" "$RESULTS/${p}shot/students/$key/train-log.jsonl"
  done
  # The tables: each model over seeds, each student against the baseline seed by seed and over seeds.
  reporting report "$RESULTS/${p}shot/students.csv" --baseline baseline \
    --episodes "$RESULTS/${p}shot/students" --out "$RESULTS/${p}shot/report" --x label
done
echo "results in $RESULTS"
