// Batched strided matrix product on the GEMM core.
#include "gemm.h"
#include "cpu.h"

namespace ns {
namespace {

template <class T>
void matmul(int64_t batch, int64_t m, int64_t n, int64_t k, const T* a, int64_t a_bs, int64_t a_rs, int64_t a_cs,
            const T* b, int64_t b_bs, int64_t b_rs, int64_t b_cs, T* c, int accumulate) {
  const gemm::MicroKernel<T>& uk = gemm::kernel<T>();
  const int64_t MR = uk.mr, NR = uk.nr;
  const int64_t row_tiles = (m + MR - 1) / MR, col_tiles = (n + NR - 1) / NR;
  // Work items: (batch, row tile range, column tile range). Split columns when they are plentiful,
  // rows otherwise; small products stay on one thread.
  const int threads = static_cast<double>(batch) * m * n * k < 64.0 * 64 * 64 ? 1 : pool_size();
  const bool split_cols = col_tiles >= row_tiles;
  const int64_t parts_per_matrix = batch >= threads ? 1 : (threads + batch - 1) / batch;
  const int64_t items = batch * parts_per_matrix;
  const gemm::Blocking blk{gemm::round_up(std::min<int64_t>(m, uk.mc), MR), gemm::balanced_block(k, uk.kc, 1), uk.nc};
  const int64_t a_buf = blk.mc * blk.kc, b_buf = gemm::round_up(blk.nc, NR) * blk.kc;
  const int used = static_cast<int>(std::min<int64_t>(threads, items));
  Scratch scratch(sizeof(T) * used * (a_buf + b_buf));
  parallel_run(used, [&](int tid, int nt) {
    T* abuf = scratch.as<T>() + tid * (a_buf + b_buf);
    T* bbuf = abuf + a_buf;
    for (int64_t item = tid; item < items; item += nt) {
      const int64_t bi = item / parts_per_matrix, part = item % parts_per_matrix;
      const int64_t tiles = split_cols ? col_tiles : row_tiles;
      const int64_t t0 = tiles * part / parts_per_matrix, t1 = tiles * (part + 1) / parts_per_matrix;
      if (t0 >= t1) continue;
      int64_t m0 = 0, m1 = m, n0 = 0, n1 = n;
      if (split_cols) {
        n0 = t0 * NR;
        n1 = std::min(n, t1 * NR);
      } else {
        m0 = t0 * MR;
        m1 = std::min(m, t1 * MR);
      }
      const T* ab = a + bi * a_bs;
      const T* bb = b + bi * b_bs;
      gemm::gemm_blocked<T>(
          blk, k, m0, m1, n0, n1,
          [&](T* dst, int64_t r0, int64_t rc, int64_t k0, int64_t kc) {
            gemm::pack_a_strided(dst, ab, a_rs, a_cs, r0, rc, k0, kc, static_cast<int>(MR));
            return gemm::APanels<T>{dst, MR * kc, 1, MR};
          },
          [&](T* dst, int64_t k0, int64_t kc, int64_t c0, int64_t cc) {
            gemm::pack_b_strided(dst, bb, b_rs, b_cs, k0, kc, c0, cc, static_cast<int>(NR));
            return gemm::BPanels<T>{dst, NR * kc, NR};
          },
          gemm::DenseCView<T>{c + bi * m * n, n}, accumulate, nullptr, abuf, bbuf);
    }
  });
}

}  // namespace
}  // namespace ns

extern "C" int ns_cpu_matmul(ns_dtype dt, int64_t batch, int64_t m, int64_t n, int64_t k, const void* a, int64_t a_bs,
                             int64_t a_rs, int64_t a_cs, const void* b, int64_t b_bs, int64_t b_rs, int64_t b_cs,
                             void* c, int accumulate) {
  if (batch == 0 || m == 0 || n == 0) return NS_OK;
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::matmul(batch, m, n, k, static_cast<const T*>(a), a_bs, a_rs, a_cs, static_cast<const T*>(b), b_bs, b_rs, b_cs,
               static_cast<T*>(c), accumulate);
  });
}
