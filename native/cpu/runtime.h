// Shared machinery of the CPU kernels: the thread pool and the cached scratch memory.
#ifndef NEURAL_SIMILARITY_RUNTIME_H
#define NEURAL_SIMILARITY_RUNTIME_H

#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>

#include "cpu.h"

namespace ns {

// A task the pool runs on every thread: call(ctx, thread_index, thread_count).
struct PoolTask {
  void (*call)(void* ctx, int tid, int nthreads);
  void* ctx;
};

// Runs the task on `nthreads` threads (the caller is thread 0) and returns when all are done.
// nthreads is capped at the pool size; called from inside a task it runs serially on the caller.
void run_on_pool(PoolTask task, int nthreads);
int pool_size();

// Calls fn(tid, nthreads) on min(max_threads, pool size) threads.
template <class F>
void parallel_run(int max_threads, F&& fn) {
  struct Ctx { F* f; };
  Ctx ctx{&fn};
  run_on_pool(PoolTask{[](void* c, int tid, int nt) { (*static_cast<Ctx*>(c)->f)(tid, nt); }, &ctx}, max_threads);
}

// Splits [0, n) into one contiguous range per thread and calls fn(begin, end) on each non-empty range.
// Uses one thread per `grain` items at most, so small loops stay on the caller's thread.
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& fn) {
  if (n <= 0) return;
  int64_t want = grain > 0 ? (n + grain - 1) / grain : n;
  int threads = want < pool_size() ? static_cast<int>(want) : pool_size();
  if (threads <= 1) { fn(int64_t(0), n); return; }
  parallel_run(threads, [&](int tid, int nt) {
    int64_t begin = n * tid / nt, end = n * (tid + 1) / nt;
    if (begin < end) fn(begin, end);
  });
}

// Scratch memory from a process-wide cache: blocks are kept after use so that steady-state work does
// not touch fresh pages (first touch costs about 11 µs per 4 KiB page on the target machines; blocks
// of 4 MiB and more ask for huge pages). 64-byte aligned. Throws std::bad_alloc when memory runs out.
class Scratch {
 public:
  explicit Scratch(size_t bytes);
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <class T> T* as() const { return static_cast<T*>(ptr_); }
 private:
  void* ptr_;
  size_t size_;       // the cached block's size
  size_t requested_;  // what the caller asked for (counted as in use)
};

// Thrown inside a kernel for argument combinations it does not implement.
struct Unsupported {};

// Runs a kernel body, turning C++ exceptions into status codes at the C ABI boundary.
template <class F>
int guarded(F&& body) {
  try {
    body();
    return NS_OK;
  } catch (const std::bad_alloc&) {
    return NS_ERR_NOMEM;
  } catch (...) {
    return NS_ERR_UNSUPPORTED;
  }
}

// Runs body(T()) with T the C++ type of a float dtype, behind guarded(); int32 is unsupported.
template <class F>
int dispatch_float(ns_dtype dt, F&& body) {
  return guarded([&] {
    if (dt == NS_FLOAT32)
      body(float());
    else if (dt == NS_FLOAT64)
      body(double());
    else
      throw Unsupported();
  });
}

// Likewise for kernels that also take int32.
template <class F>
int dispatch_any(ns_dtype dt, F&& body) {
  return guarded([&] {
    if (dt == NS_FLOAT32)
      body(float());
    else if (dt == NS_FLOAT64)
      body(double());
    else if (dt == NS_INT32)
      body(int32_t());
    else
      throw Unsupported();
  });
}

}  // namespace ns

#endif
