// Device discovery for the CUDA backend.
#include <cuda_runtime.h>

#include <cstdio>

#include "cuda_backend.h"

extern "C" int ns_cuda_device_query(char* name, size_t name_len, char* reason, size_t reason_len) {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    std::snprintf(reason, reason_len, "CUDA kernels are compiled in but unusable: %s", cudaGetErrorString(err));
    cudaGetLastError();  // clear the sticky error so later queries start clean
    return 0;
  }
  if (count == 0) {
    std::snprintf(reason, reason_len, "CUDA kernels are compiled in but no CUDA device is present");
    return 0;
  }
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
    std::snprintf(reason, reason_len, "CUDA device 0 could not be queried");
    return 0;
  }
  std::snprintf(name, name_len, "%s (sm_%d%d, %.1f GiB)", prop.name, prop.major, prop.minor,
                prop.totalGlobalMem / 1073741824.0);
  std::snprintf(reason, reason_len, "CUDA device found: %s", name);
  return count;
}
