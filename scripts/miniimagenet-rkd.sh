#!/usr/bin/env bash
# RKD on miniImageNet: distil the ProtoNet teacher of scripts/miniimagenet-protonet.sh into
#   (a) a same-size student with RKD-D, (b) with RKD-D+A, (c) a half-width student with RKD-D+A,
#   (d) a same-size student trained with the same budget and no distillation (the fair baseline),
# all with the teacher's episodes (20-way 5-shot 15-query by default), evaluate all on both test
# suites, and compare each with the baseline and the teacher, episode by episode
# (scripts/rkd-protocol.sh). Re-running resumes whatever is unfinished.
#
#   scripts/miniimagenet-rkd.sh
#   SHOT=1 TEACHER=runs/miniimagenet-protonet-1shot scripts/miniimagenet-rkd.sh
#
# DATA, WAY, QUERY, WIDTH (of the teacher and same-size students), NARROW, VAL_SUITE and
# TEST_SUITES as in scripts/miniimagenet-protonet.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/miniimagenet-settings.sh
source scripts/rkd-protocol.sh
NARROW=${NARROW:-$((WIDTH / 2))}
TEACHER=${TEACHER:-runs/miniimagenet-protonet-${SHOT}shot}
RUNS=${RUNS:-runs/miniimagenet-rkd-${SHOT}shot}
RESULTS=${RESULTS:-scripts/results/$(basename "$RUNS")}
common=(--dataset miniimagenet --split train --val-suite "$VAL_SUITE" "${data[@]}"
        --way "$WAY" --shot "$SHOT" --query "$QUERY" --episodes "$EPISODES"
        --validate-every "$VALIDATE_EVERY" --log-every "$LOG_EVERY" --backend "$BACKEND")
evalargs=("${data[@]}")
rkd_protocol
