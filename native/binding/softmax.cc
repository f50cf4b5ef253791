// Entry points of the softmax family: softmax, softmaxBackward, oneHot.
#include "entries.h"

namespace ns {

// softmax(isLog, outer, dim, inner, x, y)
Napi::Value entry_softmax(const Call& c) {
  const int64_t outer = c.integer(1), dim = c.integer(2), inner = c.integer(3);
  const int64_t size = c.mul(c.mul(outer, dim, "size"), inner, "size");
  const ns_dtype dt = c.same_dtype({4, 5});
  c.expect_length(4, size);
  c.expect_length(5, size);
  c.check(c.kernel(&ns_kernels::softmax, "softmax")(dt, static_cast<int>(c.integer(0)), outer, dim, inner,
                                                    c.array(4).data, c.array(5).data));
  return c.env().Undefined();
}

// softmaxBackward(isLog, outer, dim, inner, y, dy, dx)
Napi::Value entry_softmaxBackward(const Call& c) {
  const int64_t outer = c.integer(1), dim = c.integer(2), inner = c.integer(3);
  const int64_t size = c.mul(c.mul(outer, dim, "size"), inner, "size");
  const ns_dtype dt = c.same_dtype({4, 5, 6});
  for (size_t i : {4, 5, 6}) c.expect_length(i, size);
  c.check(c.kernel(&ns_kernels::softmax_backward, "softmaxBackward")(dt, static_cast<int>(c.integer(0)), outer, dim,
                                                                     inner, c.array(4).data, c.array(5).data,
                                                                     c.array(6).data));
  return c.env().Undefined();
}

// oneHot(classes, onValue, offValue, labels, out): out [labels.length, classes].
Napi::Value entry_oneHot(const Call& c) {
  const int64_t classes = c.integer(0);
  const Array &labels = c.array(3), &out = c.array(4);
  c.expect_length(4, c.mul(labels.length, classes, "out size"));
  c.check(c.kernel(&ns_kernels::one_hot, "oneHot")(out.dtype, labels.length, classes,
                                                   static_cast<const int32_t*>(labels.data), c.number(1), c.number(2),
                                                   out.data));
  return c.env().Undefined();
}

}  // namespace ns
