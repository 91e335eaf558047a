// Entry point of the AMD (CDNA, wave64, MFMA) path of tilegen's bundled kittens runtime.
// kittens.cuh includes this file when __HIP_PLATFORM_AMD__ is defined. docs/amd.md describes the
// layouts, the choices made and what has (and has not) been verified.
#pragma once

#include "base.cuh"
#include "global.cuh"
#include "layout.cuh"
#include "memory.cuh"
#include "mma.cuh"
#include "ops.cuh"
#include "register.cuh"
#include "shared.cuh"
#include "tilegen_ext.cuh"
#include "sched.cuh"
