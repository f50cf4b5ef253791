// Neural-similarity convolutions on CUDA (DESIGN.md §2, kernels.h).
//
// Static forms fold into the weight, as on the CPU: similarity_fold is one small kernel (w' = w·M per row
// of taps), and the weight gradients are conv2d's weight gradient dw' (conv::weight_grad, a temporary of the
// weight's size) followed by the fold-back: dw[r,a] = Σ_b dw'[r,b]·m[a,b] (a thread per element) and
// dm[a,b] = Σ_r w[r,a]·dw'[r,b] (a block per entry, fixed-order reduction).
//
// Dynamic forms (groups = 1, K = kh·kw ≤ sim::kMaxTaps taps) run conv.cuh's implicit GEMMs with the
// transform of similarity_transform.cuh applied to the tile in shared memory, so no N·Ho·Wo·C·K or
// N·Ho·Wo·K·F tensor is ever stored:
//   forward      y = W · X̃,             X̃_p = M_p·P_p formed from the patch tile (k-tiles of whole channels)
//   grad input   dx = Wᵀ-contraction of Z, Z[(f,a),q] = Σ_b M_{p(q,b)}[a,b]·dy[f,p(q,b)] gathered per pixel
//   grad weight  dwᵀ = X̃ · dYᵀ,           X̃ formed as in the forward, split-K over positions (fixed order)
//   grad m       dm_kernel: per tile of positions, for each channel group in turn, dX̃ = Wᵀ·dY (GEMM in
//                registers), staged to shared memory and contracted with the group's patch tile into dm's
//                running sums (dm_p[a,b] += Σ_c dX̃_p[c,a]·P_p[c,b]); groups split over CTAs only when
//                positions are few, their partial dm buffers summed in order by a second kernel
//   grad bias    conv::bias_grad
// Larger kernels, or tiles that do not fit the device's shared memory, take direct kernels (a thread per
// output element or a block per weight, every sum in a fixed order): slower, same results.
#include <cstdint>

#include "common.cuh"
#include "conv.cuh"
#include "kernels.cuh"

namespace ns {
namespace cuda {
namespace {

using conv::ConvGeom;
using conv::kReduceThreads;
using conv::SimM;

unsigned grid_for(int64_t n) { return blocks_for(n, 256); }

// ------------------------------------------------------------------ static forms

// out = w·M per row of k taps (conv::direct::fold_at): a thread per element.
template <class T>
__global__ void fold_kernel(bool spatial, int64_t rows, int k, const T* w, const T* m, T* out) {
  const int64_t total = rows * k;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[e] = conv::direct::fold_at(spatial, k, w, m, e);
}

// dw from dw' (conv::direct::fold_back_dw_at): a thread per element.
template <class T>
__global__ void fold_back_dw_kernel(bool spatial, int64_t rows, int k, const T* dwf, const T* m, T* dw) {
  const int64_t total = rows * k;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dw[e] = conv::direct::fold_back_dw_at(spatial, k, dwf, m, e);
}

// dm = Σ_r over rows of w[r, a]·dw'[r, b]: a block per entry, thread t summing rows t, t + 256, …, then a
// fixed-order block reduction.
template <class T>
__global__ void __launch_bounds__(kReduceThreads)
    fold_back_dm_kernel(bool spatial, int64_t rows, int k, const T* w, const T* dwf, T* dm) {
  const int e = blockIdx.x;
  T s = T(0);
  for (int64_t r = threadIdx.x; r < rows; r += kReduceThreads)
    s += conv::direct::fold_back_dm_term(spatial, k, w, dwf, e, r);
  s = conv::block_sum(s);
  if (threadIdx.x == 0) dm[e] = s;
}

// ------------------------------------------------------------------ dynamic forms: direct kernels

// y directly (conv::direct::sim_forward_at): a thread per output element.
template <class T>
__global__ void direct_forward_kernel(const __grid_constant__ ConvGeom G, const __grid_constant__ SimM<T> mp,
                                      const T* x, const T* w, const T* bias, T* y) {
  const int64_t total = static_cast<int64_t>(G.positions()) * G.f;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
    y[e] = conv::direct::sim_forward_at(G, mp, x, w, bias, e);
}

// dx directly, gathered per input element (conv::direct::sim_backward_input_at).
template <class T>
__global__ void direct_backward_input_kernel(const __grid_constant__ ConvGeom G, const __grid_constant__ SimM<T> mp,
                                             const T* dy, const T* w, T* dx) {
  const int64_t total = static_cast<int64_t>(G.pixels()) * G.c;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dx[e] = conv::direct::sim_backward_input_at(G, mp, dy, w, e);
}

// dw directly: a block per weight element (grid-stride), thread t summing positions t, t + 256, …, then a
// fixed-order block reduction.
template <class T>
__global__ void __launch_bounds__(kReduceThreads)
    direct_backward_weight_kernel(const __grid_constant__ ConvGeom G, const __grid_constant__ SimM<T> mp, const T* x,
                                  const T* dy, T* dw) {
  const int64_t total = static_cast<int64_t>(G.f) * G.c * G.taps;
  for (int64_t e = blockIdx.x; e < total; e += gridDim.x) {
    const conv::direct::WeightIndex wi = conv::direct::weight_index(G, G.c, e);
    T s = T(0);
    for (int pos = threadIdx.x; pos < G.positions(); pos += kReduceThreads)
      s += conv::direct::sim_backward_weight_term(G, mp, x, dy, wi, pos);
    s = conv::block_sum(s);
    if (threadIdx.x == 0) dw[e] = s;
  }
}

// dm directly (conv::direct::sim_backward_m_at): a thread per dm element.
template <class T>
__global__ void direct_backward_m_kernel(const __grid_constant__ ConvGeom G, const __grid_constant__ SimM<T> mp,
                                         const T* x, const T* w, const T* dy, T* dm) {
  const int64_t total = static_cast<int64_t>(G.positions()) * mp.rows;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dm[i] = conv::direct::sim_backward_m_at(G, mp, x, w, dy, i);
}

// ------------------------------------------------------------------ dynamic forms: the dm kernel

template <class T, bool Tf32>
using DmCfg = igemm::TileConfig<T, Tf32, 128, 64, 4, 2>;

template <class Cfg>
using DmProb = conv::DmGemm<typename Cfg::T, Cfg::BM, Cfg::BN, Cfg::kThreads>;

// One tile of positions (blockIdx.x) and one run of channel groups (blockIdx.z of `group_splits`): for each
// group in order, dX̃ = Wᵀ·dY (the core's mainloop), staged with the group's patch tile, contracted into
// dm's running sums in shared memory; then written to dm, or with several runs to the run's slice of the
// partial buffer `out` (test/cuda-host/igemm_test.cc's run_dm mirrors this sequence).
template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kMinBlocks)
    dm_kernel(const __grid_constant__ DmProb<Cfg> prob, typename Cfg::T* out, int group_splits) {
  using T = typename Cfg::T;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* smem = reinterpret_cast<T*>(smem_raw);
  const int tid = threadIdx.x, split = blockIdx.z;
  const conv::DmSmem L = conv::dm_smem(Cfg::BM, Cfg::BN, prob.plan.ks, prob.plan.stages, prob.mp.rows);
  T* sums = smem + L.acc_offset;
  for (int u = tid; u < prob.mp.rows * Cfg::BN; u += Cfg::kThreads) sums[u] = T(0);
  int g0, g1;
  prob.groups(split, group_splits, g0, g1);
  const igemm::AsyncCopy<T> copy{prob.dummy()};
  for (int g = g0; g < g1; ++g) {
    const igemm::CtaTile tile = prob.group_tile(g, blockIdx.x);
    T acc[Cfg::kAcc];
#pragma unroll
    for (int i = 0; i < Cfg::kAcc; ++i) acc[i] = T(0);
    igemm::mainloop<Cfg>(prob, tile, smem, acc);
    __syncthreads();  // every warp is done with the stages the tiles below overlay
    DmProb<Cfg>::template stage<Cfg>(tid, acc, smem + L.g_offset, L.g_ld);
    const auto patch = prob.patch(tile);
    patch.load(patch.init(tid), tid, smem + L.p_offset, L.p_ld, tile.m0, tile.mcount, Cfg::BM, copy);
    igemm::cp_async_commit();
    igemm::cp_async_wait<0>();
    __syncthreads();
    sim::dm_accumulate<Cfg::BN>(sums, Cfg::BN, smem + L.g_offset, L.g_ld, smem + L.p_offset, L.p_ld,
                                prob.G.taps_d.div(tile.mcount), prob.G.taps, prob.mp.spatial, tid, Cfg::kThreads);
    __syncthreads();  // before the next group's stages overwrite the tiles
  }
  const igemm::CtaTile columns = prob.group_tile(0, blockIdx.x);
  prob.write(columns.n0, columns.ncount, tid, Cfg::kThreads, sums, prob.split_output(out, split, group_splits));
}

// dm[i] = Σ_s partial[s·size + i], the splits in order.
template <class T>
__global__ void sum_partials_kernel(const T* partial, int splits, int64_t size, T* dm) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < size;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dm[i] = igemm::sum_parts(partial, splits, size, i);
}

template <class Cfg>
int dm_with(const ConvGeom& G, const SimM<typename Cfg::T>& mp, const typename Cfg::T* x, const typename Cfg::T* w,
            const typename Cfg::T* dy, typename Cfg::T* dm, const char* what) {
  using T = typename Cfg::T;
  if (G.taps > Cfg::BM) return conv::kNoFit;
  DmProb<Cfg> prob{igemm::GemmPlan{}, G, igemm::dy_geom(G), x, w, dy, dm, mp};
  const int ks = conv::plain_ks<T>();
  prob.plan = conv::dm_plan(G, Cfg::BM, Cfg::BN, ks);
  prob.plan.stages = igemm::default_stages();
  const size_t limit = static_cast<size_t>(igemm::smem_optin_bytes());
  auto bytes = [&] {
    return sizeof(T) * static_cast<size_t>(conv::dm_smem(Cfg::BM, Cfg::BN, ks, prob.plan.stages, mp.rows).total);
  };
  if (bytes() > limit) prob.plan.stages = 2;
  if (bytes() > limit) return conv::kNoFit;
  // Channel groups split over CTAs only when the position tiles alone are too few for two waves.
  const int64_t want = 2 * static_cast<int64_t>(multiprocessors());
  int splits = 1;
  if (prob.plan.ntiles < want) {
    const int64_t s = (want + prob.plan.ntiles - 1) / prob.plan.ntiles;
    splits = static_cast<int>(s < prob.plan.mtiles ? (s < 32 ? s : 32) : prob.plan.mtiles);
  }
  const int64_t size = static_cast<int64_t>(G.positions()) * mp.rows;
  while (splits > 1 && size * splits > conv::kMaxPartialElems) --splits;
  prob.vectorize();
  auto kernel = dm_kernel<Cfg>;
  static size_t allowed = 48 * 1024;
  int st = igemm::allow_smem(kernel, bytes(), allowed, what);
  if (st != NS_OK) return st;
  Scratch partial;
  if (splits > 1 && (st = partial.allocate(sizeof(T) * static_cast<size_t>(size * splits))) != NS_OK) return st;
  kernel<<<dim3(static_cast<unsigned>(prob.plan.ntiles), 1, static_cast<unsigned>(splits)), Cfg::kThreads, bytes(),
           stream()>>>(prob, splits > 1 ? partial.as<T>() : dm, splits);
  if ((st = check_launch(what)) != NS_OK || splits == 1) return st;
  sum_partials_kernel<T><<<grid_for(size), 256, 0, stream()>>>(partial.as<T>(), splits, size, dm);
  return check_launch(what);
}

template <class T>
int run_dm(const ConvGeom& G, const SimM<T>& mp, const T* x, const T* w, const T* dy, T* dm, const char* what) {
  if constexpr (std::is_same<T, float>::value) {
    if (conv::use_tf32<T>()) return dm_with<DmCfg<T, true>>(G, mp, x, w, dy, dm, what);
  }
  return dm_with<DmCfg<T, false>>(G, mp, x, w, dy, dm, what);
}

// ------------------------------------------------------------------ entry helpers

// The dynamic forms' checks: one group, sizes within the 32-bit tile indices.
int check_dynamic(const ns_conv2d_desc* d, const char* what) {
  if (d->groups != 1) return fail(NS_ERR_UNSUPPORTED, "%s: expected groups = 1 but got %lld", what,
                                  static_cast<long long>(d->groups));
  if (!igemm::conv_fits_int32(*d))
    return fail(NS_ERR_UNSUPPORTED, "%s: sizes too large for the CUDA kernels' 32-bit tile indices", what);
  return NS_OK;
}

// Whether the tiled kernels transform this many taps (in registers).
bool tiled(const ConvGeom& G) { return G.taps <= sim::kMaxTaps; }

}  // namespace

int similarity_fold(ns_dtype dt, int spatial, int64_t rows, int64_t k, const void* w, const void* m, void* out) {
  const char* what = "similarity_fold";
  return dispatch_float(dt, what, [&](auto zero) -> int {
    using T = decltype(zero);
    if (rows * k == 0) return NS_OK;
    if (k >= (int64_t(1) << 30)) return fail(NS_ERR_UNSUPPORTED, "%s: %lld taps", what, static_cast<long long>(k));
    fold_kernel<T><<<grid_for(rows * k), 256, 0, stream()>>>(spatial != 0, rows, static_cast<int>(k),
                                                             static_cast<const T*>(w), static_cast<const T*>(m),
                                                             static_cast<T*>(out));
    return check_launch(what);
  });
}

int similarity_static_backward_weight(ns_dtype dt, const ns_conv2d_desc* d, int spatial, const void* x,
                                      const void* dy, const void* w, const void* m, void* dw, void* dm,
                                      void* dbias) {
  const char* what = "similarity_static_backward_weight";
  return dispatch_float(dt, what, [&](auto zero) -> int {
    using T = decltype(zero);
    int st = NS_OK;
    if (!igemm::conv_fits_int32(*d))
      return fail(NS_ERR_UNSUPPORTED, "%s: sizes too large for the CUDA kernels' 32-bit tile indices", what);
    const int64_t k = d->kh * d->kw, rows = d->f * (d->c / d->groups), entries = spatial ? k * k : k;
    if ((dw || dm) && rows * k > 0) {
      Scratch dwf;
      if ((st = dwf.allocate(sizeof(T) * static_cast<size_t>(rows * k))) != NS_OK) return st;
      if ((st = conv::weight_grad<T>(*d, static_cast<const T*>(x), static_cast<const T*>(dy), dwf.as<T>())) != NS_OK)
        return st;
      if (dw) {
        fold_back_dw_kernel<T><<<grid_for(rows * k), 256, 0, stream()>>>(
            spatial != 0, rows, static_cast<int>(k), dwf.as<T>(), static_cast<const T*>(m), static_cast<T*>(dw));
        if ((st = check_launch(what)) != NS_OK) return st;
      }
      if (dm) {
        fold_back_dm_kernel<T><<<static_cast<unsigned>(entries), kReduceThreads, 0, stream()>>>(
            spatial != 0, rows, static_cast<int>(k), static_cast<const T*>(w), dwf.as<T>(), static_cast<T*>(dm));
        if ((st = check_launch(what)) != NS_OK) return st;
      }
    } else if (dm && entries > 0) {  // no weights: dm = 0
      if ((st = check(cudaMemsetAsync(dm, 0, sizeof(T) * static_cast<size_t>(entries), stream()), what)) != NS_OK)
        return st;
    }
    if (dbias) st = conv::bias_grad<T>(*d, static_cast<const T*>(dy), static_cast<T*>(dbias));
    return st;
  });
}

int similarity_conv2d_forward(ns_dtype dt, const ns_conv2d_desc* d, int spatial, const void* x, const void* w,
                              const void* m, const void* bias, void* y) {
  const char* what = "similarity_conv2d_forward";
  return dispatch_float(dt, what, [&](auto zero) -> int {
    using T = decltype(zero);
    int st = check_dynamic(d, what);
    if (st != NS_OK || d->n * d->f * d->ho * d->wo == 0) return st;
    const ConvGeom G = igemm::make_geom(*d);
    const SimM<T> mp{static_cast<const T*>(m), spatial != 0, spatial ? G.taps * G.taps : G.taps};
    const T *px = static_cast<const T*>(x), *pw = static_cast<const T*>(w), *pb = static_cast<const T*>(bias);
    T* py = static_cast<T*>(y);
    if (tiled(G) && (st = conv::run_forward<T, true>(G, px, pw, pb, py, mp, what)) != conv::kNoFit) return st;
    direct_forward_kernel<T><<<grid_for(static_cast<int64_t>(G.positions()) * G.f), 256, 0, stream()>>>(G, mp, px, pw,
                                                                                                        pb, py);
    return check_launch(what);
  });
}

int similarity_conv2d_backward(ns_dtype dt, const ns_conv2d_desc* d, int spatial, const void* x, const void* w,
                               const void* m, const void* dy, void* dx, void* dw, void* dm, void* dbias) {
  const char* what = "similarity_conv2d_backward";
  return dispatch_float(dt, what, [&](auto zero) -> int {
    using T = decltype(zero);
    int st = check_dynamic(d, what);
    if (st != NS_OK) return st;
    const ConvGeom G = igemm::make_geom(*d);
    const SimM<T> mp{static_cast<const T*>(m), spatial != 0, spatial ? G.taps * G.taps : G.taps};
    const T *px = static_cast<const T*>(x), *pw = static_cast<const T*>(w), *pdy = static_cast<const T*>(dy);
    if (dbias && (st = conv::bias_grad<T>(*d, pdy, static_cast<T*>(dbias))) != NS_OK) return st;
    if (dw && static_cast<int64_t>(G.f) * G.c * G.taps > 0) {
      T* out = static_cast<T*>(dw);
      if (!tiled(G) || (st = conv::run_backward_weight<T, true>(G, px, pdy, out, mp, what)) == conv::kNoFit) {
        const int64_t weights = static_cast<int64_t>(G.f) * G.c * G.taps;
        direct_backward_weight_kernel<T><<<static_cast<unsigned>(weights < (1 << 20) ? weights : (1 << 20)),
                                           kReduceThreads, 0, stream()>>>(G, mp, px, pdy, out);
        st = check_launch(what);
      }
      if (st != NS_OK) return st;
    }
    if (dx && static_cast<int64_t>(G.pixels()) * G.c > 0) {
      T* out = static_cast<T*>(dx);
      if (!tiled(G) || (st = conv::run_backward_input<T, true>(G, pdy, pw, out, mp, what)) == conv::kNoFit) {
        direct_backward_input_kernel<T><<<grid_for(static_cast<int64_t>(G.pixels()) * G.c), 256, 0, stream()>>>(
            G, mp, pdy, pw, out);
        st = check_launch(what);
      }
      if (st != NS_OK) return st;
    }
    if (dm && static_cast<int64_t>(G.positions()) * mp.rows > 0) {
      T* out = static_cast<T*>(dm);
      if (!tiled(G) || (st = run_dm<T>(G, mp, px, pw, pdy, out, what)) == conv::kNoFit) {
        direct_backward_m_kernel<T><<<grid_for(static_cast<int64_t>(G.positions()) * mp.rows), 256, 0, stream()>>>(
            G, mp, px, pw, pdy, out);
        st = check_launch(what);
      }
      if (st != NS_OK) return st;
    }
    return NS_OK;
  });
}

}  // namespace cuda
}  // namespace ns
