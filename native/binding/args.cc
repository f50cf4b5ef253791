// Call: parsing an entry point's arguments against its kinds, and the checks its handler shares.
#include "args.h"

#include <cmath>

namespace ns {

const char* dtype_name(ns_dtype dt) {
  switch (dt) {
    case NS_FLOAT32: return "float32";
    case NS_FLOAT64: return "float64";
    default: return "int32";
  }
}

const char* device_name(int device) { return device == NS_CUDA ? "cuda" : "cpu"; }

namespace {

std::string describe(const Napi::Value& v) {
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

}  // namespace

Call::Call(const Napi::CallbackInfo& info, const char* entry, const std::vector<ArgSpec>& spec)
    : info_(info), entry_(entry), spec_(spec) {
  const size_t n = spec.size();
  if (info.Length() != n)
    throw range("expected " + std::to_string(n) + " arguments but got " + std::to_string(info.Length()));
  ints_.assign(n, 0);
  numbers_.assign(n, 0);
  lists_.assign(n, {});
  arrays_.assign(n, {});
  // Integer lists first: reading a JavaScript array can run code (a getter) that frees a buffer, so no buffer
  // may be taken before them; then the plain values, then the buffers.
  for (size_t i = 0; i < n; ++i)
    if (spec[i].kind == Kind::Ints) parse_list(i);
  for (size_t i = 0; i < n; ++i) {
    const ArgSpec& s = spec[i];
    const Napi::Value v = info[i];
    switch (s.kind) {
      case Kind::Int:
      case Kind::Flag:
      case Kind::Enum: ints_[i] = to_integer(v, i, s.lo, s.hi); break;
      case Kind::Number:
      case Kind::AnyNumber: {
        if (!v.IsNumber()) throw type(arg(i) + " expected a number but got " + describe(v));
        const double d = v.As<Napi::Number>().DoubleValue();
        if (s.kind == Kind::Number && !std::isfinite(d))
          throw range(arg(i) + " expected a finite number but got " + std::to_string(d));
        numbers_[i] = d;
        break;
      }
      case Kind::Host: {
        if (!v.IsTypedArray()) throw type(arg(i) + " expected a Float32Array, Float64Array or Int32Array but got " + describe(v));
        const napi_typedarray_type t = v.As<Napi::TypedArray>().TypedArrayType();
        if (t != napi_float32_array && t != napi_float64_array && t != napi_int32_array)
          throw type(arg(i) + " expected a Float32Array, Float64Array or Int32Array but got another typed array");
        if (v.As<Napi::TypedArray>().ArrayBuffer().IsDetached())
          throw type(arg(i) + " is backed by a detached ArrayBuffer");
        break;
      }
      case Kind::Object:
        if (!v.IsObject() || v.IsFunction()) throw type(arg(i) + " expected an object but got " + describe(v));
        break;
      default: break;
    }
  }
  for (size_t i = 0; i < n; ++i)
    if (spec[i].kind == Kind::Buffer || spec[i].kind == Kind::Optional || spec[i].kind == Kind::AnyDevice) parse_buffer(i);
}

Napi::Error Call::type(const std::string& msg) const {
  return Napi::TypeError::New(env(), std::string(entry_) + ": " + msg);
}
Napi::Error Call::range(const std::string& msg) const {
  return Napi::RangeError::New(env(), std::string(entry_) + ": " + msg);
}

int64_t Call::to_integer(const Napi::Value& v, size_t i, int64_t lo, int64_t hi) const {
  if (!v.IsNumber()) throw type(arg(i) + " expected an integer but got " + describe(v));
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(lo) || d > static_cast<double>(hi))
    throw range(arg(i) + " expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "] but got " +
                v.ToString().Utf8Value());
  return static_cast<int64_t>(d);
}

void Call::parse_list(size_t i) {
  const Napi::Value v = info_[i];
  const int count = spec_[i].count;
  auto check_count = [&](size_t got) {
    if ((count >= 0 && got != static_cast<size_t>(count)) || (count < 0 && got > 16))
      throw range(arg(i) + " expected " + (count >= 0 ? std::to_string(count) : std::string("at most 16")) +
                  " integers but got " + std::to_string(got));
  };
  std::vector<int64_t>& out = lists_[i];
  if (v.IsArray()) {
    Napi::Array a = v.As<Napi::Array>();
    check_count(a.Length());
    for (uint32_t k = 0; k < a.Length(); ++k) out.push_back(to_integer(a.Get(k), i, 0, kMaxSafe));
  } else if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
    Napi::Int32Array a = v.As<Napi::Int32Array>();
    check_count(a.ElementLength());
    for (size_t k = 0; k < a.ElementLength(); ++k) {
      if (a[k] < 0)
        throw range(arg(i) + " expected an integer in [0, " + std::to_string(kMaxSafe) + "] but got " + std::to_string(a[k]));
      out.push_back(a[k]);
    }
  } else {
    throw type(arg(i) + " expected an array of integers but got " + describe(v));
  }
}

void Call::parse_buffer(size_t i) {
  const ArgSpec& s = spec_[i];
  const Napi::Value v = info_[i];
  Array& a = arrays_[i];
  if (s.kind == Kind::Optional && (v.IsNull() || v.IsUndefined())) return;
  BufferState* state = unwrap_buffer(env(), v);
  if (!state) throw type(arg(i) + " expected a buffer from alloc but got " + describe(v));
  if (state->freed) throw type(arg(i) + " is a buffer that was freed");
  if (!(s.dtypes & kInt32) && state->dtype == NS_INT32)
    throw type(arg(i) + " expected float32 or float64 elements but got int32");
  if (!(s.dtypes & kFloat) && state->dtype != NS_INT32)
    throw type(arg(i) + " expected int32 elements but got " + dtype_name(state->dtype));
  a.data = state->data;
  a.length = state->length;
  a.dtype = state->dtype;
  a.device = state->device;
  a.present = true;
  a.state = state;
  if (s.kind == Kind::AnyDevice) return;
  if (first_buffer_ < 0) {
    first_buffer_ = static_cast<int>(i);
    device_ = state->device;
  } else if (state->device != device_) {
    throw type(arg(i) + " is on " + device_name(state->device) + " but '" + spec_[first_buffer_].name + "' is on " +
               device_name(device_));
  }
}

const ns_kernels& Call::kernels() const {
  const ns_kernels* k = backend_of(device_);
  if (!k) throw type(std::string("backend '") + device_name(device_) + "' is not available in this process");
  return *k;
}

ns_dtype Call::same_dtype(std::initializer_list<size_t> indices) const {
  int first = -1;
  for (size_t i : indices) {
    const Array& a = arrays_[i];
    if (!a.present) continue;
    if (first < 0) {
      first = static_cast<int>(i);
    } else if (a.dtype != arrays_[first].dtype) {
      throw type(arg(i) + " has " + dtype_name(a.dtype) + " elements but '" + spec_[first].name + "' has " +
                 dtype_name(arrays_[first].dtype));
    }
  }
  return first >= 0 ? arrays_[first].dtype : NS_FLOAT32;
}

void Call::expect_dtype(size_t i, ns_dtype dt) const {
  if (arrays_[i].present && arrays_[i].dtype != dt)
    throw type(arg(i) + " expected " + dtype_name(dt) + " elements but got " + dtype_name(arrays_[i].dtype));
}

void Call::expect_length(size_t i, int64_t length) const {
  if (arrays_[i].present && arrays_[i].length != length)
    throw range(arg(i) + " expected " + std::to_string(length) + " elements but got " + std::to_string(arrays_[i].length));
}

int64_t Call::mul(int64_t a, int64_t b, const char* what) const {
  if (a < 0 || b < 0) throw range(std::string(what) + " is negative");
  if (a != 0 && b > kMaxSafe / a) throw range(std::string(what) + " is too large (more than 2^53 elements)");
  return a * b;
}

int64_t Call::product(const std::vector<int64_t>& dims, const char* what) const {
  int64_t p = 1;
  for (int64_t d : dims) p = mul(p, d, what);
  return p;
}

void Call::check_strided_extent(size_t i, int64_t offset, const std::vector<int64_t>& shape,
                                const std::vector<int64_t>& strides) const {
  for (int64_t d : shape)
    if (d == 0) return;  // nothing is touched
  int64_t last = offset;
  for (size_t k = 0; k < shape.size(); ++k) {
    const int64_t step = mul(shape[k] - 1, strides[k], "strided extent");
    if (step > kMaxSafe - last) throw range("strided extent is too large");
    last += step;
  }
  if (last >= arrays_[i].length)
    throw range(arg(i) + " has " + std::to_string(arrays_[i].length) + " elements but the strides reach element " +
                std::to_string(last));
}

void Call::check(int status) const {
  if (status == NS_OK) return;
  const ns_kernels* k = backend_of(device_);
  const std::string detail = k ? k->device->last_error() : "";
  const std::string message = std::string(entry_) + ": " + detail;
  switch (status) {
    case NS_ERR_INDEX: throw Napi::RangeError::New(env(), message);
    case NS_ERR_UNSUPPORTED:
      throw type(std::string("backend '") + device_name(device_) + "' does not support these arguments" +
                 (detail.empty() || detail == "no error" ? "" : " (" + detail + ")"));
    case NS_ERR_DEVICE_OOM:
    case NS_ERR_DEVICE: {
      Napi::Error e = Napi::Error::New(env(), message);
      e.Set("code", status == NS_ERR_DEVICE_OOM ? "ERR_CUDA_OOM" : "ERR_CUDA");
      throw e;
    }
    default: throw Napi::Error::New(env(), std::string(entry_) + ": out of memory" + (detail.empty() ? "" : " (" + detail + ")"));
  }
}

}  // namespace ns
