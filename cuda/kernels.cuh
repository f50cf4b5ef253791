// The CUDA implementations of every ns_kernels member (native/kernels.h is their contract). Each function
// has exactly the parameter list of the table member of the same name; kernels.cu assembles the table.
// Elementwise, shape, reduce, softmax, pool, norm, random and optim live in the files of those names;
// matmul, conv2d_* and similarity_* (the GEMM family) in their own files.
#ifndef NEURAL_SIMILARITY_CUDA_KERNELS_CUH
#define NEURAL_SIMILARITY_CUDA_KERNELS_CUH

#include <cstdint>

#include "kernels.h"

namespace ns {
namespace cuda {

// elementwise.cu
int unary(ns_dtype dt, int op, int64_t n, const void* x, void* y, double alpha);
int unary_backward(ns_dtype dt, int op, int64_t n, const void* x, const void* y, const void* dy, void* dx,
                   double alpha);
int binary(ns_dtype dt, int op, int ndim, const int64_t* shape, const int64_t* stride_a, const int64_t* stride_b,
           const void* a, const void* b, void* out);
int cast(ns_dtype src_dt, ns_dtype dst_dt, int64_t n, const void* src, void* dst);
int fill(ns_dtype dt, int64_t n, double value, void* out);

// shape.cu
int copy(ns_dtype dt, int ndim, const int64_t* shape, const void* src, int64_t src_offset,
         const int64_t* src_strides, void* dst, int64_t dst_offset, const int64_t* dst_strides);
int index_select(ns_dtype dt, int64_t n_out, int64_t row, int64_t n_in, const void* src, const int32_t* index,
                 void* out);

// reduce.cu
int reduce(ns_dtype dt, int op, int64_t outer, int64_t r, int64_t inner, const void* x, void* y, double scale);
int argmax(ns_dtype dt, int64_t outer, int64_t r, int64_t inner, const void* x, int32_t* out);

// softmax.cu
int softmax(ns_dtype dt, int is_log, int64_t outer, int64_t dim, int64_t inner, const void* x, void* y);
int softmax_backward(ns_dtype dt, int is_log, int64_t outer, int64_t dim, int64_t inner, const void* y,
                     const void* dy, void* dx);
int one_hot(ns_dtype dt, int64_t n, int64_t classes, const int32_t* labels, double on_value, double off_value,
            void* out);

// GEMM family (matmul, convolution, similarity)
int matmul(ns_dtype dt, int64_t batch, int64_t m, int64_t n, int64_t k, const void* a, int64_t a_bs, int64_t a_rs,
           int64_t a_cs, const void* b, int64_t b_bs, int64_t b_rs, int64_t b_cs, void* c, int accumulate);
int conv2d_forward(ns_dtype dt, const ns_conv2d_desc* d, const void* x, const void* w, const void* bias, void* y);
int conv2d_backward_input(ns_dtype dt, const ns_conv2d_desc* d, const void* dy, const void* w, void* dx);
int conv2d_backward_weight(ns_dtype dt, const ns_conv2d_desc* d, const void* x, const void* dy, void* dw,
                           void* dbias);
int similarity_fold(ns_dtype dt, int spatial, int64_t rows, int64_t k, const void* w, const void* m, void* out);
int similarity_static_backward_weight(ns_dtype dt, const ns_conv2d_desc* d, int spatial, const void* x,
                                      const void* dy, const void* w, const void* m, void* dw, void* dm,
                                      void* dbias);
int similarity_conv2d_forward(ns_dtype dt, const ns_conv2d_desc* d, int spatial, const void* x, const void* w,
                              const void* m, const void* bias, void* y);
int similarity_conv2d_backward(ns_dtype dt, const ns_conv2d_desc* d, int spatial, const void* x, const void* w,
                               const void* m, const void* dy, void* dx, void* dw, void* dm, void* dbias);

// pool.cu
int max_pool2d(ns_dtype dt, const ns_pool2d_desc* d, const void* x, void* y, int32_t* argmax);
int max_pool2d_backward(ns_dtype dt, const ns_pool2d_desc* d, const void* dy, const int32_t* argmax, void* dx);
int avg_pool2d(ns_dtype dt, const ns_pool2d_desc* d, int count_include_pad, const void* x, void* y);
int avg_pool2d_backward(ns_dtype dt, const ns_pool2d_desc* d, int count_include_pad, const void* dy, void* dx);

// norm.cu
int batch_norm_forward(ns_dtype dt, int64_t n, int64_t c, int64_t hw, const void* x, const void* gamma,
                       const void* beta, double eps, double momentum, void* y, void* mean, void* invstd,
                       void* running_mean, void* running_var);
int batch_norm_backward(ns_dtype dt, int64_t n, int64_t c, int64_t hw, const void* x, const void* dy,
                        const void* gamma, const void* mean, const void* invstd, void* dx, void* dgamma,
                        void* dbeta);

// random.cu
int random(ns_dtype dt, int kind, int64_t n, uint64_t seed, uint64_t offset, double a, double b, void* out);

// optim.cu
int sgd_step(ns_dtype dt, int64_t n, void* param, const void* grad, void* momentum_buf, double lr, double momentum,
             double dampening, double weight_decay, int nesterov, int first_step);
int adam_step(ns_dtype dt, int64_t n, void* param, const void* grad, void* exp_avg, void* exp_avg_sq, double lr,
              double beta1, double beta2, double eps, double weight_decay, int decoupled, int64_t step);
int rmsprop_step(ns_dtype dt, int64_t n, void* param, const void* grad, void* square_avg, void* grad_avg,
                 void* momentum_buf, double lr, double alpha, double eps, double weight_decay, double momentum,
                 int centered);

}  // namespace cuda
}  // namespace ns

#endif
