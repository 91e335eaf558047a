// The NVIDIA (warp32: mma.sync, ldmatrix, cp.async) path of tilegen's bundled kittens runtime.
// kittens.cuh includes this file when not compiling for AMD; see docs/nvidia.md.
#pragma once

#include "base.cuh"
#include "shared.cuh"
#include "register.cuh"
#include "mma.cuh"
#include "memory.cuh"
#include "tilegen_ext.cuh"
#include "mbarrier.cuh"
#include "tma.cuh"
#include "wgmma.cuh"
#include "sched.cuh"
