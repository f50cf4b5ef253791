// Fused in-place optimiser steps (PyTorch semantics: SGD, Adam/AdamW, RMSprop), one thread per element,
// computed in double as native/cpu/optim.cc does and stored in the parameter's dtype.
#include <cmath>

#include "common.cuh"
#include "kernels.cuh"

namespace ns {
namespace cuda {
namespace {

constexpr int kThreads = 256;

template <class T>
__global__ void sgd_kernel(int64_t n, T* __restrict__ p, const T* __restrict__ g, T* __restrict__ buf, double lr,
                           double momentum, double dampening, double wd, int nesterov, int first) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    double d = static_cast<double>(g[i]) + wd * p[i];
    if (momentum != 0) {
      const double v = first ? d : momentum * buf[i] + (1 - dampening) * d;
      buf[i] = static_cast<T>(v);
      d = nesterov ? d + momentum * v : v;
    }
    p[i] = static_cast<T>(p[i] - lr * d);
  }
}

template <class T>
__global__ void adam_kernel(int64_t n, T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m,
                            T* __restrict__ v, double lr, double beta1, double beta2, double eps, double wd,
                            int decoupled, double step_size, double sqrt_bc2) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    double grad = g[i], param = p[i];
    if (decoupled)
      param *= 1 - lr * wd;
    else
      grad += wd * param;
    const double mi = beta1 * m[i] + (1 - beta1) * grad;
    const double vi = beta2 * v[i] + (1 - beta2) * grad * grad;
    m[i] = static_cast<T>(mi);
    v[i] = static_cast<T>(vi);
    p[i] = static_cast<T>(param - step_size * mi / (sqrt(vi) / sqrt_bc2 + eps));
  }
}

template <class T>
__global__ void rmsprop_kernel(int64_t n, T* __restrict__ p, const T* __restrict__ g, T* __restrict__ sq,
                               T* __restrict__ ga, T* __restrict__ buf, double lr, double alpha, double eps, double wd,
                               double momentum, int centered) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const double grad = static_cast<double>(g[i]) + wd * p[i];
    const double v = alpha * sq[i] + (1 - alpha) * grad * grad;
    sq[i] = static_cast<T>(v);
    double avg;
    if (centered) {
      const double mean = alpha * ga[i] + (1 - alpha) * grad;
      ga[i] = static_cast<T>(mean);
      avg = sqrt(v - mean * mean) + eps;
    } else {
      avg = sqrt(v) + eps;
    }
    if (momentum > 0) {
      const double mo = momentum * buf[i] + grad / avg;
      buf[i] = static_cast<T>(mo);
      p[i] = static_cast<T>(p[i] - lr * mo);
    } else {
      p[i] = static_cast<T>(p[i] - lr * grad / avg);
    }
  }
}

}  // namespace

int sgd_step(ns_dtype dt, int64_t n, void* param, const void* grad, void* momentum_buf, double lr, double momentum,
             double dampening, double weight_decay, int nesterov, int first_step) {
  if (momentum != 0 && !momentum_buf)
    return fail(NS_ERR_UNSUPPORTED, "sgd_step: momentum %g needs a momentum buffer", momentum);
  return dispatch_float(dt, "sgd_step", [&](auto zero) -> int {
    using T = decltype(zero);
    if (n <= 0) return NS_OK;
    sgd_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(
        n, static_cast<T*>(param), static_cast<const T*>(grad), static_cast<T*>(momentum_buf), lr, momentum, dampening,
        weight_decay, nesterov, first_step);
    return check_launch("sgd_step");
  });
}

int adam_step(ns_dtype dt, int64_t n, void* param, const void* grad, void* exp_avg, void* exp_avg_sq, double lr,
              double beta1, double beta2, double eps, double weight_decay, int decoupled, int64_t step) {
  return dispatch_float(dt, "adam_step", [&](auto zero) -> int {
    using T = decltype(zero);
    if (n <= 0) return NS_OK;
    // Bias corrections on the host, with the CPU's formulas.
    const double bc1 = 1 - std::pow(beta1, static_cast<double>(step));
    const double bc2 = 1 - std::pow(beta2, static_cast<double>(step));
    adam_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(
        n, static_cast<T*>(param), static_cast<const T*>(grad), static_cast<T*>(exp_avg), static_cast<T*>(exp_avg_sq),
        lr, beta1, beta2, eps, weight_decay, decoupled, lr / bc1, std::sqrt(bc2));
    return check_launch("adam_step");
  });
}

int rmsprop_step(ns_dtype dt, int64_t n, void* param, const void* grad, void* square_avg, void* grad_avg,
                 void* momentum_buf, double lr, double alpha, double eps, double weight_decay, double momentum,
                 int centered) {
  if (centered && !grad_avg) return fail(NS_ERR_UNSUPPORTED, "rmsprop_step: centered needs a grad_avg buffer");
  if (momentum > 0 && !momentum_buf)
    return fail(NS_ERR_UNSUPPORTED, "rmsprop_step: momentum %g needs a momentum buffer", momentum);
  return dispatch_float(dt, "rmsprop_step", [&](auto zero) -> int {
    using T = decltype(zero);
    if (n <= 0) return NS_OK;
    rmsprop_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(
        n, static_cast<T*>(param), static_cast<const T*>(grad), static_cast<T*>(square_avg),
        static_cast<T*>(grad_avg), static_cast<T*>(momentum_buf), lr, alpha, eps, weight_decay, momentum, centered);
    return check_launch("rmsprop_step");
  });
}

}  // namespace cuda
}  // namespace ns
