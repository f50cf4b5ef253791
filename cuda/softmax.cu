// Softmax and log-softmax along the middle axis of x [outer, dim, inner] with their gradients, and one-hot
// targets. Rows (inner = 1, dim > 16) run a group of threads per row (a warp, or a block past 1024 classes)
// whose maxima and double sums combine in a fixed tree; other shapes run a thread per (outer, inner) column
// in the CPU's order. The arithmetic per element is native/cpu/reduce.cc's: exp in T, sums in double.
#include <cmath>

#include "common.cuh"
#include "kernels.cuh"

namespace ns {
namespace cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float m_exp(float x) { return expf(x); }
__device__ __forceinline__ double m_exp(double x) { return exp(x); }

struct Plus {
  __device__ double operator()(double a, double b) const { return a + b; }
};
// std::max's rule: a NaN never replaces the running maximum.
struct MaxIgnoringNaN {
  __device__ double operator()(double a, double b) const { return a < b ? b : a; }
};

// The running maximum as the CPU uses it: 0 unless finite.
template <class T>
__device__ __forceinline__ T usable_max(T m) {
  return isfinite(m) ? m : T(0);
}

template <class T, int G>
__global__ void __launch_bounds__(kThreads)
    softmax_rows_kernel(int is_log, int64_t rows, int64_t dim, const T* __restrict__ x, T* __restrict__ y) {
  __shared__ double sh[kThreads];
  constexpr int kGroups = kThreads / G;
  const int g = threadIdx.x / G, lane = threadIdx.x % G;
  for (int64_t base = int64_t(blockIdx.x) * kGroups; base < rows; base += int64_t(gridDim.x) * kGroups) {
    const int64_t row = base + g;
    const bool valid = row < rows;
    const T* in = x + row * dim;
    T* out = y + row * dim;
    double m = -INFINITY;
    if (valid)
      for (int64_t k = lane; k < dim; k += G) m = MaxIgnoringNaN()(m, static_cast<double>(in[k]));
    const T mt = usable_max(static_cast<T>(group_reduce<G>(m, sh, MaxIgnoringNaN())));
    double sum = 0;
    if (valid)
      for (int64_t k = lane; k < dim; k += G) sum += static_cast<double>(m_exp(in[k] - mt));
    sum = group_reduce<G>(sum, sh, Plus());
    if (!valid) continue;
    if (is_log) {
      const T lse = static_cast<T>(log(sum)) + mt;
      for (int64_t k = lane; k < dim; k += G) out[k] = in[k] - lse;
    } else {
      const T inv = static_cast<T>(1.0 / sum);
      for (int64_t k = lane; k < dim; k += G) out[k] = m_exp(in[k] - mt) * inv;
    }
  }
}

template <class T>
__global__ void __launch_bounds__(kThreads) softmax_columns_kernel(int is_log, int64_t outer, int64_t dim,
                                                                   int64_t inner, const T* __restrict__ x,
                                                                   T* __restrict__ y) {
  for (int64_t q = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; q < outer * inner;
       q += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = q / inner, i = q % inner;
    const T* in = x + o * dim * inner + i;
    T* out = y + o * dim * inner + i;
    T m = -INFINITY;
    for (int64_t k = 0; k < dim; ++k) m = m < in[k * inner] ? in[k * inner] : m;
    m = usable_max(m);
    double sum = 0;
    for (int64_t k = 0; k < dim; ++k) {
      const T ex = m_exp(in[k * inner] - m);
      if (!is_log) out[k * inner] = ex;
      sum += ex;
    }
    if (is_log) {
      const T lse = static_cast<T>(log(sum)) + m;
      for (int64_t k = 0; k < dim; ++k) out[k * inner] = in[k * inner] - lse;
    } else {
      const T inv = static_cast<T>(1.0 / sum);
      for (int64_t k = 0; k < dim; ++k) out[k * inner] *= inv;
    }
  }
}

// dx from s = Σ dy (log-softmax: dx = dy − exp(y)·s) or s = Σ dy·y (softmax: dx = y·(dy − s)).
template <class T>
__device__ __forceinline__ T softmax_grad(int is_log, T y, T dy, T s) {
  return is_log ? dy - m_exp(y) * s : y * (dy - s);
}

// (At least 4 blocks an SM: ptxas for sm_80 otherwise squeezes the double version into 32 registers and spills.)
template <class T, int G>
__global__ void __launch_bounds__(kThreads, 4)
    softmax_backward_rows_kernel(int is_log, int64_t rows, int64_t dim, const T* __restrict__ y,
                                 const T* __restrict__ dy, T* __restrict__ dx) {
  __shared__ double sh[kThreads];
  constexpr int kGroups = kThreads / G;
  const int g = threadIdx.x / G, lane = threadIdx.x % G;
  for (int64_t base = int64_t(blockIdx.x) * kGroups; base < rows; base += int64_t(gridDim.x) * kGroups) {
    const int64_t row = base + g;
    const bool valid = row < rows;
    const int64_t at = row * dim;
    double s = 0;
    if (valid)
      for (int64_t k = lane; k < dim; k += G)
        s += is_log ? static_cast<double>(dy[at + k]) : static_cast<double>(dy[at + k]) * y[at + k];
    const T st = static_cast<T>(group_reduce<G>(s, sh, Plus()));
    if (!valid) continue;
    for (int64_t k = lane; k < dim; k += G) dx[at + k] = softmax_grad(is_log, y[at + k], dy[at + k], st);
  }
}

template <class T>
__global__ void __launch_bounds__(kThreads)
    softmax_backward_columns_kernel(int is_log, int64_t outer, int64_t dim, int64_t inner, const T* __restrict__ y,
                                    const T* __restrict__ dy, T* __restrict__ dx) {
  for (int64_t q = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; q < outer * inner;
       q += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = q / inner, i = q % inner, base = o * dim * inner + i;
    double s = 0;
    for (int64_t k = 0; k < dim; ++k)
      s += is_log ? static_cast<double>(dy[base + k * inner])
                  : static_cast<double>(dy[base + k * inner]) * y[base + k * inner];
    const T st = static_cast<T>(s);
    for (int64_t k = 0; k < dim; ++k)
      dx[base + k * inner] = softmax_grad(is_log, y[base + k * inner], dy[base + k * inner], st);
  }
}

template <class T>
__global__ void one_hot_kernel(int64_t n, int64_t classes, const int32_t* __restrict__ labels, T on, T off,
                               T* __restrict__ out) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n * classes;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = e / classes, j = e - i * classes;
    out[e] = labels[i] == j ? on : off;
  }
}

}  // namespace

int softmax(ns_dtype dt, int is_log, int64_t outer, int64_t dim, int64_t inner, const void* x, void* y) {
  if (dim < 1)
    return fail(NS_ERR_UNSUPPORTED, "softmax: expected a non-empty axis but got %lld elements",
                static_cast<long long>(dim));
  return dispatch_float(dt, "softmax", [&](auto zero) -> int {
    using T = decltype(zero);
    const T* in = static_cast<const T*>(x);
    T* out = static_cast<T*>(y);
    if (outer * inner <= 0) return NS_OK;
    if (inner == 1 && dim > 1024)
      softmax_rows_kernel<T, kThreads><<<blocks_for(outer * kThreads, kThreads), kThreads, 0, stream()>>>(
          is_log, outer, dim, in, out);
    else if (inner == 1 && dim > 16)
      softmax_rows_kernel<T, 32><<<blocks_for(outer * 32, kThreads), kThreads, 0, stream()>>>(is_log, outer, dim, in,
                                                                                             out);
    else
      softmax_columns_kernel<T><<<blocks_for(outer * inner, kThreads), kThreads, 0, stream()>>>(is_log, outer, dim,
                                                                                               inner, in, out);
    return check_launch("softmax");
  });
}

int softmax_backward(ns_dtype dt, int is_log, int64_t outer, int64_t dim, int64_t inner, const void* y,
                     const void* dy, void* dx) {
  if (dim < 1)
    return fail(NS_ERR_UNSUPPORTED, "softmax_backward: expected a non-empty axis but got %lld elements",
                static_cast<long long>(dim));
  return dispatch_float(dt, "softmax_backward", [&](auto zero) -> int {
    using T = decltype(zero);
    const T* yy = static_cast<const T*>(y);
    const T* g = static_cast<const T*>(dy);
    T* out = static_cast<T*>(dx);
    if (outer * inner <= 0) return NS_OK;
    if (inner == 1 && dim > 1024)
      softmax_backward_rows_kernel<T, kThreads><<<blocks_for(outer * kThreads, kThreads), kThreads, 0, stream()>>>(
          is_log, outer, dim, yy, g, out);
    else if (inner == 1 && dim > 16)
      softmax_backward_rows_kernel<T, 32><<<blocks_for(outer * 32, kThreads), kThreads, 0, stream()>>>(
          is_log, outer, dim, yy, g, out);
    else
      softmax_backward_columns_kernel<T><<<blocks_for(outer * inner, kThreads), kThreads, 0, stream()>>>(
          is_log, outer, dim, inner, yy, g, out);
    return check_launch("softmax_backward");
  });
}

int one_hot(ns_dtype dt, int64_t n, int64_t classes, const int32_t* labels, double on_value, double off_value,
            void* out) {
  return dispatch_float(dt, "one_hot", [&](auto zero) -> int {
    using T = decltype(zero);
    if (n <= 0) return NS_OK;
    if (classes > 0) {
      one_hot_kernel<T><<<blocks_for(n * classes, kThreads), kThreads, 0, stream()>>>(
          n, classes, labels, static_cast<T>(on_value), static_cast<T>(off_value), static_cast<T*>(out));
      const int status = check_launch("one_hot");
      if (status != NS_OK) return status;
    }
    int64_t position;
    int32_t value;
    const int status = find_out_of_range(labels, n, classes, &position, &value);
    if (status != NS_OK) return status;
    if (position >= 0)
      return fail(NS_ERR_INDEX, "expected labels in [0, %lld) but got %d at index %lld",
                  static_cast<long long>(classes), value, static_cast<long long>(position));
    return NS_OK;
  });
}

}  // namespace cuda
}  // namespace ns
