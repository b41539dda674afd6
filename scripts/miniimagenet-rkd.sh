#!/usr/bin/env bash
# RKD on miniImageNet: distil the ProtoNet teacher of scripts/miniimagenet-protonet.sh into
#   (a) a same-size student with RKD-D, (b) with RKD-D+A, (c) a half-width student with RKD-D+A,
#   (d) a same-size student trained with the same budget and no distillation (the fair baseline),
# all with the teacher's episodes (20-way 5-shot 15-query by default), evaluate all on both test
# suites, and compare each with the baseline and the teacher, episode by episode. Re-running
# resumes whatever is unfinished.
#
#   scripts/miniimagenet-rkd.sh
#   SHOT=1 TEACHER=runs/miniimagenet-protonet-1shot scripts/miniimagenet-rkd.sh
#
# DATA, WAY, QUERY, WIDTH (of the teacher and same-size students), NARROW, VAL_SUITE and
# TEST_SUITES as in scripts/miniimagenet-protonet.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/miniimagenet-settings.sh
NARROW=${NARROW:-$((WIDTH / 2))}
TEACHER=${TEACHER:-runs/miniimagenet-protonet-${SHOT}shot}
RUNS=${RUNS:-runs/miniimagenet-rkd-${SHOT}shot}
RESULTS=${RESULTS:-scripts/results/$(basename "$RUNS")}
common=(--dataset miniimagenet --split train --val-suite "$VAL_SUITE" "${data[@]}"
        --way "$WAY" --shot "$SHOT" --query "$QUERY" --episodes "$EPISODES"
        --validate-every "$VALIDATE_EVERY" --log-every "$LOG_EVERY" --backend "$BACKEND")

# (d) The baseline: seed 1 gives it the students' initial weights and training episodes (the teacher had seed 0).
if [ -f "$RUNS/baseline/config.json" ]; then fewshot train --resume --out "$RUNS/baseline" --backend "$BACKEND"
else fewshot train "${common[@]}" --width "$WIDTH" --seed 1 --out "$RUNS/baseline"; fi
# (a) (b) (c)
for spec in "rkd-d:d:$WIDTH" "rkd-da:da:$WIDTH" "rkd-da-narrow:da:$NARROW"; do
  IFS=: read -r name rkd width <<<"$spec"
  if [ -f "$RUNS/$name/config.json" ]; then fewshot distill --resume --out "$RUNS/$name" --backend "$BACKEND"
  else fewshot distill "${common[@]}" --teacher "$TEACHER/best" --rkd "$rkd" --width "$width" --seed 1 --out "$RUNS/$name"; fi
done

mkdir -p "$RESULTS"
evaluate() { fewshot eval "$1" "${SUITES[@]}" "${data[@]}" --backend "$BACKEND" --out "$RESULTS/$2"; }
evaluate "$TEACHER/best" teacher
evaluate "$RUNS/baseline/best" baseline
for name in rkd-d rkd-da rkd-da-narrow; do evaluate "$RUNS/$name/gen1/best" "$name"; done
for name in rkd-d rkd-da rkd-da-narrow; do
  for suite in "${SUITES[@]}"; do
    for ref in baseline teacher; do
      fewshot compare --json "$RESULTS/$ref/$(basename "$suite" .json).episodes.csv" "$RESULTS/$name/$(basename "$suite" .json).episodes.csv"
    done
  done
done > "$RESULTS/comparisons.jsonl"
echo "results in $RESULTS"
