// Direct convolution loops (see conv2d_direct.h). The loop bodies are templates inlined into one
// function per ISA: the AVX-512 one does its row operations with masked vectors, the others let the
// compiler vectorise them.
#include "conv2d_direct.h"

#include <immintrin.h>

#include <algorithm>
#include <type_traits>

#include "gemm.h"
#include "runtime.h"

namespace ns {
namespace conv {
namespace {

#define NS_INLINE inline __attribute__((always_inline))

// Output columns ow whose input column ow·stride + iw0 lies in [0, w): [*lo, *hi).
NS_INLINE void valid_columns(const ns_conv2d_desc& d, int64_t iw0, int64_t* lo, int64_t* hi) {
  *lo = iw0 >= 0 ? 0 : (-iw0 + d.stride_w - 1) / d.stride_w;
  *hi = iw0 >= d.w ? 0 : std::min(d.wo, (d.w - 1 - iw0) / d.stride_w + 1);
}

// The row operations of the loops, plain (vectorised by the compiler for the ISA they are inlined into).
template <class T>
struct RowOps {
  // out[u] += a·in[u] for u < n.
  static NS_INLINE void axpy(T* __restrict out, const T* __restrict in, T a, int64_t n) {
    for (int64_t u = 0; u < n; ++u) out[u] += a * in[u];
  }
  // Σ_u a[u]·b[u] for u < n, added to *sum.
  static NS_INLINE void dot(const T* a, const T* b, int64_t n, T* sum) {
    T lanes[16] = {};
    int64_t u = 0;
    for (; u + 16 <= n; u += 16)
      for (int l = 0; l < 16; ++l) lanes[l] += a[u + l] * b[u + l];
    for (; u < n; ++u) lanes[u % 16] += a[u] * b[u];
    for (int l = 0; l < 16; ++l) *sum += lanes[l];
  }
};

// Output plane nf = (img, f) of the forward convolution.
template <class T, class Ops = RowOps<T>>
NS_INLINE void forward_plane(const Geometry& G, const T* x, const T* w, const T* bias, T* y, int64_t nf) {
  const ns_conv2d_desc& d = G.d;
  const int64_t img = nf / d.f, f = nf % d.f, g = f / G.fg;
  T* out = y + nf * G.plane;
  std::fill(out, out + G.plane, bias ? bias[f] : T(0));
  for (int64_t c = 0; c < G.cg; ++c) {
    const T* xc = x + (img * d.c + g * G.cg + c) * d.h * d.w;
    for (int64_t i = 0; i < d.kh; ++i)
      for (int64_t j = 0; j < d.kw; ++j) {
        const T wv = w[((f * G.cg + c) * d.kh + i) * d.kw + j];
        const int64_t iw0 = j * d.dil_w - d.pad_w;
        int64_t lo, hi;
        valid_columns(d, iw0, &lo, &hi);
        for (int64_t oh = 0; oh < d.ho; ++oh) {
          const int64_t ih = oh * d.stride_h - d.pad_h + i * d.dil_h;
          if (ih < 0 || ih >= d.h) continue;
          const T* __restrict row = xc + ih * d.w;
          T* __restrict o = out + oh * d.wo;
          if (d.stride_w == 1 && lo < hi)
            Ops::axpy(o + lo, row + lo + iw0, wv, hi - lo);
          else
            for (int64_t ow = lo; ow < hi; ++ow) o[ow] += wv * row[ow * d.stride_w + iw0];
        }
      }
  }
}

// Input-gradient plane nc = (img, channel).
template <class T, class Ops = RowOps<T>>
NS_INLINE void backward_input_plane(const Geometry& G, const T* dy, const T* w, T* dx, int64_t nc) {
  const ns_conv2d_desc& d = G.d;
  const int64_t img = nc / d.c, ch = nc % d.c, g = ch / G.cg, c = ch % G.cg;
  T* out = dx + nc * d.h * d.w;
  std::fill(out, out + d.h * d.w, T(0));
  for (int64_t fl = 0; fl < G.fg; ++fl) {
    const int64_t f = g * G.fg + fl;
    const T* dyf = dy + (img * d.f + f) * G.plane;
    for (int64_t i = 0; i < d.kh; ++i)
      for (int64_t j = 0; j < d.kw; ++j) {
        const T wv = w[((f * G.cg + c) * d.kh + i) * d.kw + j];
        const int64_t iw0 = j * d.dil_w - d.pad_w;
        int64_t lo, hi;
        valid_columns(d, iw0, &lo, &hi);
        for (int64_t oh = 0; oh < d.ho; ++oh) {
          const int64_t ih = oh * d.stride_h - d.pad_h + i * d.dil_h;
          if (ih < 0 || ih >= d.h) continue;
          T* __restrict row = out + ih * d.w;
          const T* __restrict g_row = dyf + oh * d.wo;
          if (d.stride_w == 1 && lo < hi)
            Ops::axpy(row + lo + iw0, g_row + lo, wv, hi - lo);
          else
            for (int64_t ow = lo; ow < hi; ++ow) row[ow * d.stride_w + iw0] += wv * g_row[ow];
        }
      }
  }
}

// Weight gradient of filter f and channel c (of its group), every tap.
template <class T, class Ops = RowOps<T>>
NS_INLINE void backward_weight_item(const Geometry& G, const T* x, const T* dy, T* dw, int64_t fc) {
  const ns_conv2d_desc& d = G.d;
  const int64_t f = fc / G.cg, c = fc % G.cg, g = f / G.fg;
  for (int64_t i = 0; i < d.kh; ++i)
    for (int64_t j = 0; j < d.kw; ++j) {
      const int64_t iw0 = j * d.dil_w - d.pad_w;
      int64_t lo, hi;
      valid_columns(d, iw0, &lo, &hi);
      T sum = 0;
      for (int64_t img = 0; img < d.n; ++img) {
        const T* xc = x + (img * d.c + g * G.cg + c) * d.h * d.w;
        const T* dyf = dy + (img * d.f + f) * G.plane;
        for (int64_t oh = 0; oh < d.ho; ++oh) {
          const int64_t ih = oh * d.stride_h - d.pad_h + i * d.dil_h;
          if (ih < 0 || ih >= d.h || lo >= hi) continue;
          const T* row = xc + ih * d.w;
          const T* g_row = dyf + oh * d.wo;
          if (d.stride_w == 1)
            Ops::dot(g_row + lo, row + lo + iw0, hi - lo, &sum);
          else
            for (int64_t ow = lo; ow < hi; ++ow) sum += g_row[ow] * row[ow * d.stride_w + iw0];
        }
      }
      dw[(fc * d.kh + i) * d.kw + j] = sum;
    }
}

template <class T>
void forward_range(const Geometry& G, const T* x, const T* w, const T* bias, T* y, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) forward_plane(G, x, w, bias, y, i);
}
template <class T>
void backward_input_range(const Geometry& G, const T* dy, const T* w, T* dx, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) backward_input_plane(G, dy, w, dx, i);
}
template <class T>
void backward_weight_range(const Geometry& G, const T* x, const T* dy, T* dw, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) backward_weight_item(G, x, dy, dw, i);
}

#if defined(__x86_64__) || defined(_M_X64)
// GCC 12's _mm512_reduce_add_ps starts from _mm512_undefined_ps() (`__Y = __Y`), which
// -Wmaybe-uninitialized reports once inlined here; the values are fully defined.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// The row operations 16 lanes at a time under masks (no scalar remainders for odd spans).
struct RowOpsAvx512 {
  static inline __attribute__((target("avx512f"))) __mmask16 lanes(int64_t n) {
    return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1);
  }
  static inline __attribute__((target("avx512f"))) void axpy(float* out, const float* in, float a, int64_t n) {
    const __m512 va = _mm512_set1_ps(a);
    for (int64_t u = 0; u < n; u += 16) {
      const __mmask16 m = lanes(n - u);
      _mm512_mask_storeu_ps(out + u, m,
                            _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, in + u), _mm512_maskz_loadu_ps(m, out + u)));
    }
  }
  static inline __attribute__((target("avx512f"))) void dot(const float* a, const float* b, int64_t n, float* sum) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t u = 0; u < n; u += 16) {
      const __mmask16 m = lanes(n - u);
      acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + u), _mm512_maskz_loadu_ps(m, b + u), acc);
    }
    *sum += _mm512_reduce_add_ps(acc);
  }
};

__attribute__((target("avx512f"))) void forward_range_avx512(const Geometry& G, const float* x, const float* w,
                                                             const float* bias, float* y, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) forward_plane<float, RowOpsAvx512>(G, x, w, bias, y, i);
}
__attribute__((target("avx512f"))) void backward_input_range_avx512(const Geometry& G, const float* dy, const float* w,
                                                                    float* dx, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) backward_input_plane<float, RowOpsAvx512>(G, dy, w, dx, i);
}
__attribute__((target("avx512f"))) void backward_weight_range_avx512(const Geometry& G, const float* x,
                                                                     const float* dy, float* dw, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) backward_weight_item<float, RowOpsAvx512>(G, x, dy, dw, i);
}
__attribute__((target("avx2,fma"))) void forward_range_avx2(const Geometry& G, const float* x, const float* w,
                                                            const float* bias, float* y, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) forward_plane(G, x, w, bias, y, i);
}
__attribute__((target("avx2,fma"))) void backward_input_range_avx2(const Geometry& G, const float* dy, const float* w,
                                                                   float* dx, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) backward_input_plane(G, dy, w, dx, i);
}
__attribute__((target("avx2,fma"))) void backward_weight_range_avx2(const Geometry& G, const float* x, const float* dy,
                                                                    float* dw, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) backward_weight_item(G, x, dy, dw, i);
}

#pragma GCC diagnostic pop
#endif

// The ISA the float32 GEMM runs at: 2 AVX-512, 1 AVX2, 0 portable (and every other dtype).
template <class T>
int vector_level() {
#if defined(__x86_64__) || defined(_M_X64)
  if constexpr (std::is_same_v<T, float>) {
    const gemm::Isa isa = gemm::kernel_f32().level;
    return isa == gemm::Isa::avx512 ? 2 : isa == gemm::Isa::avx2 ? 1 : 0;
  }
#endif
  return 0;
}

}  // namespace

template <class T>
void direct_forward(const Geometry& G, const T* x, const T* w, const T* bias, T* y) {
  const int level = vector_level<T>();
  parallel_for(G.d.n * G.d.f, 1, [&](int64_t b, int64_t e) {
#if defined(__x86_64__) || defined(_M_X64)
    if constexpr (std::is_same_v<T, float>) {
      if (level == 2) return forward_range_avx512(G, x, w, bias, y, b, e);
      if (level == 1) return forward_range_avx2(G, x, w, bias, y, b, e);
    }
#endif
    forward_range(G, x, w, bias, y, b, e);
  });
}

template <class T>
void direct_backward_input(const Geometry& G, const T* dy, const T* w, T* dx) {
  const int level = vector_level<T>();
  parallel_for(G.d.n * G.d.c, 1, [&](int64_t b, int64_t e) {
#if defined(__x86_64__) || defined(_M_X64)
    if constexpr (std::is_same_v<T, float>) {
      if (level == 2) return backward_input_range_avx512(G, dy, w, dx, b, e);
      if (level == 1) return backward_input_range_avx2(G, dy, w, dx, b, e);
    }
#endif
    backward_input_range(G, dy, w, dx, b, e);
  });
}

template <class T>
void direct_backward_weight(const Geometry& G, const T* x, const T* dy, T* dw, T* dbias) {
  const ns_conv2d_desc& d = G.d;
  const int level = vector_level<T>();
  parallel_for(d.f * G.cg, 1, [&](int64_t b, int64_t e) {
#if defined(__x86_64__) || defined(_M_X64)
    if constexpr (std::is_same_v<T, float>) {
      if (level == 2) return backward_weight_range_avx512(G, x, dy, dw, b, e);
      if (level == 1) return backward_weight_range_avx2(G, x, dy, dw, b, e);
    }
#endif
    backward_weight_range(G, x, dy, dw, b, e);
  });
  if (dbias) bias_grad(G, dy, dbias);
}

template <class T>
void bias_grad(const Geometry& G, const T* dy, T* dbias) {
  const ns_conv2d_desc& d = G.d;
  parallel_for(d.f, 1, [&](int64_t begin, int64_t end) {
    for (int64_t f = begin; f < end; ++f) {
      // 16 running sums, so that the loop vectorises (one serial sum ran at a float add per cycle).
      T lanes[16] = {};
      for (int64_t img = 0; img < d.n; ++img) {
        const T* row = dy + (img * d.f + f) * G.plane;
        int64_t p = 0;
        for (; p + 16 <= G.plane; p += 16)
          for (int l = 0; l < 16; ++l) lanes[l] += row[p + l];
        for (; p < G.plane; ++p) lanes[p % 16] += row[p];
      }
      T sum = 0;
      for (int l = 0; l < 16; ++l) sum += lanes[l];
      dbias[f] = sum;
    }
  });
}

template void bias_grad<float>(const Geometry&, const float*, float*);
template void bias_grad<double>(const Geometry&, const double*, double*);
template void direct_forward<float>(const Geometry&, const float*, const float*, const float*, float*);
template void direct_forward<double>(const Geometry&, const double*, const double*, const double*, double*);
template void direct_backward_input<float>(const Geometry&, const float*, const float*, float*);
template void direct_backward_input<double>(const Geometry&, const double*, const double*, double*);
template void direct_backward_weight<float>(const Geometry&, const float*, const float*, float*, float*);
template void direct_backward_weight<double>(const Geometry&, const double*, const double*, double*, double*);

}  // namespace conv
}  // namespace ns
