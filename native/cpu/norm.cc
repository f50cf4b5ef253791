// Training-mode batch normalisation over (n, hw) per channel, forward (running statistics updated in place) and
// backward; channels run in parallel and statistics accumulate in double.
#include <cmath>

#include "cpu.h"
#include "runtime.h"

namespace ns {
namespace {

// Sums over a plane are kept as kLanes interleaved partial sums (element k goes to lane k % kLanes), added
// lane by lane at the end: independent chains that the compiler vectorises, in an order fixed by the
// shape alone, so the result is the same on every run.
constexpr int kLanes = 8;

// Calls add(k, k % kLanes) for k < len: the body adds element k's terms into lane k % kLanes of its sums.
template <class F>
inline void for_lanes(int64_t len, F&& add) {
  int64_t k = 0;
  for (; k + kLanes <= len; k += kLanes)
    for (int l = 0; l < kLanes; ++l) add(k + l, l);
  for (int l = 0; k < len; ++k, ++l) add(k, l);
}

inline double total(const double* s) {
  double t = 0;
  for (int l = 0; l < kLanes; ++l) t += s[l];
  return t;
}

template <class T>
void forward(int64_t n, int64_t c, int64_t hw, const T* x, const T* gamma, const T* beta, double eps, double momentum,
             T* y, T* mean, T* invstd, T* running_mean, T* running_var) {
  const double count = static_cast<double>(n) * hw;
  parallel_for(c, 1, [&](int64_t b, int64_t e) {
    for (int64_t ch = b; ch < e; ++ch) {
      double lanes[kLanes] = {};
      for (int64_t i = 0; i < n; ++i) {
        const T* p = x + (i * c + ch) * hw;
        for_lanes(hw, [&](int64_t k, int l) { lanes[l] += p[k]; });
      }
      const double mu = total(lanes) / count;
      double sq_lanes[kLanes] = {};
      for (int64_t i = 0; i < n; ++i) {
        const T* p = x + (i * c + ch) * hw;
        for_lanes(hw, [&](int64_t k, int l) {
          const double dev = p[k] - mu;
          sq_lanes[l] += dev * dev;
        });
      }
      const double sq = total(sq_lanes);
      const double var = sq / count;
      const double inv = 1.0 / std::sqrt(var + eps);
      mean[ch] = static_cast<T>(mu);
      invstd[ch] = static_cast<T>(inv);
      if (running_mean) running_mean[ch] = static_cast<T>((1 - momentum) * running_mean[ch] + momentum * mu);
      if (running_var) {
        const double unbiased = count > 1 ? sq / (count - 1) : var;
        running_var[ch] = static_cast<T>((1 - momentum) * running_var[ch] + momentum * unbiased);
      }
      const double scale = inv * (gamma ? static_cast<double>(gamma[ch]) : 1.0);
      const double shift = (beta ? static_cast<double>(beta[ch]) : 0.0) - mu * scale;
      const T s = static_cast<T>(scale), t = static_cast<T>(shift);
      for (int64_t i = 0; i < n; ++i) {
        const T* p = x + (i * c + ch) * hw;
        T* q = y + (i * c + ch) * hw;
        for (int64_t k = 0; k < hw; ++k) q[k] = p[k] * s + t;
      }
    }
  });
}

template <class T>
void backward(int64_t n, int64_t c, int64_t hw, const T* x, const T* dy, const T* gamma, const T* mean,
              const T* invstd, T* dx, T* dgamma, T* dbeta) {
  const double count = static_cast<double>(n) * hw;
  parallel_for(c, 1, [&](int64_t b, int64_t e) {
    for (int64_t ch = b; ch < e; ++ch) {
      const double mu = mean[ch], inv = invstd[ch];
      double dy_lanes[kLanes] = {}, dy_xhat_lanes[kLanes] = {};
      for (int64_t i = 0; i < n; ++i) {
        const T* p = x + (i * c + ch) * hw;
        const T* g = dy + (i * c + ch) * hw;
        for_lanes(hw, [&](int64_t k, int l) {
          dy_lanes[l] += g[k];
          dy_xhat_lanes[l] += g[k] * ((p[k] - mu) * inv);
        });
      }
      const double sum_dy = total(dy_lanes), sum_dy_xhat = total(dy_xhat_lanes);
      if (dgamma) dgamma[ch] = static_cast<T>(sum_dy_xhat);
      if (dbeta) dbeta[ch] = static_cast<T>(sum_dy);
      // dx = γ·invstd·(dy − mean(dy) − x̂·mean(dy·x̂))
      const double k = (gamma ? static_cast<double>(gamma[ch]) : 1.0) * inv;
      const double mean_dy = sum_dy / count, mean_dy_xhat = sum_dy_xhat / count;
      for (int64_t i = 0; i < n; ++i) {
        const T* p = x + (i * c + ch) * hw;
        const T* g = dy + (i * c + ch) * hw;
        T* q = dx + (i * c + ch) * hw;
        for (int64_t j = 0; j < hw; ++j)
          q[j] = static_cast<T>(k * (g[j] - mean_dy - (p[j] - mu) * inv * mean_dy_xhat));
      }
    }
  });
}

}  // namespace
}  // namespace ns

extern "C" {

int ns_cpu_batch_norm_forward(ns_dtype dt, int64_t n, int64_t c, int64_t hw, const void* x, const void* gamma,
                              const void* beta, double eps, double momentum, void* y, void* mean, void* invstd,
                              void* running_mean, void* running_var) {
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::forward<T>(n, c, hw, static_cast<const T*>(x), static_cast<const T*>(gamma), static_cast<const T*>(beta), eps,
                   momentum, static_cast<T*>(y), static_cast<T*>(mean), static_cast<T*>(invstd),
                   static_cast<T*>(running_mean), static_cast<T*>(running_var));
  });
}

int ns_cpu_batch_norm_backward(ns_dtype dt, int64_t n, int64_t c, int64_t hw, const void* x, const void* dy,
                               const void* gamma, const void* mean, const void* invstd, void* dx, void* dgamma,
                               void* dbeta) {
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::backward<T>(n, c, hw, static_cast<const T*>(x), static_cast<const T*>(dy), static_cast<const T*>(gamma),
                    static_cast<const T*>(mean), static_cast<const T*>(invstd), static_cast<T*>(dx),
                    static_cast<T*>(dgamma), static_cast<T*>(dbeta));
  });
}

}  // extern "C"
