// GEMM micro-kernels: AVX-512 and AVX2+FMA for float32, chosen at load time from what the CPU
// supports, and a portable kernel (float32 and float64) that any x86-64 or other CPU runs.
#include "gemm.h"

#include <immintrin.h>

#include <cstdlib>
#include <cstring>

namespace ns {
namespace gemm {
namespace {

// Portable kernel: MR × NR accumulators in a local array; the compiler vectorises the j loop.
template <class T, int MR, int NR>
void micro_portable(int64_t kc, const T* __restrict a, const T* __restrict b, T* c, int64_t ldc, int accumulate,
                    const T* bias) {
  T acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = bias ? bias[i] : T(0);
  for (int64_t k = 0; k < kc; ++k) {
    const T* ak = a + k * MR;
    const T* bk = b + k * NR;
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) acc[i][j] += ak[i] * bk[j];
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc[i][j] : acc[i][j];
}

#if defined(__x86_64__) || defined(_M_X64)

// AVX-512: 8 rows × 48 columns = 24 zmm accumulators, 3 B vectors, broadcast A from memory.
__attribute__((target("avx512f"))) void micro_avx512_8x48(int64_t kc, const float* __restrict a,
                                                          const float* __restrict b, float* c, int64_t ldc,
                                                          int accumulate, const float* bias) {
  __m512 acc[8][3];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    __m512 init = bias ? _mm512_set1_ps(bias[i]) : _mm512_setzero_ps();
    acc[i][0] = init;
    acc[i][1] = init;
    acc[i][2] = init;
  }
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16), b2 = _mm512_loadu_ps(b + 32);
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
      acc[i][2] = _mm512_fmadd_ps(ai, b2, acc[i][2]);
    }
    a += 8;
    b += 48;
  }
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    float* ci = c + i * ldc;
    if (accumulate) {
      acc[i][0] = _mm512_add_ps(acc[i][0], _mm512_loadu_ps(ci));
      acc[i][1] = _mm512_add_ps(acc[i][1], _mm512_loadu_ps(ci + 16));
      acc[i][2] = _mm512_add_ps(acc[i][2], _mm512_loadu_ps(ci + 32));
    }
    _mm512_storeu_ps(ci, acc[i][0]);
    _mm512_storeu_ps(ci + 16, acc[i][1]);
    _mm512_storeu_ps(ci + 32, acc[i][2]);
  }
}

// AVX2 + FMA: 4 rows × 24 columns = 12 ymm accumulators.
__attribute__((target("avx2,fma"))) void micro_avx2_4x24(int64_t kc, const float* __restrict a,
                                                        const float* __restrict b, float* c, int64_t ldc,
                                                        int accumulate, const float* bias) {
  __m256 acc[4][3];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    __m256 init = bias ? _mm256_set1_ps(bias[i]) : _mm256_setzero_ps();
    acc[i][0] = init;
    acc[i][1] = init;
    acc[i][2] = init;
  }
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8), b2 = _mm256_loadu_ps(b + 16);
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
      acc[i][2] = _mm256_fmadd_ps(ai, b2, acc[i][2]);
    }
    a += 4;
    b += 24;
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    float* ci = c + i * ldc;
    if (accumulate) {
      acc[i][0] = _mm256_add_ps(acc[i][0], _mm256_loadu_ps(ci));
      acc[i][1] = _mm256_add_ps(acc[i][1], _mm256_loadu_ps(ci + 8));
      acc[i][2] = _mm256_add_ps(acc[i][2], _mm256_loadu_ps(ci + 16));
    }
    _mm256_storeu_ps(ci, acc[i][0]);
    _mm256_storeu_ps(ci + 8, acc[i][1]);
    _mm256_storeu_ps(ci + 16, acc[i][2]);
  }
}

#endif

// NEURAL_SIMILARITY_ISA=avx2|portable caps the choice (for testing every kernel on one machine).
MicroKernel<float> choose_f32() {
#if defined(__x86_64__) || defined(_M_X64)
  const char* cap = std::getenv("NEURAL_SIMILARITY_ISA");
  const bool allow512 = !cap || std::strcmp(cap, "avx512") == 0;
  const bool allow2 = allow512 || std::strcmp(cap, "avx2") == 0;
  __builtin_cpu_init();
  if (allow512 && __builtin_cpu_supports("avx512f")) return {8, 48, 256, 384, micro_avx512_8x48, "avx512"};
  if (allow2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return {4, 24, 256, 384, micro_avx2_4x24, "avx2"};
#endif
  return {4, 16, 256, 256, micro_portable<float, 4, 16>, "portable"};
}

}  // namespace

const MicroKernel<float>& kernel_f32() {
  static const MicroKernel<float> k = choose_f32();
  return k;
}

const MicroKernel<double>& kernel_f64() {
  static const MicroKernel<double> k{4, 8, 256, 256, micro_portable<double, 4, 8>, "portable"};
  return k;
}

}  // namespace gemm
}  // namespace ns

extern "C" const char* ns_cpu_isa(void) { return ns::gemm::kernel_f32().isa; }
