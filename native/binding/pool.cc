// Entry points of the pool family: maxPool2d, maxPool2dBackward, avgPool2d, avgPool2dBackward.
#include <climits>

#include "entries.h"
#include "geometry.h"

namespace ns {

ns_pool2d_desc pool_desc(const Call& c, size_t i) {
  const std::vector<int64_t>& v = c.ints(i);
  ns_pool2d_desc d{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], 0, 0};
  const char* names[] = {"n", "c", "h", "w", "kh", "kw", "strideH", "strideW"};
  for (int k = 0; k < 8; ++k)
    if (v[k] < 1) throw c.range(std::string("dims.") + names[k] + " expected at least 1 but got " + std::to_string(v[k]));
  if (v[10] > 1) throw c.range("dims.ceilMode expected 0 or 1");
  if (2 * d.pad_h > d.kh || 2 * d.pad_w > d.kw) throw c.range("padding expected at most half the kernel size");
  auto out = [&](int64_t in, int64_t k, int64_t s, int64_t p) {
    const int64_t span = in + 2 * p - k;
    if (span < 0) throw c.range("kernel is larger than the padded input");
    int64_t o = (v[10] ? (span + s - 1) / s : span / s) + 1;
    if (v[10] && (o - 1) * s >= in + p) --o;  // the last window must start inside the input or left padding
    return o;
  };
  d.ho = out(d.h, d.kh, d.stride_h, d.pad_h);
  d.wo = out(d.w, d.kw, d.stride_w, d.pad_w);
  c.mul(c.mul(c.mul(d.n, d.c, "input size"), d.h, "input size"), d.w, "input size");
  if (d.h * d.w > INT32_MAX) throw c.range("a plane of more than 2^31 elements is not supported");
  return d;
}

// maxPool2d(dims, x, y, argmax)
Napi::Value entry_maxPool2d(const Call& c) {
  const ns_pool2d_desc d = pool_desc(c, 0);
  const ns_dtype dt = c.same_dtype({1, 2});
  const int64_t out = d.n * d.c * d.ho * d.wo;
  c.expect_length(1, d.n * d.c * d.h * d.w);
  c.expect_length(2, out);
  c.expect_length(3, out);
  c.check(c.kernel(&ns_kernels::max_pool2d, "maxPool2d")(dt, &d, c.array(1).data, c.array(2).data,
                                                         static_cast<int32_t*>(c.array(3).data)));
  return c.env().Undefined();
}

// maxPool2dBackward(dims, dy, argmax, dx). Host indices are checked here; a device kernel gathers dx over the
// windows of each element, so an index out of range can only select nothing.
Napi::Value entry_maxPool2dBackward(const Call& c) {
  const ns_pool2d_desc d = pool_desc(c, 0);
  const ns_dtype dt = c.same_dtype({1, 3});
  const int64_t out = d.n * d.c * d.ho * d.wo;
  c.expect_length(1, out);
  c.expect_length(2, out);
  c.expect_length(3, d.n * d.c * d.h * d.w);
  const int32_t* p = static_cast<const int32_t*>(c.array(2).data);
  if (c.device() == NS_CPU)
    for (int64_t j = 0; j < out; ++j)
      if (p[j] < 0 || p[j] >= d.h * d.w)
        throw c.range("argument 'argmax' expected indices in [0, " + std::to_string(d.h * d.w) + ") but got " +
                      std::to_string(p[j]) + " at " + std::to_string(j));
  c.check(c.kernel(&ns_kernels::max_pool2d_backward, "maxPool2dBackward")(dt, &d, c.array(1).data, p, c.array(3).data));
  return c.env().Undefined();
}

// avgPool2d(dims, countIncludePad, x, y)
Napi::Value entry_avgPool2d(const Call& c) {
  const ns_pool2d_desc d = pool_desc(c, 0);
  const ns_dtype dt = c.same_dtype({2, 3});
  c.expect_length(2, d.n * d.c * d.h * d.w);
  c.expect_length(3, d.n * d.c * d.ho * d.wo);
  c.check(c.kernel(&ns_kernels::avg_pool2d, "avgPool2d")(dt, &d, static_cast<int>(c.integer(1)), c.array(2).data,
                                                         c.array(3).data));
  return c.env().Undefined();
}

// avgPool2dBackward(dims, countIncludePad, dy, dx)
Napi::Value entry_avgPool2dBackward(const Call& c) {
  const ns_pool2d_desc d = pool_desc(c, 0);
  const ns_dtype dt = c.same_dtype({2, 3});
  c.expect_length(2, d.n * d.c * d.ho * d.wo);
  c.expect_length(3, d.n * d.c * d.h * d.w);
  c.check(c.kernel(&ns_kernels::avg_pool2d_backward, "avgPool2dBackward")(dt, &d, static_cast<int>(c.integer(1)),
                                                                          c.array(2).data, c.array(3).data));
  return c.env().Undefined();
}

}  // namespace ns
