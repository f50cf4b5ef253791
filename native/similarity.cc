// Dynamic neural-similarity convolution on the CPU, fused into the implicit GEMM (see kernels.h and
// DESIGN.md §2). With X̃_p = M_p·P_p (per sample and output position p):
//
//   forward       y = W · X̃                      X̃ is formed panel by panel inside the B packer
//   grad weight   dW = Σ_p dY · X̃ᵀ               the packer forms X̃ again, transposed
//   grad input    dX̃ = Wᵀ · dY per column tile and channel chunk; then dM_p = dX̃_p·P_pᵀ and
//   and grad m    dP_p = M_pᵀ·dX̃_p, scattered back into dx (col2im)
//
// Nothing of size N·Ho·Wo·C·K or N·Ho·Wo·K·F is ever stored: the per-thread buffers hold one tile of
// columns. Column tiles that scatter into dx are grouped in bands of output rows processed in two
// phases (even bands, then odd bands) so that no two threads ever write the same dx element.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "gemm.h"
#include "kernels.h"

namespace ns {
namespace {

struct Geometry {
  const ns_conv2d_desc& d;
  bool spatial;
  int64_t taps;   // K = kh·kw
  int64_t k;      // C·K: the GEMM reduction of the forward
  int64_t plane;  // ho·wo
  int64_t cols;   // n·ho·wo
  int64_t mrows;  // rows of m per position: K (diagonal) or K·K (spatial)
  Geometry(const ns_conv2d_desc& desc, bool sp)
      : d(desc), spatial(sp), taps(desc.kh * desc.kw), k(desc.c * desc.kh * desc.kw), plane(desc.ho * desc.wo),
        cols(desc.n * desc.ho * desc.wo), mrows(sp ? taps * taps : taps) {}
};

// Consecutive columns of one output row of one image.
struct Run {
  int64_t t0, len, img, oh, ow;
};

// Splits columns [col0, col0 + width) into runs along output rows; returns the number of runs.
int split_runs(const Geometry& G, int64_t col0, int64_t width, Run* runs) {
  int n = 0;
  for (int64_t t = 0; t < width;) {
    const int64_t col = col0 + t, img = col / G.plane, p = col % G.plane, oh = p / G.d.wo, ow = p % G.d.wo;
    const int64_t len = std::min(width - t, G.d.wo - ow);
    runs[n++] = Run{t, len, img, oh, ow};
    t += len;
  }
  return n;
}

// out[b·ld + t] = patch value of channel c at tap b for column t of the runs (zero outside the image);
// lanes [width, ld) are zeroed.
template <class T>
void gather_patches(T* out, int64_t ld, const T* x, const Geometry& G, int64_t c, const Run* runs, int nruns,
                    int64_t width) {
  const ns_conv2d_desc& d = G.d;
  for (int64_t b = 0; b < G.taps; ++b) {
    const int64_t i = b / d.kw, j = b % d.kw;
    T* o = out + b * ld;
    for (int r = 0; r < nruns; ++r) {
      const Run& run = runs[r];
      T* dst = o + run.t0;
      const int64_t ih = run.oh * d.stride_h - d.pad_h + i * d.dil_h;
      if (ih < 0 || ih >= d.h) {
        std::fill(dst, dst + run.len, T(0));
        continue;
      }
      const T* src = x + ((run.img * d.c + c) * d.h + ih) * d.w;
      const int64_t iw0 = run.ow * d.stride_w - d.pad_w + j * d.dil_w;
      for (int64_t t = 0; t < run.len; ++t) {
        const int64_t iw = iw0 + t * d.stride_w;
        dst[t] = (iw >= 0 && iw < d.w) ? src[iw] : T(0);
      }
    }
    std::fill(o + width, o + ld, T(0));
  }
}

// dx[c] += the patch values dp[b·ld + t] of channel c, scattered back to their pixels (col2im).
template <class T>
void scatter_patches(T* dx, const T* dp, int64_t ld, const Geometry& G, int64_t c, const Run* runs, int nruns) {
  const ns_conv2d_desc& d = G.d;
  for (int64_t b = 0; b < G.taps; ++b) {
    const int64_t i = b / d.kw, j = b % d.kw;
    const T* src = dp + b * ld;
    for (int r = 0; r < nruns; ++r) {
      const Run& run = runs[r];
      const int64_t ih = run.oh * d.stride_h - d.pad_h + i * d.dil_h;
      if (ih < 0 || ih >= d.h) continue;
      T* row = dx + ((run.img * d.c + c) * d.h + ih) * d.w;
      const int64_t iw0 = run.ow * d.stride_w - d.pad_w + j * d.dil_w;
      for (int64_t t = 0; t < run.len; ++t) {
        const int64_t iw = iw0 + t * d.stride_w;
        if (iw >= 0 && iw < d.w) row[iw] += src[run.t0 + t];
      }
    }
  }
}

// out[r·ld + t] = m[img, r, p] for the runs' columns (r < mrows); lanes [width, ld) are zeroed.
template <class T>
void gather_m(T* out, int64_t ld, const T* m, const Geometry& G, const Run* runs, int nruns, int64_t width) {
  for (int64_t r = 0; r < G.mrows; ++r) {
    T* o = out + r * ld;
    for (int k = 0; k < nruns; ++k) {
      const Run& run = runs[k];
      std::memcpy(o + run.t0, m + (run.img * G.mrows + r) * G.plane + run.oh * G.d.wo + run.ow, sizeof(T) * run.len);
    }
    std::fill(o + width, o + ld, T(0));
  }
}

// The per-position transforms, vectorised across the `lanes` columns of a tile (rows are ld apart).
template <class T>
struct Transform {
  // xt[(a−a0)·ld + t] = Σ_b M[a,b][t]·P[b][t] for a in [a0, a1).
  static inline __attribute__((always_inline)) void apply(const Geometry& G, const T* mt, const T* p, T* xt,
                                                          int64_t a0, int64_t a1, int64_t ld, int64_t lanes) {
    for (int64_t a = a0; a < a1; ++a) {
      T* __restrict out = xt + (a - a0) * ld;
      if (!G.spatial) {
        const T* __restrict ma = mt + a * ld;
        const T* __restrict pa = p + a * ld;
        for (int64_t t = 0; t < lanes; ++t) out[t] = ma[t] * pa[t];
        continue;
      }
      for (int64_t t = 0; t < lanes; ++t) out[t] = T(0);
      for (int64_t b = 0; b < G.taps; ++b) {
        const T* __restrict mab = mt + (a * G.taps + b) * ld;
        const T* __restrict pb = p + b * ld;
        for (int64_t t = 0; t < lanes; ++t) out[t] += mab[t] * pb[t];
      }
    }
  }
  // dm[a,b][t] += dX̃[a][t]·P[b][t] (spatial) or dm[a][t] += dX̃[a][t]·P[a][t] (diagonal);
  // dp[b][t] = Σ_a M[a,b][t]·dX̃[a][t] (spatial) or M[a][t]·dX̃[a][t] (diagonal). Either may be null.
  static inline __attribute__((always_inline)) void adjoint(const Geometry& G, const T* mt, const T* p, const T* dxt,
                                                            T* dm, T* dp, int64_t ld, int64_t lanes) {
    const int64_t K = G.taps;
    if (dp)
      for (int64_t b = 0; b < K; ++b)
        for (int64_t t = 0; t < lanes; ++t) dp[b * ld + t] = T(0);
    for (int64_t a = 0; a < K; ++a) {
      const T* __restrict ga = dxt + a * ld;
      if (!G.spatial) {
        if (dm)
          for (int64_t t = 0; t < lanes; ++t) dm[a * ld + t] += ga[t] * p[a * ld + t];
        if (dp)
          for (int64_t t = 0; t < lanes; ++t) dp[a * ld + t] = mt[a * ld + t] * ga[t];
        continue;
      }
      for (int64_t b = 0; b < K; ++b) {
        if (dm) {
          T* __restrict dmab = dm + (a * K + b) * ld;
          const T* __restrict pb = p + b * ld;
          for (int64_t t = 0; t < lanes; ++t) dmab[t] += ga[t] * pb[t];
        }
        if (dp) {
          T* __restrict dpb = dp + b * ld;
          const T* __restrict mab = mt + (a * K + b) * ld;
          for (int64_t t = 0; t < lanes; ++t) dpb[t] += mab[t] * ga[t];
        }
      }
    }
  }
};

#if defined(__x86_64__) || defined(_M_X64)
__attribute__((target("avx512f,avx2,fma"))) void apply_avx512(const Geometry& G, const float* mt, const float* p,
                                                                float* xt, int64_t a0, int64_t a1, int64_t ld,
                                                                int64_t lanes) {
  Transform<float>::apply(G, mt, p, xt, a0, a1, ld, lanes);
}
__attribute__((target("avx512f,avx2,fma"))) void adjoint_avx512(const Geometry& G, const float* mt, const float* p,
                                                                  const float* dxt, float* dm, float* dp, int64_t ld,
                                                                  int64_t lanes) {
  Transform<float>::adjoint(G, mt, p, dxt, dm, dp, ld, lanes);
}
__attribute__((target("avx2,fma"))) void apply_avx2(const Geometry& G, const float* mt, const float* p, float* xt,
                                                    int64_t a0, int64_t a1, int64_t ld, int64_t lanes) {
  Transform<float>::apply(G, mt, p, xt, a0, a1, ld, lanes);
}
__attribute__((target("avx2,fma"))) void adjoint_avx2(const Geometry& G, const float* mt, const float* p,
                                                      const float* dxt, float* dm, float* dp, int64_t ld,
                                                      int64_t lanes) {
  Transform<float>::adjoint(G, mt, p, dxt, dm, dp, ld, lanes);
}
#endif

// The transforms at the widest vector ISA the GEMM micro-kernel was chosen for.
template <class T>
void apply_transform(const Geometry& G, const T* mt, const T* p, T* xt, int64_t a0, int64_t a1, int64_t ld,
                     int64_t lanes) {
#if defined(__x86_64__) || defined(_M_X64)
  if constexpr (std::is_same_v<T, float>) {
    const char* isa = gemm::kernel_f32().isa;
    if (isa[3] == '5') return apply_avx512(G, mt, p, xt, a0, a1, ld, lanes);  // "avx512"
    if (isa[0] == 'a') return apply_avx2(G, mt, p, xt, a0, a1, ld, lanes);    // "avx2"
  }
#endif
  Transform<T>::apply(G, mt, p, xt, a0, a1, ld, lanes);
}

template <class T>
void adjoint_transform(const Geometry& G, const T* mt, const T* p, const T* dxt, T* dm, T* dp, int64_t ld,
                       int64_t lanes) {
#if defined(__x86_64__) || defined(_M_X64)
  if constexpr (std::is_same_v<T, float>) {
    const char* isa = gemm::kernel_f32().isa;
    if (isa[3] == '5') return adjoint_avx512(G, mt, p, dxt, dm, dp, ld, lanes);
    if (isa[0] == 'a') return adjoint_avx2(G, mt, p, dxt, dm, dp, ld, lanes);
  }
#endif
  Transform<T>::adjoint(G, mt, p, dxt, dm, dp, ld, lanes);
}

// C view of y[n, f, p] for GEMM rows f and columns (n, p).
template <class T>
struct OutputView {
  T* y;
  const Geometry& G;
  T* tile(int64_t m0, int64_t n0, int, int nr, int64_t* ldc) const {
    const int64_t img = n0 / G.plane, p = n0 % G.plane;
    if (p + nr > G.plane) return nullptr;
    *ldc = G.plane;
    return y + (img * G.d.f + m0) * G.plane + p;
  }
  void scatter(const T* buf, int64_t ldb, int64_t m0, int64_t n0, int64_t mr, int64_t nr, int acc) const {
    for (int64_t t = 0; t < nr; ++t) {
      const int64_t col = n0 + t, img = col / G.plane, p = col % G.plane;
      T* out = y + (img * G.d.f + m0) * G.plane + p;
      for (int64_t i = 0; i < mr; ++i) out[i * G.plane] = acc ? out[i * G.plane] + buf[i * ldb + t] : buf[i * ldb + t];
    }
  }
};

// A dense C whose first row is `row0` of the GEMM (rows [row0, row0 + rows) live at c).
template <class T>
struct RowOffsetView {
  T* c;
  int64_t ldc, row0;
  T* tile(int64_t m0, int64_t n0, int, int, int64_t* ld) const {
    *ld = ldc;
    return c + (m0 - row0) * ldc + n0;
  }
  void scatter(const T* buf, int64_t ldb, int64_t m0, int64_t n0, int64_t mr, int64_t nr, int acc) const {
    gemm::DenseCView<T>{c + (m0 - row0) * ldc, ldc}.scatter(buf, ldb, 0, n0, mr, nr, acc);
  }
};

// Packs the whole A = rows × cols matrix (element (i, k) at a[i·rs + k·cs]) as consecutive K blocks, the
// layout gemm_range reads through a_packed.
template <class T>
void prepack_a(T* dst, const T* a, int64_t rs, int64_t cs, int64_t rows, int64_t depth) {
  const gemm::MicroKernel<T>& uk = gemm::kernel<T>();
  const int64_t KC = uk.kc, stride = gemm::round_up(rows, uk.mr) * KC;
  for (int64_t k0 = 0, kb = 0; k0 < depth; k0 += KC, ++kb)
    gemm::pack_a_strided(dst + kb * stride, a, rs, cs, 0, rows, k0, std::min(KC, depth - k0), uk.mr);
}

template <class T>
int64_t prepacked_size(int64_t rows, int64_t depth) {
  const gemm::MicroKernel<T>& uk = gemm::kernel<T>();
  return std::max<int64_t>(1, (depth + uk.kc - 1) / uk.kc) * gemm::round_up(rows, uk.mr) * uk.kc;
}

template <class T>
void forward(const Geometry& G, const T* x, const T* w, const T* m, const T* bias, T* y) {
  const gemm::MicroKernel<T>& uk = gemm::kernel<T>();
  const int64_t NR = uk.nr, KC = uk.kc, F = G.d.f;
  const int64_t col_tiles = (G.cols + NR - 1) / NR;
  const int threads = static_cast<int>(std::min<int64_t>(pool_size(), col_tiles));
  // Per thread: the packed B block, and one panel's M and P.
  const int64_t b_size = gemm::round_up(uk.nc, NR) * KC, mt_size = G.mrows * NR, p_size = G.taps * NR;
  const int64_t per_thread = b_size + mt_size + p_size;
  Scratch a_scratch(sizeof(T) * prepacked_size<T>(F, G.k)), scratch(sizeof(T) * per_thread * threads);
  prepack_a(a_scratch.as<T>(), w, G.k, int64_t(1), F, G.k);
  parallel_run(threads, [&](int tid, int nt) {
    T* bbuf = scratch.as<T>() + tid * per_thread;
    T* mt = bbuf + b_size;
    T* pt = mt + mt_size;
    const int64_t t0 = col_tiles * tid / nt, t1 = col_tiles * (tid + 1) / nt;
    if (t0 >= t1) return;
    std::vector<Run> runs(NR + 1);
    auto pack_b = [&](T* dst, int64_t k0, int64_t kc, int64_t n0, int64_t nc) {
      for (int64_t q = 0; q < nc; q += NR) {
        const int64_t width = std::min(NR, nc - q);
        const int nruns = split_runs(G, n0 + q, width, runs.data());
        gather_m(mt, NR, m, G, runs.data(), nruns, width);
        for (int64_t c = k0 / G.taps; c * G.taps < k0 + kc; ++c) {
          gather_patches(pt, NR, x, G, c, runs.data(), nruns, width);
          const int64_t a0 = std::max(k0, c * G.taps) - c * G.taps, a1 = std::min(k0 + kc, (c + 1) * G.taps) - c * G.taps;
          apply_transform(G, mt, pt, dst + q * kc + (c * G.taps + a0 - k0) * NR, a0, a1, NR, NR);
        }
      }
    };
    gemm::gemm_range<T>(F, G.k, 0, F, t0 * NR, std::min(G.cols, t1 * NR), [](T*, int64_t, int64_t, int64_t, int64_t) {},
                        a_scratch.as<T>(), pack_b, OutputView<T>{y, G}, 0, bias, nullptr, bbuf);
  });
}

// dW[f, (c,a)] = Σ_positions dY[f, pos]·X̃[(c,a), pos]: positions split across threads, partial sums added.
template <class T>
void backward_weight(const Geometry& G, const T* x, const T* m, const T* dy, T* dw) {
  const gemm::MicroKernel<T>& uk = gemm::kernel<T>();
  const int64_t MR = uk.mr, NR = uk.nr, KC = uk.kc, F = G.d.f;
  const int threads = static_cast<int>(std::min<int64_t>(pool_size(), std::max<int64_t>(1, G.cols / 256)));
  const int64_t a_size = gemm::round_up(F, MR) * KC, b_size = gemm::round_up(uk.nc, NR) * KC;
  const int64_t mt_size = G.mrows * KC, p_size = G.taps * KC, xt_size = G.taps * KC;
  const int64_t per_thread = a_size + b_size + mt_size + p_size + xt_size;
  const int64_t wsize = F * G.k;
  Scratch partial(sizeof(T) * wsize * (threads - 1) + 64), bufs(sizeof(T) * per_thread * threads);
  parallel_run(threads, [&](int tid, int nt) {
    const int64_t p0 = G.cols * tid / nt, p1 = G.cols * (tid + 1) / nt;
    T* out = tid == 0 ? dw : partial.as<T>() + (tid - 1) * wsize;
    T* abuf = bufs.as<T>() + tid * per_thread;
    T* bbuf = abuf + a_size;
    T* mt = bbuf + b_size;
    T* pt = mt + mt_size;
    T* xt = pt + p_size;
    // A[f, k] = dy at position p0 + k.
    auto pack_a = [&](T* dst, int64_t m0, int64_t mc, int64_t k0, int64_t kc) {
      for (int64_t q = 0; q < mc; q += MR) {
        const int64_t rows = std::min<int64_t>(MR, mc - q);
        T* panel = dst + q * kc;
        for (int64_t kk = 0; kk < kc; ++kk) {
          const int64_t col = p0 + k0 + kk, img = col / G.plane, p = col % G.plane;
          const T* src = dy + (img * F + m0 + q) * G.plane + p;
          int64_t r = 0;
          for (; r < rows; ++r) panel[kk * MR + r] = src[r * G.plane];
          for (; r < MR; ++r) panel[kk * MR + r] = T(0);
        }
      }
    };
    // B[k, (c,a)] = X̃[(c,a), p0 + k]: formed per channel over the block's positions, then transposed into panels.
    std::vector<Run> runs(KC + 1);
    auto pack_b = [&](T* dst, int64_t k0, int64_t kc, int64_t n0, int64_t nc) {
      const int nruns = split_runs(G, p0 + k0, kc, runs.data());
      gather_m(mt, KC, m, G, runs.data(), nruns, kc);
      for (int64_t c = n0 / G.taps; c * G.taps < n0 + nc; ++c) {
        gather_patches(pt, KC, x, G, c, runs.data(), nruns, kc);
        const int64_t a0 = std::max(n0, c * G.taps) - c * G.taps, a1 = std::min(n0 + nc, (c + 1) * G.taps) - c * G.taps;
        apply_transform(G, mt, pt, xt, a0, a1, KC, kc);
        for (int64_t a = a0; a < a1; ++a) {
          const int64_t j = c * G.taps + a - n0;
          T* panel = dst + (j / NR) * NR * kc + j % NR;
          const T* src = xt + (a - a0) * KC;
          for (int64_t kk = 0; kk < kc; ++kk) panel[kk * NR] = src[kk];
        }
      }
      for (int64_t j = nc; j < gemm::round_up(nc, NR); ++j) {  // zero the last panel's unused lanes
        T* panel = dst + (j / NR) * NR * kc + j % NR;
        for (int64_t kk = 0; kk < kc; ++kk) panel[kk * NR] = T(0);
      }
    };
    gemm::gemm_range<T>(F, p1 - p0, 0, F, 0, G.k, pack_a, nullptr, pack_b, gemm::DenseCView<T>{out, G.k}, 0, nullptr,
                        abuf, bbuf);
  });
  for (int t = 1; t < threads; ++t) {
    const T* src = partial.as<T>() + (t - 1) * wsize;
    for (int64_t e = 0; e < wsize; ++e) dw[e] += src[e];
  }
}

// dX̃ = Wᵀ·dY tile by tile, then dm and dx from it (see the file comment).
template <class T>
void backward_input_and_m(const Geometry& G, const T* x, const T* w, const T* m, const T* dy, T* dx, T* dm) {
  const gemm::MicroKernel<T>& uk = gemm::kernel<T>();
  const ns_conv2d_desc& d = G.d;
  const int64_t MR = uk.mr, NR = uk.nr, KC = uk.kc, F = d.f, K = G.taps;
  const int64_t tile = NR;  // columns per tile
  // Channels per chunk: a whole number of MR-row panels of dX̃, about 64 rows.
  int64_t chunk = 1;
  while ((chunk * K) % MR) ++chunk;
  while (chunk * 2 * K <= 64 && chunk * 2 <= d.c) chunk *= 2;
  chunk = std::min(chunk, d.c);
  // Bands of output rows; bands of one parity never write the same dx element (see file comment).
  const int threads = pool_size();
  const int64_t min_band = std::max<int64_t>(1, ((d.kh - 1) * d.dil_h) / d.stride_h);
  int64_t bands = d.n >= 2 * threads ? 1 : (2 * threads + d.n - 1) / d.n;
  bands = std::max<int64_t>(1, std::min(bands, d.ho / min_band));
  const int64_t band_rows = (d.ho + bands - 1) / bands;
  bands = (d.ho + band_rows - 1) / band_rows;

  if (dx) parallel_for(d.n * d.c * d.h * d.w, 1 << 16, [&](int64_t b, int64_t e) { std::fill(dx + b, dx + e, T(0)); });
  Scratch a_scratch(sizeof(T) * prepacked_size<T>(G.k, F));
  prepack_a(a_scratch.as<T>(), w, int64_t(1), G.k, G.k, F);  // A = Wᵀ: element ((c,a), f) = w[f·CK + (c,a)]
  const int64_t b_size = gemm::round_up(std::max<int64_t>(tile, uk.nc), NR) * KC;
  const int64_t mt_size = G.mrows * tile, xt_size = chunk * K * tile, p_size = K * tile;
  const int64_t per_thread = b_size + 2 * mt_size + xt_size + 2 * p_size;
  Scratch scratch(sizeof(T) * per_thread * threads);
  for (int parity = 0; parity < 2; ++parity) {
    const int64_t items = d.n * ((bands + 1 - parity) / 2);
    if (items == 0) continue;
    std::atomic<int64_t> next{0};
    parallel_run(static_cast<int>(std::min<int64_t>(threads, items)), [&](int tid, int) {
      T* bbuf = scratch.as<T>() + tid * per_thread;
      T* mt = bbuf + b_size;
      T* dmt = mt + mt_size;
      T* xt = dmt + mt_size;
      T* pt = xt + xt_size;
      T* dpt = pt + p_size;
      std::vector<Run> run_list(tile + 1);
      Run* runs = run_list.data();
      for (int64_t item; (item = next.fetch_add(1)) < items;) {
        const int64_t img = item % d.n, band = 2 * (item / d.n) + parity;
        const int64_t r0 = band * band_rows, r1 = std::min(d.ho, r0 + band_rows);
        const int64_t col_begin = img * G.plane + r0 * d.wo, col_end = img * G.plane + r1 * d.wo;
        for (int64_t col0 = col_begin; col0 < col_end; col0 += tile) {
          const int64_t width = std::min(tile, col_end - col0);
          const int nruns = split_runs(G, col0, width, runs);
          gather_m(mt, tile, m, G, runs, nruns, width);
          if (dm) std::fill(dmt, dmt + mt_size, T(0));
          const T* dyt = dy + img * F * G.plane + (col0 - img * G.plane);
          for (int64_t c0 = 0; c0 < d.c; c0 += chunk) {
            const int64_t c1 = std::min(d.c, c0 + chunk), row0 = c0 * K, rows = (c1 - c0) * K;
            gemm::gemm_range<T>(
                G.k, F, row0, row0 + rows, 0, width, [](T*, int64_t, int64_t, int64_t, int64_t) {}, a_scratch.as<T>(),
                [&](T* dst, int64_t k0, int64_t kc, int64_t n0, int64_t nc) {
                  gemm::pack_b_strided(dst, dyt, G.plane, int64_t(1), k0, kc, n0, nc, static_cast<int>(NR));
                },
                RowOffsetView<T>{xt, tile, row0}, 0, nullptr, nullptr, bbuf);
            for (int64_t c = c0; c < c1; ++c) {
              gather_patches(pt, tile, x, G, c, runs, nruns, width);
              adjoint_transform(G, mt, pt, xt + (c - c0) * K * tile, dm ? dmt : nullptr, dx ? dpt : nullptr, tile, tile);
              if (dx) scatter_patches(dx, dpt, tile, G, c, runs, nruns);
            }
          }
          if (dm)
            for (int64_t r = 0; r < G.mrows; ++r)
              for (int k = 0; k < nruns; ++k) {
                const Run& run = runs[k];
                std::memcpy(dm + (run.img * G.mrows + r) * G.plane + run.oh * d.wo + run.ow, dmt + r * tile + run.t0,
                            sizeof(T) * run.len);
              }
        }
      }
    });
  }
}

template <class T>
void backward(const Geometry& G, const T* x, const T* w, const T* m, const T* dy, T* dx, T* dw, T* dm, T* dbias) {
  const ns_conv2d_desc& d = G.d;
  if (dbias)
    parallel_for(d.f, 1, [&](int64_t b, int64_t e) {
      for (int64_t f = b; f < e; ++f) {
        T sum = 0;
        for (int64_t img = 0; img < d.n; ++img) {
          const T* row = dy + (img * d.f + f) * G.plane;
          for (int64_t p = 0; p < G.plane; ++p) sum += row[p];
        }
        dbias[f] = sum;
      }
    });
  if (dw) backward_weight(G, x, m, dy, dw);
  if (dx || dm) backward_input_and_m(G, x, w, m, dy, dx, dm);
}

}  // namespace
}  // namespace ns

extern "C" {

int ns_cpu_similarity_conv2d_forward(ns_dtype dt, const ns_conv2d_desc* d, int spatial, const void* x, const void* w,
                                     const void* m, const void* bias, void* y) {
  if (d->groups != 1) return NS_ERR_UNSUPPORTED;
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::forward(ns::Geometry(*d, spatial != 0), static_cast<const T*>(x), static_cast<const T*>(w),
                static_cast<const T*>(m), static_cast<const T*>(bias), static_cast<T*>(y));
  });
}

int ns_cpu_similarity_conv2d_backward(ns_dtype dt, const ns_conv2d_desc* d, int spatial, const void* x, const void* w,
                                      const void* m, const void* dy, void* dx, void* dw, void* dm, void* dbias) {
  if (d->groups != 1) return NS_ERR_UNSUPPORTED;
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::backward(ns::Geometry(*d, spatial != 0), static_cast<const T*>(x), static_cast<const T*>(w),
                 static_cast<const T*>(m), static_cast<const T*>(dy), static_cast<T*>(dx), static_cast<T*>(dw),
                 static_cast<T*>(dm), static_cast<T*>(dbias));
  });
}

}  // extern "C"
