// Static neural similarity folded into the weight (w' = w·M per row of k taps) and its gradients. The
// rows are F·C short vectors of k = kh·kw elements, so the loops run over rows in parallel and over
// the k taps in registers (AVX-512 when k ≤ 16, portable loops otherwise; the diagonal form as flat
// arrays whose taps repeat); the dm reduction sums per-chunk partials in double. The gradients also
// run fused into the convolution's weight-gradient product (static_backward_weight), so that ∂L/∂w'
// is never stored.
#include <immintrin.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "conv2d_gemm.h"
#include "gemm.h"
#include "cpu.h"
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
                                                     float* out, bool transposed, bool stream_out) {
  const int64_t k = KT ? KT : kk;
  const __mmask16 mask = static_cast<__mmask16>((1u << k) - 1);
  __m512 mrow[16];
  for (int64_t a = 0; a < k; ++a) {
    alignas(64) float row[16] = {0};
    for (int64_t b = 0; b < k; ++b) row[b] = transposed ? m[b * k + a] : m[a * k + b];
    mrow[a] = _mm512_load_ps(row);
  }
  alignas(64) float staged[16 * 16 + 16];  // 16 rows of k, and room for the last one's full vector
  const bool stream = stream_out && gemm::cache_aligned(out + r0 * k);  // (16 rows are k whole cache lines)
  int64_t r = r0;
  for (; r + 16 <= r1; r += 16) {
    for (int64_t i = 0; i < 16; ++i) _mm512_storeu_ps(staged + i * k, row_times_m<KT>(w + (r + i) * k, mrow, k));
    for (int64_t v = 0; v < k; ++v) gemm::store_vector(out + r * k + 16 * v, _mm512_load_ps(staged + 16 * v), stream);
  }
  for (; r < r1; ++r) _mm512_mask_storeu_ps(out + r * k, mask, row_times_m<KT>(w + r * k, mrow, k));
  if (stream) gemm::stream_fence();
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
                                                            float* out, bool stream_out) {
  const int64_t k = KT ? KT : kk;
  const TapPattern tp(k);
  __m512 mv[16];
  for (int64_t v = 0; v < tp.vectors; ++v) {
    alignas(64) float lanes[16];
    for (int64_t l = 0; l < 16; ++l) lanes[l] = m[(v * 16 + l) % k];
    mv[v] = _mm512_load_ps(lanes);
  }
  const bool stream = stream_out && gemm::cache_aligned(out);  // (a period is whole cache lines)
  int64_t i = 0;
  for (; i + tp.period <= n; i += tp.period)
#pragma GCC unroll 16
    for (int64_t v = 0; v < tp.vectors; ++v)
      gemm::store_vector(out + i + 16 * v, _mm512_mul_ps(_mm512_loadu_ps(src + i + 16 * v), mv[v]), stream);
  for (; i < n; ++i) out[i] = src[i] * m[i % k];
  if (stream) gemm::stream_fence();
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
void fold_outer(int64_t r0, int64_t r1, int64_t k, const T* w, const T* dwf, T* acc) {
#if defined(__x86_64__) || defined(_M_X64)
  if constexpr (std::is_same_v<T, float>)
    if (use_avx512(k)) return k == 9 ? outer_avx512<9>(r0, r1, k, w, dwf, acc) : outer_avx512<0>(r0, r1, k, w, dwf, acc);
#endif
  Fold<T>::outer(r0, r1, k, w, dwf, acc);
}

// Rows [r0, r1) of out = those of src times M (spatial; Mᵀ when transposed) or times diag(m), streamed
// past the caches when `stream` (see streamed).
template <class T>
void apply_m(bool spatial, int64_t r0, int64_t r1, int64_t k, const T* src, const T* m, T* out, bool transposed,
             bool stream) {
#if defined(__x86_64__) || defined(_M_X64)
  if constexpr (std::is_same_v<T, float>)
    if (use_avx512(k)) {
      if (spatial)
        return k == 9 ? rows_avx512<9>(r0, r1, k, src, m, out, transposed, stream)
                      : rows_avx512<0>(r0, r1, k, src, m, out, transposed, stream);
      const int64_t n = (r1 - r0) * k;
      return k == 9 ? scale_taps_avx512<9>(n, k, src + r0 * k, m, out + r0 * k, stream)
                    : scale_taps_avx512<0>(n, k, src + r0 * k, m, out + r0 * k, stream);
    }
#endif
  if (spatial) return Fold<T>::rows(r0, r1, k, src, m, out, transposed);
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t b = 0; b < k; ++b) out[r * k + b] = src[r * k + b] * m[b];
}

// Whether a fold's output of n elements is streamed past the caches: at 1 MiB and more it does not stay in
// cache until the pass that reads it next (w' the convolution, dw the optimiser), and ordinary stores
// made each store wait for its line to be read first.
template <class T>
bool streamed(int64_t n) {
  return n * int64_t(sizeof(T)) >= (int64_t(1) << 20);
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
  const bool stream = streamed<T>(rows * k);
  parallel_for(rows, kRowsPerChunk,
               [&](int64_t r0, int64_t r1) { apply_m(spatial, r0, r1, k, w, m, out, false, stream); });
}

// The gradients of the fold over rows [0, n) of dwf: dw rows, and dm added to totals (in double), one
// chunk of rows at a time so that each chunk's dm partial is taken while it is in cache (the partials
// are summed per chunk in T). w, dwf and dw point at row 0 of the run; dw or totals may be null; dw is
// streamed when `stream`.
template <class T>
void fold_backward_rows(bool spatial, int64_t n, int64_t k, const T* w, const T* m, const T* dwf, T* dw,
                        double* totals, bool stream) {
  const int64_t entries = spatial ? k * k : k;
  std::vector<T> sums(static_cast<size_t>(entries));
  for (int64_t c0 = 0; c0 < n; c0 += kRowsPerChunk) {
    const int64_t c1 = std::min(n, c0 + kRowsPerChunk);
    if (dw) apply_m(spatial, c0, c1, k, dwf, m, dw, true, stream);
    if (!totals) continue;
    std::fill(sums.begin(), sums.end(), T(0));
    if (spatial)
      fold_outer(c0, c1, k, w, dwf, sums.data());
    else
      dot_taps(c0, c1, k, w, dwf, sums.data());
    for (int64_t e = 0; e < entries; ++e) totals[e] += sums[e];
  }
}

// Filters per block of FoldedWeightGrad.
constexpr int64_t kFilterBlock = 16;

// The weight gradients of y = conv2d(x, w′) with w′ the fold of w and m, without storing ∂L/∂w′: the
// convolution's weight-gradient product hands over its result (conv::DwParts), and each thread takes
// blocks of kFilterBlock filters' rows of ∂L/∂w′ into a buffer that stays in L2, which
// fold_backward_rows turns into their rows of dw and their part of dm at once.
template <class T>
struct FoldedWeightGrad {
  bool spatial;
  const conv::Geometry& G;
  const T* w;
  const T* m;
  T* dw;
  T* dm;
  int64_t entries;             // of dm
  Scratch buffers;             // per thread: kFilterBlock rows of ∂L/∂w′
  std::vector<double> totals;  // per thread: the dm partials
  FoldedWeightGrad(bool spatial_, const conv::Geometry& geometry, const T* w_, const T* m_, T* dw_, T* dm_)
      : spatial(spatial_), G(geometry), w(w_), m(m_), dw(dw_), dm(dm_),
        entries(spatial_ ? geometry.taps * geometry.taps : geometry.taps),
        buffers(sizeof(T) * kFilterBlock * geometry.k * pool_size()),
        totals(static_cast<size_t>(entries * pool_size()), 0.0) {}
  void operator()(int64_t, const conv::DwParts<T>& parts) {
    const int64_t blocks = (G.fg + kFilterBlock - 1) / kFilterBlock;
    const bool stream = streamed<T>(G.d.f * G.k);
    parallel_run(static_cast<int>(std::min<int64_t>(pool_size(), blocks)), [&](int tid, int nt) {
      T* rows = buffers.as<T>() + tid * kFilterBlock * G.k;
      for (int64_t b = blocks * tid / nt, e = blocks * (tid + 1) / nt; b < e; ++b) {
        const int64_t f0 = b * kFilterBlock, f1 = std::min(G.fg, f0 + kFilterBlock), first = f0 * G.k;
        parts.block(rows, G.k, f0, f1, 0, G.k);
        fold_backward_rows(spatial, (f1 - f0) * G.cg, G.taps, w + first, m, rows, dw ? dw + first : nullptr,
                           dm ? totals.data() + tid * entries : nullptr, stream);
      }
    });
  }
};

template <class T>
void static_backward_weight(const ns_conv2d_desc& d, bool spatial, const T* x, const T* dy, const T* w, const T* m,
                            T* dw, T* dm, T* dbias) {
  const conv::Geometry G(d);
  FoldedWeightGrad<T> out(spatial, G, w, m, dw, dm);
  conv::weight_grad(G, conv::PatchRows<T>{x, G}, dy, out, dbias);
  if (!dm) return;
  for (int64_t e = 0; e < out.entries; ++e) {  // the threads' partials
    double sum = 0;
    for (int t = 0; t < pool_size(); ++t) sum += out.totals[t * out.entries + e];
    dm[e] = static_cast<T>(sum);
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

int ns_cpu_similarity_static_backward_weight(ns_dtype dt, const ns_conv2d_desc* d, int spatial, const void* x,
                                             const void* dy, const void* w, const void* m, void* dw, void* dm,
                                             void* dbias) {
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::static_backward_weight<T>(*d, spatial != 0, static_cast<const T*>(x), static_cast<const T*>(dy),
                                  static_cast<const T*>(w), static_cast<const T*>(m), static_cast<T*>(dw),
                                  static_cast<T*>(dm), static_cast<T*>(dbias));
  });
}

}  // extern "C"
