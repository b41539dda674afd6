#!/usr/bin/env bash
# The synthetic sweep (scripts/sweeps/synthetic-small.json) under a real Slurm scheduler, checked
# against a single process:
#   1. starts a one-node Slurm cluster on this machine (munged, slurmctld, slurmd; configured in a
#      temporary folder, stopped on exit);
#   2. submits the teacher as a job, the sweep as a job array of SHARDS tasks that depends on it
#      (scripts/slurm/sweep-array.sbatch), and the merge + report as a job that depends on the array;
#   3. requeues one running task on purpose (Slurm sends it SIGTERM; the requeued task resumes);
#   4. runs the same spec in one process (`fewshot sweep`, no shards) and checks the merged CSV
#      against it row by row: every column but times, resume points and checkpoint paths.
# Output: scripts/results/slurm-sweep/ (sinfo/squeue excerpts, task logs, CSVs, report, check.json).
# Needs Debian's slurm-wlm and munge (apt-get install slurm-wlm munge), run as root (the daemons
# and jobs run as the current user, but slurmd needs root to start jobs).
#
#   scripts/slurm-sweep.sh          # about 20 minutes on 2 cores
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SHARDS=${SHARDS:-3}
RUNS=${RUNS:-${FEWSHOT_CACHE:-$HOME/.cache/fewshot-rkd}/runs/slurm-sweep}
RESULTS=${RESULTS:-scripts/results/slurm-sweep}
fewshot() { node dist/src/cli/main.js "$@"; }
for tool in munged slurmctld slurmd sbatch; do
  command -v "$tool" > /dev/null || { echo "slurm-sweep: $tool not found: apt-get install slurm-wlm munge" >&2; exit 2; }
done
[ -f dist/src/cli/main.js ] || { echo "slurm-sweep: build first (npm ci)" >&2; exit 2; }

CLUSTER=$(mktemp -d /tmp/fewshot-slurm.XXXXXX)
export SLURM_CONF=$CLUSTER/slurm.conf
stop_cluster() {
  scancel --user "$(id -un)" 2> /dev/null || true
  scontrol shutdown 2> /dev/null || true
  sleep 2
  [ -f "$CLUSTER/munged.pid" ] && kill "$(cat "$CLUSTER/munged.pid")" 2> /dev/null || true
  rm -rf "$CLUSTER"
}
trap stop_cluster EXIT

# --- a one-node cluster in $CLUSTER ----------------------------------------------------------------
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mkdir -p "$CLUSTER"/{state,spool,munge}
chmod 700 "$CLUSTER/munge"
mungekey --create --keyfile "$CLUSTER/munge/munge.key"
munged --socket "$CLUSTER/munge/socket" --key-file "$CLUSTER/munge/munge.key" --pid-file "$CLUSTER/munged.pid" \
  --log-file "$CLUSTER/munged.log" --seed-file "$CLUSTER/munge/seed" --force
NODE=$(hostname -s)
cat > "$SLURM_CONF" <<EOF
ClusterName=fewshot
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=$(id -un)
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$CLUSTER/munge/socket
CredType=cred/munge
StateSaveLocation=$CLUSTER/state
SlurmdSpoolDir=$CLUSTER/spool
SlurmctldPidFile=$CLUSTER/slurmctld.pid
SlurmdPidFile=$CLUSTER/slurmd.pid
SlurmctldLogFile=$CLUSTER/slurmctld.log
SlurmdLogFile=$CLUSTER/slurmd.log
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
JobRequeue=1
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 30); do sinfo -h -o %T 2> /dev/null | grep -q idle && break; sleep 1; done

rm -rf "$RESULTS" "$RUNS"
mkdir -p "$RESULTS" "$RUNS"
{ echo "\$ sinfo"; sinfo; echo; echo "\$ scontrol show node"; scontrol show node | sed -n '1,6p'; } > "$RESULTS/sinfo.txt"
cat "$RESULTS/sinfo.txt"

# The spec with its runs folder and teacher under $RUNS: one copy for the array, one for the single process.
spec_for() {
  node -e 'const fs = require("fs"); const s = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    s.runs = process.argv[2]; s.base.teacher = process.argv[3]; process.stdout.write(JSON.stringify(s, null, 2) + "\n");' \
    scripts/sweeps/synthetic-small.json "$1" "$RUNS/teacher/best" > "$2"
}
spec_for "$RUNS/array" "$RUNS/array-spec.json"
spec_for "$RUNS/single" "$RUNS/single-spec.json"

# --- the jobs ----------------------------------------------------------------------------------------
export OMP_NUM_THREADS=1 BACKEND=wasm
TEACHER=$(sbatch --parsable --job-name=teacher --chdir="$ROOT" --cpus-per-task=1 --output="$RESULTS/teacher.out" --wrap \
  "node dist/src/cli/main.js train --out $RUNS/teacher --backend wasm --dataset synthetic --split train \
   --val-suite episodes/synthetic-val-5w1s.json --way 10 --shot 5 --query 5 --width 16 --episodes 100 \
   --validate-every 20 --log-every 10 --seed 0")
ARRAY=$(sbatch --parsable --chdir="$ROOT" --dependency="afterok:$TEACHER" --array="0-$((SHARDS - 1))" \
  --output="$RESULTS/task-%a.out" scripts/slurm/sweep-array.sbatch "$RUNS/array-spec.json" "$RUNS/array")
MERGE=$(sbatch --parsable --job-name=merge --chdir="$ROOT" --dependency="afterok:$ARRAY" --output="$RESULTS/merge.out" --wrap \
  "node dist/src/cli/main.js sweep merge $RUNS/array/shard-*.csv --out $RESULTS/sweep.csv && node dist/src/cli/main.js report $RESULTS/sweep.csv --out $RESULTS")
echo "submitted: teacher $TEACHER, array $ARRAY (0-$((SHARDS - 1))), merge $MERGE"
{ echo "\$ squeue   # just after submitting"; squeue; } > "$RESULTS/squeue.txt"

# Requeue task 1 once the point it is training has a checkpoint (every 20 episodes of 60).
snapshot() { { echo; echo "\$ squeue   # $1"; squeue; } >> "$RESULTS/squeue.txt"; }
episode_of() { node -e 'try { console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).episode) } catch { console.log(0) }' "$1"; }
for _ in $(seq 1800); do
  KEY=$(sed -n 's/^point 1 \[.*\] \([0-9a-f]\{16\}\): training.*/\1/p' "$RESULTS/task-1.out" 2> /dev/null | tail -n 1 || true)
  if [ -n "$KEY" ] && [ "$(episode_of "$RUNS/array/$KEY/checkpoint/state.json")" -ge 20 ]; then break; fi
  sleep 1
done
snapshot "the array running; requeueing task 1"
scontrol requeue "${ARRAY}_1"
# Slurm holds a requeued job for two minutes once it is pending again: release it then.
for _ in $(seq 60); do [ "$(squeue -h -j "${ARRAY}_1" -o %T)" = PENDING ] && break; sleep 1; done
snapshot "task 1 requeued, pending (released now rather than in two minutes)"
scontrol update JobId="${ARRAY}_1" StartTime=now
{ echo "\$ scontrol show job ${ARRAY}_1   # after the requeue"; scontrol show job "${ARRAY}_1" | grep -E 'JobId|JobState|Restarts|BeginTime|Command'; } > "$RESULTS/requeue.txt"

# The single-process run, while the array runs.
fewshot sweep "$RUNS/single-spec.json" --out "$RESULTS/single.csv" --backend wasm > "$RESULTS/single.out" 2>&1 &
SINGLE=$!
while squeue -h -j "$MERGE" 2> /dev/null | grep -q .; do sleep 5; done
snapshot "all done"
{ echo; echo "\$ scontrol show job ${ARRAY}_1   # at the end"; scontrol show job "${ARRAY}_1" | grep -E 'JobId|JobState|Restarts'; } >> "$RESULTS/requeue.txt"
wait "$SINGLE"
cat "$RESULTS/merge.out"

# --- the merged CSV against the single process, row by row ------------------------------------------
node --input-type=module - "$RESULTS/sweep.csv" "$RESULTS/single.csv" "$RESULTS/check.json" <<'EOF'
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSweepCsv } from './dist/src/sweep/csv.js';
const [merged, single, out] = process.argv.slice(2);
const [a, b] = [await readSweepCsv(merged), await readSweepCsv(single)];
// Times, resume points and checkpoint paths differ by design; everything else must be equal.
const ignored = ['trainSeconds', 'evalSeconds', 'resumedFrom', 'checkpoint'];
const columns = a.headers.filter((h) => !ignored.includes(h));
const byId = new Map(b.rows.map((r) => [`${r.key}|${r.suite}`, r]));
const differences = [];
for (const row of a.rows) {
  const other = byId.get(`${row.key}|${row.suite}`);
  if (!other) { differences.push({ row: `${row.key}|${row.suite}`, missing: single }); continue; }
  for (const c of columns) if (row[c] !== other[c]) differences.push({ row: `${row.key}|${row.suite}`, column: c, merged: row[c], single: other[c] });
}
const resumed = [...new Map(a.rows.filter((r) => Number(r.resumedFrom) > 0)
  .map((r) => [r.key, { key: r.key, label: r.label, width: r.width, seed: r.seed, resumedFrom: Number(r.resumedFrom), trainEpisodes: Number(r.trainEpisodes) }])).values()];
const check = {
  merged: path.basename(merged), single: path.basename(single), rows: a.rows.length, singleRows: b.rows.length, columnsCompared: columns, ignored,
  equal: differences.length === 0 && a.rows.length === b.rows.length, differences, resumed,
};
fs.writeFileSync(out, JSON.stringify(check, null, 2) + '\n');
console.log(`${a.rows.length} merged rows vs ${b.rows.length} single-process rows: ${check.equal ? 'equal' : `${differences.length} differences`} ` +
  `on ${columns.length} columns; resumed after the requeue: ${resumed.map((r) => `${r.key} from episode ${r.resumedFrom}`).join(', ') || 'none'}`);
process.exit(check.equal ? 0 : 1);
EOF
