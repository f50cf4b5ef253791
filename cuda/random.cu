// The `random` kernel: Philox-4x32-10 streams (philox.cuh) with native/cpu/random.cc's counters, lanes and
// transforms, so a (seed, offset) gives the same values on both backends. A thread per counter block writes
// its up to four elements.
#include "common.cuh"
#include "kernels.cuh"
#include "philox.cuh"

namespace ns {
namespace cuda {
namespace {

constexpr int kThreads = 256;

template <class T>
__global__ void random_kernel(int kind, int64_t n, uint64_t seed, uint64_t offset, double a, double b,
                              T* __restrict__ out) {
  const int64_t blocks = (n + 3) / 4;
  for (int64_t blk = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; blk < blocks;
       blk += int64_t(gridDim.x) * blockDim.x) {
    double v[4];
    rng::block_values(kind, offset + static_cast<uint64_t>(blk), seed, a, b, v);
#pragma unroll
    for (int l = 0; l < 4; ++l)
      if (blk * 4 + l < n) out[blk * 4 + l] = rng::convert<T>(kind, v[l], a, b);
  }
}

}  // namespace

int random(ns_dtype dt, int kind, int64_t n, uint64_t seed, uint64_t offset, double a, double b, void* out) {
  if (kind < 0 || kind >= NS_RANDOM_COUNT) return fail(NS_ERR_UNSUPPORTED, "random: unknown kind %d", kind);
  return dispatch_float(dt, "random", [&](auto zero) -> int {
    using T = decltype(zero);
    if (n <= 0) return NS_OK;
    random_kernel<T><<<blocks_for((n + 3) / 4, kThreads), kThreads, 0, stream()>>>(kind, n, seed, offset, a, b,
                                                                                   static_cast<T*>(out));
    return check_launch("random");
  });
}

}  // namespace cuda
}  // namespace ns
