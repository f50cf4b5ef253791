// Entry points of the shape family: copy (strided), indexSelect (row gather).
#include "entries.h"

namespace ns {

// copy(shape, srcOffset, srcStrides, dstOffset, dstStrides, src, dst)
Napi::Value entry_copy(const Call& c) {
  const std::vector<int64_t>& shape = c.ints(0);
  const std::vector<int64_t>&ss = c.ints(2), &ds = c.ints(4);
  if (ss.size() != shape.size() || ds.size() != shape.size())
    throw c.range("argument 'srcStrides' and 'dstStrides' expected " + std::to_string(shape.size()) +
                  " integers (one per dimension of 'shape') but got " + std::to_string(ss.size()) + " and " +
                  std::to_string(ds.size()));
  const ns_dtype dt = c.same_dtype({5, 6});
  c.product(shape, "shape");
  c.check_strided_extent(5, c.integer(1), shape, ss);
  c.check_strided_extent(6, c.integer(3), shape, ds);
  c.check(c.kernel(&ns_kernels::copy, "copy")(dt, static_cast<int>(shape.size()), shape.data(), c.array(5).data,
                                              c.integer(1), ss.data(), c.array(6).data, c.integer(3), ds.data()));
  return c.env().Undefined();
}

// indexSelect(row, src, index, out): out[i, :] = src[index[i], :] with rows of `row` elements.
Napi::Value entry_indexSelect(const Call& c) {
  const int64_t row = c.integer(0);
  const Array &src = c.array(1), &index = c.array(2), &out = c.array(3);
  const ns_dtype dt = c.same_dtype({1, 3});
  if (src.length % row)
    throw c.range("argument 'src' expected a whole number of rows of " + std::to_string(row) + " elements but has " +
                  std::to_string(src.length));
  c.expect_length(3, c.mul(index.length, row, "out size"));
  c.check(c.kernel(&ns_kernels::index_select, "indexSelect")(dt, index.length, row, src.length / row, src.data,
                                                             static_cast<const int32_t*>(index.data), out.data));
  return c.env().Undefined();
}

}  // namespace ns
