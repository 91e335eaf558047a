// Global -> LDS without registers (gfx950 `buffer_load_dwordx4 ... lds`), for group<N>::load_async
// (namespace tg::detail; not part of HipKittens).
//
// One such load moves 16 bytes per lane, and the 64 lanes' chunks land *contiguously* in LDS from a
// wave-uniform base (M0): lane l writes bytes [16 l, 16 l + 16). A wave's band of an ST tile is whole
// rows, so one load fills 1024 / ROW_BYTES consecutive rows. The swizzle decides which logical chunk
// lives in each 16-byte slot of a row (slot = chunk ^ key(row)); lane l therefore *reads* the global
// chunk that belongs in its slot, chunk = slot ^ key(row), and the tile lands swizzled exactly as
// st::offset expects. The loads complete at s_waitcnt vmcnt (tg::async_wait), and LDS holds the data
// for other waves after the next barrier. The compiler does not track these writes to LDS: the
// schedule's waits are what make them safe (the validator and simulator hold them pending).
#pragma once

#include "global.cuh"
#include "shared.cuh"

namespace tg {
namespace detail {

template <typename ST, int N>
struct lds_dma_share {
    using T = typename ST::dtype;
    static constexpr int ROW_BYTES = ST::cols * static_cast<int>(sizeof(T));
    static constexpr int CHUNKS_PER_ROW = ROW_BYTES / 16;
    static constexpr int ROWS_PER_LOAD = ROW_BYTES <= 1024 ? 1024 / ROW_BYTES : 0;
    static constexpr int BAND_ROWS = ST::rows / N;
    // Direct loads need whole rows per load and whole loads per band (else: through registers).
    static constexpr bool WORKS = ROWS_PER_LOAD > 0 && 1024 % ROW_BYTES == 0 && ST::rows % N == 0 &&
                                  BAND_ROWS % ROWS_PER_LOAD == 0;
    // Vector memory instructions one lane issues per load_async of the tile.
    static constexpr int loads = WORKS ? BAND_ROWS / ROWS_PER_LOAD : 0;
};

#if defined(__HIP_DEVICE_COMPILE__) && defined(__gfx950__) && \
    __has_builtin(__builtin_amdgcn_raw_ptr_buffer_load_lds) && __has_builtin(__builtin_amdgcn_make_buffer_rsrc)
#define TG_LDS_DMA 1
template <typename ST, int N, kittens::ducks::gl::all GL>
__device__ __forceinline__ void lds_dma_load_lane(ST& dst, const GL& src, kittens::coord<ST> idx, int member,
                                                  int lane) {
    using T = typename ST::dtype;
    using share = lds_dma_share<ST, N>;
    using SW = typename ST::swizzle;
    static_assert(share::WORKS, "lds_dma_load_lane: the band is not whole loads of whole rows");
    const int64_t stride = src.row_stride();
    const T* origin = src.raw_ptr + static_cast<int64_t>(idx.r) * ST::rows * stride +
                      static_cast<int64_t>(idx.c) * ST::cols;
    const int extent = static_cast<int>(((ST::rows - 1) * stride + ST::cols) * static_cast<int64_t>(sizeof(T)));
    const __amdgpu_buffer_rsrc_t rsrc = __builtin_amdgcn_make_buffer_rsrc(const_cast<T*>(origin), 0, extent, 0x00020000);
    const int first = member * share::BAND_ROWS;
#pragma unroll
    for (int j = 0; j < share::loads; ++j) {
        const int row = first + j * share::ROWS_PER_LOAD + lane / share::CHUNKS_PER_ROW;
        const int chunk = (lane % share::CHUNKS_PER_ROW) ^ SW::key(row);
        const int bytes = static_cast<int>((row * stride + chunk * SW::CHUNK_ELEMENTS) * static_cast<int64_t>(sizeof(T)));
        // An address-space cast of the tile's generic pointer: the LDS address M0 takes.
        auto* lds = (__attribute__((address_space(3))) void*)(&dst.data[(first + j * share::ROWS_PER_LOAD) * ST::cols]);
        __builtin_amdgcn_raw_ptr_buffer_load_lds(rsrc, lds, 16, bytes, 0, 0, 0);
    }
}
#endif

}  // namespace detail
}  // namespace tg

namespace tg {
// How tg::async_wait counts a group<N>::load_async of an ST tile in vmcnt instructions: the direct
// loads one lane issues on gfx950; elsewhere the load is synchronous and leaves nothing in flight,
// so it never limits the count (a large value, clamped by async_wait).
template <typename ST, int N>
struct lds_load {
#if defined(TG_LDS_DMA)
    static constexpr int loads =
        detail::lds_dma_share<ST, N>::WORKS ? detail::lds_dma_share<ST, N>::loads : (1 << 16);
#else
    static constexpr int loads = 1 << 16;
#endif
};
}  // namespace tg
