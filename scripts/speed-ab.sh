#!/usr/bin/env bash
# Side-by-side timings of two builds of the project (e.g. a checkout of an older commit and this one),
# alternating, ROUNDS rounds: the Omniglot import from the zips, the evaluation of the four Omniglot
# test suites (process start included), and `fewshot bench` of the two Omniglot shapes (training and
# distillation steps). One JSON line per measurement to OUT/timings.jsonl; summarise with
# scripts/speed-ab-table.mjs. Each root must be built (npx tsc, npm run build:native).
#
#   scripts/speed-ab.sh BEFORE_ROOT AFTER_ROOT MODEL OUT [ROUNDS]
#     MODEL: a trained Omniglot model folder (a run's best/) for the evaluation
#     OMNIGLOT_ZIPS (default ../shared/data/omniglot): the official zips and splits
set -euo pipefail
before=$(realpath "$1") after=$(realpath "$2") model=$(realpath "$3") out=$4 rounds=${5:-3}
zips=$(realpath "${OMNIGLOT_ZIPS:-$(dirname "$0")/../../shared/data/omniglot}")
mkdir -p "$out"
log=$out/timings.jsonl
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# wall ROOT WHAT COMMAND...: runs COMMAND in ROOT, appends {build, what, wallS, cpuS}.
wall() {
  local root=$1 what=$2; shift 2
  local t0 t1 usage
  t0=$(date +%s.%N)
  usage=$( (cd "$root" && /usr/bin/time -f '%U %S' "$@" > /dev/null 2> "$scratch/err") 2>&1; tail -1 "$scratch/err")
  t1=$(date +%s.%N)
  read -r user sys <<< "$usage"
  printf '{"build":"%s","what":"%s","wallS":%s,"cpuS":%s}\n' "$(basename "$root")" "$what" \
    "$(echo "$t1 - $t0" | bc)" "$(echo "$user + $sys" | bc)" >> "$log"
}

for round in $(seq "$rounds"); do
  for root in "$before" "$after"; do
    rm -rf "$scratch/cache"
    wall "$root" import node dist/src/cli/main.js data omniglot --from "$zips" --out "$scratch/cache" --json
    wall "$root" eval4 node dist/src/cli/main.js eval "$model" omniglot-test-5w1s omniglot-test-5w5s \
      omniglot-test-20w1s omniglot-test-20w5s --out "$scratch/eval-$round-$(basename "$root")"
    (cd "$root" && node dist/src/cli/main.js bench --shapes omniglot-60w5s5q,omniglot-5w1s15q --json 2> /dev/null) |
      node -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>{for(const r of JSON.parse(s))
        console.log(JSON.stringify({build:process.argv[1],what:"bench",round:+process.argv[2],...r,provenance:undefined}))})' \
        "$(basename "$root")" "$round" >> "$log"
  done
done
# The evaluations of the two builds must agree episode by episode.
for f in "$scratch"/eval-1-"$(basename "$before")"/*.episodes.csv; do
  cmp -s "$f" "$scratch/eval-1-$(basename "$after")/$(basename "$f")" && same=true || same=false
  printf '{"what":"same-episodes","suite":"%s","identical":%s}\n' "$(basename "$f" .episodes.csv)" "$same" >> "$log"
done
echo "timings in $log"
