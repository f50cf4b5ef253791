// Static neural similarity folded into the weight (w' = w·M per row of k taps) and its gradients. The
// rows are F·C short vectors of k = kh·kw elements, so the loops run over rows in parallel and over
// the k taps in registers (AVX-512 when k ≤ 16, portable loops otherwise); the dm reduction sums
// per-chunk partials in double.
#include <immintrin.h>

#include <algorithm>
#include <vector>

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
// each output row is k broadcast-FMAs.
__attribute__((target("avx512f"))) void rows_avx512(int64_t r0, int64_t r1, int64_t k, const float* w, const float* m,
                                                     float* out, bool transposed) {
  const __mmask16 mask = static_cast<__mmask16>((1u << k) - 1);
  __m512 mrow[16];
  for (int64_t a = 0; a < k; ++a) {
    alignas(64) float row[16] = {0};
    for (int64_t b = 0; b < k; ++b) row[b] = transposed ? m[b * k + a] : m[a * k + b];
    mrow[a] = _mm512_load_ps(row);
  }
  for (int64_t r = r0; r < r1; ++r) {
    const float* wr = w + r * k;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t a = 0; a < k; ++a) acc = _mm512_fmadd_ps(_mm512_set1_ps(wr[a]), mrow[a], acc);
    _mm512_mask_storeu_ps(out + r * k, mask, acc);
  }
}

// acc[a,b] += Σ_r w[r,a]·dwf[r,b] with the k rows of acc in registers.
__attribute__((target("avx512f"))) void outer_avx512(int64_t r0, int64_t r1, int64_t k, const float* w,
                                                      const float* dwf, float* acc) {
  const __mmask16 mask = static_cast<__mmask16>((1u << k) - 1);
  __m512 sum[16];
  for (int64_t a = 0; a < k; ++a) sum[a] = _mm512_setzero_ps();
  for (int64_t r = r0; r < r1; ++r) {
    const __m512 g = _mm512_maskz_loadu_ps(mask, dwf + r * k);
    const float* wr = w + r * k;
    for (int64_t a = 0; a < k; ++a) sum[a] = _mm512_fmadd_ps(_mm512_set1_ps(wr[a]), g, sum[a]);
  }
  for (int64_t a = 0; a < k; ++a) {
    alignas(64) float row[16];
    _mm512_store_ps(row, sum[a]);
    for (int64_t b = 0; b < k; ++b) acc[a * k + b] += row[b];
  }
}

inline bool use_avx512(int64_t k) {
  static const bool ok = __builtin_cpu_supports("avx512f");
  return ok && k <= 16;
}
#endif

template <class T>
void fold_rows(int64_t r0, int64_t r1, int64_t k, const T* w, const T* m, T* out, bool transposed) {
#if defined(__x86_64__) || defined(_M_X64)
  if constexpr (std::is_same_v<T, float>)
    if (use_avx512(k)) return rows_avx512(r0, r1, k, w, m, out, transposed);
#endif
  Fold<T>::rows(r0, r1, k, w, m, out, transposed);
}

template <class T>
void fold_outer(int64_t r0, int64_t r1, int64_t k, const T* w, const T* dwf, T* acc) {
#if defined(__x86_64__) || defined(_M_X64)
  if constexpr (std::is_same_v<T, float>)
    if (use_avx512(k)) return outer_avx512(r0, r1, k, w, dwf, acc);
#endif
  Fold<T>::outer(r0, r1, k, w, dwf, acc);
}

template <class T>
void fold(bool spatial, int64_t rows, int64_t k, const T* w, const T* m, T* out) {
  parallel_for(rows, kRowsPerChunk, [&](int64_t r0, int64_t r1) {
    if (spatial) return fold_rows(r0, r1, k, w, m, out, false);
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t b = 0; b < k; ++b) out[r * k + b] = w[r * k + b] * m[b];
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
          for (int64_t r = c0; r < c1; ++r)
            for (int64_t b = 0; b < k; ++b) dw[r * k + b] = dwf[r * k + b] * m[b];
      }
      if (!dm) continue;
      std::fill(acc.begin(), acc.end(), T(0));
      if (spatial) {
        fold_outer(c0, c1, k, w, dwf, acc.data());
      } else {
        for (int64_t r = c0; r < c1; ++r)
          for (int64_t b = 0; b < k; ++b) acc[b] += w[r * k + b] * dwf[r * k + b];
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
