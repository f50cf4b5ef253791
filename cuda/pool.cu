// Max and average pooling over [h, w] planes, forward and backward, as native/cpu/pool.cc computes them.
// Forward: a thread per output element scanning its window. Backward: a thread per input element gathering
// dy from the windows that contain it, in the CPU's (oh, ow) order — deterministic, no atomics, and the same
// sums as the CPU's scatter. Max pooling's backward relies on argmax lying inside its own window, as
// max_pool2d writes it (windows are never empty: padding is at most half the kernel).
#include "common.cuh"
#include "kernels.cuh"

namespace ns {
namespace cuda {
namespace {

constexpr int kThreads = 256;

// The window of output (oh, ow) clipped to the input: rows [h0, h1), columns [w0, w1); `padded` is its size
// clipped to the padded input instead (average pooling's count_include_pad divisor).
struct Window {
  int64_t h0, h1, w0, w1, padded;
};

__device__ __forceinline__ Window window(const ns_pool2d_desc& d, int64_t oh, int64_t ow) {
  const int64_t hs = oh * d.stride_h - d.pad_h, ws = ow * d.stride_w - d.pad_w;
  const int64_t he = min(hs + d.kh, d.h + d.pad_h), we = min(ws + d.kw, d.w + d.pad_w);
  return Window{max(hs, int64_t(0)), min(he, d.h), max(ws, int64_t(0)), min(we, d.w), (he - hs) * (we - ws)};
}

__device__ __forceinline__ int64_t divisor(const Window& win, int include_pad) {
  return include_pad ? win.padded : (win.h1 - win.h0) * (win.w1 - win.w0);
}

// The outputs whose windows contain input row ih: [first, last] (empty when first > last), along one axis.
__device__ __forceinline__ void containing(int64_t i, int64_t k, int64_t stride, int64_t pad, int64_t out,
                                           int64_t* first, int64_t* last) {
  // Window o covers input rows [o·stride − pad, o·stride − pad + k).
  *first = i + pad < k ? 0 : (i + pad - k) / stride + 1;
  *last = min((i + pad) / stride, out - 1);
}

template <class T>
__global__ void max_pool_kernel(ns_pool2d_desc d, const T* __restrict__ x, T* __restrict__ y,
                                int32_t* __restrict__ argmax) {
  const int64_t total = d.n * d.c * d.ho * d.wo;
  for (int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; o < total; o += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ow = o % d.wo, oh = (o / d.wo) % d.ho, plane = o / (d.wo * d.ho);
    const T* in = x + plane * d.h * d.w;
    const Window win = window(d, oh, ow);
    T best = -INFINITY;
    int64_t at = win.h0 * d.w + win.w0;
    bool nan = false;  // a NaN wins and ends the scan
    for (int64_t ih = win.h0; ih < win.h1 && !nan; ++ih)
      for (int64_t iw = win.w0; iw < win.w1; ++iw) {
        const T v = in[ih * d.w + iw];
        if (v > best || v != v) {
          best = v;
          at = ih * d.w + iw;
          nan = v != v;
          if (nan) break;
        }
      }
    y[o] = best;
    argmax[o] = static_cast<int32_t>(at);
  }
}

template <class T>
__global__ void max_pool_backward_kernel(ns_pool2d_desc d, const T* __restrict__ dy, const int32_t* __restrict__ argmax,
                                         T* __restrict__ dx) {
  const int64_t total = d.n * d.c * d.h * d.w;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t iw = e % d.w, ih = (e / d.w) % d.h, plane = e / (d.w * d.h);
    const int32_t self = static_cast<int32_t>(ih * d.w + iw);
    int64_t oh0, oh1, ow0, ow1;
    containing(ih, d.kh, d.stride_h, d.pad_h, d.ho, &oh0, &oh1);
    containing(iw, d.kw, d.stride_w, d.pad_w, d.wo, &ow0, &ow1);
    const int64_t out_plane = plane * d.ho * d.wo;
    T g = 0;
    for (int64_t oh = oh0; oh <= oh1; ++oh)
      for (int64_t ow = ow0; ow <= ow1; ++ow) {
        const int64_t o = out_plane + oh * d.wo + ow;
        if (argmax[o] == self) g += dy[o];
      }
    dx[e] = g;
  }
}

template <class T>
__global__ void avg_pool_kernel(ns_pool2d_desc d, int include_pad, const T* __restrict__ x, T* __restrict__ y) {
  const int64_t total = d.n * d.c * d.ho * d.wo;
  for (int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; o < total; o += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ow = o % d.wo, oh = (o / d.wo) % d.ho, plane = o / (d.wo * d.ho);
    const T* in = x + plane * d.h * d.w;
    const Window win = window(d, oh, ow);
    T sum = 0;
    for (int64_t ih = win.h0; ih < win.h1; ++ih)
      for (int64_t iw = win.w0; iw < win.w1; ++iw) sum += in[ih * d.w + iw];
    y[o] = sum / static_cast<T>(divisor(win, include_pad));
  }
}

template <class T>
__global__ void avg_pool_backward_kernel(ns_pool2d_desc d, int include_pad, const T* __restrict__ dy,
                                         T* __restrict__ dx) {
  const int64_t total = d.n * d.c * d.h * d.w;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t iw = e % d.w, ih = (e / d.w) % d.h, plane = e / (d.w * d.h);
    int64_t oh0, oh1, ow0, ow1;
    containing(ih, d.kh, d.stride_h, d.pad_h, d.ho, &oh0, &oh1);
    containing(iw, d.kw, d.stride_w, d.pad_w, d.wo, &ow0, &ow1);
    const int64_t out_plane = plane * d.ho * d.wo;
    T g = 0;
    for (int64_t oh = oh0; oh <= oh1; ++oh)
      for (int64_t ow = ow0; ow <= ow1; ++ow)
        g += dy[out_plane + oh * d.wo + ow] / static_cast<T>(divisor(window(d, oh, ow), include_pad));
    dx[e] = g;
  }
}

int64_t outputs(const ns_pool2d_desc& d) { return d.n * d.c * d.ho * d.wo; }
int64_t inputs(const ns_pool2d_desc& d) { return d.n * d.c * d.h * d.w; }

}  // namespace

int max_pool2d(ns_dtype dt, const ns_pool2d_desc* d, const void* x, void* y, int32_t* argmax) {
  return dispatch_float(dt, "max_pool2d", [&](auto zero) -> int {
    using T = decltype(zero);
    const int64_t total = outputs(*d);
    if (total <= 0) return NS_OK;
    max_pool_kernel<T><<<blocks_for(total, kThreads), kThreads, 0, stream()>>>(*d, static_cast<const T*>(x),
                                                                               static_cast<T*>(y), argmax);
    return check_launch("max_pool2d");
  });
}

int max_pool2d_backward(ns_dtype dt, const ns_pool2d_desc* d, const void* dy, const int32_t* argmax, void* dx) {
  return dispatch_float(dt, "max_pool2d_backward", [&](auto zero) -> int {
    using T = decltype(zero);
    const int64_t total = inputs(*d);
    if (total <= 0) return NS_OK;
    max_pool_backward_kernel<T><<<blocks_for(total, kThreads), kThreads, 0, stream()>>>(
        *d, static_cast<const T*>(dy), argmax, static_cast<T*>(dx));
    return check_launch("max_pool2d_backward");
  });
}

int avg_pool2d(ns_dtype dt, const ns_pool2d_desc* d, int count_include_pad, const void* x, void* y) {
  return dispatch_float(dt, "avg_pool2d", [&](auto zero) -> int {
    using T = decltype(zero);
    const int64_t total = outputs(*d);
    if (total <= 0) return NS_OK;
    avg_pool_kernel<T><<<blocks_for(total, kThreads), kThreads, 0, stream()>>>(*d, count_include_pad,
                                                                               static_cast<const T*>(x),
                                                                               static_cast<T*>(y));
    return check_launch("avg_pool2d");
  });
}

int avg_pool2d_backward(ns_dtype dt, const ns_pool2d_desc* d, int count_include_pad, const void* dy, void* dx) {
  return dispatch_float(dt, "avg_pool2d_backward", [&](auto zero) -> int {
    using T = decltype(zero);
    const int64_t total = inputs(*d);
    if (total <= 0) return NS_OK;
    avg_pool_backward_kernel<T><<<blocks_for(total, kThreads), kThreads, 0, stream()>>>(
        *d, count_include_pad, static_cast<const T*>(dy), static_cast<T*>(dx));
    return check_launch("avg_pool2d_backward");
  });
}

}  // namespace cuda
}  // namespace ns
