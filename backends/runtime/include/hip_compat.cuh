// The few HIP names emitted code uses, mapped onto CUDA for nvcc (docs/nvidia.md). Under HIP it
// is the HIP runtime header and nothing else.
#pragma once

#if defined(__HIP_PLATFORM_AMD__) || defined(__HIP__)
#include <hip/hip_runtime.h>
#else
#include <cuda_runtime.h>

using hipStream_t = cudaStream_t;
using hipError_t = cudaError_t;
using hipFuncAttribute = cudaFuncAttribute;

inline constexpr hipError_t hipSuccess = cudaSuccess;
inline constexpr hipFuncAttribute hipFuncAttributeMaxDynamicSharedMemorySize =
    cudaFuncAttributeMaxDynamicSharedMemorySize;

inline hipError_t hipFuncSetAttribute(const void* function, hipFuncAttribute attribute, int value) {
    return cudaFuncSetAttribute(function, attribute, value);
}
inline hipError_t hipGetLastError() { return cudaGetLastError(); }
inline hipError_t hipPeekAtLastError() { return cudaPeekAtLastError(); }
inline const char* hipGetErrorString(hipError_t error) { return cudaGetErrorString(error); }
inline hipError_t hipDeviceSynchronize() { return cudaDeviceSynchronize(); }
inline hipError_t hipStreamSynchronize(hipStream_t stream) { return cudaStreamSynchronize(stream); }

#define hipLaunchKernelGGL(kernel, grid, block, shared_bytes, stream, ...) \
    kernel<<<(grid), (block), (shared_bytes), (stream)>>>(__VA_ARGS__)

// AMD's s_barrier inside a role branch, where only some waves take each path but every wave
// reaches the same number of barriers. `barrier.sync 0` without .aligned (sm_70 and later)
// counts arrivals per thread, so warps may arrive at different barrier instructions; the
// .aligned form that __syncthreads() becomes would be undefined there. __barrier_sync is
// CUDA's own spelling of that instruction, which also tells the compiler it is a barrier.
__device__ __forceinline__ void __builtin_amdgcn_s_barrier() { __barrier_sync(0); }
#endif
