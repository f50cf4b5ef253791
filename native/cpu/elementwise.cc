// Elementwise kernels: unary ops and their gradients, broadcasting binary ops, strided copies, casts, fills.
#include <cmath>
#include <cstring>
#include <type_traits>

#include "cpu.h"
#include "runtime.h"

namespace ns {
constexpr int64_t kFillGrain = 1 << 16;
namespace {

constexpr int64_t kGrain = 1 << 15;  // elements per thread below which loops stay on one thread

// Powers with common exponents, told apart here (after the ABI's codes) so that they run as plain
// arithmetic: std::pow costs tens of cycles an element.
constexpr int kSquare = NS_UNARY_COUNT, kReciprocal = NS_UNARY_COUNT + 1;

// Calls fn(std::integral_constant<int, Op>{}) for the unary op, so that each op gets its own tight loop;
// a power of 2 or −1 comes as kSquare or kReciprocal.
template <class T, class F>
void with_unary_op(int op, T alpha, F&& fn) {
  using std::integral_constant;
  switch (op) {
    case NS_UNARY_NEG: return fn(integral_constant<int, NS_UNARY_NEG>{});
    case NS_UNARY_EXP: return fn(integral_constant<int, NS_UNARY_EXP>{});
    case NS_UNARY_LOG: return fn(integral_constant<int, NS_UNARY_LOG>{});
    case NS_UNARY_SQRT: return fn(integral_constant<int, NS_UNARY_SQRT>{});
    case NS_UNARY_TANH: return fn(integral_constant<int, NS_UNARY_TANH>{});
    case NS_UNARY_SIGMOID: return fn(integral_constant<int, NS_UNARY_SIGMOID>{});
    case NS_UNARY_RELU: return fn(integral_constant<int, NS_UNARY_RELU>{});
    case NS_UNARY_ABS: return fn(integral_constant<int, NS_UNARY_ABS>{});
    case NS_UNARY_POW:
      if (alpha == T(2)) return fn(integral_constant<int, kSquare>{});
      if (alpha == T(-1)) return fn(integral_constant<int, kReciprocal>{});
      return fn(integral_constant<int, NS_UNARY_POW>{});
    default: throw Unsupported();
  }
}

template <class T>
T apply_unary(int op, T x, T alpha) {
  switch (op) {
    case kSquare: return x * x;
    case kReciprocal: return T(1) / x;
    case NS_UNARY_NEG: return -x;
    case NS_UNARY_EXP: return std::exp(x);
    case NS_UNARY_LOG: return std::log(x);
    case NS_UNARY_SQRT: return std::sqrt(x);
    case NS_UNARY_TANH: return std::tanh(x);
    case NS_UNARY_SIGMOID: return x >= 0 ? T(1) / (T(1) + std::exp(-x)) : std::exp(x) / (T(1) + std::exp(x));
    case NS_UNARY_RELU: return x > 0 ? x : T(0);
    case NS_UNARY_ABS: return std::abs(x);
    default: return std::pow(x, alpha);
  }
}

template <class T>
void unary(int op, int64_t n, const T* x, T* y, T alpha) {
  with_unary_op(op, alpha, [&](auto o) {
    parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) y[i] = apply_unary<T>(decltype(o)::value, x[i], alpha);
    });
  });
}

template <class T>
T unary_grad(int op, T x, T y, T dy, T alpha) {
  switch (op) {
    case kSquare: return dy * T(2) * x;
    case kReciprocal: return -dy * y * y;
    case NS_UNARY_NEG: return -dy;
    case NS_UNARY_EXP: return dy * y;
    case NS_UNARY_LOG: return dy / x;
    case NS_UNARY_SQRT: return dy * T(0.5) / y;
    case NS_UNARY_TANH: return dy * (T(1) - y * y);
    case NS_UNARY_SIGMOID: return dy * y * (T(1) - y);
    case NS_UNARY_RELU: return x > 0 ? dy : T(0);
    case NS_UNARY_ABS: return x > 0 ? dy : (x < 0 ? -dy : T(0));
    default: return alpha == 0 ? T(0) : dy * alpha * std::pow(x, alpha - T(1));
  }
}

template <class T>
void unary_backward(int op, int64_t n, const T* x, const T* y, const T* dy, T* dx, T alpha) {
  with_unary_op(op, alpha, [&](auto o) {
    parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) dx[i] = unary_grad<T>(decltype(o)::value, x[i], y[i], dy[i], alpha);
    });
  });
}

template <class T, int Op>
inline T apply_binary(T a, T b) {
  if constexpr (Op == NS_BINARY_ADD) return a + b;
  if constexpr (Op == NS_BINARY_SUB) return a - b;
  if constexpr (Op == NS_BINARY_MUL) return a * b;
  if constexpr (Op == NS_BINARY_DIV) return a / b;
  if constexpr (Op == NS_BINARY_POW) return static_cast<T>(std::pow(a, b));
  if constexpr (Op == NS_BINARY_MAX) return (a > b || a != a) ? a : b;  // NaN propagates
  if constexpr (Op == NS_BINARY_MIN) return (a < b || a != a) ? a : b;
  if constexpr (Op == NS_BINARY_EQ) return a == b ? T(1) : T(0);
  if constexpr (Op == NS_BINARY_NE) return a != b ? T(1) : T(0);
  if constexpr (Op == NS_BINARY_LT) return a < b ? T(1) : T(0);
  if constexpr (Op == NS_BINARY_LE) return a <= b ? T(1) : T(0);
  if constexpr (Op == NS_BINARY_GT) return a > b ? T(1) : T(0);
  if constexpr (Op == NS_BINARY_GE) return a >= b ? T(1) : T(0);
  return T(0);
}

// Walks the outer dimensions with a multi-index; the innermost one is a tight loop specialised for
// the common stride patterns (both dense, one broadcast).
template <class T, int Op>
void binary_loop(int ndim, const int64_t* shape, const int64_t* sa, const int64_t* sb, const T* a, const T* b,
                 T* out) {
  if (ndim == 0) {
    out[0] = apply_binary<T, Op>(a[0], b[0]);
    return;
  }
  const int64_t inner = shape[ndim - 1], ia = sa[ndim - 1], ib = sb[ndim - 1];
  int64_t outer = 1;
  for (int d = 0; d < ndim - 1; ++d) outer *= shape[d];
  if (inner == 0 || outer == 0) return;
  parallel_for(outer, std::max<int64_t>(1, kGrain / inner), [&](int64_t r0, int64_t r1) {
    int64_t idx[16] = {0};
    int64_t oa = 0, ob = 0;
    for (int64_t r = r0, d = ndim - 2; d >= 0; --d) {
      idx[d] = r % shape[d];
      r /= shape[d];
      oa += idx[d] * sa[d];
      ob += idx[d] * sb[d];
    }
    for (int64_t r = r0; r < r1; ++r) {
      const T* pa = a + oa;
      const T* pb = b + ob;
      T* po = out + r * inner;
      if (ia == 1 && ib == 1)
        for (int64_t i = 0; i < inner; ++i) po[i] = apply_binary<T, Op>(pa[i], pb[i]);
      else if (ia == 1 && ib == 0)
        for (int64_t i = 0; i < inner; ++i) po[i] = apply_binary<T, Op>(pa[i], pb[0]);
      else if (ia == 0 && ib == 1)
        for (int64_t i = 0; i < inner; ++i) po[i] = apply_binary<T, Op>(pa[0], pb[i]);
      else
        for (int64_t i = 0; i < inner; ++i) po[i] = apply_binary<T, Op>(pa[i * ia], pb[i * ib]);
      for (int d = ndim - 2; d >= 0; --d) {
        oa += sa[d];
        ob += sb[d];
        if (++idx[d] < shape[d]) break;
        oa -= sa[d] * shape[d];
        ob -= sb[d] * shape[d];
        idx[d] = 0;
      }
    }
  });
}

template <class T>
void binary(int op, int ndim, const int64_t* shape, const int64_t* sa, const int64_t* sb, const T* a, const T* b,
            T* out) {
  switch (op) {
#define NS_CASE(OP) \
  case OP: return binary_loop<T, OP>(ndim, shape, sa, sb, a, b, out);
    NS_CASE(NS_BINARY_ADD) NS_CASE(NS_BINARY_SUB) NS_CASE(NS_BINARY_MUL) NS_CASE(NS_BINARY_MAX)
    NS_CASE(NS_BINARY_MIN) NS_CASE(NS_BINARY_EQ) NS_CASE(NS_BINARY_NE) NS_CASE(NS_BINARY_LT)
    NS_CASE(NS_BINARY_LE) NS_CASE(NS_BINARY_GT) NS_CASE(NS_BINARY_GE)
    case NS_BINARY_DIV:
    case NS_BINARY_POW:
      if constexpr (std::is_floating_point_v<T>) {
        if (op == NS_BINARY_DIV) return binary_loop<T, NS_BINARY_DIV>(ndim, shape, sa, sb, a, b, out);
        return binary_loop<T, NS_BINARY_POW>(ndim, shape, sa, sb, a, b, out);
      }
      throw Unsupported();
#undef NS_CASE
    default: throw Unsupported();
  }
}

template <class T>
void copy(int ndim, const int64_t* shape, const T* src, int64_t so, const int64_t* ss, T* dst, int64_t dof,
          const int64_t* ds) {
  if (ndim == 0) {
    dst[dof] = src[so];
    return;
  }
  const int64_t inner = shape[ndim - 1], is = ss[ndim - 1], id = ds[ndim - 1];
  int64_t outer = 1;
  for (int d = 0; d < ndim - 1; ++d) outer *= shape[d];
  if (inner == 0 || outer == 0) return;
  parallel_for(outer, std::max<int64_t>(1, kGrain / inner), [&](int64_t r0, int64_t r1) {
    int64_t idx[16] = {0};
    int64_t os = so, od = dof;
    for (int64_t r = r0, d = ndim - 2; d >= 0; --d) {
      idx[d] = r % shape[d];
      r /= shape[d];
      os += idx[d] * ss[d];
      od += idx[d] * ds[d];
    }
    for (int64_t r = r0; r < r1; ++r) {
      if (is == 1 && id == 1)
        std::memcpy(dst + od, src + os, sizeof(T) * inner);
      else
        for (int64_t i = 0; i < inner; ++i) dst[od + i * id] = src[os + i * is];
      for (int d = ndim - 2; d >= 0; --d) {
        os += ss[d];
        od += ds[d];
        if (++idx[d] < shape[d]) break;
        os -= ss[d] * shape[d];
        od -= ds[d] * shape[d];
        idx[d] = 0;
      }
    }
  });
}

template <class S, class D>
void cast(int64_t n, const S* src, D* dst) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      if constexpr (std::is_same_v<D, int32_t> && !std::is_same_v<S, int32_t>) {
        const double v = static_cast<double>(src[i]);
        // Out-of-range and NaN values saturate rather than invoke undefined behaviour.
        dst[i] = v != v ? 0 : v >= 2147483647.0 ? INT32_MAX : v <= -2147483648.0 ? INT32_MIN : static_cast<int32_t>(v);
      } else {
        dst[i] = static_cast<D>(src[i]);
      }
    }
  });
}

}  // namespace
}  // namespace ns

extern "C" {

int ns_cpu_unary(ns_dtype dt, int op, int64_t n, const void* x, void* y, double alpha) {
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::unary<T>(op, n, static_cast<const T*>(x), static_cast<T*>(y), static_cast<T>(alpha));
  });
}

int ns_cpu_unary_backward(ns_dtype dt, int op, int64_t n, const void* x, const void* y, const void* dy, void* dx,
                          double alpha) {
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::unary_backward<T>(op, n, static_cast<const T*>(x), static_cast<const T*>(y), static_cast<const T*>(dy),
                          static_cast<T*>(dx), static_cast<T>(alpha));
  });
}

int ns_cpu_binary(ns_dtype dt, int op, int ndim, const int64_t* shape, const int64_t* stride_a, const int64_t* stride_b,
                  const void* a, const void* b, void* out) {
  if (ndim > 16) return NS_ERR_UNSUPPORTED;
  return ns::dispatch_any(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::binary<T>(op, ndim, shape, stride_a, stride_b, static_cast<const T*>(a), static_cast<const T*>(b),
                  static_cast<T*>(out));
  });
}

int ns_cpu_copy(ns_dtype dt, int ndim, const int64_t* shape, const void* src, int64_t src_offset,
                const int64_t* src_strides, void* dst, int64_t dst_offset, const int64_t* dst_strides) {
  if (ndim > 16) return NS_ERR_UNSUPPORTED;
  return ns::dispatch_any(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::copy<T>(ndim, shape, static_cast<const T*>(src), src_offset, src_strides, static_cast<T*>(dst), dst_offset,
                dst_strides);
  });
}

int ns_cpu_cast(ns_dtype src_dt, ns_dtype dst_dt, int64_t n, const void* src, void* dst) {
  return ns::dispatch_any(src_dt, [&](auto s) {
    using S = decltype(s);
    const int status = ns::dispatch_any(dst_dt, [&](auto d) {
      using D = decltype(d);
      ns::cast<S, D>(n, static_cast<const S*>(src), static_cast<D*>(dst));
    });
    if (status != NS_OK) throw ns::Unsupported();
  });
}

}  // extern "C"

extern "C" int ns_cpu_fill(ns_dtype dt, int64_t n, double value, void* out) {
  return ns::dispatch_any(dt, [&](auto zero) {
    using T = decltype(zero);
    const T v = static_cast<T>(value);
    T* o = static_cast<T*>(out);
    ns::parallel_for(n, ns::kFillGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) o[i] = v;
    });
  });
}
