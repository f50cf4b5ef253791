// Buffer handles and the memory entry points: alloc, free, write, read, readAsync, copyBuffer, synchronize,
// memoryStats, emptyCache, and the live-tensor count (trackTensor, untrackTensor, liveTensors).
#include "buffer.h"

#include <cstring>
#include <vector>

#include "args.h"
#include "entries.h"

#ifndef NS_WITH_CUDA
extern "C" const ns_kernels* ns_cuda_kernels(void) { return nullptr; }
#endif

namespace ns {
namespace {

// Tags our handles, so that no other object is ever taken for one.
constexpr napi_type_tag kBufferTag = {0x6e735f6275666665ULL, 0x725f68616e646c65ULL};

// Blocks go back to the allocator and the bytes leave V8's external-memory count.
void release(node_api_basic_env env, BufferState* s) {
  if (s->freed) return;
  s->freed = true;
  s->backend->device->free(s->data);
  napi_adjust_external_memory(env, -s->length * dtype_size(s->dtype), nullptr);
}

void finalize_buffer(node_api_basic_env env, void* data, void* /*hint*/) {
  auto* s = static_cast<BufferState*>(data);
  release(env, s);
  delete s;
}

int64_t live_tensors = 0;
int tensor_marker = 0;

void finalize_tensor(node_api_basic_env /*env*/, void* /*data*/, void* /*hint*/) { --live_tensors; }

ns_dtype host_dtype(const Napi::TypedArray& t) {
  switch (t.TypedArrayType()) {
    case napi_float64_array: return NS_FLOAT64;
    case napi_int32_array: return NS_INT32;
    default: return NS_FLOAT32;
  }
}

// Checks that [offset, offset + length) lies in buffer i.
void check_range(const Call& c, size_t i, int64_t offset, int64_t length) {
  const int64_t size = c.array(i).length;
  if (offset > size || length > size - offset)
    throw c.range("elements [" + std::to_string(offset) + ", " + std::to_string(offset + length) +
                  ") lie outside the buffer's " + std::to_string(size));
}

char* element(const Array& a, int64_t offset) {
  return static_cast<char*>(a.data) + offset * dtype_size(a.dtype);
}

// Resolves a promise with a read finished on a worker thread: the bytes land in a staging vector there and are
// copied into the caller's array on the JavaScript thread.
class ReadWorker : public Napi::AsyncWorker {
 public:
  ReadWorker(Napi::Env env, const ns_device* device, void* ticket, Napi::TypedArray dst, int64_t bytes)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), device_(device), ticket_(ticket),
        dst_(Napi::Persistent(dst)), bytes_(bytes) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    host_.resize(static_cast<size_t>(bytes_));
    if (device_->read_end(ticket_, host_.data()) != NS_OK) SetError(std::string("readAsync: ") + device_->last_error());
  }
  void OnOK() override {
    Napi::TypedArray dst = dst_.Value();
    Napi::ArrayBuffer ab = dst.ArrayBuffer();
    if (ab.IsDetached()) {
      deferred_.Reject(Napi::TypeError::New(Env(), "readAsync: argument 'dst' was detached before the read finished").Value());
      return;
    }
    if (!host_.empty()) std::memcpy(static_cast<char*>(ab.Data()) + dst.ByteOffset(), host_.data(), host_.size());
    deferred_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  const ns_device* device_;
  void* ticket_;
  Napi::Reference<Napi::TypedArray> dst_;
  int64_t bytes_;
  std::vector<char> host_;
};

}  // namespace

const ns_kernels* backend_of(int device) {
  if (device == NS_CPU) return ns_cpu_kernels();
  static const ns_kernels* cuda = ns_cuda_kernels();
  return device == NS_CUDA ? cuda : nullptr;
}

// What a freed buffer's handle reads as: `free` keeps the handle's tag but removes its wrap (see entry_free).
BufferState freed_buffer{nullptr, 0, NS_FLOAT32, 0, nullptr, true};

BufferState* unwrap_buffer(Napi::Env env, Napi::Value value) {
  if (!value.IsObject() || value.IsFunction()) return nullptr;
  bool tagged = false;
  if (napi_check_object_type_tag(env, value, &kBufferTag, &tagged) != napi_ok || !tagged) return nullptr;
  void* data = nullptr;
  if (napi_unwrap(env, value, &data) != napi_ok || !data) return &freed_buffer;
  return static_cast<BufferState*>(data);
}

// alloc(device, dtype, length): a handle of a block of `length` elements (contents unspecified).
Napi::Value entry_alloc(const Call& c) {
  const int device = static_cast<int>(c.integer(0));
  const auto dt = static_cast<ns_dtype>(c.integer(1));
  const int64_t length = c.integer(2);
  const ns_kernels* k = backend_of(device);
  if (!k) throw c.type(std::string("backend '") + device_name(device) + "' is not available in this process");
  const int64_t bytes = c.mul(length, dtype_size(dt), "buffer size");
  void* data = nullptr;
  const int status = k->device->alloc(static_cast<size_t>(bytes), &data);
  if (status != NS_OK) {
    Napi::Error e = Napi::Error::New(c.env(), std::string("alloc: ") + k->device->last_error());
    if (status == NS_ERR_DEVICE_OOM) e.Set("code", "ERR_CUDA_OOM");
    else if (status == NS_ERR_DEVICE) e.Set("code", "ERR_CUDA");
    throw e;
  }
  auto* state = new BufferState{k, device, dt, length, data, false};
  Napi::Object handle = Napi::Object::New(c.env());
  napi_type_tag_object(c.env(), handle, &kBufferTag);
  if (napi_wrap(c.env(), handle, state, finalize_buffer, nullptr, nullptr) != napi_ok) {
    k->device->free(data);
    delete state;
    throw c.type("could not wrap the buffer");
  }
  napi_adjust_external_memory(c.env(), bytes, nullptr);
  return handle;
}

// free(buffer): returns the block now, and removes the handle's wrap with its finalizer, so that the garbage
// collector has no callback left to run for it (a training step frees hundreds of buffers; pending finalizers
// would grow the engine's own lists at every collection). The handle keeps its tag and reads as freed_buffer.
Napi::Value entry_free(const Call& c) {
  BufferState* state = c.array(0).state;
  release(c.env(), state);
  void* data = nullptr;
  if (napi_remove_wrap(c.env(), c.object(0), &data) == napi_ok && data == state) delete state;
  return c.env().Undefined();
}

// write(dst, offset, src): dst[offset, offset + src.length) = src (host elements of dst's dtype).
Napi::Value entry_write(const Call& c) {
  const Array& dst = c.array(0);
  const int64_t offset = c.integer(1);
  Napi::TypedArray src = c.host(2);
  if (host_dtype(src) != dst.dtype)
    throw c.type(std::string("argument 'src' expected ") + dtype_name(dst.dtype) + " elements but got " +
                 dtype_name(host_dtype(src)));
  const int64_t length = static_cast<int64_t>(src.ElementLength());
  check_range(c, 0, offset, length);
  const void* host = static_cast<const char*>(src.ArrayBuffer().Data()) + src.ByteOffset();
  c.check(dst.state->backend->device->write(element(dst, offset), host, static_cast<size_t>(length * dtype_size(dst.dtype))));
  return c.env().Undefined();
}

// The host array of argument 2: its elements must be of the buffer's dtype and lie inside it from `offset`.
void* host_destination(const Call& c, int64_t* length) {
  const Array& src = c.array(0);
  Napi::TypedArray dst = c.host(2);
  if (host_dtype(dst) != src.dtype)
    throw c.type(std::string("argument 'dst' expected ") + dtype_name(src.dtype) + " elements but got " +
                 dtype_name(host_dtype(dst)));
  *length = static_cast<int64_t>(dst.ElementLength());
  check_range(c, 0, c.integer(1), *length);
  return static_cast<char*>(dst.ArrayBuffer().Data()) + dst.ByteOffset();
}

// read(src, offset, dst): dst = src[offset, offset + dst.length), once the work queued before has finished.
Napi::Value entry_read(const Call& c) {
  const Array& src = c.array(0);
  int64_t length = 0;
  void* host = host_destination(c, &length);
  c.check(src.state->backend->device->read(host, element(src, c.integer(1)), static_cast<size_t>(length * dtype_size(src.dtype))));
  return c.env().Undefined();
}

// readAsync(src, offset, dst): likewise, as a promise; the wait happens on a worker thread and dst is written
// when the promise settles (the caller keeps dst alive until then: the promise holds a reference to it).
Napi::Value entry_readAsync(const Call& c) {
  const Array& src = c.array(0);
  int64_t length = 0;
  host_destination(c, &length);
  const ns_device* device = src.state->backend->device;
  void* ticket = nullptr;
  c.check(device->read_begin(element(src, c.integer(1)), static_cast<size_t>(length * dtype_size(src.dtype)), &ticket));
  auto* worker = new ReadWorker(c.env(), device, ticket, c.host(2), length * dtype_size(src.dtype));
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

// copyBuffer(src, dst): dst = src, across devices too (same dtype and length).
Napi::Value entry_copyBuffer(const Call& c) {
  const Array &src = c.array(0), &dst = c.array(1);
  if (src.dtype != dst.dtype)
    throw c.type(std::string("argument 'dst' has ") + dtype_name(dst.dtype) + " elements but 'src' has " + dtype_name(src.dtype));
  if (src.length != dst.length)
    throw c.range("argument 'dst' expected " + std::to_string(src.length) + " elements (as many as 'src') but got " +
                  std::to_string(dst.length));
  const size_t bytes = static_cast<size_t>(src.length * dtype_size(src.dtype));
  if (bytes == 0) return c.env().Undefined();
  if (src.device == dst.device) {
    const std::vector<int64_t> shape{src.length}, strides{1};
    const ns_kernels* k = src.state->backend;
    const int status = k->copy(src.dtype, 1, shape.data(), src.data, 0, strides.data(), dst.data, 0, strides.data());
    if (status != NS_OK) throw Napi::Error::New(c.env(), std::string("copyBuffer: ") + k->device->last_error());
  } else if (src.device == NS_CPU) {
    const ns_device* d = dst.state->backend->device;
    if (d->write(dst.data, src.data, bytes) != NS_OK) throw Napi::Error::New(c.env(), std::string("copyBuffer: ") + d->last_error());
  } else {
    const ns_device* d = src.state->backend->device;
    if (d->read(dst.data, src.data, bytes) != NS_OK) throw Napi::Error::New(c.env(), std::string("copyBuffer: ") + d->last_error());
  }
  return c.env().Undefined();
}

Napi::Value entry_synchronize(const Call& c) {
  const ns_kernels* k = backend_of(static_cast<int>(c.integer(0)));
  if (!k) throw c.type(std::string("backend '") + device_name(static_cast<int>(c.integer(0))) + "' is not available in this process");
  if (k->device->synchronize() != NS_OK) throw Napi::Error::New(c.env(), std::string("synchronize: ") + k->device->last_error());
  return c.env().Undefined();
}

// memoryStats(device): the allocator's bytes and counts.
Napi::Value entry_memoryStats(const Call& c) {
  const ns_kernels* k = backend_of(static_cast<int>(c.integer(0)));
  Napi::Object o = Napi::Object::New(c.env());
  ns_memory_stats s{};
  if (k) k->device->memory_stats(&s);
  o.Set("available", k != nullptr);
  o.Set("allocatedBytes", static_cast<double>(s.allocated_bytes));
  o.Set("cachedBytes", static_cast<double>(s.cached_bytes));
  o.Set("peakAllocatedBytes", static_cast<double>(s.peak_allocated_bytes));
  o.Set("allocCount", static_cast<double>(s.alloc_count));
  o.Set("freshAllocCount", static_cast<double>(s.fresh_alloc_count));
  return o;
}

Napi::Value entry_emptyCache(const Call& c) {
  if (const ns_kernels* k = backend_of(static_cast<int>(c.integer(0)))) k->device->empty_cache();
  return c.env().Undefined();
}

// trackTensor(tensor): counts the object as a live tensor until untrackTensor or its collection.
Napi::Value entry_trackTensor(const Call& c) {
  if (napi_wrap(c.env(), c.object(0), &tensor_marker, finalize_tensor, nullptr, nullptr) != napi_ok)
    throw c.type("argument 'tensor' is already tracked (or cannot be)");
  ++live_tensors;
  return c.env().Undefined();
}

Napi::Value entry_untrackTensor(const Call& c) {
  void* data = nullptr;
  if (napi_remove_wrap(c.env(), c.object(0), &data) == napi_ok && data == &tensor_marker) --live_tensors;
  return c.env().Undefined();
}

Napi::Value entry_liveTensors(const Call& c) { return Napi::Number::New(c.env(), static_cast<double>(live_tensors)); }

}  // namespace ns
