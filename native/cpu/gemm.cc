// GEMM micro-kernels: AVX-512 and AVX2+FMA for float32, chosen at load time from what the CPU
// supports, and a portable kernel (float32 and float64) that any x86-64 or other CPU runs.
//
// Every kernel is a template over the rows it computes (1..MR) and, for the vector kernels, over the
// number of VW-column chunks it computes (1..NR/VW), so edge tiles cost what they compute; the last
// chunk is stored under a mask. Also transpose_sum, the transposing packer of B blocks stored transposed
// and of the convolutions' dYᵀ and weight gradients.
#include "gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <utility>

namespace ns {
namespace gemm {
namespace {

// Portable kernel: R × NR accumulators in a local array; the compiler vectorises the j loop. B panels
// narrower than NR are not used with it (its tile is one chunk).
template <class T, int R, int NR>
void micro_portable(int64_t kc, const T* __restrict a, int64_t a_rs, int64_t a_ks, const T* __restrict b,
                    int64_t ldb, const CTile<T>& c, int64_t, int64_t nr, int accumulate, const T* bias) {
  T acc[R][NR];
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = bias ? bias[i] : T(0);
  for (int64_t k = 0; k < kc; ++k) {
    const T* ak = a + k * a_ks;
    const T* bk = b + k * ldb;
    T ai[R];
    for (int i = 0; i < R; ++i) ai[i] = ak[i * a_rs];
    for (int i = 0; i < R; ++i)
      for (int j = 0; j < NR; ++j) acc[i][j] += ai[i] * bk[j];
  }
  T* const c0 = c.chunk[0];
  const int64_t ldc = c.ldc;
  for (int i = 0; i < R; ++i) {
    T* ci = c0 + i * ldc;
    for (int64_t j = 0; j < nr; ++j) ci[j] = accumulate ? ci[j] + acc[i][j] : acc[i][j];
  }
}

#if defined(__x86_64__) || defined(_M_X64)

// AVX-512: up to 8 rows × 3 chunks of 16 columns (24 zmm accumulators), A broadcast from memory.
template <int R, int NV>
__attribute__((target("avx512f"))) void micro_avx512(int64_t kc, const float* __restrict a, int64_t a_rs,
                                                     int64_t a_ks, const float* __restrict b, int64_t ldb,
                                                     const CTile<float>& c, int64_t, int64_t nr, int accumulate,
                                                     const float* bias) {
  __m512 acc[R][NV];
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i) {
    const __m512 init = bias ? _mm512_set1_ps(bias[i]) : _mm512_setzero_ps();
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) acc[i][v] = init;
  }
  for (int64_t k = 0; k < kc; ++k) {
    __m512 bv[NV];
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_ps(b + 16 * v);
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i * a_rs]);
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a += a_ks;
    b += ldb;
  }
  const int64_t tail = nr - 16 * (NV - 1);  // columns of the last chunk, 1..16
  float* chunk[NV];  // local copies: the stores below may not be assumed not to alias c
#pragma GCC unroll 3
  for (int v = 0; v < NV; ++v) chunk[v] = c.chunk[v];
  const int64_t ldc = c.ldc;
  if (tail == 16) {  // whole chunks: plain loads and stores
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) {
        float* p = chunk[v] + i * ldc;
        _mm512_storeu_ps(p, accumulate ? _mm512_add_ps(acc[i][v], _mm512_loadu_ps(p)) : acc[i][v]);
      }
    return;
  }
  const __mmask16 last = static_cast<__mmask16>((1u << tail) - 1);
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i) {
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) {
      float* p = chunk[v] + i * ldc;
      const __mmask16 m = v == NV - 1 ? last : __mmask16(0xffff);
      __m512 r = acc[i][v];
      if (accumulate) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m, p));
      _mm512_mask_storeu_ps(p, m, r);
    }
  }
}

// AVX2 + FMA: up to 4 rows × 3 chunks of 8 columns (12 ymm accumulators).
template <int R, int NV>
__attribute__((target("avx2,fma"))) void micro_avx2(int64_t kc, const float* __restrict a, int64_t a_rs,
                                                   int64_t a_ks, const float* __restrict b, int64_t ldb,
                                                   const CTile<float>& c, int64_t, int64_t nr, int accumulate,
                                                   const float* bias) {
  __m256 acc[R][NV];
#pragma GCC unroll 4
  for (int i = 0; i < R; ++i) {
    const __m256 init = bias ? _mm256_set1_ps(bias[i]) : _mm256_setzero_ps();
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) acc[i][v] = init;
  }
  for (int64_t k = 0; k < kc; ++k) {
    __m256 bv[NV];
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) bv[v] = _mm256_loadu_ps(b + 8 * v);
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i * a_rs);
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a += a_ks;
    b += ldb;
  }
  const int tail = static_cast<int>(nr - 8 * (NV - 1));  // columns of the last chunk, 1..8
  const __m256i last = _mm256_cmpgt_epi32(_mm256_set1_epi32(tail), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  float* chunk[NV];  // local copies: the stores below may not be assumed not to alias c
#pragma GCC unroll 3
  for (int v = 0; v < NV; ++v) chunk[v] = c.chunk[v];
  const int64_t ldc = c.ldc;
#pragma GCC unroll 4
  for (int i = 0; i < R; ++i) {
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) {
      float* p = chunk[v] + i * ldc;
      __m256 r = acc[i][v];
      if (v < NV - 1 || tail == 8) {
        if (accumulate) r = _mm256_add_ps(r, _mm256_loadu_ps(p));
        _mm256_storeu_ps(p, r);
      } else {
        if (accumulate) r = _mm256_add_ps(r, _mm256_maskload_ps(p, last));
        _mm256_maskstore_ps(p, last, r);
      }
    }
  }
}

#endif

// Fills fn[r][v] with Kernel<r + 1, v + 1>::fn for every r·V + v in the index sequence.
template <class T, int V, template <int, int> class Kernel, int... I>
void fill_table(MicroKernelFn<T> (&fn)[8][4], std::integer_sequence<int, I...>) {
  ((fn[I / V][I % V] = Kernel<I / V + 1, I % V + 1>::fn), ...);
}

#if defined(__x86_64__) || defined(_M_X64)
template <int R, int V>
struct Avx512 {
  static constexpr MicroKernelFn<float> fn = micro_avx512<R, V>;
};
template <int R, int V>
struct Avx2 {
  static constexpr MicroKernelFn<float> fn = micro_avx2<R, V>;
};
#endif

template <class T, int NR>
struct Portable {
  template <int R, int>
  struct K {
    static constexpr MicroKernelFn<T> fn = micro_portable<T, R, NR>;
  };
};

MicroKernel<float> choose_f32() {
  MicroKernel<float> k{};
#if defined(__x86_64__) || defined(_M_X64)
  const char* cap = std::getenv("NEURAL_SIMILARITY_ISA");
  const bool allow512 = !cap || std::strcmp(cap, "avx512") == 0;
  const bool allow2 = allow512 || std::strcmp(cap, "avx2") == 0;
  __builtin_cpu_init();
  if (allow512 && __builtin_cpu_supports("avx512f")) {
    k = {8, 48, 16, 192, 256, 384, {}, Isa::avx512, "avx512"};
    fill_table<float, 3, Avx512>(k.fn, std::make_integer_sequence<int, 8 * 3>{});
    return k;
  }
  if (allow2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    k = {4, 24, 8, 96, 256, 384, {}, Isa::avx2, "avx2"};
    fill_table<float, 3, Avx2>(k.fn, std::make_integer_sequence<int, 4 * 3>{});
    return k;
  }
#endif
  k = {4, 16, 16, 96, 256, 256, {}, Isa::portable, "portable"};
  fill_table<float, 1, Portable<float, 16>::template K>(k.fn, std::make_integer_sequence<int, 4>{});
  return k;
}

// 16 × 16 tiles through a local buffer: rows of src read along j, rows of dst written along i.
template <class T>
void transpose_sum_portable(T* dst, int64_t ldd, const T* src, int64_t lds, int64_t parts, int64_t part_stride,
                            int64_t rows, int64_t cols) {
  T tile[16][16];
  for (int64_t i0 = 0; i0 < rows; i0 += 16) {
    const int64_t ni = std::min<int64_t>(16, rows - i0);
    for (int64_t j0 = 0; j0 < cols; j0 += 16) {
      const int64_t nj = std::min<int64_t>(16, cols - j0);
      for (int64_t i = 0; i < ni; ++i) {
        const T* s = src + (i0 + i) * lds + j0;
        for (int64_t j = 0; j < nj; ++j) {
          T sum = s[j];
          for (int64_t t = 1; t < parts; ++t) sum += s[t * part_stride + j];
          tile[i][j] = sum;
        }
      }
      for (int64_t j = 0; j < nj; ++j)
        for (int64_t i = 0; i < ni; ++i) dst[(j0 + j) * ldd + i0 + i] = tile[i][j];
    }
  }
}

#if defined(__x86_64__) || defined(_M_X64)

// GCC 12's AVX-512 intrinsics start many results from _mm512_undefined_*() (`__Y = __Y`), which
// -Wmaybe-uninitialized reports once they are inlined here; the values are fully defined.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// In-register transpose of 16 rows of 16 floats: r[i][j] becomes r[j][i].
__attribute__((target("avx512f"))) inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // u[4i + m], 128-bit lane L: column 4L + m of rows 4i..4i+3.
  __m512 u[16];
  for (int i = 0; i < 4; ++i) {
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 2]), e = _mm512_castps_pd(t[4 * i + 3]);
    u[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, e));
    u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, e));
  }
  for (int m = 0; m < 4; ++m) {
    const __m512 v1 = _mm512_shuffle_f32x4(u[m], u[4 + m], 0x88), v2 = _mm512_shuffle_f32x4(u[m], u[4 + m], 0xdd);
    const __m512 w1 = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0x88);
    const __m512 w2 = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0xdd);
    r[m] = _mm512_shuffle_f32x4(v1, w1, 0x88);
    r[8 + m] = _mm512_shuffle_f32x4(v1, w1, 0xdd);
    r[4 + m] = _mm512_shuffle_f32x4(v2, w2, 0x88);
    r[12 + m] = _mm512_shuffle_f32x4(v2, w2, 0xdd);
  }
}

// AVX-512 transpose_sum: 16 × 16 tiles summed and transposed in registers.
__attribute__((target("avx512f"))) void transpose_sum_avx512(float* dst, int64_t ldd, const float* src, int64_t lds,
                                                             int64_t parts, int64_t part_stride, int64_t rows,
                                                             int64_t cols) {
  for (int64_t i0 = 0; i0 < rows; i0 += 16) {
    const int64_t ni = std::min<int64_t>(16, rows - i0);
    const __mmask16 mi = ni == 16 ? __mmask16(0xffff) : __mmask16((1u << ni) - 1);
    for (int64_t j0 = 0; j0 < cols; j0 += 16) {
      const int64_t nj = std::min<int64_t>(16, cols - j0);
      const __mmask16 mj = nj == 16 ? __mmask16(0xffff) : __mmask16((1u << nj) - 1);
      __m512 r[16];
      for (int64_t i = 0; i < 16; ++i) {
        if (i >= ni) {
          r[i] = _mm512_setzero_ps();
          continue;
        }
        const float* s = src + (i0 + i) * lds + j0;
        // The 16 rows are often a page apart (dy's planes), one L1 set whose lines the hardware prefetcher
        // does not follow: ask for each row's line two tiles ahead (7–10% off the similarity backward).
        _mm_prefetch(reinterpret_cast<const char*>(s + 32), _MM_HINT_T0);
        r[i] = _mm512_maskz_loadu_ps(mj, s);
        for (int64_t t = 1; t < parts; ++t) r[i] = _mm512_add_ps(r[i], _mm512_maskz_loadu_ps(mj, s + t * part_stride));
      }
      transpose16(r);
      for (int64_t j = 0; j < nj; ++j) _mm512_mask_storeu_ps(dst + (j0 + j) * ldd + i0, mi, r[j]);
    }
  }
}

// In-register transpose of 8 rows of 8 floats: r[i][j] becomes r[j][i].
__attribute__((target("avx2"))) inline void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // u[4i + m], 128-bit lane L: column 4L + m of rows 4i..4i+3.
  for (int i = 0; i < 2; ++i) {
    u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
    u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
  }
  for (int m = 0; m < 4; ++m) {
    r[m] = _mm256_permute2f128_ps(u[m], u[4 + m], 0x20);
    r[4 + m] = _mm256_permute2f128_ps(u[m], u[4 + m], 0x31);
  }
}

// AVX2 transpose_sum: 8 × 8 tiles summed and transposed in registers.
__attribute__((target("avx2"))) void transpose_sum_avx2(float* dst, int64_t ldd, const float* src, int64_t lds,
                                                        int64_t parts, int64_t part_stride, int64_t rows,
                                                        int64_t cols) {
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int64_t i0 = 0; i0 < rows; i0 += 8) {
    const int64_t ni = std::min<int64_t>(8, rows - i0);
    for (int64_t j0 = 0; j0 < cols; j0 += 8) {
      const int64_t nj = std::min<int64_t>(8, cols - j0);
      const __m256i mj = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(nj)), iota);
      __m256 r[8];
      for (int64_t i = 0; i < 8; ++i) {
        if (i >= ni) {
          r[i] = _mm256_setzero_ps();
          continue;
        }
        const float* s = src + (i0 + i) * lds + j0;
        _mm_prefetch(reinterpret_cast<const char*>(s + 32), _MM_HINT_T0);  // as in transpose_sum_avx512
        r[i] = nj == 8 ? _mm256_loadu_ps(s) : _mm256_maskload_ps(s, mj);
        for (int64_t t = 1; t < parts; ++t)
          r[i] = _mm256_add_ps(r[i], nj == 8 ? _mm256_loadu_ps(s + t * part_stride) : _mm256_maskload_ps(s + t * part_stride, mj));
      }
      transpose8(r);
      if (ni == 8) {
        for (int64_t j = 0; j < nj; ++j) _mm256_storeu_ps(dst + (j0 + j) * ldd + i0, r[j]);
      } else {
        const __m256i mi = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(ni)), iota);
        for (int64_t j = 0; j < nj; ++j) _mm256_maskstore_ps(dst + (j0 + j) * ldd + i0, mi, r[j]);
      }
    }
  }
}

#pragma GCC diagnostic pop

#endif

}  // namespace

const MicroKernel<float>& kernel_f32() {
  static const MicroKernel<float> k = choose_f32();
  return k;
}

const MicroKernel<double>& kernel_f64() {
  static const MicroKernel<double> k = [] {
    MicroKernel<double> k{4, 8, 8, 96, 256, 256, {}, Isa::portable, "portable"};
    fill_table<double, 1, Portable<double, 8>::template K>(k.fn, std::make_integer_sequence<int, 4>{});
    return k;
  }();
  return k;
}

template <class T>
void transpose_sum(T* dst, int64_t ldd, const T* src, int64_t lds, int64_t parts, int64_t part_stride, int64_t rows,
                   int64_t cols) {
#if defined(__x86_64__) || defined(_M_X64)
  if constexpr (std::is_same_v<T, float>) {
    if (avx512_f32()) return transpose_sum_avx512(dst, ldd, src, lds, parts, part_stride, rows, cols);
    if (avx2_f32()) return transpose_sum_avx2(dst, ldd, src, lds, parts, part_stride, rows, cols);
  }
#endif
  transpose_sum_portable(dst, ldd, src, lds, parts, part_stride, rows, cols);
}

template void transpose_sum<float>(float*, int64_t, const float*, int64_t, int64_t, int64_t, int64_t, int64_t);
template void transpose_sum<double>(double*, int64_t, const double*, int64_t, int64_t, int64_t, int64_t, int64_t);

}  // namespace gemm
}  // namespace ns

extern "C" const char* ns_cpu_isa(void) { return ns::gemm::kernel_f32().isa; }
