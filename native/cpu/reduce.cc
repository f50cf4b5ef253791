// Reductions along one axis of x viewed as [outer, r, inner]: sum (scaled), max, min, argmax, and
// softmax / log-softmax with their gradients; one-hot targets for the classification losses.
#include <cmath>
#include <limits>
#include <string>

#include "cpu.h"
#include "memory.h"
#include "runtime.h"

namespace ns {
namespace {

constexpr int64_t kGrain = 1 << 14;

// Accumulator type: float32 sums run in double for accuracy on long rows; int32 sums in int64 then wrap.
template <class T> struct Acc { using type = double; };
template <> struct Acc<int32_t> { using type = int64_t; };

template <class T>
inline T pick(int op, T m, T v) {
  if (op == NS_REDUCE_MAX) return (v > m || v != v) ? v : m;  // NaN propagates
  return (v < m || v != v) ? v : m;
}

template <class T>
void reduce(int op, int64_t outer, int64_t r, int64_t inner, const T* x, T* y, double scale) {
  using A = typename Acc<T>::type;
  const int64_t rows = outer * inner;
  if (inner == 1) {
    parallel_for(outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(r, 1)), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const T* row = x + o * r;
        if (op == NS_REDUCE_SUM) {
          A lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
          int64_t i = 0;
          for (; i + 8 <= r; i += 8)
            for (int l = 0; l < 8; ++l) lanes[l] += static_cast<A>(row[i + l]);
          A s = 0;
          for (; i < r; ++i) s += static_cast<A>(row[i]);
          for (int l = 0; l < 8; ++l) s += lanes[l];
          y[o] = static_cast<T>(std::is_floating_point_v<T> ? s * scale : s);
        } else {
          T m = row[0];
          for (int64_t i = 1; i < r; ++i) m = pick(op, m, row[i]);
          y[o] = m;
        }
      }
    });
    return;
  }
  // Reduce across rows of length `inner`: the inner loop is contiguous and vectorises.
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(r, 1)), [&](int64_t b, int64_t e) {
    while (b < e) {
      const int64_t o = b / inner, i0 = b % inner, i1 = std::min(inner, i0 + (e - b));
      T* out = y + o * inner;
      const T* base = x + o * r * inner;
      if (op == NS_REDUCE_SUM) {
        for (int64_t i = i0; i < i1; ++i) out[i] = 0;
        for (int64_t k = 0; k < r; ++k) {
          const T* row = base + k * inner;
          for (int64_t i = i0; i < i1; ++i) out[i] += row[i];
        }
        if constexpr (std::is_floating_point_v<T>)
          if (scale != 1.0)
            for (int64_t i = i0; i < i1; ++i) out[i] = static_cast<T>(out[i] * scale);
      } else {
        for (int64_t i = i0; i < i1; ++i) out[i] = base[i];
        for (int64_t k = 1; k < r; ++k) {
          const T* row = base + k * inner;
          for (int64_t i = i0; i < i1; ++i) out[i] = pick(op, out[i], row[i]);
        }
      }
      b += i1 - i0;
    }
  });
}

template <class T>
void argmax(int64_t outer, int64_t r, int64_t inner, const T* x, int32_t* out) {
  parallel_for(outer * inner, std::max<int64_t>(1, kGrain / r), [&](int64_t b, int64_t e) {
    for (int64_t q = b; q < e; ++q) {
      const int64_t o = q / inner, i = q % inner;
      const T* base = x + o * r * inner + i;
      T best = base[0];
      int32_t at = 0;
      for (int64_t k = 1; k < r; ++k) {
        const T v = base[k * inner];
        if (v > best || (v != v && best == best)) {
          best = v;
          at = static_cast<int32_t>(k);
        }
      }
      out[q] = at;
    }
  });
}

template <class T>
void softmax(int is_log, int64_t outer, int64_t dim, int64_t inner, const T* x, T* y) {
  parallel_for(outer * inner, std::max<int64_t>(1, kGrain / dim), [&](int64_t b, int64_t e) {
    for (int64_t q = b; q < e; ++q) {
      const int64_t o = q / inner, i = q % inner;
      const T* in = x + o * dim * inner + i;
      T* out = y + o * dim * inner + i;
      T m = -std::numeric_limits<T>::infinity();
      for (int64_t k = 0; k < dim; ++k) m = std::max(m, in[k * inner]);
      if (!std::isfinite(m)) m = 0;  // all -inf (or +inf/NaN present): let the arithmetic below say so
      double sum = 0;
      for (int64_t k = 0; k < dim; ++k) {
        const T ex = std::exp(in[k * inner] - m);
        if (!is_log) out[k * inner] = ex;
        sum += ex;
      }
      if (is_log) {
        const T lse = static_cast<T>(std::log(sum)) + m;
        for (int64_t k = 0; k < dim; ++k) out[k * inner] = in[k * inner] - lse;
      } else {
        const T inv = static_cast<T>(1.0 / sum);
        for (int64_t k = 0; k < dim; ++k) out[k * inner] *= inv;
      }
    }
  });
}

template <class T>
void softmax_backward(int is_log, int64_t outer, int64_t dim, int64_t inner, const T* y, const T* dy, T* dx) {
  parallel_for(outer * inner, std::max<int64_t>(1, kGrain / dim), [&](int64_t b, int64_t e) {
    for (int64_t q = b; q < e; ++q) {
      const int64_t o = q / inner, i = q % inner, base = o * dim * inner + i;
      double s = 0;
      if (is_log) {
        for (int64_t k = 0; k < dim; ++k) s += dy[base + k * inner];
        for (int64_t k = 0; k < dim; ++k)
          dx[base + k * inner] = dy[base + k * inner] - std::exp(y[base + k * inner]) * static_cast<T>(s);
      } else {
        for (int64_t k = 0; k < dim; ++k) s += static_cast<double>(dy[base + k * inner]) * y[base + k * inner];
        for (int64_t k = 0; k < dim; ++k)
          dx[base + k * inner] = y[base + k * inner] * (dy[base + k * inner] - static_cast<T>(s));
      }
    }
  });
}

}  // namespace
}  // namespace ns

extern "C" {

int ns_cpu_reduce(ns_dtype dt, int op, int64_t outer, int64_t r, int64_t inner, const void* x, void* y, double scale) {
  if (op < 0 || op >= NS_REDUCE_COUNT || (op != NS_REDUCE_SUM && r < 1)) return NS_ERR_UNSUPPORTED;
  return ns::dispatch_any(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::reduce<T>(op, outer, r, inner, static_cast<const T*>(x), static_cast<T*>(y), scale);
  });
}

int ns_cpu_argmax(ns_dtype dt, int64_t outer, int64_t r, int64_t inner, const void* x, int32_t* out) {
  if (r < 1) return NS_ERR_UNSUPPORTED;
  return ns::dispatch_any(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::argmax<T>(outer, r, inner, static_cast<const T*>(x), out);
  });
}

int ns_cpu_softmax(ns_dtype dt, int is_log, int64_t outer, int64_t dim, int64_t inner, const void* x, void* y) {
  if (dim < 1) return NS_ERR_UNSUPPORTED;
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::softmax<T>(is_log, outer, dim, inner, static_cast<const T*>(x), static_cast<T*>(y));
  });
}

int ns_cpu_softmax_backward(ns_dtype dt, int is_log, int64_t outer, int64_t dim, int64_t inner, const void* y,
                            const void* dy, void* dx) {
  if (dim < 1) return NS_ERR_UNSUPPORTED;
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::softmax_backward<T>(is_log, outer, dim, inner, static_cast<const T*>(y), static_cast<const T*>(dy),
                            static_cast<T*>(dx));
  });
}

}  // extern "C"

extern "C" int ns_cpu_one_hot(ns_dtype dt, int64_t n, int64_t classes, const int32_t* labels, double on_value,
                              double off_value, void* out) {
  for (int64_t i = 0; i < n; ++i)
    if (labels[i] < 0 || labels[i] >= classes)
      return ns::cpu_fail(NS_ERR_INDEX, "expected labels in [0, " + std::to_string(classes) + ") but got " +
                                            std::to_string(labels[i]) + " at index " + std::to_string(i));
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    T* o = static_cast<T*>(out);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < classes; ++j) o[i * classes + j] = static_cast<T>(j == labels[i] ? on_value : off_value);
  });
}
