# Settings shared by scripts/miniimagenet-{protonet,rkd}.sh (sourced, not run): Snell et al. 2017's
# miniImageNet recipe, each overridable from the environment.
SHOT=${SHOT:-5}
if [ "$SHOT" = 1 ]; then WAY=${WAY:-30}; else WAY=${WAY:-20}; fi
QUERY=${QUERY:-15}
WIDTH=${WIDTH:-64}
EPISODES=${EPISODES:-1000}
VALIDATE_EVERY=${VALIDATE_EVERY:-250}
LOG_EVERY=${LOG_EVERY:-50}
BACKEND=${BACKEND:-auto}
VAL_SUITE=${VAL_SUITE:-episodes/miniimagenet-val-5w5s.json}
read -r -a SUITES <<<"${TEST_SUITES:-episodes/miniimagenet-test-5w1s.json episodes/miniimagenet-test-5w5s.json}"
data=(${DATA:+--data "$DATA"})
fewshot() { node dist/src/cli/main.js "$@"; }

# Training holds ~29 MiB per 84x84x3 episode image at width 64 (measured on wasm); the wasm heap
# stops at 4 GiB (about 135 images), so the recipe's 400-480-image episodes need tfjs-node.
need=$((WAY * (SHOT + QUERY) * WIDTH * 29 / 64))
if [ "$BACKEND" != tensorflow ] && [ "$need" -gt 3900 ]; then
  echo "note: a $WAY-way $SHOT-shot $QUERY-query episode at width $WIDTH needs ~$need MiB or more to train; the wasm backend" \
       "has 4096 MiB: install @tensorflow/tfjs-node (BACKEND=tensorflow) or use smaller episodes (e.g. WAY=5)" >&2
fi
