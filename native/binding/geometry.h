// Descriptor checks shared by the convolution, similarity and pooling entry points.
#ifndef NEURAL_SIMILARITY_GEOMETRY_H
#define NEURAL_SIMILARITY_GEOMETRY_H

#include "args.h"

namespace ns {

// dims = [n, c, h, w, f, kh, kw, groups, strideH, strideW, padH, padW, dilH, dilW] (argument i), with the output
// size resolved and every size checked.
ns_conv2d_desc conv_desc(const Call& c, size_t i);
inline int64_t conv_x_size(const ns_conv2d_desc& d) { return d.n * d.c * d.h * d.w; }
inline int64_t conv_y_size(const ns_conv2d_desc& d) { return d.n * d.f * d.ho * d.wo; }
int64_t conv_w_size(const Call& c, const ns_conv2d_desc& d);

// dims = [n, c, h, w, kh, kw, strideH, strideW, padH, padW, ceilMode] (argument i).
ns_pool2d_desc pool_desc(const Call& c, size_t i);

}  // namespace ns

#endif
