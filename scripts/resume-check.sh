#!/usr/bin/env bash
# A real run killed mid-way (SIGKILL, at a random moment) and resumed must end bit-identical to an
# uninterrupted one. Trains the 1-shot paper recipe's stage-1 settings on real Omniglot for EPISODES
# episodes twice, kills one of them after KILL_AFTER seconds, resumes it, and compares the sha256 of
# the last checkpoint's and the best model's weights and optimizer state. Writes $RESULTS/result.json.
#   EPISODES=600 KILL_AFTER=120 scripts/resume-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
EPISODES=${EPISODES:-600}
KILL_AFTER=${KILL_AFTER:-120}
RESULTS=${RESULTS:-scripts/results/resume-check}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fewshot() { node dist/src/cli/main.js "$@"; }
args=(--recipe snell2017-omniglot-1shot --episodes "$EPISODES" --validate-every 100 --log-every 50 --json)

fewshot train "${args[@]}" --out "$work/whole" > "$work/whole.log" 2>&1 &
whole=$!
# setsid: the kill reaches the whole process, as a machine stop would.
setsid node dist/src/cli/main.js train "${args[@]}" --out "$work/killed" > "$work/killed.log" 2>&1 &
killed=$!
sleep "$KILL_AFTER"
kill -9 "$killed" 2>/dev/null || { echo "the run finished before the kill: lower KILL_AFTER" >&2; exit 1; }
wait "$killed" || true
at=$(node -e "console.log(JSON.parse(require('fs').readFileSync('$work/killed/select/checkpoint/state.json','utf8')).episode)" 2>/dev/null || echo 0)
logged=$(grep -c '"episode"' "$work/killed.log" || true)
fewshot train --resume --out "$work/killed" --json >> "$work/killed.log" 2>&1
wait "$whole"

digest() { cat "$1"/weights.bin "$1"/optimizer.bin 2>/dev/null | sha256sum | cut -c1-16; }
mkdir -p "$RESULTS"
node -e '
const [work, at, logged, episodes, killAfter] = process.argv.slice(1);
const fs = require("fs"), crypto = require("crypto");
const hash = (dir) => crypto.createHash("sha256").update(Buffer.concat(["weights.bin", "optimizer.bin"]
  .filter((f) => fs.existsSync(`${dir}/${f}`)).map((f) => fs.readFileSync(`${dir}/${f}`)))).digest("hex");
const strip = (f) => fs.readFileSync(f, "utf8").trim().split("\n").map((l) => { const { episodesPerSecond, tensors, rssMB, ...r } = JSON.parse(l); return JSON.stringify(r); });
const out = { episodes: +episodes, killAfterSeconds: +killAfter, killedAfterLogLines: +logged, resumedFromEpisode: +at };
for (const stage of ["select", "final"]) for (const kind of ["checkpoint", "best"]) {
  const [a, b] = [hash(`${work}/whole/${stage}/${kind}`), hash(`${work}/killed/${stage}/${kind}`)];
  out[`${stage}/${kind}`] = { uninterrupted: a.slice(0, 16), resumed: b.slice(0, 16), identical: a === b };
}
for (const stage of ["select", "final"]) out[`${stage}/log.jsonl identical`] = JSON.stringify(strip(`${work}/whole/${stage}/log.jsonl`)) === JSON.stringify(strip(`${work}/killed/${stage}/log.jsonl`));
out.provenance = JSON.parse(fs.readFileSync(`${work}/whole/config.json`, "utf8")).provenance;
console.log(JSON.stringify(out, null, 2));
' "$work" "$at" "$logged" "$EPISODES" "$KILL_AFTER" | tee "$RESULTS/result.json"
grep -q '"identical": false' "$RESULTS/result.json" && { echo "MISMATCH" >&2; exit 1; } || true
