/*
 * The backend-neutral C ABI of neural-similarity's kernels.
 *
 * Every kernel takes resolved integers and raw pointers: no N-API types, no shapes to infer, no
 * validation. The caller (native/binding.cc, after lib/ops/ in TypeScript) has already checked that
 * every size is non-negative, that every buffer holds exactly what the kernel will touch, and that
 * the dtype of every buffer is the one named. The CPU implementations are the `ns_cpu_*` functions
 * declared here; CUDA kernels (cuda/) implement the same parameter lists as `ns_cuda_*`.
 *
 * Tensors are dense and row-major (NCHW for images) unless strides are passed explicitly.
 * Every kernel returns NS_OK or an NS_ERR_* status; it never throws and never aborts.
 */
#ifndef NEURAL_SIMILARITY_KERNELS_H
#define NEURAL_SIMILARITY_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ns_dtype { NS_FLOAT32 = 0, NS_FLOAT64 = 1, NS_INT32 = 2 } ns_dtype;

enum ns_status { NS_OK = 0, NS_ERR_NOMEM = 1, NS_ERR_UNSUPPORTED = 2 };

/* ---------------------------------------------------------------- runtime */

/* Number of threads the CPU kernels use (the caller's thread included). */
int ns_cpu_num_threads(void);
/* Resize the thread pool; n >= 1. */
void ns_cpu_set_num_threads(int n);
/* Name of the GEMM micro-kernel chosen for this CPU at load time: "avx512", "avx2" or "portable". */
const char* ns_cpu_isa(void);
/* Bytes of scratch memory the kernels keep cached for reuse, and bytes requested by kernels running now. */
size_t ns_cpu_workspace_cached_bytes(void);
size_t ns_cpu_workspace_in_use_bytes(void);
/* Release cached scratch memory that is not in use. */
void ns_cpu_workspace_trim(void);
/* Most scratch bytes requested at once since the last reset; reset != 0 starts a new measurement. */
size_t ns_cpu_workspace_peak_bytes(int reset);
/* Asks the OS (Linux) to back the 2 MiB-aligned interior of [p, p + bytes), not yet touched, with transparent
   huge pages: first-touch faults then come 2 MiB at a time, about ten times faster than 4 KiB pages. Returns
   the bytes advised: 0 where unsupported, refused or too small. */
size_t ns_cpu_advise_huge_pages(void* p, size_t bytes);

/* ----------------------------------------------------------- elementwise */

/* Unary ops: y[i] = op(x[i]). NS_UNARY_POW uses alpha as the exponent (float dtypes only). */
typedef enum ns_unary_op {
  NS_UNARY_NEG = 0, NS_UNARY_EXP, NS_UNARY_LOG, NS_UNARY_SQRT, NS_UNARY_TANH, NS_UNARY_SIGMOID,
  NS_UNARY_RELU, NS_UNARY_ABS, NS_UNARY_POW, NS_UNARY_COUNT
} ns_unary_op;
int ns_cpu_unary(ns_dtype dt, int op, int64_t n, const void* x, void* y, double alpha);
/* dx[i] = dy[i] * op'(x[i]); y[i] = op(x[i]) is passed too (sigmoid, tanh, exp, sqrt use it). */
int ns_cpu_unary_backward(ns_dtype dt, int op, int64_t n, const void* x, const void* y, const void* dy,
                          void* dx, double alpha);

/* Binary ops with broadcasting: out[i] = op(a[ia], b[ib]) over an ndim-dimensional index space
 * `shape` (out is dense in that shape); stride_a/stride_b are element strides, 0 on broadcast axes.
 * Comparisons write 1 or 0 in the same dtype. int32 supports every op but DIV and POW. */
typedef enum ns_binary_op {
  NS_BINARY_ADD = 0, NS_BINARY_SUB, NS_BINARY_MUL, NS_BINARY_DIV, NS_BINARY_POW, NS_BINARY_MAX,
  NS_BINARY_MIN, NS_BINARY_EQ, NS_BINARY_NE, NS_BINARY_LT, NS_BINARY_LE, NS_BINARY_GT, NS_BINARY_GE,
  NS_BINARY_COUNT
} ns_binary_op;
int ns_cpu_binary(ns_dtype dt, int op, int ndim, const int64_t* shape, const int64_t* stride_a,
                  const int64_t* stride_b, const void* a, const void* b, void* out);

/* Strided copy over an ndim-dimensional index space `shape`:
 * dst[dst_offset + Σ i_d·dst_strides[d]] = src[src_offset + Σ i_d·src_strides[d]].
 * Serves permute, slicing, concatenation, broadcasting and their gradients. */
int ns_cpu_copy(ns_dtype dt, int ndim, const int64_t* shape, const void* src, int64_t src_offset,
                const int64_t* src_strides, void* dst, int64_t dst_offset, const int64_t* dst_strides);

/* Element type conversion (float → int32 truncates toward zero). */
int ns_cpu_cast(ns_dtype src_dt, ns_dtype dst_dt, int64_t n, const void* src, void* dst);

/* ------------------------------------------------------------ reductions */

/* x viewed as [outer, r, inner]; y [outer, inner]. SUM writes scale·Σ; MAX and MIN ignore scale. */
typedef enum ns_reduce_op { NS_REDUCE_SUM = 0, NS_REDUCE_MAX, NS_REDUCE_MIN, NS_REDUCE_COUNT } ns_reduce_op;
int ns_cpu_reduce(ns_dtype dt, int op, int64_t outer, int64_t r, int64_t inner, const void* x, void* y,
                  double scale);
/* Index of the first maximum along r: x [outer, r, inner] → out [outer, inner]. */
int ns_cpu_argmax(ns_dtype dt, int64_t outer, int64_t r, int64_t inner, const void* x, int32_t* out);

/* softmax (log_softmax when is_log) along the middle axis of x [outer, dim, inner]. */
int ns_cpu_softmax(ns_dtype dt, int is_log, int64_t outer, int64_t dim, int64_t inner, const void* x,
                   void* y);
/* Gradient from the forward output y and upstream dy. */
int ns_cpu_softmax_backward(ns_dtype dt, int is_log, int64_t outer, int64_t dim, int64_t inner,
                            const void* y, const void* dy, void* dx);

/* ---------------------------------------------------------------- matmul */

/* For every b < batch: C_b[m,n] = Σ_k A_b[m,k]·B_b[k,n] (C dense [batch,m,n]).
 * A_b[i,k] = a[b·a_bs + i·a_rs + k·a_cs] and likewise for B, so transposes and broadcast batches
 * (stride 0) cost nothing. When accumulate is non-zero C is added to rather than overwritten. */
int ns_cpu_matmul(ns_dtype dt, int64_t batch, int64_t m, int64_t n, int64_t k, const void* a, int64_t a_bs,
                  int64_t a_rs, int64_t a_cs, const void* b, int64_t b_bs, int64_t b_rs, int64_t b_cs,
                  void* c, int accumulate);

/* ----------------------------------------------------------------- conv2d */

/* x [n, c, h, w]; w [f, c/groups, kh, kw]; y [n, f, ho, wo] with
 * ho = (h + 2·pad_h − dil_h·(kh−1) − 1) / stride_h + 1 (likewise wo), all ≥ 1. */
typedef struct ns_conv2d_desc {
  int64_t n, c, h, w;
  int64_t f, kh, kw;
  int64_t groups;
  int64_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
  int64_t ho, wo;
} ns_conv2d_desc;

/* y = conv(x, w) (+ bias[f] when bias is not NULL). */
int ns_cpu_conv2d_forward(ns_dtype dt, const ns_conv2d_desc* d, const void* x, const void* w,
                          const void* bias, void* y);
/* dx = ∂y/∂x ᵀ dy (overwrites dx). */
int ns_cpu_conv2d_backward_input(ns_dtype dt, const ns_conv2d_desc* d, const void* dy, const void* w,
                                 void* dx);
/* dw = ∂y/∂w ᵀ dy (overwrites dw); dbias[f] = Σ dy[:, f] when dbias is not NULL. */
int ns_cpu_conv2d_backward_weight(ns_dtype dt, const ns_conv2d_desc* d, const void* x, const void* dy,
                                  void* dw, void* dbias);

/* ------------------------------------------------------ neural similarity */

/* Static similarity folded into the weight, for w viewed as [rows, k] (rows = F·C, k = K taps):
 * spatial: w'[r,b] = Σ_a w[r,a]·m[a·k + b] (m is [k, k]); diagonal: w'[r,b] = w[r,b]·m[b] (m is [k]). */
int ns_cpu_similarity_fold(ns_dtype dt, int spatial, int64_t rows, int64_t k, const void* w, const void* m, void* out);
/* The weight gradients of y = conv2d(x, w') (+ bias) with w' the fold of w [f, c, kh, kw] (rows = f·c, k =
 * kh·kw) and m as above (d->groups must be 1). With dwf = ∂y/∂w'ᵀ dy, never stored whole:
 * dw[r,a] = Σ_b dwf[r,b]·m[a,b] and dm[a,b] = Σ_r w[r,a]·dwf[r,b] (diagonal: dw = dwf·m,
 * dm[b] = Σ_r w[r,b]·dwf[r,b]), and dbias[f] = Σ dy[:, f] (each overwritten; NULL when not wanted). */
int ns_cpu_similarity_static_backward_weight(ns_dtype dt, const ns_conv2d_desc* d, int spatial, const void* x,
                                             const void* dy, const void* w, const void* m, void* dw, void* dm,
                                             void* dbias);

/* Dynamic neural-similarity convolution (d->groups must be 1), K = kh·kw taps, tap a = i·kw + j:
 *   y[n,f,p] = bias[f] + Σ_{c,a} w[f,c,a] · X̃[n,c,a,p],   X̃[n,c,a,p] = Σ_b M_{n,p}[a,b] · P[n,c,b,p]
 * where P[n,c,b,p] is input channel c at tap b of output position p's patch (zero outside the image) and
 * M_{n,p} comes from m: spatial → M_{n,p}[a,b] = m[n, a·K + b, p] (m is [n, K·K, ho, wo]); diagonal →
 * M_{n,p} = diag(m[n, :, p]) (m is [n, K, ho, wo]). X̃ is formed panel by panel inside the GEMM's packing
 * and is never stored whole. */
int ns_cpu_similarity_conv2d_forward(ns_dtype dt, const ns_conv2d_desc* d, int spatial, const void* x, const void* w,
                                     const void* m, const void* bias, void* y);
/* Gradients of the forward for upstream dy (each output overwritten; NULL when not wanted):
 * dw = Σ dy·X̃, dX̃ = wᵀ·dy, dm from dX̃·Pᵀ, dx from Mᵀ·dX̃ scattered back (col2im), dbias = Σ dy. */
int ns_cpu_similarity_conv2d_backward(ns_dtype dt, const ns_conv2d_desc* d, int spatial, const void* x,
                                      const void* w, const void* m, const void* dy, void* dx, void* dw, void* dm,
                                      void* dbias);

/* ---------------------------------------------------------------- pooling */

/* x [n, c, h, w] → y [n, c, ho, wo]; ho = floor or ceil((h + 2·pad_h − kh) / stride_h) + 1, a window
 * never starting in the bottom/right padding (PyTorch's rule). */
typedef struct ns_pool2d_desc {
  int64_t n, c, h, w;
  int64_t kh, kw, stride_h, stride_w, pad_h, pad_w;
  int64_t ho, wo;
} ns_pool2d_desc;

/* Max pooling; argmax[j] = index of the chosen element within its [h, w] plane. */
int ns_cpu_max_pool2d(ns_dtype dt, const ns_pool2d_desc* d, const void* x, void* y, int32_t* argmax);
int ns_cpu_max_pool2d_backward(ns_dtype dt, const ns_pool2d_desc* d, const void* dy, const int32_t* argmax,
                               void* dx);
/* Average pooling; the divisor counts padding when count_include_pad (but never the ceil overhang). */
int ns_cpu_avg_pool2d(ns_dtype dt, const ns_pool2d_desc* d, int count_include_pad, const void* x, void* y);
int ns_cpu_avg_pool2d_backward(ns_dtype dt, const ns_pool2d_desc* d, int count_include_pad, const void* dy,
                               void* dx);

/* ------------------------------------------------------------ batch norm */

/* Training-mode batch normalisation of x [n, c, hw] over (n, hw) per channel:
 * mean[c], invstd[c] = 1/sqrt(var_biased + eps); y = (x − mean)·invstd·gamma[c] + beta[c]
 * (gamma/beta may be NULL: 1 and 0). var_unbiased[c] receives the unbiased variance (for running stats). */
int ns_cpu_batch_norm_forward(ns_dtype dt, int64_t n, int64_t c, int64_t hw, const void* x, const void* gamma,
                              const void* beta, double eps, void* y, void* mean, void* invstd,
                              void* var_unbiased);
/* Gradients of the training-mode forward; dgamma/dbeta may be NULL when not wanted. */
int ns_cpu_batch_norm_backward(ns_dtype dt, int64_t n, int64_t c, int64_t hw, const void* x, const void* dy,
                               const void* gamma, const void* mean, const void* invstd, void* dx, void* dgamma,
                               void* dbeta);

/* ----------------------------------------------------------------- random */

/* Counter-based Philox-4x32-10 stream: element i of a call uses counter (offset + i/4, lane i%4) under
 * key `seed`, so results do not depend on threads or backend. UNIFORM: [a, b); NORMAL: mean a, std b
 * (Box–Muller); BERNOULLI: b with probability a, else 0. A call consumes ceil(n / 4) counters. */
typedef enum ns_random_kind { NS_RANDOM_UNIFORM = 0, NS_RANDOM_NORMAL, NS_RANDOM_BERNOULLI, NS_RANDOM_COUNT } ns_random_kind;
int ns_cpu_random(ns_dtype dt, int kind, int64_t n, uint64_t seed, uint64_t offset, double a, double b,
                  void* out);

/* ------------------------------------------------------------- optimisers */

/* In-place SGD step (PyTorch semantics): g = grad + weight_decay·p; with momentum μ,
 * buf = first_step ? g : μ·buf + (1−dampening)·g, g = nesterov ? g + μ·buf : buf; p −= lr·g.
 * momentum_buf may be NULL when momentum is 0. */
int ns_cpu_sgd_step(ns_dtype dt, int64_t n, void* param, const void* grad, void* momentum_buf, double lr,
                    double momentum, double dampening, double weight_decay, int nesterov, int first_step);
/* In-place Adam/AdamW step number `step` (≥ 1), PyTorch semantics; decoupled selects AdamW's
 * weight decay (p −= lr·wd·p) over Adam's L2 term (g += wd·p). */
int ns_cpu_adam_step(ns_dtype dt, int64_t n, void* param, const void* grad, void* exp_avg, void* exp_avg_sq,
                     double lr, double beta1, double beta2, double eps, double weight_decay, int decoupled,
                     int64_t step);

#ifdef __cplusplus
}
#endif

#endif
