// Shape kernels: the strided copy over up to 16 dimensions (a device-to-device memcpy when both sides
// coalesce to one dense run, a linear kernel for one strided dimension, a general strided kernel otherwise),
// index_select (a row gather), and find_out_of_range, the index check shared with one_hot: a scan records the
// first bad position with an integer atomicMin, read back with one small synchronous copy.
// Elements move as raw 4- or 8-byte words, so one kernel serves every dtype of a size.
#include <type_traits>

#include "common.cuh"
#include "kernels.cuh"
#include "strided.cuh"

namespace ns {
namespace cuda {
namespace {

constexpr int kThreads = 256;

// The raw word of a dtype's element.
template <class T>
using Word = std::conditional_t<sizeof(T) == 8, unsigned long long, uint32_t>;

template <class W>
__global__ void copy_linear_kernel(int64_t n, const W* __restrict__ src, int64_t ss, W* __restrict__ dst, int64_t ds) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dst[i * ds] = src[i * ss];
}

template <class W, class I>
__global__ void copy_strided_kernel(StridedSpace<2> s, const W* __restrict__ src, W* __restrict__ dst) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < s.numel; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[2];
    offsets<2, I>(s, static_cast<I>(i), off);
    dst[off[1]] = src[off[0]];
  }
}

template <class W>
int run_copy(int ndim, const int64_t* shape, const W* src, const int64_t* src_strides, W* dst,
             const int64_t* dst_strides) {
  const int64_t* const strides[2] = {src_strides, dst_strides};
  const StridedSpace<2> s = coalesce<2>(ndim, shape, strides);
  if (s.numel == 0) return NS_OK;
  const int64_t ss = s.ndim == 0 ? 1 : s.strides[0][0], ds = s.ndim == 0 ? 1 : s.strides[1][0];
  if (s.ndim <= 1 && ss == 1 && ds == 1)
    return check(cudaMemcpyAsync(dst, src, static_cast<size_t>(s.numel) * sizeof(W), cudaMemcpyDeviceToDevice,
                                 stream()),
                 "copy: cudaMemcpyAsync");
  const unsigned blocks = blocks_for(s.numel, kThreads);
  if (s.ndim <= 1)
    copy_linear_kernel<W><<<blocks, kThreads, 0, stream()>>>(s.numel, src, ss, dst, ds);
  else if (s.numel <= int64_t(UINT32_MAX))
    copy_strided_kernel<W, uint32_t><<<blocks, kThreads, 0, stream()>>>(s, src, dst);
  else
    copy_strided_kernel<W, uint64_t><<<blocks, kThreads, 0, stream()>>>(s, src, dst);
  return check_launch("copy");
}

// out[i, j] = src[index[i], j] for rows whose index is in range (the others are left for the check to report).
template <class W, class I>
__global__ void gather_rows_kernel(int64_t total, int64_t row, int64_t n_in, const W* __restrict__ src,
                                   const int32_t* __restrict__ index, W* __restrict__ out) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const I i = static_cast<I>(e) / static_cast<I>(row);
    const int64_t j = e - static_cast<int64_t>(i) * row;
    const int32_t k = index[i];
    if (k >= 0 && k < n_in) out[e] = src[int64_t(k) * row + j];
  }
}

__global__ void out_of_range_kernel(const int32_t* __restrict__ v, int64_t n, int64_t limit,
                                    unsigned long long* first) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    if (v[i] < 0 || v[i] >= limit) atomicMin(first, static_cast<unsigned long long>(i));
}

}  // namespace

int find_out_of_range(const int32_t* v, int64_t n, int64_t limit, int64_t* position, int32_t* value) {
  *position = -1;
  *value = 0;
  if (n <= 0) return NS_OK;
  Scratch flag;
  int status = flag.allocate(sizeof(unsigned long long));
  if (status != NS_OK) return status;
  unsigned long long* first = flag.as<unsigned long long>();
  status = check(cudaMemsetAsync(first, 0xff, sizeof *first, stream()), "index check: cudaMemsetAsync");
  if (status != NS_OK) return status;
  out_of_range_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(v, n, limit, first);
  if ((status = check_launch("index check")) != NS_OK) return status;
  unsigned long long host_first = 0;
  status = check(cudaMemcpyAsync(&host_first, first, sizeof host_first, cudaMemcpyDeviceToHost, stream()),
                 "index check: cudaMemcpyAsync");
  if (status == NS_OK) status = check(cudaStreamSynchronize(stream()), "index check: cudaStreamSynchronize");
  if (status != NS_OK || host_first == ~0ull) return status;
  status = check(cudaMemcpyAsync(value, v + host_first, sizeof *value, cudaMemcpyDeviceToHost, stream()),
                 "index check: cudaMemcpyAsync");
  if (status == NS_OK) status = check(cudaStreamSynchronize(stream()), "index check: cudaStreamSynchronize");
  if (status == NS_OK) *position = static_cast<int64_t>(host_first);
  return status;
}

int copy(ns_dtype dt, int ndim, const int64_t* shape, const void* src, int64_t src_offset, const int64_t* src_strides,
         void* dst, int64_t dst_offset, const int64_t* dst_strides) {
  if (ndim < 0 || ndim > kMaxDims)
    return fail(NS_ERR_UNSUPPORTED, "copy: expected at most %d dimensions but got %d", kMaxDims, ndim);
  return dispatch_any(dt, "copy", [&](auto zero) -> int {
    using W = Word<decltype(zero)>;
    return run_copy<W>(ndim, shape, static_cast<const W*>(src) + src_offset, src_strides,
                       static_cast<W*>(dst) + dst_offset, dst_strides);
  });
}

int index_select(ns_dtype dt, int64_t n_out, int64_t row, int64_t n_in, const void* src, const int32_t* index,
                 void* out) {
  return dispatch_any(dt, "index_select", [&](auto zero) -> int {
    using W = Word<decltype(zero)>;
    if (n_out <= 0) return NS_OK;
    const int64_t total = n_out * row;
    if (total > 0) {
      const unsigned blocks = blocks_for(total, kThreads);
      if (total <= int64_t(UINT32_MAX))
        gather_rows_kernel<W, uint32_t><<<blocks, kThreads, 0, stream()>>>(
            total, row, n_in, static_cast<const W*>(src), index, static_cast<W*>(out));
      else
        gather_rows_kernel<W, uint64_t><<<blocks, kThreads, 0, stream()>>>(
            total, row, n_in, static_cast<const W*>(src), index, static_cast<W*>(out));
      const int status = check_launch("index_select");
      if (status != NS_OK) return status;
    }
    int64_t position;
    int32_t value;
    const int status = find_out_of_range(index, n_out, n_in, &position, &value);
    if (status != NS_OK) return status;
    if (position >= 0)
      return fail(NS_ERR_INDEX, "expected indices in [0, %lld) but got %d at position %lld",
                  static_cast<long long>(n_in), value, static_cast<long long>(position));
    return NS_OK;
  });
}

}  // namespace cuda
}  // namespace ns
