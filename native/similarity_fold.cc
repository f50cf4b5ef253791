// Static neural similarity folded into the weight (w' = w·M per row of k taps) and its gradients. The
// rows are F·C short vectors of k = kh·kw elements, so the loops run over rows in parallel and over
// the k taps in registers (AVX-512 when k ≤ 16, portable loops otherwise; the diagonal form as flat
// arrays whose taps repeat); the dm reduction sums
// per-chunk partials in double.
#include <immintrin.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "gemm.h"
#include "kernels.h"
#include "runtime.h"

namespace ns {
namespace {

constexpr int64_t kRowsPerChunk = 1024;

template <class T>
struct Fold {
  // out[r,b] = Σ_a w[r,a]·m[a,b] (transposed: Σ_a w[r,a]·m[b,a]).
  static inline __attribute__((always_inline)) void rows(int64_t r0, int64_t r1, int64_t k, const T* w, const T* m,
                                                         T* out, bool transposed) {
    std::vector<T> mt(static_cast<size_t>(k * k));
    for (int64_t a = 0; a < k; ++a)
      for (int64_t b = 0; b < k; ++b) mt[a * k + b] = transposed ? m[b * k + a] : m[a * k + b];
    for (int64_t r = r0; r < r1; ++r) {
      const T* wr = w + r * k;
      T* __restrict o = out + r * k;
      for (int64_t b = 0; b < k; ++b) o[b] = T(0);
      for (int64_t a = 0; a < k; ++a) {
        const T wa = wr[a];
        const T* __restrict ma = mt.data() + a * k;
        for (int64_t b = 0; b < k; ++b) o[b] += wa * ma[b];
      }
    }
  }
  // acc[a,b] += Σ_r w[r,a]·dwf[r,b] over rows [r0, r1).
  static inline __attribute__((always_inline)) void outer(int64_t r0, int64_t r1, int64_t k, const T* w,
                                                          const T* dwf, T* __restrict acc) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* wr = w + r * k;
      const T* __restrict g = dwf + r * k;
      for (int64_t a = 0; a < k; ++a) {
        const T wa = wr[a];
        T* __restrict row = acc + a * k;
        for (int64_t b = 0; b < k; ++b) row[b] += wa * g[b];
      }
    }
  }
};

#if defined(__x86_64__) || defined(_M_X64)
// AVX-512 for k ≤ 16: a row of k taps is one masked vector, the rows of M (or Mᵀ) stay in registers, and
// each output row is k broadcast-FMAs. Rows go out 16 at a time through an L1 buffer, as k whole vectors
// (row-sized masked stores straddling cache lines made the kernel twice as slow).
// (KT: k as a compile-time constant for the 3×3 kernel, so that the arrays of vectors below are registers;
// 0 takes k at run time.)
// Σ_a wr[a]·mrow[a] over the k taps of one row.
template <int KT>
__attribute__((target("avx512f"), always_inline)) inline __m512 row_times_m(const float* wr, const __m512* mrow,
                                                                            int64_t kk) {
  const int64_t k = KT ? KT : kk;
  __m512 acc = _mm512_setzero_ps();
#pragma GCC unroll 16
  for (int64_t a = 0; a < k; ++a) acc = _mm512_fmadd_ps(_mm512_set1_ps(wr[a]), mrow[a], acc);
  return acc;
}

template <int KT>
__attribute__((target("avx512f"))) void rows_avx512(int64_t r0, int64_t r1, int64_t kk, const float* w, const float* m,
                                                     float* out, bool transposed) {
  const int64_t k = KT ? KT : kk;
  const __mmask16 mask = static_cast<__mmask16>((1u << k) - 1);
  __m512 mrow[16];
  for (int64_t a = 0; a < k; ++a) {
    alignas(64) float row[16] = {0};
    for (int64_t b = 0; b < k; ++b) row[b] = transposed ? m[b * k + a] : m[a * k + b];
    mrow[a] = _mm512_load_ps(row);
  }
  alignas(64) float staged[16 * 16 + 16];  // 16 rows of k, and room for the last one's full vector
  int64_t r = r0;
  for (; r + 16 <= r1; r += 16) {
    for (int64_t i = 0; i < 16; ++i) _mm512_storeu_ps(staged + i * k, row_times_m<KT>(w + (r + i) * k, mrow, k));
    for (int64_t v = 0; v < k; ++v) _mm512_storeu_ps(out + r * k + 16 * v, _mm512_load_ps(staged + 16 * v));
  }
  for (; r < r1; ++r) _mm512_mask_storeu_ps(out + r * k, mask, row_times_m<KT>(w + r * k, mrow, k));
}

// acc[a,b] += Σ_r w[r,a]·dwf[r,b] with the k rows of acc in registers.
template <int KT>
__attribute__((target("avx512f"))) void outer_avx512(int64_t r0, int64_t r1, int64_t kk, const float* w,
                                                      const float* dwf, float* acc) {
  const int64_t k = KT ? KT : kk;
  const __mmask16 mask = static_cast<__mmask16>((1u << k) - 1);
  __m512 sum[16];
  for (int64_t a = 0; a < k; ++a) sum[a] = _mm512_setzero_ps();
  for (int64_t r = r0; r < r1; ++r) {
    const __m512 g = _mm512_maskz_loadu_ps(mask, dwf + r * k);
    const float* wr = w + r * k;
#pragma GCC unroll 16
    for (int64_t a = 0; a < k; ++a) sum[a] = _mm512_fmadd_ps(_mm512_set1_ps(wr[a]), g, sum[a]);
  }
  // Unrolled like the loop above, so that with KT the sums stay in registers (a loop over a run-time
  // index would make GCC keep the array in memory and store every sum on every row).
#pragma GCC unroll 16
  for (int64_t a = 0; a < k; ++a) {
    alignas(64) float row[16];
    _mm512_store_ps(row, sum[a]);
    for (int64_t b = 0; b < k; ++b) acc[a * k + b] += row[b];
  }
}

// The diagonal form over a run of whole rows, as one flat array whose i-th element goes with tap i % k:
// vectors of M's taps repeat every lcm(k, 16) elements (period / 16 vectors, at most 16).
struct TapPattern {
  int64_t period, vectors;
  constexpr explicit TapPattern(int64_t k) : period(k * 16 / std::gcd<int64_t>(k, 16)), vectors(period / 16) {}
};

// out[i] = src[i]·m[i % k] for i < n (n a multiple of k). (KT as for rows_avx512.)
template <int KT>
__attribute__((target("avx512f"))) void scale_taps_avx512(int64_t n, int64_t kk, const float* src, const float* m,
                                                            float* out) {
  const int64_t k = KT ? KT : kk;
  const TapPattern tp(k);
  __m512 mv[16];
  for (int64_t v = 0; v < tp.vectors; ++v) {
    alignas(64) float lanes[16];
    for (int64_t l = 0; l < 16; ++l) lanes[l] = m[(v * 16 + l) % k];
    mv[v] = _mm512_load_ps(lanes);
  }
  int64_t i = 0;
  for (; i + tp.period <= n; i += tp.period)
#pragma GCC unroll 16
    for (int64_t v = 0; v < tp.vectors; ++v)
      _mm512_storeu_ps(out + i + 16 * v, _mm512_mul_ps(_mm512_loadu_ps(src + i + 16 * v), mv[v]));
  for (; i < n; ++i) out[i] = src[i] * m[i % k];
}

// acc[b] += Σ_{i ≡ b (mod k)} a[i]·g[i] for i < n (n a multiple of k). (KT as for rows_avx512: with it,
// every loop over the vectors unrolls and the sums stay in registers.)
template <int KT>
__attribute__((target("avx512f"))) void dot_taps_avx512(int64_t n, int64_t kk, const float* a, const float* g,
                                                         float* acc) {
  const int64_t k = KT ? KT : kk;
  const TapPattern tp(k);
  __m512 sum[16];
#pragma GCC unroll 16
  for (int64_t v = 0; v < tp.vectors; ++v) sum[v] = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + tp.period <= n; i += tp.period)
#pragma GCC unroll 16
    for (int64_t v = 0; v < tp.vectors; ++v)
      sum[v] = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16 * v), _mm512_loadu_ps(g + i + 16 * v), sum[v]);
#pragma GCC unroll 16
  for (int64_t v = 0; v < tp.vectors; ++v) {
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, sum[v]);
    for (int64_t l = 0; l < 16; ++l) acc[(v * 16 + l) % k] += lanes[l];
  }
  for (; i < n; ++i) acc[i % k] += a[i] * g[i];
}

// The AVX-512 kernels hold a row of k taps in one vector.
inline bool use_avx512(int64_t k) { return gemm::avx512_f32() && k <= 16; }
#endif

template <class T>
void fold_rows(int64_t r0, int64_t r1, int64_t k, const T* w, const T* m, T* out, bool transposed) {
#if defined(__x86_64__) || defined(_M_X64)
  if constexpr (std::is_same_v<T, float>)
    if (use_avx512(k))
      return k == 9 ? rows_avx512<9>(r0, r1, k, w, m, out, transposed) : rows_avx512<0>(r0, r1, k, w, m, out, transposed);
#endif
  Fold<T>::rows(r0, r1, k, w, m, out, transposed);
}

template <class T>
void fold_outer(int64_t r0, int64_t r1, int64_t k, const T* w, const T* dwf, T* acc) {
#if defined(__x86_64__) || defined(_M_X64)
  if constexpr (std::is_same_v<T, float>)
    if (use_avx512(k)) return k == 9 ? outer_avx512<9>(r0, r1, k, w, dwf, acc) : outer_avx512<0>(r0, r1, k, w, dwf, acc);
#endif
  Fold<T>::outer(r0, r1, k, w, dwf, acc);
}

// out[r, b] = src[r, b]·m[b] for rows [r0, r1).
template <class T>
void scale_taps(int64_t r0, int64_t r1, int64_t k, const T* src, const T* m, T* out) {
#if defined(__x86_64__) || defined(_M_X64)
  if constexpr (std::is_same_v<T, float>)
    if (use_avx512(k)) {
      const int64_t n = (r1 - r0) * k;
      return k == 9 ? scale_taps_avx512<9>(n, k, src + r0 * k, m, out + r0 * k)
                    : scale_taps_avx512<0>(n, k, src + r0 * k, m, out + r0 * k);
    }
#endif
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t b = 0; b < k; ++b) out[r * k + b] = src[r * k + b] * m[b];
}

// acc[b] += Σ_r a[r, b]·g[r, b] over rows [r0, r1).
template <class T>
void dot_taps(int64_t r0, int64_t r1, int64_t k, const T* a, const T* g, T* acc) {
#if defined(__x86_64__) || defined(_M_X64)
  if constexpr (std::is_same_v<T, float>)
    if (use_avx512(k)) {
      const int64_t n = (r1 - r0) * k;
      return k == 9 ? dot_taps_avx512<9>(n, k, a + r0 * k, g + r0 * k, acc)
                    : dot_taps_avx512<0>(n, k, a + r0 * k, g + r0 * k, acc);
    }
#endif
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t b = 0; b < k; ++b) acc[b] += a[r * k + b] * g[r * k + b];
}

template <class T>
void fold(bool spatial, int64_t rows, int64_t k, const T* w, const T* m, T* out) {
  parallel_for(rows, kRowsPerChunk, [&](int64_t r0, int64_t r1) {
    if (spatial) return fold_rows(r0, r1, k, w, m, out, false);
    scale_taps(r0, r1, k, w, m, out);
  });
}

// One pass over chunks of rows: each chunk's dw rows, then its dm partial while the chunk is in cache.
// The partials are summed per chunk in T, per thread in double, then across threads.
template <class T>
void fold_backward(bool spatial, int64_t rows, int64_t k, const T* w, const T* m, const T* dwf, T* dw, T* dm) {
  const int64_t entries = spatial ? k * k : k;
  const int threads = static_cast<int>(std::min<int64_t>(pool_size(), (rows + kRowsPerChunk - 1) / kRowsPerChunk));
  std::vector<double> totals(static_cast<size_t>(entries * std::max(threads, 1)), 0.0);
  parallel_run(threads, [&](int tid, int nt) {
    std::vector<T> acc(static_cast<size_t>(entries));
    for (int64_t c0 = rows * tid / nt, r1 = rows * (tid + 1) / nt; c0 < r1; c0 += kRowsPerChunk) {
      const int64_t c1 = std::min(r1, c0 + kRowsPerChunk);
      if (dw) {
        if (spatial)
          fold_rows(c0, c1, k, dwf, m, dw, true);
        else
          scale_taps(c0, c1, k, dwf, m, dw);
      }
      if (!dm) continue;
      std::fill(acc.begin(), acc.end(), T(0));
      if (spatial) {
        fold_outer(c0, c1, k, w, dwf, acc.data());
      } else {
        dot_taps(c0, c1, k, w, dwf, acc.data());
      }
      for (int64_t e = 0; e < entries; ++e) totals[tid * entries + e] += acc[e];
    }
  });
  if (dm)
    for (int64_t e = 0; e < entries; ++e) {
      double s = 0;
      for (int t = 0; t < std::max(threads, 1); ++t) s += totals[t * entries + e];
      dm[e] = static_cast<T>(s);
    }
}

}  // namespace
}  // namespace ns

extern "C" {

int ns_cpu_similarity_fold(ns_dtype dt, int spatial, int64_t rows, int64_t k, const void* w, const void* m, void* out) {
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::fold<T>(spatial != 0, rows, k, static_cast<const T*>(w), static_cast<const T*>(m), static_cast<T*>(out));
  });
}

int ns_cpu_similarity_fold_backward(ns_dtype dt, int spatial, int64_t rows, int64_t k, const void* w, const void* m,
                                    const void* dwf, void* dw, void* dm) {
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::fold_backward<T>(spatial != 0, rows, k, static_cast<const T*>(w), static_cast<const T*>(m),
                         static_cast<const T*>(dwf), static_cast<T*>(dw), static_cast<T*>(dm));
  });
}

}  // extern "C"
