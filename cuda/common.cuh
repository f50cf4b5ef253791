// What every CUDA kernel file shares: the backend's stream, scratch memory from the caching allocator,
// error reporting into the backend's last_error(), and float-dtype dispatch. Implemented in device.cu.
#ifndef NEURAL_SIMILARITY_CUDA_COMMON_CUH
#define NEURAL_SIMILARITY_CUDA_COMMON_CUH

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "kernels.h"

namespace ns {
namespace cuda {

// The one stream every kernel and copy of the backend is queued on (created at initialisation).
cudaStream_t stream();

// Records a failure for last_error() (printf-style) and returns `status`.
int fail(int status, const char* format, ...);

// After a launch (or any runtime call): NS_OK, or NS_ERR_DEVICE / NS_ERR_DEVICE_OOM with last_error() set to
// "<what>: <CUDA error string>".
int check(cudaError_t err, const char* what);
inline int check_launch(const char* what) { return check(cudaGetLastError(), what); }

// Device scratch memory for the duration of one kernel call, from the caching allocator. Freeing it as soon
// as the kernels using it are queued is safe: every later user of the block is queued on the same stream.
class Scratch {
 public:
  Scratch() = default;
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  // Allocates `bytes` (0 gives nullptr); returns NS_OK or the allocator's status (last_error() set).
  int allocate(size_t bytes);
  template <class T> T* as() const { return static_cast<T*>(ptr_); }
 private:
  void* ptr_ = nullptr;
};

// Whether float32 products may use TF32 tensor cores (ns_cuda_allow_tf32()).
bool allow_tf32();
// Compute capability of the current device as major·10 + minor (75, 80, 86, 89, 90, …).
int compute_capability();
// Number of streaming multiprocessors (for grid sizing, split-K decisions).
int multiprocessors();

// Runs body(T()) with T the C++ type of a float dtype; NS_ERR_UNSUPPORTED (last_error() set) for others.
template <class F>
int dispatch_float(ns_dtype dt, const char* what, F&& body) {
  if (dt == NS_FLOAT32) return body(float());
  if (dt == NS_FLOAT64) return body(double());
  return fail(NS_ERR_UNSUPPORTED, "%s: expected float32 or float64 elements", what);
}

// Likewise with int32 too.
template <class F>
int dispatch_any(ns_dtype dt, const char* what, F&& body) {
  if (dt == NS_INT32) return body(int32_t());
  return dispatch_float(dt, what, static_cast<F&&>(body));
}

// Blocks of `threads` covering n items, capped so that grid-stride loops cover the rest.
inline unsigned blocks_for(int64_t n, int threads) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > 65535 * 32 ? 65535 * 32 : b));
}

// The backend's ns_device (the runtime is initialised on first use); nullptr when no device is usable.
const ns_device* device();

// Whether v[i] lies in [0, limit) for every i < n: queues a scan on the stream and waits for its single
// result (the one synchronising read of index-taking kernels). *position is -1 when all are in range, else
// the first position out of range, its value in *value. Returns NS_OK or an error status. (shape.cu)
int find_out_of_range(const int32_t* v, int64_t n, int64_t limit, int64_t* position, int32_t* value);

// Tree reduction of one value per thread over groups of G consecutive threads of a one-dimensional block
// (G a power of two dividing blockDim.x), through `sh` (blockDim.x elements of shared memory). Every thread
// of the block must call it (it synchronises the block); each gets its group's result. The order in which
// values are combined depends only on G, so the result is the same bits on every run.
template <int G, class A, class F>
__device__ A group_reduce(A v, A* sh, F combine) {
  const unsigned t = threadIdx.x, lane = t % G;
  sh[t] = v;
  __syncthreads();
  for (unsigned s = G / 2; s > 0; s >>= 1) {
    if (lane < s) sh[t] = combine(sh[t], sh[t + s]);
    __syncthreads();
  }
  const A r = sh[t - lane];
  __syncthreads();
  return r;
}

}  // namespace cuda
}  // namespace ns

#endif
