// Row gathers (index_select): out[i, :] = src[index[i], :], every index checked against the source's rows.
#include <cstring>
#include <string>

#include "cpu.h"
#include "memory.h"
#include "runtime.h"

extern "C" int ns_cpu_index_select(ns_dtype dt, int64_t n_out, int64_t row, int64_t n_in, const void* src,
                                   const int32_t* index, void* out) {
  for (int64_t i = 0; i < n_out; ++i)
    if (index[i] < 0 || index[i] >= n_in)
      return ns::cpu_fail(NS_ERR_INDEX, "expected indices in [0, " + std::to_string(n_in) + ") but got " +
                                            std::to_string(index[i]) + " at position " + std::to_string(i));
  const size_t bytes = static_cast<size_t>(row) * (dt == NS_FLOAT64 ? 8 : 4);
  const auto* s = static_cast<const unsigned char*>(src);
  auto* o = static_cast<unsigned char*>(out);
  ns::parallel_for(n_out, (int64_t(1) << 16) / (row > 0 ? row : 1) + 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) std::memcpy(o + i * bytes, s + index[i] * bytes, bytes);
  });
  return NS_OK;
}
