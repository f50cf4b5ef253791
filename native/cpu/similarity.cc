// Dynamic neural-similarity convolution on the CPU, fused into conv2d's implicit GEMMs (conv2d_gemm.h;
// see kernels.h and DESIGN.md §2). With X̃_p = M_p·P_p per sample and output position p:
//
//   forward       y = W · X̃          conv::forward_gemm with a B operand that packs the patches with
//                                    pack_patches and transforms each panel in place
//   backward      per column tile and channel chunk, in one pass (backward_fused):
//                   dX̃ = Wᵀ · dY     (W and dy read in place)
//                   dM_p = dX̃_p·P_pᵀ and dP_p = M_pᵀ·dX̃_p, added back into dx (col2im)
//                   dWᵀ += X̃ · dYᵀ   (P_p transformed in place once used), into per-thread copies
//   grad weight   alone, or when those copies would be large: conv::weight_grad_gemm with A rows formed
//                 as in the forward
//
// Nothing of size N·Ho·Wo·C·K or N·Ho·Wo·K·F is ever stored: X̃ exists one packed block at a time and
// dX̃ one tile at a time. Tiles that add into dx are grouped in bands of output rows processed in two
// phases (even bands, then odd bands) so that no two threads ever write the same dx element.
//
// Deterministic: for a given shape and thread count every sum is taken in a fixed order. The (image,
// band) work items are split statically, a fixed contiguous range per thread index, so each per-thread
// dWᵀ copy accumulates the same items in the same order on every run, and the copies are summed in thread
// order at the end. (Items taken dynamically, first come first served, made dw vary between identical runs
// by the rounding of sums grouped differently.)
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "conv2d_direct.h"
#include "conv2d_gemm.h"
#include "cpu.h"

namespace ns {
namespace {

using conv::Geometry;

// Asks for the cache lines of [p, p + bytes) ahead of their use.
inline void prefetch_run(const void* p, int64_t bytes) {
  for (int64_t b = 0; b < bytes; b += 64) __builtin_prefetch(static_cast<const char*>(p) + b);
}

// A dynamic similarity convolution: the convolution's geometry (one group) and the form of m.
struct Similarity {
  Geometry G;
  bool spatial;
  int64_t mrows;  // rows of m per position: K (diagonal) or K·K (spatial)
  Similarity(const ns_conv2d_desc& d, bool sp) : G(d), spatial(sp), mrows(sp ? G.taps * G.taps : G.taps) {}
};

// out[r·ld + t] = m[n, r, p] for the columns t < width starting at col0 (r < mrows); lanes [width, ld)
// are zeroed. Each row's run lies a plane from the next, often in a page of its own, where the hardware
// prefetchers barely start before it ends: the runs kGatherAhead rows on are prefetched, to keep more
// lines in flight (7% off the forward with 81 rows on 32×32 planes, measured).
constexpr int64_t kGatherAhead = 6;

template <class T>
void gather_m(T* out, int64_t ld, const T* m, const Similarity& S, int64_t col0, int64_t width) {
  const Geometry& G = S.G;
  for (int64_t t = 0; t < width;) {
    const int64_t col = col0 + t, img = col / G.plane, p = col % G.plane, len = std::min(width - t, G.plane - p);
    const T* rows = m + img * S.mrows * G.plane + p;
    for (int64_t r = 0; r < S.mrows; ++r) {
      if (r + kGatherAhead < S.mrows) prefetch_run(rows + (r + kGatherAhead) * G.plane, sizeof(T) * len);
      std::memcpy(out + r * ld + t, rows + r * G.plane, sizeof(T) * len);
    }
    t += len;
  }
  for (int64_t r = 0; r < S.mrows; ++r) std::fill(out + r * ld + width, out + r * ld + ld, T(0));
}

// The per-position transforms of `nch` consecutive channels (K rows each; rows ld apart) over `lanes`
// columns:
//   forward:  p[c,a] ← Σ_b M[a,b]·p[c,b] in place (spatial) or p[c,a] ← m[a]·p[c,a] (diagonal)
//   adjoint:  dm[a,b] += Σ_c g[c,a]·p[c,b] and dp[c,b] = Σ_a M[a,b]·g[c,a] (spatial; diagonal:
//             dm[a] += Σ_c g[c,a]·p[c,a], dp[c,a] = m[a]·g[c,a]), g = dX̃; dm as DmRows says; dp (when
//             to_dp) overwrites g.
// The loops run 16 columns at a time over all the channels, so that those columns of M (K·K rows) stay in
// L1 while every channel uses them. Portable code here; vector code below.

// Where the adjoint puts dm: rows ld apart, added into, or (overwrite) the channels' sum written over them
// — on AVX-512 with streaming stores that bypass the caches, so the rows must then be 64-byte aligned.
template <class T>
struct DmRows {
  T* p;  // null when dm is not wanted
  int64_t ld;
  bool overwrite;
};

template <class T>
struct Transform {
  // One channel's K rows (ld apart) over n ≤ 16 columns from t0, replaced in place by M times them: row
  // a ← Σ_b M[a,b]·row b, or (transposed) row b ← Σ_a M[a,b]·row a; M[a,b] at mt[(a·K + b)·ldm + t0 + t].
  // src: room for the K rows' 16 columns.
  static inline __attribute__((always_inline)) void mix(T* rows, int64_t ld, const T* mt, int64_t ldm, int64_t K,
                                                        bool transposed, int64_t t0, int64_t n, T* src) {
    for (int64_t i = 0; i < K; ++i)
      for (int64_t t = 0; t < n; ++t) src[i * 16 + t] = rows[i * ld + t];
    for (int64_t o = 0; o < K; ++o) {
      T acc[16] = {};
      for (int64_t i = 0; i < K; ++i) {
        const T* mv = mt + (transposed ? i * K + o : o * K + i) * ldm + t0;
        for (int64_t t = 0; t < n; ++t) acc[t] += mv[t] * src[i * 16 + t];
      }
      for (int64_t t = 0; t < n; ++t) rows[o * ld + t] = acc[t];
    }
  }
  static inline __attribute__((always_inline)) void forward(T* p, int64_t ld, const T* mt, int64_t ldm, int64_t nch,
                                                            int64_t K, bool spatial, int64_t lanes) {
    thread_local std::vector<T> copy;  // one channel's K patch rows, 16 columns of them
    copy.resize(static_cast<size_t>(K * 16));
    T* src = copy.data();
    for (int64_t t0 = 0; t0 < lanes; t0 += 16) {
      const int64_t n = std::min<int64_t>(16, lanes - t0);
      for (int64_t c = 0; c < nch; ++c) {
        T* pc = p + c * K * ld + t0;
        if (!spatial) {
          for (int64_t a = 0; a < K; ++a)
            for (int64_t t = 0; t < n; ++t) pc[a * ld + t] *= mt[a * ldm + t0 + t];
          continue;
        }
        mix(pc, ld, mt, ldm, K, false, t0, n, src);
      }
    }
  }
  static inline __attribute__((always_inline)) void adjoint(const T* mt, const T* p, T* g, DmRows<T> dm, bool to_dp,
                                                            int64_t nch, int64_t K, bool spatial, int64_t ld,
                                                            int64_t lanes) {
    thread_local std::vector<T> copy;  // one channel's K gradient rows, 16 columns of them
    copy.resize(static_cast<size_t>(K * 16));
    T* src = copy.data();
    for (int64_t t0 = 0; t0 < lanes; t0 += 16) {
      const int64_t n = std::min<int64_t>(16, lanes - t0);
      if (dm.p && dm.overwrite)
        for (int64_t r = 0; r < (spatial ? K * K : K); ++r)
          std::fill(dm.p + r * dm.ld + t0, dm.p + r * dm.ld + t0 + n, T(0));
      for (int64_t c = 0; c < nch; ++c) {
        const T* pc = p + c * K * ld + t0;
        T* gc = g + c * K * ld + t0;
        if (!spatial) {
          for (int64_t a = 0; a < K; ++a)
            for (int64_t t = 0; t < n; ++t) {
              const T ga = gc[a * ld + t];
              if (dm.p) dm.p[a * dm.ld + t0 + t] += ga * pc[a * ld + t];
              if (to_dp) gc[a * ld + t] = mt[a * ld + t0 + t] * ga;
            }
          continue;
        }
        if (dm.p)
          for (int64_t a = 0; a < K; ++a)
            for (int64_t b = 0; b < K; ++b)
              for (int64_t t = 0; t < n; ++t) dm.p[(a * K + b) * dm.ld + t0 + t] += gc[a * ld + t] * pc[b * ld + t];
        if (to_dp) mix(gc, ld, mt, ld, K, true, t0, n, src);
      }
    }
  }
};

#if defined(__x86_64__) || defined(_M_X64)
// AVX-512, 16 columns per vector. Spatial form with K ≤ 25 taps: a channel's K patch (or gradient) rows
// are held in registers, two channels at a time when K ≤ 12, so each load of M serves both. Those arrays
// are registers only when K is a compile-time constant (KT; the loops over taps then unroll fully), so the
// common kernels (3×3, 5×5) get their own instances; KT = 0 takes K at run time, the arrays on the stack.
constexpr int64_t kMaxRegisterTaps = 25;

// Columns [t, t + 16) of `nch` channels' K rows (ld apart), replaced in place by M times them: row a ←
// Σ_b M[a,b]·row b, or (Transposed) row b ← Σ_a M[a,b]·row a, with M[a,b] at mt + (a·K + b)·ldm + t.
template <int KT, bool Transposed>
__attribute__((target("avx512f"))) void mix_strip_avx512(float* rows, int64_t ld, const float* mt, int64_t ldm,
                                                          int64_t nch, int64_t k, int64_t t) {
  constexpr int kRows = KT ? KT : kMaxRegisterTaps, kStep = KT == 0 || KT <= 12 ? 2 : 1;
  const int64_t K = KT ? KT : k, step = K <= 12 ? kStep : 1;
  __m512 v[kStep][kRows];
  for (int64_t c = 0; c < nch; c += step) {
    const bool pair = step == 2 && c + 1 < nch;
#pragma GCC unroll 25
    for (int64_t i = 0; i < K; ++i) v[0][i] = _mm512_loadu_ps(rows + (c * K + i) * ld + t);
    if (pair)
#pragma GCC unroll 25
      for (int64_t i = 0; i < K; ++i) v[kStep - 1][i] = _mm512_loadu_ps(rows + ((c + 1) * K + i) * ld + t);
#pragma GCC unroll 1
    for (int64_t o = 0; o < K; ++o) {
      __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
#pragma GCC unroll 25
      for (int64_t i = 0; i < K; ++i) {
        const __m512 mv = _mm512_loadu_ps(mt + (Transposed ? i * K + o : o * K + i) * ldm + t);
        acc0 = _mm512_fmadd_ps(mv, v[0][i], acc0);
        if (pair) acc1 = _mm512_fmadd_ps(mv, v[kStep - 1][i], acc1);
      }
      _mm512_storeu_ps(rows + (c * K + o) * ld + t, acc0);
      if (pair) _mm512_storeu_ps(rows + ((c + 1) * K + o) * ld + t, acc1);
    }
  }
}

template <int KT>
__attribute__((target("avx512f"))) void spatial_forward_avx512(float* p, int64_t ld, const float* mt, int64_t ldm,
                                                                 int64_t nch, int64_t k, int64_t lanes) {
  for (int64_t t = 0; t < lanes; t += 16) mix_strip_avx512<KT, false>(p, ld, mt, ldm, nch, k, t);
}

// (Overwrite = dm.overwrite, as a template parameter: a run-time choice there cost GCC registers.)
template <int KT, bool Overwrite>
__attribute__((target("avx512f"))) void spatial_adjoint_avx512(const float* mt, const float* p, float* g,
                                                                 DmRows<float> dm, bool to_dp, int64_t nch, int64_t k,
                                                                 int64_t ld, int64_t lanes) {
  constexpr int kRows = KT ? KT : kMaxRegisterTaps, kStep = KT == 0 || KT <= 12 ? 2 : 1;
  const int64_t K = KT ? KT : k, step = K <= 12 ? kStep : 1;
  __m512 v[kStep][kRows];
  for (int64_t t = 0; t < lanes; t += 16) {
    // dm rows a, a+1 (step 2) in registers across all channels: acc[u][b] += g[c, a+u]·p[c, b].
    if (dm.p)
      for (int64_t a = 0; a < K; a += step) {
        const bool pair = step == 2 && a + 1 < K;
        float* row = dm.p + a * K * dm.ld + t;  // row (a, b) at row + b·ld, (a + 1, b) at row + (K + b)·ld
#pragma GCC unroll 25
        for (int64_t b = 0; b < K; ++b) v[0][b] = Overwrite ? _mm512_setzero_ps() : _mm512_loadu_ps(row + b * dm.ld);
        if (pair)
#pragma GCC unroll 25
          for (int64_t b = 0; b < K; ++b)
            v[kStep - 1][b] = Overwrite ? _mm512_setzero_ps() : _mm512_loadu_ps(row + (K + b) * dm.ld);
        for (int64_t c = 0; c < nch; ++c) {
          const __m512 g0 = _mm512_loadu_ps(g + (c * K + a) * ld + t);
          const __m512 g1 = pair ? _mm512_loadu_ps(g + (c * K + a + 1) * ld + t) : g0;
#pragma GCC unroll 25
          for (int64_t b = 0; b < K; ++b) {
            const __m512 pb = _mm512_loadu_ps(p + (c * K + b) * ld + t);
            v[0][b] = _mm512_fmadd_ps(g0, pb, v[0][b]);
            if (pair) v[kStep - 1][b] = _mm512_fmadd_ps(g1, pb, v[kStep - 1][b]);
          }
        }
#pragma GCC unroll 25
        for (int64_t b = 0; b < K; ++b) gemm::store_vector(row + b * dm.ld, v[0][b], Overwrite);
        if (pair)
#pragma GCC unroll 25
          for (int64_t b = 0; b < K; ++b) gemm::store_vector(row + (K + b) * dm.ld, v[kStep - 1][b], Overwrite);
      }
    // dp over g in place (mix_strip holds a channel's rows in registers before writing them).
    if (to_dp) mix_strip_avx512<KT, true>(g, ld, mt, ld, nch, k, t);
  }
}

// Diagonal adjoint over NV vectors of columns from t0: dm[a] for those columns in registers across the
// channels.
template <int NV>
__attribute__((target("avx512f"))) void diagonal_adjoint_avx512(const float* mt, const float* p, float* g,
                                                                  DmRows<float> dm, bool to_dp, int64_t nch, int64_t K,
                                                                  int64_t ld, int64_t t0) {
  for (int64_t a = 0; a < K; ++a) {
    __m512 acc[NV], ma[NV];
    for (int v = 0; v < NV; ++v) {
      acc[v] = _mm512_setzero_ps();
      ma[v] = _mm512_loadu_ps(mt + a * ld + t0 + 16 * v);
    }
    for (int64_t c = 0; c < nch; ++c) {
      const int64_t at = (c * K + a) * ld + t0;
      for (int v = 0; v < NV; ++v) {
        const __m512 ga = _mm512_loadu_ps(g + at + 16 * v);
        acc[v] = _mm512_fmadd_ps(ga, _mm512_loadu_ps(p + at + 16 * v), acc[v]);
        if (to_dp) _mm512_storeu_ps(g + at + 16 * v, _mm512_mul_ps(ma[v], ga));
      }
    }
    if (dm.p)
      for (int v = 0; v < NV; ++v) {
        float* q = dm.p + a * dm.ld + t0 + 16 * v;
        gemm::store_vector(q, dm.overwrite ? acc[v] : _mm512_add_ps(_mm512_loadu_ps(q), acc[v]), dm.overwrite);
      }
  }
}

__attribute__((target("avx512f"))) void forward_avx512(float* p, int64_t ld, const float* mt, int64_t ldm, int64_t nch,
                                                         int64_t K, bool spatial, int64_t lanes) {
  if (spatial) {
    if (K == 9) return spatial_forward_avx512<9>(p, ld, mt, ldm, nch, K, lanes);
    if (K == 25) return spatial_forward_avx512<25>(p, ld, mt, ldm, nch, K, lanes);
    return spatial_forward_avx512<0>(p, ld, mt, ldm, nch, K, lanes);
  }
  // Channel by channel, each row walked in order; the columns of M these lanes use stay in L1.
  for (int64_t c = 0; c < nch; ++c)
    for (int64_t a = 0; a < K; ++a) {
      float* q = p + (c * K + a) * ld;
      const float* ma = mt + a * ldm;
      for (int64_t t = 0; t < lanes; t += 16)
        _mm512_storeu_ps(q + t, _mm512_mul_ps(_mm512_loadu_ps(q + t), _mm512_loadu_ps(ma + t)));
    }
}

__attribute__((target("avx512f"))) void adjoint_avx512(const float* mt, const float* p, float* g, DmRows<float> dm,
                                                         bool to_dp, int64_t nch, int64_t K, bool spatial, int64_t ld,
                                                         int64_t lanes) {
  if (spatial) {
    const auto run = [&](auto kt) {
      constexpr int KT = decltype(kt)::value;
      if (dm.overwrite) return spatial_adjoint_avx512<KT, true>(mt, p, g, dm, to_dp, nch, K, ld, lanes);
      spatial_adjoint_avx512<KT, false>(mt, p, g, dm, to_dp, nch, K, ld, lanes);
    };
    if (K == 9) return run(std::integral_constant<int, 9>());
    if (K == 25) return run(std::integral_constant<int, 25>());
    return run(std::integral_constant<int, 0>());
  }
  int64_t t0 = 0;
  for (; t0 + 64 <= lanes; t0 += 64) diagonal_adjoint_avx512<4>(mt, p, g, dm, to_dp, nch, K, ld, t0);
  for (; t0 < lanes; t0 += 16) diagonal_adjoint_avx512<1>(mt, p, g, dm, to_dp, nch, K, ld, t0);
}

__attribute__((target("avx2,fma"))) void forward_avx2(float* p, int64_t ld, const float* mt, int64_t ldm, int64_t nch,
                                                      int64_t K, bool spatial, int64_t lanes) {
  Transform<float>::forward(p, ld, mt, ldm, nch, K, spatial, lanes);
}

__attribute__((target("avx2,fma"))) void adjoint_avx2(const float* mt, const float* p, float* g, DmRows<float> dm,
                                                      bool to_dp, int64_t nch, int64_t K, bool spatial, int64_t ld,
                                                      int64_t lanes) {
  Transform<float>::adjoint(mt, p, g, dm, to_dp, nch, K, spatial, ld, lanes);
}

// The vector ISA of the GEMM micro-kernel, and whether the AVX-512 code applies (K ≤ 25 taps; row strides
// and lanes multiples of 16).
inline gemm::Isa isa_for(int64_t K, int64_t ld, int64_t ldm, int64_t lanes) {
  const gemm::Isa isa = gemm::kernel_f32().level;
  if (isa == gemm::Isa::avx512 && !(K <= kMaxRegisterTaps && ld % 16 == 0 && ldm % 16 == 0 && lanes % 16 == 0))
    return gemm::Isa::avx2;
  return isa;
}
#endif

// p (nch channels, rows ld apart) transformed in place with M (rows ldm apart) over `lanes` columns.
template <class T>
void transform_forward(T* p, int64_t ld, const T* mt, int64_t ldm, int64_t nch, const Similarity& S, int64_t lanes) {
#if defined(__x86_64__) || defined(_M_X64)
  if constexpr (std::is_same_v<T, float>) {
    const gemm::Isa isa = isa_for(S.G.taps, ld, ldm, lanes);
    if (isa == gemm::Isa::avx512) return forward_avx512(p, ld, mt, ldm, nch, S.G.taps, S.spatial, lanes);
    if (isa == gemm::Isa::avx2) return forward_avx2(p, ld, mt, ldm, nch, S.G.taps, S.spatial, lanes);
  }
#endif
  Transform<T>::forward(p, ld, mt, ldm, nch, S.G.taps, S.spatial, lanes);
}

template <class T>
void transform_adjoint(const T* mt, const T* p, T* g, DmRows<T> dm, bool to_dp, int64_t nch, const Similarity& S,
                       int64_t ld, int64_t lanes) {
#if defined(__x86_64__) || defined(_M_X64)
  if constexpr (std::is_same_v<T, float>) {
    const gemm::Isa isa = isa_for(S.G.taps, ld, dm.p ? dm.ld : ld, lanes);
    if (isa == gemm::Isa::avx512) return adjoint_avx512(mt, p, g, dm, to_dp, nch, S.G.taps, S.spatial, ld, lanes);
    if (isa == gemm::Isa::avx2) return adjoint_avx2(mt, p, g, dm, to_dp, nch, S.G.taps, S.spatial, ld, lanes);
  }
#endif
  Transform<T>::adjoint(mt, p, g, dm, to_dp, nch, S.G.taps, S.spatial, ld, lanes);
}

// X̃ as the B operand of the forward product (conv::forward_gemm): the patches packed in NR-column panels,
// then every panel transformed in place with its columns' M. Blocks hold whole channels (K blocks are
// multiples of the taps).
template <class T>
struct TransformedPatches {
  const T* x;
  const T* m;
  const Similarity& S;
  gemm::BPanels<T> operator()(T* dst, int64_t, int64_t k0, int64_t kc, int64_t n0, int64_t nc) const {
    const Geometry& G = S.G;
    const int64_t NR = gemm::kernel<T>().nr;
    conv::pack_patches(dst, x, G, 0, k0, kc, n0, nc, NR);
    // M gathered in strips of whole panels, about 64 KiB each: its rows (a plane apart in m) then stream
    // in long runs.
    const int64_t panels = (nc + NR - 1) / NR;
    const int64_t strip = std::clamp<int64_t>((64 << 10) / int64_t(sizeof(T)) / S.mrows / NR, 1, panels) * NR;
    Scratch mt(sizeof(T) * S.mrows * strip);
    for (int64_t s0 = 0; s0 < nc; s0 += strip) {
      gather_m(mt.as<T>(), strip, m, S, n0 + s0, std::min(strip, nc - s0));
      for (int64_t q = s0; q < std::min(nc, s0 + strip); q += NR)
        transform_forward(dst + q * kc, NR, mt.as<T>() + (q - s0), strip, kc / G.taps, S, NR);
    }
    return gemm::BPanels<T>{dst, NR * kc, NR};
  }
};

// Rows [r0, r0 + rc) of X̃ over columns [c0, c0 + cc), row-major with leading dimension ld: the A operand of
// the weight gradient (conv::weight_grad_gemm). Channels cut by the block's edges are formed whole aside.
template <class T>
struct TransformedPatchRows {
  const T* x;
  const T* m;
  const Similarity& S;
  void operator()(T* dst, int64_t, int64_t r0, int64_t rc, int64_t c0, int64_t cc, int64_t ld) const {
    const Geometry& G = S.G;
    const int64_t K = G.taps, lanes = gemm::round_up(cc, 16);
    conv::pack_patches(dst, x, G, 0, r0, rc, c0, cc, ld);
    for (int64_t r = 0; r < rc; ++r) std::fill(dst + r * ld + cc, dst + r * ld + lanes, T(0));
    // The channels cut by the block's edges are formed whole aside (their rows in the block copied after).
    int64_t cut[2], ncut = 0;
    if (r0 % K) cut[ncut++] = r0 / K;
    if ((r0 + rc) % K && (ncut == 0 || cut[0] != (r0 + rc - 1) / K)) cut[ncut++] = (r0 + rc - 1) / K;
    // M for the block's columns: all at once when it fits in L1 (the diagonal form), else in strips that do.
    const int64_t strip = std::max<int64_t>(16, std::min(lanes, (32 * 1024 / int64_t(sizeof(T)) / S.mrows) / 16 * 16));
    Scratch part(sizeof(T) * K * ld * std::max<int64_t>(ncut, 1)), mt(sizeof(T) * S.mrows * strip);
    for (int64_t k = 0; k < ncut; ++k) {
      T* rows = part.as<T>() + k * K * ld;
      conv::pack_patches(rows, x, G, 0, cut[k] * K, K, c0, cc, ld);
      for (int64_t b = 0; b < K; ++b) std::fill(rows + b * ld + cc, rows + b * ld + lanes, T(0));
    }
    const int64_t first = (r0 + K - 1) / K, last = (r0 + rc) / K;  // whole channels [first, last)
    for (int64_t t = 0; t < lanes; t += strip) {
      const int64_t n = std::min(strip, lanes - t);
      gather_m(mt.as<T>(), strip, m, S, c0 + t, std::min(strip, cc - t));
      if (first < last) transform_forward(dst + (first * K - r0) * ld + t, ld, mt.as<T>(), strip, last - first, S, n);
      for (int64_t k = 0; k < ncut; ++k) transform_forward(part.as<T>() + k * K * ld + t, ld, mt.as<T>(), strip, 1, S, n);
    }
    for (int64_t k = 0; k < ncut; ++k)
      for (int64_t a = std::max(r0, cut[k] * K); a < std::min(r0 + rc, (cut[k] + 1) * K); ++a)
        std::memcpy(dst + (a - r0) * ld, part.as<T>() + k * K * ld + (a - cut[k] * K) * ld, sizeof(T) * cc);
  }
};

// C view of a dense tile buffer holding rows [row0, …) of the product.
template <class T>
struct TileView {
  T* c;
  int64_t ldc, row0;
  bool tile(int64_t m0, int64_t n0, int64_t, int64_t, int vw, gemm::CTile<T>* t) const {
    for (int v = 0; v < 4; ++v) t->chunk[v] = c + (m0 - row0) * ldc + n0 + v * vw;
    t->ldc = ldc;
    return true;
  }
  void scatter(const T*, int64_t, int64_t, int64_t, int64_t, int64_t, int) const {}  // tile() always succeeds
};

// dX̃ = Wᵀ·dY tile by tile, then dm and dx from it (see the file comment). With dw, the weight gradient
// comes from the same tiles: the chunk's patch rows, once the adjoint has used them, are transformed into
// X̃ in place and dWᵀ += X̃ · dYᵀ goes into a per-thread copy, the copies summed into dw at the end.
template <class T>
void backward_fused(const Similarity& S, const T* x, const T* w, const T* m, const T* dy, T* dx, T* dm, T* dw) {
  const Geometry& G = S.G;
  const ns_conv2d_desc& d = G.d;
  const gemm::MicroKernel<T>& uk = gemm::kernel<T>();
  const int64_t MR = uk.mr, NR = uk.nr, F = d.f, K = G.taps;
  // Channels per chunk: a whole number of MR-row panels of dX̃, at most about 128 rows.
  int64_t chunk = 1;
  while ((chunk * K) % MR) ++chunk;
  while (chunk * 2 * K <= 128 && chunk * 2 <= d.c) chunk *= 2;
  chunk = std::min(chunk, d.c);
  // Columns per tile (a multiple of 16), measured: long tiles (the dY tile, which every chunk reads, within
  // about 144 KiB) have the fewest per-tile costs, but when W (read again for every tile) outgrows L2 it
  // streams from further out, and dY must stay in L1 (about 32 KiB).
  const int64_t dy_tile_bytes = int64_t(sizeof(T)) * G.k * F > (1 << 20) ? 32 << 10 : 144 << 10;
  const int64_t tile = std::clamp<int64_t>((dy_tile_bytes / int64_t(sizeof(T)) / F) / 16 * 16, 16, 288);
  // Bands of output rows; bands of one parity never write the same dx element (see the file comment).
  const int threads = pool_size();
  const int64_t min_band = std::max<int64_t>(1, ((d.kh - 1) * d.dil_h) / d.stride_h);
  int64_t bands = d.n >= 2 * threads ? 1 : (2 * threads + d.n - 1) / d.n;
  bands = std::max<int64_t>(1, std::min(bands, d.ho / min_band));
  const int64_t band_rows = (d.ho + bands - 1) / bands;
  bands = (d.ho + band_rows - 1) / band_rows;

  if (dx) parallel_for(d.n * d.c * d.h * d.w, 1 << 16, [&](int64_t b, int64_t e) { std::fill(dx + b, dx + e, T(0)); });
  const gemm::Blocking blk{gemm::round_up(chunk * K, MR), F, tile};
  // The weight gradient's product: rows of X̃ (read in place, row-major) times dYᵀ packed in panels of
  // NRw filters (pack_dy_transposed), all of a tile's columns as its depth.
  const int64_t NRw = gemm::panel_width(uk, F), dyt_size = dw ? gemm::round_up(F, NRw) * tile : 0;
  const gemm::Blocking blk_w{gemm::round_up(chunk * K, MR), tile, gemm::round_up(F, NRw), NRw};
  const int64_t b_size = tile * F, mt_size = S.mrows * tile, xt_size = chunk * K * tile;
  const int64_t per_thread = b_size + 2 * mt_size + 2 * xt_size + dyt_size, dwt_size = dw ? G.k * F : 0;
  Scratch scratch(sizeof(T) * per_thread * threads), dwt(sizeof(T) * dwt_size * threads);
  if (dw) parallel_for(dwt_size * threads, 1 << 16, [&](int64_t b, int64_t e) { std::fill(dwt.as<T>() + b, dwt.as<T>() + e, T(0)); });
  for (int parity = 0; parity < 2; ++parity) {
    const int64_t items = d.n * ((bands + 1 - parity) / 2);
    if (items == 0) continue;
    parallel_run(static_cast<int>(std::min<int64_t>(threads, items)), [&](int tid, int nt) {
      T* bbuf = scratch.as<T>() + tid * per_thread;
      T* mt = bbuf + b_size;
      T* dmt = mt + mt_size;
      T* xt = dmt + mt_size;  // the chunk's dX̃, then its dP (transform_adjoint writes it in place)
      T* pt = xt + xt_size;  // the chunk's patch rows, then (for dw) its X̃
      T* dyt_w = pt + xt_size;  // the tile's dYᵀ (for dw)
      // Items (image fastest) of equal cost, bar a last band that may be shorter: a fixed contiguous
      // share per thread balances as well as taking them dynamically would, and fixes which dWᵀ copy
      // each item's product goes into, and in which order (see the file comment).
      for (int64_t item = items * tid / nt, end = items * (tid + 1) / nt; item < end; ++item) {
        const int64_t img = item % d.n, band = 2 * (item / d.n) + parity;
        const int64_t r0 = band * band_rows, r1 = std::min(d.ho, r0 + band_rows);
        const int64_t col_begin = img * G.plane + r0 * d.wo, col_end = img * G.plane + r1 * d.wo;
        for (int64_t col0 = col_begin; col0 < col_end; col0 += tile) {
          const int64_t width = std::min(tile, col_end - col0), lanes = gemm::round_up(width, 16);
          gather_m(mt, tile, m, S, col0, width);
          // dm goes straight into place when one chunk holds every channel and the tile's columns fill whole
          // vectors of aligned rows (on AVX-512 with streaming stores: dm is written once and not read back
          // here); otherwise the chunks add into dmt, copied out after.
          T* dm_tile = dm ? dm + img * S.mrows * G.plane + (col0 - img * G.plane) : nullptr;
          const bool dm_direct = dm && chunk == d.c && width % 16 == 0 && G.plane % 16 == 0 &&
                                 gemm::cache_aligned(dm_tile);
          const DmRows<T> dm_rows =
              dm_direct ? DmRows<T>{dm_tile, G.plane, true} : DmRows<T>{dm ? dmt : nullptr, tile, false};
          if (dm && !dm_direct) std::fill(dmt, dmt + mt_size, T(0));
          // dY for the tile (rows f, columns in one image): read in place by a single chunk (unless the
          // kernels' reads past its last column would leave dy); packed once for several, since its rows
          // are a plane apart in dy, which the kernels would read with cache-set conflicts.
          const T* dyt = dy + img * F * G.plane + (col0 - img * G.plane);
          const bool in_place = chunk == d.c && (dyt - dy) + (F - 1) * G.plane + gemm::round_up(width, uk.vw) <= d.n * F * G.plane;
          if (!in_place) gemm::pack_b_strided(bbuf, dyt, G.plane, int64_t(1), 0, F, 0, width, static_cast<int>(NR));
          if (dw) conv::pack_dy_transposed(dyt_w, dy, G, 0, col0, width, 0, F, NRw);
          for (int64_t c0 = 0; c0 < d.c; c0 += chunk) {
            const int64_t c1 = std::min(d.c, c0 + chunk), row0 = c0 * K, rows = (c1 - c0) * K;
            gemm::gemm_blocked<T>(
                blk, F, row0, row0 + rows, 0, width,
                [&](T*, int64_t i0, int64_t, int64_t k0, int64_t) {  // A = Wᵀ: element ((c,a), f) = w[f·CK + (c,a)]
                  return gemm::APanels<T>{w + k0 * G.k + i0, MR, 1, G.k};
                },
                [&](T*, int64_t k0, int64_t, int64_t n0, int64_t) {
                  return in_place ? gemm::BPanels<T>{dyt + k0 * G.plane + n0, NR, G.plane}
                                  : gemm::BPanels<T>{bbuf + n0 * F + k0 * NR, NR * F, NR};
                },
                TileView<T>{xt, tile, row0}, 0, nullptr, nullptr, bbuf);
            conv::pack_patches(pt, x, G, 0, row0, rows, col0, width, tile);
            for (int64_t r = 0; r < rows; ++r) std::fill(pt + r * tile + width, pt + r * tile + lanes, T(0));
            transform_adjoint(mt, pt, xt, dm_rows, dx != nullptr, c1 - c0, S, tile, lanes);
            if (dx) conv::col2im_add(dx, xt, tile, G, 0, row0, col0, rows, width);  // xt now holds dP
            if (dw) {
              transform_forward(pt, tile, mt, tile, c1 - c0, S, lanes);
              gemm::gemm_blocked<T>(
                  blk_w, width, row0, row0 + rows, 0, F,
                  [&](T*, int64_t i0, int64_t, int64_t k0, int64_t) {
                    return gemm::APanels<T>{pt + (i0 - row0) * tile + k0, MR * tile, tile, 1};
                  },
                  [&](T*, int64_t, int64_t, int64_t, int64_t) { return gemm::BPanels<T>{dyt_w, NRw * width, NRw}; },
                  gemm::DenseCView<T>{dwt.as<T>() + tid * dwt_size, F}, 1, nullptr, nullptr, nullptr);
            }
          }
          if (dm_direct) {
            gemm::stream_fence();
          } else if (dm) {  // the tile's columns lie in one image
            for (int64_t r = 0; r < S.mrows; ++r) std::memcpy(dm_tile + r * G.plane, dmt + r * tile, sizeof(T) * width);
          }
        }
      }
    });
  }
  if (dw)  // dw[f, k] = Σ_threads dWᵀ[k, f], in thread order
    conv::DwInPlace<T>{dw, G}(0, conv::DwParts<T>{dwt.as<T>(), 1, F, threads, dwt_size});
}

template <class T>
void forward(const Similarity& S, const T* x, const T* w, const T* m, const T* bias, T* y) {
  conv::forward_gemm(S.G, conv::DirectWeights<T>{w, S.G}, TransformedPatches<T>{x, m, S}, bias, y);
}

// The weight gradient goes with the other gradients (backward_fused) unless its per-thread copies would
// outweigh half the output (large weights over small images), or it is the only one wanted.
template <class T>
void backward(const Similarity& S, const T* x, const T* w, const T* m, const T* dy, T* dx, T* dw, T* dm, T* dbias) {
  const Geometry& G = S.G;
  const bool fuse_dw = dw && (dx || dm) && pool_size() * G.k * G.d.f * 2 <= G.d.n * G.d.f * G.plane;
  if (dw && !fuse_dw) {
    const TransformedPatchRows<T> rows{x, m, S};
    conv::weight_grad(G, rows, dy, conv::DwInPlace<T>{dw, G}, dbias);
  } else if (dbias) {
    conv::bias_grad(G, dy, dbias);
  }
  if (dx || dm) backward_fused(S, x, w, m, dy, dx, dm, fuse_dw ? dw : nullptr);
}

}  // namespace
}  // namespace ns

extern "C" {

int ns_cpu_similarity_conv2d_forward(ns_dtype dt, const ns_conv2d_desc* d, int spatial, const void* x, const void* w,
                                     const void* m, const void* bias, void* y) {
  if (d->groups != 1) return NS_ERR_UNSUPPORTED;
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::forward(ns::Similarity(*d, spatial != 0), static_cast<const T*>(x), static_cast<const T*>(w),
                static_cast<const T*>(m), static_cast<const T*>(bias), static_cast<T*>(y));
  });
}

int ns_cpu_similarity_conv2d_backward(ns_dtype dt, const ns_conv2d_desc* d, int spatial, const void* x, const void* w,
                                      const void* m, const void* dy, void* dx, void* dw, void* dm, void* dbias) {
  if (d->groups != 1) return NS_ERR_UNSUPPORTED;
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::backward(ns::Similarity(*d, spatial != 0), static_cast<const T*>(x), static_cast<const T*>(w),
                 static_cast<const T*>(m), static_cast<const T*>(dy), static_cast<T*>(dx), static_cast<T*>(dw),
                 static_cast<T*>(dm), static_cast<T*>(dbias));
  });
}

}  // extern "C"
