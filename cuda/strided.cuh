// Strided index spaces of up to 16 dimensions shared by the broadcasting binary ops (elementwise.cu) and the
// strided copy (shape.cu): the host coalesces the space (drops size-1 dimensions, merges neighbours that are
// contiguous in every operand), the device turns a linear element index (row-major over the shape) into one
// element offset per operand.
#ifndef NEURAL_SIMILARITY_CUDA_STRIDED_CUH
#define NEURAL_SIMILARITY_CUDA_STRIDED_CUH

#include <cstdint>

namespace ns {
namespace cuda {

constexpr int kMaxDims = 16;

// K operands over one index space. Dimensions are stored innermost first so that the unrolled loops of
// offsets() index them with constants.
template <int K>
struct StridedSpace {
  int ndim;       // after coalescing; 0 for a single element
  int64_t numel;  // elements in the space (0: nothing to do)
  int64_t shape[kMaxDims];
  int64_t strides[K][kMaxDims];
};

// The coalesced space of shape[0, ndim) (outermost first, ndim ≤ kMaxDims) with strides[k][0, ndim) for
// operand k.
template <int K>
StridedSpace<K> coalesce(int ndim, const int64_t* shape, const int64_t* const (&strides)[K]) {
  StridedSpace<K> s{};
  s.numel = 1;
  for (int d = 0; d < ndim; ++d) s.numel *= shape[d];
  if (s.numel == 0) return s;
  for (int d = ndim - 1; d >= 0; --d) {  // innermost first
    if (shape[d] == 1) continue;
    if (s.ndim > 0) {
      const int j = s.ndim - 1;  // the dimension just inside d
      bool contiguous = true;
      for (int k = 0; k < K; ++k) contiguous = contiguous && strides[k][d] == s.strides[k][j] * s.shape[j];
      if (contiguous) {
        s.shape[j] *= shape[d];
        continue;
      }
    }
    s.shape[s.ndim] = shape[d];
    for (int k = 0; k < K; ++k) s.strides[k][s.ndim] = strides[k][d];
    ++s.ndim;
  }
  return s;
}

// off[k] = Σ_d index_d · strides[k][d] for linear index i. I is the index type of the divisions: uint32_t
// when numel fits, else uint64_t.
template <int K, class I>
__device__ __forceinline__ void offsets(const StridedSpace<K>& s, I i, int64_t (&off)[K]) {
#pragma unroll
  for (int k = 0; k < K; ++k) off[k] = 0;
#pragma unroll
  for (int d = 0; d < kMaxDims; ++d) {
    if (d >= s.ndim) break;
    const I size = static_cast<I>(s.shape[d]);
    const I q = i / size;
    const int64_t idx = static_cast<int64_t>(i - q * size);
    i = q;
#pragma unroll
    for (int k = 0; k < K; ++k) off[k] += idx * s.strides[k][d];
  }
}

}  // namespace cuda
}  // namespace ns

#endif
