#!/usr/bin/env bash
# The cases of issue 13 ("every input is untrusted"), run against one build of the project.
#
#   scripts/untrusted-cases.sh BUILD_DIR OUT.jsonl
#
# BUILD_DIR is a checkout whose dist/ is built (`npx tsc -p .`); every case runs
# `node BUILD_DIR/dist/src/cli/main.js ...` in a fresh temporary folder (removed at the end), on the
# wasm backend and synthetic data, except the Omniglot imports, which read the real zips in
# $OMNIGLOT (default ../shared/data/omniglot beside this checkout, read-only) and write into the
# temporary folder. FEWSHOT_CACHE points into the temporary folder too. Nothing else is written but
# OUT.jsonl: one JSON line per case,
#   {"case", "input", "exit", "stderr", "effect", "cmd", "stderr_lines"}
# where "stderr" is the first line of stderr that is not the `backend: ...` line every command
# prints (trimmed to 300 characters), "stderr_lines" counts all non-empty stderr lines (backend line
# included), and "effect" is what the script measured afterwards. Cases run one at a time.
set -u

if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR OUT.jsonl" >&2
  exit 2
fi
BUILD=$(cd "$1" && pwd) || exit 2
MAIN="$BUILD/dist/src/cli/main.js"
[ -f "$MAIN" ] || { echo "$0: $MAIN not found (build with npx tsc -p .)" >&2; exit 2; }
mkdir -p "$(dirname "$2")"
OUT="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
HERE=$(cd "$(dirname "$0")/.." && pwd)
OMNIGLOT=${OMNIGLOT:-$HERE/../shared/data/omniglot}
OMNIGLOT=$(cd "$OMNIGLOT" && pwd) || exit 2
: > "$OUT"

T=$(mktemp -d "${TMPDIR:-/tmp}/untrusted-XXXXXX")
WATCHER_PID=
cleanup() {
  [ -n "$WATCHER_PID" ] && kill "$WATCHER_PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
L="$T/logs"
mkdir -p "$L" "$T/ep" "$T/runs" "$T/cache"
cp "$BUILD"/episodes/synthetic-*.json "$BUILD"/episodes/synthetic-*.csv "$T/ep/"
export FEWSHOT_CACHE="$T/cache"
cd "$T" || exit 1
START=$(date +%s)

TINY=(--dataset synthetic --val-suite ep/synthetic-val-5w1s.json --way 5 --shot 1 --query 5 --width 8
      --episodes 4 --validate-every 2 --log-every 2 --backend wasm)

# run NAME ARGS...: `fewshot ARGS...` in $RUN_CWD (default $T); stdout/stderr to logs/NAME.{out,err};
# sets RC and CMD (the command as a shell would read it).
RUN_CWD=
run() {
  local name=$1
  shift
  CMD="fewshot$(printf ' %q' "$@")"
  (cd "${RUN_CWD:-$T}" && timeout 300 nice -n 10 node "$MAIN" "$@") >"$L/$name.out" 2>"$L/$name.err"
  RC=$?
  echo "  [$name] exit $RC: $CMD" >&2
}

# emit CASE INPUT EXIT ERRFILE EFFECT CMD
emit() {
  local first count
  first=$(grep -v '^backend: ' "$4" 2>/dev/null | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' | grep -v '^[[:space:]]*$' | head -n 1 | cut -c1-300)
  count=$(grep -c -v '^[[:space:]]*$' "$4" 2>/dev/null)
  jq -cn --arg case "$1" --arg input "$2" --argjson exit "$3" --arg stderr "$first" --arg effect "$5" \
    --arg cmd "$6" --argjson lines "${count:-0}" \
    '{case: $case, input: $input, exit: $exit, stderr: $stderr, effect: $effect, cmd: $cmd, stderr_lines: $lines}' >> "$OUT"
}

yesno() { if [ -e "$1" ]; then echo yes; else echo no; fi; }
entries() { (cd "$1" 2>/dev/null && ls -A | tr '\n' ' ' | sed 's/ $//'); }
stdout_last() { grep -v '^[[:space:]]*$' "$L/$1.out" | tail -n 1 | cut -c1-200; }

# --- fixtures: a tiny train run, a tiny distill run of it, its evaluation on two suites -----------
echo "fixtures" >&2
run fix-train train "${TINY[@]}" --out runs/t1
[ "$RC" -eq 0 ] || { echo "fixture train failed: $(cat "$L/fix-train.err")" >&2; exit 1; }
run fix-distill distill "${TINY[@]}" --teacher runs/t1/best --out runs/d1
[ "$RC" -eq 0 ] || { echo "fixture distill failed: $(cat "$L/fix-distill.err")" >&2; exit 1; }

# --- i (first, so that its later import also gives case a its images.bin) -------------------------
# SKIP_IMPORTS=1 leaves out the Omniglot cases (i, a), for checking this script quickly.
if [ "${SKIP_IMPORTS:-0}" != 1 ]; then
# i0: kill -9 three seconds into an import (images are still being decoded).
echo "case i" >&2
OMNI_ONE="$OMNIGLOT/images_evaluation.zip"   # one real zip: 13,180 images, no splits (a shorter import)
mkdir -p omni
nice -n 10 node "$MAIN" data omniglot --from "$OMNI_ONE" --out omni/c >"$L/i0.out" 2>"$L/i0.err" &
PID=$!
sleep 3
kill -9 "$PID" 2>/dev/null
wait "$PID"
RC=$?
left=$(cd omni && ls -d c.tmp-* 2>/dev/null | paste -sd ' ')
emit i0-kill-3s "data omniglot --from images_evaluation.zip --out omni/c, kill -9 after 3 s" "$RC" "$L/i0.err" \
  "temporary left: ${left:-none}; omni/c exists: $(yesno omni/c)" \
  "fewshot data omniglot --from $OMNI_ONE --out omni/c & sleep 3; kill -9 \$!"

# i1: kill -9 the moment the import's temporary folder omni/c.tmp-<pid> appears (a watcher on omni/).
cat > watch.cjs <<'EOF'
// node watch.cjs DIR PREFIX: prints "ready", then SIGKILLs the pid in DIR/PREFIX-pid the moment it appears
const fs = require('fs');
const [dir, prefix] = process.argv.slice(2);
let pid = 0;
process.stdin.on('data', (d) => { pid = Number(String(d).trim()); });
fs.watch(dir, (event, name) => {
  if (pid && name && name.startsWith(prefix)) {
    try { process.kill(pid, 'SIGKILL'); } catch {}
    console.log(`killed ${pid} at ${name} (${event})`);
    process.exit(0);
  }
});
console.log('ready');
EOF
mkfifo watch.fifo
node watch.cjs omni c.tmp- < watch.fifo > "$L/i1.watch" 2>&1 &
WATCHER_PID=$!
exec 3>watch.fifo
until grep -q ready "$L/i1.watch" 2>/dev/null; do sleep 0.1; done
T0=$(date +%s.%N)
nice -n 10 node "$MAIN" data omniglot --from "$OMNI_ONE" --out omni/c >"$L/i1.out" 2>"$L/i1.err" &
PID=$!
echo "$PID" >&3
wait "$PID"
RC=$?
T1=$(date +%s.%N)
exec 3>&-
kill "$WATCHER_PID" 2>/dev/null
wait "$WATCHER_PID" 2>/dev/null
WATCHER_PID=
left=$(cd omni && for d in c.tmp-*; do [ -e "$d" ] && echo "$d ($(du -sk "$d" | cut -f1) KB, holding: $(entries "$d" | sed 's/^$/nothing/'))"; done | paste -sd ' ')
killed=$(grep -c killed "$L/i1.watch")
emit i1-kill-at-tmp "data omniglot --from images_evaluation.zip --out omni/c, kill -9 when omni/c.tmp-<pid> appears" "$RC" "$L/i1.err" \
  "killed at the temporary: $([ "$killed" -gt 0 ] && echo yes || echo "no (import ended first)"), $(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.1f", b - a }') s in; temporary left: ${left:-none}; omni/c exists: $(yesno omni/c)" \
  "fewshot data omniglot --from $OMNI_ONE --out omni/c & (kill -9 on fs.watch of omni/c.tmp-*)"

# i2: the next import of the same --out.
before=$(cd omni && ls -d c.tmp-* 2>/dev/null | paste -sd ' ')
run i2 data omniglot --from "$OMNI_ONE" --out omni/c
after=$(cd omni && ls -d c.tmp-* 2>/dev/null | paste -sd ' ')
emit i2-later-import "data omniglot --from images_evaluation.zip --out omni/c after the kill" "$RC" "$L/i2.err" \
  "temporaries before: ${before:-none}; after: ${after:-none}; omni/c/images.bin: $(yesno omni/c/images.bin)" "$CMD"

# --- a: an import into a folder holding a previous cache's images.bin and a foreign notes.txt ------
echo "case a" >&2
mkdir u
cp omni/c/images.bin u/
echo x > u/notes.txt
size0=$(stat -c %s u/images.bin)
run a data omniglot --from "$OMNIGLOT" --out u
size1=$(stat -c %s u/images.bin 2>/dev/null || echo none)
emit a-import-foreign-file "data omniglot --from ZIPS --out u (u: images.bin of an earlier import + notes.txt)" "$RC" "$L/a.err" \
  "notes.txt $([ -f u/notes.txt ] && echo kept || echo deleted); images.bin $size0 -> $size1 bytes; u holds: $(entries u)" "$CMD"
fi

# --- b: compare the per-episode files of two different suites ---------------------------------------
echo "case b" >&2
run b-eval eval runs/t1/best ep/synthetic-test-5w1s.json ep/synthetic-test-5w5s.json --out ev --backend wasm
run b compare ev/synthetic-test-5w1s.episodes.csv ev/synthetic-test-5w5s.episodes.csv
paired=$(grep '(paired)' "$L/b.out" | sed 's/.*(paired)[[:space:]]*//')
emit b-compare-two-suites "compare 5w1s.episodes.csv 5w5s.episodes.csv (one model, 600 episodes each)" "$RC" "$L/b.err" \
  "$([ -n "$paired" ] && echo "paired interval printed: $paired" || echo "no paired interval printed")" "$CMD"

# b2: the same, the 5w1s file without its suite column (as every per-episode file written before the
# column existed, such as those under scripts/results/): cut to `episode,accuracy`.
cut -d, -f1,2 ev/synthetic-test-5w1s.episodes.csv > legacy-5w1s.episodes.csv
run b2 compare legacy-5w1s.episodes.csv ev/synthetic-test-5w5s.episodes.csv
paired=$(grep '(paired)' "$L/b2.out" | sed 's/.*(paired)[[:space:]]*//')
emit b2-compare-two-suites-legacy-file "compare 5w1s.episodes.csv cut to episode,accuracy (older format) vs 5w5s.episodes.csv" "$RC" "$L/b2.err" \
  "$([ -n "$paired" ] && echo "paired interval printed: $paired" || echo "no paired interval printed")" "$CMD"

# --- c: report on a sweep CSV whose complete last row has no final newline -----------------------
echo "case c" >&2
cat > spec.json <<'EOF'
{"name": "u13", "runs": "runs/sw", "suites": ["ep/synthetic-test-5w1s.json"],
 "base": {"dataset": "synthetic", "split": "train", "valSuite": "ep/synthetic-val-5w1s.json",
          "way": 5, "shot": 1, "query": 5, "episodes": 4, "validateEvery": 2, "logEvery": 2},
 "variants": [{"label": "ProtoNet", "method": "protonet"}],
 "grid": {"width": [8], "seed": [1, 2]}}
EOF
run c-sweep sweep spec.json --out sw.csv --backend wasm
if [ "$(tail -c 1 sw.csv | od -An -c | tr -d ' ')" = '\n' ]; then truncate -s -1 sw.csv; fi
inFile=$(( $(grep -c '' sw.csv) - 1 ))
run c report sw.csv --out rep
reported=$(awk '/^----/ { n++; next } n == 1 && /^[[:space:]]*$/ { exit } n == 1 { r++ } END { print r + 0 }' "$L/c.out")
emit c-report-no-final-newline "report sw.csv (2 rows, the last without a final newline)" "$RC" "$L/c.err" \
  "rows reported: $reported of $inFile in the file; final newline: $([ "$(tail -c 1 sw.csv | od -An -c | tr -d ' ')" = '\n' ] && echo yes || echo no)" "$CMD"

# --- d: a suite of zero queries ----------------------------------------------------------------------
echo "case d" >&2
echo '{"name": "q0", "dataset": "synthetic", "split": "test", "way": 5, "shot": 1, "query": 0, "episodes": 10, "seed": 3}' > q0.json
run d eval runs/t1/best q0.json --backend wasm
acc=$(grep '^q0 ' "$L/d.out" | awk '{ print $5, $6, $7 }')
rc=$RC cmd=$CMD raw=
if [ "$rc" -eq 0 ]; then   # the unrounded figure, from the same evaluation with --json
  run d-json eval runs/t1/best q0.json --backend wasm --json
  raw=$(jq -r '.[0] | "; --json accuracy \(.accuracy), ci95 \(.ci95)"' "$L/d-json.out" 2>/dev/null)
fi
emit d-suite-query-0 'eval MODEL q0.json ({"query": 0, ...})' "$rc" "$L/d.err" \
  "$([ -n "$acc" ] && echo "accuracy printed: $acc$raw" || echo "no accuracy printed")" "$cmd"

# --- e: resume a run of the other kind ---------------------------------------------------------------
echo "case e" >&2
cp -r runs/d1 runs/e1
b4=$(entries runs/e1)
run e1 train --resume --out runs/e1 --backend wasm
emit e1-train-resume-distill-run "train --resume --out <distill run>" "$RC" "$L/e1.err" \
  "folder before: $b4; after: $(entries runs/e1); stdout: $(stdout_last e1)" "$CMD"
cp -r runs/t1 runs/e2
b4=$(entries runs/e2)
run e2 distill --resume --out runs/e2 --backend wasm
emit e2-distill-resume-train-run "distill --resume --out <train run>" "$RC" "$L/e2.err" \
  "folder before: $b4; after: $(entries runs/e2); stdout: $(stdout_last e2)" "$CMD"

# --- f: starts that fail after writing, then the corrected command --------------------------------
echo "case f" >&2
fcase() {  # fcase ID INPUT OUTDIR -- BAD ARGS -- GOOD ARGS
  local id=$1 input=$2 dir=$3
  shift 4
  local bad=() good=()
  while [ "$1" != -- ]; do bad+=("$1"); shift; done
  shift
  good=("$@")
  run "$id" "${bad[@]}"
  local rc=$RC cmd=$CMD left
  left=$(yesno "$dir")
  [ "$left" = yes ] && left="yes ($(entries "$dir"))"
  run "$id-fixed" "${good[@]}"
  local fixed="exit $RC"
  [ "$RC" -ne 0 ] && fixed="$fixed: $(grep -v '^backend: ' "$L/$id-fixed.err" | head -n 1 | cut -c1-160)"
  emit "$id" "$input" "$rc" "$L/$id.err" "folder left: $left; corrected command: $fixed" "$cmd"
}
TINY_NO_VE=(--dataset synthetic --val-suite ep/synthetic-val-5w1s.json --way 5 --shot 1 --query 5 --width 8
            --episodes 4 --backend wasm)
fcase f1-way-500 "train --way 500 (synthetic train has 256 classes), then --way 5" runs/f1 -- \
  train "${TINY[@]}" --way 500 --out runs/f1 -- train "${TINY[@]}" --out runs/f1
fcase f2-validate-3-log-2 "train --validate-every 3 --log-every 2, then --validate-every 2" runs/f2 -- \
  train "${TINY_NO_VE[@]}" --validate-every 3 --log-every 2 --out runs/f2 -- \
  train "${TINY_NO_VE[@]}" --validate-every 2 --log-every 2 --out runs/f2
fcase f3-distill-no-teacher "distill without --teacher, then with it" runs/f3 -- \
  distill "${TINY[@]}" --out runs/f3 -- distill "${TINY[@]}" --teacher runs/t1/best --out runs/f3

cp -r runs/t1/best badteacher
echo '{' > badteacher/model.json
fcase f4-distill-corrupt-teacher "distill --teacher <best/ whose model.json is \"{\">, then a good teacher" runs/f4 -- \
  distill "${TINY[@]}" --teacher badteacher --out runs/f4 -- distill "${TINY[@]}" --teacher runs/t1/best --out runs/f4
run f5-catalog data miniimagenet --from "$OMNIGLOT/../miniimagenet" --csv-only --out cat
fcase f5-catalog-only-cache "train --dataset miniimagenet --data <ids-only cache (--csv-only)>, then synthetic into the same --out" runs/f5 -- \
  train --dataset miniimagenet --data cat --way 5 --shot 1 --query 5 --width 8 --episodes 4 --validate-every 2 \
    --log-every 2 --backend wasm --out runs/f5 -- train "${TINY[@]}" --out runs/f5

# --- g: --out "" ---------------------------------------------------------------------------------------
echo "case g" >&2
mkdir g
RUN_CWD="$T/g"
run g train --dataset synthetic --val-suite ../ep/synthetic-val-5w1s.json --way 5 --shot 1 --query 5 --width 8 \
  --episodes 4 --validate-every 2 --log-every 2 --backend wasm --out ""
RUN_CWD=
emit g-out-empty 'train --out "" (in an empty folder)' "$RC" "$L/g.err" \
  "./config.json written: $(yesno g/config.json); cwd now holds: $(entries g)" "$CMD"

# --- h: --resume with a flag that disagrees with the run's config ----------------------------------
echo "case h" >&2
nice -n 10 node "$MAIN" train "${TINY_NO_VE[@]}" --episodes 60 --validate-every 2 --log-every 2 --out runs/h \
  >"$L/h-train.out" 2>"$L/h-train.err" &
PID=$!
for _ in $(seq 1 600); do
  [ -f runs/h/checkpoint/state.json ] && [ "$(cat runs/h/log.jsonl 2>/dev/null | wc -l)" -ge 3 ] && break
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.1
done
kill -9 "$PID" 2>/dev/null
wait "$PID" 2>/dev/null
at=$(jq -r .episode runs/h/checkpoint/state.json 2>/dev/null)
lines0=$(grep -c '' runs/h/log.jsonl)
run h train --resume --out runs/h --lr 0.01 --backend wasm
newlr=$(tail -n +"$((lines0 + 1))" runs/h/log.jsonl | jq -r .lr 2>/dev/null | sort -u | tr '\n' ' ' | sed 's/ $//')
emit h-resume-lr "train --resume --out RUN --lr 0.01 (RUN: lr 0.001, killed at checkpoint episode $at of 60)" "$RC" "$L/h.err" \
  "checkpoint at episode $at before; config.json lr after: $(jq -r .lr runs/h/config.json); lr of the log lines written by the resume: ${newlr:-none}; last checkpoint episode: $(jq -r .episode runs/h/checkpoint/state.json)" "$CMD"

# h2: the same run resumed with a larger --episodes (extending a run is a real need).
at=$(jq -r .episode runs/h/checkpoint/state.json 2>/dev/null)
run h2 train --resume --out runs/h --episodes 80 --backend wasm
emit h2-resume-episodes "train --resume --out RUN --episodes 80 (RUN: 60 episodes, checkpoint at episode $at)" "$RC" "$L/h2.err" \
  "config.json episodes after: $(jq -r .episodes runs/h/config.json); last checkpoint episode: $(jq -r .episode runs/h/checkpoint/state.json); stdout: $(stdout_last h2)" "$CMD"

# --- j: errors that should name what is wrong -------------------------------------------------------
echo "case j" >&2
cp -r runs/t1/best j1
truncate -s $(( $(stat -c %s j1/weights.bin) / 2 )) j1/weights.bin
run j1 eval j1 ep/synthetic-test-5w1s.json --backend wasm
emit j1-truncated-weights "eval of a best/ whose weights.bin is cut to half" "$RC" "$L/j1.err" "stdout: $(stdout_last j1)" "$CMD"

cp -r runs/t1/best j2
echo '{' > j2/model.json
run j2 eval j2 ep/synthetic-test-5w1s.json --backend wasm
emit j2-model-json-brace 'eval of a best/ whose model.json is "{"' "$RC" "$L/j2.err" "stdout: $(stdout_last j2)" "$CMD"

cp -r runs/t1 runs/j3
echo '{' > runs/j3/config.json
run j3 train --resume --out runs/j3 --backend wasm
emit j3-config-json-brace 'train --resume of a run whose config.json is "{"' "$RC" "$L/j3.err" "stdout: $(stdout_last j3)" "$CMD"

echo null > nullsuite.json
run j4 eval runs/t1/best nullsuite.json --backend wasm
emit j4-suite-null "eval MODEL suite.json holding null" "$RC" "$L/j4.err" "stdout: $(stdout_last j4)" "$CMD"

: > empty.episodes.csv
run j5a compare empty.episodes.csv ev/synthetic-test-5w1s.episodes.csv
emit j5a-compare-empty-csv "compare empty.episodes.csv (0 bytes) 5w1s.episodes.csv" "$RC" "$L/j5a.err" "stdout: $(stdout_last j5a)" "$CMD"
: > empty2.episodes.csv
run j5b compare empty.episodes.csv empty2.episodes.csv
emit j5b-compare-two-empty-csv "compare two empty (0-byte) per-episode files" "$RC" "$L/j5b.err" "stdout: $(stdout_last j5b)" "$CMD"

run j6 train --bogus
emit j6-unknown-option "train --bogus" "$RC" "$L/j6.err" "stderr lines: $(grep -c '' "$L/j6.err")" "$CMD"
run j6b train --bogus --out runs/j6b
emit j6b-unknown-option-with-out "train --bogus --out DIR (so that only the option is wrong)" "$RC" "$L/j6b.err" \
  "stderr lines: $(grep -c '' "$L/j6b.err"); DIR created: $(yesno runs/j6b)" "$CMD"

echo "done in $(( $(date +%s) - START )) s: $OUT ($(grep -c '' "$OUT") cases)" >&2
