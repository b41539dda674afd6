#!/usr/bin/env bash
# Prototypical Networks on Omniglot by the paper's protocol (Snell et al. 2017), then RKD on top of
# the converged teachers. For each shot (1 and 5), both shots in parallel, one core each:
#   teacher   fewshot train --recipe snell2017-omniglot-<shot>shot   (select on train/val, retrain on trainval)
#   baseline  fewshot distill --recipe ... --teacher <teacher> --rkd none --seed 1   (same budget, no teacher)
#   rkd-d     ... --rkd d   (proto + 25 RKD-D)
#   rkd-da    ... --rkd da  (proto + 12.5 RKD-D + 25 RKD-A)
# then evaluates every model on its shot's two test suites and compares each student with the baseline
# and the teacher, episode by episode. Runs take hours: they live outside the work tree (RUNS) and
# re-running the script resumes every unfinished run from its last checkpoint. Logs: $RUNS/<shot>shot.log.
# The training curves (fewshot plot, from the logs copied into the results) go to
# $RESULTS/<shot>shot/curves-teacher.{png,svg} (both stages) and curves-students.{png,svg} (the
# students and the baseline beside the teacher's final stage, whose budget they share).
#
#   scripts/omniglot-paper.sh                # both shots, in the background of a shell: nohup ... &
#   SHOTS=1 scripts/omniglot-paper.sh        # one shot
#   scripts/omniglot-paper.sh curves [DIR]   # only the curves, from the results' logs (into DIR/omniglot-paper-<shot>shot-*)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-${FEWSHOT_CACHE:-$HOME/.cache/fewshot-rkd}/runs/omniglot-paper}
RESULTS=${RESULTS:-scripts/results/omniglot-paper}
BACKEND=${BACKEND:-auto}
SHOTS=${SHOTS:-1 5}
fewshot() { node dist/src/cli/main.js "$@"; }

# run OUT COMMAND ARGS...: start the run in OUT, or resume it when OUT already holds one.
run() {
  local out=$1 command=$2; shift 2
  if [ -f "$out/config.json" ]; then fewshot "$command" --resume --out "$out" --backend "$BACKEND" --json
  else fewshot "$command" "$@" --out "$out" --backend "$BACKEND" --json; fi
}

# curves SHOT OUT PREFIX: the curves of the shot's results folder (its copied logs) into OUT/PREFIX{teacher,students}.*
curves() {
  local shot=$1 out=$2 prefix=$3 results=$RESULTS/${1}shot
  fewshot plot "$results/teacher" --label teacher --out "$out" --name "${prefix}teacher" \
    --title "Omniglot ${shot}-shot teacher (snell2017-omniglot-${shot}shot): select, then final"
  fewshot plot "$results/teacher/train-log.jsonl" "$results/baseline" "$results/rkd-d" "$results/rkd-da" \
    --label "teacher (final stage)" baseline RKD-D RKD-DA --out "$out" --name "${prefix}students" \
    --title "Omniglot ${shot}-shot students, baseline (seed 1) and the teacher's final stage"
}

if [ "${1:-}" = curves ]; then
  for shot in $SHOTS; do curves "$shot" "${2:-$RESULTS/${shot}shot}" "$([ -n "${2:-}" ] && echo "omniglot-paper-${shot}shot-" || echo curves-)"; done
  exit 0
fi

pipeline() {
  local shot=$1 recipe=snell2017-omniglot-${1}shot dir=$RUNS/${1}shot results=$RESULTS/${1}shot
  run "$dir/teacher" train --recipe "$recipe"
  local spec name rkd
  for spec in baseline:none rkd-d:d rkd-da:da; do
    IFS=: read -r name rkd <<<"$spec"
    run "$dir/$name" distill --recipe "$recipe" --teacher "$dir/teacher" --rkd "$rkd" --seed 1
  done
  local suites=(omniglot-test-5w${shot}s omniglot-test-20w${shot}s) model
  mkdir -p "$results"
  fewshot eval "$dir/teacher/final/best" "${suites[@]}" --backend "$BACKEND" --out "$results/teacher"
  cp "$dir/teacher/select/log.jsonl" "$results/teacher/select-log.jsonl"
  cp "$dir/teacher/final/log.jsonl" "$results/teacher/train-log.jsonl"
  for model in baseline rkd-d rkd-da; do
    fewshot eval "$dir/$model/gen1/best" "${suites[@]}" --backend "$BACKEND" --out "$results/$model"
    cp "$dir/$model/gen1/log.jsonl" "$results/$model/train-log.jsonl"
  done
  local suite ref
  for model in rkd-d rkd-da baseline; do
    for suite in "${suites[@]}"; do
      for ref in baseline teacher; do
        [ "$model" = "$ref" ] && continue
        fewshot compare --json "$results/$ref/$suite.episodes.csv" "$results/$model/$suite.episodes.csv"
      done
    done
  done > "$results/comparisons.jsonl"
  curves "$shot" "$results" curves-
}

mkdir -p "$RUNS"
pids=()
for shot in $SHOTS; do
  # One core per shot: two single-threaded runs use the two cores better than two contending for both.
  OMP_NUM_THREADS=1 pipeline "$shot" > "$RUNS/${shot}shot.log" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
[ $status = 0 ] && echo "results in $RESULTS" || echo "a pipeline failed: see $RUNS/*shot.log" >&2
exit $status
