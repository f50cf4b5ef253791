/*
 * The CPU backend: its runtime (threads, ISA, scratch workspace, huge pages) and the kernels that fill its
 * table (native/cpu/kernels.cc). Each ns_cpu_<kernel> has the parameter list and the contract of the
 * ns_kernels member of the same name in native/kernels.h.
 */
#ifndef NEURAL_SIMILARITY_CPU_H
#define NEURAL_SIMILARITY_CPU_H

#include "kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

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
/* The CPU's ns_device: tensor storage from a caching pool (native/cpu/memory.cc). */
const ns_device* ns_cpu_device(void);

/* ---------------------------------------------------------------- kernels */

int ns_cpu_unary(ns_dtype dt, int op, int64_t n, const void* x, void* y, double alpha);
int ns_cpu_unary_backward(ns_dtype dt, int op, int64_t n, const void* x, const void* y, const void* dy, void* dx,
                          double alpha);
int ns_cpu_binary(ns_dtype dt, int op, int ndim, const int64_t* shape, const int64_t* stride_a, const int64_t* stride_b,
                  const void* a, const void* b, void* out);
int ns_cpu_cast(ns_dtype src_dt, ns_dtype dst_dt, int64_t n, const void* src, void* dst);
int ns_cpu_fill(ns_dtype dt, int64_t n, double value, void* out);
int ns_cpu_copy(ns_dtype dt, int ndim, const int64_t* shape, const void* src, int64_t src_offset,
                const int64_t* src_strides, void* dst, int64_t dst_offset, const int64_t* dst_strides);
int ns_cpu_index_select(ns_dtype dt, int64_t n_out, int64_t row, int64_t n_in, const void* src, const int32_t* index,
                        void* out);
int ns_cpu_reduce(ns_dtype dt, int op, int64_t outer, int64_t r, int64_t inner, const void* x, void* y, double scale);
int ns_cpu_argmax(ns_dtype dt, int64_t outer, int64_t r, int64_t inner, const void* x, int32_t* out);
int ns_cpu_softmax(ns_dtype dt, int is_log, int64_t outer, int64_t dim, int64_t inner, const void* x, void* y);
int ns_cpu_softmax_backward(ns_dtype dt, int is_log, int64_t outer, int64_t dim, int64_t inner, const void* y,
                            const void* dy, void* dx);
int ns_cpu_one_hot(ns_dtype dt, int64_t n, int64_t classes, const int32_t* labels, double on_value, double off_value,
                   void* out);
int ns_cpu_matmul(ns_dtype dt, int64_t batch, int64_t m, int64_t n, int64_t k, const void* a, int64_t a_bs,
                  int64_t a_rs, int64_t a_cs, const void* b, int64_t b_bs, int64_t b_rs, int64_t b_cs, void* c,
                  int accumulate);
int ns_cpu_conv2d_forward(ns_dtype dt, const ns_conv2d_desc* d, const void* x, const void* w, const void* bias,
                          void* y);
int ns_cpu_conv2d_backward_input(ns_dtype dt, const ns_conv2d_desc* d, const void* dy, const void* w, void* dx);
int ns_cpu_conv2d_backward_weight(ns_dtype dt, const ns_conv2d_desc* d, const void* x, const void* dy, void* dw,
                                  void* dbias);
int ns_cpu_similarity_fold(ns_dtype dt, int spatial, int64_t rows, int64_t k, const void* w, const void* m, void* out);
int ns_cpu_similarity_static_backward_weight(ns_dtype dt, const ns_conv2d_desc* d, int spatial, const void* x,
                                             const void* dy, const void* w, const void* m, void* dw, void* dm,
                                             void* dbias);
int ns_cpu_similarity_conv2d_forward(ns_dtype dt, const ns_conv2d_desc* d, int spatial, const void* x, const void* w,
                                     const void* m, const void* bias, void* y);
int ns_cpu_similarity_conv2d_backward(ns_dtype dt, const ns_conv2d_desc* d, int spatial, const void* x,
                                      const void* w, const void* m, const void* dy, void* dx, void* dw, void* dm,
                                      void* dbias);
int ns_cpu_max_pool2d(ns_dtype dt, const ns_pool2d_desc* d, const void* x, void* y, int32_t* argmax);
int ns_cpu_max_pool2d_backward(ns_dtype dt, const ns_pool2d_desc* d, const void* dy, const int32_t* argmax, void* dx);
int ns_cpu_avg_pool2d(ns_dtype dt, const ns_pool2d_desc* d, int count_include_pad, const void* x, void* y);
int ns_cpu_avg_pool2d_backward(ns_dtype dt, const ns_pool2d_desc* d, int count_include_pad, const void* dy,
                               void* dx);
int ns_cpu_batch_norm_forward(ns_dtype dt, int64_t n, int64_t c, int64_t hw, const void* x, const void* gamma,
                              const void* beta, double eps, double momentum, void* y, void* mean, void* invstd,
                              void* running_mean, void* running_var);
int ns_cpu_batch_norm_backward(ns_dtype dt, int64_t n, int64_t c, int64_t hw, const void* x, const void* dy,
                               const void* gamma, const void* mean, const void* invstd, void* dx, void* dgamma,
                               void* dbeta);
int ns_cpu_random(ns_dtype dt, int kind, int64_t n, uint64_t seed, uint64_t offset, double a, double b, void* out);
int ns_cpu_sgd_step(ns_dtype dt, int64_t n, void* param, const void* grad, void* momentum_buf, double lr,
                    double momentum, double dampening, double weight_decay, int nesterov, int first_step);
int ns_cpu_adam_step(ns_dtype dt, int64_t n, void* param, const void* grad, void* exp_avg, void* exp_avg_sq, double lr,
                     double beta1, double beta2, double eps, double weight_decay, int decoupled, int64_t step);
int ns_cpu_rmsprop_step(ns_dtype dt, int64_t n, void* param, const void* grad, void* square_avg, void* grad_avg,
                        void* momentum_buf, double lr, double alpha, double eps, double weight_decay, double momentum,
                        int centered);

#ifdef __cplusplus
}
#endif

#endif
