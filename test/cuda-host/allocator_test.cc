// Host test of cuda/allocator.h (the CUDA backend's caching allocator) over a fake system allocator that hands
// out addresses of a pretend device with a fixed capacity. Prints one line per check, "PASS <name>" or
// "FAIL <name>: <why>", then "DONE <failures>"; exits non-zero when a check failed.
// Built by test/cuda-allocator.test.ts: g++ -std=c++17 -O1 -Wall -Wextra -Werror -I native -I cuda.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "allocator.h"

using ns::alloc::CachingAllocator;
using ns::alloc::SegmentInfo;
using ns::alloc::Stats;
using ns::alloc::Status;

namespace {

constexpr size_t kKiB = 1024, kMiB = 1024 * 1024;

// ---------------------------------------------------------------- the fake device

struct FakeDevice {
  uintptr_t next = uintptr_t(1) << 40;  // addresses handed out, never reused (so stale pointers stay unknown)
  size_t capacity = size_t(1) << 40;
  size_t used = 0;
  std::map<uintptr_t, size_t> live;  // segments handed out
  int mallocs = 0, frees = 0, failed = 0;
  bool error_mode = false;  // every malloc fails with a non-OOM error
  std::string problems;     // frees of unknown pointers
} g_dev;

int fake_malloc(void** out, size_t bytes) {
  ++g_dev.mallocs;
  if (g_dev.error_mode) {
    ++g_dev.failed;
    return ns::alloc::kSystemError;
  }
  if (g_dev.used + bytes > g_dev.capacity) {
    ++g_dev.failed;
    return ns::alloc::kSystemOutOfMemory;
  }
  const uintptr_t p = g_dev.next;
  g_dev.next += (bytes + 4095) / 4096 * 4096 + 4096;  // a gap, so that segments are never adjacent
  g_dev.used += bytes;
  g_dev.live[p] = bytes;
  *out = reinterpret_cast<void*>(p);
  return ns::alloc::kSystemOk;
}

void fake_free(void* p) {
  ++g_dev.frees;
  auto it = g_dev.live.find(reinterpret_cast<uintptr_t>(p));
  if (it == g_dev.live.end()) {
    g_dev.problems += "free of unknown segment; ";
    return;
  }
  g_dev.used -= it->second;
  g_dev.live.erase(it);
}

int fake_mem_info(size_t* free_bytes, size_t* total_bytes) {
  *free_bytes = g_dev.capacity - g_dev.used;
  *total_bytes = g_dev.capacity;
  return ns::alloc::kSystemOk;
}

const ns::alloc::System kFake{fake_malloc, fake_free, fake_mem_info};

void reset_device(size_t capacity) {
  g_dev = FakeDevice();
  g_dev.capacity = capacity;
}

// ---------------------------------------------------------------- reporting

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

// Appends `what` to *problem unless `ok`.
void expect(std::string* problem, bool ok, const std::string& what) {
  if (!ok) *problem += what + "; ";
}

uintptr_t addr(void* p) { return reinterpret_cast<uintptr_t>(p); }

void* alloc_or_null(CachingAllocator& a, size_t bytes) {
  void* p = nullptr;
  std::string err;
  return a.allocate(bytes, &p, &err) == Status::kOk ? p : nullptr;
}

// The structural invariants: segments match the fake device's live segments and do not overlap; the blocks
// of a segment tile it exactly, 512-aligned, and no two free blocks are adjacent; the allocated blocks are
// exactly `live` (address → bytes asked for), each at least as large as asked; stats agree with the blocks.
std::string check_invariants(const CachingAllocator& a, const std::map<uintptr_t, size_t>& live) {
  std::string problem;
  const std::vector<SegmentInfo> segs = a.snapshot();
  const Stats st = a.stats();
  uint64_t reserved = 0, allocated = 0;
  size_t allocated_blocks = 0;
  uintptr_t prev_end = 0;
  std::map<uintptr_t, size_t> device_live;
  for (const SegmentInfo& s : segs) {
    device_live[s.address] = s.size;
    if (s.address < prev_end) problem += "segments overlap; ";
    prev_end = s.address + s.size;
    reserved += s.size;
    uintptr_t at = s.address;
    bool prev_free = false;
    for (const auto& b : s.blocks) {
      if (b.address != at) problem += "blocks do not tile their segment; ";
      if (b.size == 0 || b.size % 512 != 0 || (b.address - s.address) % 512 != 0)
        problem += "block not a multiple of 512 bytes; ";
      if (!b.allocated && prev_free) problem += "adjacent free blocks not merged; ";
      prev_free = !b.allocated;
      at += b.size;
      if (b.allocated) {
        ++allocated_blocks;
        allocated += b.size;
        auto it = live.find(b.address);
        if (it == live.end())
          problem += "allocated block the caller does not hold; ";
        else if (b.size < it->second)
          problem += "block smaller than asked; ";
      }
    }
    if (at != s.address + s.size) problem += "blocks do not cover their segment; ";
  }
  if (allocated_blocks != live.size()) problem += "caller holds blocks the allocator does not list; ";
  if (device_live != g_dev.live) problem += "segments differ from the system's; ";
  if (st.reserved_bytes != reserved) problem += "reserved_bytes disagrees with the segments; ";
  if (st.allocated_bytes != allocated) problem += "allocated_bytes disagrees with the blocks; ";
  if (st.cached_bytes != reserved - allocated) problem += "cached_bytes is not reserved - allocated; ";
  if (st.segment_count != segs.size()) problem += "segment_count disagrees; ";
  if (st.peak_allocated_bytes < st.allocated_bytes) problem += "peak below allocated; ";
  if (!g_dev.problems.empty()) problem += g_dev.problems;
  return problem;
}

// ---------------------------------------------------------------- checks

void check_zero_and_null() {
  reset_device(size_t(1) << 30);
  std::string problem;
  {
    CachingAllocator a(kFake, "CUDA");
    void* p = reinterpret_cast<void*>(1);
    std::string err;
    expect(&problem, a.allocate(0, &p, &err) == Status::kOk && p == nullptr, "allocate(0) should give nullptr");
    expect(&problem, a.free(nullptr), "free(nullptr) should be a no-op");
    expect(&problem, a.stats().alloc_count == 0 && g_dev.mallocs == 0, "0 bytes should not count or allocate");
  }
  report("zero_bytes_and_free_null", problem);
}

void check_rounding_and_small_segments() {
  reset_device(size_t(1) << 30);
  std::string problem;
  {
    CachingAllocator a(kFake, "CUDA");
    expect(&problem, CachingAllocator::round_size(1) == 512, "1 byte rounds to 512");
    expect(&problem, CachingAllocator::round_size(512) == 512, "512 stays 512");
    expect(&problem, CachingAllocator::round_size(513) == 1024, "513 rounds to 1024");
    expect(&problem, CachingAllocator::segment_size(1 * kMiB) == 2 * kMiB, "1 MiB comes from a 2 MiB segment");
    expect(&problem, CachingAllocator::segment_size(1 * kMiB + 512) == 20 * kMiB, "1 MiB + 512 from 20 MiB");
    expect(&problem, CachingAllocator::segment_size(10 * kMiB) == 10 * kMiB, "10 MiB from its own segment");
    expect(&problem, CachingAllocator::segment_size(11 * kMiB) == 12 * kMiB, "11 MiB rounds to 12 MiB");
    void* p = alloc_or_null(a, 1);
    void* q = alloc_or_null(a, 513);
    const auto segs = a.snapshot();
    expect(&problem, segs.size() == 1 && segs[0].size == 2 * kMiB && segs[0].small, "one 2 MiB small segment");
    if (segs.size() == 1 && segs[0].blocks.size() == 3) {
      expect(&problem, segs[0].blocks[0].address == addr(p) && segs[0].blocks[0].size == 512, "first block 512");
      expect(&problem, segs[0].blocks[1].address == addr(q) && segs[0].blocks[1].size == 1024, "second 1024");
      expect(&problem, !segs[0].blocks[2].allocated && segs[0].blocks[2].size == 2 * kMiB - 1536,
             "the rest stays one free block");
    } else {
      problem += "expected 3 blocks in the segment; ";
    }
    expect(&problem, addr(p) % 256 == 0 && addr(q) % 256 == 0, "blocks 256-byte aligned");
    problem += check_invariants(a, {{addr(p), 1}, {addr(q), 513}});
    a.free(p);
    a.free(q);
  }
  report("rounding_and_small_segments", problem);
}

void check_best_fit() {
  reset_device(size_t(1) << 30);
  std::string problem;
  {
    CachingAllocator a(kFake, "CUDA");
    // One small segment: A(4 KiB) B C(8 KiB) D E(16 KiB) F, then free A, C, E: free blocks of 4, 8 and 16 KiB
    // separated by live ones, plus the segment's tail.
    const size_t sizes[6] = {4 * kKiB, 512, 8 * kKiB, 512, 16 * kKiB, 512};
    void* p[6];
    for (int i = 0; i < 6; ++i) p[i] = alloc_or_null(a, sizes[i]);
    a.free(p[0]);
    a.free(p[2]);
    a.free(p[4]);
    const uint64_t fresh = a.stats().fresh_alloc_count;
    void* x = alloc_or_null(a, 6000);  // 6144 rounded: fits C (8 KiB) best, not E or the tail
    expect(&problem, x == p[2], "6000 bytes should take the 8 KiB hole");
    void* y = alloc_or_null(a, 4 * kKiB);  // exactly A
    expect(&problem, y == p[0], "4 KiB should take the 4 KiB hole");
    void* z = alloc_or_null(a, 12 * kKiB);  // only E (16 KiB) or the tail fit; E is smaller
    expect(&problem, z == p[4], "12 KiB should take the 16 KiB hole over the tail");
    expect(&problem, a.stats().fresh_alloc_count == fresh, "holes reused without new segments");
    // The 8 KiB hole held 6144: its 2 KiB remainder stays a free block.
    const auto segs = a.snapshot();
    bool found = false;
    for (const auto& b : segs[0].blocks)
      if (b.address == addr(p[2]) + 6144 && b.size == 2048 && !b.allocated) found = true;
    expect(&problem, found, "the split remainder of 2 KiB should stay free in place");
    problem += check_invariants(a, {{addr(p[1]), 512},
                                    {addr(p[3]), 512},
                                    {addr(p[5]), 512},
                                    {addr(x), 6000},
                                    {addr(y), 4 * kKiB},
                                    {addr(z), 12 * kKiB}});
  }
  report("best_fit", problem);
}

void check_merge() {
  reset_device(size_t(1) << 30);
  std::string problem;
  {
    CachingAllocator a(kFake, "CUDA");
    void* x = alloc_or_null(a, 1000);
    void* y = alloc_or_null(a, 1000);
    void* z = alloc_or_null(a, 1000);
    a.free(x);
    a.free(z);  // z merges with the tail
    auto segs = a.snapshot();
    expect(&problem, segs.size() == 1 && segs[0].blocks.size() == 3, "x, y, z+tail: 3 blocks");
    a.free(y);  // y merges with both neighbours
    segs = a.snapshot();
    expect(&problem,
           segs.size() == 1 && segs[0].blocks.size() == 1 && !segs[0].blocks[0].allocated &&
               segs[0].blocks[0].size == 2 * kMiB,
           "freeing the middle block should merge the segment back into one free block");
    // The merged block serves a request of the whole segment without a new one.
    const uint64_t fresh = a.stats().fresh_alloc_count;
    void* w = alloc_or_null(a, 1 * kMiB);
    expect(&problem, w == x && a.stats().fresh_alloc_count == fresh, "merged segment reused from its start");
    problem += check_invariants(a, {{addr(w), 1 * kMiB}});
  }
  report("merge_on_free", problem);
}

void check_large_pool() {
  reset_device(size_t(1) << 34);
  std::string problem;
  {
    CachingAllocator a(kFake, "CUDA");
    void* p = alloc_or_null(a, 3 * kMiB);  // a 20 MiB segment, split: 17 MiB stays free
    auto segs = a.snapshot();
    expect(&problem, segs.size() == 1 && segs[0].size == 20 * kMiB && !segs[0].small, "3 MiB from 20 MiB");
    expect(&problem, segs.size() == 1 && segs[0].blocks.size() == 2 && segs[0].blocks[1].size == 17 * kMiB,
           "17 MiB remainder stays free");
    void* q = alloc_or_null(a, 16 * kMiB + 512 * kKiB);  // fits the 17 MiB remainder; 512 KiB left is not split
    segs = a.snapshot();
    expect(&problem, segs.size() == 1 && segs[0].blocks.size() == 2 && segs[0].blocks[1].address == addr(q) &&
                         segs[0].blocks[1].size == 17 * kMiB,
           "a remainder under 1 MiB stays part of the large block");
    void* r = alloc_or_null(a, 11 * kMiB);  // its own 12 MiB segment
    segs = a.snapshot();
    expect(&problem, segs.size() == 2 && segs[1].size == 12 * kMiB && segs[1].blocks.size() == 1,
           "11 MiB from a 12 MiB segment");
    void* s = alloc_or_null(a, 1000);  // small requests never come from the large pool
    segs = a.snapshot();
    expect(&problem, segs.size() == 3, "small request gets a small segment");
    const Stats st = a.stats();
    expect(&problem, st.allocated_bytes == 3 * kMiB + 17 * kMiB + 12 * kMiB + 1024, "allocated bytes count blocks");
    problem += check_invariants(a, {{addr(p), 3 * kMiB}, {addr(q), 16 * kMiB + 512 * kKiB}, {addr(r), 11 * kMiB},
                                    {addr(s), 1000}});
  }
  report("large_pool", problem);
}

void check_steady_reuse() {
  reset_device(size_t(1) << 34);
  std::string problem;
  {
    CachingAllocator a(kFake, "CUDA");
    const size_t sizes[] = {100, 4000, 70000, 1 * kMiB, 3 * kMiB, 12 * kMiB, 700 * kKiB, 33 * kMiB};
    uint64_t fresh_after_first = 0;
    for (int iter = 0; iter < 1000; ++iter) {
      std::vector<void*> held;
      for (size_t s : sizes) held.push_back(alloc_or_null(a, s));
      for (size_t i = 0; i < held.size(); i += 2) a.free(held[i]);
      for (size_t i = 1; i < held.size(); i += 2) a.free(held[i]);
      if (iter == 0) fresh_after_first = a.stats().fresh_alloc_count;
    }
    const Stats st = a.stats();
    expect(&problem, st.fresh_alloc_count == fresh_after_first,
           "fresh allocations grew from " + std::to_string(fresh_after_first) + " to " +
               std::to_string(st.fresh_alloc_count));
    expect(&problem, st.alloc_count == 8000, "alloc_count should be 8000");
    expect(&problem, st.allocated_bytes == 0, "all freed");
    problem += check_invariants(a, {});
  }
  report("steady_state_reuse", problem);
}

void check_stats_and_empty_cache() {
  reset_device(size_t(1) << 34);
  std::string problem;
  {
    CachingAllocator a(kFake, "CUDA");
    void* x = alloc_or_null(a, 1000);     // 1024 in a 2 MiB segment
    void* y = alloc_or_null(a, 5 * kMiB);  // 5 MiB in a 20 MiB segment
    Stats st = a.stats();
    expect(&problem, st.allocated_bytes == 1024 + 5 * kMiB, "allocated");
    expect(&problem, st.reserved_bytes == 22 * kMiB, "reserved");
    expect(&problem, st.cached_bytes == 22 * kMiB - 1024 - 5 * kMiB, "cached");
    expect(&problem, st.alloc_count == 2 && st.fresh_alloc_count == 2, "counts");
    a.free(y);
    st = a.stats();
    expect(&problem, st.allocated_bytes == 1024 && st.peak_allocated_bytes == 1024 + 5 * kMiB, "peak kept");
    a.empty_cache();  // the 20 MiB segment is free, the small one holds x
    st = a.stats();
    expect(&problem, st.reserved_bytes == 2 * kMiB && g_dev.live.size() == 1, "empty_cache keeps used segments");
    problem += check_invariants(a, {{addr(x), 1000}});
    a.free(x);
    a.empty_cache();
    st = a.stats();
    expect(&problem, st.reserved_bytes == 0 && st.cached_bytes == 0 && g_dev.live.empty() && g_dev.used == 0,
           "empty_cache returns every free segment");
    problem += check_invariants(a, {});
  }
  report("stats_and_empty_cache", problem);
}

void check_unknown_free() {
  reset_device(size_t(1) << 30);
  std::string problem;
  {
    CachingAllocator a(kFake, "CUDA");
    void* x = alloc_or_null(a, 1000);
    void* y = alloc_or_null(a, 1000);
    const auto before = a.snapshot();
    const Stats st = a.stats();
    expect(&problem, !a.free(reinterpret_cast<void*>(uintptr_t(0x1234))), "bogus pointer refused");
    expect(&problem, !a.free(static_cast<char*>(x) + 512), "interior pointer refused");
    a.free(y);
    expect(&problem, !a.free(y), "double free refused");
    a.free(x);
    a.empty_cache();
    expect(&problem, !a.free(x), "free after release refused");
    expect(&problem, before.size() == 1 && st.allocated_bytes == 2048, "state before");
    problem += check_invariants(a, {});
  }
  report("unknown_pointer_free", problem);
}

void check_oom_retry() {
  reset_device(24 * kMiB);
  std::string problem;
  {
    CachingAllocator a(kFake, "CUDA");
    // Cache two small segments (4 MiB; two 1 MiB blocks fill one), keep a third one in use (2 MiB): 6 MiB
    // of 24 taken.
    void* s[4];
    for (void*& p : s) p = alloc_or_null(a, 1 * kMiB);
    void* keep = alloc_or_null(a, 1 * kMiB);
    for (void* p : s) a.free(p);
    expect(&problem, g_dev.live.size() == 3, "three small segments");
    // 5 MiB needs a 20 MiB segment: 6 + 20 > 24 fails, releasing the 4 MiB cached makes room.
    const int mallocs = g_dev.mallocs;
    void* big = nullptr;
    std::string err;
    const Status status = a.allocate(5 * kMiB, &big, &err);
    expect(&problem, status == Status::kOk && big != nullptr, "retry after freeing the cache should succeed: " + err);
    expect(&problem, g_dev.mallocs == mallocs + 2 && g_dev.failed == 1, "exactly one failed attempt, one retry");
    expect(&problem, g_dev.live.size() == 2, "the two cached segments were released, the used one kept");
    problem += check_invariants(a, {{addr(keep), 1 * kMiB}, {addr(big), 5 * kMiB}});
    a.free(big);
    a.free(keep);
  }
  report("oom_frees_cache_and_retries", problem);
}

void check_oom_error() {
  reset_device(24 * kMiB);
  std::string problem;
  {
    CachingAllocator a(kFake, "CUDA");
    void* keep = alloc_or_null(a, 3 * kMiB);  // 20 MiB segment, 3 MiB allocated
    void* cached = alloc_or_null(a, 1000);     // 2 MiB segment
    a.free(cached);
    const int mallocs = g_dev.mallocs;
    void* p = reinterpret_cast<void*>(1);
    std::string err;
    const size_t ask = size_t(2) << 30;
    const Status s = a.allocate(ask, &p, &err);
    expect(&problem, s == Status::kOutOfMemory, "2 GiB of 24 MiB should be out of memory");
    expect(&problem, p == nullptr, "out pointer cleared");
    expect(&problem, g_dev.mallocs == mallocs + 2, "one attempt and one retry");
    expect(&problem, err.find("CUDA out of memory: tried to allocate 2.00 GiB (2147483648 bytes)") == 0,
           "message names the bytes: " + err);
    expect(&problem, err.find("3.00 MiB allocated") != std::string::npos, "message says allocated: " + err);
    expect(&problem, err.find("17.00 MiB cached by the allocator") != std::string::npos,
           "message says cached (after the retry released the free segment): " + err);
    expect(&problem, err.find("free of 24.00 MiB") != std::string::npos, "message says device memory: " + err);
    problem += check_invariants(a, {{addr(keep), 3 * kMiB}});
    // The allocator still works after the failure.
    void* q = alloc_or_null(a, 1000);
    expect(&problem, q != nullptr, "allocations after an OOM succeed");
    a.free(q);
    a.free(keep);
  }
  report("oom_error_message", problem);
}

void check_system_error() {
  reset_device(size_t(1) << 30);
  std::string problem;
  {
    CachingAllocator a(kFake, "CUDA");
    g_dev.error_mode = true;
    void* p = nullptr;
    std::string err;
    const Status s = a.allocate(1000, &p, &err);
    expect(&problem, s == Status::kSystemError && p == nullptr, "non-OOM system failure reported as such");
    expect(&problem, g_dev.mallocs == 1, "no retry for errors other than out of memory");
    expect(&problem, !err.empty(), "a message");
    g_dev.error_mode = false;
    problem += check_invariants(a, {});
  }
  report("system_error", problem);
}

void check_random_sequences() {
  std::string problem;
  for (int trial = 0; trial < 4 && problem.empty(); ++trial) {
    reset_device(size_t(256) << 20);
    std::mt19937_64 rng(1234 + trial);
    CachingAllocator a(kFake, "CUDA");
    std::map<uintptr_t, size_t> live;
    int ooms = 0;
    for (int step = 0; step < 6000 && problem.empty(); ++step) {
      const int action = static_cast<int>(rng() % 100);
      if (action < 55 || live.empty()) {
        // Log-uniform sizes from 1 byte to 64 MiB.
        const double e = std::uniform_real_distribution<double>(0, 26)(rng);
        const size_t bytes = static_cast<size_t>(std::pow(2.0, e));
        void* p = nullptr;
        std::string err;
        const Status s = a.allocate(bytes, &p, &err);
        if (s == Status::kOk) {
          if (live.count(addr(p))) problem += "address handed out twice; ";
          live[addr(p)] = bytes;
        } else if (s == Status::kOutOfMemory) {
          ++ooms;
          if (err.find("(" + std::to_string(bytes) + " bytes)") == std::string::npos)
            problem += "OOM message lacks the bytes: " + err + "; ";
        } else {
          problem += "unexpected status; ";
        }
      } else if (action < 98) {
        auto it = live.begin();
        std::advance(it, static_cast<long>(rng() % live.size()));
        if (!a.free(reinterpret_cast<void*>(it->first))) problem += "free of a live block refused; ";
        live.erase(it);
      } else {
        a.empty_cache();
      }
      if (step % 10 == 0) problem += check_invariants(a, live);
    }
    problem += check_invariants(a, live);
    for (const auto& kv : live) a.free(reinterpret_cast<void*>(kv.first));
    a.empty_cache();
    if (!g_dev.live.empty()) problem += "segments left after freeing everything; ";
    if (ooms == 0) problem += "the sequence never ran out of memory (the OOM path went untested); ";
  }
  report("random_sequences_keep_invariants", problem);
}

void check_threads() {
  reset_device(size_t(1) << 36);
  std::string problem;
  {
    CachingAllocator a(kFake, "CUDA");
    std::vector<std::thread> threads;
    std::vector<int> bad(4, 0);
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&a, &bad, t] {
        std::mt19937 rng(t);
        std::vector<void*> held;
        for (int i = 0; i < 3000; ++i) {
          if (held.size() < 16 && (rng() % 2 == 0 || held.empty())) {
            void* p = alloc_or_null(a, 1 + rng() % (3 * kMiB));
            if (!p) ++bad[t];
            held.push_back(p);
          } else {
            const size_t k = rng() % held.size();
            if (!a.free(held[k])) ++bad[t];
            held.erase(held.begin() + static_cast<long>(k));
          }
        }
        for (void* p : held) a.free(p);
      });
    for (auto& th : threads) th.join();
    for (int t = 0; t < 4; ++t) expect(&problem, bad[t] == 0, "thread " + std::to_string(t) + " saw failures");
    expect(&problem, a.stats().allocated_bytes == 0, "everything freed");
    problem += check_invariants(a, {});
  }
  report("thread_safety", problem);
}

}  // namespace

int main() {
  check_zero_and_null();
  check_rounding_and_small_segments();
  check_best_fit();
  check_merge();
  check_large_pool();
  check_steady_reuse();
  check_stats_and_empty_cache();
  check_unknown_free();
  check_oom_retry();
  check_oom_error();
  check_system_error();
  check_random_sequences();
  check_threads();
  std::printf("DONE %d\n", g_failures);
  return g_failures == 0 ? 0 : 1;
}
