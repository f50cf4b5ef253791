// The CPU backend's kernel table (native/kernels.h).
#include "cpu.h"

extern "C" const ns_kernels* ns_cpu_kernels(void) {
  static const ns_kernels table = [] {
    ns_kernels k{};
    k.device = ns_cpu_device();
    k.unary = ns_cpu_unary;
    k.unary_backward = ns_cpu_unary_backward;
    k.binary = ns_cpu_binary;
    k.cast = ns_cpu_cast;
    k.fill = ns_cpu_fill;
    k.copy = ns_cpu_copy;
    k.index_select = ns_cpu_index_select;
    k.reduce = ns_cpu_reduce;
    k.argmax = ns_cpu_argmax;
    k.softmax = ns_cpu_softmax;
    k.softmax_backward = ns_cpu_softmax_backward;
    k.one_hot = ns_cpu_one_hot;
    k.matmul = ns_cpu_matmul;
    k.conv2d_forward = ns_cpu_conv2d_forward;
    k.conv2d_backward_input = ns_cpu_conv2d_backward_input;
    k.conv2d_backward_weight = ns_cpu_conv2d_backward_weight;
    k.similarity_fold = ns_cpu_similarity_fold;
    k.similarity_static_backward_weight = ns_cpu_similarity_static_backward_weight;
    k.similarity_conv2d_forward = ns_cpu_similarity_conv2d_forward;
    k.similarity_conv2d_backward = ns_cpu_similarity_conv2d_backward;
    k.max_pool2d = ns_cpu_max_pool2d;
    k.max_pool2d_backward = ns_cpu_max_pool2d_backward;
    k.avg_pool2d = ns_cpu_avg_pool2d;
    k.avg_pool2d_backward = ns_cpu_avg_pool2d_backward;
    k.batch_norm_forward = ns_cpu_batch_norm_forward;
    k.batch_norm_backward = ns_cpu_batch_norm_backward;
    k.random = ns_cpu_random;
    k.sgd_step = ns_cpu_sgd_step;
    k.adam_step = ns_cpu_adam_step;
    k.rmsprop_step = ns_cpu_rmsprop_step;
    return k;
  }();
  return &table;
}
