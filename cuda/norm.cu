// Training-mode batch normalisation of x [n, c, hw] over (n, hw) per channel, forward (running statistics
// updated in place) and backward, as native/cpu/norm.cc computes them.
//
// Statistics use a deterministic two-level reduction in double: each channel's n·hw elements are cut into S
// slices (S from the shape), a block per (channel, slice) reduces its slice with a fixed tree — the forward
// takes the slice's mean, then the squared deviations from it — and a thread per channel merges the slices in
// order (Chan et al.'s pairwise update for mean and M2, plain sums for the backward). A third kernel applies
// the per-channel coefficients elementwise.
#include <algorithm>

#include "common.cuh"
#include "kernels.cuh"

namespace ns {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kSliceElements = 8192;  // elements per slice, about
constexpr int64_t kMaxSlices = 256;

struct Plus {
  __device__ double operator()(double a, double b) const { return a + b; }
};

// How a channel's count = n·hw elements split into slices of L elements: slice s holds [s·L, min(count, (s+1)·L)).
struct Slicing {
  int64_t count, S, L;
};

Slicing slicing(int64_t n, int64_t hw) {
  const int64_t count = n * hw;
  if (count == 0) return Slicing{0, 0, 0};
  int64_t S = std::min(kMaxSlices, (count + kSliceElements - 1) / kSliceElements);
  const int64_t L = (count + S - 1) / S;
  S = (count + L - 1) / L;
  return Slicing{count, S, L};
}

// Calls f(offset of x) for the elements of channel ch with in-channel index j in [j0, j1), thread-strided
// over the block (each thread in increasing order). Element j is sample j / hw, position j % hw.
template <class F>
__device__ __forceinline__ void for_slice(int64_t j0, int64_t j1, int64_t c, int64_t hw, int64_t ch, F f) {
  if (hw >= 32) {
    // Runs of contiguous positions within a sample: one division per run.
    for (int64_t j = j0; j < j1;) {
      const int64_t i = j / hw, k0 = j - i * hw, run = min(hw - k0, j1 - j);
      const int64_t at = (i * c + ch) * hw + k0;
      for (int64_t t = threadIdx.x; t < run; t += blockDim.x) f(at + t);
      j += run;
    }
  } else {
    for (int64_t j = j0 + threadIdx.x; j < j1; j += blockDim.x) {
      const int64_t i = j / hw;
      f((i * c + ch) * hw + (j - i * hw));
    }
  }
}

// Block (ch, s) → part[ch·S + s] = (mean, M2) of its slice.
template <class T>
__global__ void __launch_bounds__(kThreads)
    forward_stats_kernel(int64_t c, int64_t hw, Slicing sl, const T* __restrict__ x, double2* __restrict__ part) {
  __shared__ double sh[kThreads];
  for (int64_t b = blockIdx.x; b < c * sl.S; b += gridDim.x) {
    const int64_t ch = b / sl.S, s = b % sl.S, j0 = s * sl.L, j1 = min(sl.count, j0 + sl.L);
    double sum = 0;
    for_slice(j0, j1, c, hw, ch, [&](int64_t e) { sum += static_cast<double>(x[e]); });
    const double mean = group_reduce<kThreads>(sum, sh, Plus()) / static_cast<double>(j1 - j0);
    double sq = 0;
    for_slice(j0, j1, c, hw, ch, [&](int64_t e) {
      const double dev = static_cast<double>(x[e]) - mean;
      sq += dev * dev;
    });
    sq = group_reduce<kThreads>(sq, sh, Plus());
    if (threadIdx.x == 0) part[b] = make_double2(mean, sq);
  }
}

// Thread per channel: merges the slices, writes mean/invstd, updates the running statistics and leaves
// y = x·scale + shift's coefficients in coef[ch].
template <class T>
__global__ void forward_finish_kernel(int64_t c, Slicing sl, const double2* __restrict__ part, const T* gamma,
                                      const T* beta, double eps, double momentum, T* __restrict__ mean,
                                      T* __restrict__ invstd, T* running_mean, T* running_var,
                                      double2* __restrict__ coef) {
  for (int64_t ch = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; ch < c; ch += int64_t(gridDim.x) * blockDim.x) {
    double n_a = 0, mean_a = 0, m2 = 0;
    for (int64_t s = 0; s < sl.S; ++s) {
      const double n_b = static_cast<double>(min(sl.count, (s + 1) * sl.L) - s * sl.L);
      const double2 p = part[ch * sl.S + s];
      const double n_ab = n_a + n_b, delta = p.x - mean_a;
      mean_a += delta * (n_b / n_ab);
      m2 += p.y + delta * delta * (n_a * n_b / n_ab);
      n_a = n_ab;
    }
    const double count = static_cast<double>(sl.count);
    const double mu = sl.count > 0 ? mean_a : 0.0 / count;  // NaN for an empty batch, as on the CPU
    const double var = m2 / count;
    const double inv = 1.0 / sqrt(var + eps);
    mean[ch] = static_cast<T>(mu);
    invstd[ch] = static_cast<T>(inv);
    if (running_mean) running_mean[ch] = static_cast<T>((1 - momentum) * running_mean[ch] + momentum * mu);
    if (running_var) {
      const double unbiased = count > 1 ? m2 / (count - 1) : var;
      running_var[ch] = static_cast<T>((1 - momentum) * running_var[ch] + momentum * unbiased);
    }
    const double scale = inv * (gamma ? static_cast<double>(gamma[ch]) : 1.0);
    const double shift = (beta ? static_cast<double>(beta[ch]) : 0.0) - mu * scale;
    coef[ch] = make_double2(scale, shift);
  }
}

template <class T, class I>
__global__ void forward_apply_kernel(int64_t total, int64_t c, int64_t hw, const T* __restrict__ x,
                                     const double2* __restrict__ coef, T* __restrict__ y) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ch = static_cast<int64_t>((static_cast<I>(e) / static_cast<I>(hw)) % static_cast<I>(c));
    const double2 k = coef[ch];
    y[e] = x[e] * static_cast<T>(k.x) + static_cast<T>(k.y);
  }
}

// Block (ch, s) → part[ch·S + s] = (Σ dy, Σ dy·x̂) over its slice.
template <class T>
__global__ void __launch_bounds__(kThreads)
    backward_stats_kernel(int64_t c, int64_t hw, Slicing sl, const T* __restrict__ x, const T* __restrict__ dy,
                          const T* __restrict__ mean, const T* __restrict__ invstd, double2* __restrict__ part) {
  __shared__ double sh[kThreads];
  for (int64_t b = blockIdx.x; b < c * sl.S; b += gridDim.x) {
    const int64_t ch = b / sl.S, s = b % sl.S, j0 = s * sl.L, j1 = min(sl.count, j0 + sl.L);
    const double mu = mean[ch], inv = invstd[ch];
    double sum_dy = 0, sum_dy_xhat = 0;
    for_slice(j0, j1, c, hw, ch, [&](int64_t e) {
      const double g = dy[e];
      sum_dy += g;
      sum_dy_xhat += g * ((static_cast<double>(x[e]) - mu) * inv);
    });
    sum_dy = group_reduce<kThreads>(sum_dy, sh, Plus());
    sum_dy_xhat = group_reduce<kThreads>(sum_dy_xhat, sh, Plus());
    if (threadIdx.x == 0) part[b] = make_double2(sum_dy, sum_dy_xhat);
  }
}

// Per-channel coefficients of dx = k·(dy − mean_dy − (x − mu)·inv·mean_dy_xhat).
struct BackwardCoef {
  double k, mean_dy, mean_dy_xhat, mu, inv;
};

template <class T>
__global__ void backward_finish_kernel(int64_t c, Slicing sl, const double2* __restrict__ part, const T* gamma,
                                       const T* __restrict__ mean, const T* __restrict__ invstd, T* dgamma, T* dbeta,
                                       BackwardCoef* __restrict__ coef) {
  for (int64_t ch = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; ch < c; ch += int64_t(gridDim.x) * blockDim.x) {
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t s = 0; s < sl.S; ++s) {
      sum_dy += part[ch * sl.S + s].x;
      sum_dy_xhat += part[ch * sl.S + s].y;
    }
    if (dgamma) dgamma[ch] = static_cast<T>(sum_dy_xhat);
    if (dbeta) dbeta[ch] = static_cast<T>(sum_dy);
    const double inv = invstd[ch], count = static_cast<double>(sl.count);
    coef[ch] = BackwardCoef{(gamma ? static_cast<double>(gamma[ch]) : 1.0) * inv, sum_dy / count, sum_dy_xhat / count,
                            static_cast<double>(mean[ch]), inv};
  }
}

template <class T, class I>
__global__ void backward_apply_kernel(int64_t total, int64_t c, int64_t hw, const T* __restrict__ x,
                                      const T* __restrict__ dy, const BackwardCoef* __restrict__ coef,
                                      T* __restrict__ dx) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ch = static_cast<int64_t>((static_cast<I>(e) / static_cast<I>(hw)) % static_cast<I>(c));
    const BackwardCoef k = coef[ch];
    dx[e] = static_cast<T>(k.k * (static_cast<double>(dy[e]) - k.mean_dy -
                                  (static_cast<double>(x[e]) - k.mu) * k.inv * k.mean_dy_xhat));
  }
}

// Blocks for the per-(channel, slice) kernels.
unsigned slice_blocks(int64_t c, const Slicing& sl) {
  return static_cast<unsigned>(std::min<int64_t>(c * sl.S, 65535 * 32));
}

}  // namespace

int batch_norm_forward(ns_dtype dt, int64_t n, int64_t c, int64_t hw, const void* x, const void* gamma,
                       const void* beta, double eps, double momentum, void* y, void* mean, void* invstd,
                       void* running_mean, void* running_var) {
  return dispatch_float(dt, "batch_norm_forward", [&](auto zero) -> int {
    using T = decltype(zero);
    if (c <= 0) return NS_OK;
    const Slicing sl = slicing(n, hw);
    Scratch part, coef;
    int status = part.allocate(static_cast<size_t>(std::max<int64_t>(c * sl.S, 1)) * sizeof(double2));
    if (status == NS_OK) status = coef.allocate(static_cast<size_t>(c) * sizeof(double2));
    if (status != NS_OK) return status;
    const T* in = static_cast<const T*>(x);
    if (sl.S > 0) {
      forward_stats_kernel<T><<<slice_blocks(c, sl), kThreads, 0, stream()>>>(c, hw, sl, in, part.as<double2>());
      if ((status = check_launch("batch_norm_forward (statistics)")) != NS_OK) return status;
    }
    forward_finish_kernel<T><<<blocks_for(c, kThreads), kThreads, 0, stream()>>>(
        c, sl, part.as<double2>(), static_cast<const T*>(gamma), static_cast<const T*>(beta), eps, momentum,
        static_cast<T*>(mean), static_cast<T*>(invstd), static_cast<T*>(running_mean), static_cast<T*>(running_var),
        coef.as<double2>());
    if ((status = check_launch("batch_norm_forward (finish)")) != NS_OK) return status;
    const int64_t total = n * c * hw;
    if (total <= 0) return NS_OK;
    if (total <= int64_t(UINT32_MAX))
      forward_apply_kernel<T, uint32_t><<<blocks_for(total, kThreads), kThreads, 0, stream()>>>(
          total, c, hw, in, coef.as<double2>(), static_cast<T*>(y));
    else
      forward_apply_kernel<T, uint64_t><<<blocks_for(total, kThreads), kThreads, 0, stream()>>>(
          total, c, hw, in, coef.as<double2>(), static_cast<T*>(y));
    return check_launch("batch_norm_forward (apply)");
  });
}

int batch_norm_backward(ns_dtype dt, int64_t n, int64_t c, int64_t hw, const void* x, const void* dy,
                        const void* gamma, const void* mean, const void* invstd, void* dx, void* dgamma,
                        void* dbeta) {
  return dispatch_float(dt, "batch_norm_backward", [&](auto zero) -> int {
    using T = decltype(zero);
    if (c <= 0) return NS_OK;
    const Slicing sl = slicing(n, hw);
    Scratch part, coef;
    int status = part.allocate(static_cast<size_t>(std::max<int64_t>(c * sl.S, 1)) * sizeof(double2));
    if (status == NS_OK) status = coef.allocate(static_cast<size_t>(c) * sizeof(BackwardCoef));
    if (status != NS_OK) return status;
    const T* in = static_cast<const T*>(x);
    const T* g = static_cast<const T*>(dy);
    if (sl.S > 0) {
      backward_stats_kernel<T><<<slice_blocks(c, sl), kThreads, 0, stream()>>>(
          c, hw, sl, in, g, static_cast<const T*>(mean), static_cast<const T*>(invstd), part.as<double2>());
      if ((status = check_launch("batch_norm_backward (statistics)")) != NS_OK) return status;
    }
    backward_finish_kernel<T><<<blocks_for(c, kThreads), kThreads, 0, stream()>>>(
        c, sl, part.as<double2>(), static_cast<const T*>(gamma), static_cast<const T*>(mean),
        static_cast<const T*>(invstd), static_cast<T*>(dgamma), static_cast<T*>(dbeta), coef.as<BackwardCoef>());
    if ((status = check_launch("batch_norm_backward (finish)")) != NS_OK) return status;
    const int64_t total = n * c * hw;
    if (total <= 0) return NS_OK;
    if (total <= int64_t(UINT32_MAX))
      backward_apply_kernel<T, uint32_t><<<blocks_for(total, kThreads), kThreads, 0, stream()>>>(
          total, c, hw, in, g, coef.as<BackwardCoef>(), static_cast<T*>(dx));
    else
      backward_apply_kernel<T, uint64_t><<<blocks_for(total, kThreads), kThreads, 0, stream()>>>(
          total, c, hw, in, g, coef.as<BackwardCoef>(), static_cast<T*>(dx));
    return check_launch("batch_norm_backward (apply)");
  });
}

}  // namespace cuda
}  // namespace ns
