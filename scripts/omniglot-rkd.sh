#!/usr/bin/env bash
# RKD on real Omniglot: distil the ProtoNet teacher of scripts/omniglot-protonet.sh into
#   (a) a same-size student with RKD-D, (b) with RKD-D+A, (c) a 32-filter student with RKD-D+A,
#   (d) a same-size student trained with the same budget and no distillation (the fair baseline),
# evaluate all on the four Omniglot test suites, and compare each with the baseline and the
# teacher, episode by episode. Re-running resumes whatever is unfinished.
#
#   scripts/omniglot-rkd.sh
#   EPISODES=1000 TEACHER=runs/omniglot-protonet scripts/omniglot-rkd.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TEACHER=${TEACHER:-runs/omniglot-protonet}
EPISODES=${EPISODES:-1000}
BACKEND=${BACKEND:-auto}
RUNS=${RUNS:-runs/omniglot-rkd}
RESULTS=${RESULTS:-scripts/results/omniglot-rkd}
SUITES=(episodes/omniglot-test-{5w1s,5w5s,20w1s,20w5s}.json)
fewshot() { node dist/src/cli/main.js "$@"; }
common=(--dataset omniglot --split train --val-suite episodes/omniglot-val-20w1s.json
        --way 60 --shot 5 --query 5 --episodes "$EPISODES" --validate-every 250 --log-every 50 --backend "$BACKEND")

# (d) The baseline: seed 1 gives it the students' initial weights and training episodes (the teacher had seed 0).
if [ -f "$RUNS/baseline/config.json" ]; then fewshot train --resume --out "$RUNS/baseline" --backend "$BACKEND"
else fewshot train "${common[@]}" --seed 1 --out "$RUNS/baseline"; fi
# (a) (b) (c)
for spec in "rkd-d:d:64" "rkd-da:da:64" "rkd-da-w32:da:32"; do
  IFS=: read -r name rkd width <<<"$spec"
  if [ -f "$RUNS/$name/config.json" ]; then fewshot distill --resume --out "$RUNS/$name" --backend "$BACKEND"
  else fewshot distill "${common[@]}" --teacher "$TEACHER/best" --rkd "$rkd" --width "$width" --seed 1 --out "$RUNS/$name"; fi
done

mkdir -p "$RESULTS"
fewshot eval "$TEACHER/best" "${SUITES[@]}" --backend "$BACKEND" --out "$RESULTS/teacher"
fewshot eval "$RUNS/baseline/best" "${SUITES[@]}" --backend "$BACKEND" --out "$RESULTS/baseline"
for name in rkd-d rkd-da rkd-da-w32; do
  fewshot eval "$RUNS/$name/gen1/best" "${SUITES[@]}" --backend "$BACKEND" --out "$RESULTS/$name"
done
for name in rkd-d rkd-da rkd-da-w32; do
  for suite in 5w1s 5w5s 20w1s 20w5s; do
    for ref in baseline teacher; do
      fewshot compare --json "$RESULTS/$ref/omniglot-test-$suite.episodes.csv" "$RESULTS/$name/omniglot-test-$suite.episodes.csv"
    done
  done
done > "$RESULTS/comparisons.jsonl"
echo "results in $RESULTS"
