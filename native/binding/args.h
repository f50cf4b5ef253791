// Argument checking for the N-API binding. Every value that reaches a kernel passes through here: each entry
// point's arguments are parsed against its kinds in entry_points.def (wrong types throw TypeError, wrong sizes
// or values RangeError, each message naming the entry point and the argument and saying what was expected
// and what came), then its handler checks how they relate (lengths, dtypes) with the helpers below.
#ifndef NEURAL_SIMILARITY_ARGS_H
#define NEURAL_SIMILARITY_ARGS_H

#include <napi.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "buffer.h"
#include "kernels.h"

namespace ns {

// Largest element count or index the binding accepts (JavaScript's safe-integer range).
constexpr int64_t kMaxSafe = (int64_t(1) << 53) - 1;

const char* dtype_name(ns_dtype dt);
const char* device_name(int device);

// The kinds of entry_points.def.
enum class Kind { Int, Flag, Enum, Number, AnyNumber, Ints, Buffer, Optional, AnyDevice, Host, Object };
// Element types a buffer argument accepts.
enum DtypeSet { kFloat = 1, kInt32 = 2, kAnyDtype = 3 };

struct ArgSpec {
  Kind kind;
  const char* name;
  int64_t lo = 0, hi = 0;      // Int, Flag, Enum
  const char* list = nullptr;  // Enum: the kernels.h list
  int dtypes = 0;              // Buffer, Optional
  int count = 0;               // Ints: exact count, or −1
};

// A parsed buffer argument: its data pointer, element count, element type and device.
struct Array {
  void* data = nullptr;
  int64_t length = 0;
  ns_dtype dtype = NS_FLOAT32;
  int device = NS_CPU;
  bool present = false;  // false for an optional argument given as null/undefined
  BufferState* state = nullptr;
};

class Call {
 public:
  // Parses every argument of `info` against `spec` (see entry_points.def for the order).
  Call(const Napi::CallbackInfo& info, const char* entry, const std::vector<ArgSpec>& spec);

  Napi::Env env() const { return info_.Env(); }
  const char* entry() const { return entry_; }

  Napi::Error type(const std::string& msg) const;
  Napi::Error range(const std::string& msg) const;

  int64_t integer(size_t i) const { return ints_[i]; }
  double number(size_t i) const { return numbers_[i]; }
  const std::vector<int64_t>& ints(size_t i) const { return lists_[i]; }
  const Array& array(size_t i) const { return arrays_[i]; }
  Napi::TypedArray host(size_t i) const { return info_[i].As<Napi::TypedArray>(); }
  Napi::Object object(size_t i) const { return info_[i].As<Napi::Object>(); }

  // The device of the call's buffers (all on one device), or NS_CPU when it has none.
  int device() const { return device_; }
  // The kernel table of that device; TypeError when its backend is not available in this process.
  const ns_kernels& kernels() const;
  // A kernel of that table; TypeError "kernel '<name>' is not implemented for backend '<device>'" when absent.
  template <class Fn>
  Fn kernel(Fn ns_kernels::*member, const char* name) const {
    Fn fn = kernels().*member;
    if (!fn)
      throw type(std::string("kernel '") + name + "' is not implemented for backend '" + device_name(device_) + "'");
    return fn;
  }

  // The common dtype of the present float buffers among `indices` (TypeError when they differ).
  ns_dtype same_dtype(std::initializer_list<size_t> indices) const;
  void expect_dtype(size_t i, ns_dtype dt) const;
  void expect_length(size_t i, int64_t length) const;
  // a·b, or a RangeError when the product leaves the safe-integer range.
  int64_t mul(int64_t a, int64_t b, const char* what) const;
  int64_t product(const std::vector<int64_t>& dims, const char* what) const;
  // The largest element index a strided walk over `shape` from `offset` reaches, checked against buffer i.
  void check_strided_extent(size_t i, int64_t offset, const std::vector<int64_t>& shape,
                            const std::vector<int64_t>& strides) const;

  // Throws the Error a kernel's status calls for (nothing for NS_OK): NS_ERR_DEVICE_OOM → Error with code
  // 'ERR_CUDA_OOM'; NS_ERR_DEVICE → Error with code 'ERR_CUDA'; NS_ERR_INDEX → RangeError; NS_ERR_UNSUPPORTED →
  // TypeError; NS_ERR_NOMEM → Error; each message "<entry>: <the backend's last_error()>".
  void check(int status) const;

 private:
  std::string arg(size_t i) const { return std::string("argument '") + spec_[i].name + "'"; }
  int64_t to_integer(const Napi::Value& v, size_t i, int64_t lo, int64_t hi) const;
  void parse_list(size_t i);
  void parse_buffer(size_t i);

  const Napi::CallbackInfo& info_;
  const char* entry_;
  const std::vector<ArgSpec>& spec_;
  std::vector<int64_t> ints_;
  std::vector<double> numbers_;
  std::vector<std::vector<int64_t>> lists_;
  std::vector<Array> arrays_;
  int device_ = NS_CPU;
  int first_buffer_ = -1;
};

}  // namespace ns

#endif
