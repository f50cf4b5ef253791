// Counter-based random numbers (Philox-4x32-10, Salmon et al. 2011): element i of a call is lane i % 4
// of the block at counter offset + i / 4 under key `seed`, so the stream is the same for any thread
// count or backend, and a caller advances `offset` by ceil(n / 4) per call.
#include <cmath>

#include "cpu.h"
#include "runtime.h"

namespace ns {
namespace {

struct Block { uint32_t v[4]; };

inline Block philox(uint64_t counter, uint64_t seed) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t(0xD2511F53u) * c0, p1 = uint64_t(0xCD9E8D57u) * c2;
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0, n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c1 = static_cast<uint32_t>(p1);
    c3 = static_cast<uint32_t>(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Block{{c0, c1, c2, c3}};
}

// Uniform in the open interval (0, 1).
inline double unit(uint32_t bits) { return (bits + 0.5) * (1.0 / 4294967296.0); }

template <class T>
void fill(int kind, int64_t n, uint64_t seed, uint64_t offset, double a, double b, T* out) {
  const int64_t blocks = (n + 3) / 4;
  parallel_for(blocks, 1 << 12, [&](int64_t begin, int64_t end) {
    for (int64_t blk = begin; blk < end; ++blk) {
      const Block r = philox(offset + static_cast<uint64_t>(blk), seed);
      double v[4];
      if (kind == NS_RANDOM_NORMAL) {
        // Box–Muller on lane pairs (0, 1) and (2, 3).
        for (int p = 0; p < 4; p += 2) {
          const double radius = std::sqrt(-2.0 * std::log(unit(r.v[p]))), angle = 6.283185307179586 * unit(r.v[p + 1]);
          v[p] = a + b * radius * std::cos(angle);
          v[p + 1] = a + b * radius * std::sin(angle);
        }
      } else {
        for (int l = 0; l < 4; ++l) {
          const double u = unit(r.v[l]);
          v[l] = kind == NS_RANDOM_UNIFORM ? a + (b - a) * u : (u < a ? b : 0.0);
        }
      }
      for (int l = 0; l < 4 && blk * 4 + l < n; ++l) {
        T value = static_cast<T>(v[l]);
        // Rounding to float32 can reach the excluded upper bound of a uniform range.
        if (kind == NS_RANDOM_UNIFORM && value >= static_cast<T>(b) && b > a) value = std::nextafter(static_cast<T>(b), static_cast<T>(a));
        out[blk * 4 + l] = value;
      }
    }
  });
}

}  // namespace
}  // namespace ns

extern "C" int ns_cpu_random(ns_dtype dt, int kind, int64_t n, uint64_t seed, uint64_t offset, double a, double b,
                             void* out) {
  if (kind < 0 || kind >= NS_RANDOM_COUNT) return NS_ERR_UNSUPPORTED;
  return ns::dispatch_float(dt, [&](auto zero) {
    using T = decltype(zero);
    ns::fill<T>(kind, n, seed, offset, a, b, static_cast<T*>(out));
  });
}
