// Basic types of the NVIDIA path (warp32): ids, bf16, packed pairs, coordinates, global views.
// Part of tilegen's bundled kittens runtime, written for this project; see docs/nvidia.md.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#define KITTENS_DEVICE __device__ __forceinline__
#define KITTENS_HD __host__ __device__ __forceinline__

namespace kittens {

inline constexpr int WARP_THREADS = 32;
inline constexpr int WARPGROUP_WARPS = 4;
inline constexpr int WARPGROUP_THREADS = WARP_THREADS * WARPGROUP_WARPS;

KITTENS_DEVICE int warpid() { return static_cast<int>(threadIdx.x) / WARP_THREADS; }
KITTENS_DEVICE int laneid() { return static_cast<int>(threadIdx.x) % WARP_THREADS; }
KITTENS_DEVICE int warpgroupid() { return static_cast<int>(threadIdx.x) / WARPGROUP_THREADS; }

using bf16 = __nv_bfloat16;
using bf16_2 = __nv_bfloat162;

namespace detail {

template <typename T>
inline constexpr bool is_supported_dtype = std::is_same_v<T, bf16> || std::is_same_v<T, float>;

// Register tiles hold their elements in pairs: one 32-bit register of two bf16, or two floats.
template <typename T>
struct pair_of;
template <>
struct pair_of<float> {
    using type = float2;
};
template <>
struct pair_of<bf16> {
    using type = bf16_2;
};
template <typename T>
using pair_t = typename pair_of<T>::type;

KITTENS_DEVICE float2 to_float2(float2 v) { return v; }
KITTENS_DEVICE float2 to_float2(bf16_2 v) { return __bfloat1622float2(v); }

template <typename T>
KITTENS_DEVICE pair_t<T> from_float2(float2 v) {
    if constexpr (std::is_same_v<T, float>) {
        return v;
    } else {
        return __float22bfloat162_rn(v);  // round to nearest even, as torch does
    }
}

template <typename To, typename From>
KITTENS_DEVICE pair_t<To> convert_pair(From v) {
    if constexpr (std::is_same_v<pair_t<To>, From>) {
        return v;
    } else {
        return from_float2<To>(to_float2(v));
    }
}

template <typename To, typename From>
KITTENS_DEVICE To convert(From v) {
    if constexpr (std::is_same_v<To, From>) {
        return v;
    } else if constexpr (std::is_same_v<To, float>) {
        return __bfloat162float(v);
    } else {
        return __float2bfloat16_rn(v);
    }
}

template <typename T>
KITTENS_DEVICE uint32_t as_u32(T v) {
    static_assert(sizeof(T) == 4, "only 32-bit values pass through a b32 register");
    uint32_t bits;
    memcpy(&bits, &v, 4);
    return bits;
}

template <typename T>
KITTENS_DEVICE T from_u32(uint32_t bits) {
    static_assert(sizeof(T) == 4, "only 32-bit values pass through a b32 register");
    T v;
    memcpy(&v, &bits, 4);
    return v;
}

}  // namespace detail

// Coordinates {batch, depth, row, col}. Rows and columns count tiles of the shape being moved
// (HipKittens' convention): row r of a 128-row tile starts at element row 128 * r. The
// constructor takes any integer type, so `{0, 0, row, k}` works whatever the emitted
// expressions' types are.
template <typename TILE = void>
struct coord {
    int b = 0, d = 0, r = 0, c = 0;
    coord() = default;
    template <typename B, typename D, typename R, typename C>
    KITTENS_HD constexpr coord(B b_, D d_, R r_, C c_)
        : b(static_cast<int>(b_)), d(static_cast<int>(d_)), r(static_cast<int>(r_)), c(static_cast<int>(c_)) {}
};

namespace ducks {
namespace gl {
struct identifier {};
template <typename T>
concept all = std::is_same_v<typename T::identifier, identifier>;
}  // namespace gl
}  // namespace ducks

// A row-major, contiguous matrix in global memory with its extents known at run time (a
// positive template extent fixes that extent at compile time instead). tilegen's GEMMs are 2-D:
// pyutils builds every gl with batch = depth = 1.
template <typename T, int B, int D, int R, int C>
struct gl {
    static_assert(detail::is_supported_dtype<T>, "kittens (NVIDIA): gl<T, ...> supports bf16 and float");
    using identifier = ducks::gl::identifier;
    using dtype = T;

    T* raw_ptr = nullptr;
    int batch_ = 1, depth_ = 1, rows_ = 0, cols_ = 0;

    gl() = default;
    // What pyutils builds from a torch tensor: data pointer and the four extents.
    KITTENS_HD gl(T* data, int batch, int depth, int rows, int cols)
        : raw_ptr(data), batch_(batch), depth_(depth), rows_(rows), cols_(cols) {}

    KITTENS_HD int batch() const { return B > 0 ? B : batch_; }
    KITTENS_HD int depth() const { return D > 0 ? D : depth_; }
    KITTENS_HD int rows() const { return R > 0 ? R : rows_; }
    KITTENS_HD int cols() const { return C > 0 ? C : cols_; }

    // Address of element (row, col) of matrix (b, d); 64-bit offsets, as M x K may pass 2^31.
    KITTENS_HD T* element(int b, int d, int row, int col) const {
        const int64_t matrix = static_cast<int64_t>(b) * depth() + d;
        return raw_ptr + (matrix * rows() + row) * static_cast<int64_t>(cols()) + col;
    }
};

}  // namespace kittens
