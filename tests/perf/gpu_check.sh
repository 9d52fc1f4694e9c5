#!/usr/bin/env bash
# The GPU check, prepared for a lent machine (one run of under 5 minutes):
#   bench; the dcgan preset for a minute at batch 1024 (target 20,000 img/s); the studio
#   preset for a minute; 200,000 avatars in bfloat16 (target 50,000/s). Figures on stdout
#   and in $OUT (default ./gpu-check).
# On a CPU, `tests/perf/gpu_check.sh --tiny` runs the same steps in seconds: the test suite
# does, so the script cannot rot between GPUs.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
OUT=${OUT:-gpu-check}
export KERAS_BACKEND=${KERAS_BACKEND:-jax}    # the lent machine has JAX, not TensorFlow
mkdir -p "$OUT"
if [ "${1:-}" = "--tiny" ]; then
  BENCH="--steps 2 --tiny"; MINUTES=0.02; BATCH=16; IDS=64; NETS=(--width 0.125)   # networks an eighth wide
else
  BENCH="--steps 20"; MINUTES=1; BATCH=1024; IDS=200000; NETS=()           # each preset's own
fi
$PY -m gan_core bench $BENCH --json | tee "$OUT/bench.json"
$PY -m gan_core train --data "builtin:$((BATCH * 4))" --preset dcgan --batch "$BATCH" "${NETS[@]}" \
  --precision mixed_bfloat16 --steps 10000000 --minutes "$MINUTES" --log-every 10 \
  --sample-every 100000 --checkpoint-every 100000 --out "$OUT/dcgan" --json | tee "$OUT/dcgan.json"
$PY -m gan_core train --data "builtin:$((BATCH * 4))" --preset studio "${NETS[@]}" \
  --precision mixed_bfloat16 --steps 10000000 --minutes "$MINUTES" --log-every 10 \
  --sample-every 100000 --checkpoint-every 100000 --out "$OUT/studio" --json | tee "$OUT/studio.json"
seq -f "player-%.0f" 1 "$IDS" > "$OUT/ids.txt"
$PY -m gan_core generate --model "$OUT/dcgan/generator.keras" --ids "$OUT/ids.txt" \
  --precision bfloat16 --out "$OUT/avatars.npy" --json | tee "$OUT/generate.json"
rm -f "$OUT/avatars.npy" "$OUT/ids.txt"
