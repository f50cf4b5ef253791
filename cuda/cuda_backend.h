/*
 * CUDA side of the C ABI (see native/kernels.h). Compiled only by CMakeLists.txt when a CUDA toolkit is
 * present; the CUDA runtime is linked statically and the driver is loaded lazily by it, so the binary
 * loads on machines without a GPU or driver.
 */
#ifndef NEURAL_SIMILARITY_CUDA_BACKEND_H
#define NEURAL_SIMILARITY_CUDA_BACKEND_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Number of usable CUDA devices (0 when none). Writes device 0's name into `name` when there is one,
 * and into `reason` why the CUDA backend is or is not usable (e.g. the runtime's error string). */
int ns_cuda_device_query(char* name, size_t name_len, char* reason, size_t reason_len);

#ifdef __cplusplus
}
#endif

#endif
