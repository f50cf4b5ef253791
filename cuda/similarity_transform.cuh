// The neural-similarity transform M_p applied to a tile in shared memory (DESIGN.md §2), and its adjoint
// and dm contraction, as NS_HD code that the kernels of similarity.cu (through conv.cuh's problems) and
// test/cuda-host/igemm_test.cc share.
//
// A transformed tile has, for each of its columns, nch channels × K taps of rows (row c·K + a), then zero
// padding up to the tile's row count. The rows are laid out `rs` elements apart and a column's elements
// belong to one output position (forward, weight gradient) or one input pixel (input gradient):
//
//   forward / weight gradient   X̃[c,a] = Σ_b M_p[a,b] · P[c,b]                    (PositionCoef)
//   input gradient (adjoint)    Z[f,a] = Σ_b M_{p(q,b)}[a,b] · dY[f,b]             (PixelCoef*)
//                               where dY[f,b] = dy[f, p(q,b)], the position whose tap b reads pixel q
//                               (zero when none), so dx = Wᵀ-contraction of Z needs no scatter
//   dm (epilogue)               dm_p[a,b] += Σ_c dX̃_p[c,a] · P_p[c,b]               (dm_accumulate)
//
// Spatial M (K ≤ kMaxTaps) is applied with the column's taps in registers: a few channels' K taps are loaded
// (four for 3×3 kernels, two otherwise), then each output tap a is a K-term dot product whose coefficients
// are loaded once for all of them.
// Diagonal M is a per-row scale. Both read M straight from global memory (coalesced: neighbouring lanes
// hold neighbouring columns, whose m entries are neighbours in m's [n, rows, ho, wo] layout); every sum
// runs in a fixed order, so results are reproducible bit for bit.
#ifndef NEURAL_SIMILARITY_CUDA_SIMILARITY_TRANSFORM_CUH
#define NEURAL_SIMILARITY_CUDA_SIMILARITY_TRANSFORM_CUH

#include <cstdint>

#include "host_device.h"
#include "igemm.cuh"

namespace ns {
namespace cuda {
namespace sim {

// Most taps the tiled kernels transform in registers (4×4 kernels; larger ones take similarity.cu's
// direct kernels).
constexpr int kMaxTaps = 16;

// M_p of one column whose output position p is fixed (forward, weight gradient): M_p[a,b] =
// m[n, a·K + b, p] (spatial) or m[n, a, p] on the diagonal.
template <class T>
struct PositionCoef {
  const T* col;   // m at (n, 0, p)
  int64_t plane;  // ho·wo, the stride between m's rows
  int K;
  NS_HD T spatial(int a, int b) const { return col[static_cast<int64_t>(a * K + b) * plane]; }
  NS_HD T diag(int a) const { return col[static_cast<int64_t>(a) * plane]; }
};

// The adjoint's coefficients for a column that is an input pixel q: entry (a, b) = M_{p(q,b)}[a, b], zero
// when tap b of no position reads q. Spatial: the K positions p(q, b) are found once per column.
template <class T>
struct PixelCoefSpatial {
  const T* img;  // m at (n, 0, 0)
  int64_t plane;
  int K;
  int off[kMaxTaps];  // p(q, b) within the plane, or −1
  NS_HD PixelCoefSpatial(const T* m_img, const igemm::ConvGeom& G, int qhp, int qwp)
      : img(m_img), plane(G.plane), K(G.taps) {
    NS_UNROLL
    for (int b = 0; b < kMaxTaps; ++b) off[b] = b < K ? igemm::dgrad_tap_offset(G, qhp, qwp, b) : -1;
  }
  NS_HD T spatial(int a, int b) const {
    return off[b] < 0 ? T(0) : img[static_cast<int64_t>(a * K + b) * plane + off[b]];
  }
};

template <class T>
struct PixelCoefDiag {
  const T* img;  // m at (n, 0, 0)
  const igemm::ConvGeom& G;
  int qhp, qwp;  // qh + ph, qw + pw
  NS_HD T diag(int a) const {
    const int off = igemm::dgrad_tap_offset(G, qhp, qwp, a);
    return off < 0 ? T(0) : img[static_cast<int64_t>(a) * G.plane + off];
  }
};

// Rows [from + slot, rows) step nslots of a column set to zero.
template <class T>
NS_HD void zero_rows(T* dst, int rs, int slot, int nslots, int from, int rows) {
  for (int r = from + slot; r < rows; r += nslots) dst[r * rs] = T(0);
}

// Channels c0, c0 + nslots, … (CH of them, those < nch) of one column, spatial form, with K = KT taps
// (KT > 0) or K = k ≤ kMaxTaps (KT = 0): their taps in registers, each coefficient loaded once for all CH.
template <int KT, int CH, class T, class Coef>
NS_HD void mix_channels(const T* src, T* dst, int rs, int c0, int nslots, int nch, int k, const Coef& coef) {
  constexpr int KM = KT > 0 ? KT : kMaxTaps;
  const int K = KT > 0 ? KT : k;
  bool has[CH];
  T p[CH][KM];
  NS_UNROLL
  for (int u = 0; u < CH; ++u) {
    has[u] = c0 + u * nslots < nch;
    NS_UNROLL
    for (int b = 0; b < KM; ++b) p[u][b] = has[u] && b < K ? src[((c0 + u * nslots) * K + b) * rs] : T(0);
  }
  NS_NO_UNROLL
  for (int a = 0; a < K; ++a) {
    T acc[CH];
    NS_UNROLL
    for (int u = 0; u < CH; ++u) acc[u] = T(0);
    NS_UNROLL
    for (int b = 0; b < KM; ++b)
      if (b < K) {
        const T mab = coef.spatial(a, b);
        NS_UNROLL
        for (int u = 0; u < CH; ++u) acc[u] += mab * p[u][b];
      }
    NS_UNROLL
    for (int u = 0; u < CH; ++u)
      if (has[u]) dst[((c0 + u * nslots) * K + a) * rs] = acc[u];
  }
}

// One column of a tile, spatial form: dst[c·K + a] = Σ_b coef(a, b)·src[c·K + b] for the channels
// slot, slot + nslots, … < nch handled by this thread, then its share of the padding rows [nch·K, rows)
// zeroed. `valid` false (a padding column): every row zero. 3×3 kernels take four channels per pass with
// K known at compile time; other sizes two.
template <class T, class Coef>
NS_HD void mix_column(const T* src, T* dst, int rs, int slot, int nslots, int nch, int K, int rows, bool valid,
                      const Coef& coef) {
  if (!valid) return zero_rows(dst, rs, slot, nslots, 0, rows);
  if (K == 9) {
    for (int c = slot; c < nch; c += 4 * nslots) mix_channels<9, 4>(src, dst, rs, c, nslots, nch, K, coef);
  } else {
    for (int c = slot; c < nch; c += 2 * nslots) mix_channels<0, 2>(src, dst, rs, c, nslots, nch, K, coef);
  }
  zero_rows(dst, rs, slot, nslots, nch * K, rows);
}

// One column, diagonal form: dst[c·K + a] = coef(a)·src[c·K + a] (same sharing and padding as mix_column).
template <class T, class Coef>
NS_HD void scale_column(const T* src, T* dst, int rs, int slot, int nslots, int nch, int K, int rows, bool valid,
                        const Coef& coef) {
  if (!valid) return zero_rows(dst, rs, slot, nslots, 0, rows);
  for (int a = 0; a < K; ++a) {
    const T ma = coef.diag(a);
    for (int c = slot; c < nch; c += nslots) dst[(c * K + a) * rs] = ma * src[(c * K + a) * rs];
  }
  zero_rows(dst, rs, slot, nslots, nch * K, rows);
}

// dm's contraction for a CTA's columns: acc[e·acc_ld + j] += Σ_{c < nch} g[(c·K + a)·g_ld + j] ·
// p[(c·K + b)·p_ld + j] for every entry e = a·K + b (spatial) or e = a = b (diagonal) and column j < NCOLS,
// g = dX̃ and p = the patch, both for the same nch channels. Entry (e, j) belongs to one thread and its
// channels are summed in order.
template <int NCOLS, class T>
NS_HD void dm_accumulate(T* acc, int acc_ld, const T* g, int g_ld, const T* p, int p_ld, int nch, int K, bool spatial,
                         int tid, int nthreads) {
  const int entries = spatial ? K * K : K;
  for (int u = tid; u < entries * NCOLS; u += nthreads) {
    const int e = u / NCOLS, j = u - e * NCOLS;
    const int a = spatial ? e / K : e, b = spatial ? e - a * K : e;
    T s = T(0);
    for (int c = 0; c < nch; ++c) s += g[(c * K + a) * g_ld + j] * p[(c * K + b) * p_ld + j];
    acc[e * acc_ld + j] += s;
  }
}

}  // namespace sim
}  // namespace cuda
}  // namespace ns

#endif
