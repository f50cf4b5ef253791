// Buffers: the storage of tensors, on any device. JavaScript holds a buffer as an opaque handle object (tagged,
// wrapping a BufferState); `free` returns its block to the device's allocator at once, and a handle that is
// garbage-collected without it returns the block from its finalizer, which runs synchronously inside the
// collection (a Node-API basic finalizer), so a synchronous loop that never frees still recycles memory.
#ifndef NEURAL_SIMILARITY_BUFFER_H
#define NEURAL_SIMILARITY_BUFFER_H

#include <napi.h>

#include <cstdint>

#include "kernels.h"

namespace ns {

struct BufferState {
  const ns_kernels* backend;  // the table of the buffer's device
  int device;
  ns_dtype dtype;
  int64_t length;  // elements
  void* data;      // the allocator's block (nullptr for 0 elements)
  bool freed;
};

// Bytes per element of a dtype.
inline int64_t dtype_size(ns_dtype dt) { return dt == NS_FLOAT64 ? 8 : 4; }

// The buffer a value is a handle of, or nullptr when it is none.
BufferState* unwrap_buffer(Napi::Env env, Napi::Value value);

// The kernel table of a device: the CPU's, or CUDA's when this binary has it and a device is usable (nullptr
// otherwise).
const ns_kernels* backend_of(int device);

}  // namespace ns

#endif
