// tilegen's bundled kittens runtime: the part of the HipKittens API that emitted kernels use,
// with two hardware paths behind one API (docs/runtime-api.md).
#pragma once

// Emitted code tells the bundled runtime from a HipKittens checkout by this (TG_WAIT_SHARED_LOADS).
#define TILEGEN_BUNDLED_RUNTIME 1

// Debian's hipcc (HIP 5.2) defines __HIP_PLATFORM_AMD__ only inside the HIP headers.
#if defined(__HIP__) && !defined(__HIP_PLATFORM_AMD__) && !defined(__HIP_PLATFORM_NVIDIA__)
#include <hip/hip_runtime.h>
#endif

#if defined(__HIP_PLATFORM_AMD__)
#include "kittens/amd/all.cuh"
#else
#include "hip_compat.cuh"
#include "kittens/nvidia/all.cuh"
#endif
