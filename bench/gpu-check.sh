#!/usr/bin/env bash
# The GPU check (on a machine with an NVIDIA GPU): builds with CUDA, runs test/cuda (every op against the CPU),
# benchmarks conv2d and every similarity form beside PyTorch and times training steps of the 9-layer CIFAR network,
# then runs the fused kernels under compute-sanitizer on small shapes. Prints one table; at most 8 minutes.
#
#   bench/gpu-check.sh               build (npm run build: cmake-js with the CUDA toolkit), then check
#   bench/gpu-check.sh --prebuilt    use build/Release and dist/ as they are (built elsewhere)
# NODE (default node), JEST (default node_modules/.bin/jest), JEST_CONFIG (a jest --config) and DIST (the compiled library and benchmarks,
# default dist) may point elsewhere; results go to $OUT or ./. Each stage has a time limit, so the whole check ends
# within 8 minutes even when a stage hangs.
set -euo pipefail
cd "$(dirname "$0")/.."
NODE=${NODE:-node}
JEST=${JEST:-node_modules/.bin/jest}
OUT=${OUT:-.}
DIST=${DIST:-dist}
section() { printf '\n=== %s (%s)\n' "$1" "$(date +%T)"; }

if [[ "${1:-}" != --prebuilt ]]; then
  section build
  npm run build
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
"$NODE" -e "const ns=require('./$DIST/lib'); console.log(JSON.stringify(ns.backendInfo()))"

section "test/cuda: every op on CUDA against the CPU"
status=0
jest_args=(test/cuda.test.ts)
[[ -n "${JEST_CONFIG:-}" ]] && jest_args=(--config "$JEST_CONFIG")
timeout 150 "$NODE" "$JEST" "${jest_args[@]}" --ci 2>&1 | tee "$OUT/cuda-test.log" || status=1

section "benchmark"
timeout 150 "$NODE" "$DIST/bench/gpu.js" "$OUT/gpu-bench.json" || status=1

section "compute-sanitizer (memcheck, racecheck) on the fused kernels"
for tool in memcheck racecheck; do
  timeout 50 compute-sanitizer --tool "$tool" --error-exitcode 7 --print-limit 20 "$NODE" "$DIST/bench/gpu-sanitize.js" 2>&1 | tail -n 25 \
    | tee "$OUT/sanitizer-$tool.log" || status=1
done
exit $status
