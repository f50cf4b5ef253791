// Entry point of the random family: random (the counter-based Philox stream of kernels.h).
#include "entries.h"

namespace ns {

// random(kind, seed, offset, a, b, out)
Napi::Value entry_random(const Call& c) {
  const int kind = static_cast<int>(c.integer(0));
  const double a = c.number(3), b = c.number(4);
  if (kind == NS_RANDOM_BERNOULLI && !(a >= 0 && a <= 1))
    throw c.range("argument 'a' expected a probability in [0, 1] but got " + std::to_string(a));
  const Array& out = c.array(5);
  c.check(c.kernel(&ns_kernels::random, "random")(out.dtype, kind, out.length, static_cast<uint64_t>(c.integer(1)),
                                                  static_cast<uint64_t>(c.integer(2)), a, b, out.data));
  return c.env().Undefined();
}

}  // namespace ns
