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

# On wasm (4 GiB heap) the fused blocks of src/models/blocks/ train 400-image 84x84x3 episodes
# at width 64; 480-image ones (30-way 1-shot 15-query) need the native kernels as well (their
# buffers live outside the heap; built at install where a compiler is), or tfjs-node.
images=$((WAY * (SHOT + QUERY) * WIDTH / 64))
if [ "$BACKEND" != tensorflow ] && [ "$images" -gt 400 ]; then
  echo "note: a $WAY-way $SHOT-shot $QUERY-query episode at width $WIDTH is larger than wasm alone trains (400 images at" \
       "width 64); it needs the native kernels (the 'backend:' line then says 'native convolutions') or BACKEND=tensorflow" >&2
fi
