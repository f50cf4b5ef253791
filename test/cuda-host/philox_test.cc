// Host test of cuda/philox.cuh (the CUDA random kernel's generator) compiled by g++: Random123's known-answer
// vectors for Philox-4x32-10, the CPU backend's philox() (native/cpu/random.cc, compiled into this test with
// a serial stand-in for its thread pool) block for block, and ns_cpu_random's streams value for value.
// Prints "PASS <name>" or "FAIL <name>: <why>" per check, then "DONE <failures>".
// Built by test/cuda-allocator.test.ts: g++ -std=c++17 -O1 -Wall -Wextra -Werror -I native -I cuda.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu/random.cc"
#include "philox.cuh"

// The CPU kernels' pool, run serially: random.cc's parallel_for needs only these two.
namespace ns {
void run_on_pool(PoolTask task, int) { task.call(task.ctx, 0, 1); }
int pool_size() { return 1; }
}  // namespace ns

namespace {

int g_failures = 0;

void report(const std::string& name, const std::string& problem) {
  if (problem.empty()) {
    std::printf("PASS %s\n", name.c_str());
  } else {
    ++g_failures;
    std::printf("FAIL %s: %s\n", name.c_str(), problem.c_str());
  }
  std::fflush(stdout);
}

std::string hex4(const uint32_t v[4]) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%08x %08x %08x %08x", v[0], v[1], v[2], v[3]);
  return buf;
}

void check_known_answers() {
  struct Kat {
    uint32_t ctr[4], key[2], expected[4];
  };
  const Kat kats[3] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  std::string problem;
  for (const Kat& k : kats) {
    const ns::rng::Block got =
        ns::rng::philox4x32_10(ns::rng::Block{{k.ctr[0], k.ctr[1], k.ctr[2], k.ctr[3]}}, k.key[0], k.key[1]);
    if (std::memcmp(got.v, k.expected, sizeof got.v) != 0)
      problem += "counter " + hex4(k.ctr) + ": got " + hex4(got.v) + ", expected " + hex4(k.expected) + "; ";
  }
  report("philox4x32_10_known_answers", problem);
}

void check_matches_cpu_blocks() {
  std::string problem;
  std::mt19937_64 rng(7);
  std::vector<std::pair<uint64_t, uint64_t>> cases = {
      {0, 0}, {1, 0}, {0, 1}, {0xffffffffull, 0xffffffffull}, {0x100000000ull, 0x100000000ull}, {~0ull, ~0ull}};
  for (int i = 0; i < 100000; ++i) cases.emplace_back(rng(), rng());
  for (const auto& c : cases) {
    const auto cpu = ns::philox(c.first, c.second);
    const ns::rng::Block ours = ns::rng::philox_block(c.first, c.second);
    if (std::memcmp(cpu.v, ours.v, sizeof ours.v) != 0) {
      problem += "counter " + std::to_string(c.first) + " seed " + std::to_string(c.second) + ": cpu " + hex4(cpu.v) +
                 ", cuda " + hex4(ours.v);
      break;
    }
  }
  report("philox_block_matches_cpu", problem);
}

// What cuda/random.cu writes for element i (the same functions on the host).
template <class T>
std::vector<T> cuda_stream(int kind, int64_t n, uint64_t seed, uint64_t offset, double a, double b) {
  std::vector<T> out(static_cast<size_t>(n));
  for (int64_t blk = 0; blk * 4 < n; ++blk) {
    double v[4];
    ns::rng::block_values(kind, offset + static_cast<uint64_t>(blk), seed, a, b, v);
    for (int l = 0; l < 4 && blk * 4 + l < n; ++l) out[blk * 4 + l] = ns::rng::convert<T>(kind, v[l], a, b);
  }
  return out;
}

template <class T>
std::string compare_streams(ns_dtype dt, const char* dtname) {
  struct Case {
    int kind;
    int64_t n;
    uint64_t seed, offset;
    double a, b;
  };
  const Case cases[] = {
      {NS_RANDOM_UNIFORM, 0, 1, 0, 0, 1},
      {NS_RANDOM_UNIFORM, 1, 1, 0, 0, 1},
      {NS_RANDOM_UNIFORM, 4099, 42, 17, -2, 3},
      {NS_RANDOM_UNIFORM, 40000, 0xdeadbeefcafef00dull, 0xfffffffffull, 1.0, 1.0000001},  // rounds onto b
      {NS_RANDOM_NORMAL, 3, 5, 0, 0, 1},
      {NS_RANDOM_NORMAL, 10001, 123456789, 999, 0.5, 2.5},
      {NS_RANDOM_NORMAL, 4096, ~0ull, ~0ull - 100, -1, 0.01},
      {NS_RANDOM_BERNOULLI, 10003, 9, 3, 0.3, 2.0},
      {NS_RANDOM_BERNOULLI, 4096, 99, 0, 0.9, 1.0},
  };
  std::string problem;
  for (const Case& c : cases) {
    std::vector<T> cpu(static_cast<size_t>(c.n) + 1, T(-12345));
    const int status = ns_cpu_random(dt, c.kind, c.n, c.seed, c.offset, c.a, c.b, cpu.data());
    if (status != NS_OK) {
      problem += std::string(dtname) + ": ns_cpu_random failed; ";
      continue;
    }
    if (cpu[static_cast<size_t>(c.n)] != T(-12345)) problem += std::string(dtname) + ": cpu wrote past n; ";
    const std::vector<T> ours = cuda_stream<T>(c.kind, c.n, c.seed, c.offset, c.a, c.b);
    for (int64_t i = 0; i < c.n; ++i) {
      const T x = cpu[static_cast<size_t>(i)], y = ours[static_cast<size_t>(i)];
      if (std::memcmp(&x, &y, sizeof x) != 0) {
        char buf[200];
        std::snprintf(buf, sizeof buf, "%s kind %d n %lld: element %lld cpu %.17g cuda %.17g; ", dtname, c.kind,
                      static_cast<long long>(c.n), static_cast<long long>(i), static_cast<double>(x),
                      static_cast<double>(y));
        problem += buf;
        break;
      }
      if (c.kind == NS_RANDOM_UNIFORM && !(y >= static_cast<T>(c.a) && y < static_cast<T>(c.b)))
        problem += std::string(dtname) + ": uniform value outside [a, b); ";
    }
  }
  return problem;
}

void check_streams() {
  report("streams_match_cpu_float32", compare_streams<float>(NS_FLOAT32, "float32"));
  report("streams_match_cpu_float64", compare_streams<double>(NS_FLOAT64, "float64"));
}

}  // namespace

int main() {
  check_known_answers();
  check_matches_cpu_blocks();
  check_streams();
  std::printf("DONE %d\n", g_failures);
  return g_failures == 0 ? 0 : 1;
}
