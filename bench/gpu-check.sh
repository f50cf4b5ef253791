#!/usr/bin/env bash
# The GPU check (on a machine with an NVIDIA GPU): builds with CUDA, runs test/cuda (every op against the CPU),
# runs the fused kernels under compute-sanitizer on small shapes, then benchmarks conv2d and every similarity form
# beside PyTorch and times training steps of the 9-layer CIFAR network. Prints one table; about 8 minutes.
#
#   bench/gpu-check.sh               build (npm run build: cmake-js with the CUDA toolkit), then check
#   bench/gpu-check.sh --prebuilt    use build/Release and dist/ as they are (built elsewhere)
# NODE (default node) and JEST (default node_modules/.bin/jest) may point elsewhere; results go to $OUT or ./.
set -euo pipefail
cd "$(dirname "$0")/.."
NODE=${NODE:-node}
JEST=${JEST:-node_modules/.bin/jest}
OUT=${OUT:-.}
section() { printf '\n=== %s (%s)\n' "$1" "$(date +%T)"; }

if [[ "${1:-}" != --prebuilt ]]; then
  section build
  npm run build
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
"$NODE" -e "const ns=require('./dist/lib'); console.log(JSON.stringify(ns.backendInfo()))"

section "test/cuda: every op on CUDA against the CPU"
status=0
"$NODE" "$JEST" ${JEST_ARGS:-test/cuda.test.ts} --ci 2>&1 | tee "$OUT/cuda-test.log" || status=1

section "compute-sanitizer (memcheck, racecheck) on the fused kernels"
for tool in memcheck racecheck; do
  compute-sanitizer --tool "$tool" --error-exitcode 7 --print-limit 20 "$NODE" dist/bench/gpu-sanitize.js 2>&1 | tail -n 25 \
    | tee "$OUT/sanitizer-$tool.log" || status=1
done

section "benchmark"
"$NODE" dist/bench/gpu.js "$OUT/gpu-bench.json" || status=1
exit $status
