// The blocked GEMM core every matrix product and convolution runs on.
//
//   C[m, n] (+)= Σ_k A[m, k] · B[k, n]   (+ bias[m] when C is first written)
//
// The operands never exist as matrices: callers describe them with packers that write blocks straight
// into the layouts the micro-kernels read (a convolution's packer gathers image patches, the fused
// similarity packer also applies M_p), and with a C view that says where each tile of C lives.
//
// Layouts the micro-kernels read:
//   A block: panels of MR rows; element (i, k) at p + (i / MR)·panel + (i % MR)·rs + k·ks. The classic
//            packed panel is rs = 1, ks = MR, panel = MR·kc; a row-major block with leading dimension
//            lda is rs = lda, ks = 1, panel = MR·lda (the kernels broadcast A, so either is as fast).
//   B block (kc × nc): panels of NR columns (NR = Blocking::nr, at most the kernel's nr, a multiple of its
//            vector width); element (k, j) at p + (j / NR)·panel + k·ldb + j % NR. Packed: panel = NR·kc,
//            ldb = NR, zero-padded. In place: a row-major matrix, panel = NR, ldb its leading dimension;
//            the kernels then read up to the next multiple of VW columns past the block's last one.
//   C tile (mr × nr, mr ≤ MR, nr ≤ NR): columns come in chunks of VW (the vector width); row i of
//            chunk v starts at chunk[v] + i·ldc, so a tile may straddle two images of a convolution.
#ifndef NEURAL_SIMILARITY_GEMM_H
#define NEURAL_SIMILARITY_GEMM_H

#include <algorithm>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

#include "runtime.h"

namespace ns {
namespace gemm {

// Where the micro-kernel writes one tile of C.
template <class T>
struct CTile {
  T* chunk[4];  // row 0 of each VW-column chunk
  int64_t ldc;  // distance between rows
};

// For the mr × nr tile (i < mr, j < nr):
//   C[i, j] = (accumulate ? C[i, j] : (bias ? bias[i] : 0)) + Σ_k A[i, k]·B[k, j]
// with A element (i, k) at a[i·a_rs + k·a_ks] and B element (k, j) at b[k·ldb + j]. The kernel variant
// computes whole chunks; columns of the last chunk past nr are not stored, rows past mr are neither
// read nor written.
template <class T>
using MicroKernelFn = void (*)(int64_t kc, const T* a, int64_t a_rs, int64_t a_ks, const T* b, int64_t ldb,
                               const CTile<T>& c, int64_t mr, int64_t nr, int accumulate, const T* bias);

enum class Isa { portable, avx2, avx512 };

template <class T>
struct MicroKernel {
  int mr, nr;          // tile shape
  int vw;              // columns per C chunk; nr is a multiple of vw
  int64_t mc, kc, nc;  // default blocking: A rows, K, and per-thread columns per block
  MicroKernelFn<T> fn[8][4];  // fn[mr − 1][chunks − 1]: the variant for a tile of mr rows and that many chunks
  Isa level;
  const char* isa;
};

// The micro-kernel for this CPU (chosen once, at load time): AVX-512, AVX2+FMA or portable.
// NEURAL_SIMILARITY_ISA=avx2|portable caps the choice (to test every path on one machine).
const MicroKernel<float>& kernel_f32();
const MicroKernel<double>& kernel_f64();

template <class T>
inline const MicroKernel<T>& kernel();
template <>
inline const MicroKernel<float>& kernel<float>() { return kernel_f32(); }
template <>
inline const MicroKernel<double>& kernel<double>() { return kernel_f64(); }

// Whether float32 work runs its AVX-512 code (the GEMM's choice, so NEURAL_SIMILARITY_ISA caps it too).
inline bool avx512_f32() { return kernel_f32().level == Isa::avx512; }
// Whether float32 work runs its AVX2 code (likewise).
inline bool avx2_f32() { return kernel_f32().level == Isa::avx2; }

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Whether p starts a cache line (64 bytes): where streaming stores may write whole vectors.
inline bool cache_aligned(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 63) == 0; }

#if defined(__x86_64__) || defined(_M_X64)
// One vector of an output: streamed past the caches (q cache-aligned; for outputs that are not read back
// soon, whose lines an ordinary store would first have to read) or stored.
__attribute__((target("avx512f"), always_inline)) inline void store_vector(float* q, __m512 v, bool stream) {
  if (stream)
    _mm512_stream_ps(q, v);
  else
    _mm512_storeu_ps(q, v);
}
#endif

// Orders the streaming stores made so far before the stores that follow (another thread's reads).
inline void stream_fence() {
#if defined(__x86_64__) || defined(_M_X64)
  _mm_sfence();
#endif
}

// A block size of at most `limit` (a multiple of `multiple`) that splits `total` into equal-sized blocks.
inline int64_t balanced_block(int64_t total, int64_t limit, int64_t multiple) {
  if (total <= 0) return multiple;
  const int64_t blocks = (total + limit - 1) / limit;
  return std::min(round_up((total + blocks - 1) / blocks, multiple), round_up(limit, multiple));
}

// Block sizes of one product: mc a multiple of MR; nr, the width of B panels and C tiles, 0 for the
// kernel's NR (a narrower one, e.g. 32 + 32 rather than 48 + 16 for 64 columns, keeps edge tiles full).
struct Blocking {
  int64_t mc, kc, nc;
  int64_t nr = 0;
};

// The narrowest panel width (a multiple of the vector width, at most NR) that covers n columns in as
// few panels as NR-wide ones would.
template <class T>
int64_t panel_width(const MicroKernel<T>& uk, int64_t n) {
  const int64_t panels = std::max<int64_t>(1, (n + uk.nr - 1) / uk.nr);
  return std::min<int64_t>(uk.nr, round_up((n + panels - 1) / panels, uk.vw));
}

// Where pack_a put (or found) an A block; see the layouts above.
template <class T>
struct APanels {
  const T* p;
  int64_t panel, rs, ks;
};

// Where pack_b put (or found) a B block; see the layouts above.
template <class T>
struct BPanels {
  const T* p;
  int64_t panel, ldb;
};

// Computes rows [m_begin, m_end) × columns [n_begin, n_end) of C over all of K on the calling thread:
//   for each nc columns, each kc of K: pack_b; for each mc rows: pack_a; then every micro-tile.
//   pack_b(T* dst, k0, kc, n0, nc) -> BPanels<T> packs a B block into dst (round_up(nc, NR)·kc elements,
//     NR as above) or returns where it lies in place.
//   pack_a(T* dst, m0, mc, k0, kc) -> APanels<T> packs an A block into dst (round_up(mc, MR) rows) or
//     returns where it lies (packed earlier, or in place); the kernels read its rows < mc only.
//   cview.tile(m0, n0, mr, nr, VW, CTile<T>*) -> bool fills in where the tile lives, or returns false;
//     then the tile is computed into a buffer and cview.scatter(buf, ldb, m0, n0, mr, nr, accumulate)
//     stores it.
// `accumulate` adds to C instead of overwriting it; `bias` (indexed by row of C, may be null) is
// added when C is overwritten.
template <class T, class PackA, class PackB, class CView>
void gemm_blocked(const Blocking& blk, int64_t K, int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end,
                  PackA&& pack_a, PackB&& pack_b, CView&& cview, int accumulate, const T* bias, T* a_buf, T* b_buf) {
  const MicroKernel<T>& uk = kernel<T>();
  const int64_t MR = uk.mr, NR = blk.nr ? blk.nr : uk.nr, VW = uk.vw;
  alignas(64) T tile[8 * 64];
  for (int64_t n0 = n_begin; n0 < n_end; n0 += blk.nc) {
    const int64_t nc = std::min(blk.nc, n_end - n0);
    for (int64_t k0 = 0; k0 < K || k0 == 0; k0 += blk.kc) {
      const int64_t kc = std::min(blk.kc, K - k0);
      const int acc = (k0 > 0) || accumulate;
      const BPanels<T> b = pack_b(b_buf, k0, kc, n0, nc);
      for (int64_t m0 = m_begin; m0 < m_end; m0 += blk.mc) {
        const int64_t mc = std::min(blk.mc, m_end - m0);
        const APanels<T> a = pack_a(a_buf, m0, mc, k0, kc);
        for (int64_t j = 0; j < nc; j += NR) {
          const int64_t nr = std::min<int64_t>(NR, nc - j);
          const int chunks = static_cast<int>((nr + VW - 1) / VW);
          const T* bp = b.p + (j / NR) * b.panel;
          for (int64_t i = 0; i < mc; i += MR) {
            const int64_t mr = std::min<int64_t>(MR, mc - i);
            const T* ap = a.p + (i / MR) * a.panel;
            const T* row_bias = (bias && !acc) ? bias + m0 + i : nullptr;
            const MicroKernelFn<T> fn = uk.fn[mr - 1][chunks - 1];
            CTile<T> c;
            if (cview.tile(m0 + i, n0 + j, mr, nr, VW, &c)) {
              fn(kc, ap, a.rs, a.ks, bp, b.ldb, c, mr, nr, acc, row_bias);
            } else {
              const CTile<T> buf{{tile, tile + VW, tile + 2 * VW, tile + 3 * VW}, NR};
              fn(kc, ap, a.rs, a.ks, bp, b.ldb, buf, mr, nr, 0, row_bias);
              cview.scatter(tile, NR, m0 + i, n0 + j, mr, nr, acc);
            }
          }
        }
      }
      if (K == 0) break;
    }
  }
}

// A dense row-major C (element (i, j) at c[i·ldc + j]).
template <class T>
struct DenseCView {
  T* c;
  int64_t ldc;
  bool tile(int64_t m0, int64_t n0, int64_t, int64_t, int vw, CTile<T>* t) const {
    for (int v = 0; v < 4; ++v) t->chunk[v] = c + m0 * ldc + n0 + v * vw;
    t->ldc = ldc;
    return true;
  }
  void scatter(const T* buf, int64_t ldb, int64_t m0, int64_t n0, int64_t mr, int64_t nr, int acc) const {
    for (int64_t i = 0; i < mr; ++i) {
      T* dst = c + (m0 + i) * ldc + n0;
      const T* src = buf + i * ldb;
      if (acc)
        for (int64_t j = 0; j < nr; ++j) dst[j] += src[j];
      else
        for (int64_t j = 0; j < nr; ++j) dst[j] = src[j];
    }
  }
};

// dst[j·ldd + i] = Σ_{t < parts} src[t·part_stride + i·lds + j] for i < rows, j < cols: a sum of parts
// (a product's per-thread copies), transposed in 16 × 16 tiles (in registers on AVX-512).
template <class T>
void transpose_sum(T* dst, int64_t ldd, const T* src, int64_t lds, int64_t parts, int64_t part_stride, int64_t rows,
                   int64_t cols);

// Packs rows [m0, m0+mc) × [k0, k0+kc) of a strided matrix (element (i, k) at a[i·rs + k·cs]) into
// panels of MR rows (zero-padded).
template <class T>
void pack_a_strided(T* dst, const T* a, int64_t rs, int64_t cs, int64_t m0, int64_t mc, int64_t k0, int64_t kc,
                    int MR) {
  for (int64_t p = 0; p < mc; p += MR) {
    const int64_t rows = std::min<int64_t>(MR, mc - p);
    T* d = dst + p * kc;
    for (int64_t k = 0; k < kc; ++k) {
      const T* src = a + (m0 + p) * rs + (k0 + k) * cs;
      int64_t i = 0;
      for (; i < rows; ++i) d[k * MR + i] = src[i * rs];
      for (; i < MR; ++i) d[k * MR + i] = T(0);
    }
  }
}

// Packs [k0, k0+kc) × columns [n0, n0+nc) of a strided matrix (element (k, j) at b[k·rs + j·cs]) into
// panels of NR columns (zero-padded).
template <class T>
void pack_b_strided(T* dst, const T* b, int64_t rs, int64_t cs, int64_t k0, int64_t kc, int64_t n0, int64_t nc,
                    int NR) {
  if (rs == 1 && cs != 1) {  // B stored transposed: its columns, contiguous along K, transposed in tiles
    for (int64_t q = 0; q < nc; q += NR) {
      const int64_t cols = std::min<int64_t>(NR, nc - q);
      T* d = dst + q * kc;
      transpose_sum(d, NR, b + k0 + (n0 + q) * cs, cs, 1, 0, cols, kc);
      if (cols < NR)
        for (int64_t k = 0; k < kc; ++k) std::fill(d + k * NR + cols, d + (k + 1) * NR, T(0));
    }
    return;
  }
  // Row by row, each walked across all its panels: one memory stream at a time.
  for (int64_t k = 0; k < kc; ++k) {
    const T* row = b + (k0 + k) * rs + n0 * cs;
    for (int64_t q = 0; q < nc; q += NR) {
      const int64_t cols = std::min<int64_t>(NR, nc - q);
      T* dk = dst + q * kc + k * NR;
      const T* src = row + q * cs;
      int64_t j = 0;
      if (cs == 1)
        for (; j < cols; ++j) dk[j] = src[j];
      else
        for (; j < cols; ++j) dk[j] = src[j * cs];
      for (; j < NR; ++j) dk[j] = T(0);
    }
  }
}

}  // namespace gemm
}  // namespace ns

#endif
