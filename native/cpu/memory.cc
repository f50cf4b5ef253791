// The CPU's ns_device: tensor storage from a caching pool, so that steady-state training reuses blocks instead of
// touching fresh pages every step (first touch costs about 11 µs per 4 KiB page on the target machines).
//
// Blocks are 64-byte aligned and reused by exact rounded size, most recently freed first. The pool is bounded
// (NEURAL_SIMILARITY_POOL_BYTES, default 2 GiB): past the cap the oldest cached blocks go back to the system.
// Blocks of 4 MiB and more are 2 MiB aligned and ask for transparent huge pages (NEURAL_SIMILARITY_HUGE_PAGES=0
// turns that off). Copies are plain memcpy: CPU kernels run synchronously, so nothing is ever queued.
#include "memory.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <list>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "cpu.h"

namespace ns {
namespace {

thread_local std::string last_error_message = "no error";

constexpr size_t kHugeMin = size_t(4) << 20;
constexpr size_t kHugeAlign = size_t(2) << 20;

size_t env_bytes(const char* name, size_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const double d = std::strtod(v, &end);
  return end && *end == '\0' && d >= 0 ? static_cast<size_t>(d) : fallback;
}

class Pool {
 public:
  int alloc(size_t bytes, void** out) {
    *out = nullptr;
    if (bytes == 0) return NS_OK;
    const size_t size = (bytes + 63) & ~size_t(63);
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.alloc_count;
    auto it = free_by_size_.find(size);
    if (it != free_by_size_.end() && !it->second.empty()) {
      auto entry = it->second.back();
      it->second.pop_back();
      *out = entry->ptr;
      cached_ -= entry->bytes;
      released_.erase(entry);
    } else {
      *out = system_alloc(size);
      if (!*out) {
        trim_locked(0);
        *out = system_alloc(size);
      }
      if (!*out) {
        return cpu_fail(NS_ERR_NOMEM, "out of host memory: tried to allocate " + std::to_string(bytes) + " bytes");
      }
      ++stats_.fresh_alloc_count;
    }
    live_.emplace(*out, Block{*out, size, bytes});
    allocated_ += bytes;
    stats_.peak_allocated_bytes = std::max<uint64_t>(stats_.peak_allocated_bytes, allocated_);
    return NS_OK;
  }

  void release(void* p) {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_.find(p);
    if (it == live_.end()) return;  // not ours: ignore rather than corrupt the pool
    const Block block = it->second;
    live_.erase(it);
    allocated_ -= block.bytes;
    if (block.size > cap_) {
      std::free(p);
      return;
    }
    released_.push_back(block);
    free_by_size_[block.size].push_back(std::prev(released_.end()));
    cached_ += block.bytes;
    trim_locked(cap_);
  }

  void stats(ns_memory_stats* out) {
    std::lock_guard<std::mutex> lock(mutex_);
    *out = stats_;
    out->allocated_bytes = allocated_;
    out->cached_bytes = cached_;
  }

  void empty() {
    std::lock_guard<std::mutex> lock(mutex_);
    trim_locked(0);
  }

 private:
  // A block of `size` bytes (rounded up to 64) last requested for `bytes`; the counts are in requested bytes, the
  // bytes tensors hold.
  struct Block {
    void* ptr;
    size_t size;
    size_t bytes;
  };

  void* system_alloc(size_t size) {
    const bool huge = size >= kHugeMin;
    const size_t align = huge ? kHugeAlign : 64;
    const size_t rounded = (size + align - 1) / align * align;
    void* p = std::aligned_alloc(align, rounded);
    if (p && huge && huge_pages_) ns_cpu_advise_huge_pages(p, rounded);
    return p;
  }

  // Frees the oldest cached blocks until at most `limit` bytes stay cached.
  void trim_locked(size_t limit) {
    while (cached_ > limit && !released_.empty()) {
      auto oldest = released_.begin();
      auto& list = free_by_size_[oldest->size];
      list.erase(std::find(list.begin(), list.end(), oldest));
      cached_ -= oldest->bytes;
      std::free(oldest->ptr);
      released_.erase(oldest);
    }
  }

  std::mutex mutex_;
  std::list<Block> released_;  // cached blocks, oldest first
  std::unordered_map<size_t, std::vector<std::list<Block>::iterator>> free_by_size_;
  std::unordered_map<void*, Block> live_;
  size_t allocated_ = 0, cached_ = 0;
  ns_memory_stats stats_{};
  const size_t cap_ = env_bytes("NEURAL_SIMILARITY_POOL_BYTES", size_t(1) << 31);
  const bool huge_pages_ = [] {
    const char* v = std::getenv("NEURAL_SIMILARITY_HUGE_PAGES");
    return !(v && std::strcmp(v, "0") == 0);
  }();
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: finalizers may free blocks during teardown
  return *p;
}

int device_alloc(size_t bytes, void** out) { return pool().alloc(bytes, out); }
void device_free(void* block) { pool().release(block); }
int device_write(void* dst, const void* host, size_t bytes) {
  if (bytes) std::memcpy(dst, host, bytes);
  return NS_OK;
}
int device_read(void* host, const void* src, size_t bytes) {
  if (bytes) std::memcpy(host, src, bytes);
  return NS_OK;
}
// The ticket is a copy taken now, so later kernels cannot change what is read.
struct Ticket {
  std::vector<unsigned char> bytes;
};
int device_read_begin(const void* src, size_t bytes, void** ticket) {
  auto* t = new (std::nothrow) Ticket();
  if (!t) return cpu_fail(NS_ERR_NOMEM, "out of host memory for a read");
  try {
    t->bytes.assign(static_cast<const unsigned char*>(src), static_cast<const unsigned char*>(src) + bytes);
  } catch (const std::bad_alloc&) {
    delete t;
    return cpu_fail(NS_ERR_NOMEM, "out of host memory for a read of " + std::to_string(bytes) + " bytes");
  }
  *ticket = t;
  return NS_OK;
}
int device_read_end(void* ticket, void* host) {
  auto* t = static_cast<Ticket*>(ticket);
  if (!t->bytes.empty()) std::memcpy(host, t->bytes.data(), t->bytes.size());
  delete t;
  return NS_OK;
}
int device_synchronize(void) { return NS_OK; }
void device_memory_stats(ns_memory_stats* out) { pool().stats(out); }
void device_empty_cache(void) {
  pool().empty();
  ns_cpu_workspace_trim();
}
const char* device_last_error(void) { return last_error_message.c_str(); }

}  // namespace

int cpu_fail(int status, const std::string& message) {
  last_error_message = message;
  return status;
}

}  // namespace ns

extern "C" const ns_device* ns_cpu_device(void) {
  static const ns_device device = {
      "cpu",         ns::device_alloc,       ns::device_free,         ns::device_write,
      ns::device_read, ns::device_read_begin, ns::device_read_end,   ns::device_synchronize,
      ns::device_memory_stats, ns::device_empty_cache, ns::device_last_error,
  };
  return &device;
}
