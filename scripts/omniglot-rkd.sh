#!/usr/bin/env bash
# RKD on real Omniglot: distil the ProtoNet teacher of scripts/omniglot-protonet.sh into
#   (a) a same-size student with RKD-D, (b) with RKD-D+A, (c) a 32-filter student with RKD-D+A,
#   (d) a same-size student trained with the same budget and no distillation (the fair baseline),
# evaluate all on the four Omniglot test suites, and compare each with the baseline and the
# teacher, episode by episode (scripts/rkd-protocol.sh). Re-running resumes whatever is unfinished.
#
# The students train on 20-way 5-shot 5-query episodes by default (the teacher had 60-way): on the
# wasm backend a distillation step at 60-way (600 images) costs ~12 s, at 20-way ~2.4 s.
#
#   scripts/omniglot-rkd.sh
#   EPISODES=1000 WAY=60 TEACHER=runs/omniglot-protonet scripts/omniglot-rkd.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/rkd-protocol.sh
TEACHER=${TEACHER:-runs/omniglot-protonet}
EPISODES=${EPISODES:-500}
WAY=${WAY:-20}
BACKEND=${BACKEND:-auto}
RUNS=${RUNS:-runs/omniglot-rkd}
RESULTS=${RESULTS:-scripts/results/omniglot-rkd}
WIDTH=64
NARROW=32
SUITES=(episodes/omniglot-test-{5w1s,5w5s,20w1s,20w5s}.json)
common=(--dataset omniglot --split train --val-suite episodes/omniglot-val-20w1s.json
        --way "$WAY" --shot 5 --query 5 --episodes "$EPISODES" --validate-every 250 --log-every 50 --backend "$BACKEND")
evalargs=()
rkd_protocol
