// The CUDA backend's runtime: lazy, thread-safe initialisation on device 0 (one non-blocking stream, the
// caching allocator of allocator.h), ns_cuda_query and the TF32 switch (cuda.h), the backend's ns_device
// (kernels.h: memory, copies, synchronisation, errors) and the helpers common.cuh declares.
//
// Without a driver (or without a device) nothing here fails: cudaGetDeviceCount's error is cleared, kept as
// ns_cuda_query's reason, and device() is nullptr, so ns_cuda_kernels() is NULL and callers use the CPU.
#include <cuda_runtime.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "allocator.h"
#include "common.cuh"
#include "cuda.h"

namespace ns {
namespace cuda {
namespace {

thread_local char g_last_error[1024] = "no error";
// The error of this thread's last failed cudaMalloc (for the allocator's kSystemError).
thread_local cudaError_t g_malloc_error = cudaSuccess;
std::atomic<int> g_allow_tf32{1};

// A kernel whose attributes tell whether this binary holds code the device can run.
__global__ void probe_kernel() {}

int system_malloc(void** out, size_t bytes) {
  const cudaError_t err = cudaMalloc(out, bytes);
  if (err == cudaSuccess) return alloc::kSystemOk;
  cudaGetLastError();  // an allocation failure is not sticky: clear it
  g_malloc_error = err;
  return err == cudaErrorMemoryAllocation ? alloc::kSystemOutOfMemory : alloc::kSystemError;
}

// cudaFree waits for the device, so no queued work still uses the segment. Its error can only be one left by
// earlier asynchronous work, which the next checked call reports.
void system_free(void* p) { cudaFree(p); }

int system_mem_info(size_t* free_bytes, size_t* total_bytes) {
  if (cudaMemGetInfo(free_bytes, total_bytes) == cudaSuccess) return alloc::kSystemOk;
  cudaGetLastError();
  return alloc::kSystemError;
}

// Pinned host buffers for read_begin/read_end, kept by capacity (powers of two from 4 KiB: cudaMallocHost
// is slow), and the events that mark when a copy into one has landed. Used from the JavaScript thread
// (take) and from worker threads (give back).
class Staging {
 public:
  static size_t capacity_for(size_t bytes) {
    size_t c = 4096;
    while (c < bytes) c <<= 1;
    return c;
  }

  int take_buffer(size_t capacity, void** out) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = buffers_.find(capacity);
      if (it != buffers_.end()) {
        *out = it->second;
        cached_bytes_ -= capacity;
        buffers_.erase(it);
        return NS_OK;
      }
    }
    cudaError_t err = cudaMallocHost(out, capacity);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      release();
      err = cudaMallocHost(out, capacity);
    }
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      return fail(NS_ERR_NOMEM, "cudaMallocHost: no pinned host memory for a %zu-byte read", capacity);
    }
    return check(err, "cudaMallocHost");
  }

  void give_buffer(void* p, size_t capacity) {
    std::lock_guard<std::mutex> lock(mu_);
    if (cached_bytes_ + capacity > kMaxCachedBytes) {
      cudaFreeHost(p);
      return;
    }
    buffers_.emplace(capacity, p);
    cached_bytes_ += capacity;
  }

  int take_event(cudaEvent_t* out) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!events_.empty()) {
        *out = events_.back();
        events_.pop_back();
        return NS_OK;
      }
    }
    return check(cudaEventCreateWithFlags(out, cudaEventDisableTiming), "cudaEventCreateWithFlags");
  }

  void give_event(cudaEvent_t e) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(e);
  }

  // Frees every cached pinned buffer.
  void release() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& kv : buffers_) cudaFreeHost(kv.second);
    buffers_.clear();
    cached_bytes_ = 0;
  }

 private:
  static constexpr size_t kMaxCachedBytes = size_t(1) << 30;
  std::mutex mu_;
  std::multimap<size_t, void*> buffers_;
  size_t cached_bytes_ = 0;
  std::vector<cudaEvent_t> events_;
};

// What a read_begin hands to its read_end.
struct Ticket {
  void* staging;
  size_t capacity, bytes;
  cudaEvent_t event;
};

struct Runtime {
  ns_cuda_info info;
  bool usable = false;
  cudaStream_t stream = nullptr;
  int compute_capability = 0, multiprocessors = 0;
  alloc::CachingAllocator* allocator = nullptr;
  Staging* staging = nullptr;
};

void initialise(Runtime& rt) {
  ns_cuda_info& info = rt.info;
  std::memset(&info, 0, sizeof info);
  if (cudaRuntimeGetVersion(&info.runtime_version) != cudaSuccess) info.runtime_version = 0;
  if (cudaDriverGetVersion(&info.driver_version) != cudaSuccess) info.driver_version = 0;
  cudaGetLastError();
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    std::snprintf(info.reason, sizeof info.reason, "CUDA kernels are compiled in but unusable: %s",
                  cudaGetErrorString(err));
    return;
  }
  if (count == 0) {
    std::snprintf(info.reason, sizeof info.reason, "CUDA kernels are compiled in but no CUDA device is present");
    return;
  }
  cudaDeviceProp prop;
  err = cudaGetDeviceProperties(&prop, 0);
  if (err != cudaSuccess) {
    cudaGetLastError();
    std::snprintf(info.reason, sizeof info.reason, "CUDA device 0 could not be queried: %s", cudaGetErrorString(err));
    return;
  }
  std::snprintf(info.device_name, sizeof info.device_name, "%s", prop.name);
  info.compute_major = prop.major;
  info.compute_minor = prop.minor;
  info.total_memory = prop.totalGlobalMem;
  info.multiprocessors = prop.multiProcessorCount;
  char summary[400];
  std::snprintf(summary, sizeof summary, "%s (sm_%d%d, %.1f GiB)", prop.name, prop.major, prop.minor,
                static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
  cudaFuncAttributes attributes;
  if ((err = cudaSetDevice(0)) != cudaSuccess || (err = cudaFuncGetAttributes(&attributes, probe_kernel)) != cudaSuccess) {
    cudaGetLastError();
    std::snprintf(info.reason, sizeof info.reason,
                  "CUDA device %s cannot run these kernels (built for sm_75 to sm_90 and compute_90 PTX): %s", summary,
                  cudaGetErrorString(err));
    return;
  }
  if ((err = cudaStreamCreateWithFlags(&rt.stream, cudaStreamNonBlocking)) != cudaSuccess) {
    cudaGetLastError();
    std::snprintf(info.reason, sizeof info.reason, "CUDA device %s: cudaStreamCreateWithFlags: %s", summary,
                  cudaGetErrorString(err));
    return;
  }
  rt.compute_capability = prop.major * 10 + prop.minor;
  rt.multiprocessors = prop.multiProcessorCount;
  rt.allocator = new alloc::CachingAllocator(alloc::System{system_malloc, system_free, system_mem_info}, "CUDA");
  rt.staging = new Staging();
  rt.usable = true;
  info.device_count = count;
  std::snprintf(info.reason, sizeof info.reason, "CUDA device found: %s", summary);
}

// Initialised on first use (C++ guarantees one initialisation however many threads race) and never
// destroyed: tearing down CUDA objects from static destructors at exit is unsafe.
Runtime& runtime() {
  static Runtime* rt = [] {
    Runtime* r = new Runtime();
    initialise(*r);
    return r;
  }();
  return *rt;
}

// ---------------------------------------------------------------- ns_device

int device_alloc(size_t bytes, void** out) {
  *out = nullptr;
  Runtime& rt = runtime();
  if (!rt.usable) return fail(NS_ERR_DEVICE, "CUDA is not usable: %s", rt.info.reason);
  std::string message;
  switch (rt.allocator->allocate(bytes, out, &message)) {
    case alloc::Status::kOk: return NS_OK;
    case alloc::Status::kOutOfMemory: return fail(NS_ERR_DEVICE_OOM, "%s", message.c_str());
    default:
      return fail(NS_ERR_DEVICE, "cudaMalloc: %s (%s)", cudaGetErrorString(g_malloc_error), message.c_str());
  }
}

void device_free(void* block) {
  if (block) runtime().allocator->free(block);
}

int device_write(void* dst, const void* host, size_t bytes) {
  if (bytes == 0) return NS_OK;
  // From pageable memory the call returns once `host` has been staged, so the caller may reuse it.
  return check(cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, stream()), "cudaMemcpyAsync (write)");
}

int device_read(void* host, const void* src, size_t bytes) {
  if (bytes == 0) return NS_OK;
  int status = check(cudaMemcpyAsync(host, src, bytes, cudaMemcpyDeviceToHost, stream()), "cudaMemcpyAsync (read)");
  if (status == NS_OK) status = check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize (read)");
  return status;
}

int device_read_begin(const void* src, size_t bytes, void** ticket) {
  *ticket = nullptr;
  Ticket* t = new (std::nothrow) Ticket{nullptr, 0, bytes, nullptr};
  if (!t) return fail(NS_ERR_NOMEM, "read_begin: out of host memory");
  if (bytes > 0) {
    Staging& staging = *runtime().staging;
    t->capacity = Staging::capacity_for(bytes);
    int status = staging.take_buffer(t->capacity, &t->staging);
    if (status == NS_OK) status = staging.take_event(&t->event);
    if (status == NS_OK)
      status = check(cudaMemcpyAsync(t->staging, src, bytes, cudaMemcpyDeviceToHost, stream()),
                     "cudaMemcpyAsync (read_begin)");
    if (status == NS_OK) status = check(cudaEventRecord(t->event, stream()), "cudaEventRecord (read_begin)");
    if (status != NS_OK) {
      if (t->staging) staging.give_buffer(t->staging, t->capacity);
      if (t->event) staging.give_event(t->event);
      delete t;
      return status;
    }
  }
  *ticket = t;
  return NS_OK;
}

int device_read_end(void* ticket, void* host) {
  Ticket* t = static_cast<Ticket*>(ticket);
  int status = NS_OK;
  if (t->bytes > 0) {
    Staging& staging = *runtime().staging;
    status = check(cudaEventSynchronize(t->event), "cudaEventSynchronize (read_end)");
    if (status == NS_OK) std::memcpy(host, t->staging, t->bytes);
    staging.give_buffer(t->staging, t->capacity);
    staging.give_event(t->event);
  }
  delete t;
  return status;
}

int device_synchronize() { return check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize"); }

void device_memory_stats(ns_memory_stats* out) {
  std::memset(out, 0, sizeof *out);
  Runtime& rt = runtime();
  if (!rt.usable) return;
  const alloc::Stats s = rt.allocator->stats();
  out->allocated_bytes = s.allocated_bytes;
  out->cached_bytes = s.cached_bytes;
  out->peak_allocated_bytes = s.peak_allocated_bytes;
  out->alloc_count = s.alloc_count;
  out->fresh_alloc_count = s.fresh_alloc_count;
}

void device_empty_cache() {
  Runtime& rt = runtime();
  if (!rt.usable) return;
  // Blocks freed with work still queued on them are released only once that work is done.
  if (cudaStreamSynchronize(rt.stream) != cudaSuccess) cudaGetLastError();
  rt.allocator->empty_cache();
  rt.staging->release();
}

const char* device_last_error() { return g_last_error; }

const ns_device kDevice = {"cuda",          device_alloc,        device_free,         device_write,
                           device_read,     device_read_begin,   device_read_end,     device_synchronize,
                           device_memory_stats, device_empty_cache, device_last_error};

}  // namespace

// ---------------------------------------------------------------- common.cuh

cudaStream_t stream() { return runtime().stream; }

int fail(int status, const char* format, ...) {
  va_list args;
  va_start(args, format);
  std::vsnprintf(g_last_error, sizeof g_last_error, format, args);
  va_end(args);
  return status;
}

int check(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return NS_OK;
  cudaGetLastError();  // clear a non-sticky error so that later calls start clean
  return fail(err == cudaErrorMemoryAllocation ? NS_ERR_DEVICE_OOM : NS_ERR_DEVICE, "%s: %s", what,
              cudaGetErrorString(err));
}

Scratch::~Scratch() { device_free(ptr_); }

int Scratch::allocate(size_t bytes) {
  device_free(ptr_);
  ptr_ = nullptr;
  return device_alloc(bytes, &ptr_);
}

bool allow_tf32() { return g_allow_tf32.load(std::memory_order_relaxed) != 0; }
int compute_capability() { return runtime().compute_capability; }
int multiprocessors() { return runtime().multiprocessors; }

const ns_device* device() { return runtime().usable ? &kDevice : nullptr; }

}  // namespace cuda
}  // namespace ns

// ---------------------------------------------------------------- cuda.h

extern "C" {

void ns_cuda_query(ns_cuda_info* out) { *out = ns::cuda::runtime().info; }

void ns_cuda_set_allow_tf32(int allow) { ns::cuda::g_allow_tf32.store(allow ? 1 : 0, std::memory_order_relaxed); }

int ns_cuda_allow_tf32(void) { return ns::cuda::g_allow_tf32.load(std::memory_order_relaxed); }

}  // extern "C"
