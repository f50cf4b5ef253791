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
#include "conv2d_gemm.h"
#include "gemm.h"
#include "cpu.h"

namespace ns {
namespace {

using conv::Geometry;
using namespace conv;  // the shared products of conv2d_gemm.h

// Below this many channels per group, the gradient of a stride-1 convolution's input goes through
// col2im instead of the flipped forward convolution (whose GEMM would have only that many rows).
constexpr int64_t kMinFlippedChannels = 16;

// Few filters per group: a GEMM tile would be mostly padding.
bool use_direct(const Geometry& G) { return G.d.groups > 1 && G.fg * 2 < gemm::kernel_f32().mr; }

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

template <class T>
void backward_weight(const ns_conv2d_desc& d, const T* x, const T* dy, T* dw, T* dbias) {
  Geometry G(d);
  if (use_direct(G)) return conv::direct_backward_weight(G, x, dy, dw, dbias);
  weight_grad(G, PatchRows<T>{x, G}, dy, DwInPlace<T>{dw, G}, dbias);
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
