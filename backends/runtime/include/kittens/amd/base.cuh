// Basic types and facts of the AMD CDNA path (wave64): lane/warp ids, bf16, conversions, waits.
// Part of tilegen's bundled kittens runtime; written for this project (see docs/amd.md).
#pragma once

#include <hip/hip_runtime.h>

#include <cstdint>
#include <type_traits>

#if __has_include(<hip/hip_bf16.h>)
#include <hip/hip_bf16.h>
#define KITTENS_AMD_HAS_HIP_BF16 1
#endif

// Functions that also run on the host: the index math and the per-lane bodies of every memory op,
// so tests/amd_kernels/host_emulation.cpp can execute them lane by lane without a GPU.
#define KITTENS_HD __host__ __device__ __forceinline__
#define KITTENS_DEVICE __device__ __forceinline__

namespace kittens {

inline constexpr int WARP_THREADS = 64;
inline constexpr int WARPGROUP_WARPS = 4;
inline constexpr int WARPGROUP_THREADS = WARP_THREADS * WARPGROUP_WARPS;

// readfirstlane tells the compiler the wave index is uniform, so group bands, subtile offsets and
// role branches derived from it live in scalar registers and branch without divergence.
KITTENS_DEVICE int warpid() { return __builtin_amdgcn_readfirstlane(threadIdx.x / WARP_THREADS); }
KITTENS_DEVICE int laneid() { return threadIdx.x % WARP_THREADS; }

#ifdef KITTENS_AMD_HAS_HIP_BF16
using bf16 = __hip_bfloat16;
#else
// HIP before 5.7 (Debian's 5.2 included) has no __hip_bfloat16. The runtime only ever moves the
// 16-bit pattern and converts through float, so a two-byte struct is all it needs.
struct bf16 {
    uint16_t bits;
};
#endif
static_assert(sizeof(bf16) == 2, "bf16 must be a 16-bit storage type");

namespace detail {

template <typename T>
inline constexpr bool is_supported_dtype = std::is_same_v<T, bf16> || std::is_same_v<T, float>;

KITTENS_HD uint16_t bf16_bits(bf16 value) { return __builtin_bit_cast(uint16_t, value); }
KITTENS_HD bf16 bf16_from_bits(uint16_t bits) { return __builtin_bit_cast(bf16, bits); }

// Round to nearest even, as torch does; NaN stays a (quiet) NaN instead of rounding into infinity.
KITTENS_HD uint16_t float_to_bf16_bits(float value) {
    uint32_t u = __builtin_bit_cast(uint32_t, value);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        return static_cast<uint16_t>((u >> 16) | 0x0040u);
    }
    u += 0x7fffu + ((u >> 16) & 1u);
    return static_cast<uint16_t>(u >> 16);
}

KITTENS_HD float bf16_bits_to_float(uint16_t bits) {
    return __builtin_bit_cast(float, static_cast<uint32_t>(bits) << 16);
}

template <typename To, typename From>
KITTENS_HD To convert(From value) {
    static_assert(is_supported_dtype<To> && is_supported_dtype<From>,
                  "kittens (AMD): only bf16 and float are supported");
    if constexpr (std::is_same_v<To, From>) {
        return value;
    } else if constexpr (std::is_same_v<To, float>) {
        return bf16_bits_to_float(bf16_bits(value));
    } else {
        return bf16_from_bits(float_to_bf16_bits(value));
    }
}

// The value, hidden from the optimiser (no instruction). A shared-tile access computes one
// address per swizzled base tile; unhidden, LLVM hoists all of them out of the K loop and keeps
// them live in VGPRs (one per base tile of every register tile loaded in the loop), which pushed
// tight schedules into spills. Hidden, they are recomputed next to their ds_read: a few VALU ops.
KITTENS_HD int recompute_per_use(int value) {
#if defined(__HIP_DEVICE_COMPILE__)
    asm volatile("" : "+v"(value));
#endif
    return value;
}

// s_waitcnt immediates in the gfx9 encoding (gfx90a, gfx940/942): vmcnt in bits [3:0] and [15:14],
// expcnt in [6:4], lgkmcnt in [11:8]; a field at its maximum means "do not wait on it".
inline constexpr int VMCNT_MAX = 63;
KITTENS_HD constexpr int waitcnt_vmcnt(int vmcnt) {
    return (vmcnt & 0xF) | ((vmcnt >> 4) << 14) | (0x7 << 4) | (0xF << 8);
}
}  // namespace detail
}  // namespace kittens
