// Fused in-place optimiser updates (PyTorch semantics: SGD, Adam/AdamW, RMSprop), one pass over each parameter.
#include <cmath>

#include "cpu.h"
#include "runtime.h"

namespace ns {
namespace {

constexpr int64_t kGrain = 1 << 15;

template <class T>
void sgd(int64_t n, T* p, const T* g, T* buf, double lr, double momentum, double dampening, double wd, int nesterov,
         int first) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      double d = static_cast<double>(g[i]) + wd * p[i];
      if (momentum != 0) {
        const double v = first ? d : momentum * buf[i] + (1 - dampening) * d;
        buf[i] = static_cast<T>(v);
        d = nesterov ? d + momentum * v : v;
      }
      p[i] = static_cast<T>(p[i] - lr * d);
    }
  });
}

template <class T>
void adam(int64_t n, T* p, const T* g, T* m, T* v, double lr, double beta1, double beta2, double eps, double wd,
          int decoupled, int64_t step) {
  const double bc1 = 1 - std::pow(beta1, static_cast<double>(step));
  const double bc2 = 1 - std::pow(beta2, static_cast<double>(step));
  const double step_size = lr / bc1, sqrt_bc2 = std::sqrt(bc2);
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      double grad = g[i], param = p[i];
      if (decoupled)
        param *= 1 - lr * wd;
      else
        grad += wd * param;
      const double mi = beta1 * m[i] + (1 - beta1) * grad;
      const double vi = beta2 * v[i] + (1 - beta2) * grad * grad;
      m[i] = static_cast<T>(mi);
      v[i] = static_cast<T>(vi);
      p[i] = static_cast<T>(param - step_size * mi / (std::sqrt(vi) / sqrt_bc2 + eps));
    }
  });
}

template <class T>
void rmsprop(int64_t n, T* p, const T* g, T* sq, T* ga, T* buf, double lr, double alpha, double eps, double wd,
             double momentum, int centered) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const double grad = static_cast<double>(g[i]) + wd * p[i];
      const double v = alpha * sq[i] + (1 - alpha) * grad * grad;
      sq[i] = static_cast<T>(v);
      double avg;
      if (centered) {
        const double mean = alpha * ga[i] + (1 - alpha) * grad;
        ga[i] = static_cast<T>(mean);
        avg = std::sqrt(v - mean * mean) + eps;
      } else {
        avg = std::sqrt(v) + eps;
      }
      if (momentum > 0) {
        const double m = momentum * buf[i] + grad / avg;
        buf[i] = static_cast<T>(m);
        p[i] = static_cast<T>(p[i] - lr * m);
      } else {
        p[i] = static_cast<T>(p[i] - lr * grad / avg);
      }
    }
  });
}

}  // namespace
}  // namespace ns

extern "C" {

int ns_cpu_sgd_step(ns_dtype dt, int64_t n, void* param, const void* grad, void* momentum_buf, double lr,
                    double momentum, double dampening, double weight_decay, int nesterov, int first_step) {
  if (momentum != 0 && !momentum_buf) return NS_ERR_UNSUPPORTED;
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::sgd<T>(n, static_cast<T*>(param), static_cast<const T*>(grad), static_cast<T*>(momentum_buf), lr, momentum,
               dampening, weight_decay, nesterov, first_step);
  });
}

int ns_cpu_adam_step(ns_dtype dt, int64_t n, void* param, const void* grad, void* exp_avg, void* exp_avg_sq, double lr,
                     double beta1, double beta2, double eps, double weight_decay, int decoupled, int64_t step) {
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::adam<T>(n, static_cast<T*>(param), static_cast<const T*>(grad), static_cast<T*>(exp_avg),
                static_cast<T*>(exp_avg_sq), lr, beta1, beta2, eps, weight_decay, decoupled, step);
  });
}

}  // extern "C"

extern "C" int ns_cpu_rmsprop_step(ns_dtype dt, int64_t n, void* param, const void* grad, void* square_avg,
                                   void* grad_avg, void* momentum_buf, double lr, double alpha, double eps,
                                   double weight_decay, double momentum, int centered) {
  if ((centered && !grad_avg) || (momentum > 0 && !momentum_buf)) return NS_ERR_UNSUPPORTED;
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::rmsprop<T>(n, static_cast<T*>(param), static_cast<const T*>(grad), static_cast<T*>(square_avg),
                   static_cast<T*>(grad_avg), static_cast<T*>(momentum_buf), lr, alpha, eps, weight_decay, momentum,
                   centered);
  });
}
