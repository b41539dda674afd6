#!/usr/bin/env bash
# A user's first day, timed (issue 28): a fresh clone's set-up and first command, the packed tarball
# (size, files), a new project installing it, require and import of the root and subpaths, and a
# strict TypeScript consumer with the README's settings under both module systems. One JSON object
# per measurement in OUT (default scripts/results/first-day/first-day.jsonl). Run it on a quiet
# machine: every figure is wall-clock time.
#
#   scripts/first-day.sh [OUT]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/scripts/results/first-day/first-day.jsonl}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$(dirname "$OUT")"
: > "$OUT.part"

# timed NAME CMD...: runs CMD (its output to a log, shown if it fails), appends {"step","seconds","exit"}.
timed() {
  local name=$1 log start end code=0
  shift
  log="$work/log-$(echo "$name" | tr -c 'a-zA-Z0-9' '-').txt"
  start=$(date +%s.%N)
  "$@" > "$log" 2>&1 || code=$?
  end=$(date +%s.%N)
  node -e 'console.log(JSON.stringify({ step: process.argv[1], seconds: +(+process.argv[3] - +process.argv[2]).toFixed(3), exit: +process.argv[4] }))' \
    "$name" "$start" "$end" "$code" >> "$OUT.part"
  [ "$code" = 0 ] || { echo "first-day: $name failed (exit $code):" >&2; tail -5 "$log" >&2; exit 1; }
}

git clone -q "$ROOT" "$work/clone"
cd "$work/clone"
timed 'npm ci' npm ci --no-audit --no-fund
timed 'npm link --ignore-scripts' env npm_config_prefix="$work/global" npm link --ignore-scripts --no-audit --no-fund
for i in 1 2 3; do timed "fewshot --version ($i)" "$work/global/bin/fewshot" --version; done
timed 'fewshot episodes --help' "$work/global/bin/fewshot" episodes --help
timed 'npm run fewshot -- --version' npm run -s fewshot -- --version

# The tarball: what npm publish would upload.
timed 'npm pack' npm pack --silent --pack-destination "$work"
tarball=$(ls "$work"/fewshot-rkd-*.tgz)
node -e '
  const fs = require("fs");
  const files = require("child_process").execFileSync("tar", ["-tzf", process.argv[1]], { encoding: "utf8" }).trim().split("\n");
  console.log(JSON.stringify({ step: "tarball", bytes: fs.statSync(process.argv[1]).size, files: files.length }));
' "$tarball" >> "$OUT.part"

# A new project installing it (its install script approved, as the README says), then its consumers.
mkdir "$work/app"
cd "$work/app"
echo '{ "name": "app", "version": "1.0.0", "private": true, "allowScripts": { "fewshot-rkd": true } }' > package.json
timed 'npm install tarball' npm install --prefer-offline --no-audit --no-fund "$tarball" '@types/node@^20.19'
for sub in '' /train /report; do
  timed "require fewshot-rkd$sub" node -e "require('fewshot-rkd$sub')"
  timed "import fewshot-rkd$sub" node --input-type=module -e "await import('fewshot-rkd$sub')"
done
tsconfig=$(node -e '
  const text = require("fs").readFileSync(process.argv[1], "utf8");
  process.stdout.write(/```json\n(\{\n\s+"compilerOptions"[\s\S]*?)```/.exec(text)[1]);
' "$ROOT/README.md")
for type in commonjs module; do
  mkdir "$work/$type"
  cd "$work/$type"
  echo "{ \"name\": \"consumer\", \"type\": \"$type\" }" > package.json
  echo "$tsconfig" > tsconfig.json
  ln -s "$work/app/node_modules" node_modules
  cat > main.ts <<'EOF'
import { conv4, initBackend, openDataset } from 'fewshot-rkd';

async function main(): Promise<void> {
  const info = await initBackend();
  const data = openDataset('synthetic', 'val');
  console.log(info.name, conv4({ inputShape: data.imageShape, width: 4, seed: 0 }).countParams());
}
void main();
EOF
  timed "tsc strict consumer ($type)" node "$ROOT/node_modules/typescript/bin/tsc" -p .
  timed "run consumer ($type)" node main.js
done
mv "$OUT.part" "$OUT"
echo "first-day: $(wc -l < "$OUT") measurements in $OUT"
