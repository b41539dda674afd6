#!/usr/bin/env bash
# `fewshot bench` side by side with its PyTorch peer (scripts/peer-bench-pytorch.py): every bench
# shape, each measurement in its own process, the two alternating, ROUNDS rounds. One JSON line per
# measurement to OUT/timings.jsonl; summarise with scripts/peer-bench-table.mjs. PyTorch is a measuring
# tool here, never a dependency: apt-get install python3-torch libopenblas0-pthread libtcmalloc-minimal4.
# tcmalloc is preloaded: without it glibc returns each large tensor to the OS and this VM's page
# faults make PyTorch 6-7x slower. Run it on a quiet machine (pause other jobs: kill -STOP).
#
#   scripts/peer-bench.sh OUT [ROUNDS] [SHAPES]
#   BEFORE=ROOT scripts/peer-bench.sh ...   # also an older build of the project (built: npx tsc,
#                                           # npm run build:native), in the same rounds, as fewshot-before
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1 rounds=${2:-3}
shapes=${3:-omniglot-60w5s5q,omniglot-5w1s15q,miniimagenet-5w5s15q,miniimagenet-20w5s15q,miniimagenet-30w1s15q,cifar-5w1s15q,cifar-5w5s15q}
python=${PYTHON:-/usr/bin/python3}
tcmalloc=${TCMALLOC:-$(ls /usr/lib/*/libtcmalloc_minimal.so.4 2> /dev/null | head -1)}
[ -n "$tcmalloc" ] || { echo "peer-bench: libtcmalloc_minimal.so.4 not found (apt-get install libtcmalloc-minimal4)" >&2; exit 2; }
"$python" -c 'import torch' 2> /dev/null || { echo "peer-bench: $python cannot import torch (apt-get install python3-torch)" >&2; exit 2; }
mkdir -p "$out"
log=$out/timings.jsonl
tag() { node -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>{for(const l of s.trim().split("\n")){const r=JSON.parse(l);
  for(const x of Array.isArray(r)?r:[r]) console.log(JSON.stringify({peer:process.argv[1],round:+process.argv[2],...x}))}})' "$@"; }
for round in $(seq "$rounds"); do
  for shape in ${shapes//,/ }; do
    LD_PRELOAD=$tcmalloc "$python" scripts/peer-bench-pytorch.py --threads 2 --shapes "$shape" | tag pytorch "$round" >> "$log"
    node dist/src/cli/main.js bench --shapes "$shape" --json 2> /dev/null | tag fewshot "$round" >> "$log"
    if [ -n "${BEFORE:-}" ]; then
      (cd "$BEFORE" && node dist/src/cli/main.js bench --shapes "$shape" --json 2> /dev/null) | tag fewshot-before "$round" >> "$log"
    fi
  done
done
echo "timings in $log"
