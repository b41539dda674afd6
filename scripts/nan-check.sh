#!/usr/bin/env bash
# A run whose loss stops being a number must stop with one line naming the episode and the term,
# exit non-zero, and leave its last checkpoint and best model as they were. On real Omniglot, with
# the 1-shot recipe's stage-1 episodes (60-way 1-shot, 5 queries): trains until the first checkpoint,
# kills the run (SIGKILL), sets its config's learning rate to 1e38 (the way to make a run diverge at
# will: `--resume` refuses options that change a run), resumes it, and compares the sha256 of
# checkpoint/ and best/ before and after. Writes $RESULTS/result.json.
#   scripts/nan-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RESULTS=${RESULTS:-scripts/results/nan-check}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run=$work/run
fewshot() { node dist/src/cli/main.js "$@"; }

# setsid: the kill reaches the whole process, as a machine stop would.
setsid node dist/src/cli/main.js train --dataset omniglot --split train --way 60 --shot 1 --query 5 --episodes 1000 \
  --val-suite omniglot-val-5w1s --validate-every 50 --log-every 50 --out "$run" --json > "$work/first.log" 2>&1 &
first=$!
until [ -f "$run/best/weights.bin" ] && [ -f "$run/checkpoint/state.json" ]; do
  kill -0 "$first" 2>/dev/null || { echo "the first run ended early: see $work/first.log" >&2; cat "$work/first.log" >&2; exit 1; }
  sleep 1
done
kill -9 "$first"
{ wait "$first"; } 2>/dev/null || true # (the shell would print "Killed")

digest() { cat "$1"/* | sha256sum | cut -c1-16; }
before_checkpoint=$(digest "$run/checkpoint")
before_best=$(digest "$run/best")
node -e 'const fs = require("fs"), f = process.argv[1], c = JSON.parse(fs.readFileSync(f, "utf8"));
c.lr = 1e38; fs.writeFileSync(f, JSON.stringify(c, null, 2));' "$run/config.json"
set +e
fewshot train --resume --out "$run" > "$work/resumed.out" 2> "$work/resumed.err"
code=$?
set -e

mkdir -p "$RESULTS"
node -e '
const [run, code, bc, bb, ac, ab, err] = process.argv.slice(1);
const fs = require("fs");
const state = JSON.parse(fs.readFileSync(`${run}/checkpoint/state.json`, "utf8"));
const lines = fs.readFileSync(err, "utf8").trim().split("\n");
const out = {
  command: "fewshot train --resume --out RUN   (RUN/config.json: lr 1e38)",
  checkpointEpisode: state.episode,
  exitCode: +code,
  error: lines.filter((l) => !l.startsWith("backend:")),
  backend: lines.find((l) => l.startsWith("backend:")),
  checkpoint: { before: bc, after: ac, unchanged: bc === ac },
  best: { before: bb, after: ab, unchanged: bb === ab },
  provenance: state.provenance,
};
console.log(JSON.stringify(out, null, 2));
' "$run" "$code" "$before_checkpoint" "$before_best" "$(digest "$run/checkpoint")" "$(digest "$run/best")" \
  "$work/resumed.err" | tee "$RESULTS/result.json"
[ "$code" != 0 ] && ! grep -q '"unchanged": false' "$RESULTS/result.json" || { echo "FAILED" >&2; exit 1; }
