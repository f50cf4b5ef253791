// Entry points of the reduce family: reduce, argmax.
#include "entries.h"

namespace ns {

// reduce(op, outer, r, inner, scale, x, y)
Napi::Value entry_reduce(const Call& c) {
  const int op = static_cast<int>(c.integer(0));
  const int64_t outer = c.integer(1), r = c.integer(2), inner = c.integer(3);
  if (op != NS_REDUCE_SUM && r == 0) throw c.range("argument 'r' expected an integer in [1, 9007199254740991] but got 0");
  const ns_dtype dt = c.same_dtype({5, 6});
  c.expect_length(5, c.mul(c.mul(outer, r, "size"), inner, "size"));
  c.expect_length(6, c.mul(outer, inner, "size"));
  c.check(c.kernel(&ns_kernels::reduce, "reduce")(dt, op, outer, r, inner, c.array(5).data, c.array(6).data, c.number(4)));
  return c.env().Undefined();
}

// argmax(outer, r, inner, x, out)
Napi::Value entry_argmax(const Call& c) {
  const int64_t outer = c.integer(0), r = c.integer(1), inner = c.integer(2);
  c.expect_length(3, c.mul(c.mul(outer, r, "size"), inner, "size"));
  c.expect_length(4, c.mul(outer, inner, "size"));
  c.check(c.kernel(&ns_kernels::argmax, "argmax")(c.array(3).dtype, outer, r, inner, c.array(3).data,
                                                  static_cast<int32_t*>(c.array(4).data)));
  return c.env().Undefined();
}

}  // namespace ns
