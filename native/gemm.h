// The blocked GEMM core every matrix product and convolution runs on.
//
//   C[m, n] (+)= Σ_k A[m, k] · B[k, n]   (+ bias[m] when C is first written)
//
// The operands never exist as matrices: callers describe them with packers that write blocks straight
// into the layouts the micro-kernels read (a convolution's packer gathers image patches, the fused
// similarity packer also applies M_p), and with a C view that says where each tile of C lives.
//
// Packed layouts (zero-padded to whole panels):
//   A block (mc × kc): panels of MR rows;    element (i, k) at  (i / MR)·MR·kc + k·MR + i % MR
//   B block (kc × nc): panels of NR columns; element (k, j) at  (j / NR)·NR·kc + k·NR + j % NR
#ifndef NEURAL_SIMILARITY_GEMM_H
#define NEURAL_SIMILARITY_GEMM_H

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "runtime.h"

namespace ns {
namespace gemm {

// c[i·ldc + j] = (accumulate ? c[i·ldc + j] : (bias ? bias[i] : 0)) + Σ_k a[k·MR + i]·b[k·NR + j]
// for a full MR × NR tile.
template <class T>
using MicroKernelFn = void (*)(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, int accumulate,
                               const T* bias);

template <class T>
struct MicroKernel {
  int mr, nr;        // tile shape
  int64_t kc, nc;    // K block and per-thread column block the caches were sized for
  MicroKernelFn<T> fn;
  const char* isa;
};

// The micro-kernel for this CPU (chosen once, at load time): AVX-512, AVX2+FMA or portable.
const MicroKernel<float>& kernel_f32();
const MicroKernel<double>& kernel_f64();

template <class T>
inline const MicroKernel<T>& kernel();
template <>
inline const MicroKernel<float>& kernel<float>() { return kernel_f32(); }
template <>
inline const MicroKernel<double>& kernel<double>() { return kernel_f64(); }

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Computes rows [m_begin, m_end) × columns [n_begin, n_end) of C over all of K, on the calling thread.
// m_begin must be a multiple of MR.
//   cview says where C lives: cview.tile(m0, n0, MR, NR, &ldc) returns a pointer to a full tile that can
//   be written in place (rows at c + i·ldc, columns contiguous) or nullptr; then the driver computes the
//   tile into a buffer and calls cview.scatter(buf, ldb, m0, n0, mr, nr, accumulate).
//   pack_a(T* dst, m0, mc, k0, kc) packs an A block; when a_packed is not null, A was packed up front
//   as consecutive K blocks of the whole M (block kb at a_packed + kb·round_up(M, MR)·kc_max) instead.
//   pack_b(T* dst, k0, kc, n0, nc) packs a B block.
// `accumulate` adds to C instead of overwriting it; `bias` (per row of C, may be null) is added when
// C is overwritten. b_buf must hold round_up(nc_max, NR)·kc_max elements; a_buf round_up(M, MR)·kc_max.
template <class T, class PackA, class PackB, class CView>
void gemm_range(int64_t M, int64_t K, int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end,
                PackA&& pack_a, const T* a_packed, PackB&& pack_b, CView&& cview, int accumulate, const T* bias,
                T* a_buf, T* b_buf) {
  const MicroKernel<T>& uk = kernel<T>();
  const int MR = uk.mr, NR = uk.nr;
  const int64_t KC = uk.kc, NC = uk.nc;
  alignas(64) T tile[16 * 64];
  for (int64_t n0 = n_begin; n0 < n_end; n0 += NC) {
    const int64_t nc = std::min(NC, n_end - n0);
    for (int64_t k0 = 0; k0 < K || k0 == 0; k0 += KC) {
      const int64_t kc = std::min(KC, K - k0);
      const int acc = (k0 > 0) || accumulate;
      pack_b(b_buf, k0, kc, n0, nc);
      const T* a_block;
      if (a_packed) {
        a_block = a_packed + (k0 / KC) * round_up(M, MR) * KC + (m_begin / MR) * MR * kc;
      } else {
        pack_a(a_buf, m_begin, m_end - m_begin, k0, kc);
        a_block = a_buf;
      }
      for (int64_t j = 0; j < nc; j += NR) {
        const int64_t nr = std::min<int64_t>(NR, nc - j);
        const T* bp = b_buf + (j / NR) * NR * kc;
        for (int64_t i = m_begin; i < m_end; i += MR) {
          const int64_t mr = std::min<int64_t>(MR, m_end - i);
          const T* ap = a_block + ((i - m_begin) / MR) * MR * kc;
          const T* row_bias = (bias && !acc) ? bias + i : nullptr;
          int64_t ldc = 0;
          T* c = (mr == MR && nr == NR) ? cview.tile(i, n0 + j, MR, NR, &ldc) : nullptr;
          if (c) {
            uk.fn(kc, ap, bp, c, ldc, acc, row_bias);
          } else {
            T bias_pad[16];
            if (row_bias) {
              for (int r = 0; r < MR; ++r) bias_pad[r] = r < mr ? row_bias[r] : T(0);
              row_bias = bias_pad;
            }
            uk.fn(kc, ap, bp, tile, NR, 0, row_bias);
            cview.scatter(tile, NR, i, n0 + j, mr, nr, acc);
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
  T* tile(int64_t m0, int64_t n0, int, int, int64_t* ld) const {
    *ld = ldc;
    return c + m0 * ldc + n0;
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

// Packs rows [m0, m0+mc) × [k0, k0+kc) of a strided matrix (element (i, k) at a[i·rs + k·cs]).
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

// Packs [k0, k0+kc) × columns [n0, n0+nc) of a strided matrix (element (k, j) at b[k·rs + j·cs]).
template <class T>
void pack_b_strided(T* dst, const T* b, int64_t rs, int64_t cs, int64_t k0, int64_t kc, int64_t n0, int64_t nc,
                    int NR) {
  for (int64_t q = 0; q < nc; q += NR) {
    const int64_t cols = std::min<int64_t>(NR, nc - q);
    T* d = dst + q * kc;
    for (int64_t k = 0; k < kc; ++k) {
      const T* src = b + (k0 + k) * rs + (n0 + q) * cs;
      T* dk = d + k * NR;
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
