// Entry points of the norm family: batchNormForward, batchNormBackward.
#include "entries.h"

namespace ns {
namespace {
void* data_or_null(const Array& a) { return a.present ? a.data : nullptr; }
}  // namespace

// batchNormForward(n, c, hw, eps, momentum, x, gamma, beta, y, mean, invstd, runningMean, runningVar)
Napi::Value entry_batchNormForward(const Call& c) {
  const int64_t n = c.integer(0), ch = c.integer(1), hw = c.integer(2);
  const int64_t size = c.mul(c.mul(n, ch, "size"), hw, "size");
  const double eps = c.number(3), momentum = c.number(4);
  if (eps < 0) throw c.range("argument 'eps' expected a non-negative number but got " + std::to_string(eps));
  if (momentum < 0 || momentum > 1) throw c.range("argument 'momentum' expected a number in [0, 1] but got " + std::to_string(momentum));
  const ns_dtype dt = c.same_dtype({5, 6, 7, 8, 9, 10, 11, 12});
  c.expect_length(5, size);
  c.expect_length(8, size);
  for (size_t i : {6, 7, 9, 10, 11, 12}) c.expect_length(i, ch);
  c.check(c.kernel(&ns_kernels::batch_norm_forward, "batchNormForward")(
      dt, n, ch, hw, c.array(5).data, data_or_null(c.array(6)), data_or_null(c.array(7)), eps, momentum, c.array(8).data,
      c.array(9).data, c.array(10).data, data_or_null(c.array(11)), data_or_null(c.array(12))));
  return c.env().Undefined();
}

// batchNormBackward(n, c, hw, x, dy, gamma, mean, invstd, dx, dgamma, dbeta)
Napi::Value entry_batchNormBackward(const Call& c) {
  const int64_t n = c.integer(0), ch = c.integer(1), hw = c.integer(2);
  const int64_t size = c.mul(c.mul(n, ch, "size"), hw, "size");
  const ns_dtype dt = c.same_dtype({3, 4, 5, 6, 7, 8, 9, 10});
  for (size_t i : {3, 4, 8}) c.expect_length(i, size);
  for (size_t i : {5, 6, 7, 9, 10}) c.expect_length(i, ch);
  c.check(c.kernel(&ns_kernels::batch_norm_backward, "batchNormBackward")(
      dt, n, ch, hw, c.array(3).data, c.array(4).data, data_or_null(c.array(5)), c.array(6).data, c.array(7).data,
      c.array(8).data, data_or_null(c.array(9)), data_or_null(c.array(10))));
  return c.env().Undefined();
}

}  // namespace ns
