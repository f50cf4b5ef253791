// The N-API binding: one JavaScript function per kernel of native/kernels.h. Each checks every
// argument again (lib/ops/ has checked them once, with friendlier messages) so that nothing a caller
// passes can crash the process: types, element types, exact lengths, index ranges, size overflow.
#include <napi.h>

#include <string>
#include <vector>

#include "args.h"
#include "kernels.h"
#ifdef NS_WITH_CUDA
#include "cuda_backend.h"
#endif

namespace ns {
namespace {

constexpr int64_t kMaxDim = kMaxSafe;

// Same dtype for every present array; returns it. Kernels that take floats reject int32.
ns_dtype common_float_dtype(const Args& args, std::initializer_list<std::pair<const char*, const Array*>> arrays) {
  const Array* first = nullptr;
  const char* first_name = nullptr;
  for (auto& [name, a] : arrays) {
    if (!a->present) continue;
    args.expect_float(*a, name);
    if (!first) {
      first = a;
      first_name = name;
    } else if (a->dtype != first->dtype) {
      throw args.type(std::string("argument '") + name + "' has " + dtype_name(a->dtype) + " elements but '" +
                      first_name + "' has " + dtype_name(first->dtype));
    }
  }
  return first ? first->dtype : NS_FLOAT32;
}

void same_length(const Args& args, const Array& a, const char* a_name, const Array& b, const char* b_name) {
  if (a.length != b.length)
    throw args.range(std::string("argument '") + b_name + "' expected " + std::to_string(a.length) +
                     " elements (as many as '" + a_name + "') but got " + std::to_string(b.length));
}

// Largest element index reached by a strided walk over `shape`, checked against the array length.
void check_strided_extent(const Args& args, const char* name, const Array& a, int64_t offset,
                          const std::vector<int64_t>& shape, const std::vector<int64_t>& strides) {
  for (int64_t d : shape)
    if (d == 0) return;  // nothing is touched
  int64_t last = offset;
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t step = args.mul(shape[i] - 1, strides[i], "strided extent");
    if (step > kMaxSafe - last) throw args.range("strided extent is too large");
    last += step;
  }
  if (last >= a.length)
    throw args.range(std::string("argument '") + name + "' has " + std::to_string(a.length) +
                     " elements but the strides reach element " + std::to_string(last));
}

Napi::Value RuntimeInfo(const Napi::CallbackInfo& info) {
  Args args(info, "runtimeInfo", 0);
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("threads", ns_cpu_num_threads());
  o.Set("isa", ns_cpu_isa());
  o.Set("workspaceCachedBytes", static_cast<double>(ns_cpu_workspace_cached_bytes()));
  o.Set("workspaceInUseBytes", static_cast<double>(ns_cpu_workspace_in_use_bytes()));
#ifdef NS_WITH_CUDA
  char name[256] = {0};
  char reason[512] = {0};
  int devices = ns_cuda_device_query(name, sizeof name, reason, sizeof reason);
  o.Set("cudaCompiled", true);
  o.Set("cudaDevices", devices);
  if (devices > 0) o.Set("cudaDevice", name);
  o.Set("cudaReason", reason);
#else
  o.Set("cudaCompiled", false);
  o.Set("cudaDevices", 0);
  o.Set("cudaReason", "this binary was built without CUDA kernels (the CPU-only binding.gyp build)");
#endif
  return o;
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  Args args(info, "setNumThreads", 1);
  ns_cpu_set_num_threads(static_cast<int>(args.integer(0, "threads", 1, 1024)));
  return info.Env().Undefined();
}

// workspacePeak(reset): most scratch bytes in use at once since the last reset.
Napi::Value WorkspacePeak(const Napi::CallbackInfo& info) {
  Args args(info, "workspacePeak", 1);
  int reset = static_cast<int>(args.integer(0, "reset", 0, 1));
  return Napi::Number::New(info.Env(), static_cast<double>(ns_cpu_workspace_peak_bytes(reset)));
}

// Argument 0 as a live ArrayBuffer.
Napi::ArrayBuffer array_buffer_arg(const Args& args, const Napi::CallbackInfo& info) {
  if (!info[0].IsArrayBuffer()) throw args.type("argument 'buffer' expected an ArrayBuffer");
  Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
  if (buffer.IsDetached()) throw args.type("argument 'buffer' is detached");
  return buffer;
}

// cacheLineOffset(buffer): the bytes from the start of an ArrayBuffer to its first 64-byte boundary
// (tensors' storages start there, so that vectors of 16 floats never straddle two cache lines).
Napi::Value CacheLineOffset(const Napi::CallbackInfo& info) {
  Args args(info, "cacheLineOffset", 1);
  const auto address = reinterpret_cast<uintptr_t>(array_buffer_arg(args, info).Data());
  return Napi::Number::New(info.Env(), static_cast<double>((64 - address % 64) % 64));
}

// adviseHugePages(buffer): ns_cpu_advise_huge_pages over an ArrayBuffer not yet touched, so that its first
// touch is faster. Returns the bytes advised.
Napi::Value AdviseHugePages(const Napi::CallbackInfo& info) {
  Args args(info, "adviseHugePages", 1);
  Napi::ArrayBuffer buffer = array_buffer_arg(args, info);
  const size_t advised = ns_cpu_advise_huge_pages(buffer.Data(), buffer.ByteLength());
  return Napi::Number::New(info.Env(), static_cast<double>(advised));
}

Napi::Value WorkspaceTrim(const Napi::CallbackInfo& info) {
  Args args(info, "workspaceTrim", 0);
  ns_cpu_workspace_trim();
  return info.Env().Undefined();
}

// unary(op, x, y, alpha)
Napi::Value Unary(const Napi::CallbackInfo& info) {
  Args args(info, "unary", 4);
  int op = static_cast<int>(args.integer(0, "op", 0, NS_UNARY_COUNT - 1));
  Array x = args.array(1, "x"), y = args.array(2, "y");
  ns_dtype dt = common_float_dtype(args, {{"x", &x}, {"y", &y}});
  same_length(args, x, "x", y, "y");
  double alpha = args.number(3, "alpha");
  check_status(args, ns_cpu_unary(dt, op, x.length, x.data, y.data, alpha));
  return info.Env().Undefined();
}

// unaryBackward(op, x, y, dy, dx, alpha)
Napi::Value UnaryBackward(const Napi::CallbackInfo& info) {
  Args args(info, "unaryBackward", 6);
  int op = static_cast<int>(args.integer(0, "op", 0, NS_UNARY_COUNT - 1));
  Array x = args.array(1, "x"), y = args.array(2, "y"), dy = args.array(3, "dy"), dx = args.array(4, "dx");
  ns_dtype dt = common_float_dtype(args, {{"x", &x}, {"y", &y}, {"dy", &dy}, {"dx", &dx}});
  same_length(args, x, "x", y, "y");
  same_length(args, x, "x", dy, "dy");
  same_length(args, x, "x", dx, "dx");
  double alpha = args.number(5, "alpha");
  check_status(args, ns_cpu_unary_backward(dt, op, x.length, x.data, y.data, dy.data, dx.data, alpha));
  return info.Env().Undefined();
}

// binary(op, shape, strideA, strideB, a, b, out)
Napi::Value Binary(const Napi::CallbackInfo& info) {
  Args args(info, "binary", 7);
  int op = static_cast<int>(args.integer(0, "op", 0, NS_BINARY_COUNT - 1));
  std::vector<int64_t> shape = args.integers(1, "shape", -1, 0, kMaxDim);
  std::vector<int64_t> sa = args.integers(2, "strideA", static_cast<int>(shape.size()), 0, kMaxDim);
  std::vector<int64_t> sb = args.integers(3, "strideB", static_cast<int>(shape.size()), 0, kMaxDim);
  Array a = args.array(4, "a"), b = args.array(5, "b"), out = args.array(6, "out");
  args.expect_dtype(b, "b", a.dtype);
  args.expect_dtype(out, "out", a.dtype);
  if (a.dtype == NS_INT32 && (op == NS_BINARY_DIV || op == NS_BINARY_POW))
    throw args.type("division and power expected float32 or float64 elements but got int32");
  args.expect_length(out, "out", args.product(shape, "shape"));
  check_strided_extent(args, "a", a, 0, shape, sa);
  check_strided_extent(args, "b", b, 0, shape, sb);
  check_status(args, ns_cpu_binary(a.dtype, op, static_cast<int>(shape.size()), shape.data(), sa.data(), sb.data(),
                                   a.data, b.data, out.data));
  return info.Env().Undefined();
}

// copy(shape, src, srcOffset, srcStrides, dst, dstOffset, dstStrides)
Napi::Value Copy(const Napi::CallbackInfo& info) {
  Args args(info, "copy", 7);
  // The integer lists first: reading a JavaScript array can run code (a getter) that detaches a buffer,
  // so no typed array may be taken before them.
  std::vector<int64_t> shape = args.integers(0, "shape", -1, 0, kMaxDim);
  std::vector<int64_t> ss = args.integers(3, "srcStrides", static_cast<int>(shape.size()), 0, kMaxDim);
  std::vector<int64_t> ds = args.integers(6, "dstStrides", static_cast<int>(shape.size()), 0, kMaxDim);
  Array src = args.array(1, "src");
  int64_t src_offset = args.integer(2, "srcOffset", 0, kMaxSafe);
  Array dst = args.array(4, "dst");
  int64_t dst_offset = args.integer(5, "dstOffset", 0, kMaxSafe);
  args.expect_dtype(dst, "dst", src.dtype);
  args.product(shape, "shape");
  check_strided_extent(args, "src", src, src_offset, shape, ss);
  check_strided_extent(args, "dst", dst, dst_offset, shape, ds);
  check_status(args, ns_cpu_copy(src.dtype, static_cast<int>(shape.size()), shape.data(), src.data, src_offset,
                                 ss.data(), dst.data, dst_offset, ds.data()));
  return info.Env().Undefined();
}

// cast(src, dst)
Napi::Value Cast(const Napi::CallbackInfo& info) {
  Args args(info, "cast", 2);
  Array src = args.array(0, "src"), dst = args.array(1, "dst");
  same_length(args, src, "src", dst, "dst");
  check_status(args, ns_cpu_cast(src.dtype, dst.dtype, src.length, src.data, dst.data));
  return info.Env().Undefined();
}

// reduce(op, outer, r, inner, x, y, scale)
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  Args args(info, "reduce", 7);
  int op = static_cast<int>(args.integer(0, "op", 0, NS_REDUCE_COUNT - 1));
  int64_t outer = args.integer(1, "outer", 0, kMaxDim);
  int64_t r = args.integer(2, "r", op == NS_REDUCE_SUM ? 0 : 1, kMaxDim);
  int64_t inner = args.integer(3, "inner", 0, kMaxDim);
  Array x = args.array(4, "x"), y = args.array(5, "y");
  args.expect_dtype(y, "y", x.dtype);
  args.expect_length(x, "x", args.mul(args.mul(outer, r, "size"), inner, "size"));
  args.expect_length(y, "y", args.mul(outer, inner, "size"));
  double scale = args.number(6, "scale");
  check_status(args, ns_cpu_reduce(x.dtype, op, outer, r, inner, x.data, y.data, scale));
  return info.Env().Undefined();
}

// argmax(outer, r, inner, x, out)
Napi::Value Argmax(const Napi::CallbackInfo& info) {
  Args args(info, "argmax", 5);
  int64_t outer = args.integer(0, "outer", 0, kMaxDim);
  int64_t r = args.integer(1, "r", 1, INT32_MAX);
  int64_t inner = args.integer(2, "inner", 0, kMaxDim);
  Array x = args.array(3, "x");
  args.expect_length(x, "x", args.mul(args.mul(outer, r, "size"), inner, "size"));
  Array out = args.int32s(4, "out", args.mul(outer, inner, "size"));
  check_status(args, ns_cpu_argmax(x.dtype, outer, r, inner, x.data, static_cast<int32_t*>(out.data)));
  return info.Env().Undefined();
}

// softmax(isLog, outer, dim, inner, x, y)
Napi::Value Softmax(const Napi::CallbackInfo& info) {
  Args args(info, "softmax", 6);
  int is_log = static_cast<int>(args.integer(0, "isLog", 0, 1));
  int64_t outer = args.integer(1, "outer", 0, kMaxDim);
  int64_t dim = args.integer(2, "dim", 1, kMaxDim);
  int64_t inner = args.integer(3, "inner", 0, kMaxDim);
  int64_t size = args.mul(args.mul(outer, dim, "size"), inner, "size");
  Array x = args.array(4, "x"), y = args.array(5, "y");
  ns_dtype dt = common_float_dtype(args, {{"x", &x}, {"y", &y}});
  args.expect_length(x, "x", size);
  args.expect_length(y, "y", size);
  check_status(args, ns_cpu_softmax(dt, is_log, outer, dim, inner, x.data, y.data));
  return info.Env().Undefined();
}

// softmaxBackward(isLog, outer, dim, inner, y, dy, dx)
Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info) {
  Args args(info, "softmaxBackward", 7);
  int is_log = static_cast<int>(args.integer(0, "isLog", 0, 1));
  int64_t outer = args.integer(1, "outer", 0, kMaxDim);
  int64_t dim = args.integer(2, "dim", 1, kMaxDim);
  int64_t inner = args.integer(3, "inner", 0, kMaxDim);
  int64_t size = args.mul(args.mul(outer, dim, "size"), inner, "size");
  Array y = args.array(4, "y"), dy = args.array(5, "dy"), dx = args.array(6, "dx");
  ns_dtype dt = common_float_dtype(args, {{"y", &y}, {"dy", &dy}, {"dx", &dx}});
  args.expect_length(y, "y", size);
  args.expect_length(dy, "dy", size);
  args.expect_length(dx, "dx", size);
  check_status(args, ns_cpu_softmax_backward(dt, is_log, outer, dim, inner, y.data, dy.data, dx.data));
  return info.Env().Undefined();
}

// matmul(batch, m, n, k, a, aBs, aRs, aCs, b, bBs, bRs, bCs, c, accumulate)
Napi::Value Matmul(const Napi::CallbackInfo& info) {
  Args args(info, "matmul", 14);
  int64_t batch = args.integer(0, "batch", 0, kMaxDim);
  int64_t m = args.integer(1, "m", 0, kMaxDim);
  int64_t n = args.integer(2, "n", 0, kMaxDim);
  int64_t k = args.integer(3, "k", 0, kMaxDim);
  Array a = args.array(4, "a");
  int64_t a_bs = args.integer(5, "aBatchStride", 0, kMaxDim), a_rs = args.integer(6, "aRowStride", 0, kMaxDim),
          a_cs = args.integer(7, "aColStride", 0, kMaxDim);
  Array b = args.array(8, "b");
  int64_t b_bs = args.integer(9, "bBatchStride", 0, kMaxDim), b_rs = args.integer(10, "bRowStride", 0, kMaxDim),
          b_cs = args.integer(11, "bColStride", 0, kMaxDim);
  Array c = args.array(12, "c");
  int accumulate = static_cast<int>(args.integer(13, "accumulate", 0, 1));
  ns_dtype dt = common_float_dtype(args, {{"a", &a}, {"b", &b}, {"c", &c}});
  args.expect_length(c, "c", args.mul(args.mul(batch, m, "size"), n, "size"));
  check_strided_extent(args, "a", a, 0, {batch, m, k}, {a_bs, a_rs, a_cs});
  check_strided_extent(args, "b", b, 0, {batch, k, n}, {b_bs, b_rs, b_cs});
  check_status(args, ns_cpu_matmul(dt, batch, m, n, k, a.data, a_bs, a_rs, a_cs, b.data, b_bs, b_rs, b_cs, c.data,
                                   accumulate));
  return info.Env().Undefined();
}

// dims = [n, c, h, w, f, kh, kw, groups, strideH, strideW, padH, padW, dilH, dilW]
ns_conv2d_desc conv_desc(const Args& args, size_t i) {
  std::vector<int64_t> v = args.integers(i, "dims", 14, 0, kMaxDim);
  ns_conv2d_desc d{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], 0, 0};
  const char* names[] = {"n", "c", "h", "w", "f", "kh", "kw", "groups", "strideH", "strideW"};
  for (int k = 0; k < 10; ++k)
    if (v[k] < 1) throw args.range(std::string("dims.") + names[k] + " expected at least 1 but got " + std::to_string(v[k]));
  if (d.dil_h < 1 || d.dil_w < 1) throw args.range("dilation expected at least 1");
  if (d.c % d.groups || d.f % d.groups)
    throw args.range("groups (" + std::to_string(d.groups) + ") expected to divide channels (" + std::to_string(d.c) +
                     ") and filters (" + std::to_string(d.f) + ")");
  int64_t eff_h = args.mul(d.dil_h, d.kh - 1, "kernel extent") + 1;
  int64_t eff_w = args.mul(d.dil_w, d.kw - 1, "kernel extent") + 1;
  int64_t in_h = d.h + 2 * d.pad_h, in_w = d.w + 2 * d.pad_w;
  if (in_h < eff_h || in_w < eff_w) throw args.range("kernel extent is larger than the padded input");
  d.ho = (in_h - eff_h) / d.stride_h + 1;
  d.wo = (in_w - eff_w) / d.stride_w + 1;
  args.mul(args.mul(args.mul(d.n, d.c, "input size"), d.h, "input size"), d.w, "input size");
  args.mul(args.mul(args.mul(d.n, d.f, "output size"), d.ho, "output size"), d.wo, "output size");
  return d;
}

int64_t conv_x_size(const ns_conv2d_desc& d) { return d.n * d.c * d.h * d.w; }
int64_t conv_y_size(const ns_conv2d_desc& d) { return d.n * d.f * d.ho * d.wo; }
int64_t conv_w_size(const Args& args, const ns_conv2d_desc& d) {
  return args.mul(args.mul(args.mul(d.f, d.c / d.groups, "weight size"), d.kh, "weight size"), d.kw, "weight size");
}

// conv2dForward(dims, x, w, bias, y)
Napi::Value Conv2dForward(const Napi::CallbackInfo& info) {
  Args args(info, "conv2dForward", 5);
  ns_conv2d_desc d = conv_desc(args, 0);
  Array x = args.array(1, "x"), w = args.array(2, "w"), bias = args.array(3, "bias", true), y = args.array(4, "y");
  ns_dtype dt = common_float_dtype(args, {{"x", &x}, {"w", &w}, {"bias", &bias}, {"y", &y}});
  args.expect_length(x, "x", conv_x_size(d));
  args.expect_length(w, "w", conv_w_size(args, d));
  if (bias.present) args.expect_length(bias, "bias", d.f);
  args.expect_length(y, "y", conv_y_size(d));
  check_status(args, ns_cpu_conv2d_forward(dt, &d, x.data, w.data, bias.present ? bias.data : nullptr, y.data));
  return info.Env().Undefined();
}

// conv2dBackwardInput(dims, dy, w, dx)
Napi::Value Conv2dBackwardInput(const Napi::CallbackInfo& info) {
  Args args(info, "conv2dBackwardInput", 4);
  ns_conv2d_desc d = conv_desc(args, 0);
  Array dy = args.array(1, "dy"), w = args.array(2, "w"), dx = args.array(3, "dx");
  ns_dtype dt = common_float_dtype(args, {{"dy", &dy}, {"w", &w}, {"dx", &dx}});
  args.expect_length(dy, "dy", conv_y_size(d));
  args.expect_length(w, "w", conv_w_size(args, d));
  args.expect_length(dx, "dx", conv_x_size(d));
  check_status(args, ns_cpu_conv2d_backward_input(dt, &d, dy.data, w.data, dx.data));
  return info.Env().Undefined();
}

// conv2dBackwardWeight(dims, x, dy, dw, dbias)
Napi::Value Conv2dBackwardWeight(const Napi::CallbackInfo& info) {
  Args args(info, "conv2dBackwardWeight", 5);
  ns_conv2d_desc d = conv_desc(args, 0);
  Array x = args.array(1, "x"), dy = args.array(2, "dy"), dw = args.array(3, "dw"), db = args.array(4, "dbias", true);
  ns_dtype dt = common_float_dtype(args, {{"x", &x}, {"dy", &dy}, {"dw", &dw}, {"dbias", &db}});
  args.expect_length(x, "x", conv_x_size(d));
  args.expect_length(dy, "dy", conv_y_size(d));
  args.expect_length(dw, "dw", conv_w_size(args, d));
  if (db.present) args.expect_length(db, "dbias", d.f);
  check_status(args, ns_cpu_conv2d_backward_weight(dt, &d, x.data, dy.data, dw.data, db.present ? db.data : nullptr));
  return info.Env().Undefined();
}

// similarityFold(spatial, rows, k, w, m, out)
Napi::Value SimilarityFold(const Napi::CallbackInfo& info) {
  Args args(info, "similarityFold", 6);
  int spatial = static_cast<int>(args.integer(0, "spatial", 0, 1));
  int64_t rows = args.integer(1, "rows", 0, kMaxDim), k = args.integer(2, "k", 1, 4096);
  Array w = args.array(3, "w"), m = args.array(4, "m"), out = args.array(5, "out");
  ns_dtype dt = common_float_dtype(args, {{"w", &w}, {"m", &m}, {"out", &out}});
  args.expect_length(w, "w", args.mul(rows, k, "w size"));
  args.expect_length(m, "m", spatial ? k * k : k);
  args.expect_length(out, "out", w.length);
  check_status(args, ns_cpu_similarity_fold(dt, spatial, rows, k, w.data, m.data, out.data));
  return info.Env().Undefined();
}

// similarityStaticBackwardWeight(dims, spatial, x, dy, w, m, dw, dm, dbias): the weight gradients of
// conv2d(x, fold(w, m)); outputs may be null.
Napi::Value SimilarityStaticBackwardWeight(const Napi::CallbackInfo& info) {
  Args args(info, "similarityStaticBackwardWeight", 9);
  ns_conv2d_desc d = conv_desc(args, 0);
  if (d.groups != 1) throw args.range("groups expected 1 but got " + std::to_string(d.groups));
  int spatial = static_cast<int>(args.integer(1, "spatial", 0, 1));
  Array x = args.array(2, "x"), dy = args.array(3, "dy"), w = args.array(4, "w"), m = args.array(5, "m"),
        dw = args.array(6, "dw", true), dm = args.array(7, "dm", true), db = args.array(8, "dbias", true);
  ns_dtype dt = common_float_dtype(args, {{"x", &x}, {"dy", &dy}, {"w", &w}, {"m", &m}, {"dw", &dw}, {"dm", &dm},
                                          {"dbias", &db}});
  const int64_t taps = d.kh * d.kw;
  args.expect_length(x, "x", conv_x_size(d));
  args.expect_length(dy, "dy", conv_y_size(d));
  args.expect_length(w, "w", conv_w_size(args, d));
  args.expect_length(m, "m", spatial ? args.mul(taps, taps, "m size") : taps);
  if (dw.present) args.expect_length(dw, "dw", w.length);
  if (dm.present) args.expect_length(dm, "dm", m.length);
  if (db.present) args.expect_length(db, "dbias", d.f);
  check_status(args, ns_cpu_similarity_static_backward_weight(dt, &d, spatial, x.data, dy.data, w.data, m.data,
                                                              dw.present ? dw.data : nullptr,
                                                              dm.present ? dm.data : nullptr,
                                                              db.present ? db.data : nullptr));
  return info.Env().Undefined();
}

// The similarity matrix m of a dynamic form: [n, K, ho, wo] (diagonal) or [n, K·K, ho, wo] (spatial).
int64_t similarity_m_size(const Args& args, const ns_conv2d_desc& d, int spatial) {
  if (d.groups != 1) throw args.range("groups expected 1 but got " + std::to_string(d.groups));
  const int64_t taps = d.kh * d.kw;
  return args.mul(args.mul(args.mul(d.n, spatial ? args.mul(taps, taps, "m size") : taps, "m size"), d.ho, "m size"),
                  d.wo, "m size");
}

// similarityConv2dForward(dims, spatial, x, w, m, bias, y)
Napi::Value SimilarityConv2dForward(const Napi::CallbackInfo& info) {
  Args args(info, "similarityConv2dForward", 7);
  ns_conv2d_desc d = conv_desc(args, 0);
  int spatial = static_cast<int>(args.integer(1, "spatial", 0, 1));
  Array x = args.array(2, "x"), w = args.array(3, "w"), m = args.array(4, "m"), bias = args.array(5, "bias", true),
        y = args.array(6, "y");
  ns_dtype dt = common_float_dtype(args, {{"x", &x}, {"w", &w}, {"m", &m}, {"bias", &bias}, {"y", &y}});
  args.expect_length(x, "x", conv_x_size(d));
  args.expect_length(w, "w", conv_w_size(args, d));
  args.expect_length(m, "m", similarity_m_size(args, d, spatial));
  if (bias.present) args.expect_length(bias, "bias", d.f);
  args.expect_length(y, "y", conv_y_size(d));
  check_status(args, ns_cpu_similarity_conv2d_forward(dt, &d, spatial, x.data, w.data, m.data,
                                                      bias.present ? bias.data : nullptr, y.data));
  return info.Env().Undefined();
}

// similarityConv2dBackward(dims, spatial, x, w, m, dy, dx, dw, dm, dbias): outputs may be null.
Napi::Value SimilarityConv2dBackward(const Napi::CallbackInfo& info) {
  Args args(info, "similarityConv2dBackward", 10);
  ns_conv2d_desc d = conv_desc(args, 0);
  int spatial = static_cast<int>(args.integer(1, "spatial", 0, 1));
  Array x = args.array(2, "x"), w = args.array(3, "w"), m = args.array(4, "m"), dy = args.array(5, "dy"),
        dx = args.array(6, "dx", true), dw = args.array(7, "dw", true), dm = args.array(8, "dm", true),
        db = args.array(9, "dbias", true);
  ns_dtype dt = common_float_dtype(args, {{"x", &x}, {"w", &w}, {"m", &m}, {"dy", &dy}, {"dx", &dx}, {"dw", &dw},
                                          {"dm", &dm}, {"dbias", &db}});
  const int64_t m_size = similarity_m_size(args, d, spatial);
  args.expect_length(x, "x", conv_x_size(d));
  args.expect_length(w, "w", conv_w_size(args, d));
  args.expect_length(m, "m", m_size);
  args.expect_length(dy, "dy", conv_y_size(d));
  if (dx.present) args.expect_length(dx, "dx", conv_x_size(d));
  if (dw.present) args.expect_length(dw, "dw", conv_w_size(args, d));
  if (dm.present) args.expect_length(dm, "dm", m_size);
  if (db.present) args.expect_length(db, "dbias", d.f);
  check_status(args, ns_cpu_similarity_conv2d_backward(dt, &d, spatial, x.data, w.data, m.data, dy.data,
                                                       dx.present ? dx.data : nullptr, dw.present ? dw.data : nullptr,
                                                       dm.present ? dm.data : nullptr, db.present ? db.data : nullptr));
  return info.Env().Undefined();
}

// dims = [n, c, h, w, kh, kw, strideH, strideW, padH, padW, ceilMode]
ns_pool2d_desc pool_desc(const Args& args, size_t i) {
  std::vector<int64_t> v = args.integers(i, "dims", 11, 0, kMaxDim);
  ns_pool2d_desc d{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], 0, 0};
  const char* names[] = {"n", "c", "h", "w", "kh", "kw", "strideH", "strideW"};
  for (int k = 0; k < 8; ++k)
    if (v[k] < 1) throw args.range(std::string("dims.") + names[k] + " expected at least 1 but got " + std::to_string(v[k]));
  if (v[10] > 1) throw args.range("dims.ceilMode expected 0 or 1");
  if (2 * d.pad_h > d.kh || 2 * d.pad_w > d.kw) throw args.range("padding expected at most half the kernel size");
  auto out = [&](int64_t in, int64_t k, int64_t s, int64_t p) {
    int64_t span = in + 2 * p - k;
    if (span < 0) throw args.range("kernel is larger than the padded input");
    int64_t o = (v[10] ? (span + s - 1) / s : span / s) + 1;
    if (v[10] && (o - 1) * s >= in + p) --o;  // the last window must start inside the input or left padding
    return o;
  };
  d.ho = out(d.h, d.kh, d.stride_h, d.pad_h);
  d.wo = out(d.w, d.kw, d.stride_w, d.pad_w);
  args.mul(args.mul(args.mul(d.n, d.c, "input size"), d.h, "input size"), d.w, "input size");
  if (d.h * d.w > INT32_MAX) throw args.range("a plane of more than 2^31 elements is not supported");
  return d;
}

// maxPool2d(dims, x, y, argmax)
Napi::Value MaxPool2d(const Napi::CallbackInfo& info) {
  Args args(info, "maxPool2d", 4);
  ns_pool2d_desc d = pool_desc(args, 0);
  Array x = args.array(1, "x"), y = args.array(2, "y");
  ns_dtype dt = common_float_dtype(args, {{"x", &x}, {"y", &y}});
  int64_t out = d.n * d.c * d.ho * d.wo;
  args.expect_length(x, "x", d.n * d.c * d.h * d.w);
  args.expect_length(y, "y", out);
  Array idx = args.int32s(3, "argmax", out);
  check_status(args, ns_cpu_max_pool2d(dt, &d, x.data, y.data, static_cast<int32_t*>(idx.data)));
  return info.Env().Undefined();
}

// maxPool2dBackward(dims, dy, argmax, dx)
Napi::Value MaxPool2dBackward(const Napi::CallbackInfo& info) {
  Args args(info, "maxPool2dBackward", 4);
  ns_pool2d_desc d = pool_desc(args, 0);
  Array dy = args.array(1, "dy"), dx = args.array(3, "dx");
  ns_dtype dt = common_float_dtype(args, {{"dy", &dy}, {"dx", &dx}});
  int64_t out = d.n * d.c * d.ho * d.wo;
  args.expect_length(dy, "dy", out);
  args.expect_length(dx, "dx", d.n * d.c * d.h * d.w);
  Array idx = args.int32s(2, "argmax", out);
  const int32_t* p = static_cast<const int32_t*>(idx.data);
  for (int64_t j = 0; j < out; ++j)
    if (p[j] < 0 || p[j] >= d.h * d.w)
      throw args.range("argument 'argmax' expected indices in [0, " + std::to_string(d.h * d.w) + ") but got " +
                       std::to_string(p[j]) + " at " + std::to_string(j));
  check_status(args, ns_cpu_max_pool2d_backward(dt, &d, dy.data, p, dx.data));
  return info.Env().Undefined();
}

// avgPool2d(dims, countIncludePad, x, y)
Napi::Value AvgPool2d(const Napi::CallbackInfo& info) {
  Args args(info, "avgPool2d", 4);
  ns_pool2d_desc d = pool_desc(args, 0);
  int include_pad = static_cast<int>(args.integer(1, "countIncludePad", 0, 1));
  Array x = args.array(2, "x"), y = args.array(3, "y");
  ns_dtype dt = common_float_dtype(args, {{"x", &x}, {"y", &y}});
  args.expect_length(x, "x", d.n * d.c * d.h * d.w);
  args.expect_length(y, "y", d.n * d.c * d.ho * d.wo);
  check_status(args, ns_cpu_avg_pool2d(dt, &d, include_pad, x.data, y.data));
  return info.Env().Undefined();
}

// avgPool2dBackward(dims, countIncludePad, dy, dx)
Napi::Value AvgPool2dBackward(const Napi::CallbackInfo& info) {
  Args args(info, "avgPool2dBackward", 4);
  ns_pool2d_desc d = pool_desc(args, 0);
  int include_pad = static_cast<int>(args.integer(1, "countIncludePad", 0, 1));
  Array dy = args.array(2, "dy"), dx = args.array(3, "dx");
  ns_dtype dt = common_float_dtype(args, {{"dy", &dy}, {"dx", &dx}});
  args.expect_length(dy, "dy", d.n * d.c * d.ho * d.wo);
  args.expect_length(dx, "dx", d.n * d.c * d.h * d.w);
  check_status(args, ns_cpu_avg_pool2d_backward(dt, &d, include_pad, dy.data, dx.data));
  return info.Env().Undefined();
}

// batchNormForward(n, c, hw, x, gamma, beta, eps, y, mean, invstd, varUnbiased)
Napi::Value BatchNormForward(const Napi::CallbackInfo& info) {
  Args args(info, "batchNormForward", 11);
  int64_t n = args.integer(0, "n", 1, kMaxDim), c = args.integer(1, "c", 1, kMaxDim), hw = args.integer(2, "hw", 1, kMaxDim);
  int64_t size = args.mul(args.mul(n, c, "size"), hw, "size");
  Array x = args.array(3, "x"), gamma = args.array(4, "gamma", true), beta = args.array(5, "beta", true);
  double eps = args.number(6, "eps");
  if (eps < 0) throw args.range("argument 'eps' expected a non-negative number but got " + std::to_string(eps));
  Array y = args.array(7, "y"), mean = args.array(8, "mean"), invstd = args.array(9, "invstd"),
        var = args.array(10, "varUnbiased");
  ns_dtype dt = common_float_dtype(args, {{"x", &x}, {"gamma", &gamma}, {"beta", &beta}, {"y", &y}, {"mean", &mean},
                                          {"invstd", &invstd}, {"varUnbiased", &var}});
  args.expect_length(x, "x", size);
  args.expect_length(y, "y", size);
  if (gamma.present) args.expect_length(gamma, "gamma", c);
  if (beta.present) args.expect_length(beta, "beta", c);
  args.expect_length(mean, "mean", c);
  args.expect_length(invstd, "invstd", c);
  args.expect_length(var, "varUnbiased", c);
  check_status(args, ns_cpu_batch_norm_forward(dt, n, c, hw, x.data, gamma.present ? gamma.data : nullptr,
                                               beta.present ? beta.data : nullptr, eps, y.data, mean.data,
                                               invstd.data, var.data));
  return info.Env().Undefined();
}

// batchNormBackward(n, c, hw, x, dy, gamma, mean, invstd, dx, dgamma, dbeta)
Napi::Value BatchNormBackward(const Napi::CallbackInfo& info) {
  Args args(info, "batchNormBackward", 11);
  int64_t n = args.integer(0, "n", 1, kMaxDim), c = args.integer(1, "c", 1, kMaxDim), hw = args.integer(2, "hw", 1, kMaxDim);
  int64_t size = args.mul(args.mul(n, c, "size"), hw, "size");
  Array x = args.array(3, "x"), dy = args.array(4, "dy"), gamma = args.array(5, "gamma", true),
        mean = args.array(6, "mean"), invstd = args.array(7, "invstd"), dx = args.array(8, "dx"),
        dgamma = args.array(9, "dgamma", true), dbeta = args.array(10, "dbeta", true);
  ns_dtype dt = common_float_dtype(args, {{"x", &x}, {"dy", &dy}, {"gamma", &gamma}, {"mean", &mean},
                                          {"invstd", &invstd}, {"dx", &dx}, {"dgamma", &dgamma}, {"dbeta", &dbeta}});
  args.expect_length(x, "x", size);
  args.expect_length(dy, "dy", size);
  args.expect_length(dx, "dx", size);
  if (gamma.present) args.expect_length(gamma, "gamma", c);
  args.expect_length(mean, "mean", c);
  args.expect_length(invstd, "invstd", c);
  if (dgamma.present) args.expect_length(dgamma, "dgamma", c);
  if (dbeta.present) args.expect_length(dbeta, "dbeta", c);
  check_status(args, ns_cpu_batch_norm_backward(dt, n, c, hw, x.data, dy.data, gamma.present ? gamma.data : nullptr,
                                                mean.data, invstd.data, dx.data,
                                                dgamma.present ? dgamma.data : nullptr,
                                                dbeta.present ? dbeta.data : nullptr));
  return info.Env().Undefined();
}

// random(kind, seed, offset, a, b, out)
Napi::Value Random(const Napi::CallbackInfo& info) {
  Args args(info, "random", 6);
  int kind = static_cast<int>(args.integer(0, "kind", 0, NS_RANDOM_COUNT - 1));
  uint64_t seed = static_cast<uint64_t>(args.integer(1, "seed", 0, kMaxSafe));
  uint64_t offset = static_cast<uint64_t>(args.integer(2, "offset", 0, kMaxSafe));
  double a = args.number(3, "a"), b = args.number(4, "b");
  Array out = args.array(5, "out");
  args.expect_float(out, "out");
  if (kind == NS_RANDOM_BERNOULLI && !(a >= 0 && a <= 1))
    throw args.range("argument 'a' expected a probability in [0, 1] but got " + std::to_string(a));
  check_status(args, ns_cpu_random(out.dtype, kind, out.length, seed, offset, a, b, out.data));
  return info.Env().Undefined();
}

// sgdStep(param, grad, momentumBuf, lr, momentum, dampening, weightDecay, nesterov, firstStep)
Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  Args args(info, "sgdStep", 9);
  Array p = args.array(0, "param"), g = args.array(1, "grad"), buf = args.array(2, "momentumBuf", true);
  ns_dtype dt = common_float_dtype(args, {{"param", &p}, {"grad", &g}, {"momentumBuf", &buf}});
  same_length(args, p, "param", g, "grad");
  double lr = args.number(3, "lr"), momentum = args.number(4, "momentum"), damp = args.number(5, "dampening"),
         wd = args.number(6, "weightDecay");
  int nesterov = static_cast<int>(args.integer(7, "nesterov", 0, 1));
  int first = static_cast<int>(args.integer(8, "firstStep", 0, 1));
  if (momentum != 0 && !buf.present) throw args.type("argument 'momentumBuf' expected a typed array when momentum is not 0");
  if (buf.present) same_length(args, p, "param", buf, "momentumBuf");
  check_status(args, ns_cpu_sgd_step(dt, p.length, p.data, g.data, buf.present ? buf.data : nullptr, lr, momentum,
                                     damp, wd, nesterov, first));
  return info.Env().Undefined();
}

// adamStep(param, grad, expAvg, expAvgSq, lr, beta1, beta2, eps, weightDecay, decoupled, step)
Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  Args args(info, "adamStep", 11);
  Array p = args.array(0, "param"), g = args.array(1, "grad"), m = args.array(2, "expAvg"), v = args.array(3, "expAvgSq");
  ns_dtype dt = common_float_dtype(args, {{"param", &p}, {"grad", &g}, {"expAvg", &m}, {"expAvgSq", &v}});
  same_length(args, p, "param", g, "grad");
  same_length(args, p, "param", m, "expAvg");
  same_length(args, p, "param", v, "expAvgSq");
  double lr = args.number(4, "lr"), b1 = args.number(5, "beta1"), b2 = args.number(6, "beta2"), eps = args.number(7, "eps"),
         wd = args.number(8, "weightDecay");
  int decoupled = static_cast<int>(args.integer(9, "decoupled", 0, 1));
  int64_t step = args.integer(10, "step", 1, kMaxSafe);
  check_status(args, ns_cpu_adam_step(dt, p.length, p.data, g.data, m.data, v.data, lr, b1, b2, eps, wd, decoupled, step));
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  struct Entry { const char* name; Napi::Value (*fn)(const Napi::CallbackInfo&); };
  const Entry entries[] = {
      {"runtimeInfo", RuntimeInfo},     {"setNumThreads", SetNumThreads},
      {"workspaceTrim", WorkspaceTrim}, {"workspacePeak", WorkspacePeak},
      {"cacheLineOffset", CacheLineOffset}, {"adviseHugePages", AdviseHugePages},
      {"unary", Unary},
      {"unaryBackward", UnaryBackward}, {"binary", Binary},
      {"copy", Copy},                   {"cast", Cast},
      {"reduce", Reduce},               {"argmax", Argmax},
      {"softmax", Softmax},             {"softmaxBackward", SoftmaxBackward},
      {"matmul", Matmul},               {"conv2dForward", Conv2dForward},
      {"conv2dBackwardInput", Conv2dBackwardInput}, {"conv2dBackwardWeight", Conv2dBackwardWeight},
      {"similarityFold", SimilarityFold},
      {"similarityStaticBackwardWeight", SimilarityStaticBackwardWeight},
      {"similarityConv2dForward", SimilarityConv2dForward}, {"similarityConv2dBackward", SimilarityConv2dBackward},
      {"maxPool2d", MaxPool2d},         {"maxPool2dBackward", MaxPool2dBackward},
      {"avgPool2d", AvgPool2d},         {"avgPool2dBackward", AvgPool2dBackward},
      {"batchNormForward", BatchNormForward}, {"batchNormBackward", BatchNormBackward},
      {"random", Random},               {"sgdStep", SgdStep},
      {"adamStep", AdamStep},
  };
  for (const Entry& e : entries) exports.Set(e.name, Napi::Function::New(env, e.fn, e.name));
  return exports;
}

}  // namespace
}  // namespace ns

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return ns::Init(env, exports); }

NODE_API_MODULE(neural_similarity, InitModule)
