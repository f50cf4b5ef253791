// Reductions along the middle axis of x viewed as [outer, r, inner]: sum (scaled), max, min and argmax.
//
// Deterministic: the order of every combination depends on the shape only (never on timing or the GPU), and
// no float atomics are used. Shapes take one of two paths:
//  - rows (inner = 1, r > 16): a group of G threads (a warp, or a whole block for long rows) per row or per
//    chunk of a row; each thread folds its strided elements in order, then a fixed tree combines the group;
//  - columns (otherwise): one thread per (outer, inner) column, or per chunk of one, folding its elements in
//    order, reading consecutive columns at once.
// Long axes with few outputs are split into S chunks (S from the shape) whose partial results, written to
// scratch, a second kernel combines in chunk order.
// Float sums accumulate in double, int32 sums in 64 bits (wrapping to 32 on output, as on the CPU); max/min
// propagate NaN; argmax returns the first maximum, or the first NaN when there is one (as the CPU's scan).
#include <algorithm>
#include <type_traits>

#include "common.cuh"
#include "kernels.cuh"

namespace ns {
namespace cuda {
namespace {

constexpr int kThreads = 256;

template <class T>
struct Sum {
  using In = T;
  using Out = T;
  using A = std::conditional_t<std::is_same_v<T, int32_t>, unsigned long long, double>;
  __device__ static A identity() { return A(0); }
  __device__ static A load(T v, int64_t) {
    if constexpr (std::is_same_v<T, int32_t>)
      return static_cast<A>(static_cast<long long>(v));
    else
      return static_cast<A>(v);
  }
  __device__ A operator()(A a, A b) const { return a + b; }
  __device__ static Out finish(A a, double scale) {
    if constexpr (std::is_same_v<T, int32_t>)
      return static_cast<int32_t>(static_cast<uint32_t>(a));  // int32 sums ignore scale and wrap
    else
      return static_cast<T>(a * scale);
  }
};

template <class T> __device__ T lowest();
template <> __device__ float lowest<float>() { return -__int_as_float(0x7f800000); }
template <> __device__ double lowest<double>() { return -__longlong_as_double(0x7ff0000000000000ll); }
template <> __device__ int32_t lowest<int32_t>() { return INT32_MIN; }
template <class T> __device__ T highest();
template <> __device__ float highest<float>() { return __int_as_float(0x7f800000); }
template <> __device__ double highest<double>() { return __longlong_as_double(0x7ff0000000000000ll); }
template <> __device__ int32_t highest<int32_t>() { return INT32_MAX; }

// max (IsMax) or min; b replaces a when it is beyond it or NaN, so NaN propagates.
template <class T, bool IsMax>
struct Extreme {
  using In = T;
  using Out = T;
  using A = T;
  __device__ static A identity() { return IsMax ? lowest<T>() : highest<T>(); }
  __device__ static A load(T v, int64_t) { return v; }
  __device__ A operator()(A a, A b) const { return ((IsMax ? b > a : b < a) || b != b) ? b : a; }
  __device__ static Out finish(A a, double) { return a; }
};

template <class T>
struct ArgPair {
  T v;
  long long k;  // -1: no element yet
};

// The first maximum (first NaN when there is one): an order-independent choice, so any tree gives it.
template <class T>
struct Argmax {
  using In = T;
  using Out = int32_t;
  using A = ArgPair<T>;
  __device__ static A identity() { return A{T(0), -1}; }
  __device__ static A load(T v, int64_t k) { return A{v, static_cast<long long>(k)}; }
  __device__ A operator()(A a, A b) const {
    if (a.k < 0) return b;
    if (b.k < 0) return a;
    const bool a_nan = a.v != a.v, b_nan = b.v != b.v;
    if (a_nan != b_nan) return a_nan ? a : b;
    if (!a_nan) {
      if (a.v > b.v) return a;
      if (b.v > a.v) return b;
    }
    return a.k < b.k ? a : b;
  }
  __device__ static Out finish(A a, double) { return static_cast<int32_t>(a.k); }
};

// Groups of G threads, one per (row, chunk) item: item = row·S + s covers elements [s·L, min(r, (s+1)·L)).
template <class R, int G>
__global__ void __launch_bounds__(kThreads)
    row_kernel(const typename R::In* __restrict__ x, int64_t rows, int64_t r, int64_t S, int64_t L,
               typename R::A* __restrict__ partial, typename R::Out* __restrict__ y, double scale) {
  using A = typename R::A;
  __shared__ A sh[kThreads];
  constexpr int kGroups = kThreads / G;
  const int g = threadIdx.x / G, lane = threadIdx.x % G;
  const int64_t items = rows * S;
  // Every thread of the block runs the same iterations (group_reduce synchronises the block).
  for (int64_t base = int64_t(blockIdx.x) * kGroups; base < items; base += int64_t(gridDim.x) * kGroups) {
    const int64_t item = base + g;
    A acc = R::identity();
    if (item < items) {
      const int64_t row = item / S, k1 = min(r, (item % S + 1) * L);
      const typename R::In* p = x + row * r;
      for (int64_t k = (item % S) * L + lane; k < k1; k += G) acc = R()(acc, R::load(p[k], k));
    }
    acc = group_reduce<G>(acc, sh, R());
    if (item < items && lane == 0) {
      if (S == 1)
        y[item] = R::finish(acc, scale);
      else
        partial[item] = acc;
    }
  }
}

// One thread per (o, s, i): column o·inner + i, chunk s; partial results at [column·S + s].
template <class R>
__global__ void __launch_bounds__(kThreads)
    column_kernel(const typename R::In* __restrict__ x, int64_t outer, int64_t r, int64_t inner, int64_t S, int64_t L,
                  typename R::A* __restrict__ partial, typename R::Out* __restrict__ y, double scale) {
  using A = typename R::A;
  const int64_t total = outer * S * inner;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = t % inner, rest = t / inner, s = rest % S, o = rest / S;
    const int64_t k1 = min(r, (s + 1) * L);
    const typename R::In* p = x + o * r * inner + i;
    A acc = R::identity();
    for (int64_t k = s * L; k < k1; ++k) acc = R()(acc, R::load(p[k * inner], k));
    const int64_t column = o * inner + i;
    if (S == 1)
      y[column] = R::finish(acc, scale);
    else
      partial[column * S + s] = acc;
  }
}

// y[column] from its S partial results, combined in chunk order.
template <class R>
__global__ void __launch_bounds__(kThreads)
    combine_kernel(const typename R::A* __restrict__ partial, int64_t columns, int64_t S,
                   typename R::Out* __restrict__ y, double scale) {
  using A = typename R::A;
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < columns; c += int64_t(gridDim.x) * blockDim.x) {
    A acc = partial[c * S];
    for (int64_t s = 1; s < S; ++s) acc = R()(acc, partial[c * S + s]);
    y[c] = R::finish(acc, scale);
  }
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

template <class R>
int run(const char* what, int64_t outer, int64_t r, int64_t inner, const typename R::In* x, typename R::Out* y,
        double scale) {
  using A = typename R::A;
  const int64_t columns = outer * inner;
  if (columns <= 0) return NS_OK;
  const bool rows = inner == 1 && r > 16;
  // Chunks: enough items to fill the GPU when there are few outputs, never chunks shorter than a few
  // hundred elements (rows) or 32 (columns). Depends on the shape only.
  int64_t S = 1;
  int group = 32;
  if (rows && r > 2048) {
    group = kThreads;
    S = std::max<int64_t>(1, std::min(ceil_div(1024, outer), ceil_div(r, 8192)));
  } else if (!rows) {
    S = std::max<int64_t>(1, std::min(ceil_div(65536, columns), ceil_div(r, 32)));
  }
  const int64_t L = S == 1 ? r : ceil_div(r, S);
  if (S > 1) S = ceil_div(r, L);  // no empty chunks
  Scratch scratch;
  if (S > 1) {
    const int status = scratch.allocate(static_cast<size_t>(columns * S) * sizeof(A));
    if (status != NS_OK) return status;
  }
  A* partial = scratch.as<A>();
  if (rows && group == 32)
    row_kernel<R, 32><<<blocks_for(columns * S * 32, kThreads), kThreads, 0, stream()>>>(x, columns, r, S, L, partial,
                                                                                         y, scale);
  else if (rows)
    row_kernel<R, kThreads><<<blocks_for(columns * S * kThreads, kThreads), kThreads, 0, stream()>>>(
        x, columns, r, S, L, partial, y, scale);
  else
    column_kernel<R><<<blocks_for(columns * S, kThreads), kThreads, 0, stream()>>>(x, outer, r, inner, S, L, partial,
                                                                                  y, scale);
  int status = check_launch(what);
  if (status != NS_OK || S == 1) return status;
  combine_kernel<R><<<blocks_for(columns, kThreads), kThreads, 0, stream()>>>(partial, columns, S, y, scale);
  return check_launch(what);
}

}  // namespace

int reduce(ns_dtype dt, int op, int64_t outer, int64_t r, int64_t inner, const void* x, void* y, double scale) {
  if (op < 0 || op >= NS_REDUCE_COUNT) return fail(NS_ERR_UNSUPPORTED, "reduce: unknown op %d", op);
  if (op != NS_REDUCE_SUM && r < 1)
    return fail(NS_ERR_UNSUPPORTED, "reduce: max and min need a non-empty axis but got %lld elements",
                static_cast<long long>(r));
  return dispatch_any(dt, "reduce", [&](auto zero) -> int {
    using T = decltype(zero);
    const T* in = static_cast<const T*>(x);
    T* out = static_cast<T*>(y);
    if (op == NS_REDUCE_SUM) return run<Sum<T>>("reduce (sum)", outer, r, inner, in, out, scale);
    if (op == NS_REDUCE_MAX) return run<Extreme<T, true>>("reduce (max)", outer, r, inner, in, out, scale);
    return run<Extreme<T, false>>("reduce (min)", outer, r, inner, in, out, scale);
  });
}

int argmax(ns_dtype dt, int64_t outer, int64_t r, int64_t inner, const void* x, int32_t* out) {
  if (r < 1)
    return fail(NS_ERR_UNSUPPORTED, "argmax: expected a non-empty axis but got %lld elements",
                static_cast<long long>(r));
  return dispatch_any(dt, "argmax", [&](auto zero) -> int {
    using T = decltype(zero);
    return run<Argmax<T>>("argmax", outer, r, inner, static_cast<const T*>(x), out, 1.0);
  });
}

}  // namespace cuda
}  // namespace ns
