// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011) and the value
// transforms of the `random` kernel, as host+device functions: cuda/random.cu runs them on the GPU and
// test/cuda-host/philox_test.cc checks on the CPU that they reproduce Random123's known answers and
// native/cpu/random.cc bit for bit. Element i of a call is lane i % 4 of the block at counter offset + i / 4
// (counter words {lo, hi, 0, 0}) under key {seed lo, seed hi}.
//
// Double arithmetic goes through add()/mul() so that nvcc cannot contract it into FMAs (which round once
// where the CPU rounds twice): uniform and Bernoulli streams are then identical on both backends; normal
// streams differ only where the device's log/sin/cos round differently from the C library (an ulp of
// double at most, almost never visible after rounding to float32).
#ifndef NEURAL_SIMILARITY_CUDA_PHILOX_CUH
#define NEURAL_SIMILARITY_CUDA_PHILOX_CUH

#include <math.h>
#include <stdint.h>

#include "host_device.h"
#include "kernels.h"

namespace ns {
namespace rng {

struct Block {
  uint32_t v[4];
};

NS_HD inline uint32_t mulhi(uint32_t a, uint32_t b) {
#ifdef __CUDA_ARCH__
  return __umulhi(a, b);
#else
  return static_cast<uint32_t>((static_cast<uint64_t>(a) * b) >> 32);
#endif
}

// Ten rounds of Philox-4x32 on counter `c` under key (k0, k1).
NS_HD inline Block philox4x32_10(Block c, uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    const uint32_t lo0 = 0xD2511F53u * c.v[0], hi0 = mulhi(0xD2511F53u, c.v[0]);
    const uint32_t lo1 = 0xCD9E8D57u * c.v[2], hi1 = mulhi(0xCD9E8D57u, c.v[2]);
    c = Block{{hi1 ^ c.v[1] ^ k0, lo1, hi0 ^ c.v[3] ^ k1, lo0}};
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return c;
}

// The block at a 64-bit counter under a 64-bit seed.
NS_HD inline Block philox_block(uint64_t counter, uint64_t seed) {
  return philox4x32_10(Block{{static_cast<uint32_t>(counter), static_cast<uint32_t>(counter >> 32), 0u, 0u}},
                       static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// Double operations rounded once each, as on the CPU.
NS_HD inline double add(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}
NS_HD inline double mul(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

// Uniform in the open interval (0, 1).
NS_HD inline double unit(uint32_t bits) { return mul(static_cast<double>(bits) + 0.5, 1.0 / 4294967296.0); }

// The four values (in double) of the block at `counter` for a kind of ns_random_kind with parameters a, b.
NS_HD inline void block_values(int kind, uint64_t counter, uint64_t seed, double a, double b, double v[4]) {
  const Block r = philox_block(counter, seed);
  if (kind == NS_RANDOM_NORMAL) {
    // Box–Muller on lane pairs (0, 1) and (2, 3).
    for (int p = 0; p < 4; p += 2) {
      const double radius = sqrt(mul(-2.0, log(unit(r.v[p])))), angle = mul(6.283185307179586, unit(r.v[p + 1]));
      v[p] = add(a, mul(mul(b, radius), cos(angle)));
      v[p + 1] = add(a, mul(mul(b, radius), sin(angle)));
    }
  } else {
    for (int l = 0; l < 4; ++l) {
      const double u = unit(r.v[l]);
      v[l] = kind == NS_RANDOM_UNIFORM ? add(a, mul(add(b, -a), u)) : (u < a ? b : 0.0);
    }
  }
}

NS_HD inline float next_toward(float from, float to) { return nextafterf(from, to); }
NS_HD inline double next_toward(double from, double to) { return nextafter(from, to); }

// A value converted to T; a uniform value that rounds up to the excluded bound b is moved just below it.
template <class T>
NS_HD inline T convert(int kind, double v, double a, double b) {
  T value = static_cast<T>(v);
  if (kind == NS_RANDOM_UNIFORM && value >= static_cast<T>(b) && b > a)
    value = next_toward(static_cast<T>(b), static_cast<T>(a));
  return value;
}

}  // namespace rng
}  // namespace ns

#endif
