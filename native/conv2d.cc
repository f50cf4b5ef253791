// conv2d on the CPU: implicit GEMMs over the GEMM core (patches are gathered while packing, for the
// whole batch at once), and direct loops for grouped convolutions with few filters per group
// (depthwise), where a GEMM tile would be mostly padding.
//
//   forward:      Y_g[f, (n,p)]  = W_g[f, (c,i,j)] · P_g[(c,i,j), (n,p)]
//   grad input:   stride 1 → the forward convolution of dy with the flipped, transposed kernel;
//                 otherwise dP_g = W_gᵀ · dY_g per image, scattered back into dx (col2im)
//   grad weight:  dW_g[f, (c,i,j)] = Σ_(n,p) dY_g[f, (n,p)] · P_g[(c,i,j), (n,p)]   (K split across threads)
#include <algorithm>
#include <cstring>
#include <vector>

#include "gemm.h"
#include "kernels.h"

namespace ns {
namespace {

// Shape facts of one convolution, per group.
struct Geometry {
  const ns_conv2d_desc& d;
  int64_t cg, fg;   // channels and filters per group
  int64_t taps;     // kh·kw
  int64_t k;        // cg·taps: the GEMM's reduction length
  int64_t plane;    // ho·wo
  int64_t cols;     // n·ho·wo
  explicit Geometry(const ns_conv2d_desc& desc)
      : d(desc), cg(desc.c / desc.groups), fg(desc.f / desc.groups), taps(desc.kh * desc.kw),
        k(cg * desc.kh * desc.kw), plane(desc.ho * desc.wo), cols(desc.n * desc.ho * desc.wo) {}
};

// Packs rows [k0, k0+kc) × columns [n0, n0+nc) of the patch matrix of group g into NR-column panels.
// Column (n, p) is output position p of image n; row (c, i, j) is channel c of the group, tap (i, j).
template <class T>
void pack_patches(T* dst, const T* x, const Geometry& G, int64_t g, int64_t k0, int64_t kc, int64_t n0, int64_t nc,
                  int NR) {
  const ns_conv2d_desc& d = G.d;
  struct Run { int64_t t0, len, img, oh, ow; };
  Run runs[64];
  for (int64_t q = 0; q < nc; q += NR) {
    const int64_t width = std::min<int64_t>(NR, nc - q);
    // The panel's columns as runs along output rows.
    int nruns = 0;
    for (int64_t t = 0; t < width;) {
      const int64_t col = n0 + q + t, img = col / G.plane, p = col % G.plane;
      const int64_t oh = p / d.wo, ow = p % d.wo;
      const int64_t len = std::min(width - t, d.wo - ow);
      runs[nruns++] = Run{t, len, img, oh, ow};
      t += len;
    }
    T* panel = dst + q * kc;
    for (int64_t kk = 0; kk < kc; ++kk) {
      const int64_t row = k0 + kk, c = row / G.taps, tap = row % G.taps;
      const int64_t i = tap / d.kw, j = tap % d.kw;
      T* out = panel + kk * NR;
      for (int r = 0; r < nruns; ++r) {
        const Run& run = runs[r];
        T* o = out + run.t0;
        const int64_t ih = run.oh * d.stride_h - d.pad_h + i * d.dil_h;
        if (ih < 0 || ih >= d.h) {
          std::fill(o, o + run.len, T(0));
          continue;
        }
        const T* src = x + ((run.img * d.c + g * G.cg + c) * d.h + ih) * d.w;
        const int64_t iw0 = run.ow * d.stride_w - d.pad_w + j * d.dil_w;
        if (d.stride_w == 1) {
          const int64_t lo = std::clamp<int64_t>(-iw0, 0, run.len), hi = std::clamp<int64_t>(d.w - iw0, lo, run.len);
          std::fill(o, o + lo, T(0));
          std::memcpy(o + lo, src + iw0 + lo, sizeof(T) * (hi - lo));
          std::fill(o + hi, o + run.len, T(0));
        } else {
          for (int64_t t = 0; t < run.len; ++t) {
            const int64_t iw = iw0 + t * d.stride_w;
            o[t] = (iw >= 0 && iw < d.w) ? src[iw] : T(0);
          }
        }
      }
      std::fill(out + width, out + NR, T(0));
    }
  }
}

// C view of the forward output: rows are the group's filters, columns (n, p) land in y[n, g·fg + f, p].
template <class T>
struct ConvOutputView {
  T* y;
  const Geometry& G;
  int64_t g;
  T* tile(int64_t m0, int64_t n0, int, int nr, int64_t* ldc) const {
    const int64_t img = n0 / G.plane, p = n0 % G.plane;
    if (p + nr > G.plane) return nullptr;
    *ldc = G.plane;
    return y + (img * G.d.f + g * G.fg + m0) * G.plane + p;
  }
  void scatter(const T* buf, int64_t ldb, int64_t m0, int64_t n0, int64_t mr, int64_t nr, int acc) const {
    for (int64_t t = 0; t < nr; ++t) {
      const int64_t col = n0 + t, img = col / G.plane, p = col % G.plane;
      T* out = y + (img * G.d.f + g * G.fg + m0) * G.plane + p;
      for (int64_t i = 0; i < mr; ++i) out[i * G.plane] = acc ? out[i * G.plane] + buf[i * ldb + t] : buf[i * ldb + t];
    }
  }
};

// Implicit-GEMM forward for every group; columns are split across threads, the packed weight is shared.
template <class T>
void forward_gemm(const Geometry& G, const T* x, const T* w, const T* bias, T* y) {
  const gemm::MicroKernel<T>& uk = gemm::kernel<T>();
  const int64_t MR = uk.mr, NR = uk.nr, KC = uk.kc;
  const int64_t k_blocks = std::max<int64_t>(1, (G.k + KC - 1) / KC);
  const int64_t a_size = k_blocks * gemm::round_up(G.fg, MR) * KC;
  const int64_t b_size = gemm::round_up(uk.nc, NR) * KC;
  const int64_t col_tiles = (G.cols + NR - 1) / NR;
  const int threads = static_cast<int>(std::min<int64_t>(pool_size(), col_tiles));
  Scratch a_scratch(sizeof(T) * a_size), b_scratch(sizeof(T) * b_size * threads);
  for (int64_t g = 0; g < G.d.groups; ++g) {
    const T* wg = w + g * G.fg * G.k;
    T* a = a_scratch.as<T>();
    for (int64_t kb = 0; kb < k_blocks; ++kb) {
      const int64_t k0 = kb * KC, kc = std::min(KC, G.k - k0);
      gemm::pack_a_strided(a + kb * gemm::round_up(G.fg, MR) * KC, wg, G.k, 1, 0, G.fg, k0, kc, static_cast<int>(MR));
    }
    ConvOutputView<T> view{y, G, g};
    parallel_run(threads, [&](int tid, int nt) {
      const int64_t t0 = col_tiles * tid / nt, t1 = col_tiles * (tid + 1) / nt;
      if (t0 >= t1) return;
      gemm::gemm_range<T>(
          G.fg, G.k, 0, G.fg, t0 * NR, std::min(G.cols, t1 * NR), [](T*, int64_t, int64_t, int64_t, int64_t) {}, a,
          [&](T* dst, int64_t k0, int64_t kc, int64_t n0, int64_t nc) {
            pack_patches(dst, x, G, g, k0, kc, n0, nc, static_cast<int>(NR));
          },
          view, 0, bias ? bias + g * G.fg : nullptr, nullptr, b_scratch.as<T>() + tid * b_size);
    });
  }
}

// Direct loops (grouped convolutions with few filters per group, e.g. depthwise).
template <class T>
void forward_direct(const Geometry& G, const T* x, const T* w, const T* bias, T* y) {
  const ns_conv2d_desc& d = G.d;
  parallel_for(d.n * d.f, 1, [&](int64_t begin, int64_t end) {
    for (int64_t nf = begin; nf < end; ++nf) {
      const int64_t img = nf / d.f, f = nf % d.f, g = f / G.fg;
      T* out = y + nf * G.plane;
      std::fill(out, out + G.plane, bias ? bias[f] : T(0));
      for (int64_t c = 0; c < G.cg; ++c) {
        const T* xc = x + (img * d.c + g * G.cg + c) * d.h * d.w;
        for (int64_t i = 0; i < d.kh; ++i)
          for (int64_t j = 0; j < d.kw; ++j) {
            const T wv = w[((f * G.cg + c) * d.kh + i) * d.kw + j];
            for (int64_t oh = 0; oh < d.ho; ++oh) {
              const int64_t ih = oh * d.stride_h - d.pad_h + i * d.dil_h;
              if (ih < 0 || ih >= d.h) continue;
              const T* row = xc + ih * d.w;
              T* o = out + oh * d.wo;
              const int64_t iw0 = j * d.dil_w - d.pad_w;
              // valid ow: 0 <= ow·s + iw0 < w
              int64_t lo = iw0 >= 0 ? 0 : (-iw0 + d.stride_w - 1) / d.stride_w;
              int64_t hi = d.w - iw0 <= 0 ? 0 : (d.w - iw0 - 1) / d.stride_w + 1;
              hi = std::min(hi, d.wo);
              if (d.stride_w == 1)
                for (int64_t ow = lo; ow < hi; ++ow) o[ow] += wv * row[ow + iw0];
              else
                for (int64_t ow = lo; ow < hi; ++ow) o[ow] += wv * row[ow * d.stride_w + iw0];
            }
          }
      }
    }
  });
}

template <class T>
void backward_input_direct(const Geometry& G, const T* dy, const T* w, T* dx) {
  const ns_conv2d_desc& d = G.d;
  parallel_for(d.n * d.c, 1, [&](int64_t begin, int64_t end) {
    for (int64_t nc = begin; nc < end; ++nc) {
      const int64_t img = nc / d.c, ch = nc % d.c, g = ch / G.cg, c = ch % G.cg;
      T* out = dx + nc * d.h * d.w;
      std::fill(out, out + d.h * d.w, T(0));
      for (int64_t fl = 0; fl < G.fg; ++fl) {
        const int64_t f = g * G.fg + fl;
        const T* dyf = dy + (img * d.f + f) * G.plane;
        for (int64_t i = 0; i < d.kh; ++i)
          for (int64_t j = 0; j < d.kw; ++j) {
            const T wv = w[((f * G.cg + c) * d.kh + i) * d.kw + j];
            for (int64_t oh = 0; oh < d.ho; ++oh) {
              const int64_t ih = oh * d.stride_h - d.pad_h + i * d.dil_h;
              if (ih < 0 || ih >= d.h) continue;
              T* row = out + ih * d.w;
              const T* g_row = dyf + oh * d.wo;
              const int64_t iw0 = j * d.dil_w - d.pad_w;
              int64_t lo = iw0 >= 0 ? 0 : (-iw0 + d.stride_w - 1) / d.stride_w;
              int64_t hi = d.w - iw0 <= 0 ? 0 : (d.w - iw0 - 1) / d.stride_w + 1;
              hi = std::min(hi, d.wo);
              for (int64_t ow = lo; ow < hi; ++ow) row[ow * d.stride_w + iw0] += wv * g_row[ow];
            }
          }
      }
    }
  });
}

template <class T>
void backward_weight_direct(const Geometry& G, const T* x, const T* dy, T* dw) {
  const ns_conv2d_desc& d = G.d;
  parallel_for(d.f * G.cg, 1, [&](int64_t begin, int64_t end) {
    for (int64_t fc = begin; fc < end; ++fc) {
      const int64_t f = fc / G.cg, c = fc % G.cg, g = f / G.fg;
      for (int64_t i = 0; i < d.kh; ++i)
        for (int64_t j = 0; j < d.kw; ++j) {
          T sum = 0;
          for (int64_t img = 0; img < d.n; ++img) {
            const T* xc = x + (img * d.c + g * G.cg + c) * d.h * d.w;
            const T* dyf = dy + (img * d.f + f) * G.plane;
            for (int64_t oh = 0; oh < d.ho; ++oh) {
              const int64_t ih = oh * d.stride_h - d.pad_h + i * d.dil_h;
              if (ih < 0 || ih >= d.h) continue;
              const T* row = xc + ih * d.w;
              const T* g_row = dyf + oh * d.wo;
              const int64_t iw0 = j * d.dil_w - d.pad_w;
              int64_t lo = iw0 >= 0 ? 0 : (-iw0 + d.stride_w - 1) / d.stride_w;
              int64_t hi = d.w - iw0 <= 0 ? 0 : (d.w - iw0 - 1) / d.stride_w + 1;
              hi = std::min(hi, d.wo);
              for (int64_t ow = lo; ow < hi; ++ow) sum += g_row[ow] * row[ow * d.stride_w + iw0];
            }
          }
          dw[(fc * d.kh + i) * d.kw + j] = sum;
        }
    }
  });
}

// Few filters per group: a GEMM tile would be mostly padding.
bool use_direct(const Geometry& G) { return G.d.groups > 1 && G.fg * 2 < gemm::kernel_f32().mr; }

template <class T>
void forward(const ns_conv2d_desc& d, const T* x, const T* w, const T* bias, T* y) {
  Geometry G(d);
  if (use_direct(G))
    forward_direct(G, x, w, bias, y);
  else
    forward_gemm(G, x, w, bias, y);
}

// dP_g[(c,i,j), p] = Σ_f W_g[f, (c,i,j)] · dY_g[f, p] for one image, then scattered into dx[img] (col2im).
template <class T>
void backward_input_col2im(const Geometry& G, const T* dy, const T* w, T* dx) {
  const ns_conv2d_desc& d = G.d;
  const int64_t per_image = G.k * G.plane;
  const int threads = static_cast<int>(std::min<int64_t>(pool_size(), d.n * d.groups));
  Scratch scratch(sizeof(T) * per_image * threads);
  std::fill(dx, dx + d.n * d.c * d.h * d.w, T(0));
  // Images and groups write disjoint parts of dx, so each (image, group) is one work item.
  parallel_run(threads, [&](int tid, int nt) {
    T* cols = scratch.as<T>() + tid * per_image;
    for (int64_t item = tid; item < d.n * d.groups; item += nt) {
      const int64_t img = item / d.groups, g = item % d.groups;
      const T* wg = w + g * G.fg * G.k;
      const T* dyg = dy + (img * d.f + g * G.fg) * G.plane;
      ns_cpu_matmul(sizeof(T) == 8 ? NS_FLOAT64 : NS_FLOAT32, 1, G.k, G.plane, G.fg, wg, 0, 1, G.k, dyg, 0, G.plane, 1,
                    cols, 0);
      for (int64_t row = 0; row < G.k; ++row) {
        const int64_t c = row / G.taps, tap = row % G.taps, i = tap / d.kw, j = tap % d.kw;
        T* plane = dx + (img * d.c + g * G.cg + c) * d.h * d.w;
        const T* src = cols + row * G.plane;
        for (int64_t oh = 0; oh < d.ho; ++oh) {
          const int64_t ih = oh * d.stride_h - d.pad_h + i * d.dil_h;
          if (ih < 0 || ih >= d.h) continue;
          for (int64_t ow = 0; ow < d.wo; ++ow) {
            const int64_t iw = ow * d.stride_w - d.pad_w + j * d.dil_w;
            if (iw >= 0 && iw < d.w) plane[ih * d.w + iw] += src[oh * d.wo + ow];
          }
        }
      }
    }
  });
}

template <class T>
void backward_input(const ns_conv2d_desc& d, const T* dy, const T* w, T* dx) {
  Geometry G(d);
  if (use_direct(G)) return backward_input_direct(G, dy, w, dx);
  const int64_t reach_h = d.dil_h * (d.kh - 1), reach_w = d.dil_w * (d.kw - 1);
  if (d.stride_h == 1 && d.stride_w == 1 && d.pad_h <= reach_h && d.pad_w <= reach_w) {
    // dx = conv(dy, w'), w'[g·cg + c, f, i, j] = w[g·fg + f, c, kh−1−i, kw−1−j], padding reach − pad.
    Scratch flipped(sizeof(T) * d.f * G.k);
    T* wt = flipped.as<T>();
    for (int64_t g = 0; g < d.groups; ++g)
      for (int64_t f = 0; f < G.fg; ++f)
        for (int64_t c = 0; c < G.cg; ++c)
          for (int64_t t = 0; t < G.taps; ++t)
            wt[(((g * G.cg + c) * G.fg + f) * G.taps) + (G.taps - 1 - t)] = w[((g * G.fg + f) * G.cg + c) * G.taps + t];
    ns_conv2d_desc t{d.n, d.f, d.ho, d.wo, d.c, d.kh, d.kw, d.groups, 1, 1, reach_h - d.pad_h, reach_w - d.pad_w,
                     d.dil_h, d.dil_w, d.h, d.w};
    return forward(t, dy, wt, static_cast<const T*>(nullptr), dx);
  }
  backward_input_col2im(G, dy, w, dx);
}

// dW_g over the whole batch; positions (the reduction) are split across threads, each summing into its
// own buffer, then added up.
template <class T>
void backward_weight(const ns_conv2d_desc& d, const T* x, const T* dy, T* dw, T* dbias) {
  Geometry G(d);
  if (dbias) {
    parallel_for(d.f, 1, [&](int64_t begin, int64_t end) {
      for (int64_t f = begin; f < end; ++f) {
        T sum = 0;
        for (int64_t img = 0; img < d.n; ++img) {
          const T* row = dy + (img * d.f + f) * G.plane;
          for (int64_t p = 0; p < G.plane; ++p) sum += row[p];
        }
        dbias[f] = sum;
      }
    });
  }
  if (use_direct(G)) return backward_weight_direct(G, x, dy, dw);
  const gemm::MicroKernel<T>& uk = gemm::kernel<T>();
  const int64_t MR = uk.mr, NR = uk.nr, KC = uk.kc;
  const int64_t wsize = d.f * G.k;
  const int threads = static_cast<int>(std::min<int64_t>(pool_size(), std::max<int64_t>(1, G.cols / 256)));
  const int64_t a_size = gemm::round_up(G.fg, MR) * KC, b_size = gemm::round_up(uk.nc, NR) * KC;
  Scratch partial(sizeof(T) * wsize * (threads - 1) + 64), bufs(sizeof(T) * (a_size + b_size) * threads);
  parallel_run(threads, [&](int tid, int nt) {
    const int64_t p0 = G.cols * tid / nt, p1 = G.cols * (tid + 1) / nt;
    T* out = tid == 0 ? dw : partial.as<T>() + (tid - 1) * wsize;
    T* abuf = bufs.as<T>() + tid * (a_size + b_size);
    T* bbuf = abuf + a_size;
    for (int64_t g = 0; g < d.groups; ++g) {
      // A[f, k] = dy[img(k), g·fg + f, p(k)] and B[k, (c,i,j)] = patch value, for k in [p0, p1).
      auto pack_a = [&](T* dst, int64_t m0, int64_t mc, int64_t k0, int64_t kc) {
        for (int64_t q = 0; q < mc; q += MR) {
          const int64_t rows = std::min<int64_t>(MR, mc - q);
          T* panel = dst + q * kc;
          for (int64_t kk = 0; kk < kc; ++kk) {
            const int64_t col = p0 + k0 + kk, img = col / G.plane, p = col % G.plane;
            const T* src = dy + (img * d.f + g * G.fg + m0 + q) * G.plane + p;
            int64_t r = 0;
            for (; r < rows; ++r) panel[kk * MR + r] = src[r * G.plane];
            for (; r < MR; ++r) panel[kk * MR + r] = T(0);
          }
        }
      };
      auto pack_b = [&](T* dst, int64_t k0, int64_t kc, int64_t n0, int64_t nc) {
        for (int64_t q = 0; q < nc; q += NR) {
          const int64_t width = std::min<int64_t>(NR, nc - q);
          T* panel = dst + q * kc;
          for (int64_t t = 0; t < NR; ++t) {
            if (t >= width) {
              for (int64_t kk = 0; kk < kc; ++kk) panel[kk * NR + t] = T(0);
              continue;
            }
            const int64_t row = n0 + q + t, c = row / G.taps, tap = row % G.taps, i = tap / d.kw, j = tap % d.kw;
            for (int64_t kk = 0; kk < kc; ++kk) {
              const int64_t col = p0 + k0 + kk, img = col / G.plane, p = col % G.plane;
              const int64_t ih = (p / d.wo) * d.stride_h - d.pad_h + i * d.dil_h;
              const int64_t iw = (p % d.wo) * d.stride_w - d.pad_w + j * d.dil_w;
              panel[kk * NR + t] = (ih >= 0 && ih < d.h && iw >= 0 && iw < d.w)
                                       ? x[((img * d.c + g * G.cg + c) * d.h + ih) * d.w + iw]
                                       : T(0);
            }
          }
        }
      };
      gemm::gemm_range<T>(G.fg, p1 - p0, 0, G.fg, 0, G.k, pack_a, nullptr, pack_b,
                          gemm::DenseCView<T>{out + g * G.fg * G.k, G.k}, 0, nullptr, abuf, bbuf);
    }
  });
  for (int t = 1; t < threads; ++t) {
    const T* src = partial.as<T>() + (t - 1) * wsize;
    for (int64_t e = 0; e < wsize; ++e) dw[e] += src[e];
  }
}

}  // namespace
}  // namespace ns

extern "C" {

int ns_cpu_conv2d_forward(ns_dtype dt, const ns_conv2d_desc* d, const void* x, const void* w, const void* bias, void* y) {
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::forward(*d, static_cast<const T*>(x), static_cast<const T*>(w), static_cast<const T*>(bias), static_cast<T*>(y));
  });
}

int ns_cpu_conv2d_backward_input(ns_dtype dt, const ns_conv2d_desc* d, const void* dy, const void* w, void* dx) {
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::backward_input(*d, static_cast<const T*>(dy), static_cast<const T*>(w), static_cast<T*>(dx));
  });
}

int ns_cpu_conv2d_backward_weight(ns_dtype dt, const ns_conv2d_desc* d, const void* x, const void* dy, void* dw,
                                  void* dbias) {
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::backward_weight(*d, static_cast<const T*>(x), static_cast<const T*>(dy), static_cast<T*>(dw),
                        static_cast<T*>(dbias));
  });
}

}  // extern "C"
