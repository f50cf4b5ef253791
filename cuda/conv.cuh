// Convolutions as problems of the implicit-GEMM core (igemm.cuh), shared by conv.cu, similarity.cu and
// test/cuda-host/igemm_test.cc. Per group g (P the patch matrix: rows (c, tap), columns positions (n, oh, ow)):
//
//   Forward         y_g = W_g · P_g (+ bias)      M = filters, N = positions, K = (c, tap)
//                   A: weights read in place (k-contiguous); B: PatchLoader (im2col on the fly)
//   BackwardInput   dx_g = W_gᵀ · D_g             M = channels, N = input pixels, K = (f, tap)
//                   A: WeightTLoader; B: DyGatherLoader, D[(f, b), q] = dy[f, p(q, b)]: a gather, so dx is
//                   written once per element (no col2im scatter, no atomics)
//   BackwardWeight  dw_gᵀ = P_g · dY_gᵀ           M = (c, tap), N = filters, K = positions (split-K)
//                   A: PatchTLoader; B: dy through the same loader as a 1×1 convolution's input
//   DmGemm          dX̃ = Wᵀ · dY                  M = (c, tap) of a channel group, N = positions, K = filters
//                   (the dm kernel of similarity.cu contracts it with the patch in its epilogue)
//
// With Sim (dynamic neural similarity, groups = 1), a tile along (c, tap) or (f, tap) holds whole channels
// (kstep or mstride = channels·taps) and one operand is transformed after it lands in shared memory
// (similarity_transform.cuh): Forward and BackwardWeight multiply X̃_p = M_p·P_p, BackwardInput multiplies
// Z[(f,a), q] = Σ_b M_{p(q,b)}[a,b]·D[(f,b), q], the adjoint transform gathered per input pixel:
//   dx[c, q] = Σ_{f,a} w[f,c,a] · Σ_b M_{p(q,b)}[a,b] · dy[f, p(q,b)] = Σ_{p,b} [Σ_a M_p[a,b]·dX̃_p[c,a]]_{pix(p,b)=q}.
#ifndef NEURAL_SIMILARITY_CUDA_CONV_CUH
#define NEURAL_SIMILARITY_CUDA_CONV_CUH

#include <cstdint>

#include "host_device.h"
#include "igemm.cuh"
#include "similarity_transform.cuh"

namespace ns {
namespace cuda {
namespace conv {

using igemm::ConvGeom;
using igemm::CtaTile;
using igemm::GemmPlan;

// What a dynamic similarity adds to a problem: m ([n, rows, ho, wo]) and its form.
template <class T>
struct SimM {
  const T* m;
  bool spatial;
  int rows;  // K·K (spatial) or K (diagonal)
};

// y_g = W_g · X_g (+ bias), X = P (plain) or X̃ (Sim). Batch entry z = group.
template <class T_, int BM, int BN, int THREADS, bool Sim>
struct Forward {
  using T = T_;
  using ALoader = igemm::DenseLoader<T, BM, THREADS, true>;
  using BLoader = igemm::PatchLoader<T, BN, THREADS>;
  static constexpr int kTransform = Sim ? 2 : 0;
  GemmPlan plan;
  ConvGeom G;
  const T *x, *w, *bias;
  T* y;
  SimM<T> mp;
  bool w_vec = false;  // weights staged 16 bytes at a time (vectorize())

  NS_HD ALoader a_loader(const CtaTile& t) const {
    const int64_t row = static_cast<int64_t>(G.cg) * G.taps;
    return ALoader{w + (static_cast<int64_t>(t.z) * G.fg + t.m0) * row, row, 1, t.mcount, w_vec};
  }
  // Sets w_vec for the plan's k-tiles.
  void vectorize() {
    w_vec = igemm::dense_vectorizable(w, true, static_cast<int64_t>(G.cg) * G.taps, 1, 0, plan.kstep);
  }
  NS_HD BLoader b_loader(const CtaTile& t) const { return BLoader{x, G, t.z * G.cg, t.n0, t.ncount}; }
  // Column j = tid % BN of the B tile (an output position), channels shared by tid / BN of THREADS / BN.
  NS_HD void transform(const CtaTile& t, int, int kcount, int tid, int nthreads, const T* src, T* dst, int ld) const {
    const int j = tid % BN, slot = tid / BN, nslots = nthreads / BN, nch = G.taps_d.div(kcount);
    const bool valid = j < t.ncount;
    const int col = valid ? t.n0 + j : 0, img = G.plane_d.div(col), p = col - img * G.plane;
    const sim::PositionCoef<T> coef{mp.m + static_cast<int64_t>(img) * mp.rows * G.plane + p, G.plane, G.taps};
    if (mp.spatial)
      sim::mix_column(src + j, dst + j, ld, slot, nslots, nch, G.taps, plan.ks, valid, coef);
    else
      sim::scale_column(src + j, dst + j, ld, slot, nslots, nch, G.taps, plan.ks, valid, coef);
  }
  NS_HD void store(int z, int m, int n, T v) const {
    const int img = G.plane_d.div(n), p = n - img * G.plane, f = z * G.fg + m;
    y[(static_cast<int64_t>(img) * G.f + f) * G.plane + p] = bias ? v + bias[f] : v;
  }
  NS_HD const T* dummy() const { return x; }
};

// dx_g = W_gᵀ · D_g (plain) or W_gᵀ · Z (Sim, the adjoint transform). Batch entry z = group.
template <class T_, int BM, int BN, int THREADS, bool Sim>
struct BackwardInput {
  using T = T_;
  using ALoader = igemm::WeightTLoader<T, BM, THREADS>;
  using BLoader = igemm::DyGatherLoader<T, BN, THREADS>;
  static constexpr int kTransform = Sim ? 2 : 0;
  GemmPlan plan;
  ConvGeom G;
  const T *dy, *w;
  T* dx;
  SimM<T> mp;

  NS_HD ALoader a_loader(const CtaTile& t) const { return ALoader{w, G, t.z * G.fg, t.m0, t.mcount}; }
  NS_HD BLoader b_loader(const CtaTile& t) const { return BLoader{dy, G, t.z * G.fg, t.n0, t.ncount}; }
  void vectorize() {}  // gathers only: no dense operand
  // Column j = tid % BN of the B tile (an input pixel q); its rows are (f, b) for whole filters.
  NS_HD void transform(const CtaTile& t, int, int kcount, int tid, int nthreads, const T* src, T* dst, int ld) const {
    const int j = tid % BN, slot = tid / BN, nslots = nthreads / BN, nch = G.taps_d.div(kcount);
    const bool valid = j < t.ncount;
    const int q = valid ? t.n0 + j : 0, img = G.hw_d.div(q), r = q - img * G.hw;
    const int qh = G.w_d.div(r), qw = r - qh * G.w;
    const T* m_img = mp.m + static_cast<int64_t>(img) * mp.rows * G.plane;
    if (mp.spatial) {
      const sim::PixelCoefSpatial<T> coef(m_img, G, qh + G.ph, qw + G.pw);
      sim::mix_column(src + j, dst + j, ld, slot, nslots, nch, G.taps, plan.ks, valid, coef);
    } else {
      const sim::PixelCoefDiag<T> coef{m_img, G, qh + G.ph, qw + G.pw};
      sim::scale_column(src + j, dst + j, ld, slot, nslots, nch, G.taps, plan.ks, valid, coef);
    }
  }
  NS_HD void store(int z, int m, int n, T v) const {
    const int img = G.hw_d.div(n), r = n - img * G.hw;
    dx[(static_cast<int64_t>(img) * G.c + z * G.cg + m) * G.hw + r] = v;
  }
  NS_HD const T* dummy() const { return dy; }
};

// dw_gᵀ = X_g · dY_gᵀ with X = P (plain) or X̃ (Sim): rows (c, tap), columns the group's filters, reduced
// over positions. Batch entry z = group.
template <class T_, int BM, int BN, int THREADS, bool Sim>
struct BackwardWeight {
  using T = T_;
  using ALoader = igemm::PatchTLoader<T, BM, THREADS>;
  using BLoader = igemm::PatchTLoader<T, BN, THREADS>;
  static constexpr int kTransform = Sim ? 1 : 0;
  GemmPlan plan;
  ConvGeom G, Gdy;  // Gdy = igemm::dy_geom(G)
  const T *x, *dy;
  T* dw;
  SimM<T> mp;

  NS_HD ALoader a_loader(const CtaTile& t) const { return ALoader{x, G, t.z * G.cg, t.m0, t.mcount}; }
  NS_HD BLoader b_loader(const CtaTile& t) const { return BLoader{dy, Gdy, t.z * G.fg, t.n0, t.ncount}; }
  void vectorize() {}  // gathers only: no dense operand
  // Columns of the A tile (positions k0 + j) along lanes, j = lane + 32·u; whole channels along warps.
  NS_HD void transform(const CtaTile& t, int k0, int kcount, int tid, int nthreads, const T* src, T* dst,
                       int ld) const {
    const int slot = tid >> 5, nslots = nthreads >> 5, nch = G.taps_d.div(t.mcount);
    for (int j = tid & 31; j < plan.ks; j += 32) {
      const bool valid = j < kcount;
      const int col = valid ? k0 + j : 0, img = G.plane_d.div(col), p = col - img * G.plane;
      const sim::PositionCoef<T> coef{mp.m + static_cast<int64_t>(img) * mp.rows * G.plane + p, G.plane, G.taps};
      if (mp.spatial)
        sim::mix_column(src + j, dst + j, ld, slot, nslots, nch, G.taps, BM, valid, coef);
      else
        sim::scale_column(src + j, dst + j, ld, slot, nslots, nch, G.taps, BM, valid, coef);
    }
  }
  NS_HD void store(int z, int m, int n, T v) const {
    dw[(static_cast<int64_t>(z) * G.fg + n) * G.cg * G.taps + m] = v;
  }
  NS_HD const T* dummy() const { return x; }
};

// dX̃ = Wᵀ · dY for one channel group (rows (c, a) = m0 + row) and a tile of positions (groups = 1); the dm
// kernel runs it per group and contracts the result with `patch`, the same rows (c, b) of P.
template <class T_, int BM, int BN, int THREADS>
struct DmGemm {
  using T = T_;
  using ALoader = igemm::DenseLoader<T, BM, THREADS, false>;  // element ((c,a), f) = w[f, c, a]
  using BLoader = igemm::PatchLoader<T, BN, THREADS>;         // dy as a 1×1 convolution's input
  static constexpr int kTransform = 0;
  GemmPlan plan;  // m = C·taps (mstride = whole channels), n = positions, k = F
  ConvGeom G, Gdy;
  const T *x, *w, *dy;
  T* dm;  // [n, rows, ho, wo] (or a split's partial buffer of that shape)
  SimM<T> mp;
  bool w_vec = false;  // weights staged 16 bytes at a time (vectorize())

  NS_HD ALoader a_loader(const CtaTile& t) const {
    return ALoader{w + t.m0, 1, static_cast<int64_t>(G.c) * G.taps, t.mcount, w_vec};
  }
  // Sets w_vec for the plan's channel groups.
  void vectorize() {
    w_vec = igemm::dense_vectorizable(w, false, 1, static_cast<int64_t>(G.c) * G.taps, 0, plan.mstride);
  }
  NS_HD BLoader b_loader(const CtaTile& t) const { return BLoader{dy, Gdy, 0, t.n0, t.ncount}; }
  NS_HD igemm::PatchLoader<T, BN, THREADS> patch(const CtaTile& t) const {
    return igemm::PatchLoader<T, BN, THREADS>{x, G, 0, t.n0, t.ncount};
  }
  // The epilogue, per thread: its accumulators (config Cfg) into the dX̃ tile g (rows (c, a), ld g_ld).
  template <class Cfg>
  NS_HD static void stage(int tid, const T (&acc)[Cfg::kAcc], T* g, int g_ld) {
    NS_UNROLL
    for (int i = 0; i < Cfg::kAcc; ++i) {
      const mma::Coord c = Cfg::acc_coord(tid, i);
      g[c.row * g_ld + c.col] = acc[i];
    }
  }
  // The channel groups [g0, g1) of run `split` of `splits` (balanced runs, in order).
  NS_HD void groups(int split, int splits, int& g0, int& g1) const {
    g0 = static_cast<int>(static_cast<int64_t>(plan.mtiles) * split / splits);
    g1 = static_cast<int>(static_cast<int64_t>(plan.mtiles) * (split + 1) / splits);
  }
  // The GEMM tile of channel group g and position tile nt: all of its k-tiles (filters).
  NS_HD CtaTile group_tile(int g, int nt) const {
    const int m0 = g * plan.mstride, n0 = nt * plan.nstride;
    return CtaTile{0, 0, m0, n0, igemm::min_int(plan.mstride, plan.m - m0), igemm::min_int(plan.nstride, plan.n - n0),
                   0, plan.ktiles};
  }
  // Where split `split` of `splits` (runs of channel groups) writes: dm itself, or its partial buffer of
  // dm's shape in `out` ([splits][n][rows][ho][wo]).
  NS_HD T* split_output(T* out, int split, int splits) const {
    return splits > 1 ? out + static_cast<int64_t>(split) * G.positions() * mp.rows : out;
  }
  // dm of the CTA's columns [n0, n0 + ncount) from the running sums acc[e·BN + j] (thread tid's share, the
  // entries dm_accumulate gave it) into `out` (split_output's).
  NS_HD void write(int n0, int ncount, int tid, int nthreads, const T* acc, T* out) const {
    for (int u = tid; u < mp.rows * BN; u += nthreads) {
      const int e = u / BN, j = u - e * BN;
      if (j >= ncount) continue;
      const int n = n0 + j, img = G.plane_d.div(n), p = n - img * G.plane;
      out[(static_cast<int64_t>(img) * mp.rows + e) * G.plane + p] = acc[u];
    }
  }
  NS_HD const T* dummy() const { return dy; }
};

// Shared memory of a dm CTA, in elements: the GEMM's stages, overlaid after each channel group by the dX̃
// tile g ([BM][BN + 4]) and the patch tile p ([BM][BN + 8]), then dm's running sums ([rows][BN]).
struct DmSmem {
  int g_ld, p_ld, g_offset, p_offset, acc_offset, total;
};

NS_HD inline DmSmem dm_smem(int BM, int BN, int ks, int stages, int entries) {
  DmSmem L;
  const int pipeline = igemm::smem_layout(BM, BN, ks, false, false, stages, 0).total;
  L.g_ld = BN + 4;
  L.p_ld = BN + 8;
  L.g_offset = 0;
  L.p_offset = BM * L.g_ld;
  const int overlay = L.p_offset + BM * L.p_ld;
  L.acc_offset = static_cast<int>(igemm::round_up(pipeline > overlay ? pipeline : overlay, 4));
  L.total = L.acc_offset + entries * BN;
  return L;
}

// Channels per tile along (c, tap) for the similarity problems: as many whole channels as `cap` rows hold.
inline int channels_per_tile(int taps, int cap) { return cap / taps > 0 ? cap / taps : 1; }

// The problems' plans for CTA tiles of BM × BN, before the device picks stages and split-K. Forward and
// BackwardInput take k-tiles of kstep indices in ks columns (kstep = channels_per_tile(taps, cap)·taps for
// Sim); BackwardWeight k-tiles of ks positions and, for Sim, M tiles of whole channels; DmGemm M tiles of
// whole channels and k-tiles of ks filters.
inline GemmPlan forward_plan(const ConvGeom& G, int BM, int BN, int kstep, int ks) {
  return igemm::make_plan(G.fg, G.positions(), G.cg * G.taps, BM, BN, kstep, ks, G.groups, 2);
}
inline GemmPlan backward_input_plan(const ConvGeom& G, int BM, int BN, int kstep, int ks) {
  return igemm::make_plan(G.cg, G.pixels(), G.fg * G.taps, BM, BN, kstep, ks, G.groups, 2);
}
inline GemmPlan backward_weight_plan(const ConvGeom& G, int BM, int BN, int ks, bool sim) {
  const int mstride = sim ? channels_per_tile(G.taps, BM) * G.taps : BM;
  return igemm::make_plan(G.cg * G.taps, G.fg, G.positions(), mstride, BN, ks, ks, G.groups, 2);
}
inline GemmPlan dm_plan(const ConvGeom& G, int BM, int BN, int ks) {
  return igemm::make_plan(G.c * G.taps, G.positions(), G.f, channels_per_tile(G.taps, BM) * G.taps, BN, ks, ks, 1, 2);
}

// ------------------------------------------------------------------ direct (per-element) maths
//
// The kernels that are not GEMMs compute one output element (or one term of a fixed-order reduction) at a
// time with these functions: conv.cu's depthwise kernels, similarity.cu's folds and its dynamic-form
// fallback for kernels of more than sim::kMaxTaps taps. Element indices are flat, in the output's layout.
namespace direct {

// y[e], e = (n, f, p): bias[f] + Σ_{c < cg, i, j} w[f, c, i, j] · x[n, g·cg + c, ih, iw].
template <class T>
NS_HD T forward_at(const ConvGeom& G, const T* x, const T* w, const T* bias, int64_t e) {
  const int p = static_cast<int>(e % G.plane);
  const int64_t nf = e / G.plane;
  const int f = static_cast<int>(nf % G.f), img = static_cast<int>(nf / G.f);
  const int oh = G.wo_d.div(p), ow = p - oh * G.wo, g = f / G.fg;
  const T* wf = w + static_cast<int64_t>(f) * G.cg * G.taps;
  const T* xg = x + (static_cast<int64_t>(img) * G.c + static_cast<int64_t>(g) * G.cg) * G.hw;
  T s = T(0);
  for (int c = 0; c < G.cg; ++c)
    for (int i = 0; i < G.kh; ++i) {
      const int ih = oh * G.sh - G.ph + i * G.dh;
      if (ih < 0 || ih >= G.h) continue;
      for (int j = 0; j < G.kw; ++j) {
        const int iw = ow * G.sw - G.pw + j * G.dw;
        if (iw < 0 || iw >= G.w) continue;
        s += wf[(c * G.kh + i) * G.kw + j] * xg[static_cast<int64_t>(c) * G.hw + ih * G.w + iw];
      }
    }
  return bias ? s + bias[f] : s;
}

// dx[e], e = (n, c, q): Σ over the group's filters f and the taps b reaching q of w[f, c', b]·dy[n, f, p(q, b)].
template <class T>
NS_HD T backward_input_at(const ConvGeom& G, const T* dy, const T* w, int64_t e) {
  const int q = static_cast<int>(e % G.hw);
  const int64_t nc = e / G.hw;
  const int c = static_cast<int>(nc % G.c), img = static_cast<int>(nc / G.c);
  const int qh = G.w_d.div(q), qw = q - qh * G.w, g = c / G.cg, cl = c - g * G.cg;
  T s = T(0);
  for (int b = 0; b < G.taps; ++b) {
    const int off = igemm::dgrad_tap_offset(G, qh + G.ph, qw + G.pw, b);
    if (off < 0) continue;
    for (int fl = 0; fl < G.fg; ++fl) {
      const int f = g * G.fg + fl;
      s += w[(static_cast<int64_t>(f) * G.cg + cl) * G.taps + b] *
           dy[(static_cast<int64_t>(img) * G.f + f) * G.plane + off];
    }
  }
  return s;
}

// A weight element e = (f, c, tap) of w [f, channels, kh, kw] decoded once per reduction.
struct WeightIndex {
  int f, c, tap, i, j;
};

NS_HD inline WeightIndex weight_index(const ConvGeom& G, int channels, int64_t e) {
  WeightIndex wi;
  wi.tap = static_cast<int>(e % G.taps);
  const int64_t fc = e / G.taps;
  wi.c = static_cast<int>(fc % channels);
  wi.f = static_cast<int>(fc / channels);
  wi.i = wi.tap / G.kw;
  wi.j = wi.tap - wi.i * G.kw;
  return wi;
}

// The term of position `pos` (n, oh, ow) in dw[f, c, tap] (wi = weight_index(G, G.cg, e)):
// dy[n, f, p] · x[n, g·cg + c, ih, iw].
template <class T>
NS_HD T backward_weight_term(const ConvGeom& G, const T* x, const T* dy, const WeightIndex& wi, int pos) {
  const int img = G.plane_d.div(pos), p = pos - img * G.plane;
  const int oh = G.wo_d.div(p), ow = p - oh * G.wo;
  const int ih = oh * G.sh - G.ph + wi.i * G.dh, iw = ow * G.sw - G.pw + wi.j * G.dw;
  if (ih < 0 || ih >= G.h || iw < 0 || iw >= G.w) return T(0);
  const int g = wi.f / G.fg;
  return dy[(static_cast<int64_t>(img) * G.f + wi.f) * G.plane + p] *
         x[(static_cast<int64_t>(img) * G.c + static_cast<int64_t>(g) * G.cg + wi.c) * G.hw + ih * G.w + iw];
}

// Patch element P_p[c, b] of output position (oh, ow) in the image plane xc (x at (n, c)), zero outside.
template <class T>
NS_HD T patch_at(const ConvGeom& G, const T* xc, int oh, int ow, int b) {
  const int i = G.kw_d.div(b), j = b - i * G.kw;
  const int ih = oh * G.sh - G.ph + i * G.dh, iw = ow * G.sw - G.pw + j * G.dw;
  return ih < 0 || ih >= G.h || iw < 0 || iw >= G.w ? T(0) : xc[ih * G.w + iw];
}

// X̃_p[c, a] = Σ_b M_p[a, b]·P_p[c, b] (spatial) or M_p[a]·P_p[c, a]; M_p's column at mcol (m at (n, 0, p)).
template <class T>
NS_HD T transformed_at(const ConvGeom& G, bool spatial, const T* mcol, const T* xc, int oh, int ow, int a) {
  if (!spatial) return mcol[static_cast<int64_t>(a) * G.plane] * patch_at(G, xc, oh, ow, a);
  T s = T(0);
  for (int b = 0; b < G.taps; ++b)
    s += mcol[static_cast<int64_t>(a * G.taps + b) * G.plane] * patch_at(G, xc, oh, ow, b);
  return s;
}

// Dynamic similarity (groups = 1). y[e], e = (n, f, p): bias[f] + Σ_{c, a} w[f, c, a]·X̃_p[c, a].
template <class T>
NS_HD T sim_forward_at(const ConvGeom& G, const SimM<T>& mp, const T* x, const T* w, const T* bias, int64_t e) {
  const int p = static_cast<int>(e % G.plane);
  const int64_t nf = e / G.plane;
  const int f = static_cast<int>(nf % G.f), img = static_cast<int>(nf / G.f);
  const int oh = G.wo_d.div(p), ow = p - oh * G.wo;
  const T* mcol = mp.m + static_cast<int64_t>(img) * mp.rows * G.plane + p;
  T s = T(0);
  for (int c = 0; c < G.c; ++c) {
    const T* xc = x + (static_cast<int64_t>(img) * G.c + c) * G.hw;
    const T* wf = w + (static_cast<int64_t>(f) * G.c + c) * G.taps;
    for (int a = 0; a < G.taps; ++a) s += wf[a] * transformed_at(G, mp.spatial, mcol, xc, oh, ow, a);
  }
  return bias ? s + bias[f] : s;
}

// dx[e], e = (n, c, q): Σ_b Σ_a M_{p(q,b)}[a, b]·Σ_f w[f, c, a]·dy[n, f, p(q, b)] (diagonal: a = b).
template <class T>
NS_HD T sim_backward_input_at(const ConvGeom& G, const SimM<T>& mp, const T* dy, const T* w, int64_t e) {
  const int q = static_cast<int>(e % G.hw);
  const int64_t nc = e / G.hw;
  const int c = static_cast<int>(nc % G.c), img = static_cast<int>(nc / G.c);
  const int qh = G.w_d.div(q), qw = q - qh * G.w;
  const T* m_img = mp.m + static_cast<int64_t>(img) * mp.rows * G.plane;
  const T* dy_img = dy + static_cast<int64_t>(img) * G.f * G.plane;
  T s = T(0);
  for (int b = 0; b < G.taps; ++b) {
    const int off = igemm::dgrad_tap_offset(G, qh + G.ph, qw + G.pw, b);
    if (off < 0) continue;
    for (int a = mp.spatial ? 0 : b; a < (mp.spatial ? G.taps : b + 1); ++a) {
      const T mab = m_img[static_cast<int64_t>(mp.spatial ? a * G.taps + b : a) * G.plane + off];
      T g = T(0);
      for (int f = 0; f < G.f; ++f)
        g += w[(static_cast<int64_t>(f) * G.c + c) * G.taps + a] * dy_img[static_cast<int64_t>(f) * G.plane + off];
      s += mab * g;
    }
  }
  return s;
}

// The term of position `pos` in dw[f, c, a] (wi = weight_index(G, G.c, e)): dy[n, f, p]·X̃_p[c, a].
template <class T>
NS_HD T sim_backward_weight_term(const ConvGeom& G, const SimM<T>& mp, const T* x, const T* dy, const WeightIndex& wi,
                                 int pos) {
  const int img = G.plane_d.div(pos), p = pos - img * G.plane;
  const int oh = G.wo_d.div(p), ow = p - oh * G.wo;
  const T* mcol = mp.m + static_cast<int64_t>(img) * mp.rows * G.plane + p;
  const T* xc = x + (static_cast<int64_t>(img) * G.c + wi.c) * G.hw;
  return dy[(static_cast<int64_t>(img) * G.f + wi.f) * G.plane + p] *
         transformed_at(G, mp.spatial, mcol, xc, oh, ow, wi.tap);
}

// dm[i], i = (n, e, p): Σ_c dX̃_p[c, a]·P_p[c, b], dX̃_p[c, a] = Σ_f w[f, c, a]·dy[n, f, p] (e = a·K + b, or a = b).
template <class T>
NS_HD T sim_backward_m_at(const ConvGeom& G, const SimM<T>& mp, const T* x, const T* w, const T* dy, int64_t i) {
  const int p = static_cast<int>(i % G.plane);
  const int64_t ne = i / G.plane;
  const int e = static_cast<int>(ne % mp.rows), img = static_cast<int>(ne / mp.rows);
  const int a = mp.spatial ? e / G.taps : e, b = mp.spatial ? e - a * G.taps : e;
  const int oh = G.wo_d.div(p), ow = p - oh * G.wo;
  const T* dy_p = dy + static_cast<int64_t>(img) * G.f * G.plane + p;
  T s = T(0);
  for (int c = 0; c < G.c; ++c) {
    const T pcb = patch_at(G, x + (static_cast<int64_t>(img) * G.c + c) * G.hw, oh, ow, b);
    T g = T(0);
    for (int f = 0; f < G.f; ++f)
      g += w[(static_cast<int64_t>(f) * G.c + c) * G.taps + a] * dy_p[static_cast<int64_t>(f) * G.plane];
    s += g * pcb;
  }
  return s;
}

// Static forms, w viewed as [rows, k]. out[e], e = (r, b): Σ_a w[r, a]·m[a·k + b] (spatial) or w[r, b]·m[b].
template <class T>
NS_HD T fold_at(bool spatial, int k, const T* w, const T* m, int64_t e) {
  const int b = static_cast<int>(e % k);
  if (!spatial) return w[e] * m[b];
  const T* wr = w + (e - b);
  T s = T(0);
  for (int a = 0; a < k; ++a) s += wr[a] * m[a * k + b];
  return s;
}

// dw[e], e = (r, a): Σ_b dwf[r, b]·m[a·k + b] (spatial) or dwf[r, a]·m[a].
template <class T>
NS_HD T fold_back_dw_at(bool spatial, int k, const T* dwf, const T* m, int64_t e) {
  const int a = static_cast<int>(e % k);
  if (!spatial) return dwf[e] * m[a];
  const T* gr = dwf + (e - a);
  T s = T(0);
  for (int b = 0; b < k; ++b) s += gr[b] * m[a * k + b];
  return s;
}

// The term of row r in dm[e]: w[r, a]·dwf[r, b] with e = a·k + b (spatial) or e = a = b.
template <class T>
NS_HD T fold_back_dm_term(bool spatial, int k, const T* w, const T* dwf, int e, int64_t r) {
  const int a = spatial ? e / k : e, b = spatial ? e - a * k : e;
  return w[r * k + a] * dwf[r * k + b];
}

}  // namespace direct

}  // namespace conv
}  // namespace cuda
}  // namespace ns

#ifdef __CUDACC__
namespace ns {
namespace cuda {
namespace conv {

// A run_* result meaning that no tile configuration fits this device's shared memory (similarity.cu then
// takes its direct kernels); never returned for plain convolutions, whose smallest tiles fit every target.
constexpr int kNoFit = -1;

template <class T, bool Tf32>
using Cfg64x128 = igemm::TileConfig<T, Tf32, 64, 128, 2, 4>;
template <class T, bool Tf32>
using Cfg128x128 = igemm::TileConfig<T, Tf32, 128, 128, 2, 4>;
template <class T, bool Tf32>
using Cfg128x64 = igemm::TileConfig<T, Tf32, 128, 64, 4, 2>;

// TF32 tensor cores for float32 when allowed and present (sm_80+); FMA otherwise and for float64.
template <class T>
bool use_tf32() {
  return std::is_same<T, float>::value && allow_tf32() && compute_capability() >= 80;
}

// Most elements a split-K partial buffer may take (64 MiB of float32).
constexpr int64_t kMaxPartialElems = int64_t(1) << 24;

// Fits a plan to the device: the default ring depth, else 2 stages. False when neither fits.
template <class Cfg, class Prob>
bool fit_stages(GemmPlan& p) {
  const size_t limit = static_cast<size_t>(igemm::smem_optin_bytes());
  p.stages = igemm::default_stages();
  if (igemm::smem_bytes<Cfg, Prob>(p) <= limit) return true;
  p.stages = 2;
  return igemm::smem_bytes<Cfg, Prob>(p) <= limit;
}

// Split-K for a fitted plan, its partial buffer at most kMaxPartialElems.
inline void set_splits(GemmPlan& p, int min_ktiles) {
  p.splits = igemm::choose_splits(p, multiprocessors(), min_ktiles);
  const int64_t per = static_cast<int64_t>(p.batches) * p.m * p.n;
  while (p.splits > 1 && per * p.splits > kMaxPartialElems) --p.splits;
}

// k-tile columns of the plain problems: 32 (float) or 16 (double); problems whose k-tiles are whole
// channels try as many channels as the caps of kChannelCaps hold, largest first.
template <class T>
constexpr int plain_ks() {
  return sizeof(T) == 4 ? 32 : 16;
}
constexpr int kChannelCaps[] = {72, 40, 24, 16};

// The first (kstep, ks) that fits for Prob with config Cfg, then its launch; kNoFit if none fits.
// `make` builds the plan for a (kstep, ks).
template <class Cfg, class Prob, class MakePlan>
int fit_and_launch(Prob& prob, bool channel_tiles, const MakePlan& make, const char* what) {
  using T = typename Prob::T;
  const int taps = prob.G.taps;
  const int plain = plain_ks<T>();
  for (int i = 0; i < (channel_tiles ? 4 : 1); ++i) {
    const int kstep = channel_tiles ? channels_per_tile(taps, kChannelCaps[i]) * taps : plain;
    const int ks = static_cast<int>(igemm::round_up(kstep, 8));
    if (channel_tiles && i > 0 && kstep == channels_per_tile(taps, kChannelCaps[i - 1]) * taps) continue;
    prob.plan = make(kstep, ks);
    if (!fit_stages<Cfg, Prob>(prob.plan)) continue;
    set_splits(prob.plan, 4);
    prob.vectorize();
    return igemm::launch<Cfg>(prob, what);
  }
  return kNoFit;
}

// y = conv(x, w) (+ bias) as an implicit GEMM (Sim: X̃ = M_p·P_p in the B loader; groups = 1).
template <class Cfg, bool Sim, class T>
int forward_with(const ConvGeom& G, const T* x, const T* w, const T* bias, T* y, const SimM<T>& mp, const char* what) {
  Forward<T, Cfg::BM, Cfg::BN, Cfg::kThreads, Sim> prob{GemmPlan{}, G, x, w, bias, y, mp};
  return fit_and_launch<Cfg>(prob, Sim, [&](int kstep, int ks) { return forward_plan(G, Cfg::BM, Cfg::BN, kstep, ks); },
                            what);
}

template <class T, bool Sim>
int run_forward(const ConvGeom& G, const T* x, const T* w, const T* bias, T* y, const SimM<T>& mp, const char* what) {
  if constexpr (!std::is_same<T, float>::value) {
    return forward_with<Cfg64x128<T, false>, Sim>(G, x, w, bias, y, mp, what);
  } else {
    int st = kNoFit;
    if (use_tf32<T>()) {
      if (G.fg > 64) st = forward_with<Cfg128x128<T, true>, Sim>(G, x, w, bias, y, mp, what);
      if (st == kNoFit) st = forward_with<Cfg64x128<T, true>, Sim>(G, x, w, bias, y, mp, what);
    } else {
      if (G.fg > 64) st = forward_with<Cfg128x128<T, false>, Sim>(G, x, w, bias, y, mp, what);
      if (st == kNoFit) st = forward_with<Cfg64x128<T, false>, Sim>(G, x, w, bias, y, mp, what);
    }
    return st;
  }
}

// dx = convᵀ(dy, w) as a gathered implicit GEMM (Sim: the adjoint transform in the B loader).
template <class Cfg, bool Sim, class T>
int backward_input_with(const ConvGeom& G, const T* dy, const T* w, T* dx, const SimM<T>& mp, const char* what) {
  BackwardInput<T, Cfg::BM, Cfg::BN, Cfg::kThreads, Sim> prob{GemmPlan{}, G, dy, w, dx, mp};
  return fit_and_launch<Cfg>(
      prob, Sim, [&](int kstep, int ks) { return backward_input_plan(G, Cfg::BM, Cfg::BN, kstep, ks); }, what);
}

template <class T, bool Sim>
int run_backward_input(const ConvGeom& G, const T* dy, const T* w, T* dx, const SimM<T>& mp, const char* what) {
  if constexpr (!std::is_same<T, float>::value) {
    return backward_input_with<Cfg64x128<T, false>, Sim>(G, dy, w, dx, mp, what);
  } else {
    int st = kNoFit;
    if (use_tf32<T>()) {
      if (G.cg > 64) st = backward_input_with<Cfg128x128<T, true>, Sim>(G, dy, w, dx, mp, what);
      if (st == kNoFit) st = backward_input_with<Cfg64x128<T, true>, Sim>(G, dy, w, dx, mp, what);
    } else {
      if (G.cg > 64) st = backward_input_with<Cfg128x128<T, false>, Sim>(G, dy, w, dx, mp, what);
      if (st == kNoFit) st = backward_input_with<Cfg64x128<T, false>, Sim>(G, dy, w, dx, mp, what);
    }
    return st;
  }
}

// dw = ∂y/∂wᵀ dy, reduced over positions with split-K (Sim: X̃ in the A loader, tiles of whole channels).
template <class Cfg, bool Sim, class T>
int backward_weight_with(const ConvGeom& G, const T* x, const T* dy, T* dw, const SimM<T>& mp, const char* what) {
  using Prob = BackwardWeight<T, Cfg::BM, Cfg::BN, Cfg::kThreads, Sim>;
  Prob prob{GemmPlan{}, G, igemm::dy_geom(G), x, dy, dw, mp};
  if (Sim && G.taps > Cfg::BM) return kNoFit;
  for (int ks = plain_ks<T>(); ks >= 8; ks /= 2) {
    prob.plan = backward_weight_plan(G, Cfg::BM, Cfg::BN, ks, Sim);
    if (!fit_stages<Cfg, Prob>(prob.plan)) continue;
    set_splits(prob.plan, 4);
    prob.vectorize();
    return igemm::launch<Cfg>(prob, what);
  }
  return kNoFit;
}

template <class T, bool Sim>
int run_backward_weight(const ConvGeom& G, const T* x, const T* dy, T* dw, const SimM<T>& mp, const char* what) {
  if constexpr (!std::is_same<T, float>::value) {
    return backward_weight_with<Cfg128x64<T, false>, Sim>(G, x, dy, dw, mp, what);
  } else {
    int st = kNoFit;
    if (use_tf32<T>()) {
      if (G.fg > 64) st = backward_weight_with<Cfg128x128<T, true>, Sim>(G, x, dy, dw, mp, what);
      if (st == kNoFit) st = backward_weight_with<Cfg128x64<T, true>, Sim>(G, x, dy, dw, mp, what);
    } else {
      if (G.fg > 64) st = backward_weight_with<Cfg128x128<T, false>, Sim>(G, x, dy, dw, mp, what);
      if (st == kNoFit) st = backward_weight_with<Cfg128x64<T, false>, Sim>(G, x, dy, dw, mp, what);
    }
    return st;
  }
}

// Threads of the reduction kernels (one block per reduced value).
constexpr int kReduceThreads = 256;

// Σ of v over the block's kReduceThreads threads in a fixed tree order (common.cuh's group_reduce); every
// thread gets the sum.
template <class T>
__device__ T block_sum(T v) {
  __shared__ T part[kReduceThreads];
  return group_reduce<kReduceThreads>(v, part, [](T a, T b) { return a + b; });
}

// Plain conv2d's weight gradient (dw overwritten) and bias gradient, shared with the static similarity
// forms (similarity.cu). Implemented in conv.cu for float and double.
template <class T>
int weight_grad(const ns_conv2d_desc& d, const T* x, const T* dy, T* dw);
template <class T>
int bias_grad(const ns_conv2d_desc& d, const T* dy, T* dbias);

}  // namespace conv
}  // namespace cuda
}  // namespace ns
#endif

#endif
