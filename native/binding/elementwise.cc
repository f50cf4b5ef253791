// Entry points of the elementwise family: unary, unaryBackward, binary, cast, fill.
#include <cmath>

#include "entries.h"

namespace ns {

// unary(op, x, y, alpha)
Napi::Value entry_unary(const Call& c) {
  const ns_dtype dt = c.same_dtype({1, 2});
  c.expect_length(2, c.array(1).length);
  c.check(c.kernel(&ns_kernels::unary, "unary")(dt, static_cast<int>(c.integer(0)), c.array(1).length, c.array(1).data,
                                                c.array(2).data, c.number(3)));
  return c.env().Undefined();
}

// unaryBackward(op, x, y, dy, dx, alpha)
Napi::Value entry_unaryBackward(const Call& c) {
  const ns_dtype dt = c.same_dtype({1, 2, 3, 4});
  const int64_t n = c.array(1).length;
  for (size_t i : {2, 3, 4}) c.expect_length(i, n);
  c.check(c.kernel(&ns_kernels::unary_backward, "unaryBackward")(dt, static_cast<int>(c.integer(0)), n, c.array(1).data,
                                                                 c.array(2).data, c.array(3).data, c.array(4).data,
                                                                 c.number(5)));
  return c.env().Undefined();
}

// binary(op, shape, strideA, strideB, a, b, out)
Napi::Value entry_binary(const Call& c) {
  const int op = static_cast<int>(c.integer(0));
  const std::vector<int64_t>& shape = c.ints(1);
  const std::vector<int64_t>&sa = c.ints(2), &sb = c.ints(3);
  if (sa.size() != shape.size() || sb.size() != shape.size())
    throw c.range("argument 'strideA' and 'strideB' expected " + std::to_string(shape.size()) +
                  " integers (one per dimension of 'shape') but got " + std::to_string(sa.size()) + " and " +
                  std::to_string(sb.size()));
  const ns_dtype dt = c.same_dtype({4, 5, 6});
  if (dt == NS_INT32 && (op == NS_BINARY_DIV || op == NS_BINARY_POW))
    throw c.type("division and power expected float32 or float64 elements but got int32");
  c.expect_length(6, c.product(shape, "shape"));
  c.check_strided_extent(4, 0, shape, sa);
  c.check_strided_extent(5, 0, shape, sb);
  c.check(c.kernel(&ns_kernels::binary, "binary")(dt, op, static_cast<int>(shape.size()), shape.data(), sa.data(),
                                                  sb.data(), c.array(4).data, c.array(5).data, c.array(6).data));
  return c.env().Undefined();
}

// cast(src, dst)
Napi::Value entry_cast(const Call& c) {
  c.expect_length(1, c.array(0).length);
  c.check(c.kernel(&ns_kernels::cast, "cast")(c.array(0).dtype, c.array(1).dtype, c.array(0).length, c.array(0).data,
                                              c.array(1).data));
  return c.env().Undefined();
}

// fill(value, out): NaN and ±Infinity only for float elements.
Napi::Value entry_fill(const Call& c) {
  const double value = c.number(0);
  const Array& out = c.array(1);
  if (out.dtype == NS_INT32 && !(std::isfinite(value) && std::abs(value) < 2147483648.0))
    throw c.range("argument 'value' expected a number in the int32 range for int32 elements but got " + std::to_string(value));
  c.check(c.kernel(&ns_kernels::fill, "fill")(out.dtype, out.length, value, out.data));
  return c.env().Undefined();
}

}  // namespace ns
