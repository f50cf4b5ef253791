// Entry points of the conv family: conv2dForward, conv2dBackwardInput, conv2dBackwardWeight (and the descriptor
// checks of geometry.h).
#include "entries.h"
#include "geometry.h"

namespace ns {

ns_conv2d_desc conv_desc(const Call& c, size_t i) {
  const std::vector<int64_t>& v = c.ints(i);
  ns_conv2d_desc d{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], 0, 0};
  const char* names[] = {"n", "c", "h", "w", "f", "kh", "kw", "groups", "strideH", "strideW"};
  for (int k = 0; k < 10; ++k)
    if (v[k] < 1) throw c.range(std::string("dims.") + names[k] + " expected at least 1 but got " + std::to_string(v[k]));
  if (d.dil_h < 1 || d.dil_w < 1) throw c.range("dilation expected at least 1");
  if (d.c % d.groups || d.f % d.groups)
    throw c.range("groups (" + std::to_string(d.groups) + ") expected to divide channels (" + std::to_string(d.c) +
                  ") and filters (" + std::to_string(d.f) + ")");
  const int64_t eff_h = c.mul(d.dil_h, d.kh - 1, "kernel extent") + 1;
  const int64_t eff_w = c.mul(d.dil_w, d.kw - 1, "kernel extent") + 1;
  const int64_t in_h = d.h + 2 * d.pad_h, in_w = d.w + 2 * d.pad_w;
  if (in_h < eff_h || in_w < eff_w) throw c.range("kernel extent is larger than the padded input");
  d.ho = (in_h - eff_h) / d.stride_h + 1;
  d.wo = (in_w - eff_w) / d.stride_w + 1;
  c.mul(c.mul(c.mul(d.n, d.c, "input size"), d.h, "input size"), d.w, "input size");
  c.mul(c.mul(c.mul(d.n, d.f, "output size"), d.ho, "output size"), d.wo, "output size");
  return d;
}

int64_t conv_w_size(const Call& c, const ns_conv2d_desc& d) {
  return c.mul(c.mul(c.mul(d.f, d.c / d.groups, "weight size"), d.kh, "weight size"), d.kw, "weight size");
}

// conv2dForward(dims, x, w, bias, y)
Napi::Value entry_conv2dForward(const Call& c) {
  const ns_conv2d_desc d = conv_desc(c, 0);
  const ns_dtype dt = c.same_dtype({1, 2, 3, 4});
  c.expect_length(1, conv_x_size(d));
  c.expect_length(2, conv_w_size(c, d));
  c.expect_length(3, d.f);
  c.expect_length(4, conv_y_size(d));
  const Array &x = c.array(1), &w = c.array(2), &bias = c.array(3), &y = c.array(4);
  c.check(c.kernel(&ns_kernels::conv2d_forward, "conv2dForward")(dt, &d, x.data, w.data, bias.present ? bias.data : nullptr,
                                                                 y.data));
  return c.env().Undefined();
}

// conv2dBackwardInput(dims, dy, w, dx)
Napi::Value entry_conv2dBackwardInput(const Call& c) {
  const ns_conv2d_desc d = conv_desc(c, 0);
  const ns_dtype dt = c.same_dtype({1, 2, 3});
  c.expect_length(1, conv_y_size(d));
  c.expect_length(2, conv_w_size(c, d));
  c.expect_length(3, conv_x_size(d));
  c.check(c.kernel(&ns_kernels::conv2d_backward_input, "conv2dBackwardInput")(dt, &d, c.array(1).data, c.array(2).data,
                                                                              c.array(3).data));
  return c.env().Undefined();
}

// conv2dBackwardWeight(dims, x, dy, dw, dbias)
Napi::Value entry_conv2dBackwardWeight(const Call& c) {
  const ns_conv2d_desc d = conv_desc(c, 0);
  const ns_dtype dt = c.same_dtype({1, 2, 3, 4});
  c.expect_length(1, conv_x_size(d));
  c.expect_length(2, conv_y_size(d));
  c.expect_length(3, conv_w_size(c, d));
  c.expect_length(4, d.f);
  const Array& db = c.array(4);
  c.check(c.kernel(&ns_kernels::conv2d_backward_weight, "conv2dBackwardWeight")(
      dt, &d, c.array(1).data, c.array(2).data, c.array(3).data, db.present ? db.data : nullptr));
  return c.env().Undefined();
}

}  // namespace ns
