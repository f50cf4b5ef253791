// Entry points of the optim family: sgdStep, adamStep, rmspropStep (fused in-place updates).
#include "entries.h"

namespace ns {
namespace {
void* data_or_null(const Array& a) { return a.present ? a.data : nullptr; }
}  // namespace

// sgdStep(lr, momentum, dampening, weightDecay, nesterov, firstStep, param, grad, momentumBuf)
Napi::Value entry_sgdStep(const Call& c) {
  const ns_dtype dt = c.same_dtype({6, 7, 8});
  const int64_t n = c.array(6).length;
  c.expect_length(7, n);
  c.expect_length(8, n);
  if (c.number(1) != 0 && !c.array(8).present)
    throw c.type("argument 'momentumBuf' expected a buffer when momentum is not 0");
  c.check(c.kernel(&ns_kernels::sgd_step, "sgdStep")(dt, n, c.array(6).data, c.array(7).data, data_or_null(c.array(8)),
                                                     c.number(0), c.number(1), c.number(2), c.number(3),
                                                     static_cast<int>(c.integer(4)), static_cast<int>(c.integer(5))));
  return c.env().Undefined();
}

// adamStep(lr, beta1, beta2, eps, weightDecay, decoupled, step, param, grad, expAvg, expAvgSq)
Napi::Value entry_adamStep(const Call& c) {
  const ns_dtype dt = c.same_dtype({7, 8, 9, 10});
  const int64_t n = c.array(7).length;
  for (size_t i : {8, 9, 10}) c.expect_length(i, n);
  c.check(c.kernel(&ns_kernels::adam_step, "adamStep")(dt, n, c.array(7).data, c.array(8).data, c.array(9).data,
                                                       c.array(10).data, c.number(0), c.number(1), c.number(2),
                                                       c.number(3), c.number(4), static_cast<int>(c.integer(5)),
                                                       c.integer(6)));
  return c.env().Undefined();
}

// rmspropStep(lr, alpha, eps, weightDecay, momentum, centered, param, grad, squareAvg, gradAvg, momentumBuf)
Napi::Value entry_rmspropStep(const Call& c) {
  const ns_dtype dt = c.same_dtype({6, 7, 8, 9, 10});
  const int64_t n = c.array(6).length;
  for (size_t i : {7, 8, 9, 10}) c.expect_length(i, n);
  if (c.integer(5) && !c.array(9).present) throw c.type("argument 'gradAvg' expected a buffer when centered is 1");
  if (c.number(4) != 0 && !c.array(10).present)
    throw c.type("argument 'momentumBuf' expected a buffer when momentum is not 0");
  c.check(c.kernel(&ns_kernels::rmsprop_step, "rmspropStep")(
      dt, n, c.array(6).data, c.array(7).data, c.array(8).data, data_or_null(c.array(9)), data_or_null(c.array(10)),
      c.number(0), c.number(1), c.number(2), c.number(3), c.number(4), static_cast<int>(c.integer(5))));
  return c.env().Undefined();
}

}  // namespace ns
