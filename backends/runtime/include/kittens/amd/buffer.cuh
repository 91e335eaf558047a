// Global -> registers through a buffer resource (namespace tg; not part of HipKittens): the
// asynchronous half of tg::stage_load on AMD devices.
//
// A buffer resource (V#) is four scalar registers: the tile's base address, the number of bytes
// the loads may touch, and the format word. Each load then needs one 32-bit lane offset (a VGPR)
// plus a wave-uniform offset (an SGPR): `buffer_load_dwordx4 v[..], v_off, s[rsrc], s_off offen`.
// Against flat 64-bit global addresses this saves the 64-bit address arithmetic of every chunk
// (two SALU multiplies and adds per row) and a VGPR pair per chunk in flight. Loads past the
// resource's byte range return 0 instead of faulting; the range is the tile's own extent, which
// every correct chunk lies inside.
#pragma once

#include "memory.cuh"

namespace tg {
namespace detail {

// Format word of a raw buffer resource on gfx9 (CDNA2/3/4): DATA_FORMAT = 32 bits, the value
// CDNA buffer loads of whole dwords use (HipKittens' and composable_kernel's too).
inline constexpr int BUFFER_FORMAT_GFX9 = 0x00020000;

// Clang 19 and later have the buffer-resource type and builtins (older ones: plain global loads).
#if defined(__HIP_DEVICE_COMPILE__) && __has_builtin(__builtin_amdgcn_make_buffer_rsrc) && \
    __has_builtin(__builtin_amdgcn_raw_buffer_load_b128)
#define TG_BUFFER_LOADS 1
// The chunks of `idx` that this lane moves in a group<N> staging of ST, as group_share assigns
// them (the same chunks as kittens::detail::stage_load_lane), through one buffer resource.
template <typename ST, int N, kittens::ducks::gl::all GL>
__device__ __forceinline__ void buffer_stage_load_lane(kittens::detail::staged_chunks<ST, N>& staged, const GL& src,
                                                       kittens::coord<ST> idx, int member, int lane) {
    using T = typename ST::dtype;
    using share = kittens::detail::group_share<ST, N>;
    static_assert(std::is_same_v<T, typename GL::dtype>,
                  "tg::stage_load: the shared tile and the global matrix must have the same dtype");
    const int64_t stride = src.row_stride();
    const T* origin = src.raw_ptr + static_cast<int64_t>(idx.r) * ST::rows * stride +
                      static_cast<int64_t>(idx.c) * ST::cols;
    // Bytes from the tile's first element to one past its last: the tile's whole extent.
    const int extent = static_cast<int>(((ST::rows - 1) * stride + ST::cols) * static_cast<int64_t>(sizeof(T)));
    const __amdgpu_buffer_rsrc_t rsrc =
        __builtin_amdgcn_make_buffer_rsrc(const_cast<T*>(origin), 0, extent, BUFFER_FORMAT_GFX9);
#pragma unroll
    for (int k = 0; k < share::CHUNKS_PER_LANE; ++k) {
        if (!share::moves(member, lane, k)) continue;
        // The chunk's byte offset in two parts: what the lane and its warp's band decide (a VGPR
        // computed once, outside the K loop) and what the chunk number decides (an SGPR, also
        // loop-invariant; 0 for the first chunk).
        const int lane_bytes = static_cast<int>(
            ((share::first_row(member) + share::lane_rows(lane, k)) * stride + share::chunk_col(lane, k)) *
            static_cast<int64_t>(sizeof(T)));
        const int wave_bytes = static_cast<int>(share::k_rows(k) * stride * static_cast<int64_t>(sizeof(T)));
        const auto chunk = __builtin_amdgcn_raw_buffer_load_b128(rsrc, lane_bytes, wave_bytes, 0);
        staged.chunks[k] = __builtin_bit_cast(kittens::detail::u32x4, chunk);
    }
}
#endif

}  // namespace detail
}  // namespace tg
