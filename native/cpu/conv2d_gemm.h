// The implicit-GEMM convolution products shared by conv2d (conv2d.cc) and the fused neural-similarity
// convolution (similarity.cc): the forward Y_g = W_g · P_g and the weight gradient dW_gᵀ = P_g · dY_gᵀ,
// with the patch operand P_g supplied as a functor (Patches / PatchRows here; the similarity kernels pass
// functors that form X̃_p = M_p·P_p instead), plus the views and operand helpers they use.
#ifndef NEURAL_SIMILARITY_CONV2D_GEMM_H
#define NEURAL_SIMILARITY_CONV2D_GEMM_H

#include <algorithm>
#include <cstring>

#include "conv2d_pack.h"
#include "gemm.h"
#include "runtime.h"

namespace ns {
namespace conv {

// Blocking of the forward product: K per block (whole for K ≤ 640: the micro-kernels stream A and B from
// L2 at full speed, and C is then written once), and values per packed B block (L2-sized).
constexpr int64_t kForwardKc = 640;
constexpr int64_t kForwardB = 64 * 1024;
// Blocking of the weight gradient's product: reduction (positions) per block, and rows of P per A block
// at that kc (many rows: the packer's per-column set-up is done once per A block).
constexpr int64_t kWeightGradKc = 256;
constexpr int64_t kWeightGradMc = 512;
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
inline bool patch_block_in_place(const Geometry& G) {
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
  pack_patches(dst, x, G, g, k0, kc, n0, nc, uk.nr);
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

// The rows of the patch matrix of x as row-major blocks, the A operand of the weight gradient (see
// pack_patches). A fused variant (X̃_p = M_p·P_p) supplies its own functor with this call.
template <class T>
struct PatchRows {
  const T* x;
  const Geometry& G;
  void operator()(T* dst, int64_t g, int64_t r0, int64_t rc, int64_t c0, int64_t cc, int64_t ld) const {
    pack_patches(dst, x, G, g, r0, rc, c0, cc, ld);
  }
};

// The result of a weight-gradient product for group g, as per-thread parts still to be summed:
//   dW_g[f, k] = Σ_{t < parts} c[t·part_stride + f·ld_f + k·ld_k]   for f < fg, k < G.k,
// stored transposed (ld_f = 1) or by filter rows (ld_k = 1).
template <class T>
struct DwParts {
  const T* c;
  int64_t ld_f, ld_k, parts, part_stride;
  // Writes the block f ∈ [f0, f1), k ∈ [k0, k1) of dW_g: element (f, k) at dst + (f − f0)·ld + k − k0.
  void block(T* dst, int64_t ld, int64_t f0, int64_t f1, int64_t k0, int64_t k1) const {
    const T* src = c + f0 * ld_f + k0 * ld_k;
    if (ld_f == 1) return gemm::transpose_sum(dst, ld, src, ld_k, parts, part_stride, k1 - k0, f1 - f0);
    for (int64_t f = 0; f < f1 - f0; ++f)
      for (int64_t k = 0; k < k1 - k0; ++k) {
        T sum = 0;
        for (int64_t t = 0; t < parts; ++t) sum += src[t * part_stride + f * ld_f + k];
        dst[f * ld + k] = sum;
      }
  }
};

// Where the weight gradient goes: the products below end each group by calling out(g, parts) with
// their DwParts. DwInPlace sums them straight into dw; a fused variant (the static similarity fold)
// takes blocks of its own into a buffer and derives its gradients from them, so that dW_g is never
// stored whole.
template <class T>
struct DwInPlace {
  T* dw;
  const Geometry& G;
  // Blocks of 16 columns (k) for all filters: the parts are read along their rows when transposed.
  void operator()(int64_t g, const DwParts<T>& p) const {
    parallel_for((G.k + 15) / 16, 4, [&](int64_t b, int64_t e) {
      p.block(dw + g * G.fg * G.k + b * 16, G.k, 0, G.fg, b * 16, std::min(G.k, e * 16));
    });
  }
};

// dW_gᵀ over the whole batch, one product per group: C = [P_g; 1] · dY_gᵀ with rows (c, i, j) and a last
// row of ones (present when dbias is wanted), columns f; rows(dst, g, r0, rc, c0, cc, ld) packs rows
// [r0, r0 + rc) × columns [c0, c0 + cc) of P_g with leading dimension ld; dW_g goes to out (see
// DwInPlace). Threads split the reduction (positions) and sum their C afterwards, or, when positions are
// few, split the rows of C.
template <class T, class Rows, class DwOut>
void weight_grad_gemm(const Geometry& G, Rows&& rows_of_p, const T* dy, DwOut&& out, T* dbias) {
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
            pack_dy_transposed(dst, dy, G, g, r0 + k0, kcur, n0, ncur, NR);
            return gemm::BPanels<T>{dst, NR * kcur, NR};
          },
          gemm::DenseCView<T>{c, N}, 0, nullptr, abuf, bbuf);
    });
    // dW_g[f, k] = Σ_t C_t[k, f] and dbias[g·fg + f] = Σ_t C_t[k, f] for the row of ones k = G.k.
    const DwParts<T> parts{cs.as<T>(), 1, N, split_reduction ? threads : 1, c_size};
    out(g, parts);
    if (dbias) parts.block(dbias + g * G.fg, 1, 0, N, G.k, G.k + 1);
  }
}

// The weight gradient for few rows of P (few channels): dW_g = dY_g · [P_g; 1]ᵀ, rows f, columns (c, i, j)
// and a last column of ones (dbias), reduced over positions split across threads. A = dY_g is read in
// place (its rows are contiguous within an image) or copied; B = [P_g; 1]ᵀ is packed by rows_of_p (as
// for weight_grad_gemm) and transposed into panels; dW_g goes to out (see DwInPlace). Packing
// only the few rows of P, rather than dY_gᵀ with its many filters, is what makes this the cheaper
// product here.
template <class T, class Rows, class DwOut>
void weight_grad_gemm_few_rows(const Geometry& G, Rows&& rows_of_p, const T* dy, DwOut&& out, T* dbias) {
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
              gemm::transpose_sum(dst + q * kcur, NR, rows + q * kc, kc, 1, 0, NR, kcur);
            return gemm::BPanels<T>{dst, NR * kcur, NR};
          },
          gemm::DenseCView<T>{cs.as<T>() + tid * c_size, N}, 0, nullptr, abuf, bbuf);
    });
    // dW_g[f, k] = Σ_t C_t[f, k] and dbias[g·fg + f] = Σ_t C_t[f, G.k] (the column of ones).
    const DwParts<T> parts{cs.as<T>(), N, 1, threads, c_size};
    out(g, parts);
    if (dbias) parts.block(dbias + g * G.fg, 1, 0, M, G.k, G.k + 1);
  }
}

// The weight gradient dW_g (to out, see DwInPlace) and dbias, by whichever of the two products above is
// cheaper for this shape: dY_g · [P_g; 1]ᵀ when P_g has fewer rows than there are filters.
template <class T, class Rows, class DwOut>
void weight_grad(const Geometry& G, Rows&& rows_of_p, const T* dy, DwOut&& out, T* dbias) {
  if (G.k < G.fg) return weight_grad_gemm_few_rows(G, rows_of_p, dy, out, dbias);
  weight_grad_gemm(G, rows_of_p, dy, out, dbias);
}

}  // namespace conv
}  // namespace ns

#endif
