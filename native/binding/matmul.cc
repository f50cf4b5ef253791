// Entry point of the matmul family: matmul.
#include "entries.h"

namespace ns {

// matmul(batch, m, n, k, aBatchStride, aRowStride, aColStride, bBatchStride, bRowStride, bColStride, accumulate,
//        a, b, c)
Napi::Value entry_matmul(const Call& c) {
  const int64_t batch = c.integer(0), m = c.integer(1), n = c.integer(2), k = c.integer(3);
  const ns_dtype dt = c.same_dtype({11, 12, 13});
  c.expect_length(13, c.mul(c.mul(batch, m, "size"), n, "size"));
  c.check_strided_extent(11, 0, {batch, m, k}, {c.integer(4), c.integer(5), c.integer(6)});
  c.check_strided_extent(12, 0, {batch, k, n}, {c.integer(7), c.integer(8), c.integer(9)});
  c.check(c.kernel(&ns_kernels::matmul, "matmul")(dt, batch, m, n, k, c.array(11).data, c.integer(4), c.integer(5),
                                                  c.integer(6), c.array(12).data, c.integer(7), c.integer(8),
                                                  c.integer(9), c.array(13).data, static_cast<int>(c.integer(10))));
  return c.env().Undefined();
}

}  // namespace ns
