// conv2d on the CPU: implicit GEMMs over the GEMM core (gemm.h) whose operands are packed straight from
// the tensors by the packers of conv2d_pack.h, and direct loops (conv2d_direct.h) for grouped
// convolutions with few filters per group (depthwise), where a GEMM tile would be mostly padding.
// Per group g, with P_g the patch matrix (rows (c, i, j), columns (n, oh, ow)):
//
//   forward       Y_g = W_g · P_g           A: w read in place; B: pack_patches (x read in place for 1×1)
//   grad input    stride 1 and many channels: the forward convolution of dy with the flipped,
//                 transposed kernel (its weights packed from w in one pass);
//                 otherwise dP_g = W_gᵀ · dY_g, each tile added into dx where its patches came from
//                 (col2im as the GEMM's C view; B: dY_g, the patch matrix of a 1×1 convolution of dy)
//   grad weight   dW_gᵀ = P_g · dY_gᵀ, reduced over (n, oh, ow)
//                 A: pack_patches as row-major blocks (the kernels broadcast A, so no transpose);
//                 B: pack_dy_transposed; a row of ones under P_g yields dbias in the same product.
//                 Fewer rows of P than filters (few channels): dW_g = dY_g · P_gᵀ instead, dY_g read
//                 in place and the few rows of P transposed.
//
// Threads split the columns (positions) of the forward-type products; the weight gradient splits its
// reduction, or its rows when positions are few.
#include <algorithm>
#include <cstring>

#include "conv2d_direct.h"
#include "conv2d_pack.h"
#include "gemm.h"
#include "kernels.h"

namespace ns {
namespace {

using conv::Geometry;

// Blocking of the forward product: K per block (whole for K ≤ 640: the micro-kernels stream A and B from
// L2 at full speed, and C is then written once), and values per packed B block (L2-sized).
constexpr int64_t kForwardKc = 640;
constexpr int64_t kForwardB = 64 * 1024;
// Blocking of the weight gradient's product: reduction (positions) per block, and rows of P per A block
// at that kc (many rows: the packer's per-column set-up is done once per A block).
constexpr int64_t kWeightGradKc = 256;
constexpr int64_t kWeightGradMc = 512;
// Below this many channels per group, the gradient of a stride-1 convolution's input goes through
// col2im instead of the flipped forward convolution (whose GEMM would have only that many rows).
constexpr int64_t kMinFlippedChannels = 16;

// Forward C view: rows are the group's filters, columns (n, p) land in y[n, g·fg + f, p]. A tile's
// chunks may lie in different images; only a chunk that straddles two images goes through scatter.
template <class T>
struct ConvOutputView {
  T* y;
  const Geometry& G;
  int64_t g;
  T* at(int64_t f, int64_t col) const {
    const int64_t img = col / G.plane, p = col % G.plane;
    return y + (img * G.d.f + g * G.fg + f) * G.plane + p;
  }
  bool tile(int64_t m0, int64_t n0, int64_t, int64_t nr, int vw, gemm::CTile<T>* t) const {
    for (int64_t v = 0; v * vw < nr; ++v) {
      const int64_t col = n0 + v * vw, len = std::min<int64_t>(vw, nr - v * vw);
      if (col % G.plane + len > G.plane) return false;
      t->chunk[v] = at(m0, col);
    }
    t->ldc = G.plane;
    return true;
  }
  void scatter(const T* buf, int64_t ldb, int64_t m0, int64_t n0, int64_t mr, int64_t nr, int acc) const {
    for (int64_t t = 0; t < nr;) {
      const int64_t len = std::min(nr - t, G.plane - (n0 + t) % G.plane);
      T* out = at(m0, n0 + t);
      for (int64_t i = 0; i < mr; ++i) {
        T* o = out + i * G.plane;
        const T* s = buf + i * ldb + t;
        for (int64_t u = 0; u < len; ++u) o[u] = acc ? o[u] + s[u] : s[u];
      }
      t += len;
    }
  }
};

// Packs the A operand of a convolution GEMM once, for all K blocks: block kb (K columns [kb·kc, ...))
// at a + kb·mp·kc in panels of MR rows; pack_panel(dst, m0, rows, k0, kc) writes one panel.
template <class T, class PackPanel>
void prepack(T* a, int64_t M, int64_t K, int64_t kc, PackPanel&& pack_panel) {
  const int64_t MR = gemm::kernel<T>().mr, mp = gemm::round_up(M, MR), panels = mp / MR;
  const int64_t kblocks = (K + kc - 1) / kc;
  parallel_for(kblocks * panels, std::max<int64_t>(1, (int64_t(1) << 15) / (MR * kc)), [&](int64_t b, int64_t e) {
    for (int64_t item = b; item < e; ++item) {
      const int64_t kb = item / panels, m0 = (item % panels) * MR, k0 = kb * kc, kcur = std::min(kc, K - k0);
      pack_panel(a + kb * mp * kc + m0 * kcur, m0, std::min(MR, M - m0), k0, kcur);
    }
  });
}

// Whether P is x itself: a 1×1 convolution with stride 1 and no padding has the channel planes of x as
// the rows of P (each image's columns contiguous).
bool patch_block_in_place(const Geometry& G) {
  const ns_conv2d_desc& d = G.d;
  return G.taps == 1 && d.stride_h == 1 && d.stride_w == 1 && d.pad_h == 0 && d.pad_w == 0 && d.ho == d.h &&
         d.wo == d.w;
}

// A block of P_g as the GEMM's B operand: rows [k0, k0 + kc), columns [n0, n0 + nc). Read in place when P
// is x and the block lies in one image (unless the kernels' reads past its last column would leave x);
// otherwise packed by pack_patches.
template <class T>
gemm::BPanels<T> patch_block(T* dst, const T* x, const Geometry& G, int64_t g, int64_t k0, int64_t kc, int64_t n0,
                             int64_t nc) {
  const gemm::MicroKernel<T>& uk = gemm::kernel<T>();
  const ns_conv2d_desc& d = G.d;
  const int64_t img = n0 / G.plane, p = n0 % G.plane;
  if (patch_block_in_place(G) && p + nc <= G.plane) {
    const int64_t first = ((img * d.c + g * G.cg + k0) * G.plane) + p;
    if (first + (kc - 1) * G.plane + gemm::round_up(nc, uk.vw) <= d.n * d.c * G.plane)
      return gemm::BPanels<T>{x + first, uk.nr, G.plane};
  }
  conv::pack_patches(dst, x, G, g, k0, kc, n0, nc, uk.nr);
  return gemm::BPanels<T>{dst, uk.nr * kc, uk.nr};
}

// The blocks prepack wrote.
template <class T>
gemm::APanels<T> prepacked_block(const T* a, int64_t M, int64_t kc, int64_t m0, int64_t k0, int64_t kcur) {
  const int64_t MR = gemm::kernel<T>().mr;
  return gemm::APanels<T>{a + (k0 / kc) * gemm::round_up(M, MR) * kc + m0 * kcur, MR * kcur, 1, MR};
}

// The patch matrix of x as the B operand of forward-type products (see patch_block). A fused variant
// (e.g. X̃_p = M_p·P_p) supplies its own functor with this call.
template <class T>
struct Patches {
  const T* x;
  const Geometry& G;
  gemm::BPanels<T> operator()(T* dst, int64_t g, int64_t k0, int64_t kc, int64_t n0, int64_t nc) const {
    return patch_block(dst, x, G, g, k0, kc, n0, nc);
  }
};

// Implicit-GEMM forward of every group: Y_g = W_g · P_g, with W_g read through weights.block(g, m0, k0,
// kc) -> APanels (after weights.prepare(g, kc)) and P_g through patches(dst, g, k0, kc, n0, nc) ->
// BPanels. Columns are split across threads in chunks of VW; the weights are shared.
template <class T, class Weights, class PatchesB>
void forward_gemm(const Geometry& G, Weights&& weights, PatchesB&& patches, const T* bias, T* y) {
  const gemm::MicroKernel<T>& uk = gemm::kernel<T>();
  const int64_t NR = uk.nr, VW = uk.vw;
  const int64_t kc = gemm::balanced_block(G.k, kForwardKc, G.taps);  // a filter's taps share a block
  const int64_t chunks = (G.cols + VW - 1) / VW;
  const int threads = static_cast<int>(std::min<int64_t>(pool_size(), (G.cols + NR - 1) / NR));
  // Columns per B block: about kForwardB values (short K, as with few channels, gets wide blocks).
  const int64_t nc = std::clamp<int64_t>(kForwardB / kc / NR * NR, NR, 32 * NR), b_size = nc * kc;
  const gemm::Blocking blk{gemm::round_up(G.fg, uk.mr), kc, nc};
  Scratch b_scratch(sizeof(T) * b_size * threads);
  for (int64_t g = 0; g < G.d.groups; ++g) {
    weights.prepare(g, kc);
    const ConvOutputView<T> view{y, G, g};
    parallel_run(threads, [&](int tid, int nt) {
      const int64_t c0 = chunks * tid / nt * VW, c1 = std::min(G.cols, chunks * (tid + 1) / nt * VW);
      if (c0 >= c1) return;
      gemm::gemm_blocked<T>(
          blk, G.k, 0, G.fg, c0, c1,
          [&](T*, int64_t m0, int64_t, int64_t k0, int64_t kcur) { return weights.block(g, m0, k0, kcur); },
          [&](T* dst, int64_t k0, int64_t kcur, int64_t n0, int64_t ncur) {
            return patches(dst, g, k0, kcur, n0, ncur);
          },
          view, 0, bias ? bias + g * G.fg : nullptr, nullptr, b_scratch.as<T>() + tid * b_size);
    });
  }
}

// Few filters per group: a GEMM tile would be mostly padding.
bool use_direct(const Geometry& G) { return G.d.groups > 1 && G.fg * 2 < gemm::kernel_f32().mr; }

// The forward's A operand: W_g read in place, a row-major matrix (row f at w + (g·fg + f)·k).
template <class T>
struct DirectWeights {
  const T* w;
  const Geometry& G;
  void prepare(int64_t, int64_t) {}
  gemm::APanels<T> block(int64_t g, int64_t m0, int64_t k0, int64_t) const {
    const int64_t MR = gemm::kernel<T>().mr;
    return gemm::APanels<T>{w + (g * G.fg + m0) * G.k + k0, MR * G.k, G.k, 1};
  }
};

template <class T>
void forward(const ns_conv2d_desc& d, const T* x, const T* w, const T* bias, T* y) {
  Geometry G(d);
  if (use_direct(G)) return conv::direct_forward(G, x, w, bias, y);
  forward_gemm(G, DirectWeights<T>{w, G}, Patches<T>{x, G}, bias, y);
}

// C view of dP_g = W_gᵀ · dY_g (rows (c, i, j), columns (n, oh, ow)): every tile is added into dx at the
// pixels its patches came from (col2im), so dx must be zero to start with.
template <class T>
struct Col2imView {
  T* dx;
  const Geometry& G;
  int64_t g;
  bool tile(int64_t, int64_t, int64_t, int64_t, int, gemm::CTile<T>*) const { return false; }
  void scatter(const T* buf, int64_t ldb, int64_t m0, int64_t n0, int64_t mr, int64_t nr, int) const {
    conv::col2im_add(dx, buf, ldb, G, g, m0, n0, mr, nr);
  }
};

// Grad input through col2im: dP_g = W_gᵀ · dY_g, K = the group's filters. dY_g is the patch matrix of a
// 1×1 convolution of dy (read in place or packed by patch_block). Threads take whole images when that
// balances (their dx planes are disjoint); otherwise they split the columns and add into private copies.
template <class T>
void backward_input_col2im(const Geometry& G, const T* dy, const T* w, T* dx) {
  const ns_conv2d_desc& d = G.d;
  const gemm::MicroKernel<T>& uk = gemm::kernel<T>();
  const int64_t MR = uk.mr, NR = uk.nr, VW = uk.vw;
  const Geometry Gdy(ns_conv2d_desc{d.n, d.f, d.ho, d.wo, d.f, 1, 1, d.groups, 1, 1, 0, 0, 1, 1, d.ho, d.wo});
  const int64_t kc = gemm::balanced_block(G.fg, uk.kc, 1), mp = gemm::round_up(G.k, MR);
  const int64_t kblocks = (G.fg + kc - 1) / kc, xsize = d.n * d.c * d.h * d.w;
  const int pool = pool_size();
  const bool by_image = d.n % pool == 0 || d.n >= 4 * pool;
  const int threads = static_cast<int>(std::min<int64_t>(pool, by_image ? d.n : (G.cols + NR - 1) / NR));
  // Blocks of whole images when dY_g is read in place (threads taking whole images, none of them large).
  const bool whole_images = by_image && G.plane <= 4 * uk.nc && patch_block_in_place(Gdy);
  const gemm::Blocking blk{mp, kc, whole_images ? G.plane : uk.nc};
  const int64_t b_size = gemm::round_up(blk.nc, NR) * kc, chunks = (G.cols + VW - 1) / VW;
  Scratch a_scratch(sizeof(T) * mp * kc * kblocks), b_scratch(sizeof(T) * b_size * threads);
  Scratch copies(sizeof(T) * (by_image ? 1 : xsize * (threads - 1)));
  T* a = a_scratch.as<T>();
  parallel_for(xsize, 1 << 16, [&](int64_t b, int64_t e) { std::fill(dx + b, dx + e, T(0)); });
  if (!by_image) std::fill(copies.as<T>(), copies.as<T>() + xsize * (threads - 1), T(0));
  for (int64_t g = 0; g < d.groups; ++g) {
    const T* wg = w + g * G.fg * G.k;  // A = W_gᵀ: element ((c, i, j), f) = wg[f·k + (c, i, j)]
    prepack(a, G.k, G.fg, kc, [&](T* dst, int64_t m0, int64_t rows, int64_t k0, int64_t kcur) {
      gemm::pack_a_strided(dst, wg, int64_t(1), G.k, m0, rows, k0, kcur, static_cast<int>(MR));
    });
    parallel_run(threads, [&](int tid, int nt) {
      int64_t c0, c1;
      if (by_image) {
        c0 = d.n * tid / nt * G.plane;
        c1 = d.n * (tid + 1) / nt * G.plane;
      } else {
        c0 = chunks * tid / nt * VW;
        c1 = std::min(G.cols, chunks * (tid + 1) / nt * VW);
      }
      if (c0 >= c1) return;
      T* target = by_image || tid == 0 ? dx : copies.as<T>() + (tid - 1) * xsize;
      gemm::gemm_blocked<T>(
          blk, G.fg, 0, G.k, c0, c1,
          [&](T*, int64_t m0, int64_t, int64_t k0, int64_t kcur) { return prepacked_block(a, G.k, kc, m0, k0, kcur); },
          [&](T* dst, int64_t k0, int64_t kcur, int64_t n0, int64_t ncur) {
            return patch_block(dst, dy, Gdy, g, k0, kcur, n0, ncur);
          },
          Col2imView<T>{target, G, g}, 0, nullptr, nullptr, b_scratch.as<T>() + tid * b_size);
    });
  }
  if (!by_image)
    parallel_for(xsize, 1 << 16, [&](int64_t b, int64_t e) {
      for (int t = 1; t < threads; ++t) {
        const T* src = copies.as<T>() + (t - 1) * xsize;
        for (int64_t i = b; i < e; ++i) dx[i] += src[i];
      }
    });
}

// out[t·MR + i] = src[i·taps + taps − 1 − t] for i < rows, t < taps: one panel's taps of one filter, flipped.
// (Out of line: inlined into the parallel loop below, GCC 12 keeps its pointers on the stack.)
template <class T>
__attribute__((noinline)) void flip_taps(T* __restrict out, const T* __restrict src, int64_t rows, int64_t taps,
                                         int64_t MR) {
  for (int64_t t = 0; t < taps; ++t)
    for (int64_t i = 0; i < rows; ++i) out[t * MR + i] = src[i * taps + taps - 1 - t];
}

template <class T>
void backward_input(const ns_conv2d_desc& d, const T* dy, const T* w, T* dx) {
  Geometry G(d);
  if (use_direct(G)) return conv::direct_backward_input(G, dy, w, dx);
  const int64_t reach_h = d.dil_h * (d.kh - 1), reach_w = d.dil_w * (d.kw - 1);
  if (d.stride_h == 1 && d.stride_w == 1 && d.pad_h <= reach_h && d.pad_w <= reach_w && G.cg >= kMinFlippedChannels) {
    // dx = conv(dy, w'), w'[g·cg + c, f, i, j] = w[g·fg + f, c, kh−1−i, kw−1−j], padding reach − pad.
    const ns_conv2d_desc t{d.n, d.f, d.ho, d.wo, d.c, d.kh, d.kw, d.groups, 1, 1, reach_h - d.pad_h,
                           reach_w - d.pad_w, d.dil_h, d.dil_w, d.h, d.w};
    const Geometry Gt(t);
    struct FlippedWeights {
      const T* w;
      const Geometry& G;  // the convolution's own geometry
      Scratch packed;
      int64_t kc = 0;
      // Packs every K block of group g: A row c (a channel of dx), column (f, tap') = w[g·fg + f, c,
      // taps−1−tap'], reading w in order (kc is a multiple of taps, so a filter's taps share a block;
      // rows past cg in the last panel are never read).
      void prepare(int64_t g, int64_t kcur) {
        kc = kcur;
        const int64_t MR = gemm::kernel<T>().mr, mp = gemm::round_up(G.cg, MR), K = G.fg * G.taps;
        const T* wg = w + g * G.fg * G.k;
        T* a = packed.as<T>();
        parallel_for(G.fg, std::max<int64_t>(1, (int64_t(1) << 14) / G.k), [&](int64_t f0, int64_t f1) {
          for (int64_t f = f0; f < f1; ++f) {
            const int64_t k0 = f * G.taps, kb = k0 / kc, width = std::min(kc, K - kb * kc);
            T* block = a + kb * mp * kc + (k0 - kb * kc) * MR;
            for (int64_t m0 = 0; m0 < G.cg; m0 += MR) {  // a panel's taps of filter f: both sides contiguous
              const int64_t rows = std::min(MR, G.cg - m0);
              T* out = block + m0 * width;
              flip_taps(out, wg + f * G.k + m0 * G.taps, rows, G.taps, MR);
            }
          }
        });
      }
      gemm::APanels<T> block(int64_t, int64_t m0, int64_t k0, int64_t kcur) const {
        return prepacked_block(packed.as<T>(), G.cg, kc, m0, k0, kcur);
      }
    };
    const int64_t MR = gemm::kernel<T>().mr;
    const int64_t kc = gemm::balanced_block(Gt.k, kForwardKc, Gt.taps);
    FlippedWeights fw{w, G, Scratch(sizeof(T) * gemm::round_up(G.cg, MR) * kc * ((Gt.k + kc - 1) / kc))};
    return forward_gemm(Gt, fw, Patches<T>{dy, Gt}, static_cast<const T*>(nullptr), dx);
  }
  backward_input_col2im(G, dy, w, dx);
}

// The rows of the patch matrix of x as row-major blocks, the A operand of the weight gradient (see
// pack_patches). A fused variant (X̃_p = M_p·P_p) supplies its own functor with this call.
template <class T>
struct PatchRows {
  const T* x;
  const Geometry& G;
  void operator()(T* dst, int64_t g, int64_t r0, int64_t rc, int64_t c0, int64_t cc, int64_t ld) const {
    conv::pack_patches(dst, x, G, g, r0, rc, c0, cc, ld);
  }
};

// dW_gᵀ over the whole batch, one product per group: C = [P_g; 1] · dY_gᵀ with rows (c, i, j) and a last
// row of ones (present when dbias is wanted), columns f; rows(dst, g, r0, rc, c0, cc, ld) packs rows
// [r0, r0 + rc) × columns [c0, c0 + cc) of P_g with leading dimension ld. Threads split the reduction
// (positions) and sum their C afterwards, or, when positions are few, split the rows of C.
template <class T, class Rows>
void weight_grad_gemm(const Geometry& G, Rows&& rows_of_p, const T* dy, T* dw, T* dbias) {
  const ns_conv2d_desc& d = G.d;
  const gemm::MicroKernel<T>& uk = gemm::kernel<T>();
  const int64_t MR = uk.mr;
  const int64_t rows = G.k + (dbias ? 1 : 0), N = G.fg, R = G.cols, row_tiles = (rows + MR - 1) / MR;
  const int pool = pool_size();
  const bool split_reduction = R >= 2048 * pool || row_tiles < 2 * pool;
  const int threads =
      static_cast<int>(std::min<int64_t>(pool, split_reduction ? std::max<int64_t>(1, R / 256) : row_tiles));
  const int64_t my_rows = split_reduction ? rows : (row_tiles + threads - 1) / threads * MR;
  // Positions per block: few positions go in one block, so that C (rows × N, large then) is written once.
  const int64_t my_cols = split_reduction ? (R + threads - 1) / threads : R;
  const int64_t kc =
      gemm::balanced_block(my_cols, my_cols <= 2 * kWeightGradKc ? 2 * kWeightGradKc : kWeightGradKc, 16);
  const int64_t lda = kc;  // A blocks are row-major, kc (a multiple of 16) apart
  const int64_t NR = gemm::panel_width(uk, N);
  const int64_t mc = gemm::balanced_block(my_rows, kWeightGradMc * kWeightGradKc / kc, MR);
  const gemm::Blocking blk{mc, kc, std::min(gemm::round_up(N, NR), 10 * NR), NR};  // B blocks of at most 10 panels
  const int64_t a_size = blk.mc * lda, b_size = blk.nc * kc, c_size = rows * N;
  Scratch bufs(sizeof(T) * (a_size + b_size) * threads), cs(sizeof(T) * c_size * (split_reduction ? threads : 1));
  for (int64_t g = 0; g < d.groups; ++g) {
    parallel_run(threads, [&](int tid, int nt) {
      int64_t r0 = 0, r1 = R, m0 = 0, m1 = rows;
      T* c = cs.as<T>();
      if (split_reduction) {
        r0 = R * tid / nt;
        r1 = R * (tid + 1) / nt;
        c += tid * c_size;
      } else {
        m0 = row_tiles * tid / nt * MR;
        m1 = std::min(rows, row_tiles * (tid + 1) / nt * MR);
      }
      T* abuf = bufs.as<T>() + tid * (a_size + b_size);
      T* bbuf = abuf + a_size;
      gemm::gemm_blocked<T>(
          blk, r1 - r0, m0, m1, 0, N,
          [&](T* dst, int64_t i0, int64_t mcur, int64_t k0, int64_t kcur) {
            const int64_t prow = std::min(mcur, G.k - i0);
            if (prow > 0) rows_of_p(dst, g, i0, prow, r0 + k0, kcur, lda);
            if (i0 + mcur > G.k) {  // the row of ones
              T* ones = dst + (G.k - i0) * lda;
              std::fill(ones, ones + kcur, T(1));
            }
            return gemm::APanels<T>{dst, MR * lda, lda, 1};
          },
          [&](T* dst, int64_t k0, int64_t kcur, int64_t n0, int64_t ncur) {
            conv::pack_dy_transposed(dst, dy, G, g, r0 + k0, kcur, n0, ncur, NR);
            return gemm::BPanels<T>{dst, NR * kcur, NR};
          },
          gemm::DenseCView<T>{c, N}, 0, nullptr, abuf, bbuf);
    });
    // dw[g·fg + f, k] = Σ_t C_t[k, f] and dbias[g·fg + f] = Σ_t C_t[k, f] for the row of ones k = G.k.
    const int parts = split_reduction ? threads : 1;
    const int64_t row_blocks = (G.k + 15) / 16;
    parallel_for(row_blocks, 4, [&](int64_t b, int64_t e) {
      const int64_t k0 = b * 16, k1 = std::min(G.k, e * 16);
      conv::transpose_sum(dw + g * G.fg * G.k + k0, G.k, cs.as<T>() + k0 * N, N, parts, c_size, k1 - k0, N);
    });
    if (dbias)
      for (int64_t f = 0; f < N; ++f) {
        T sum = 0;
        for (int t = 0; t < parts; ++t) sum += cs.as<T>()[t * c_size + G.k * N + f];
        dbias[g * G.fg + f] = sum;
      }
  }
}

// The weight gradient for few rows of P (few channels): dW_g = dY_g · [P_g; 1]ᵀ, rows f, columns (c, i, j)
// and a last column of ones (dbias), reduced over positions split across threads. A = dY_g is read in
// place (its rows are contiguous within an image) or copied; B = [P_g; 1]ᵀ is packed by rows_of_p (as
// for weight_grad_gemm) and transposed into panels. Packing only the few rows of P, rather than dY_gᵀ
// with its many filters, is what makes this the cheaper product here.
template <class T, class Rows>
void weight_grad_gemm_few_rows(const Geometry& G, Rows&& rows_of_p, const T* dy, T* dw, T* dbias) {
  const ns_conv2d_desc& d = G.d;
  const gemm::MicroKernel<T>& uk = gemm::kernel<T>();
  const int64_t MR = uk.mr, M = G.fg, N = G.k + (dbias ? 1 : 0), R = G.cols;
  const int threads = static_cast<int>(std::min<int64_t>(pool_size(), std::max<int64_t>(1, R / 256)));
  const int64_t kc = gemm::balanced_block((R + threads - 1) / threads, kWeightGradKc, 16);
  const int64_t NR = gemm::panel_width(uk, N), np = gemm::round_up(N, NR);
  const gemm::Blocking blk{gemm::round_up(M, MR), kc, np, NR};
  const int64_t a_size = blk.mc * kc, b_size = np * kc, p_size = np * kc, c_size = M * N;
  Scratch bufs(sizeof(T) * (a_size + b_size + p_size) * threads), cs(sizeof(T) * c_size * threads);
  for (int64_t g = 0; g < d.groups; ++g) {
    parallel_run(threads, [&](int tid, int nt) {
      const int64_t r0 = R * tid / nt, r1 = R * (tid + 1) / nt;
      T* abuf = bufs.as<T>() + tid * (a_size + b_size + p_size);
      T* bbuf = abuf + a_size;
      T* rows = bbuf + b_size;  // [P_g; 1] rows of one block of positions, kc apart
      gemm::gemm_blocked<T>(
          blk, r1 - r0, 0, M, 0, N,
          [&](T* dst, int64_t m0, int64_t mc, int64_t k0, int64_t kcur) {
            const int64_t col = r0 + k0, img = col / G.plane, p = col % G.plane;
            const T* first = dy + (img * d.f + g * G.fg + m0) * G.plane + p;
            if (p + kcur <= G.plane) return gemm::APanels<T>{first, MR * G.plane, G.plane, 1};
            for (int64_t f = 0; f < mc; ++f)  // positions straddling images: copy the rows
              for (int64_t kk = 0, q = p, i = img; kk < kcur; ++kk) {
                dst[f * kc + kk] = dy[(i * d.f + g * G.fg + m0 + f) * G.plane + q];
                if (++q == G.plane) q = 0, ++i;
              }
            return gemm::APanels<T>{dst, MR * kc, kc, 1};
          },
          [&](T* dst, int64_t k0, int64_t kcur, int64_t, int64_t) {
            rows_of_p(rows, g, 0, G.k, r0 + k0, kcur, kc);
            for (int64_t r = G.k; r < np; ++r) std::fill(rows + r * kc, rows + (r + 1) * kc, T(r < N ? 1 : 0));
            for (int64_t q = 0; q < np; q += NR)
              conv::transpose_sum(dst + q * kcur, NR, rows + q * kc, kc, 1, 0, NR, kcur);
            return gemm::BPanels<T>{dst, NR * kcur, NR};
          },
          gemm::DenseCView<T>{cs.as<T>() + tid * c_size, N}, 0, nullptr, abuf, bbuf);
    });
    parallel_for(M, 16, [&](int64_t b, int64_t e) {
      for (int64_t f = b; f < e; ++f) {
        T* out = dw + (g * G.fg + f) * G.k;
        for (int64_t k = 0; k < N; ++k) {
          T sum = 0;
          for (int t = 0; t < threads; ++t) sum += cs.as<T>()[t * c_size + f * N + k];
          if (k < G.k)
            out[k] = sum;
          else
            dbias[g * G.fg + f] = sum;
        }
      }
    });
  }
}

template <class T>
void backward_weight(const ns_conv2d_desc& d, const T* x, const T* dy, T* dw, T* dbias) {
  Geometry G(d);
  if (use_direct(G)) return conv::direct_backward_weight(G, x, dy, dw, dbias);
  if (G.k < G.fg) return weight_grad_gemm_few_rows(G, PatchRows<T>{x, G}, dy, dw, dbias);
  weight_grad_gemm(G, PatchRows<T>{x, G}, dy, dw, dbias);
}

}  // namespace
}  // namespace ns

extern "C" {

int ns_cpu_conv2d_forward(ns_dtype dt, const ns_conv2d_desc* d, const void* x, const void* w, const void* bias, void* y) {
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::forward(*d, static_cast<const T*>(x), static_cast<const T*>(w), static_cast<const T*>(bias), static_cast<T*>(y));
  });
}

int ns_cpu_conv2d_backward_input(ns_dtype dt, const ns_conv2d_desc* d, const void* dy, const void* w, void* dx) {
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::backward_input(*d, static_cast<const T*>(dy), static_cast<const T*>(w), static_cast<T*>(dx));
  });
}

int ns_cpu_conv2d_backward_weight(ns_dtype dt, const ns_conv2d_desc* d, const void* x, const void* dy, void* dw,
                                  void* dbias) {
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::backward_weight(*d, static_cast<const T*>(x), static_cast<const T*>(dy), static_cast<T*>(dw),
                        static_cast<T*>(dbias));
  });
}

}  // extern "C"
