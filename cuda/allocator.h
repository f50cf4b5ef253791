// A caching device-memory allocator in the style of PyTorch's CUDACachingAllocator, as host-only C++: the
// system allocation (cudaMalloc/cudaFree in device.cu, a fake in test/cuda-host/allocator_test.cc) is injected
// through `System`, so the bookkeeping is tested without a GPU.
//
// Rules (PyTorch's, for one stream):
//  - every request is rounded up to a multiple of 512 bytes (kMinBlock); 0 bytes gives nullptr;
//  - requests of at most 1 MiB (kSmallSize) are served from the small pool, whose segments are 2 MiB
//    (kSmallBuffer); larger requests from the large pool, whose segments are 20 MiB (kLargeBuffer) for
//    requests under 10 MiB (kMinLargeAlloc) and the request rounded up to 2 MiB (kRoundLarge) otherwise;
//  - a request takes the best-fitting free block of its pool (smallest size, then lowest address);
//    the rest of the block stays free in the same segment when it is at least 512 bytes (small pool) or
//    more than 1 MiB (large pool: a free large block of 1 MiB or less could serve no request), else it
//    stays part of the allocation;
//  - free() merges the block with its free neighbours in the segment; memory goes back to the system
//    only from empty_cache() or when a system allocation fails: then every entirely free segment is
//    released and the allocation retried once before reporting out of memory.
// Every public member is thread-safe (one mutex).
#ifndef NEURAL_SIMILARITY_CUDA_ALLOCATOR_H
#define NEURAL_SIMILARITY_CUDA_ALLOCATOR_H

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace ns {
namespace alloc {

// What system->malloc returns.
enum SystemStatus { kSystemOk = 0, kSystemOutOfMemory = 1, kSystemError = 2 };

// The system allocation the cache sits on.
struct System {
  int (*malloc)(void** out, size_t bytes);  // a SystemStatus
  void (*free)(void* p);
  // Free and total bytes of the device for out-of-memory messages; may be null (then not reported).
  int (*mem_info)(size_t* free_bytes, size_t* total_bytes);  // a SystemStatus
};

enum class Status { kOk, kOutOfMemory, kSystemError };

struct Stats {
  uint64_t allocated_bytes = 0;       // in blocks handed out (rounded sizes)
  uint64_t reserved_bytes = 0;        // in segments obtained from the system
  uint64_t cached_bytes = 0;          // reserved − allocated
  uint64_t peak_allocated_bytes = 0;
  uint64_t alloc_count = 0;           // requests served (0-byte requests not counted)
  uint64_t fresh_alloc_count = 0;     // of which asked the system for a new segment
  uint64_t segment_count = 0;
};

// One block of a segment as snapshot() reports it.
struct BlockInfo {
  uintptr_t address;
  size_t size;
  bool allocated;
};
struct SegmentInfo {
  uintptr_t address;
  size_t size;
  bool small;
  std::vector<BlockInfo> blocks;  // in address order, covering the segment exactly
};

// "1.50 GiB", "3.00 MiB", "2.00 KiB", "100 bytes".
inline std::string format_bytes(uint64_t bytes) {
  char buf[64];
  if (bytes >= (uint64_t(1) << 30))
    std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (uint64_t(1) << 30));
  else if (bytes >= (uint64_t(1) << 20))
    std::snprintf(buf, sizeof buf, "%.2f MiB", static_cast<double>(bytes) / (uint64_t(1) << 20));
  else if (bytes >= 1024)
    std::snprintf(buf, sizeof buf, "%.2f KiB", static_cast<double>(bytes) / 1024);
  else
    std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(bytes));
  return buf;
}

class CachingAllocator {
 public:
  static constexpr size_t kMinBlock = 512;
  static constexpr size_t kSmallSize = size_t(1) << 20;
  static constexpr size_t kSmallBuffer = size_t(2) << 20;
  static constexpr size_t kLargeBuffer = size_t(20) << 20;
  static constexpr size_t kMinLargeAlloc = size_t(10) << 20;
  static constexpr size_t kRoundLarge = size_t(2) << 20;

  // `device` names the memory in messages ("CUDA" gives "CUDA out of memory: …").
  CachingAllocator(System system, const char* device) : sys_(system), device_(device) {}
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;
  // Returns every segment to the system, blocks still handed out included.
  ~CachingAllocator() {
    std::vector<Block*> heads;
    for (const auto* pool : {&small_free_, &large_free_})
      for (Block* b : *pool)
        if (!b->prev) heads.push_back(b);
    for (const auto& kv : live_)
      if (!kv.second->prev) heads.push_back(kv.second);
    for (Block* b : heads) {
      sys_.free(reinterpret_cast<void*>(b->address));
      while (b) {
        Block* next = b->next;
        delete b;
        b = next;
      }
    }
  }

  // Request sizes after rounding, and the segment a fresh request of that rounded size asks the system for.
  static size_t round_size(size_t bytes) {
    return bytes < kMinBlock ? kMinBlock : (bytes + kMinBlock - 1) / kMinBlock * kMinBlock;
  }
  static size_t segment_size(size_t rounded) {
    if (rounded <= kSmallSize) return kSmallBuffer;
    if (rounded < kMinLargeAlloc) return kLargeBuffer;
    return (rounded + kRoundLarge - 1) / kRoundLarge * kRoundLarge;
  }

  // *out = a block of at least `bytes` (nullptr for 0). On failure *out is nullptr and *error says why
  // (for kOutOfMemory: the bytes asked for and the cache's state).
  Status allocate(size_t bytes, void** out, std::string* error) {
    *out = nullptr;
    if (bytes == 0) return Status::kOk;
    std::lock_guard<std::mutex> lock(mu_);
    if (bytes > (SIZE_MAX >> 2)) return out_of_memory(bytes, error);
    const size_t size = round_size(bytes);
    const bool small = size <= kSmallSize;
    Pool& pool = small ? small_free_ : large_free_;
    Block key{0, size, false, small, nullptr, nullptr};
    Block* block = nullptr;
    auto it = pool.lower_bound(&key);
    if (it != pool.end()) {
      block = *it;
      pool.erase(it);
    } else {
      const size_t seg = segment_size(size);
      void* p = nullptr;
      int rc = sys_.malloc(&p, seg);
      if (rc == kSystemOutOfMemory) {
        release_free_segments();
        rc = sys_.malloc(&p, seg);
      }
      if (rc == kSystemOutOfMemory) return out_of_memory(bytes, error);
      if (rc != kSystemOk) {
        *error = device_ + " allocation of " + std::to_string(seg) + " bytes failed";
        return Status::kSystemError;
      }
      block = new Block{reinterpret_cast<uintptr_t>(p), seg, false, small, nullptr, nullptr};
      stats_.reserved_bytes += seg;
      stats_.fresh_alloc_count += 1;
      stats_.segment_count += 1;
    }
    const size_t remaining = block->size - size;
    if (small ? remaining >= kMinBlock : remaining > kSmallSize) {
      Block* rest = new Block{block->address + size, remaining, false, small, block, block->next};
      if (block->next) block->next->prev = rest;
      block->next = rest;
      block->size = size;
      pool.insert(rest);
    }
    block->allocated = true;
    live_[block->address] = block;
    stats_.allocated_bytes += block->size;
    if (stats_.allocated_bytes > stats_.peak_allocated_bytes) stats_.peak_allocated_bytes = stats_.allocated_bytes;
    stats_.alloc_count += 1;
    *out = reinterpret_cast<void*>(block->address);
    return Status::kOk;
  }

  // Returns a block to the cache. nullptr is ignored (true); a pointer that is not a live block leaves the
  // state unchanged and gives false.
  bool free(void* p) {
    if (!p) return true;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(reinterpret_cast<uintptr_t>(p));
    if (it == live_.end()) return false;
    Block* block = it->second;
    live_.erase(it);
    block->allocated = false;
    stats_.allocated_bytes -= block->size;
    Pool& pool = block->small ? small_free_ : large_free_;
    if (block->prev && !block->prev->allocated) {
      Block* prev = block->prev;
      pool.erase(prev);
      prev->size += block->size;
      prev->next = block->next;
      if (block->next) block->next->prev = prev;
      delete block;
      block = prev;
    }
    if (block->next && !block->next->allocated) {
      Block* next = block->next;
      pool.erase(next);
      block->size += next->size;
      block->next = next->next;
      if (next->next) next->next->prev = block;
      delete next;
    }
    pool.insert(block);
    return true;
  }

  // Returns every entirely free segment to the system.
  void empty_cache() {
    std::lock_guard<std::mutex> lock(mu_);
    release_free_segments();
  }

  Stats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    Stats s = stats_;
    s.cached_bytes = s.reserved_bytes - s.allocated_bytes;
    return s;
  }

  // Every segment with its blocks, segments in address order.
  std::vector<SegmentInfo> snapshot() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<const Block*> heads;
    for (const auto* pool : {&small_free_, &large_free_})
      for (const Block* b : *pool)
        if (!b->prev) heads.push_back(b);
    for (const auto& kv : live_)
      if (!kv.second->prev) heads.push_back(kv.second);
    std::vector<SegmentInfo> out;
    for (const Block* head : heads) {
      SegmentInfo seg{head->address, 0, head->small, {}};
      for (const Block* b = head; b; b = b->next) {
        seg.blocks.push_back(BlockInfo{b->address, b->size, b->allocated});
        seg.size += b->size;
      }
      out.push_back(seg);
    }
    std::sort(out.begin(), out.end(),
              [](const SegmentInfo& a, const SegmentInfo& b) { return a.address < b.address; });
    return out;
  }

 private:
  // A block is a run of a segment; the blocks of a segment form a list in address order (prev/next).
  struct Block {
    uintptr_t address;
    size_t size;
    bool allocated;
    bool small;
    Block* prev;
    Block* next;
  };
  struct BySizeThenAddress {
    bool operator()(const Block* a, const Block* b) const {
      return a->size != b->size ? a->size < b->size : a->address < b->address;
    }
  };
  using Pool = std::set<Block*, BySizeThenAddress>;

  // Caller holds mu_.
  void release_free_segments() {
    for (Pool* pool : {&small_free_, &large_free_}) {
      for (auto it = pool->begin(); it != pool->end();) {
        Block* b = *it;
        if (!b->prev && !b->next) {
          sys_.free(reinterpret_cast<void*>(b->address));
          stats_.reserved_bytes -= b->size;
          stats_.segment_count -= 1;
          it = pool->erase(it);
          delete b;
        } else {
          ++it;
        }
      }
    }
  }

  // Caller holds mu_.
  Status out_of_memory(size_t bytes, std::string* error) const {
    std::string msg = device_ + " out of memory: tried to allocate " + format_bytes(bytes) + " (" +
                      std::to_string(bytes) + " bytes); " + format_bytes(stats_.allocated_bytes) + " allocated, " +
                      format_bytes(stats_.reserved_bytes - stats_.allocated_bytes) + " cached by the allocator";
    size_t free_bytes = 0, total_bytes = 0;
    if (sys_.mem_info && sys_.mem_info(&free_bytes, &total_bytes) == kSystemOk)
      msg += ", " + format_bytes(free_bytes) + " free of " + format_bytes(total_bytes);
    *error = msg;
    return Status::kOutOfMemory;
  }

  const System sys_;
  const std::string device_;
  mutable std::mutex mu_;
  Pool small_free_, large_free_;
  std::unordered_map<uintptr_t, Block*> live_;
  Stats stats_;
};

}  // namespace alloc
}  // namespace ns

#endif
