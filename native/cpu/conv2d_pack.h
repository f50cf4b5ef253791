// Packers of the implicit-GEMM convolutions: they write blocks of the patch matrix (im2col) and of the
// output gradient straight into the layouts the GEMM micro-kernels read (gemm.h), so neither matrix is
// ever stored whole. Each is one function that a fused variant (e.g. the dynamic similarity transform
// X̃_p = M_p·P_p) can replace in the GEMM call that uses it.
#ifndef NEURAL_SIMILARITY_CONV2D_PACK_H
#define NEURAL_SIMILARITY_CONV2D_PACK_H

#include <cstdint>

#include "cpu.h"

namespace ns {
namespace conv {

// Shape facts of one convolution, per group.
struct Geometry {
  ns_conv2d_desc d;
  int64_t cg, fg;   // channels and filters per group
  int64_t taps;     // kh·kw
  int64_t k;        // cg·taps: rows of the patch matrix
  int64_t plane;    // ho·wo
  int64_t cols;     // n·ho·wo: columns of the patch matrix
  explicit Geometry(const ns_conv2d_desc& desc)
      : d(desc), cg(desc.c / desc.groups), fg(desc.f / desc.groups), taps(desc.kh * desc.kw),
        k(desc.c / desc.groups * desc.kh * desc.kw), plane(desc.ho * desc.wo), cols(desc.n * desc.ho * desc.wo) {}
};

// Widest panel pack_patches takes.
constexpr int64_t kMaxPanel = 512;

// The patch matrix P of group g: row (c, i, j) = c·taps + i·kw + j for channel c < cg of the group and
// tap (i, j); column (n, oh, ow) = n·plane + oh·wo + ow;
//   P[(c, i, j), (n, oh, ow)] = x[n, g·cg + c, oh·sh − ph + i·dh, ow·sw − pw + j·dw]   (0 outside x).
// Writes rows [r0, r0 + rc) × columns [c0, c0 + cc) in panels of `width` (≤ kMaxPanel) columns, the last
// one zero-padded: element (r, c0 + q) at dst + (q / width)·width·rc + (r − r0)·width + q % width.
// width = NR gives the GEMM's B layout (forward); width ≥ cc gives a row-major block with leading
// dimension width (the A operand of the weight gradient).
template <class T>
void pack_patches(T* dst, const T* x, const Geometry& G, int64_t g, int64_t r0, int64_t rc, int64_t c0, int64_t cc,
                  int64_t width);

// The transposed output gradient of group g as a GEMM B block: row kk < kc is column c0 + kk = (n, p) of
// the patch matrix, column f < fc is filter g·fg + f0 + f:
//   B[kk, f] = dy[n, g·fg + f0 + f, p],   in panels of NR filters (element (kk, f) at
//   (f / NR)·NR·kc + kk·NR + f % NR), the last one zero-padded.
template <class T>
void pack_dy_transposed(T* dst, const T* dy, const Geometry& G, int64_t g, int64_t c0, int64_t kc, int64_t f0,
                        int64_t fc, int64_t NR);

// The adjoint of pack_patches for one tile of a product with the rows of P_g: tile element (r, t)
// (at tile[r·ldt + t]), r < mr, t < nr, is added to the pixel of dx that row m0 + r, column n0 + t of
// P_g reads (col2im).
template <class T>
void col2im_add(T* dx, const T* tile, int64_t ldt, const Geometry& G, int64_t g, int64_t m0, int64_t n0, int64_t mr,
                int64_t nr);

}  // namespace conv
}  // namespace ns

#endif
