/*
 * The CUDA backend's own calls, beside its kernel table `ns_cuda_kernels()` (native/kernels.h).
 * Compiled only by CMakeLists.txt when a CUDA toolkit is present; the CUDA runtime is linked statically
 * and loads the driver lazily, so the binary loads on machines without a GPU or driver.
 */
#ifndef NEURAL_SIMILARITY_CUDA_H
#define NEURAL_SIMILARITY_CUDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What the CUDA runtime says about this machine. */
typedef struct ns_cuda_info {
  int device_count;          /* usable devices (0 when none or no driver) */
  char device_name[256];     /* device 0's name, when there is one */
  int compute_major, compute_minor;
  uint64_t total_memory;     /* bytes of device 0 */
  int multiprocessors;
  int driver_version;        /* cudaDriverGetVersion, e.g. 13000; 0 without a driver */
  int runtime_version;       /* cudaRuntimeGetVersion of the statically linked runtime */
  char reason[512];          /* why CUDA is or is not used (the runtime's message when it fails) */
} ns_cuda_info;

/* Fills `out`; the first call initialises the runtime and, when a device is present, the backend's stream
 * and allocator on device 0. Later calls return the same facts. */
void ns_cuda_query(ns_cuda_info* out);

/* Whether float32 convolutions and matrix products may use TF32 tensor cores (default 1), as PyTorch's
 * torch.backends.cuda.matmul.allow_tf32 / cudnn.allow_tf32. 0 selects strict FP32 (FMA) kernels. */
void ns_cuda_set_allow_tf32(int allow);
int ns_cuda_allow_tf32(void);

#ifdef __cplusplus
}
#endif

#endif
