// Elementwise kernels: unary ops and their gradients, broadcasting binary ops (one linear kernel for spaces
// that coalesce to one dimension — dense, scalar-broadcast or evenly strided operands — and a general
// strided kernel over up to 16 dimensions), casts and fills. Each op computes what native/cpu/elementwise.cc
// computes, in the same precision; grid-stride loops with 64-bit element indices.
#include <cstring>
#include <type_traits>

#include "common.cuh"
#include "kernels.cuh"
#include "strided.cuh"

namespace ns {
namespace cuda {
namespace {

constexpr int kThreads = 256;

// Powers with exponent 2 or -1 run as plain arithmetic (as on the CPU), told apart after the ABI's codes.
constexpr int kSquare = NS_UNARY_COUNT, kReciprocal = NS_UNARY_COUNT + 1;

#define NS_MATH_PAIR(name, fname, dname)                          \
  __device__ __forceinline__ float name(float x) { return fname(x); } \
  __device__ __forceinline__ double name(double x) { return dname(x); }
NS_MATH_PAIR(m_exp, expf, exp)
NS_MATH_PAIR(m_log, logf, log)
NS_MATH_PAIR(m_sqrt, sqrtf, sqrt)
NS_MATH_PAIR(m_tanh, tanhf, tanh)
NS_MATH_PAIR(m_abs, fabsf, fabs)
#undef NS_MATH_PAIR
__device__ __forceinline__ float m_pow(float x, float y) { return powf(x, y); }
__device__ __forceinline__ double m_pow(double x, double y) { return pow(x, y); }

template <class T>
__device__ __forceinline__ T apply_unary(int op, T x, T alpha) {
  switch (op) {
    case kSquare: return x * x;
    case kReciprocal: return T(1) / x;
    case NS_UNARY_NEG: return -x;
    case NS_UNARY_EXP: return m_exp(x);
    case NS_UNARY_LOG: return m_log(x);
    case NS_UNARY_SQRT: return m_sqrt(x);
    case NS_UNARY_TANH: return m_tanh(x);
    case NS_UNARY_SIGMOID: return x >= 0 ? T(1) / (T(1) + m_exp(-x)) : m_exp(x) / (T(1) + m_exp(x));
    case NS_UNARY_RELU: return x > 0 ? x : T(0);
    case NS_UNARY_ABS: return m_abs(x);
    default: return m_pow(x, alpha);
  }
}

template <class T>
__global__ void unary_kernel(int op, int64_t n, const T* __restrict__ x, T* __restrict__ y, T alpha) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = apply_unary(op, x[i], alpha);
}

// dx[i] for element i; reads only the operands the op's derivative needs.
template <class T>
__device__ __forceinline__ T unary_grad(int op, const T* x, const T* y, T dy, int64_t i, T alpha) {
  switch (op) {
    case kSquare: return dy * T(2) * x[i];
    case kReciprocal: return -dy * y[i] * y[i];
    case NS_UNARY_NEG: return -dy;
    case NS_UNARY_EXP: return dy * y[i];
    case NS_UNARY_LOG: return dy / x[i];
    case NS_UNARY_SQRT: return dy * T(0.5) / y[i];
    case NS_UNARY_TANH: return dy * (T(1) - y[i] * y[i]);
    case NS_UNARY_SIGMOID: return dy * y[i] * (T(1) - y[i]);
    case NS_UNARY_RELU: return x[i] > 0 ? dy : T(0);
    case NS_UNARY_ABS: return x[i] > 0 ? dy : (x[i] < 0 ? -dy : T(0));
    default: return alpha == 0 ? T(0) : dy * alpha * m_pow(x[i], alpha - T(1));
  }
}

template <class T>
__global__ void unary_backward_kernel(int op, int64_t n, const T* __restrict__ x, const T* __restrict__ y,
                                      const T* __restrict__ dy, T* __restrict__ dx, T alpha) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dx[i] = unary_grad(op, x, y, dy[i], i, alpha);
}

// The op code the kernels run: POW with exponent 2 or -1 (as T) becomes kSquare or kReciprocal.
template <class T>
int effective_unary_op(int op, T alpha) {
  if (op == NS_UNARY_POW && alpha == T(2)) return kSquare;
  if (op == NS_UNARY_POW && alpha == T(-1)) return kReciprocal;
  return op;
}

template <class T>
__device__ __forceinline__ T apply_binary(int op, T a, T b) {
  if constexpr (std::is_same_v<T, int32_t>) {
    // Wrapping two's-complement arithmetic, without signed overflow.
    const uint32_t ua = static_cast<uint32_t>(a), ub = static_cast<uint32_t>(b);
    if (op == NS_BINARY_ADD) return static_cast<int32_t>(ua + ub);
    if (op == NS_BINARY_SUB) return static_cast<int32_t>(ua - ub);
    if (op == NS_BINARY_MUL) return static_cast<int32_t>(ua * ub);
  }
  switch (op) {
    case NS_BINARY_ADD: return a + b;
    case NS_BINARY_SUB: return a - b;
    case NS_BINARY_MUL: return a * b;
    case NS_BINARY_DIV: return a / b;  // float dtypes only (checked by the caller)
    case NS_BINARY_POW:
      if constexpr (std::is_floating_point_v<T>) return m_pow(a, b);
      return T(0);
    case NS_BINARY_MAX: return (a > b || a != a) ? a : b;  // NaN propagates
    case NS_BINARY_MIN: return (a < b || a != a) ? a : b;
    case NS_BINARY_EQ: return a == b ? T(1) : T(0);
    case NS_BINARY_NE: return a != b ? T(1) : T(0);
    case NS_BINARY_LT: return a < b ? T(1) : T(0);
    case NS_BINARY_LE: return a <= b ? T(1) : T(0);
    case NS_BINARY_GT: return a > b ? T(1) : T(0);
    default: return a >= b ? T(1) : T(0);  // NS_BINARY_GE
  }
}

// out[i] = op(a[i·sa], b[i·sb]): a space that coalesced to at most one dimension.
template <class T>
__global__ void binary_linear_kernel(int op, int64_t n, const T* __restrict__ a, int64_t sa, const T* __restrict__ b,
                                     int64_t sb, T* __restrict__ out) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = apply_binary(op, a[i * sa], b[i * sb]);
}

template <class T, class I>
__global__ void binary_strided_kernel(int op, StridedSpace<2> s, const T* __restrict__ a, const T* __restrict__ b,
                                      T* __restrict__ out) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < s.numel; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[2];
    offsets<2, I>(s, static_cast<I>(i), off);
    out[i] = apply_binary(op, a[off[0]], b[off[1]]);
  }
}

template <class T>
int run_binary(int op, int ndim, const int64_t* shape, const int64_t* stride_a, const int64_t* stride_b, const T* a,
               const T* b, T* out) {
  const int64_t* const strides[2] = {stride_a, stride_b};
  const StridedSpace<2> s = coalesce<2>(ndim, shape, strides);
  if (s.numel == 0) return NS_OK;
  const unsigned blocks = blocks_for(s.numel, kThreads);
  if (s.ndim <= 1) {
    const int64_t sa = s.ndim == 0 ? 0 : s.strides[0][0], sb = s.ndim == 0 ? 0 : s.strides[1][0];
    binary_linear_kernel<T><<<blocks, kThreads, 0, stream()>>>(op, s.numel, a, sa, b, sb, out);
  } else if (s.numel <= int64_t(UINT32_MAX)) {
    binary_strided_kernel<T, uint32_t><<<blocks, kThreads, 0, stream()>>>(op, s, a, b, out);
  } else {
    binary_strided_kernel<T, uint64_t><<<blocks, kThreads, 0, stream()>>>(op, s, a, b, out);
  }
  return check_launch("binary");
}

// float → int32 truncates toward zero; NaN gives 0 and out-of-range values saturate (as on the CPU).
__host__ __device__ __forceinline__ int32_t to_int32(double v) {
  return v != v ? 0 : v >= 2147483647.0 ? INT32_MAX : v <= -2147483648.0 ? INT32_MIN : static_cast<int32_t>(v);
}

template <class S, class D>
__global__ void cast_kernel(int64_t n, const S* __restrict__ src, D* __restrict__ dst) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    if constexpr (std::is_same_v<D, int32_t>)
      dst[i] = to_int32(static_cast<double>(src[i]));
    else
      dst[i] = static_cast<D>(src[i]);
  }
}

template <class T>
__global__ void fill_kernel(int64_t n, T value, T* __restrict__ out) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = value;
}

}  // namespace

int unary(ns_dtype dt, int op, int64_t n, const void* x, void* y, double alpha) {
  if (op < 0 || op >= NS_UNARY_COUNT) return fail(NS_ERR_UNSUPPORTED, "unary: unknown op %d", op);
  return dispatch_float(dt, "unary", [&](auto zero) -> int {
    using T = decltype(zero);
    if (n <= 0) return NS_OK;
    const T a = static_cast<T>(alpha);
    unary_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(
        effective_unary_op(op, a), n, static_cast<const T*>(x), static_cast<T*>(y), a);
    return check_launch("unary");
  });
}

int unary_backward(ns_dtype dt, int op, int64_t n, const void* x, const void* y, const void* dy, void* dx,
                   double alpha) {
  if (op < 0 || op >= NS_UNARY_COUNT) return fail(NS_ERR_UNSUPPORTED, "unary_backward: unknown op %d", op);
  return dispatch_float(dt, "unary_backward", [&](auto zero) -> int {
    using T = decltype(zero);
    if (n <= 0) return NS_OK;
    const T a = static_cast<T>(alpha);
    unary_backward_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(
        effective_unary_op(op, a), n, static_cast<const T*>(x), static_cast<const T*>(y), static_cast<const T*>(dy),
        static_cast<T*>(dx), a);
    return check_launch("unary_backward");
  });
}

int binary(ns_dtype dt, int op, int ndim, const int64_t* shape, const int64_t* stride_a, const int64_t* stride_b,
           const void* a, const void* b, void* out) {
  if (op < 0 || op >= NS_BINARY_COUNT) return fail(NS_ERR_UNSUPPORTED, "binary: unknown op %d", op);
  if (ndim < 0 || ndim > kMaxDims)
    return fail(NS_ERR_UNSUPPORTED, "binary: expected at most %d dimensions but got %d", kMaxDims, ndim);
  if (dt == NS_INT32 && (op == NS_BINARY_DIV || op == NS_BINARY_POW))
    return fail(NS_ERR_UNSUPPORTED, "binary: int32 supports every op but div and pow");
  return dispatch_any(dt, "binary", [&](auto zero) -> int {
    using T = decltype(zero);
    return run_binary<T>(op, ndim, shape, stride_a, stride_b, static_cast<const T*>(a), static_cast<const T*>(b),
                         static_cast<T*>(out));
  });
}

int cast(ns_dtype src_dt, ns_dtype dst_dt, int64_t n, const void* src, void* dst) {
  return dispatch_any(src_dt, "cast", [&](auto s) -> int {
    using S = decltype(s);
    return dispatch_any(dst_dt, "cast", [&](auto d) -> int {
      using D = decltype(d);
      if (n <= 0) return NS_OK;
      if constexpr (std::is_same_v<S, D>) {
        return check(cudaMemcpyAsync(dst, src, static_cast<size_t>(n) * sizeof(S), cudaMemcpyDeviceToDevice, stream()),
                     "cast: cudaMemcpyAsync");
      } else {
        cast_kernel<S, D><<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(n, static_cast<const S*>(src),
                                                                              static_cast<D*>(dst));
        return check_launch("cast");
      }
    });
  });
}

int fill(ns_dtype dt, int64_t n, double value, void* out) {
  return dispatch_any(dt, "fill", [&](auto zero) -> int {
    using T = decltype(zero);
    if (n <= 0) return NS_OK;
    T v;
    if constexpr (std::is_same_v<T, int32_t>)
      v = to_int32(value);
    else
      v = static_cast<T>(value);
    T zero_bits;
    std::memset(&zero_bits, 0, sizeof zero_bits);
    if (std::memcmp(&v, &zero_bits, sizeof v) == 0)
      return check(cudaMemsetAsync(out, 0, static_cast<size_t>(n) * sizeof(T), stream()), "fill: cudaMemsetAsync");
    fill_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(n, v, static_cast<T*>(out));
    return check_launch("fill");
  });
}

}  // namespace cuda
}  // namespace ns
