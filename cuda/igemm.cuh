// The tiled implicit-GEMM core of the CUDA backend: matmul, conv2d and the neural-similarity convolutions
// (cuda/matmul.cu, conv.cu, similarity.cu) are all C[M×N] = A[M×K]·B[K×N] over operands that are gathered
// from tensors tile by tile and never stored whole.
//
// A problem (matmul.cu's MatmulProblem, conv.cuh's problems) names two operand loaders, an optional
// transform of one operand's tile and an epilogue `store(z, m, n, v)`; a GemmPlan cuts it into CTA tiles:
//
//   grid.x   tiles of (mstride rows × nstride columns) of C, columns fastest; a tile is held as BM × BN
//            accumulators (mstride ≤ BM: a similarity tile of whole channels may leave rows unused)
//   grid.z   batch entries (groups, matmul batch) × split-K parts, chunked by 65,535 per launch
//   k        k-tiles of kstep reduction indices held in ks ≥ kstep shared-memory columns (ks a multiple
//            of 8; columns past kstep are zero), split-K parts taking balanced runs of k-tiles
//
// Data flow per CTA (mainloop): a `stages`-deep ring of shared-memory stages (2 or 3, chosen by the host),
// each holding one k-tile of A (BM × ks) and B (ks × BN), filled by every thread of the CTA through the
// loaders with cp.async on sm_80+ (one element per copy for gathers, 16 bytes for dense operands whose
// strides allow it; zero-fill for padding and out-of-range elements), and plain loads below. When a tile has landed (cp.async.wait_group + __syncthreads), the transform, if
// any, rewrites it into a separate buffer in registers (similarity_transform.cuh), then the warps multiply
// it (mma.cuh: TF32 mma.sync or FMA). The next k-tile's copies are issued before the multiplication, so
// loads overlap compute. Accumulators go to the problem's store, or, with split-K, to a partial buffer
// [split][z][M][N] that splitk_finish_kernel sums in split order (the same bits on every run: no atomics).
//
// Everything above the `__CUDACC__` section is NS_HD index arithmetic that test/cuda-host/igemm_test.cc
// runs on the CPU: the loaders take a `copy(dst, src)` functor (cp.async on the device, assignment there;
// src null means zero).
#ifndef NEURAL_SIMILARITY_CUDA_IGEMM_CUH
#define NEURAL_SIMILARITY_CUDA_IGEMM_CUH

#include <cstdint>
#include <type_traits>

#include "host_device.h"
#include "kernels.h"
#include "mma.cuh"

namespace ns {
namespace cuda {
namespace igemm {

NS_HD inline int min_int(int a, int b) { return a < b ? a : b; }
NS_HD inline int64_t round_up(int64_t v, int64_t to) { return (v + to - 1) / to * to; }

NS_HD inline uint32_t umulhi32(uint32_t a, uint32_t b) {
#ifdef __CUDA_ARCH__
  return __umulhi(a, b);
#else
  return static_cast<uint32_t>((static_cast<uint64_t>(a) * b) >> 32);
#endif
}

// Division of numerators in [0, 2^31) by a run-time constant d ≥ 1, as a multiply-high and a shift
// (Granlund–Montgomery; CUTLASS's FastDivmod): with l = ⌈log2 d⌉, p = 31 + l and mul = ⌈2^p / d⌉,
// n / d = (n · mul) >> p for every such n.
struct FastDivmod {
  int d;
  uint32_t mul;
  int shift;
  NS_HD FastDivmod() : d(1), mul(0), shift(0) {}
  NS_HD explicit FastDivmod(int divisor) : d(divisor), mul(0), shift(0) {
    if (divisor > 1) {
      int l = 0;
      while ((int64_t(1) << l) < divisor) ++l;
      const int p = 31 + l;
      mul = static_cast<uint32_t>(((uint64_t(1) << p) + static_cast<uint64_t>(divisor) - 1) /
                                  static_cast<uint64_t>(divisor));
      shift = p - 32;
    }
  }
  NS_HD int div(int n) const { return d == 1 ? n : static_cast<int>(umulhi32(static_cast<uint32_t>(n), mul) >> shift); }
};

// ------------------------------------------------------------------ convolution geometry

// A convolution's sizes as 32-bit integers (conv_fits_int32 checks that they fit, including the position
// and pixel counts used as GEMM columns) with the divisors the loaders need.
struct ConvGeom {
  int n, c, h, w, f, kh, kw, taps, groups, cg, fg;
  int sh, sw, ph, pw, dh, dw, ho, wo, plane, hw;
  FastDivmod taps_d, kw_d, plane_d, wo_d, hw_d, w_d, sh_d, sw_d;
  NS_HD int positions() const { return n * plane; }  // output positions (n, oh, ow)
  NS_HD int pixels() const { return n * hw; }         // input pixels (n, ih, iw)
};

inline bool conv_fits_int32(const ns_conv2d_desc& d) {
  const int64_t lim = int64_t(1) << 30;  // headroom: sums of two such values stay below 2^31
  const int64_t v[] = {d.n, d.c, d.h, d.w, d.f, d.kh, d.kw, d.groups, d.stride_h, d.stride_w, d.pad_h, d.pad_w,
                       d.dil_h, d.dil_w, d.ho, d.wo, d.n * d.ho * d.wo, d.n * d.h * d.w, d.c * d.kh * d.kw,
                       d.f * d.kh * d.kw, d.kh * d.dil_h + d.h + d.pad_h, d.kw * d.dil_w + d.w + d.pad_w,
                       d.ho * d.stride_h + d.pad_h, d.wo * d.stride_w + d.pad_w};
  for (int64_t x : v)
    if (x < 0 || x >= lim) return false;
  return true;
}

inline ConvGeom make_geom(const ns_conv2d_desc& d) {
  ConvGeom G;
  G.n = static_cast<int>(d.n);
  G.c = static_cast<int>(d.c);
  G.h = static_cast<int>(d.h);
  G.w = static_cast<int>(d.w);
  G.f = static_cast<int>(d.f);
  G.kh = static_cast<int>(d.kh);
  G.kw = static_cast<int>(d.kw);
  G.taps = G.kh * G.kw;
  G.groups = static_cast<int>(d.groups);
  G.cg = G.c / G.groups;
  G.fg = G.f / G.groups;
  G.sh = static_cast<int>(d.stride_h);
  G.sw = static_cast<int>(d.stride_w);
  G.ph = static_cast<int>(d.pad_h);
  G.pw = static_cast<int>(d.pad_w);
  G.dh = static_cast<int>(d.dil_h);
  G.dw = static_cast<int>(d.dil_w);
  G.ho = static_cast<int>(d.ho);
  G.wo = static_cast<int>(d.wo);
  G.plane = G.ho * G.wo;
  G.hw = G.h * G.w;
  G.taps_d = FastDivmod(G.taps);
  G.kw_d = FastDivmod(G.kw);
  G.plane_d = FastDivmod(G.plane);
  G.wo_d = FastDivmod(G.wo);
  G.hw_d = FastDivmod(G.hw);
  G.w_d = FastDivmod(G.w);
  G.sh_d = FastDivmod(G.sh);
  G.sw_d = FastDivmod(G.sw);
  return G;
}

// dy [n, f, ho, wo] seen as the input of a 1×1 convolution with the same groups: its patch matrix has
// rows f (one tap) and columns the output positions, so the patch loaders also read dy.
inline ConvGeom dy_geom(const ConvGeom& G) {
  const ns_conv2d_desc d{G.n, G.f, G.ho, G.wo, G.f, 1, 1, G.groups, 1, 1, 0, 0, 1, 1, G.ho, G.wo};
  return make_geom(d);
}

// Offset oh·wo + ow within its plane of the output position whose tap (i, j) reads input pixel (qh, qw),
// given qhp = qh + pad_h and qwp = qw + pad_w; −1 when there is none (the tap falls between strides or
// outside the output). This is the gather behind the gradient of the input.
NS_HD inline int dgrad_offset(const ConvGeom& G, int qhp, int qwp, int i, int j) {
  const int th = qhp - i * G.dh, tw = qwp - j * G.dw;
  if (th < 0 || tw < 0) return -1;
  const int oh = G.sh_d.div(th), ow = G.sw_d.div(tw);
  if (oh * G.sh != th || ow * G.sw != tw || oh >= G.ho || ow >= G.wo) return -1;
  return oh * G.wo + ow;
}

// The same for tap b = i·kw + j.
NS_HD inline int dgrad_tap_offset(const ConvGeom& G, int qhp, int qwp, int b) {
  const int i = G.kw_d.div(b);
  return dgrad_offset(G, qhp, qwp, i, b - i * G.kw);
}

// A row k = c·taps + i·kw + j of a patch matrix (c a channel, or a filter for dy's gather) as (c, i, j),
// advanced by a fixed step without divisions: with step = sc·taps + si·kw + sj (RowStep, 0 ≤ sj < kw,
// 0 ≤ si < kh), j + sj carries at most once into i and i + si + 1 at most once into c.
struct RowStep {
  int c, i, j;
  NS_HD RowStep(const ConvGeom& G, int step) : c(G.taps_d.div(step)), i(0), j(0) {
    const int a = step - c * G.taps;
    i = G.kw_d.div(a);
    j = a - i * G.kw;
  }
};

struct RowCursor {
  int c, i, j;
  NS_HD RowCursor(const ConvGeom& G, int k) : c(G.taps_d.div(k)), i(0), j(0) {
    const int a = k - c * G.taps;
    i = G.kw_d.div(a);
    j = a - i * G.kw;
  }
  NS_HD void advance(const ConvGeom& G, const RowStep& s) {
    j += s.j;
    i += s.i;
    c += s.c;
    if (j >= G.kw) {
      j -= G.kw;
      ++i;
    }
    if (i >= G.kh) {
      i -= G.kh;
      ++c;
    }
  }
};

// ------------------------------------------------------------------ plans

// One CTA's share of a problem.
struct CtaTile {
  int z, split;        // batch entry, split-K part
  int m0, n0;          // first row and column of C
  int mcount, ncount;  // rows and columns of C it owns (≤ BM, BN)
  int kt0, kt1;        // k-tiles [kt0, kt1)
};

// How a problem is cut (see the file comment). Pure data: the host fills it from the problem's shape, the
// tile config and the device (SM count, shared memory), so a given problem on a given device always runs
// the same tiles in the same order.
struct GemmPlan {
  int m, n, k;           // C is m × n per batch entry; k reduction indices
  int mstride, nstride;  // rows and columns of C per tile
  int mtiles, ntiles;
  int kstep, ks, ktiles;  // reduction indices per k-tile, shared-memory columns per k-tile, k-tiles
  int batches, splits;
  int stages;  // shared-memory ring depth (2 or 3)

  NS_HD CtaTile cta(int64_t bx, int zz) const {
    CtaTile t;
    const int mt = static_cast<int>(bx / ntiles), nt = static_cast<int>(bx % ntiles);
    t.z = zz / splits;
    t.split = zz - t.z * splits;
    t.m0 = mt * mstride;
    t.n0 = nt * nstride;
    t.mcount = min_int(mstride, m - t.m0);
    t.ncount = min_int(nstride, n - t.n0);
    t.kt0 = static_cast<int>(static_cast<int64_t>(ktiles) * t.split / splits);
    t.kt1 = static_cast<int>(static_cast<int64_t>(ktiles) * (t.split + 1) / splits);
    return t;
  }
  NS_HD int k0(int kt) const { return kt * kstep; }
  NS_HD int kcount(int kt) const { return min_int(kstep, k - kt * kstep); }
  NS_HD int64_t tiles() const { return static_cast<int64_t>(mtiles) * ntiles; }
  // Where split `split` puts C(z, row, col) in the partial buffer [splits][batches][m][n].
  NS_HD int64_t partial_index(int split, int z, int row, int col) const {
    return ((static_cast<int64_t>(split) * batches + z) * m + row) * n + col;
  }
  NS_HD int64_t partial_elems() const { return static_cast<int64_t>(splits) * batches * m * n; }
};

// A plan with tiles of (mstride × nstride), k-tiles of kstep indices in ks columns, one split.
inline GemmPlan make_plan(int m, int n, int k, int mstride, int nstride, int kstep, int ks, int batches, int stages) {
  GemmPlan p;
  p.m = m;
  p.n = n;
  p.k = k;
  p.mstride = mstride;
  p.nstride = nstride;
  p.mtiles = (m + mstride - 1) / mstride;
  p.ntiles = (n + nstride - 1) / nstride;
  p.kstep = kstep;
  p.ks = ks;
  p.ktiles = (k + kstep - 1) / kstep;
  p.batches = batches;
  p.splits = 1;
  p.stages = stages;
  return p;
}

// Split-K parts for a plan: enough CTAs for two waves over `sms` multiprocessors when the tiles alone are
// too few, each part keeping at least `min_ktiles` k-tiles; at most 256 parts (a weight gradient's few
// tiles over a long reduction take many; the caller also bounds the partial buffer).
inline int choose_splits(const GemmPlan& p, int sms, int min_ktiles) {
  const int64_t ctas = p.tiles() * p.batches, want = 2 * static_cast<int64_t>(sms);
  if (ctas >= want || p.ktiles < 2 * min_ktiles) return 1;
  int64_t s = (want + ctas - 1) / ctas;
  if (s > p.ktiles / min_ktiles) s = p.ktiles / min_ktiles;
  if (s > 256) s = 256;
  return s < 1 ? 1 : static_cast<int>(s);
}

// Shared memory of a CTA, in elements: `stages` × (A tile + B tile), then the transformed operand's
// buffer when there is a transform (1: of A, 2: of B).
struct SmemLayout {
  int lda, ldb, a_elems, b_elems, stage_elems, x_offset, x_elems, total;
};

NS_HD inline SmemLayout smem_layout(int BM, int BN, int ks, bool a_kmajor, bool b_kmajor, int stages,
                                    int transform) {
  SmemLayout L;
  L.lda = mma::tile_ld(a_kmajor, BM, ks);
  L.ldb = mma::tile_ld(b_kmajor, BN, ks);
  L.a_elems = a_kmajor ? BM * L.lda : ks * L.lda;
  L.b_elems = b_kmajor ? BN * L.ldb : ks * L.ldb;
  // Stages start on 16-byte boundaries (4 floats, 2 doubles: keep 4 elements).
  L.a_elems = static_cast<int>(round_up(L.a_elems, 4));
  L.b_elems = static_cast<int>(round_up(L.b_elems, 4));
  L.stage_elems = L.a_elems + L.b_elems;
  L.x_offset = stages * L.stage_elems;
  L.x_elems = transform == 1 ? L.a_elems : transform == 2 ? L.b_elems : 0;
  L.total = L.x_offset + L.x_elems;
  return L;
}

// ------------------------------------------------------------------ tile configurations

// A CTA of WARPS_M × WARPS_N warps computing BM × BN outputs; Tf32 selects the tensor-core warp tile.
template <class T_, bool Tf32, int BM_, int BN_, int WARPS_M_, int WARPS_N_>
struct TileConfig {
  using T = T_;
  static constexpr bool kTf32 = Tf32;
  static constexpr int BM = BM_, BN = BN_, WARPS_M = WARPS_M_, WARPS_N = WARPS_N_;
  static constexpr int kThreads = 32 * WARPS_M * WARPS_N, WM = BM / WARPS_M, WN = BN / WARPS_N;
  using Warp = typename std::conditional<Tf32, mma::MmaWarp<WM, WN>, mma::FmaWarp<WM, WN>>::type;
  static constexpr int kAcc = Warp::kAcc;
  // CTAs per SM the registers are budgeted for: 2 (≤ 128 registers) unless a thread holds 64 or more
  // accumulators, which get the whole register file of one CTA instead of spilling.
  static constexpr int kMinBlocks = kAcc * sizeof(T) >= 64 * 4 ? 1 : 2;

  // (row, column) in the CTA tile of accumulator i of thread tid.
  NS_HD static mma::Coord acc_coord(int tid, int i) {
    const int warp = tid >> 5;
    const mma::Coord c = Warp::acc(tid & 31, i);
    return {c.row + (warp / WARPS_N) * WM, c.col + (warp % WARPS_N) * WN};
  }
};

// ------------------------------------------------------------------ operand loaders
//
// A loader fills one k-tile of an operand: MN rows (A's rows or B's columns) by ks k-columns, columns
// past kcount and rows past the tile's valid rows zero. Thread mappings (THREADS a multiple of MN):
//   MN-contiguous tiles ([ks][MN + 8]): thread tid owns row tid % MN and k-columns tid / MN + j·(THREADS/MN),
//     so that a warp reads 32 consecutive output positions / pixels / rows and writes 32 consecutive words;
//     what depends only on the row is computed once (init) and kept in registers for the whole k-loop.
//   k-contiguous tiles ([MN][ks + 4]): lane owns k-columns lane + 32·j, warp w rows w + j·(THREADS/32).

// Elements per vector copy of a dense operand (16 bytes of float, two 16-byte copies of double).
constexpr int kVec = 4;

// Whether a strided operand (element (mn, k) at base[mn·rs + k·cs], batch entries bs apart) can be staged
// kVec elements at a time: unit stride along its staging order's contiguous axis (k when kmajor, mn
// otherwise), the other strides and the tile origins along that axis (multiples of `step`: kstep, or the
// tile stride along mn) multiples of kVec, and a 16-byte aligned base.
template <class T>
inline bool dense_vectorizable(const T* base, bool kmajor, int64_t rs, int64_t cs, int64_t bs, int step) {
  const bool unit = kmajor ? cs == 1 : rs == 1;
  const int64_t other = kmajor ? rs : cs;
  return unit && other % kVec == 0 && bs % kVec == 0 && step % kVec == 0 &&
         reinterpret_cast<uintptr_t>(base) % 16 == 0;
}

// Element (mn, k) = base[mn·rs + k·cs]: a strided matrix (matmul operands, conv weights). With `vec`
// (dense_vectorizable), kVec consecutive elements along the contiguous axis per copy (copy.vec: cp.async
// of 16 bytes, zero-filling past the valid ones): along k, 8 lanes cover 32 columns of a row; along mn,
// MN/kVec lanes cover a k-column.
template <class T, int MN, int THREADS, bool KMajor>
struct DenseLoader {
  static_assert(THREADS % 32 == 0 && (KMajor || THREADS % MN == 0), "a load maps whole rows of threads");
  static_assert(THREADS % (MN / kVec) == 0, "a vector load maps whole rows of threads");
  static constexpr bool kKMajor = KMajor;
  struct Thread {};
  const T* base;   // element (0, 0) of the tile
  int64_t rs, cs;  // row and column strides
  int rows;        // valid rows
  bool vec;
  NS_HD Thread init(int) const { return Thread{}; }
  template <class Copy>
  NS_HD void load(const Thread&, int tid, T* s, int ld, int k0, int kcount, int ks, const Copy& copy) const {
    if (vec && KMajor) {
      for (int kk = (tid & 7) * kVec; kk < ks; kk += 8 * kVec)
        for (int mn = tid >> 3; mn < MN; mn += THREADS / 8) {
          const int valid = mn < rows ? clamp_count(kcount - kk) : 0;
          copy.vec(&s[mn * ld + kk], valid > 0 ? base + mn * rs + (k0 + kk) : base, valid);
        }
    } else if (vec) {
      const int mn = (tid % (MN / kVec)) * kVec;
      for (int kk = tid / (MN / kVec); kk < ks; kk += THREADS / (MN / kVec)) {
        const int valid = kk < kcount ? clamp_count(rows - mn) : 0;
        copy.vec(&s[kk * ld + mn], valid > 0 ? base + mn + static_cast<int64_t>(k0 + kk) * cs : base, valid);
      }
    } else if (KMajor) {
      for (int kk = tid & 31; kk < ks; kk += 32)
        for (int mn = tid >> 5; mn < MN; mn += THREADS / 32) {
          const bool ok = mn < rows && kk < kcount;
          copy(&s[mn * ld + kk], ok ? base + mn * rs + static_cast<int64_t>(k0 + kk) * cs : nullptr);
        }
    } else {
      const int mn = tid % MN;
      for (int kk = tid / MN; kk < ks; kk += THREADS / MN) {
        const bool ok = mn < rows && kk < kcount;
        copy(&s[kk * ld + mn], ok ? base + mn * rs + static_cast<int64_t>(k0 + kk) * cs : nullptr);
      }
    }
  }
  // Elements of a vector that lie inside the operand, given how many remain from its first.
  NS_HD static int clamp_count(int remaining) { return remaining < 0 ? 0 : remaining > kVec ? kVec : remaining; }
};

// The patch matrix of x (im2col, never stored): rows k = (c, tap) of the group's channels, columns the
// output positions (n, oh, ow); element = x[n, c_off + c, oh·sh − ph + i·dh, ow·sw − pw + j·dw] or zero
// outside the image. MN-contiguous (columns along lanes).
template <class T, int MN, int THREADS>
struct PatchLoader {
  static_assert(THREADS % MN == 0, "a load maps whole rows of threads");
  static constexpr bool kKMajor = false;
  struct Thread {
    const T* img;  // x at (n, c_off, 0, 0) of the thread's column
    int ih0, iw0;  // oh·sh − ph, ow·sw − pw
    bool ok;       // the column is a position
  };
  const T* x;
  const ConvGeom& G;
  int c_off;  // first channel of the group
  int col0;   // first column of the tile
  int cols;   // valid columns

  NS_HD Thread init(int tid) const {
    Thread t;
    const int j = tid % MN;
    t.ok = j < cols;
    const int col = t.ok ? col0 + j : 0;
    const int img = G.plane_d.div(col), p = col - img * G.plane;
    const int oh = G.wo_d.div(p), ow = p - oh * G.wo;
    t.img = x + (static_cast<int64_t>(img) * G.c + c_off) * G.hw;
    t.ih0 = oh * G.sh - G.ph;
    t.iw0 = ow * G.sw - G.pw;
    return t;
  }
  template <class Copy>
  NS_HD void load(const Thread& t, int tid, T* s, int ld, int k0, int kcount, int ks, const Copy& copy) const {
    const int mn = tid % MN, first = tid / MN;
    const RowStep step(G, THREADS / MN);
    RowCursor r(G, k0 + first);
    for (int kk = first; kk < ks; kk += THREADS / MN, r.advance(G, step)) {
      const T* src = nullptr;
      if (t.ok && kk < kcount) {
        const int ih = t.ih0 + r.i * G.dh, iw = t.iw0 + r.j * G.dw;
        if (ih >= 0 && ih < G.h && iw >= 0 && iw < G.w) src = t.img + static_cast<int64_t>(r.c) * G.hw + ih * G.w + iw;
      }
      copy(&s[kk * ld + mn], src);
    }
  }
};

// The patch matrix transposed, for the weight gradient: rows mn = (c, tap) (row0 + mn, `rows` valid), k the
// output positions. k-contiguous (positions along lanes); a column's position is decoded once per k-tile.
template <class T, int MN, int THREADS>
struct PatchTLoader {
  static constexpr bool kKMajor = true;
  struct Thread {};
  const T* x;
  const ConvGeom& G;
  int c_off;  // first channel of the group
  int row0;   // first row (c, tap) of the tile
  int rows;   // valid rows

  NS_HD Thread init(int) const { return Thread{}; }
  template <class Copy>
  NS_HD void load(const Thread&, int tid, T* s, int ld, int k0, int kcount, int ks, const Copy& copy) const {
    for (int kk = tid & 31; kk < ks; kk += 32) {
      const bool pos_ok = kk < kcount;
      const int col = pos_ok ? k0 + kk : 0;
      const int img = G.plane_d.div(col), p = col - img * G.plane;
      const int oh = G.wo_d.div(p), ow = p - oh * G.wo;
      const T* base = x + (static_cast<int64_t>(img) * G.c + c_off) * G.hw;
      const int ih0 = oh * G.sh - G.ph, iw0 = ow * G.sw - G.pw;
      const RowStep step(G, THREADS / 32);
      RowCursor r(G, row0 + (tid >> 5));
      for (int mn = tid >> 5; mn < MN; mn += THREADS / 32, r.advance(G, step)) {
        const T* src = nullptr;
        if (pos_ok && mn < rows) {
          const int ih = ih0 + r.i * G.dh, iw = iw0 + r.j * G.dw;
          if (ih >= 0 && ih < G.h && iw >= 0 && iw < G.w) src = base + static_cast<int64_t>(r.c) * G.hw + ih * G.w + iw;
        }
        copy(&s[mn * ld + kk], src);
      }
    }
  }
};

// dy gathered for the gradient of the input: rows k = (f, tap) of the group's filters, columns the input
// pixels q = (n, qh, qw); element = dy[n, f_off + f, p(q, tap)] with p(q, tap) the output position whose
// tap reads q (dgrad_tap_offset), zero when there is none. MN-contiguous (pixels along lanes).
template <class T, int MN, int THREADS>
struct DyGatherLoader {
  static_assert(THREADS % MN == 0, "a load maps whole rows of threads");
  static constexpr bool kKMajor = false;
  struct Thread {
    const T* img;  // dy at (n, f_off, 0, 0) of the thread's pixel
    int qhp, qwp;  // qh + ph, qw + pw
    bool ok;
  };
  const T* dy;
  const ConvGeom& G;
  int f_off;  // first filter of the group
  int col0, cols;

  NS_HD Thread init(int tid) const {
    Thread t;
    const int j = tid % MN;
    t.ok = j < cols;
    const int q = t.ok ? col0 + j : 0;
    const int img = G.hw_d.div(q), r = q - img * G.hw;
    const int qh = G.w_d.div(r), qw = r - qh * G.w;
    t.img = dy + (static_cast<int64_t>(img) * G.f + f_off) * G.plane;
    t.qhp = qh + G.ph;
    t.qwp = qw + G.pw;
    return t;
  }
  template <class Copy>
  NS_HD void load(const Thread& t, int tid, T* s, int ld, int k0, int kcount, int ks, const Copy& copy) const {
    const int mn = tid % MN, first = tid / MN;
    const RowStep step(G, THREADS / MN);
    RowCursor r(G, k0 + first);  // (f, i, j)
    for (int kk = first; kk < ks; kk += THREADS / MN, r.advance(G, step)) {
      const T* src = nullptr;
      if (t.ok && kk < kcount) {
        const int off = dgrad_offset(G, t.qhp, t.qwp, r.i, r.j);
        if (off >= 0) src = t.img + static_cast<int64_t>(r.c) * G.plane + off;
      }
      copy(&s[kk * ld + mn], src);
    }
  }
};

// The weights transposed per group for the gradient of the input: rows mn = the group's channels c
// (row0 + mn, `rows` valid), k = (f, tap): element = w[f_off + f, c, tap]. k-contiguous (a filter's taps
// are consecutive).
template <class T, int MN, int THREADS>
struct WeightTLoader {
  static constexpr bool kKMajor = true;
  struct Thread {};
  const T* w;
  const ConvGeom& G;
  int f_off, row0, rows;

  NS_HD Thread init(int) const { return Thread{}; }
  template <class Copy>
  NS_HD void load(const Thread&, int tid, T* s, int ld, int k0, int kcount, int ks, const Copy& copy) const {
    for (int kk = tid & 31; kk < ks; kk += 32) {
      const bool k_ok = kk < kcount;
      const int k = k_ok ? k0 + kk : 0, f = G.taps_d.div(k), a = k - f * G.taps;
      const T* col = w + static_cast<int64_t>(f_off + f) * G.cg * G.taps + a;
      for (int mn = tid >> 5; mn < MN; mn += THREADS / 32)
        copy(&s[mn * ld + kk], k_ok && mn < rows ? col + static_cast<int64_t>(row0 + mn) * G.taps : nullptr);
    }
  }
};

// ------------------------------------------------------------------ matmul

// The contract's batched strided product: C_z[i, j] = Σ_k A_z[i, k]·B_z[k, j] (+ C when accumulate), with
// A_z[i, k] = a[z·a_bs + i·a_rs + k·a_cs] and B_z[k, j] = b[z·b_bs + k·b_rs + j·b_cs]; C dense [batch, m, n].
// AK / BK: which operand tiles are staged k-contiguous (chosen from the strides, see matmul.cu).
template <class T_, int BM, int BN, int THREADS, bool AK, bool BK>
struct MatmulProblem {
  using T = T_;
  using ALoader = DenseLoader<T, BM, THREADS, AK>;
  using BLoader = DenseLoader<T, BN, THREADS, BK>;
  static constexpr int kTransform = 0;
  GemmPlan plan;
  const T *a, *b;
  T* c;
  int64_t a_bs, a_rs, a_cs, b_bs, b_rs, b_cs;
  bool accumulate;
  bool a_vec = false, b_vec = false;  // dense_vectorizable for each operand (set by the host)

  NS_HD ALoader a_loader(const CtaTile& t) const {
    return ALoader{a + t.z * a_bs + t.m0 * a_rs, a_rs, a_cs, t.mcount, a_vec};
  }
  NS_HD BLoader b_loader(const CtaTile& t) const {
    return BLoader{b + t.z * b_bs + t.n0 * b_cs, b_cs, b_rs, t.ncount, b_vec};
  }
  // Sets a_vec and b_vec for the plan's tiles.
  void vectorize() {
    a_vec = dense_vectorizable(a, AK, a_rs, a_cs, a_bs, AK ? plan.kstep : plan.mstride);
    b_vec = dense_vectorizable(b, BK, b_cs, b_rs, b_bs, BK ? plan.kstep : plan.nstride);
  }
  NS_HD void store(int z, int i, int j, T v) const {
    T& out = c[(static_cast<int64_t>(z) * plan.m + i) * plan.n + j];
    out = accumulate ? out + v : v;
  }
  NS_HD const T* dummy() const { return a; }
};

// ------------------------------------------------------------------ epilogues

// Thread tid's accumulators of a CTA tile (config Cfg) to the problem's store, or, with split-K, to the
// partial buffer: rows and columns outside the tile's valid part are dropped.
template <class Cfg, class Prob>
NS_HD void store_tile(const Prob& prob, const CtaTile& tile, int tid, const typename Prob::T (&acc)[Cfg::kAcc],
                      typename Prob::T* partial) {
  NS_UNROLL
  for (int i = 0; i < Cfg::kAcc; ++i) {
    const mma::Coord c = Cfg::acc_coord(tid, i);
    if (c.row >= tile.mcount || c.col >= tile.ncount) continue;
    if (prob.plan.splits == 1)
      prob.store(tile.z, tile.m0 + c.row, tile.n0 + c.col, acc[i]);
    else
      partial[prob.plan.partial_index(tile.split, tile.z, tile.m0 + c.row, tile.n0 + c.col)] = acc[i];
  }
}

// Σ_s part[s·size + i] over s = 0, 1, …, splits − 1, in that order.
template <class T>
NS_HD T sum_parts(const T* part, int splits, int64_t size, int64_t i) {
  T v = T(0);
  for (int s = 0; s < splits; ++s) v += part[s * size + i];
  return v;
}

// Element i of the C of every batch entry ([batches][m][n]) from the split-K partial buffer, stored.
template <class Prob>
NS_HD void finish_element(const Prob& prob, const typename Prob::T* partial, int64_t i) {
  const GemmPlan& P = prob.plan;
  const typename Prob::T v = sum_parts(partial, P.splits, static_cast<int64_t>(P.batches) * P.m * P.n, i);
  const int col = static_cast<int>(i % P.n);
  const int64_t zr = i / P.n;
  prob.store(static_cast<int>(zr / P.m), static_cast<int>(zr % P.m), col, v);
}

}  // namespace igemm
}  // namespace cuda
}  // namespace ns

#ifdef __CUDACC__
#include "common.cuh"

namespace ns {
namespace cuda {
namespace igemm {

// ------------------------------------------------------------------ device: staging copies

__device__ __forceinline__ void cp_async_commit() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}

template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

// One element into shared memory: cp.async (zero-filled when src is null; `dummy` is any valid global
// address to name in that case) on sm_80+, a plain load and store below.
template <class T>
struct AsyncCopy {
  const T* dummy;
  __device__ __forceinline__ void operator()(T* dst, const T* src) const {
#if __CUDA_ARCH__ >= 800
    const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(dst));
    asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(s), "l"(src ? src : dummy),
                 "n"(static_cast<int>(sizeof(T))), "r"(src ? static_cast<int>(sizeof(T)) : 0));
#else
    *dst = src ? *src : T(0);
#endif
  }
  // kVec elements (16-byte aligned at both ends), those past `valid` zero-filled; src is a valid address
  // even when valid is 0.
  __device__ __forceinline__ void vec(T* dst, const T* src, int valid) const {
#if __CUDA_ARCH__ >= 800
    constexpr int per = 16 / static_cast<int>(sizeof(T));  // elements per 16-byte copy
    NS_UNROLL
    for (int h = 0; h < kVec / per; ++h) {
      const int n = valid - h * per, bytes = (n < 0 ? 0 : n > per ? per : n) * static_cast<int>(sizeof(T));
      const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(dst + h * per));
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(bytes > 0 ? src + h * per : src),
                   "r"(bytes));
    }
#else
    NS_UNROLL
    for (int e = 0; e < kVec; ++e) dst[e] = e < valid ? src[e] : T(0);
#endif
  }
};

// ------------------------------------------------------------------ device: the mainloop

// Multiplies the resident k-tile: ks columns of A (BM × ks) and B (ks × BN) into the warp's accumulators.
template <class Cfg, class TA, class TB>
__device__ __forceinline__ void multiply_tile(typename Cfg::T (&acc)[Cfg::kAcc], const TA& A, const TB& B, int ks) {
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int m0 = (warp / Cfg::WARPS_N) * Cfg::WM, n0 = (warp % Cfg::WARPS_N) * Cfg::WN;
  if constexpr (Cfg::kTf32) {
    for (int kk = 0; kk < ks; kk += 8) mma::mma_step<Cfg::WM, Cfg::WN>(acc, A, B, m0, n0, kk, lane);
  } else {
#pragma unroll 4
    for (int k = 0; k < ks; ++k) Cfg::Warp::step(acc, A, B, m0, n0, k, lane);
  }
}

// acc += the CTA tile's product over k-tiles [tile.kt0, tile.kt1) (see the file comment). Ends with every
// copy drained; the caller syncs before reusing shared memory.
template <class Cfg, class Prob>
__device__ __forceinline__ void mainloop(const Prob& prob, const CtaTile& tile, typename Prob::T* smem,
                                         typename Prob::T (&acc)[Cfg::kAcc]) {
  using T = typename Prob::T;
  using AL = typename Prob::ALoader;
  using BL = typename Prob::BLoader;
  const GemmPlan& P = prob.plan;
  const int tid = threadIdx.x, S = P.stages;
  const SmemLayout L = smem_layout(Cfg::BM, Cfg::BN, P.ks, AL::kKMajor, BL::kKMajor, S, Prob::kTransform);
  const AL A = prob.a_loader(tile);
  const BL B = prob.b_loader(tile);
  const typename AL::Thread at = A.init(tid);
  const typename BL::Thread bt = B.init(tid);
  const AsyncCopy<T> copy{prob.dummy()};
  const int nk = tile.kt1 - tile.kt0;
  auto load = [&](int t) {
    T* s = smem + (t % S) * L.stage_elems;
    const int kt = tile.kt0 + t;
    A.load(at, tid, s, L.lda, P.k0(kt), P.kcount(kt), P.ks, copy);
    B.load(bt, tid, s + L.a_elems, L.ldb, P.k0(kt), P.kcount(kt), P.ks, copy);
  };
  for (int t = 0; t < S - 1; ++t) {
    if (t < nk) load(t);
    cp_async_commit();
  }
  for (int t = 0; t < nk; ++t) {
    if (S == 3)
      cp_async_wait<1>();
    else
      cp_async_wait<0>();
    __syncthreads();  // k-tile t landed for every thread; every warp is done with k-tile t − 1
    if (t + S - 1 < nk) load(t + S - 1);
    cp_async_commit();
    T* sa = smem + (t % S) * L.stage_elems;
    T* sb = sa + L.a_elems;
    if constexpr (Prob::kTransform != 0) {
      const int kt = tile.kt0 + t;
      T* x = smem + L.x_offset;
      if (Prob::kTransform == 1) {
        prob.transform(tile, P.k0(kt), P.kcount(kt), tid, Cfg::kThreads, sa, x, L.lda);
        sa = x;
      } else {
        prob.transform(tile, P.k0(kt), P.kcount(kt), tid, Cfg::kThreads, sb, x, L.ldb);
        sb = x;
      }
      __syncthreads();
    }
    multiply_tile<Cfg>(acc, mma::SmemTile<T, AL::kKMajor>{sa, L.lda}, mma::SmemTile<T, BL::kKMajor>{sb, L.ldb}, P.ks);
  }
  cp_async_wait<0>();
}

// One CTA tile of a problem: mainloop, then the problem's store (or the split-K partial buffer).
template <class Cfg, class Prob>
__global__ void __launch_bounds__(Cfg::kThreads, Prob::kTransform != 0 ? 1 : Cfg::kMinBlocks)
    igemm_kernel(const __grid_constant__ Prob prob, typename Prob::T* partial, int z0) {
  using T = typename Prob::T;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* smem = reinterpret_cast<T*>(smem_raw);
  const CtaTile tile = prob.plan.cta(blockIdx.x, z0 + static_cast<int>(blockIdx.z));
  T acc[Cfg::kAcc];
#pragma unroll
  for (int i = 0; i < Cfg::kAcc; ++i) acc[i] = T(0);
  mainloop<Cfg>(prob, tile, smem, acc);
  store_tile<Cfg>(prob, tile, threadIdx.x, acc, partial);
}

// C(z, row, col) = Σ_split partial[split][z][row][col], summed in split order, through the problem's store.
template <class Prob>
__global__ void splitk_finish_kernel(const __grid_constant__ Prob prob, const typename Prob::T* partial) {
  const GemmPlan& P = prob.plan;
  const int64_t total = static_cast<int64_t>(P.batches) * P.m * P.n;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    finish_element(prob, partial, i);
}

// ------------------------------------------------------------------ host: launching

// Device 0's opt-in shared memory per block, in bytes (cached).
inline int smem_optin_bytes() {
  static int bytes = -1;
  if (bytes < 0) {
    int dev = 0, v = 48 * 1024;
    if (cudaGetDevice(&dev) == cudaSuccess &&
        cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) == cudaSuccess)
      bytes = v;
    else
      bytes = 48 * 1024;
    cudaGetLastError();
  }
  return bytes;
}

// Ring depth for a device: 3 where cp.async overlaps copies with compute (sm_80+), 2 below.
inline int default_stages() { return compute_capability() >= 80 ? 3 : 2; }

// Bytes of shared memory a plan's CTA needs with config Cfg.
template <class Cfg, class Prob>
size_t smem_bytes(const GemmPlan& p) {
  const SmemLayout L = smem_layout(Cfg::BM, Cfg::BN, p.ks, Prob::ALoader::kKMajor, Prob::BLoader::kKMajor, p.stages,
                                   Prob::kTransform);
  return sizeof(typename Prob::T) * static_cast<size_t>(L.total);
}

// Opts `kernel` in to `bytes` of dynamic shared memory; `allowed` is the caller's record of what that
// kernel was already granted (one static per kernel instantiation).
template <class Kernel>
int allow_smem(Kernel kernel, size_t bytes, size_t& allowed, const char* what) {
  if (bytes <= allowed) return NS_OK;
  const int st =
      check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)), what);
  if (st == NS_OK) allowed = bytes;
  return st;
}

// Queues a problem: its CTA tiles (chunks of 65,535 in grid.z), then, with split-K, the finishing sums.
template <class Cfg, class Prob>
int launch(const Prob& prob, const char* what) {
  using T = typename Prob::T;
  const GemmPlan& p = prob.plan;
  if (p.m <= 0 || p.n <= 0 || p.batches <= 0) return NS_OK;
  const size_t bytes = smem_bytes<Cfg, Prob>(p);
  if (bytes > static_cast<size_t>(smem_optin_bytes()))
    return fail(NS_ERR_UNSUPPORTED, "%s: needs %zu bytes of shared memory per block, the device has %d", what, bytes,
                smem_optin_bytes());
  auto kernel = igemm_kernel<Cfg, Prob>;
  static size_t allowed = 48 * 1024;
  int st = allow_smem(kernel, bytes, allowed, what);
  if (st != NS_OK) return st;
  Scratch partial;
  if (p.splits > 1 && (st = partial.allocate(sizeof(T) * static_cast<size_t>(p.partial_elems()))) != NS_OK) return st;
  const int zs = p.batches * p.splits;
  for (int z0 = 0; z0 < zs; z0 += 65535) {
    const unsigned zc = static_cast<unsigned>(zs - z0 < 65535 ? zs - z0 : 65535);
    kernel<<<dim3(static_cast<unsigned>(p.tiles()), 1, zc), Cfg::kThreads, bytes, stream()>>>(prob, partial.as<T>(),
                                                                                                z0);
    if ((st = check_launch(what)) != NS_OK) return st;
  }
  if (p.splits > 1) {
    splitk_finish_kernel<Prob><<<blocks_for(static_cast<int64_t>(p.batches) * p.m * p.n, 256), 256, 0, stream()>>>(
        prob, partial.as<T>());
    if ((st = check_launch(what)) != NS_OK) return st;
  }
  return NS_OK;
}

}  // namespace igemm
}  // namespace cuda
}  // namespace ns

#endif  // __CUDACC__

#endif
