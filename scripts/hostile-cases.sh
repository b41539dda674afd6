#!/usr/bin/env bash
# The cases of issue 27 ("nothing lost, nothing mixed"), run against one build of the project.
#
#   scripts/hostile-cases.sh BUILD_DIR OUT.jsonl
#
# BUILD_DIR is a checkout whose dist/ is built (`npx tsc -p .`). Every case runs
# `node BUILD_DIR/dist/src/cli/main.js ...` (or, for the library, imports BUILD_DIR/dist/src) in a
# fresh temporary folder, removed at the end, on synthetic data. The full-disk and read-only cases
# mount small tmpfs file systems (root only; without it they say so and are skipped). One JSON line
# per case goes to OUT.jsonl:
#   {"case", "input", "exit", "stderr", "effect", "cmd"}
# "stderr" is the first stderr line that is not the `backend: ...` line (300 characters at most),
# "effect" what the script found on disk afterwards. scripts/hostile-table.mjs makes the table.
# ONLY="c7-sweep-teacher-retrained c12-10mb-cell" runs those cases alone (and the set-up they need).
set -u
ONLY=${ONLY:-}
want() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }

if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR OUT.jsonl" >&2
  exit 2
fi
BUILD=$(cd "$1" && pwd) || exit 2
MAIN="$BUILD/dist/src/cli/main.js"
[ -f "$MAIN" ] || { echo "$0: $MAIN not found (build with npx tsc -p .)" >&2; exit 2; }
mkdir -p "$(dirname "$2")"
OUT="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
: > "$OUT"

T=$(mktemp -d "${TMPDIR:-/tmp}/hostile-XXXXXX")
MOUNTS=()
cleanup() {
  for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
L="$T/logs"
mkdir -p "$L" "$T/cache"
export FEWSHOT_CACHE="$T/cache" T
cd "$T" || exit 1

TINY=(--dataset synthetic --way 5 --shot 1 --width 4 --validate-every 2 --log-every 2 --backend wasm)

# run NAME TIMEOUT ARGS...: `fewshot ARGS...`; output to logs/NAME.{out,err}; sets RC and CMD.
run() {
  local name=$1 limit=$2
  shift 2
  want "$name" || return 0
  CMD="fewshot$(printf ' %q' "$@")"
  timeout "$limit" node "$MAIN" "$@" >"$L/$name.out" 2>"$L/$name.err"
  RC=$?
  echo "  [$name] exit $RC: $CMD" >&2
}

# record NAME INPUT EFFECT: one JSON line from the last run's exit code and stderr.
record() {
  local first
  want "$1" || return 0
  # The error line if there is one (a note such as 'extending the run' may come first).
  first=$( (grep -E '^(fewshot|error): ' "$L/$1.err" || grep -v '^backend:' "$L/$1.err" | grep -v '^$') | head -1 | cut -c1-300)
  [ "$RC" = 124 ] && first="(no answer within the time limit: killed)"
  node -e 'const [c, i, x, s, e, cmd] = process.argv.slice(1); console.log(JSON.stringify({case: c, input: i, exit: Number(x), stderr: s, effect: e, cmd}))' \
    "$1" "$2" "$RC" "$first" "$3" "$CMD" >>"$OUT"
}

sha() { sha256sum "$1" 2>/dev/null | cut -c1-12; }
weights() { node -e 'const fs=require("fs");const b=fs.readFileSync(process.argv[1]);b.writeFloatLE(NaN,4);fs.writeFileSync(process.argv[1],b)' "$1"; }

# A tiny trained model and a two-point sweep spec, made once.
node "$MAIN" train "${TINY[@]}" --episodes 4 --out model >/dev/null 2>&1
cat >suite.json <<'EOF'
{"name": "tiny", "dataset": "synthetic", "split": "val", "way": 3, "shot": 1, "query": 2, "episodes": 4, "seed": 5}
EOF
cat >spec.json <<EOF
{"name": "tiny", "runs": "$T/sweep-runs", "suites": ["$T/suite.json"],
 "base": {"dataset": "synthetic", "split": "val", "way": 3, "shot": 1, "query": 2, "width": 4, "episodes": 2, "logEvery": 1, "validateEvery": 2},
 "grid": {"seed": [0, 1]}}
EOF

# 1. A nearly full disk: eval --out replaces a good per-episode CSV.
mkdir -p full
if ! want c1-full-disk; then
  :
elif mount -t tmpfs -o size=2m hostile-full full 2>/dev/null; then
  MOUNTS+=("$T/full")
  node "$MAIN" eval model/best synthetic-test-5w1s --out full/ev --backend wasm >/dev/null 2>&1
  before=$(sha full/ev/synthetic-test-5w1s.episodes.csv)
  free=$(($(stat -f -c '%a*%S' full)))
  head -c $((free - 8192)) /dev/zero >full/filler
  run c1-full-disk 120 eval model/best synthetic-test-5w1s --out full/ev --backend wasm
  after=$(sha full/ev/synthetic-test-5w1s.episodes.csv)
  record c1-full-disk "eval --out DIR on a 2 MB tmpfs with 8 KB free (DIR holds an earlier CSV)" \
    "per-episode CSV sha256 $before -> $after ($(wc -c <full/ev/synthetic-test-5w1s.episodes.csv) bytes)"
else
  RC=-1 CMD="(mount -t tmpfs: not permitted here)"
  echo 'skipped' >"$L/c1-full-disk.err"
  record c1-full-disk "eval --out on a nearly full tmpfs" "skipped: cannot mount a tmpfs"
fi

# 2. sweep --out another file: its last line.
printf 'a,b\n1,2' >other.csv
run c2-sweep-out-other 120 sweep spec.json --out other.csv --backend wasm
record c2-sweep-out-other "sweep spec.json --out other.csv (other.csv: 'a,b\\n1,2', no final newline)" \
  "other.csv now: $(node -e 'process.stdout.write(JSON.stringify(require("fs").readFileSync("other.csv","utf8")))')"

# 3. Two train --resume on one run folder.
if want c3-two-resumes; then
  node "$MAIN" train "${TINY[@]}" --episodes 2 --out twice >/dev/null 2>&1
  node "$MAIN" train --resume --out twice --episodes 300 >"$L/c3-first.out" 2>&1 &
  first=$!
  sleep 3
  run c3-two-resumes 300 train --resume --out twice --episodes 300
  wait $first
  firstrc=$?
  dupes=$(node -e 'const e=require("fs").readFileSync("twice/log.jsonl","utf8").trim().split("\n").map(l=>JSON.parse(l).episode);console.log(e.length-new Set(e).size)')
  record c3-two-resumes "train --resume --out RUN twice, 3 s apart" "first exit $firstrc; log lines written twice: $dupes"
fi

# 5. sweep --out into a missing folder, and onto a read-only file system.
run c5-missing-folder 60 sweep spec.json --out missing/x.csv --backend wasm
record c5-missing-folder "sweep spec.json --out missing/x.csv" "missing/x.csv written: $([ -f missing/x.csv ] && echo yes || echo no)"
mkdir -p ro
if mount -t tmpfs -o ro,size=1m hostile-ro ro 2>/dev/null; then
  MOUNTS+=("$T/ro")
  run c5-read-only 60 sweep spec.json --out ro/x.csv --backend wasm
  record c5-read-only "sweep spec.json --out ro/x.csv (ro: a read-only tmpfs)" "-"
fi

# 6. Budgets on resume.
node "$MAIN" train "${TINY[@]}" --episodes 4 --out short >/dev/null 2>&1
run c6-shorten 60 train --resume --out short --episodes 2
record c6-shorten "train --resume --out RUN --episodes 2 (RUN: 4 episodes, trained)" \
  "config.json episodes: $(node -p 'require("./short/config.json").episodes')"
run c6-other-recipe 60 train --resume --out short --recipe protonet-cifar-fs-1shot
record c6-other-recipe "train --resume --out RUN --recipe protonet-cifar-fs-1shot (RUN: no recipe)" \
  "config.json recipe: $(node -p 'require("./short/config.json").recipe')"

# 7. A NaN model; a teacher changed under a distillation.
cp -r model/best nan
weights nan/weights.bin
run c7-nan-eval 60 eval nan synthetic-test-5w1s --backend wasm
record c7-nan-eval "eval MODEL (one weight NaN)" "stdout: $(head -c 120 "$L/c7-nan-eval.out" 2>/dev/null | tr '\n' ' ')"
cp -r model teacher
node "$MAIN" distill --teacher teacher/best "${TINY[@]}" --episodes 2 --out student >/dev/null 2>&1
node -e 'const fs=require("fs");const f="teacher/best/weights.bin";const b=fs.readFileSync(f);b.writeFloatLE(b.readFloatLE(0)+1,0);fs.writeFileSync(f,b)'
run c7-teacher-changed 120 distill --resume --out student --episodes 4
record c7-teacher-changed "distill --resume --out RUN --episodes 4, its teacher's weights.bin changed since the start" \
  "episodes trained now: $(node -p 'try{require("./student/gen1/checkpoint/state.json").episode}catch{"none"}')"

# A sweep whose teacher is retrained in the folder its spec names, then given a new point.
cp -r model sweep-teacher
printf '%s\n' "{\"name\": \"taught\", \"runs\": \"$T/taught-runs\", \"suites\": [\"$T/suite.json\"], \"grid\": {\"seed\": [0]}," \
  " \"base\": {\"dataset\": \"synthetic\", \"split\": \"val\", \"way\": 3, \"shot\": 1, \"query\": 2, \"width\": 4, \"episodes\": 2," \
  "  \"logEvery\": 1, \"validateEvery\": 2, \"method\": \"distill\", \"teacher\": \"$T/sweep-teacher/best\"}}" >teacher-spec.json
node "$MAIN" sweep teacher-spec.json --out taught.csv --backend wasm >/dev/null 2>&1
rows_before=$(($(wc -l <taught.csv) - 1))
node -e 'const fs=require("fs");const f="sweep-teacher/best/weights.bin";const b=fs.readFileSync(f);b.writeFloatLE(b.readFloatLE(0)+1,0);fs.writeFileSync(f,b)'
sed -i 's/"seed": \[0\]/"seed": [0, 1]/' teacher-spec.json
run c7-sweep-teacher-retrained 120 sweep teacher-spec.json --out taught.csv --backend wasm
record c7-sweep-teacher-retrained "sweep SPEC --out CSV again, its teacher's weights.bin changed and a seed added since CSV's rows" \
  "CSV rows $rows_before -> $(($(wc -l <taught.csv) - 1))"

# 8. Files that are devices or FIFOs.
cp -r model/best zero
rm zero/weights.bin
ln -s /dev/zero zero/weights.bin
run c8-dev-zero 30 eval zero synthetic-test-5w1s --backend wasm
record c8-dev-zero "eval MODEL (weights.bin -> /dev/zero), 30 s limit" "-"
mkfifo fifo.json
run c8-fifo 30 episodes show fifo.json
record c8-fifo "episodes show fifo.json (a FIFO), 30 s limit" "-"

# 9. report of 200,000 rows of one setting.
want c9-report-200k && node "$MAIN" sweep spec.json --out big.csv --backend wasm >/dev/null 2>&1 && node -e '
  const fs = require("fs");
  const [head, row] = fs.readFileSync("big.csv", "utf8").trim().split("\n");
  const cols = head.split(","), cells = row.split(",");
  const k = cols.indexOf("key"), s = cols.indexOf("seed");
  const out = [head];
  for (let i = 0; i < 200000; i++) { cells[k] = i.toString(16).padStart(16, "0"); cells[s] = String(i); out.push(cells.join(",")); }
  fs.writeFileSync("big.csv", out.join("\n") + "\n");'
run c9-report-200k 300 report big.csv --out big-report
record c9-report-200k "report big.csv (200,000 rows, one setting, 200,000 seeds), 300 s limit" \
  "report.md written: $([ -f big-report/report.md ] && echo yes || echo no)"

# 12 (a message): report of a CSV with a 10 MB cell.
node -e '
  const fs = require("fs");
  const [head, row] = fs.readFileSync("taught.csv", "utf8").trim().split("\n");
  const cells = row.split(",");
  cells[head.split(",").indexOf("accuracy")] = "9".repeat(10000000);
  fs.writeFileSync("cell.csv", head + "\n" + cells.join(",") + "\n");'
run c12-10mb-cell 120 report cell.csv --out cell-report
record c12-10mb-cell "report cell.csv (its accuracy cell: 10 MB of digits)" "stderr: $(wc -c <"$L/c12-10mb-cell.err") bytes"

# 11. Leftovers.
run c11-recipe-start 60 train --recipe protonet-cifar-fs-1shot --data nowhere --out recipe-run
record c11-recipe-start "train --recipe protonet-cifar-fs-1shot --data nowhere --out R (no cache there)" \
  "R left: $([ -e recipe-run ] && ls recipe-run | tr '\n' ' ' || echo no)"
node "$MAIN" train "${TINY[@]}" --episodes 4 --lr 1e30 --out blown >"$L/c11-blown.out" 2>&1
blown=$?
run c11-diverged-rerun 60 train "${TINY[@]}" --episodes 4 --lr 0.0001 --out blown
record c11-diverged-rerun "train --lr 0.0001 --out R, after the same with --lr 1e30 diverged before R's first checkpoint" \
  "the diverged run: exit $blown, $(grep -v '^backend:' "$L/c11-blown.out" | head -1 | cut -c1-160); R/best now: $([ -d blown/best ] && echo yes || echo no)"
node "$MAIN" train "${TINY[@]}" --episodes 2 --out torn >/dev/null 2>&1
printf '{"episode": 3, "lr": 0.00' >>torn/log.jsonl
run c11-torn-log 60 train --resume --out torn --episodes 4
record c11-torn-log "train --resume --out R --episodes 4 (R's log.jsonl ends in half a line past its checkpoint)" \
  "checkpoint episode: $(node -p 'require("./torn/checkpoint/state.json").episode')"

# A run locked by a process of another host of the same name (a container of one image) whose pid is free here.
node "$MAIN" train "${TINY[@]}" --episodes 2 --out twin >/dev/null 2>&1
mkdir twin.lock
node -e 'const os=require("os");require("fs").writeFileSync("twin.lock/owner.json", JSON.stringify({host: os.hostname(), hostId: os.hostname() + ".00000000", pid: 4194305, staleSeconds: 300}))'
run c11-twin-host 60 train --resume --out twin --episodes 4
record c11-twin-host "train --resume --out R (R.lock: fresh, held by pid 4194305 of another host of this host's name)" \
  "R trained to episode $(node -p 'require("./twin/checkpoint/state.json").episode')"

# 12. Checkpoint files cut or edited.
node "$MAIN" train "${TINY[@]}" --episodes 2 --out cut >/dev/null 2>&1
head -c 30 cut/checkpoint/state.json >cut/s && mv cut/s cut/checkpoint/state.json
run c12-state-json 60 train --resume --out cut --episodes 4
record c12-state-json "train --resume --out R (R/checkpoint/state.json cut to 30 bytes)" "-"
cp -r model/best shaped
node -e 'const f="shaped/model.json";const j=require("./"+f);const w=j.weightsManifest[0].weights[0];w.shape=[w.shape.reduce((a,b)=>a*b,1)];require("fs").writeFileSync(f,JSON.stringify(j))'
run c12-model-shape 60 eval shaped synthetic-test-5w1s --backend wasm
record c12-model-shape "eval MODEL (model.json: the first kernel's shape flattened, same size)" "-"

# 13. The library.
lib() {
  local name=$1 input=$2 code=$3
  want "$name" || return 0
  CMD="node --input-type=module -e '$code'"
  # The error's message, as a library user's catch would see it.
  (cd "$BUILD" && timeout 60 node --input-type=module -e "try { $code } catch (e) { console.error('error: ' + e.message); process.exit(1); }") \
    >"$L/$name.out" 2>"$L/$name.all"
  RC=$?
  grep '^error: ' "$L/$name.all" >"$L/$name.err" # not tfjs's banner
  echo "  [$name] exit $RC" >&2
  record "$name" "$input" "stdout: $(head -c 120 "$L/$name.out" | tr '\n' ' ')"
}
lib c13-uneven-queries "prototypicalLoss(support [5, 4], query [7, 4], way 5)" '
  const tf = await import("@tensorflow/tfjs"); const { prototypicalLoss } = await import("./dist/src/losses/protonet.js");
  const r = prototypicalLoss(tf.zeros([5, 4]), tf.zeros([7, 4]), 5); console.log("loss", r.loss.dataSync()[0]);'
lib c13-no-budget "trainProtoNet({...DEFAULT_PROTONET, episodes: undefined}, DIR)" '
  const { DEFAULT_PROTONET, trainProtoNet } = await import("./dist/src/train/protonet.js");
  const r = await trainProtoNet({ ...DEFAULT_PROTONET, dataset: "synthetic", split: "train", width: 4, episodes: undefined }, process.env.T + "/lib-run");
  console.log("trained", r.state.episode, "episodes");'
lib c13-small-input "conv4({inputShape: [8, 8, 1]}) embedding width" '
  const { conv4 } = await import("./dist/src/models/conv4.js");
  console.log("embedding width", conv4({ inputShape: [8, 8, 1] }).outputShape[1]);'
echo "$(wc -l <"$OUT") cases in $OUT" >&2
