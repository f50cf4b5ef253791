// Max and average pooling over [h, w] planes, forward and backward; planes run in parallel.
#include <algorithm>
#include <limits>

#include "cpu.h"
#include "runtime.h"

namespace ns {
namespace {

// The window of output (oh, ow) clipped to the input: rows [h0, h1), columns [w0, w1); `padded` is its
// size clipped to the padded input instead (average pooling's count_include_pad divisor).
struct Window {
  int64_t h0, h1, w0, w1, padded;
};

inline Window window(const ns_pool2d_desc& d, int64_t oh, int64_t ow) {
  const int64_t hs = oh * d.stride_h - d.pad_h, ws = ow * d.stride_w - d.pad_w;
  const int64_t he = std::min(hs + d.kh, d.h + d.pad_h), we = std::min(ws + d.kw, d.w + d.pad_w);
  return Window{std::max<int64_t>(hs, 0), std::min(he, d.h), std::max<int64_t>(ws, 0), std::min(we, d.w),
                (he - hs) * (we - ws)};
}

// Scans one window element in order: the first maximum wins, and a NaN wins and ends the scan (returns false).
template <class T>
inline bool scan(T v, int64_t index, T* best, int64_t* at) {
  if (v > *best || v != v) {
    *best = v;
    *at = index;
  }
  return v == v;
}

// 2×2 windows with stride 2 and no padding (the common pooling layer), every one inside the plane.
template <class T>
void max_pool_2x2(const ns_pool2d_desc& d, const T* in, T* out, int32_t* arg) {
  for (int64_t oh = 0; oh < d.ho; ++oh) {
    const int64_t r0 = 2 * oh * d.w, r1 = r0 + d.w;
    for (int64_t ow = 0; ow < d.wo; ++ow) {
      const int64_t i = r0 + 2 * ow, j = r1 + 2 * ow;
      T best = -std::numeric_limits<T>::infinity();
      int64_t at = i;
      scan(in[i], i, &best, &at) && scan(in[i + 1], i + 1, &best, &at) && scan(in[j], j, &best, &at) &&
          scan(in[j + 1], j + 1, &best, &at);
      out[oh * d.wo + ow] = best;
      arg[oh * d.wo + ow] = static_cast<int32_t>(at);
    }
  }
}

template <class T>
void max_pool(const ns_pool2d_desc& d, const T* x, T* y, int32_t* argmax) {
  const bool two_by_two = d.kh == 2 && d.kw == 2 && d.stride_h == 2 && d.stride_w == 2 && d.pad_h == 0 &&
                          d.pad_w == 0 && 2 * d.ho <= d.h && 2 * d.wo <= d.w;
  parallel_for(d.n * d.c, 1, [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
      const T* in = x + pl * d.h * d.w;
      if (two_by_two) {
        max_pool_2x2(d, in, y + pl * d.ho * d.wo, argmax + pl * d.ho * d.wo);
        continue;
      }
      for (int64_t oh = 0; oh < d.ho; ++oh)
        for (int64_t ow = 0; ow < d.wo; ++ow) {
          const Window win = window(d, oh, ow);
          T best = -std::numeric_limits<T>::infinity();
          int64_t at = win.h0 * d.w + win.w0;
          bool nan = false;  // a NaN wins and ends the scan
          for (int64_t ih = win.h0; ih < win.h1 && !nan; ++ih)
            for (int64_t iw = win.w0; iw < win.w1; ++iw)
              if (!scan(in[ih * d.w + iw], ih * d.w + iw, &best, &at)) {
                nan = true;
                break;
              }
          const int64_t o = (pl * d.ho + oh) * d.wo + ow;
          y[o] = best;
          argmax[o] = static_cast<int32_t>(at);
        }
    }
  });
}

template <class T>
void max_pool_backward(const ns_pool2d_desc& d, const T* dy, const int32_t* argmax, T* dx) {
  const int64_t out_plane = d.ho * d.wo;
  parallel_for(d.n * d.c, 1, [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
      T* g = dx + pl * d.h * d.w;
      std::fill(g, g + d.h * d.w, T(0));
      for (int64_t o = pl * out_plane; o < (pl + 1) * out_plane; ++o) g[argmax[o]] += dy[o];
    }
  });
}

template <class T>
void avg_pool(const ns_pool2d_desc& d, int include_pad, const T* x, T* y) {
  parallel_for(d.n * d.c, 1, [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
      const T* in = x + pl * d.h * d.w;
      for (int64_t oh = 0; oh < d.ho; ++oh)
        for (int64_t ow = 0; ow < d.wo; ++ow) {
          const Window win = window(d, oh, ow);
          T sum = 0;
          for (int64_t ih = win.h0; ih < win.h1; ++ih)
            for (int64_t iw = win.w0; iw < win.w1; ++iw) sum += in[ih * d.w + iw];
          const int64_t count = include_pad ? win.padded : (win.h1 - win.h0) * (win.w1 - win.w0);
          y[(pl * d.ho + oh) * d.wo + ow] = sum / static_cast<T>(count);
        }
    }
  });
}

template <class T>
void avg_pool_backward(const ns_pool2d_desc& d, int include_pad, const T* dy, T* dx) {
  parallel_for(d.n * d.c, 1, [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
      T* g = dx + pl * d.h * d.w;
      std::fill(g, g + d.h * d.w, T(0));
      for (int64_t oh = 0; oh < d.ho; ++oh)
        for (int64_t ow = 0; ow < d.wo; ++ow) {
          const Window win = window(d, oh, ow);
          const int64_t count = include_pad ? win.padded : (win.h1 - win.h0) * (win.w1 - win.w0);
          const T share = dy[(pl * d.ho + oh) * d.wo + ow] / static_cast<T>(count);
          for (int64_t ih = win.h0; ih < win.h1; ++ih)
            for (int64_t iw = win.w0; iw < win.w1; ++iw) g[ih * d.w + iw] += share;
        }
    }
  });
}

}  // namespace
}  // namespace ns

extern "C" {

int ns_cpu_max_pool2d(ns_dtype dt, const ns_pool2d_desc* d, const void* x, void* y, int32_t* argmax) {
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::max_pool<T>(*d, static_cast<const T*>(x), static_cast<T*>(y), argmax);
  });
}

int ns_cpu_max_pool2d_backward(ns_dtype dt, const ns_pool2d_desc* d, const void* dy, const int32_t* argmax, void* dx) {
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::max_pool_backward<T>(*d, static_cast<const T*>(dy), argmax, static_cast<T*>(dx));
  });
}

int ns_cpu_avg_pool2d(ns_dtype dt, const ns_pool2d_desc* d, int count_include_pad, const void* x, void* y) {
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::avg_pool<T>(*d, count_include_pad, static_cast<const T*>(x), static_cast<T*>(y));
  });
}

int ns_cpu_avg_pool2d_backward(ns_dtype dt, const ns_pool2d_desc* d, int count_include_pad, const void* dy, void* dx) {
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::avg_pool_backward<T>(*d, count_include_pad, static_cast<const T*>(dy), static_cast<T*>(dx));
  });
}

}  // extern "C"
