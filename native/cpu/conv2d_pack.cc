// Packers of the implicit-GEMM convolutions (see conv2d_pack.h): portable versions for every dtype and
// ISA, and AVX-512 and AVX2 versions for float32 chosen at run time to match the GEMM's kernels.
#include "conv2d_pack.h"

#include <immintrin.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <type_traits>

#include "gemm.h"

namespace ns {
namespace conv {
namespace {

// Channels c of the group whose row c·taps + tap lies in [r0, r0 + rc): [*lo, *hi).
void channel_range(const Geometry& G, int64_t tap, int64_t r0, int64_t rc, int64_t* lo, int64_t* hi) {
  *lo = r0 > tap ? (r0 - tap + G.taps - 1) / G.taps : 0;
  *hi = std::min(G.cg, r0 + rc > tap ? (r0 + rc - tap + G.taps - 1) / G.taps : 0);
}

// Output positions u ≥ 0 of a run whose input column iw0 + u·stride lies in [0, w): [*lo, *hi) ∩ [0, len).
void valid_span(int64_t iw0, int64_t stride, int64_t w, int64_t len, int64_t* lo, int64_t* hi) {
  *lo = iw0 >= 0 ? 0 : std::min(len, (-iw0 + stride - 1) / stride);
  *hi = iw0 >= w ? 0 : std::min(len, (w - 1 - iw0) / stride + 1);
  if (*hi < *lo) *hi = *lo;
}

// Portable patch packer. A panel's columns are split into runs along output rows; for each tap, the runs
// become segments of valid input pixels, and every channel of the block copies the same segments.
template <class T>
void pack_patches_portable(T* dst, const T* x, const Geometry& G, int64_t g, int64_t r0, int64_t rc, int64_t c0,
                           int64_t cc, int64_t width) {
  const ns_conv2d_desc& d = G.d;
  const int64_t hw = d.h * d.w, chw = d.c * hw;
  const T* xg = x + g * G.cg * hw;
  struct Run { int64_t t0, len, base, ih0, iw0; };  // base: offset of (n, ih0 = oh·sh, iw0 = ow·sw) from xg
  struct Seg { int64_t t0, len, off; };
  Run runs[kMaxPanel];
  Seg segs[kMaxPanel];
  for (int64_t q = 0; q < cc; q += width) {
    const int64_t ncols = std::min(width, cc - q);
    T* panel = dst + q * rc;
    int nruns = 0;
    {
      const int64_t col = c0 + q;
      int64_t img = col / G.plane, p = col % G.plane, oh = p / d.wo, ow = p % d.wo;
      for (int64_t t = 0; t < ncols;) {
        const int64_t len = std::min(ncols - t, d.wo - ow);
        runs[nruns++] = Run{t, len, img * chw, oh * d.stride_h, ow * d.stride_w};
        t += len;
        ow = 0;
        if (++oh == d.ho) oh = 0, ++img;
      }
    }
    for (int64_t tap = 0; tap < G.taps; ++tap) {
      int64_t c_lo, c_hi;
      channel_range(G, tap, r0, rc, &c_lo, &c_hi);
      if (c_lo >= c_hi) continue;
      const int64_t di = (tap / d.kw) * d.dil_h - d.pad_h, dj = (tap % d.kw) * d.dil_w - d.pad_w;
      int nsegs = 0;
      for (int r = 0; r < nruns; ++r) {
        const Run& run = runs[r];
        const int64_t ih = run.ih0 + di, iw0 = run.iw0 + dj;
        if (ih < 0 || ih >= d.h) continue;
        int64_t lo, hi;
        valid_span(iw0, d.stride_w, d.w, run.len, &lo, &hi);
        if (lo < hi) segs[nsegs++] = Seg{run.t0 + lo, hi - lo, run.base + ih * d.w + iw0 + lo * d.stride_w};
      }
      for (int64_t c = c_lo; c < c_hi; ++c) {
        const T* src = xg + c * hw;
        T* out = panel + (c * G.taps + tap - r0) * width;
        std::fill(out, out + width, T(0));
        for (int s = 0; s < nsegs; ++s) {
          const Seg& sg = segs[s];
          if (d.stride_w == 1)
            std::memcpy(out + sg.t0, src + sg.off, sizeof(T) * sg.len);
          else
            for (int64_t u = 0; u < sg.len; ++u) out[sg.t0 + u] = src[sg.off + u * d.stride_w];
        }
      }
    }
  }
}

// out[u] += s[u] for u < n.
template <class T>
void add_span(T* __restrict out, const T* __restrict s, int64_t n) {
  for (int64_t u = 0; u < n; ++u) out[u] += s[u];
}

// dx_row[iw] += Σ_j src[j·ldt + iw − (iw0 + j·dil)] over the kw taps j of one kernel row (stride 1 along
// w): row j of src holds a run of `len` columns whose first one lands on input column iw0 + j·dil; only
// input columns in [0, w) are written. Summing the taps before touching dx avoids kw read-modify-writes of
// overlapping, misaligned spans (which stall store forwarding).
template <class T>
void add_kernel_row(T* __restrict dx_row, const T* __restrict src, int64_t ldt, int64_t iw0, int64_t len, int64_t kw,
                    int64_t dil, int64_t w) {
  const int64_t lo = std::max<int64_t>(iw0, 0), hi = std::min(iw0 + (kw - 1) * dil + len, w);
  for (int64_t iw = lo; iw < hi; ++iw) {
    T sum = T(0);
    for (int64_t j = 0; j < kw; ++j) {
      const int64_t t = iw - iw0 - j * dil;
      if (t >= 0 && t < len) sum += src[j * ldt + t];
    }
    dx_row[iw] += sum;
  }
}

// Col2im of one tile. The columns are split into runs along output rows once; each row of the tile then
// adds its runs' valid spans (contiguous ones through add(out, s, n)). With stride 1 along w, the kw rows
// of one kernel row of a channel go together through add_row (see add_kernel_row).
template <class T, class AddSpan, class AddRow>
inline __attribute__((always_inline)) void col2im_add_impl(T* dx, const T* tile, int64_t ldt, const Geometry& G,
                                                           int64_t g, int64_t m0, int64_t n0, int64_t mr, int64_t nr,
                                                           AddSpan&& add, AddRow&& add_row) {
  const ns_conv2d_desc& d = G.d;
  struct Run { int64_t t0, len, img, ih0, iw0; };
  Run runs[kMaxPanel];
  int nruns = 0;
  int64_t img = n0 / G.plane, p = n0 % G.plane, oh = p / d.wo, ow = p % d.wo;
  for (int64_t t = 0; t < nr;) {
    const int64_t len = std::min(nr - t, d.wo - ow);
    runs[nruns++] = Run{t, len, img, oh * d.stride_h - d.pad_h, ow * d.stride_w - d.pad_w};
    t += len;
    ow = 0;
    if (++oh == d.ho) oh = 0, ++img;
  }
  int64_t c = m0 / G.taps, tap = m0 % G.taps;
  for (int64_t r = 0; r < mr;) {
    const int64_t di = (tap / d.kw) * d.dil_h, dj = (tap % d.kw) * d.dil_w;
    const T* src = tile + r * ldt;
    const bool kernel_row = d.stride_w == 1 && d.kw > 1 && dj == 0 && r + d.kw <= mr;
    for (int k = 0; k < nruns; ++k) {
      const Run& run = runs[k];
      const int64_t ih = run.ih0 + di, iw0 = run.iw0 + dj;
      if (ih < 0 || ih >= d.h) continue;
      T* plane_row = dx + ((run.img * d.c + g * G.cg + c) * d.h + ih) * d.w;
      if (kernel_row) {
        add_row(plane_row, src + run.t0, ldt, iw0, run.len, d.kw, d.dil_w, d.w);
        continue;
      }
      int64_t lo, hi;
      valid_span(iw0, d.stride_w, d.w, run.len, &lo, &hi);
      if (lo >= hi) continue;
      T* __restrict out = plane_row + iw0 + lo * d.stride_w;
      const T* __restrict s = src + run.t0 + lo;
      if (d.stride_w == 1)
        add(out, s, hi - lo);
      else
        for (int64_t u = 0; u < hi - lo; ++u) out[u * d.stride_w] += s[u];
    }
    const int64_t step = kernel_row ? d.kw : 1;
    r += step;
    tap += step;
    if (tap == G.taps) tap = 0, ++c;
  }
}

#if defined(__x86_64__) || defined(_M_X64)

// GCC 12's AVX-512 intrinsics start many results from _mm512_undefined_*() (`__Y = __Y`), which
// -Wmaybe-uninitialized reports once they are inlined here; the values are fully defined.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// Whether the vector patch packers' 32-bit lane offsets cover x and every padded coordinate.
bool fits_int32(const Geometry& G) {
  const ns_conv2d_desc& d = G.d;
  const int64_t lim = int64_t(1) << 30;
  return d.n * d.c * d.h * d.w < lim && d.ho * d.stride_h + d.dil_h * d.kh + d.pad_h < lim &&
         d.wo * d.stride_w + d.dil_w * d.kw + d.pad_w < lim && d.h * d.w < lim;
}

// The vector packers' lanes t < lanes for patch-matrix columns col + t (t < ncols): the offset in x of the
// column's input pixel at tap (0, 0) without padding (base), and that pixel's row and column (ih0, iw0);
// lanes past ncols get a row far outside the image.
void lane_coordinates(const Geometry& G, int64_t col, int64_t ncols, int64_t lanes, int32_t* base, int32_t* ih0,
                      int32_t* iw0) {
  const ns_conv2d_desc& d = G.d;
  const int64_t chw = d.c * d.h * d.w;
  int64_t img = col / G.plane, p = col % G.plane, oh = p / d.wo, ow = p % d.wo;
  for (int64_t t = 0; t < lanes; ++t) {
    if (t >= ncols) {
      base[t] = 0;
      ih0[t] = INT32_MIN / 2;
      iw0[t] = 0;
      continue;
    }
    base[t] = static_cast<int32_t>(img * chw + oh * d.stride_h * d.w + ow * d.stride_w);
    ih0[t] = static_cast<int32_t>(oh * d.stride_h);
    iw0[t] = static_cast<int32_t>(ow * d.stride_w);
    if (++ow == d.wo) {
      ow = 0;
      if (++oh == d.ho) oh = 0, ++img;
    }
  }
}

// Bit l of m moved to bit 2·l.
uint32_t spread_even(uint32_t m) {
  m = (m | (m << 8)) & 0x00ff00ffu;
  m = (m | (m << 4)) & 0x0f0f0f0fu;
  m = (m | (m << 2)) & 0x33333333u;
  return (m | (m << 1)) & 0x55555555u;
}

// AVX-512 patch packer (width a multiple of 16). For every 16-column chunk and every tap it works out,
// with vector arithmetic on the columns' coordinates, which lanes fall inside the image and where they
// read: lanes that read consecutive pixels (stride 1, one output row or rows that continue each other)
// become one masked load, lanes that read every other pixel (stride 2) two masked loads and a permute,
// anything else a masked gather. Then each channel replays these recipes over
// all panels before the next channel starts, so that only one channel plane is being read at a time:
// its rows stay in L1 from tap to tap and panel to panel (planes a power of two apart share cache sets,
// so sweeping all channels per tap or per panel would evict them). One load and one store per 16 values.
__attribute__((target("avx512f"))) void pack_patches_avx512(float* dst, const float* x, const Geometry& G, int64_t g,
                                                            int64_t r0, int64_t rc, int64_t c0, int64_t cc,
                                                            int64_t width) {
  const ns_conv2d_desc& d = G.d;
  const int64_t hw = d.h * d.w;
  const float* xg = x + g * G.cg * hw;
  // Columns are handled in passes of whole panels, at most kMaxPanel columns (or one panel) each.
  const int64_t span = std::max(width, kMaxPanel / width * width);
  alignas(64) int32_t base[kMaxPanel], ih0[kMaxPanel], iw0[kMaxPanel];
  // The recipe of one (tap, chunk): kind kLoad, a masked load at src + off (all lanes masked off for a
  // chunk outside the image); kEven, lane l reading src[off + 2·l] (the pixels under the 32-bit mask
  // wide[]); kGather, a masked gather at src + base[lane] + off.
  enum : uint8_t { kLoad, kEven, kGather };
  constexpr int64_t kMaxRecipes = 2048;
  int32_t off[kMaxRecipes];
  __mmask16 mask[kMaxRecipes];
  uint32_t wide[kMaxRecipes];
  uint8_t kind[kMaxRecipes];
  const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i vh = _mm512_set1_epi32(static_cast<int32_t>(d.h)), vw = _mm512_set1_epi32(static_cast<int32_t>(d.w));
  const int64_t c_first = r0 / G.taps, c_last = (r0 + rc - 1) / G.taps, per_panel = width / 16;
  for (int64_t q0 = 0; q0 < cc; q0 += span) {
    const int64_t ncols = std::min(span, cc - q0), lanes = gemm::round_up(ncols, width), nchunks = lanes / 16;
    lane_coordinates(G, c0 + q0, ncols, lanes, base, ih0, iw0);
    const int64_t taps_per_batch = std::max<int64_t>(1, kMaxRecipes / nchunks);
    for (int64_t t0 = 0; t0 < G.taps; t0 += taps_per_batch) {
      const int64_t t1 = std::min(G.taps, t0 + taps_per_batch);
      bool all_loads = true;
      for (int64_t tap = t0; tap < t1; ++tap) {
        const int64_t di = (tap / d.kw) * d.dil_h - d.pad_h, dj = (tap % d.kw) * d.dil_w - d.pad_w;
        const int32_t doff = static_cast<int32_t>(di * d.w + dj);
        const __m512i vdi = _mm512_set1_epi32(static_cast<int32_t>(di));
        const __m512i vdj = _mm512_set1_epi32(static_cast<int32_t>(dj));
        for (int64_t v = 0; v < nchunks; ++v) {
          const __m512i ih = _mm512_add_epi32(_mm512_load_si512(ih0 + 16 * v), vdi);
          const __m512i iw = _mm512_add_epi32(_mm512_load_si512(iw0 + 16 * v), vdj);
          const __mmask16 valid = _mm512_cmplt_epu32_mask(ih, vh) & _mm512_cmplt_epu32_mask(iw, vw);
          const int64_t r = (tap - t0) * nchunks + v;
          mask[r] = valid;
          off[r] = 0;
          kind[r] = kLoad;
          if (!valid) continue;
          // Lane l reads base[l] + doff; the lanes are consecutive pixels when base[l] − l is the same for
          // all of them, every other pixel when base[l] − 2·l is.
          const __m512i lane = _mm512_set1_epi32(__builtin_ctz(valid));
          const __m512i at = _mm512_load_si512(base + 16 * v);
          const __m512i rel = _mm512_sub_epi32(at, iota), rel2 = _mm512_sub_epi32(rel, iota);
          const __m512i first = _mm512_permutexvar_epi32(lane, rel), first2 = _mm512_permutexvar_epi32(lane, rel2);
          if (_mm512_mask_cmpeq_epi32_mask(valid, rel, first) == valid) {
            off[r] = _mm_cvtsi128_si32(_mm512_castsi512_si128(first)) + doff;
          } else if (_mm512_mask_cmpeq_epi32_mask(valid, rel2, first2) == valid) {
            off[r] = _mm_cvtsi128_si32(_mm512_castsi512_si128(first2)) + doff;
            wide[r] = spread_even(valid);
            kind[r] = kEven;
            all_loads = false;
          } else {
            off[r] = doff;
            kind[r] = kGather;
            all_loads = false;
          }
        }
      }
      for (int64_t c = c_first; c <= c_last; ++c) {
        const int64_t tap_lo = std::max(t0, r0 - c * G.taps), tap_hi = std::min(t1, r0 + rc - c * G.taps);
        const float* src = xg + c * hw;
        // Prefetch the rows channel c + 2 will read (the sweep jumps a plane at a time, which the hardware
        // prefetchers do not follow): two lines per chunk and kernel row.
        const float* ahead = src + 2 * hw;
        for (int64_t tap = t0; tap < t1; tap += d.kw)
          for (int64_t v = 0; v < nchunks; ++v) {
            const int64_t r = (tap - t0) * nchunks + v;
            if (!mask[r]) continue;
            _mm_prefetch(reinterpret_cast<const char*>(ahead + off[r]), _MM_HINT_T0);
            _mm_prefetch(reinterpret_cast<const char*>(ahead + off[r] + 15), _MM_HINT_T0);
          }
        for (int64_t q = 0; q < lanes; q += width) {
          float* panel = dst + (q0 + q) * rc + (c * G.taps - r0) * width;  // row (c, tap) at panel + tap·width
          for (int64_t tap = tap_lo; tap < tap_hi; ++tap) {
            float* out = panel + tap * width;
            const int64_t r = (tap - t0) * nchunks + q / 16;
            if (all_loads) {
              for (int64_t v = 0; v < per_panel; ++v)
                _mm512_storeu_ps(out + 16 * v, _mm512_maskz_loadu_ps(mask[r + v], src + off[r + v]));
              continue;
            }
            for (int64_t v = 0; v < per_panel; ++v) {
              const int64_t k = r + v;
              __m512 val;
              if (kind[k] == kLoad) {
                val = _mm512_maskz_loadu_ps(mask[k], src + off[k]);
              } else if (kind[k] == kEven) {
                const __m512 lo = _mm512_maskz_loadu_ps(static_cast<__mmask16>(wide[k]), src + off[k]);
                const __m512 hi = _mm512_maskz_loadu_ps(static_cast<__mmask16>(wide[k] >> 16), src + off[k] + 16);
                val = _mm512_permutex2var_ps(lo, evens, hi);
              } else {
                const __m512i idx = _mm512_add_epi32(_mm512_load_si512(base + q + 16 * v), _mm512_set1_epi32(off[k]));
                val = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask[k], idx, src, 4);
              }
              _mm512_storeu_ps(out + 16 * v, val);
            }
          }
        }
      }
    }
  }
}

// AVX2 patch packer (width a multiple of 8): the AVX-512 packer's plan with 8-lane chunks. A chunk whose
// valid lanes read consecutive pixels becomes one masked load (masked-off lanes are never read), anything
// else a masked gather; the recipes are worked out with vector compares on the columns' coordinates once
// per pass and replayed channel by channel. One load and one store per 8 values for stride-1 convolutions.
__attribute__((target("avx2,fma"))) void pack_patches_avx2(float* dst, const float* x, const Geometry& G, int64_t g,
                                                           int64_t r0, int64_t rc, int64_t c0, int64_t cc,
                                                           int64_t width) {
  const ns_conv2d_desc& d = G.d;
  const int64_t hw = d.h * d.w;
  const float* xg = x + g * G.cg * hw;
  const int64_t span = std::max(width, kMaxPanel / width * width);
  alignas(32) int32_t base[kMaxPanel], ih0[kMaxPanel], iw0[kMaxPanel];
  constexpr int64_t kMaxRecipes = 2048;
  int32_t off[kMaxRecipes];
  uint8_t mask[kMaxRecipes];  // lane l valid: bit l
  bool gather[kMaxRecipes];
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  const __m256i none = _mm256_set1_epi32(-1);
  const __m256i vh = _mm256_set1_epi32(static_cast<int32_t>(d.h)), vw = _mm256_set1_epi32(static_cast<int32_t>(d.w));
  const auto lanes_of = [&](uint8_t m) __attribute__((target("avx2"))) {
    return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(m), bits), bits);
  };
  const int64_t c_first = r0 / G.taps, c_last = (r0 + rc - 1) / G.taps, per_panel = width / 8;
  for (int64_t q0 = 0; q0 < cc; q0 += span) {
    const int64_t ncols = std::min(span, cc - q0), lanes = gemm::round_up(ncols, width), nchunks = lanes / 8;
    lane_coordinates(G, c0 + q0, ncols, lanes, base, ih0, iw0);
    const int64_t taps_per_batch = std::max<int64_t>(1, kMaxRecipes / nchunks);
    for (int64_t t0 = 0; t0 < G.taps; t0 += taps_per_batch) {
      const int64_t t1 = std::min(G.taps, t0 + taps_per_batch);
      for (int64_t tap = t0; tap < t1; ++tap) {
        const int64_t di = (tap / d.kw) * d.dil_h - d.pad_h, dj = (tap % d.kw) * d.dil_w - d.pad_w;
        const int32_t doff = static_cast<int32_t>(di * d.w + dj);
        const __m256i vdi = _mm256_set1_epi32(static_cast<int32_t>(di));
        const __m256i vdj = _mm256_set1_epi32(static_cast<int32_t>(dj));
        for (int64_t v = 0; v < nchunks; ++v) {
          const __m256i ih = _mm256_add_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(ih0 + 8 * v)), vdi);
          const __m256i iw = _mm256_add_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(iw0 + 8 * v)), vdj);
          const __m256i inside = _mm256_and_si256(
              _mm256_and_si256(_mm256_cmpgt_epi32(ih, none), _mm256_cmpgt_epi32(vh, ih)),
              _mm256_and_si256(_mm256_cmpgt_epi32(iw, none), _mm256_cmpgt_epi32(vw, iw)));
          const int valid = _mm256_movemask_ps(_mm256_castsi256_ps(inside));
          const int64_t r = (tap - t0) * nchunks + v;
          mask[r] = static_cast<uint8_t>(valid);
          off[r] = 0;
          gather[r] = false;
          if (!valid) continue;
          // Lane l reads base[l] + doff; the lanes are consecutive pixels when base[l] − l is the same for all.
          const __m256i rel = _mm256_sub_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(base + 8 * v)), iota);
          const __m256i first = _mm256_permutevar8x32_epi32(rel, _mm256_set1_epi32(__builtin_ctz(valid)));
          const int same = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(rel, first)));
          if ((same & valid) == valid) {
            off[r] = _mm256_cvtsi256_si32(first) + doff;
          } else {
            off[r] = doff;
            gather[r] = true;
          }
        }
      }
      for (int64_t c = c_first; c <= c_last; ++c) {
        const int64_t tap_lo = std::max(t0, r0 - c * G.taps), tap_hi = std::min(t1, r0 + rc - c * G.taps);
        const float* src = xg + c * hw;
        for (int64_t q = 0; q < lanes; q += width) {
          float* panel = dst + (q0 + q) * rc + (c * G.taps - r0) * width;  // row (c, tap) at panel + tap·width
          for (int64_t tap = tap_lo; tap < tap_hi; ++tap) {
            float* out = panel + tap * width;
            const int64_t r = (tap - t0) * nchunks + q / 8;
            for (int64_t v = 0; v < per_panel; ++v) {
              const int64_t k = r + v;
              __m256 val;
              if (gather[k]) {
                const __m256i idx = _mm256_add_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(base + q + 8 * v)),
                                                     _mm256_set1_epi32(off[k]));
                val = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), src, idx, _mm256_castsi256_ps(lanes_of(mask[k])), 4);
              } else if (mask[k] == 0xff) {
                val = _mm256_loadu_ps(src + off[k]);
              } else {
                val = mask[k] ? _mm256_maskload_ps(src + off[k], lanes_of(mask[k])) : _mm256_setzero_ps();
              }
              _mm256_storeu_ps(out + 8 * v, val);
            }
          }
        }
      }
    }
  }
}

// AVX-512 col2im_add: spans added 16 lanes at a time under masks.
__attribute__((target("avx512f"))) void col2im_add_avx512(float* dx, const float* tile, int64_t ldt, const Geometry& G,
                                                          int64_t g, int64_t m0, int64_t n0, int64_t mr, int64_t nr) {
  auto add = [](float* out, const float* s, int64_t n) __attribute__((target("avx512f"))) {
    for (int64_t u = 0; u < n; u += 16) {
      const __mmask16 m = n - u >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - u)) - 1);
      const __m512 sum = _mm512_add_ps(_mm512_maskz_loadu_ps(m, out + u), _mm512_maskz_loadu_ps(m, s + u));
      _mm512_mask_storeu_ps(out + u, m, sum);
    }
  };
  // add_kernel_row 16 columns at a time, each tap's lanes selected by a mask (input columns in the tap's
  // valid range, found by vector compares).
  auto add_row = [](float* dx_row, const float* src, int64_t ldt, int64_t iw0, int64_t len, int64_t kw, int64_t dil,
                    int64_t w) __attribute__((target("avx512f"))) {
    constexpr int64_t kMaxTaps = 16;
    if (kw > kMaxTaps || w > INT32_MAX) return add_kernel_row(dx_row, src, ldt, iw0, len, kw, dil, w);
    const int64_t lo = std::max<int64_t>(iw0, 0), hi = std::min(iw0 + (kw - 1) * dil + len, w);
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i first[kMaxTaps], end[kMaxTaps];  // tap j's valid input columns: [first, end)
    for (int64_t j = 0; j < kw; ++j) {
      first[j] = _mm512_set1_epi32(static_cast<int>(std::max<int64_t>(iw0 + j * dil, 0)));
      end[j] = _mm512_set1_epi32(static_cast<int>(std::min(iw0 + j * dil + len, w)));
    }
    for (int64_t v = lo; v < hi; v += 16) {
      const __m512i col = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(v)), iota);
      __m512 sum = _mm512_setzero_ps();
      for (int64_t j = 0; j < kw; ++j) {
        const __mmask16 mj = _mm512_mask_cmplt_epi32_mask(_mm512_cmpge_epi32_mask(col, first[j]), col, end[j]);
        sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(mj, src + j * ldt + (v - iw0 - j * dil)));
      }
      if (v + 16 <= hi)  // (masked stores do not forward to later loads of the same row)
        _mm512_storeu_ps(dx_row + v, _mm512_add_ps(_mm512_loadu_ps(dx_row + v), sum));
      else {
        const __mmask16 tail = static_cast<__mmask16>((1u << (hi - v)) - 1);
        _mm512_mask_storeu_ps(dx_row + v, tail, _mm512_add_ps(_mm512_maskz_loadu_ps(tail, dx_row + v), sum));
      }
    }
  };
  col2im_add_impl(dx, tile, ldt, G, g, m0, n0, mr, nr, add, add_row);
}

#pragma GCC diagnostic pop

#endif

}  // namespace

template <class T>
void pack_patches(T* dst, const T* x, const Geometry& G, int64_t g, int64_t r0, int64_t rc, int64_t c0, int64_t cc,
                  int64_t width) {
#if defined(__x86_64__) || defined(_M_X64)
  if constexpr (std::is_same_v<T, float>) {
    if (gemm::avx512_f32() && width % 16 == 0 && fits_int32(G))
      return pack_patches_avx512(dst, x, G, g, r0, rc, c0, cc, width);
    if (gemm::avx2_f32() && width % 8 == 0 && fits_int32(G))
      return pack_patches_avx2(dst, x, G, g, r0, rc, c0, cc, width);
  }
#endif
  pack_patches_portable(dst, x, G, g, r0, rc, c0, cc, width);
}

// Runs of positions within one image, each transposed from dy's rows (a plane apart) by gemm::transpose_sum.
template <class T>
void pack_dy_transposed(T* dst, const T* dy, const Geometry& G, int64_t g, int64_t c0, int64_t kc, int64_t f0,
                        int64_t fc, int64_t NR) {
  for (int64_t q = 0; q < fc; q += NR) {
    T* panel = dst + q * kc;
    const int64_t nf = std::min(NR, fc - q);
    if (nf < NR)
      for (int64_t kk = 0; kk < kc; ++kk) std::fill(panel + kk * NR + nf, panel + (kk + 1) * NR, T(0));
    for (int64_t k0 = 0; k0 < kc;) {
      const int64_t col = c0 + k0, img = col / G.plane, p = col % G.plane, n = std::min(kc - k0, G.plane - p);
      const T* rows = dy + (img * G.d.f + g * G.fg + f0 + q) * G.plane + p;
      gemm::transpose_sum(panel + k0 * NR, NR, rows, G.plane, 1, 0, nf, n);
      k0 += n;
    }
  }
}

template <class T>
void col2im_add(T* dx, const T* tile, int64_t ldt, const Geometry& G, int64_t g, int64_t m0, int64_t n0, int64_t mr,
                int64_t nr) {
#if defined(__x86_64__) || defined(_M_X64)
  if constexpr (std::is_same_v<T, float>) {
    if (gemm::avx512_f32()) return col2im_add_avx512(dx, tile, ldt, G, g, m0, n0, mr, nr);
  }
#endif
  col2im_add_impl(dx, tile, ldt, G, g, m0, n0, mr, nr, add_span<T>, add_kernel_row<T>);
}

template void pack_patches<float>(float*, const float*, const Geometry&, int64_t, int64_t, int64_t, int64_t, int64_t,
                                  int64_t);
template void pack_patches<double>(double*, const double*, const Geometry&, int64_t, int64_t, int64_t, int64_t,
                                   int64_t, int64_t);
template void pack_dy_transposed<float>(float*, const float*, const Geometry&, int64_t, int64_t, int64_t, int64_t,
                                        int64_t, int64_t);
template void pack_dy_transposed<double>(double*, const double*, const Geometry&, int64_t, int64_t, int64_t, int64_t,
                                         int64_t, int64_t);
template void col2im_add<float>(float*, const float*, int64_t, const Geometry&, int64_t, int64_t, int64_t, int64_t,
                                int64_t);
template void col2im_add<double>(double*, const double*, int64_t, const Geometry&, int64_t, int64_t, int64_t, int64_t,
                                 int64_t);

}  // namespace conv
}  // namespace ns
