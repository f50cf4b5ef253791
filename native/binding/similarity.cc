// Entry points of the similarity family: similarityFold, similarityStaticBackwardWeight, similarityConv2dForward,
// similarityConv2dBackward.
#include "entries.h"
#include "geometry.h"

namespace ns {
namespace {

void* data_or_null(const Array& a) { return a.present ? a.data : nullptr; }

// The similarity matrix m of a dynamic form: [n, K, ho, wo] (diagonal) or [n, K·K, ho, wo] (spatial).
int64_t dynamic_m_size(const Call& c, const ns_conv2d_desc& d, int spatial) {
  if (d.groups != 1) throw c.range("groups expected 1 but got " + std::to_string(d.groups));
  const int64_t taps = d.kh * d.kw;
  return c.mul(c.mul(c.mul(d.n, spatial ? c.mul(taps, taps, "m size") : taps, "m size"), d.ho, "m size"), d.wo,
               "m size");
}

}  // namespace

// similarityFold(spatial, rows, k, w, m, out)
Napi::Value entry_similarityFold(const Call& c) {
  const int spatial = static_cast<int>(c.integer(0));
  const int64_t rows = c.integer(1), k = c.integer(2);
  const ns_dtype dt = c.same_dtype({3, 4, 5});
  c.expect_length(3, c.mul(rows, k, "w size"));
  c.expect_length(4, spatial ? k * k : k);
  c.expect_length(5, c.array(3).length);
  c.check(c.kernel(&ns_kernels::similarity_fold, "similarityFold")(dt, spatial, rows, k, c.array(3).data, c.array(4).data,
                                                                   c.array(5).data));
  return c.env().Undefined();
}

// similarityStaticBackwardWeight(dims, spatial, x, dy, w, m, dw, dm, dbias): the weight gradients of
// conv2d(x, fold(w, m)); outputs may be null.
Napi::Value entry_similarityStaticBackwardWeight(const Call& c) {
  const ns_conv2d_desc d = conv_desc(c, 0);
  if (d.groups != 1) throw c.range("groups expected 1 but got " + std::to_string(d.groups));
  const int spatial = static_cast<int>(c.integer(1));
  const ns_dtype dt = c.same_dtype({2, 3, 4, 5, 6, 7, 8});
  const int64_t taps = d.kh * d.kw;
  c.expect_length(2, conv_x_size(d));
  c.expect_length(3, conv_y_size(d));
  c.expect_length(4, conv_w_size(c, d));
  c.expect_length(5, spatial ? c.mul(taps, taps, "m size") : taps);
  c.expect_length(6, c.array(4).length);
  c.expect_length(7, c.array(5).length);
  c.expect_length(8, d.f);
  c.check(c.kernel(&ns_kernels::similarity_static_backward_weight, "similarityStaticBackwardWeight")(
      dt, &d, spatial, c.array(2).data, c.array(3).data, c.array(4).data, c.array(5).data, data_or_null(c.array(6)),
      data_or_null(c.array(7)), data_or_null(c.array(8))));
  return c.env().Undefined();
}

// similarityConv2dForward(dims, spatial, x, w, m, bias, y)
Napi::Value entry_similarityConv2dForward(const Call& c) {
  const ns_conv2d_desc d = conv_desc(c, 0);
  const int spatial = static_cast<int>(c.integer(1));
  const ns_dtype dt = c.same_dtype({2, 3, 4, 5, 6});
  c.expect_length(2, conv_x_size(d));
  c.expect_length(3, conv_w_size(c, d));
  c.expect_length(4, dynamic_m_size(c, d, spatial));
  c.expect_length(5, d.f);
  c.expect_length(6, conv_y_size(d));
  c.check(c.kernel(&ns_kernels::similarity_conv2d_forward, "similarityConv2dForward")(
      dt, &d, spatial, c.array(2).data, c.array(3).data, c.array(4).data, data_or_null(c.array(5)), c.array(6).data));
  return c.env().Undefined();
}

// similarityConv2dBackward(dims, spatial, x, w, m, dy, dx, dw, dm, dbias): outputs may be null.
Napi::Value entry_similarityConv2dBackward(const Call& c) {
  const ns_conv2d_desc d = conv_desc(c, 0);
  const int spatial = static_cast<int>(c.integer(1));
  const ns_dtype dt = c.same_dtype({2, 3, 4, 5, 6, 7, 8, 9});
  const int64_t m_size = dynamic_m_size(c, d, spatial);
  c.expect_length(2, conv_x_size(d));
  c.expect_length(3, conv_w_size(c, d));
  c.expect_length(4, m_size);
  c.expect_length(5, conv_y_size(d));
  c.expect_length(6, conv_x_size(d));
  c.expect_length(7, conv_w_size(c, d));
  c.expect_length(8, m_size);
  c.expect_length(9, d.f);
  c.check(c.kernel(&ns_kernels::similarity_conv2d_backward, "similarityConv2dBackward")(
      dt, &d, spatial, c.array(2).data, c.array(3).data, c.array(4).data, c.array(5).data, data_or_null(c.array(6)),
      data_or_null(c.array(7)), data_or_null(c.array(8)), data_or_null(c.array(9))));
  return c.env().Undefined();
}

}  // namespace ns
