// Argument checking for the N-API binding. Every value that reaches a kernel passes through here:
// wrong types throw TypeError, wrong sizes or values throw RangeError, each message naming the entry
// point and the argument and saying what was expected and what came.
#ifndef NEURAL_SIMILARITY_ARGS_H
#define NEURAL_SIMILARITY_ARGS_H

#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels.h"

namespace ns {

// Largest element count or index the binding accepts (JavaScript's safe-integer range).
constexpr int64_t kMaxSafe = (int64_t(1) << 53) - 1;

inline const char* dtype_name(ns_dtype dt) {
  switch (dt) {
    case NS_FLOAT32: return "float32";
    case NS_FLOAT64: return "float64";
    default: return "int32";
  }
}

// A typed array argument: its data pointer, element count and element type.
struct Array {
  void* data = nullptr;
  int64_t length = 0;
  ns_dtype dtype = NS_FLOAT32;
  bool present = false;  // false for an optional argument given as null/undefined
};

class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* op, size_t count) : info_(info), op_(op) {
    if (info.Length() != count)
      throw range("expected " + std::to_string(count) + " arguments but got " + std::to_string(info.Length()));
  }

  Napi::Env env() const { return info_.Env(); }
  const char* op() const { return op_; }

  Napi::Error type(const std::string& msg) const { return Napi::TypeError::New(env(), std::string(op_) + ": " + msg); }
  Napi::Error range(const std::string& msg) const { return Napi::RangeError::New(env(), std::string(op_) + ": " + msg); }

  // A Float32Array, Float64Array or Int32Array (the only element types tensors use).
  Array array(size_t i, const char* name, bool optional = false) const {
    Napi::Value v = info_[i];
    Array a;
    if (optional && (v.IsNull() || v.IsUndefined())) return a;
    if (!v.IsTypedArray())
      throw type(std::string("argument '") + name + "' expected a Float32Array, Float64Array or Int32Array but got " +
                 describe(v));
    Napi::TypedArray t = v.As<Napi::TypedArray>();
    switch (t.TypedArrayType()) {
      case napi_float32_array: a.dtype = NS_FLOAT32; break;
      case napi_float64_array: a.dtype = NS_FLOAT64; break;
      case napi_int32_array: a.dtype = NS_INT32; break;
      default:
        throw type(std::string("argument '") + name +
                   "' expected a Float32Array, Float64Array or Int32Array but got another typed array");
    }
    Napi::ArrayBuffer buffer = t.ArrayBuffer();
    if (buffer.IsDetached()) throw type(std::string("argument '") + name + "' is backed by a detached ArrayBuffer");
    a.length = static_cast<int64_t>(t.ElementLength());
    a.data = static_cast<uint8_t*>(buffer.Data()) + t.ByteOffset();
    a.present = true;
    return a;
  }

  // A floating-point array whose dtype is `dt` and whose length is exactly `length`.
  Array floats(size_t i, const char* name, ns_dtype dt, int64_t length, bool optional = false) const {
    Array a = array(i, name, optional);
    if (a.present) {
      expect_dtype(a, name, dt);
      expect_length(a, name, length);
    }
    return a;
  }

  Array int32s(size_t i, const char* name, int64_t length) const {
    Array a = array(i, name);
    expect_dtype(a, name, NS_INT32);
    expect_length(a, name, length);
    return a;
  }

  void expect_dtype(const Array& a, const char* name, ns_dtype dt) const {
    if (a.dtype != dt)
      throw type(std::string("argument '") + name + "' expected " + dtype_name(dt) + " elements but got " +
                 dtype_name(a.dtype));
  }

  void expect_float(const Array& a, const char* name) const {
    if (a.dtype == NS_INT32)
      throw type(std::string("argument '") + name + "' expected float32 or float64 elements but got int32");
  }

  void expect_length(const Array& a, const char* name, int64_t length) const {
    if (a.length != length)
      throw range(std::string("argument '") + name + "' expected " + std::to_string(length) + " elements but got " +
                  std::to_string(a.length));
  }

  // An integer in [lo, hi].
  int64_t integer(size_t i, const char* name, int64_t lo, int64_t hi) const { return to_integer(info_[i], name, lo, hi); }

  // A finite number (or any number when allow_nonfinite).
  double number(size_t i, const char* name, bool allow_nonfinite = false) const {
    Napi::Value v = info_[i];
    if (!v.IsNumber()) throw type(std::string("argument '") + name + "' expected a number but got " + describe(v));
    double d = v.As<Napi::Number>().DoubleValue();
    if (!allow_nonfinite && !std::isfinite(d))
      throw range(std::string("argument '") + name + "' expected a finite number but got " + std::to_string(d));
    return d;
  }

  // An array of `count` integers (a JS array or Int32Array), each in [lo, hi]; count < 0 accepts any length
  // up to 16.
  std::vector<int64_t> integers(size_t i, const char* name, int count, int64_t lo, int64_t hi) const {
    Napi::Value v = info_[i];
    std::vector<int64_t> out;
    if (v.IsArray()) {
      Napi::Array arr = v.As<Napi::Array>();
      check_count(name, arr.Length(), count);
      for (uint32_t k = 0; k < arr.Length(); ++k) out.push_back(to_integer(arr.Get(k), name, lo, hi));
    } else if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
      Napi::Int32Array arr = v.As<Napi::Int32Array>();
      check_count(name, arr.ElementLength(), count);
      for (size_t k = 0; k < arr.ElementLength(); ++k) {
        int64_t x = arr[k];
        if (x < lo || x > hi) throw out_of_range(name, std::to_string(x), lo, hi);
        out.push_back(x);
      }
    } else {
      throw type(std::string("argument '") + name + "' expected an array of integers but got " + describe(v));
    }
    return out;
  }

  // a·b, or a RangeError when the product leaves the safe-integer range.
  int64_t mul(int64_t a, int64_t b, const char* what) const {
    if (a < 0 || b < 0) throw range(std::string(what) + " is negative");
    if (a != 0 && b > kMaxSafe / a) throw range(std::string(what) + " is too large (more than 2^53 elements)");
    return a * b;
  }

  int64_t product(const std::vector<int64_t>& dims, const char* what) const {
    int64_t p = 1;
    for (int64_t d : dims) p = mul(p, d, what);
    return p;
  }

 private:
  static std::string describe(const Napi::Value& v) {
    if (v.IsUndefined()) return "undefined";
    if (v.IsNull()) return "null";
    if (v.IsNumber()) return "number " + v.ToString().Utf8Value();
    if (v.IsString()) return "string";
    if (v.IsBoolean()) return "boolean";
    if (v.IsTypedArray()) return "typed array";
    if (v.IsArrayBuffer()) return "ArrayBuffer";
    if (v.IsArray()) return "array";
    if (v.IsFunction()) return "function";
    if (v.IsBigInt()) return "bigint";
    if (v.IsSymbol()) return "symbol";
    return "object";
  }

  void check_count(const char* name, size_t got, int count) const {
    if ((count >= 0 && got != static_cast<size_t>(count)) || (count < 0 && got > 16))
      throw range(std::string("argument '") + name + "' expected " +
                  (count >= 0 ? std::to_string(count) : std::string("at most 16")) + " integers but got " +
                  std::to_string(got));
  }

  Napi::Error out_of_range(const char* name, const std::string& got, int64_t lo, int64_t hi) const {
    return range(std::string("argument '") + name + "' expected an integer in [" + std::to_string(lo) + ", " +
                 std::to_string(hi) + "] but got " + got);
  }

  int64_t to_integer(const Napi::Value& v, const char* name, int64_t lo, int64_t hi) const {
    if (!v.IsNumber()) throw type(std::string("argument '") + name + "' expected an integer but got " + describe(v));
    double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(lo) || d > static_cast<double>(hi))
      throw out_of_range(name, v.ToString().Utf8Value(), lo, hi);
    return static_cast<int64_t>(d);
  }

  const Napi::CallbackInfo& info_;
  const char* op_;
};

// Throws an Error naming the op when a kernel reports failure.
inline void check_status(const Args& args, int status) {
  if (status == NS_OK) return;
  if (status == NS_ERR_NOMEM) throw Napi::Error::New(args.env(), std::string(args.op()) + ": out of memory");
  throw args.type("the kernel does not support these arguments");
}

}  // namespace ns

#endif
