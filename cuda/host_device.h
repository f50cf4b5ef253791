// NS_HD marks a function as callable from both host and device code under nvcc and is empty elsewhere,
// so headers holding such functions (philox.cuh, allocator-free math helpers) also compile with g++.
#ifndef NEURAL_SIMILARITY_CUDA_HOST_DEVICE_H
#define NEURAL_SIMILARITY_CUDA_HOST_DEVICE_H

#ifdef __CUDACC__
#define NS_HD __host__ __device__
#else
#define NS_HD
#endif

#endif
