#!/usr/bin/env bash
# The Omniglot paper-recipe teachers (snell2017-omniglot-1shot and -5shot) retrained for the model zoo
# (issue 25, item 4). Their checkpoints were lost; their logs are committed in
# scripts/results/omniglot-paper/<shot>shot/teacher/ (select-log.jsonl: stage 1, train-log.jsonl: stage 2).
# They were trained by commit a6d8ad5 (docs/paper-protocol.md: "the native kernels of the code snapshot
# a6d8ad5"), whose native kernels are one -march=native build (no ISA levels yet), one thread per model
# (OMP_NUM_THREADS=1), two models at a time, by scripts/omniglot-paper.sh's own command
# (`train --recipe ... --backend auto --json`). This script trains them again the same way from a
# snapshot of that commit (CODE, a git worktree built with npm ci), on an Omniglot cache made by that
# commit's importer (its bytes checked), so that every line of each stage's log equals the committed
# one in episode, lr, loss, accuracy and the validation fields (rates, memory and times differ). Then,
# per teacher:
#   - the snapshot evaluates it on its shot's two test suites: the per-episode files must be the
#     committed ones byte for byte (runs/.../eval-a6d8ad5);
#   - this checkout evaluates it into RESULTS/<shot>shot/teacher (the files the zoo card names and its
#     reproduce line rewrites): the per-episode accuracies must be the committed ones;
#   - its logs are copied there, and `fewshot models add` puts it into models/.
# Runs live under the cache root (RUNS); re-running the script resumes every unfinished run from its
# checkpoint, and skips what is done. Logs: RUNS/<shot>shot.log (the training's own output in
# RUNS/<shot>shot/train.log).
#
#   scripts/omniglot-retrain.sh                 # both teachers; nohup ... & for the background
#   SHOTS=1 scripts/omniglot-retrain.sh         # one teacher
#   scripts/omniglot-retrain.sh check           # compare the logs so far with the committed ones
#   NICE=10 ...                                 # niced training (other jobs on the machine)
# Alone on two cores: about 2.3 h (1-shot, ~2.9 episodes/s) and 3 h (5-shot, ~1.9 episodes/s) of training.
#
# Set-up, once (CODE is kept under the cache root; redo it only if it is gone):
#   git -C . worktree add --detach ~/.cache/fewshot-rkd/code/a6d8ad5 a6d8ad5
#   (cd ~/.cache/fewshot-rkd/code/a6d8ad5 && npm ci)   # its lock differs from main's; builds dist/ and src/native
# The Omniglot cache is imported here by the snapshot when missing (OMNIGLOT: the official zips).
# a6d8ad5's native kernels are one build for the building CPU (-march=native, -ffp-contract=fast). The
# committed logs came from an Intel Xeon with AVX-512 (Sapphire Rapids flags); on a 2-core AMD EPYC with
# AVX-512 (GCC 12.2: -march=native is znver3 plus the AVX-512 flags) the 1-shot recipe's first 64 select
# lines (3,200 episodes, six validations), the 5-shot's first 11 (one validation) and stage 2's first two
# were equal, and a resume from a checkpoint went on equal. On another CPU, rebuild (cd CODE && npm run
# build:native) and run `check` after the first validation (500 episodes) before trusting the rest.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
COMMIT=a6d8ad5aa019e85f248a141f25259e6c7a2d4c40
BASE=${BASE:-$HOME/.cache/fewshot-rkd}
CODE=${CODE:-$BASE/code/a6d8ad5}
# A cache root of its own (not FEWSHOT_CACHE, which may name the shared one): this retrain's Omniglot
# cache is a6d8ad5's import, whatever later importers write.
DATA=${DATA:-$BASE/omniglot-retrain}
RUNS=${RUNS:-$BASE/runs/omniglot-retrain}
RESULTS=${RESULTS:-$ROOT/scripts/results/omniglot-retrain}
COMMITTED=$ROOT/scripts/results/omniglot-paper
OMNIGLOT=${OMNIGLOT:-$ROOT/../shared/data/omniglot}
SHOTS=${SHOTS:-1 5}
NICE=${NICE:-0}
# images.bin as a6d8ad5's importer wrote it from the official zips (sha256 of the zips in OMNIGLOT/SHA256SUMS).
IMAGES_SHA256=252cbd6d35329595f7568f48311d90260e74ce8d5a0ad88ca88fcdcff1115c20
BACKEND_LINE='backend: wasm (@tensorflow/tfjs-backend-wasm + native convolutions, 1 thread)'
export FEWSHOT_CACHE=$DATA OMP_NUM_THREADS=1
snapshot() { nice -n "$NICE" node "$CODE/dist/src/cli/main.js" "$@"; }
current() { node "$ROOT/dist/src/cli/main.js" "$@"; }

# checklog COMMITTED RUN [--prefix]: the run's log equals the committed one line for line in the fields
# training computes (not rates, memory or times); --prefix: as far as the run has got.
checklog() {
  node -e '
    const fs = require("fs");
    const [committed, run, mode] = process.argv.slice(1);
    const KEYS = ["episode", "lr", "loss", "accuracy", "valAccuracy", "valCi95", "valLoss"];
    const read = (f) => fs.readFileSync(f, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
    const a = read(committed), b = fs.existsSync(run) ? read(run) : [];
    for (let i = 0; i < Math.min(a.length, b.length); i++)
      for (const k of KEYS)
        if (JSON.stringify(a[i][k]) !== JSON.stringify(b[i][k])) {
          console.log(`${run}: line ${i + 1} (episode ${a[i].episode}) ${k} ${b[i][k]}, committed ${a[i][k]}: MISMATCH`);
          process.exit(1);
        }
    const n = Math.min(a.length, b.length);
    const whole = a.length === b.length;
    console.log(`${run}: ${n} of ${a.length} committed lines equal${whole ? "" : ` (the run has ${b.length})`}`);
    if (!whole && (mode !== "--prefix" || b.length > a.length)) process.exit(1);
  ' "$@"
}

# finished RUN: the recipe run has trained its final stage to the end.
finished() {
  node -e '
    const fs = require("fs"), p = require("path");
    const final = p.join(process.argv[1], "final");
    try {
      const config = JSON.parse(fs.readFileSync(p.join(final, "config.json"), "utf8"));
      const state = JSON.parse(fs.readFileSync(p.join(final, "checkpoint", "state.json"), "utf8"));
      process.exit(state.episode >= config.episodes && fs.existsSync(p.join(final, "best", "model.json")) ? 0 : 1);
    } catch { process.exit(1); }
  ' "$1"
}

check() {
  local s status=0
  for s in $SHOTS; do
    checklog "$COMMITTED/${s}shot/teacher/select-log.jsonl" "$RUNS/${s}shot/teacher/select/log.jsonl" --prefix || status=1
    checklog "$COMMITTED/${s}shot/teacher/train-log.jsonl" "$RUNS/${s}shot/teacher/final/log.jsonl" --prefix || status=1
  done
  return $status
}

# The snapshot, as the retrain needs it: that commit, unmodified, built, with its native kernels.
preflight() {
  [ "$(git -C "$CODE" rev-parse HEAD 2>/dev/null)" = "$COMMIT" ] || {
    echo "$CODE: not a checkout of $COMMIT (set-up: see the head of $0)" >&2
    exit 1
  }
  [ -z "$(git -C "$CODE" status --porcelain --untracked-files=no)" ] || {
    echo "$CODE: has local changes" >&2
    exit 1
  }
  [ -f "$CODE/dist/src/cli/main.js" ] && [ -f "$CODE/src/native/build/Release/fewshot_native.node" ] || {
    echo "$CODE: not built (cd $CODE && npm ci)" >&2
    exit 1
  }
  [ -f "$ROOT/dist/src/cli/main.js" ] || {
    echo "$ROOT: not built (npx tsc -p .)" >&2
    exit 1
  }
  if [ ! -f "$DATA/omniglot/images.bin" ]; then
    snapshot data omniglot --from "$OMNIGLOT" --out "$DATA/omniglot"
  fi
  local sha
  sha=$(sha256sum "$DATA/omniglot/images.bin" | cut -d' ' -f1)
  [ "$sha" = "$IMAGES_SHA256" ] || {
    echo "$DATA/omniglot/images.bin: sha256 $sha, not the import the retrain was checked on ($IMAGES_SHA256)" >&2
    exit 1
  }
}

# teacher SHOT: trains (or resumes) the recipe's teacher, checks both stages' logs, evaluates it twice.
teacher() {
  local s=$1 dir=$RUNS/$1shot out=$RUNS/$1shot/teacher results=$RESULTS/$1shot/teacher committed=$COMMITTED/$1shot/teacher
  local suites=(omniglot-test-5w${s}s omniglot-test-20w${s}s) suite
  mkdir -p "$dir"
  # The training's own output (every start and resume) in RUNS/<shot>shot/train.log.
  if ! finished "$out"; then
    if [ -f "$out/config.json" ]; then
      snapshot train --resume --out "$out" --backend auto --json >> "$dir/train.log" 2>&1
    else
      snapshot train --recipe "snell2017-omniglot-${s}shot" --out "$out" --backend auto --json >> "$dir/train.log" 2>&1
    fi
  fi
  # Every start and resume ran on the backend the committed runs had.
  if grep '^backend: ' "$dir/train.log" | grep -vxF "$BACKEND_LINE" >&2; then
    echo "$dir/train.log: a start on another backend than '$BACKEND_LINE' (above)" >&2
    return 1
  fi
  checklog "$committed/select-log.jsonl" "$out/select/log.jsonl"
  checklog "$committed/train-log.jsonl" "$out/final/log.jsonl"
  # The snapshot's evaluation: the committed per-episode files, byte for byte.
  # (a6d8ad5's eval takes suite files, not names.)
  local files=()
  for suite in "${suites[@]}"; do files+=("$CODE/episodes/$suite.json"); done
  snapshot eval "$out/final/best" "${files[@]}" --backend auto --out "$dir/eval-a6d8ad5"
  for suite in "${suites[@]}"; do cmp "$dir/eval-a6d8ad5/$suite.episodes.csv" "$committed/$suite.episodes.csv"; done
  # This checkout's evaluation (its per-episode files carry the suite): the same accuracies, episode by episode.
  (cd "$ROOT" && current eval "$out/final/best" "${suites[@]}" --out "${results#"$ROOT"/}")
  for suite in "${suites[@]}"; do
    cmp <(cut -d, -f1,2 "$results/$suite.episodes.csv") "$committed/$suite.episodes.csv"
  done
  cp "$out/select/log.jsonl" "$results/select-log.jsonl"
  cp "$out/final/log.jsonl" "$results/train-log.jsonl"
  echo "teacher ${s}-shot: both stages' logs and both evaluations equal the committed ones"
}

# zoo SHOT: adds the teacher to models/ from the run folder itself. a6d8ad5 predates provenance (its
# config.json and checkpoints record no code, machine or times), so `fewshot models add` takes the
# commit that names the code (--code-commit) and the exact command that trained it (--command: the
# snapshot, its Omniglot cache, one thread); the card says the run recorded no provenance and gives the
# training time computed from the committed log's rates, no start or end (docs/models.md).
zoo() {
  local s=$1 name=snell2017-omniglot-$1shot out=$RUNS/$1shot/teacher
  if [ -d "$ROOT/models/$name" ] && [ -z "${REPLACE:-}" ]; then
    echo "models/$name: in the zoo already (REPLACE=1 replaces it)"
    return 0
  fi
  # The command as it ran, from the cache root (~ where it is the default one).
  local base=$BASE
  [ "$BASE" = "$HOME/.cache/fewshot-rkd" ] && base='~/.cache/fewshot-rkd'
  current models add "$out" --results "$RESULTS/${s}shot/teacher" --code-commit "$COMMIT" ${REPLACE:+--replace} \
    --command "cd $base && FEWSHOT_CACHE=\$PWD/${DATA#"$BASE"/} OMP_NUM_THREADS=1 node ${CODE#"$BASE"/}/dist/src/cli/main.js train --recipe $name --out ${out#"$BASE"/} --backend auto --json"
}

if [ "${1:-}" = check ]; then
  check
  exit
fi
preflight
mkdir -p "$RUNS"
pids=()
for s in $SHOTS; do
  # One core per teacher, as the committed runs had.
  (teacher "$s" && zoo "$s") >> "$RUNS/${s}shot.log" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
if [ $status = 0 ]; then
  echo "teachers in models/, their evaluations and logs in $RESULTS"
else
  echo "a teacher failed: see $RUNS/*shot.log" >&2
fi
exit $status
