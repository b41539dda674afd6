# The RKD comparison protocol shared by scripts/omniglot-rkd.sh and scripts/miniimagenet-rkd.sh
# (sourced, not run). Given the caller's settings:
#   common   training options (dataset, split, validation suite, episode shape, schedule, backend)
#   evalargs extra options of `fewshot eval` (e.g. --data DIR); may be empty
#   TEACHER, RUNS, RESULTS, BACKEND, WIDTH, NARROW; SUITES (suite JSON files)
# it trains (d) a same-budget baseline from the students' initial weights and episodes (seed 1;
# the teacher had seed 0), then (a) RKD-D and (b) RKD-DA students of the teacher's width and
# (c) an RKD-DA student of width NARROW; evaluates all and the teacher on SUITES; and writes every
# student's paired comparison with the baseline and the teacher to $RESULTS/comparisons.jsonl, and each
# run's training log to $RESULTS/<run>/train-log.jsonl.
# Each run resumes from its checkpoint when the script is re-run.

fewshot() { node dist/src/cli/main.js "$@"; }

rkd_protocol() {
  if [ -f "$RUNS/baseline/config.json" ]; then fewshot train --resume --out "$RUNS/baseline" --backend "$BACKEND"
  else fewshot train "${common[@]}" --width "$WIDTH" --seed 1 --out "$RUNS/baseline"; fi
  local students=(rkd-d rkd-da "rkd-da-w$NARROW") spec name rkd width suite ref
  for spec in "rkd-d:d:$WIDTH" "rkd-da:da:$WIDTH" "rkd-da-w$NARROW:da:$NARROW"; do
    IFS=: read -r name rkd width <<<"$spec"
    if [ -f "$RUNS/$name/config.json" ]; then fewshot distill --resume --out "$RUNS/$name" --backend "$BACKEND"
    else fewshot distill "${common[@]}" --teacher "$TEACHER/best" --rkd "$rkd" --width "$width" --seed 1 --out "$RUNS/$name"; fi
  done

  mkdir -p "$RESULTS"
  evaluate() { fewshot eval "$1" "${SUITES[@]}" "${evalargs[@]}" --backend "$BACKEND" --out "$RESULTS/$2"; }
  evaluate "$TEACHER/best" teacher
  evaluate "$RUNS/baseline/best" baseline
  cp "$RUNS/baseline/log.jsonl" "$RESULTS/baseline/train-log.jsonl"
  for name in "${students[@]}"; do
    evaluate "$RUNS/$name/gen1/best" "$name"
    cp "$RUNS/$name/gen1/log.jsonl" "$RESULTS/$name/train-log.jsonl"
  done
  for name in "${students[@]}"; do
    for suite in "${SUITES[@]}"; do
      suite=$(basename "$suite" .json)
      for ref in baseline teacher; do
        fewshot compare --json "$RESULTS/$ref/$suite.episodes.csv" "$RESULTS/$name/$suite.episodes.csv"
      done
    done
  done > "$RESULTS/comparisons.jsonl"
  echo "results in $RESULTS"
}
