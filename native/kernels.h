/*
 * The backend-neutral C ABI of neural-similarity's kernels: one table of kernels per backend
 * (`ns_cpu_kernels()`, `ns_cuda_kernels()`), each with a small device interface (memory, copies,
 * synchronisation, errors).
 *
 * Every kernel takes resolved integers and pointers into the backend's own memory (host memory for the
 * CPU, device memory for CUDA): no N-API types, no shapes to infer, no validation. The caller
 * (native/binding/, after lib/ops/ in TypeScript) has already checked that every size is non-negative,
 * that every buffer holds exactly what the kernel will touch, and that the dtype of every buffer is the
 * one named. Kernels of a backend run in the order they are called; a CUDA kernel may return before its
 * work is done (it is queued on the backend's stream), so only `device->read*` and `device->synchronize`
 * wait. A table member is NULL when the backend does not implement that kernel.
 *
 * Tensors are dense and row-major (NCHW for images) unless strides are passed explicitly.
 * Every kernel returns NS_OK or an NS_ERR_* status; it never throws and never aborts. After a status
 * other than NS_OK, `device->last_error()` describes it (for NS_ERR_DEVICE_OOM: the bytes asked for).
 */
#ifndef NEURAL_SIMILARITY_KERNELS_H
#define NEURAL_SIMILARITY_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Enumerations are X-macro lists X(CONSTANT, jsName): C gets NS_<PREFIX>_<CONSTANT>, and the binding
 * exports every list to JavaScript under its js names (lib/backend/ reads the codes from there). */
#define NS_DTYPES(X) X(FLOAT32, float32) X(FLOAT64, float64) X(INT32, int32)
#define NS_DEVICES(X) X(CPU, cpu) X(CUDA, cuda)

#define NS_ENUM_PLAIN(c, js) NS_##c,
typedef enum ns_dtype { NS_DTYPES(NS_ENUM_PLAIN) NS_DTYPE_COUNT } ns_dtype;           /* NS_FLOAT32, … */
typedef enum ns_device_kind { NS_DEVICES(NS_ENUM_PLAIN) NS_DEVICE_COUNT } ns_device_kind; /* NS_CPU, NS_CUDA */
#undef NS_ENUM_PLAIN

enum ns_status {
  NS_OK = 0,
  NS_ERR_NOMEM = 1,        /* host memory ran out */
  NS_ERR_UNSUPPORTED = 2,  /* an argument combination (often a dtype) this backend does not implement */
  NS_ERR_DEVICE_OOM = 3,   /* device memory ran out (after freeing cached blocks and retrying once) */
  NS_ERR_DEVICE = 4,       /* any other device error; last_error() names the call and the driver's message */
  NS_ERR_INDEX = 5         /* an index held in a buffer (labels, rows) is out of range; last_error() says which */
};

/* ----------------------------------------------------------------- device */

/* What a backend's allocator holds, in bytes. */
typedef struct ns_memory_stats {
  uint64_t allocated_bytes;       /* in blocks handed out by alloc and not yet freed */
  uint64_t cached_bytes;          /* held for reuse: freed by callers, not returned to the system */
  uint64_t peak_allocated_bytes;  /* most allocated_bytes at once since start */
  uint64_t alloc_count;           /* calls to alloc served */
  uint64_t fresh_alloc_count;     /* of which asked the system (malloc, cudaMalloc) for new memory */
} ns_memory_stats;

/* A backend's memory and synchronisation. Pointers from alloc are aligned to 64 bytes (CPU) or 256 bytes
 * (CUDA). Every function is called on the JavaScript thread except read_end. */
typedef struct ns_device {
  const char* name; /* "cpu" or "cuda" */
  /* A block of at least `bytes` (0 gives NULL); NS_ERR_NOMEM or NS_ERR_DEVICE_OOM when none can be had. */
  int (*alloc)(size_t bytes, void** out);
  /* Returns a block from alloc to the cache (NULL is ignored). Work already queued on it still completes. */
  void (*free)(void* block);
  /* dst[0, bytes) = host[0, bytes), ordered after the work queued before; `host` may be reused on return. */
  int (*write)(void* dst, const void* host, size_t bytes);
  /* host[0, bytes) = src[0, bytes) once the work queued before has finished (waits for it). */
  int (*read)(void* host, const void* src, size_t bytes);
  /* A read in two halves: begin queues the copy of src (so later work cannot change what is read) and
   * returns a ticket; end waits for it, writes host and releases the ticket (end runs on a worker thread). */
  int (*read_begin)(const void* src, size_t bytes, void** ticket);
  int (*read_end)(void* ticket, void* host);
  /* Waits until every queued kernel and copy has finished. */
  int (*synchronize)(void);
  void (*memory_stats)(ns_memory_stats* out);
  /* Returns cached blocks that are not in use to the system. */
  void (*empty_cache)(void);
  /* What the last failing call of this backend on this thread said (never NULL). */
  const char* (*last_error)(void);
} ns_device;

/* ------------------------------------------------------------ enumerations */

/* Unary ops: y[i] = op(x[i]). POW uses alpha as the exponent (float dtypes only). */
#define NS_UNARY_OPS(X) \
  X(NEG, neg) X(EXP, exp) X(LOG, log) X(SQRT, sqrt) X(TANH, tanh) X(SIGMOID, sigmoid) X(RELU, relu) X(ABS, abs) X(POW, pow)
/* Binary ops; comparisons write 1 or 0 in the operands' dtype. int32 supports every op but DIV and POW. */
#define NS_BINARY_OPS(X)                                                                                    \
  X(ADD, add) X(SUB, sub) X(MUL, mul) X(DIV, div) X(POW, pow) X(MAX, maximum) X(MIN, minimum) X(EQ, eq) \
  X(NE, ne) X(LT, lt) X(LE, le) X(GT, gt) X(GE, ge)
#define NS_REDUCE_OPS(X) X(SUM, sum) X(MAX, max) X(MIN, min)
/* UNIFORM: [a, b); NORMAL: mean a, std b (Box–Muller); BERNOULLI: b with probability a, else 0. */
#define NS_RANDOM_KINDS(X) X(UNIFORM, uniform) X(NORMAL, normal) X(BERNOULLI, bernoulli)

#define NS_ENUM_UNARY(c, js) NS_UNARY_##c,
#define NS_ENUM_BINARY(c, js) NS_BINARY_##c,
#define NS_ENUM_REDUCE(c, js) NS_REDUCE_##c,
#define NS_ENUM_RANDOM(c, js) NS_RANDOM_##c,
typedef enum ns_unary_op { NS_UNARY_OPS(NS_ENUM_UNARY) NS_UNARY_COUNT } ns_unary_op;
typedef enum ns_binary_op { NS_BINARY_OPS(NS_ENUM_BINARY) NS_BINARY_COUNT } ns_binary_op;
typedef enum ns_reduce_op { NS_REDUCE_OPS(NS_ENUM_REDUCE) NS_REDUCE_COUNT } ns_reduce_op;
typedef enum ns_random_kind { NS_RANDOM_KINDS(NS_ENUM_RANDOM) NS_RANDOM_COUNT } ns_random_kind;
#undef NS_ENUM_UNARY
#undef NS_ENUM_BINARY
#undef NS_ENUM_REDUCE
#undef NS_ENUM_RANDOM

/* ------------------------------------------------------------ descriptors */

/* x [n, c, h, w]; w [f, c/groups, kh, kw]; y [n, f, ho, wo] with
 * ho = (h + 2·pad_h − dil_h·(kh−1) − 1) / stride_h + 1 (likewise wo), all ≥ 1. */
typedef struct ns_conv2d_desc {
  int64_t n, c, h, w;
  int64_t f, kh, kw;
  int64_t groups;
  int64_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
  int64_t ho, wo;
} ns_conv2d_desc;

/* x [n, c, h, w] → y [n, c, ho, wo]; ho = floor or ceil((h + 2·pad_h − kh) / stride_h) + 1, a window
 * never starting in the bottom/right padding (PyTorch's rule). */
typedef struct ns_pool2d_desc {
  int64_t n, c, h, w;
  int64_t kh, kw, stride_h, stride_w, pad_h, pad_w;
  int64_t ho, wo;
} ns_pool2d_desc;

/* ---------------------------------------------------------------- kernels */

typedef struct ns_kernels {
  const ns_device* device;

  /* ------------------------------------------------------- elementwise */
  /* y[i] = op(x[i]) for i < n. */
  int (*unary)(ns_dtype dt, int op, int64_t n, const void* x, void* y, double alpha);
  /* dx[i] = dy[i]·op'(x[i]); y[i] = op(x[i]) is passed too (sigmoid, tanh, exp, sqrt use it). */
  int (*unary_backward)(ns_dtype dt, int op, int64_t n, const void* x, const void* y, const void* dy, void* dx,
                        double alpha);
  /* out[i] = op(a[ia], b[ib]) over an ndim-dimensional index space `shape` (ndim ≤ 16; out dense in that
   * shape); stride_a/stride_b are element strides, 0 on broadcast axes. */
  int (*binary)(ns_dtype dt, int op, int ndim, const int64_t* shape, const int64_t* stride_a,
                const int64_t* stride_b, const void* a, const void* b, void* out);
  /* dst[i] = src[i] converted (float → int32 truncates toward zero), for i < n. */
  int (*cast)(ns_dtype src_dt, ns_dtype dst_dt, int64_t n, const void* src, void* dst);
  /* out[i] = value (converted to dt) for i < n. */
  int (*fill)(ns_dtype dt, int64_t n, double value, void* out);

  /* ------------------------------------------------------------- shape */
  /* Strided copy over an ndim-dimensional index space `shape` (ndim ≤ 16):
   * dst[dst_offset + Σ i_d·dst_strides[d]] = src[src_offset + Σ i_d·src_strides[d]].
   * Serves permute, slicing, concatenation, broadcasting and their gradients. */
  int (*copy)(ns_dtype dt, int ndim, const int64_t* shape, const void* src, int64_t src_offset,
              const int64_t* src_strides, void* dst, int64_t dst_offset, const int64_t* dst_strides);
  /* Rows gathered by index: out[i, :] = src[index[i], :] for i < n_out, rows of `row` elements, src holding
   * n_in rows. NS_ERR_INDEX when an index lies outside [0, n_in) (out is then unspecified). */
  int (*index_select)(ns_dtype dt, int64_t n_out, int64_t row, int64_t n_in, const void* src, const int32_t* index,
                      void* out);

  /* ------------------------------------------------------------ reduce */
  /* x viewed as [outer, r, inner]; y [outer, inner]. SUM writes scale·Σ; MAX and MIN ignore scale. Sums
   * run in a fixed order for a given shape (the same bits for any thread count). */
  int (*reduce)(ns_dtype dt, int op, int64_t outer, int64_t r, int64_t inner, const void* x, void* y, double scale);
  /* Index of the first maximum along r: x [outer, r, inner] → out [outer, inner]. */
  int (*argmax)(ns_dtype dt, int64_t outer, int64_t r, int64_t inner, const void* x, int32_t* out);

  /* ----------------------------------------------------------- softmax */
  /* softmax (log_softmax when is_log) along the middle axis of x [outer, dim, inner]. */
  int (*softmax)(ns_dtype dt, int is_log, int64_t outer, int64_t dim, int64_t inner, const void* x, void* y);
  /* Its gradient from the forward output y and upstream dy. */
  int (*softmax_backward)(ns_dtype dt, int is_log, int64_t outer, int64_t dim, int64_t inner, const void* y,
                          const void* dy, void* dx);
  /* Targets for a classification loss: out[i, j] = on_value when j = labels[i], else off_value
   * (out [n, classes]). NS_ERR_INDEX when a label lies outside [0, classes). */
  int (*one_hot)(ns_dtype dt, int64_t n, int64_t classes, const int32_t* labels, double on_value, double off_value,
                 void* out);

  /* ------------------------------------------------------------ matmul */
  /* For every b < batch: C_b[m,n] = Σ_k A_b[m,k]·B_b[k,n] (C dense [batch,m,n]).
   * A_b[i,k] = a[b·a_bs + i·a_rs + k·a_cs] and likewise for B, so transposes and broadcast batches
   * (stride 0) cost nothing. When accumulate is non-zero C is added to rather than overwritten. */
  int (*matmul)(ns_dtype dt, int64_t batch, int64_t m, int64_t n, int64_t k, const void* a, int64_t a_bs,
                int64_t a_rs, int64_t a_cs, const void* b, int64_t b_bs, int64_t b_rs, int64_t b_cs, void* c,
                int accumulate);

  /* -------------------------------------------------------------- conv */
  /* y = conv(x, w) (+ bias[f] when bias is not NULL): cross-correlation,
   * y[n,f,p] = bias[f] + Σ_{c∈group(f), i, j} w[f,c,i,j] · x[n, c, p_h·stride_h − pad_h + i·dil_h,
   * p_w·stride_w − pad_w + j·dil_w] (zero outside the image). */
  int (*conv2d_forward)(ns_dtype dt, const ns_conv2d_desc* d, const void* x, const void* w, const void* bias,
                        void* y);
  /* dx = ∂y/∂x ᵀ dy (overwrites dx). */
  int (*conv2d_backward_input)(ns_dtype dt, const ns_conv2d_desc* d, const void* dy, const void* w, void* dx);
  /* dw = ∂y/∂w ᵀ dy (overwrites dw); dbias[f] = Σ dy[:, f] when dbias is not NULL. */
  int (*conv2d_backward_weight)(ns_dtype dt, const ns_conv2d_desc* d, const void* x, const void* dy, void* dw,
                                void* dbias);

  /* -------------------------------------------------------- similarity */
  /* Static similarity folded into the weight, for w viewed as [rows, k] (rows = F·C, k = K taps):
   * spatial: w'[r,b] = Σ_a w[r,a]·m[a·k + b] (m is [k, k]); diagonal: w'[r,b] = w[r,b]·m[b] (m is [k]). */
  int (*similarity_fold)(ns_dtype dt, int spatial, int64_t rows, int64_t k, const void* w, const void* m, void* out);
  /* The weight gradients of y = conv2d(x, w') (+ bias) with w' the fold of w [f, c, kh, kw] (rows = f·c, k =
   * kh·kw) and m as above (d->groups is 1). With dwf = ∂y/∂w'ᵀ dy:
   * dw[r,a] = Σ_b dwf[r,b]·m[a,b] and dm[a,b] = Σ_r w[r,a]·dwf[r,b] (diagonal: dw = dwf·m,
   * dm[b] = Σ_r w[r,b]·dwf[r,b]), and dbias[f] = Σ dy[:, f] (each overwritten; NULL when not wanted). */
  int (*similarity_static_backward_weight)(ns_dtype dt, const ns_conv2d_desc* d, int spatial, const void* x,
                                           const void* dy, const void* w, const void* m, void* dw, void* dm,
                                           void* dbias);
  /* Dynamic neural-similarity convolution (d->groups is 1), K = kh·kw taps, tap a = i·kw + j:
   *   y[n,f,p] = bias[f] + Σ_{c,a} w[f,c,a] · X̃[n,c,a,p],   X̃[n,c,a,p] = Σ_b M_{n,p}[a,b] · P[n,c,b,p]
   * where P[n,c,b,p] is input channel c at tap b of output position p's patch (zero outside the image) and
   * M_{n,p} comes from m: spatial → M_{n,p}[a,b] = m[n, a·K + b, p] (m is [n, K·K, ho, wo]); diagonal →
   * M_{n,p} = diag(m[n, :, p]) (m is [n, K, ho, wo]). X̃ is formed tile by tile inside the GEMM and is never
   * stored whole. */
  int (*similarity_conv2d_forward)(ns_dtype dt, const ns_conv2d_desc* d, int spatial, const void* x, const void* w,
                                   const void* m, const void* bias, void* y);
  /* Gradients of the forward for upstream dy (each output overwritten; NULL when not wanted):
   * dw = Σ dy·X̃, dX̃ = wᵀ·dy, dm_p[a,b] = Σ_c dX̃_p[c,a]·P_p[c,b] (diagonal: a = b only),
   * dx from dP_p[c,b] = Σ_a M_p[a,b]·dX̃_p[c,a] scattered back (col2im), dbias = Σ dy. */
  int (*similarity_conv2d_backward)(ns_dtype dt, const ns_conv2d_desc* d, int spatial, const void* x, const void* w,
                                    const void* m, const void* dy, void* dx, void* dw, void* dm, void* dbias);

  /* -------------------------------------------------------------- pool */
  /* Max pooling; argmax[j] = index of the chosen element within its [h, w] plane (padding never wins). */
  int (*max_pool2d)(ns_dtype dt, const ns_pool2d_desc* d, const void* x, void* y, int32_t* argmax);
  /* dx (overwritten) receives dy at the argmax positions. argmax values lie in [0, h·w) (the caller checks). */
  int (*max_pool2d_backward)(ns_dtype dt, const ns_pool2d_desc* d, const void* dy, const int32_t* argmax, void* dx);
  /* Average pooling; the divisor counts padding when count_include_pad (but never the ceil overhang). */
  int (*avg_pool2d)(ns_dtype dt, const ns_pool2d_desc* d, int count_include_pad, const void* x, void* y);
  int (*avg_pool2d_backward)(ns_dtype dt, const ns_pool2d_desc* d, int count_include_pad, const void* dy, void* dx);

  /* -------------------------------------------------------------- norm */
  /* Training-mode batch normalisation of x [n, c, hw] over (n, hw) per channel:
   * mean[c], invstd[c] = 1/sqrt(var_biased + eps); y = (x − mean)·invstd·gamma[c] + beta[c]
   * (gamma/beta may be NULL: 1 and 0). When running_mean/running_var are not NULL they are updated in place:
   * r ← (1 − momentum)·r + momentum·batch, with the unbiased variance for running_var. */
  int (*batch_norm_forward)(ns_dtype dt, int64_t n, int64_t c, int64_t hw, const void* x, const void* gamma,
                            const void* beta, double eps, double momentum, void* y, void* mean, void* invstd,
                            void* running_mean, void* running_var);
  /* Gradients of the training-mode forward; dgamma/dbeta may be NULL when not wanted. */
  int (*batch_norm_backward)(ns_dtype dt, int64_t n, int64_t c, int64_t hw, const void* x, const void* dy,
                             const void* gamma, const void* mean, const void* invstd, void* dx, void* dgamma,
                             void* dbeta);

  /* ------------------------------------------------------------ random */
  /* Counter-based Philox-4x32-10 stream: element i of a call uses counter (offset + i/4, lane i%4) under
   * key `seed`, so results do not depend on threads or backend. A call consumes ceil(n / 4) counters. */
  int (*random)(ns_dtype dt, int kind, int64_t n, uint64_t seed, uint64_t offset, double a, double b, void* out);

  /* ------------------------------------------------------------- optim */
  /* In-place SGD step (PyTorch semantics): g = grad + weight_decay·p; with momentum μ,
   * buf = first_step ? g : μ·buf + (1−dampening)·g, g = nesterov ? g + μ·buf : buf; p −= lr·g.
   * momentum_buf may be NULL when momentum is 0. */
  int (*sgd_step)(ns_dtype dt, int64_t n, void* param, const void* grad, void* momentum_buf, double lr,
                  double momentum, double dampening, double weight_decay, int nesterov, int first_step);
  /* In-place Adam/AdamW step number `step` (≥ 1), PyTorch semantics; decoupled selects AdamW's
   * weight decay (p −= lr·wd·p) over Adam's L2 term (g += wd·p). */
  int (*adam_step)(ns_dtype dt, int64_t n, void* param, const void* grad, void* exp_avg, void* exp_avg_sq, double lr,
                   double beta1, double beta2, double eps, double weight_decay, int decoupled, int64_t step);
  /* In-place RMSprop step (PyTorch semantics): g = grad + weight_decay·p; v = α·v + (1−α)·g²;
   * centered: ga = α·ga + (1−α)·g, d = √(v − ga²) + eps, else d = √v + eps; with momentum μ > 0:
   * buf = μ·buf + g/d, p −= lr·buf, else p −= lr·g/d. grad_avg may be NULL unless centered, momentum_buf
   * unless μ > 0. */
  int (*rmsprop_step)(ns_dtype dt, int64_t n, void* param, const void* grad, void* square_avg, void* grad_avg,
                      void* momentum_buf, double lr, double alpha, double eps, double weight_decay, double momentum,
                      int centered);
} ns_kernels;

/* The CPU backend (always present). */
const ns_kernels* ns_cpu_kernels(void);
/* The CUDA backend: NULL when this binary was built without CUDA or no usable device is present
 * (cuda/cuda.h says why). */
const ns_kernels* ns_cuda_kernels(void);

#ifdef __cplusplus
}
#endif

#endif
