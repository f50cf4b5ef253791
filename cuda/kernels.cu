// The CUDA backend's kernel table (native/kernels.h): every member from kernels.cuh plus the backend's
// ns_device. NULL when no usable device is present (ns_cuda_query() says why).
#include "common.cuh"
#include "kernels.cuh"

namespace {

ns_kernels make_table(const ns_device* device) {
  namespace k = ns::cuda;
  ns_kernels t{};
  t.device = device;
  t.unary = k::unary;
  t.unary_backward = k::unary_backward;
  t.binary = k::binary;
  t.cast = k::cast;
  t.fill = k::fill;
  t.copy = k::copy;
  t.index_select = k::index_select;
  t.reduce = k::reduce;
  t.argmax = k::argmax;
  t.softmax = k::softmax;
  t.softmax_backward = k::softmax_backward;
  t.one_hot = k::one_hot;
  t.matmul = k::matmul;
  t.conv2d_forward = k::conv2d_forward;
  t.conv2d_backward_input = k::conv2d_backward_input;
  t.conv2d_backward_weight = k::conv2d_backward_weight;
  t.similarity_fold = k::similarity_fold;
  t.similarity_static_backward_weight = k::similarity_static_backward_weight;
  t.similarity_conv2d_forward = k::similarity_conv2d_forward;
  t.similarity_conv2d_backward = k::similarity_conv2d_backward;
  t.max_pool2d = k::max_pool2d;
  t.max_pool2d_backward = k::max_pool2d_backward;
  t.avg_pool2d = k::avg_pool2d;
  t.avg_pool2d_backward = k::avg_pool2d_backward;
  t.batch_norm_forward = k::batch_norm_forward;
  t.batch_norm_backward = k::batch_norm_backward;
  t.random = k::random;
  t.sgd_step = k::sgd_step;
  t.adam_step = k::adam_step;
  t.rmsprop_step = k::rmsprop_step;
  return t;
}

}  // namespace

extern "C" const ns_kernels* ns_cuda_kernels(void) {
  static const ns_device* device = ns::cuda::device();
  if (!device) return nullptr;
  static const ns_kernels table = make_table(device);
  return &table;
}
