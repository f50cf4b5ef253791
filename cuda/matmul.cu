// matmul on CUDA: the contract's batched strided product (kernels.h) on the tiled implicit-GEMM core
// (igemm.cuh, MatmulProblem): CTA tiles of 64×128 outputs (8 warps of 32×32), k-tiles of 32 (float) or 16
// (double) staged through shared memory by cp.async on sm_80+, TF32 tensor cores for float32 unless
// allow_tf32() is off (then FMA, as for float64). Each operand is staged k-contiguous when its k stride is 1
// and along its rows or columns otherwise, so that consecutive lanes read consecutive addresses whenever
// the strides allow it (stride 0 broadcasts cost nothing more); when that axis has unit stride and the
// other strides keep 16-byte alignment, four elements go per copy (igemm::dense_vectorizable). Few tiles
// and a long k: split-K parts summed in a fixed order by a second kernel (accumulate applied there).
#include <cstdint>

#include "common.cuh"
#include "igemm.cuh"
#include "kernels.cuh"

namespace ns {
namespace cuda {
namespace {

template <class T, bool Tf32>
using MatmulCfg = igemm::TileConfig<T, Tf32, 64, 128, 2, 4>;

template <class Cfg, bool AK, bool BK, class T>
int run(int64_t batch, int64_t m, int64_t n, int64_t k, const T* a, int64_t a_bs, int64_t a_rs, int64_t a_cs,
        const T* b, int64_t b_bs, int64_t b_rs, int64_t b_cs, T* c, bool accumulate) {
  const char* what = "matmul";
  using Prob = igemm::MatmulProblem<T, Cfg::BM, Cfg::BN, Cfg::kThreads, AK, BK>;
  const int ks = sizeof(T) == 4 ? 32 : 16;
  Prob prob{igemm::make_plan(static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), Cfg::BM, Cfg::BN, ks, ks,
                             static_cast<int>(batch), igemm::default_stages()),
            a, b, c, a_bs, a_rs, a_cs, b_bs, b_rs, b_cs, accumulate};
  if (prob.plan.tiles() >= (int64_t(1) << 31))
    return fail(NS_ERR_UNSUPPORTED, "%s: %lld × %lld outputs per matrix are too many tiles", what,
                static_cast<long long>(m), static_cast<long long>(n));
  if (igemm::smem_bytes<Cfg, Prob>(prob.plan) > static_cast<size_t>(igemm::smem_optin_bytes())) prob.plan.stages = 2;
  prob.plan.splits = igemm::choose_splits(prob.plan, multiprocessors(), 4);
  const int64_t per = batch * m * n;
  while (prob.plan.splits > 1 && per * prob.plan.splits > (int64_t(1) << 24)) --prob.plan.splits;
  prob.vectorize();
  return igemm::launch<Cfg>(prob, what);
}

// Staging orders from the strides: A k-contiguous unless its rows are (a_rs = 1 ≠ a_cs); B k-contiguous only
// when its k stride is 1 and its columns' is not.
template <class Cfg, class T>
int run_cfg(int64_t batch, int64_t m, int64_t n, int64_t k, const T* a, int64_t a_bs, int64_t a_rs, int64_t a_cs,
            const T* b, int64_t b_bs, int64_t b_rs, int64_t b_cs, T* c, bool accumulate) {
  const bool ak = !(a_rs == 1 && a_cs != 1), bk = b_rs == 1 && b_cs != 1;
  if (ak && bk) return run<Cfg, true, true>(batch, m, n, k, a, a_bs, a_rs, a_cs, b, b_bs, b_rs, b_cs, c, accumulate);
  if (ak) return run<Cfg, true, false>(batch, m, n, k, a, a_bs, a_rs, a_cs, b, b_bs, b_rs, b_cs, c, accumulate);
  if (bk) return run<Cfg, false, true>(batch, m, n, k, a, a_bs, a_rs, a_cs, b, b_bs, b_rs, b_cs, c, accumulate);
  return run<Cfg, false, false>(batch, m, n, k, a, a_bs, a_rs, a_cs, b, b_bs, b_rs, b_cs, c, accumulate);
}

}  // namespace

int matmul(ns_dtype dt, int64_t batch, int64_t m, int64_t n, int64_t k, const void* a, int64_t a_bs, int64_t a_rs,
           int64_t a_cs, const void* b, int64_t b_bs, int64_t b_rs, int64_t b_cs, void* c, int accumulate) {
  return dispatch_float(dt, "matmul", [&](auto zero) -> int {
    using T = decltype(zero);
    if (batch == 0 || m == 0 || n == 0) return NS_OK;
    const int64_t lim = int64_t(1) << 31;
    if (batch >= lim || m >= lim || n >= lim || k >= lim)
      return fail(NS_ERR_UNSUPPORTED, "matmul: sizes (batch %lld, %lld × %lld × %lld) beyond 32-bit tile indices",
                  static_cast<long long>(batch), static_cast<long long>(m), static_cast<long long>(n),
                  static_cast<long long>(k));
    const T* pa = static_cast<const T*>(a);
    const T* pb = static_cast<const T*>(b);
    T* pc = static_cast<T*>(c);
    if constexpr (std::is_same<T, float>::value) {
      if (allow_tf32() && compute_capability() >= 80)
        return run_cfg<MatmulCfg<T, true>>(batch, m, n, k, pa, a_bs, a_rs, a_cs, pb, b_bs, b_rs, b_cs, pc,
                                           accumulate != 0);
    }
    return run_cfg<MatmulCfg<T, false>>(batch, m, n, k, pa, a_bs, a_rs, a_cs, pb, b_bs, b_rs, b_cs, pc,
                                        accumulate != 0);
  });
}

}  // namespace cuda
}  // namespace ns
