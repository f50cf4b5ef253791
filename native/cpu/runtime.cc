// Thread pool and scratch-memory cache shared by the CPU kernels.
#include "runtime.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <pthread.h>
#include <sys/mman.h>
#endif

namespace ns {
namespace {

thread_local bool in_pool_task = false;

// Workers wait for a new generation of work, spinning briefly before sleeping so that back-to-back
// kernels do not pay a futex wake-up each.
class ThreadPool {
 public:
  explicit ThreadPool(int n) { resize(n); }
  ~ThreadPool() { stop_workers(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int n) {
    if (n < 1) n = 1;
    std::lock_guard<std::mutex> run_lock(run_mutex_);
    stop_workers();
    stop_ = false;
    // Workers start from the current generation: one that starts late must still run the next task.
    const uint64_t start = generation_.load(std::memory_order_acquire);
    for (int i = 1; i < n; ++i) workers_.emplace_back([this, i, start] { worker_loop(i, start); });
  }

  void run(PoolTask task, int nthreads) {
    if (nthreads > size()) nthreads = size();
    if (nthreads <= 1 || in_pool_task) {
      task.call(task.ctx, 0, 1);
      return;
    }
    std::lock_guard<std::mutex> run_lock(run_mutex_);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      task_ = task;
      active_ = nthreads;
      pending_.store(nthreads - 1, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    in_pool_task = true;
    task.call(task.ctx, 0, nthreads);
    in_pool_task = false;
    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
      if (spin > 4096) std::this_thread::yield();
    }
  }

 private:
  void worker_loop(int index, uint64_t seen) {
    in_pool_task = true;
#if defined(__linux__)
    // Named so that profilers and /proc/<pid>/task/*/comm tell the kernel threads from the JS engine's.
    char name[16];
    std::snprintf(name, sizeof name, "ns-cpu-%d", index);
    pthread_setname_np(pthread_self(), name);
#endif
    for (;;) {
      for (int spin = 0; generation_.load(std::memory_order_acquire) == seen && spin < 20000; ++spin) {
      }
      PoolTask task;
      int active;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stop_ || generation_.load(std::memory_order_relaxed) != seen; });
        if (stop_) return;
        // Read the generation with its task, under the lock, so no generation runs twice.
        seen = generation_.load(std::memory_order_relaxed);
        task = task_;
        active = active_;
      }
      if (index < active) {
        task.call(task.ctx, index, active);
        pending_.fetch_sub(1, std::memory_order_acq_rel);
      }
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::vector<std::thread> workers_;
  std::mutex run_mutex_;  // one parallel region at a time
  std::mutex mutex_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  PoolTask task_{nullptr, nullptr};
  int active_ = 0;
  bool stop_ = false;
};

int initial_threads() {
  if (const char* env = std::getenv("NEURAL_SIMILARITY_THREADS")) {
    int n = std::atoi(env);
    if (n >= 1 && n <= 1024) return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

ThreadPool& pool() {
  static ThreadPool* p = new ThreadPool(initial_threads());  // never destroyed: workers outlive static teardown
  return *p;
}

// Free blocks by size; blocks are never returned to the system unless trimmed.
struct ScratchCache {
  std::mutex mutex;
  std::multimap<size_t, void*> free_blocks;
  size_t cached = 0;  // bytes in free_blocks
  size_t in_use = 0;  // bytes requested by the live Scratch objects (their blocks may be larger)
  size_t peak = 0;    // most bytes requested at once since the last reset
};

ScratchCache& cache() {
  static ScratchCache* c = new ScratchCache();
  return *c;
}

}  // namespace

void run_on_pool(PoolTask task, int nthreads) { pool().run(task, nthreads); }
int pool_size() { return in_pool_task ? 1 : pool().size(); }

Scratch::Scratch(size_t bytes) : ptr_(nullptr), size_(0), requested_(bytes) {
  if (bytes == 0) bytes = 64;
  ScratchCache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free_blocks.lower_bound(bytes);
    // Reuse a block unless it is much larger than needed (keeps big blocks for big requests).
    if (it != c.free_blocks.end() && it->first <= bytes * 4 + (1 << 20)) {
      size_ = it->first;
      ptr_ = it->second;
      c.free_blocks.erase(it);
      c.cached -= size_;
      c.in_use += requested_;
      c.peak = std::max(c.peak, c.in_use);
      return;
    }
  }
  size_t rounded = (bytes + 4095) & ~size_t(4095);
  void* p = std::aligned_alloc(64, rounded);
  if (!p) throw std::bad_alloc();
  if (rounded >= (size_t(4) << 20)) ns_cpu_advise_huge_pages(p, rounded);
  ptr_ = p;
  size_ = rounded;
  std::lock_guard<std::mutex> lock(c.mutex);
  c.in_use += requested_;
  c.peak = std::max(c.peak, c.in_use);
}

Scratch::~Scratch() {
  ScratchCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.in_use -= requested_;
  c.cached += size_;
  c.free_blocks.emplace(size_, ptr_);
}

}  // namespace ns

extern "C" {

int ns_cpu_num_threads(void) { return ns::pool().size(); }
void ns_cpu_set_num_threads(int n) { ns::pool().resize(n); }

size_t ns_cpu_workspace_cached_bytes(void) {
  std::lock_guard<std::mutex> lock(ns::cache().mutex);
  return ns::cache().cached;
}
size_t ns_cpu_workspace_in_use_bytes(void) {
  std::lock_guard<std::mutex> lock(ns::cache().mutex);
  return ns::cache().in_use;
}
size_t ns_cpu_workspace_peak_bytes(int reset) {
  std::lock_guard<std::mutex> lock(ns::cache().mutex);
  size_t peak = ns::cache().peak;
  if (reset) ns::cache().peak = ns::cache().in_use;
  return peak;
}
void ns_cpu_workspace_trim(void) {
  auto& c = ns::cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  for (auto& kv : c.free_blocks) std::free(kv.second);
  c.free_blocks.clear();
  c.cached = 0;
}

size_t ns_cpu_advise_huge_pages(void* p, size_t bytes) {
#ifdef MADV_HUGEPAGE
  constexpr uintptr_t kHuge = uintptr_t(2) << 20;
  const auto start = reinterpret_cast<uintptr_t>(p);
  const uintptr_t begin = (start + kHuge - 1) / kHuge * kHuge, end = (start + bytes) / kHuge * kHuge;
  if (end > begin && madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE) == 0) return end - begin;
#else
  (void)p;
  (void)bytes;
#endif
  return 0;
}

}  // extern "C"
