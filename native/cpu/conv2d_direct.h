// Direct (loop) convolutions for grouped convolutions with few filters per group (depthwise), where a
// GEMM tile would be mostly padding. Each work item is one output plane (or one filter's weights);
// float32 runs loops compiled for AVX-512 or AVX2 when the GEMM uses them.
#ifndef NEURAL_SIMILARITY_CONV2D_DIRECT_H
#define NEURAL_SIMILARITY_CONV2D_DIRECT_H

#include "conv2d_pack.h"

namespace ns {
namespace conv {

// y = conv(x, w) (+ bias[f] when bias is not null).
template <class T>
void direct_forward(const Geometry& G, const T* x, const T* w, const T* bias, T* y);
// dx = ∂y/∂xᵀ dy (overwrites dx).
template <class T>
void direct_backward_input(const Geometry& G, const T* dy, const T* w, T* dx);
// dw = ∂y/∂wᵀ dy (overwrites dw); dbias[f] = Σ dy[:, f] when dbias is not null.
template <class T>
void direct_backward_weight(const Geometry& G, const T* x, const T* dy, T* dw, T* dbias);

// dbias[f] = Σ dy[:, f] (overwrites dbias).
template <class T>
void bias_grad(const Geometry& G, const T* dy, T* dbias);

}  // namespace conv
}  // namespace ns

#endif
