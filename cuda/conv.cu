// conv2d on CUDA: implicit GEMMs over the tiled core (igemm.cuh, conv.cuh's problems), and direct kernels
// for grouped convolutions with few filters per group (depthwise), where a GEMM tile would be mostly padding.
//
//   forward         conv::run_forward: y_g = W_g · P_g (+ bias), tiles 64×128 or 128×128 (filters × positions)
//   grad input      conv::run_backward_input: dx_g = W_gᵀ · D_g, D gathered from dy per input pixel (no
//                   scatter); tiles 64×128 or 128×128 (channels × pixels)
//   grad weight     conv::run_backward_weight: dw_gᵀ = P_g · dY_gᵀ, tiles 128×64 or 128×128 ((c, tap) ×
//                   filters), the reduction over positions split into parts summed in a fixed order
//   grad bias       bias_grad_kernel: one block per filter, a fixed-order block reduction
//   depthwise       direct_*_kernel: one thread per output (forward), per input element (grad input), one
//                   block per weight (grad weight, fixed-order reduction)
//
// float32 runs on TF32 tensor cores unless allow_tf32() is off or the device predates sm_80 (then FMA);
// float64 runs the FMA path. Every reduction has a fixed order: the same inputs give the same bits.
#include <cstdint>

#include "common.cuh"
#include "conv.cuh"
#include "kernels.cuh"

namespace ns {
namespace cuda {
namespace conv {
namespace {

// dbias[f] = Σ_{n,p} dy[n, f, p]: block f, thread t summing elements t, t + 256, … of the (n, p) slab.
template <class T>
__global__ void __launch_bounds__(kReduceThreads) bias_grad_kernel(const __grid_constant__ ConvGeom G, const T* dy,
                                                                    T* dbias) {
  const int f = blockIdx.x;
  const int count = G.positions();
  T s = T(0);
  for (int i = threadIdx.x; i < count; i += kReduceThreads) {
    const int img = G.plane_d.div(i), p = i - img * G.plane;
    s += dy[(static_cast<int64_t>(img) * G.f + f) * G.plane + p];
  }
  s = block_sum(s);
  if (threadIdx.x == 0) dbias[f] = s;
}

// Few filters per group: a GEMM tile would be mostly padding.
bool use_direct(const ConvGeom& G) { return G.groups > 1 && G.fg < 16; }

// y = conv(x, w) (+ bias) directly: a thread per output element (grid-stride).
template <class T>
__global__ void direct_forward_kernel(const __grid_constant__ ConvGeom G, const T* x, const T* w, const T* bias,
                                      T* y) {
  const int64_t total = static_cast<int64_t>(G.positions()) * G.f;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
    y[e] = direct::forward_at(G, x, w, bias, e);
}

// dx directly: a thread per input element, each gathering from the positions its taps reach.
template <class T>
__global__ void direct_backward_input_kernel(const __grid_constant__ ConvGeom G, const T* dy, const T* w, T* dx) {
  const int64_t total = static_cast<int64_t>(G.pixels()) * G.c;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dx[e] = direct::backward_input_at(G, dy, w, e);
}

// dw directly: a block per weight element (grid-stride over them), thread t summing the terms of positions
// t, t + 256, …, then a fixed-order block reduction.
template <class T>
__global__ void __launch_bounds__(kReduceThreads) direct_backward_weight_kernel(const __grid_constant__ ConvGeom G,
                                                                                 const T* x, const T* dy, T* dw) {
  const int64_t total = static_cast<int64_t>(G.f) * G.cg * G.taps;
  for (int64_t e = blockIdx.x; e < total; e += gridDim.x) {
    const direct::WeightIndex wi = direct::weight_index(G, G.cg, e);
    T s = T(0);
    for (int pos = threadIdx.x; pos < G.positions(); pos += kReduceThreads)
      s += direct::backward_weight_term(G, x, dy, wi, pos);
    s = block_sum(s);
    if (threadIdx.x == 0) dw[e] = s;
  }
}

// Blocks of 256 threads for a grid-stride loop over n items.
unsigned grid_for(int64_t n) { return blocks_for(n, 256); }

// The entry points' common checks: sizes that fit the 32-bit tile indices.
int check_desc(const ns_conv2d_desc* d, const char* what) {
  if (!igemm::conv_fits_int32(*d))
    return fail(NS_ERR_UNSUPPORTED, "%s: sizes too large for the CUDA kernels' 32-bit tile indices", what);
  return NS_OK;
}

// A run_* status: kNoFit (no tile fits the device, which the plain tiles never do) reported as such.
int finish(int st, const char* what) {
  return st == kNoFit ? fail(NS_ERR_UNSUPPORTED, "%s: no tile configuration fits this device", what) : st;
}

}  // namespace

template <class T>
int bias_grad(const ns_conv2d_desc& d, const T* dy, T* dbias) {
  if (d.f == 0) return NS_OK;
  const ConvGeom G = igemm::make_geom(d);
  bias_grad_kernel<T><<<static_cast<unsigned>(G.f), kReduceThreads, 0, stream()>>>(G, dy, dbias);
  return check_launch("conv2d_backward_weight (bias)");
}

template <class T>
int weight_grad(const ns_conv2d_desc& d, const T* x, const T* dy, T* dw) {
  const char* what = "conv2d_backward_weight";
  const ConvGeom G = igemm::make_geom(d);
  if (static_cast<int64_t>(G.f) * G.cg * G.taps == 0) return NS_OK;
  if (use_direct(G)) {
    const int64_t weights = static_cast<int64_t>(G.f) * G.cg * G.taps;
    direct_backward_weight_kernel<T>
        <<<static_cast<unsigned>(weights < (1 << 20) ? weights : (1 << 20)), kReduceThreads, 0, stream()>>>(G, x, dy,
                                                                                                             dw);
    return check_launch(what);
  }
  return finish(run_backward_weight<T, false>(G, x, dy, dw, SimM<T>{nullptr, false, 0}, what), what);
}

template int bias_grad<float>(const ns_conv2d_desc&, const float*, float*);
template int bias_grad<double>(const ns_conv2d_desc&, const double*, double*);
template int weight_grad<float>(const ns_conv2d_desc&, const float*, const float*, float*);
template int weight_grad<double>(const ns_conv2d_desc&, const double*, const double*, double*);

}  // namespace conv

int conv2d_forward(ns_dtype dt, const ns_conv2d_desc* d, const void* x, const void* w, const void* bias, void* y) {
  const char* what = "conv2d_forward";
  return dispatch_float(dt, what, [&](auto zero) -> int {
    using T = decltype(zero);
    int st = conv::check_desc(d, what);
    if (st != NS_OK || d->n * d->f * d->ho * d->wo == 0) return st;
    const conv::ConvGeom G = igemm::make_geom(*d);
    if (conv::use_direct(G)) {
      conv::direct_forward_kernel<T><<<conv::grid_for(static_cast<int64_t>(G.positions()) * G.f), 256, 0, stream()>>>(
          G, static_cast<const T*>(x), static_cast<const T*>(w), static_cast<const T*>(bias), static_cast<T*>(y));
      return check_launch(what);
    }
    return conv::finish(conv::run_forward<T, false>(G, static_cast<const T*>(x), static_cast<const T*>(w),
                                                    static_cast<const T*>(bias), static_cast<T*>(y),
                                                    conv::SimM<T>{nullptr, false, 0}, what),
                        what);
  });
}

int conv2d_backward_input(ns_dtype dt, const ns_conv2d_desc* d, const void* dy, const void* w, void* dx) {
  const char* what = "conv2d_backward_input";
  return dispatch_float(dt, what, [&](auto zero) -> int {
    using T = decltype(zero);
    int st = conv::check_desc(d, what);
    if (st != NS_OK || d->n * d->c * d->h * d->w == 0) return st;
    const conv::ConvGeom G = igemm::make_geom(*d);
    if (conv::use_direct(G)) {
      conv::direct_backward_input_kernel<T><<<conv::grid_for(static_cast<int64_t>(G.pixels()) * G.c), 256, 0,
                                              stream()>>>(G, static_cast<const T*>(dy), static_cast<const T*>(w),
                                                          static_cast<T*>(dx));
      return check_launch(what);
    }
    return conv::finish(conv::run_backward_input<T, false>(G, static_cast<const T*>(dy), static_cast<const T*>(w),
                                                           static_cast<T*>(dx), conv::SimM<T>{nullptr, false, 0},
                                                           what),
                        what);
  });
}

int conv2d_backward_weight(ns_dtype dt, const ns_conv2d_desc* d, const void* x, const void* dy, void* dw,
                           void* dbias) {
  const char* what = "conv2d_backward_weight";
  return dispatch_float(dt, what, [&](auto zero) -> int {
    using T = decltype(zero);
    int st = conv::check_desc(d, what);
    if (st != NS_OK) return st;
    if (dw && (st = conv::weight_grad<T>(*d, static_cast<const T*>(x), static_cast<const T*>(dy),
                                         static_cast<T*>(dw))) != NS_OK)
      return st;
    if (dbias) st = conv::bias_grad<T>(*d, static_cast<const T*>(dy), static_cast<T*>(dbias));
    return st;
  });
}

}  // namespace cuda
}  // namespace ns
