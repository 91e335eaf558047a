// TMA (the bulk tensor copy engine, sm_90): whole tiles global <-> shared in one instruction per
// 128-byte-wide panel, described by a tensor map made on the host once per call.
// Part of tilegen's bundled kittens runtime (docs/nvidia.md, "Hopper: TMA, mbarriers, wgmma").
//
// Shared layout (tma_tile): a tile of R rows x C columns is stored as C / P panels of P columns
// (P = 128 bytes of elements: 64 bf16, 32 floats); a panel is R rows of 128 bytes, and inside each
// 1024-byte group of 8 rows the 16-byte chunk c of row r sits at chunk c ^ (r % 8). This is the
// 128-byte swizzle TMA writes (CU_TENSOR_MAP_SWIZZLE_128B) and wgmma reads (swizzle mode 1); it
// needs every panel 1024-byte aligned, which the shared_allocator gives (R a multiple of 8).
#pragma once

#include <cuda.h>  // CUtensorMap and its enums only: nothing links libcuda (cudaGetDriverEntryPointByVersion)

#include <stdexcept>
#include <string>

#include "base.cuh"
#include "mbarrier.cuh"
#include "memory.cuh"
#include "register.cuh"

namespace tg {

template <typename T, int R, int C>
struct tma_tile {
    static_assert(kittens::detail::is_supported_dtype<T>, "tg::tma_tile holds bf16 or float");
    using dtype = T;
    static constexpr int rows = R;
    static constexpr int cols = C;
    static constexpr int panel_cols = 128 / static_cast<int>(sizeof(T));
    static constexpr int panels = C / panel_cols;
    static constexpr int panel_bytes = R * 128;
    static constexpr int bytes = R * C * static_cast<int>(sizeof(T));
    static_assert(C % panel_cols == 0, "tg::tma_tile: columns must be a multiple of 128 bytes (64 bf16 / 32 floats)");
    static_assert(R % 8 == 0 && R <= 256, "tg::tma_tile: rows must be a multiple of 8, at most 256 (one TMA box)");

    T data[R * C];

    // Byte offset of element (row, col) inside the tile (what TMA and wgmma agree on).
    KITTENS_HD static constexpr uint32_t offset(int row, int col) {
        const int panel = col / panel_cols, in_panel = (col % panel_cols) * static_cast<int>(sizeof(T));
        const int chunk = (in_panel / 16) ^ (row % 8);
        return static_cast<uint32_t>(panel * panel_bytes + row * 128 + chunk * 16 + in_panel % 16);
    }
    KITTENS_DEVICE uint32_t smem() const { return shared_address(&data[0]); }
};

template <int R, int C>
using tma_tile_bf = tma_tile<kittens::bf16, R, C>;
template <int R, int C>
using tma_tile_fl = tma_tile<float, R, C>;

namespace tma {

// ---------------------------------------------------------------------------------------------
// Host: tensor maps
// ---------------------------------------------------------------------------------------------

using encode_tiled_fn = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                                     const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                                     CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

// cuTensorMapEncodeTiled from the driver the CUDA runtime already loaded (no -lcuda).
inline encode_tiled_fn encode_tiled() {
    static encode_tiled_fn fn = [] {
        void* entry = nullptr;
        cudaDriverEntryPointQueryResult found{};
        const cudaError_t status =
            cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &entry, 12000, cudaEnableDefault, &found);
        if (status != cudaSuccess || found != cudaDriverEntryPointSuccess || entry == nullptr) {
            throw std::runtime_error(std::string("tg::tma: cuTensorMapEncodeTiled is not available from the CUDA driver (") +
                                     cudaGetErrorString(status) + "); TMA needs a CUDA 12+ driver and an sm_90 GPU");
        }
        return reinterpret_cast<encode_tiled_fn>(entry);
    }();
    return fn;
}

// The tensor map for moving TILE-shaped tiles of the row-major matrix `gl` (rows x cols): a box
// of one panel (128 bytes x TILE::rows), 128-byte swizzle, zeros read past the edges.
template <typename TILE, kittens::ducks::gl::all GL>
inline CUtensorMap make_map(const GL& gl) {
    using T = typename GL::dtype;
    static_assert(std::is_same_v<T, typename TILE::dtype>, "tg::tma::make_map: the tile and the matrix must share a dtype");
    CUtensorMap map{};
    const cuuint64_t dims[2] = {static_cast<cuuint64_t>(gl.cols()), static_cast<cuuint64_t>(gl.rows())};
    const cuuint64_t strides[1] = {static_cast<cuuint64_t>(gl.cols()) * sizeof(T)};
    const cuuint32_t box[2] = {static_cast<cuuint32_t>(TILE::panel_cols), static_cast<cuuint32_t>(TILE::rows)};
    const cuuint32_t element_strides[2] = {1, 1};
    const CUresult result = encode_tiled()(
        &map, std::is_same_v<T, float> ? CU_TENSOR_MAP_DATA_TYPE_FLOAT32 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2,
        reinterpret_cast<void*>(gl.raw_ptr), dims, strides, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
        CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (result != CUDA_SUCCESS) {
        throw std::runtime_error("tg::tma::make_map: cuTensorMapEncodeTiled failed (CUresult " + std::to_string(result) +
                                 ") for a " + std::to_string(gl.rows()) + " x " + std::to_string(gl.cols()) +
                                 " matrix (needs a 16-byte aligned base and rows of a multiple of 16 bytes)");
    }
    return map;
}

// ---------------------------------------------------------------------------------------------
// Device: loads and stores (one thread issues them)
// ---------------------------------------------------------------------------------------------

KITTENS_DEVICE void prefetch_map(const CUtensorMap& map) {
    asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<uint64_t>(&map)) : "memory");
}

// Tile (row, col) of the matrix -- coordinates count whole tiles, as every kittens copy does --
// into `dst`; the bytes sign in on `bar` (which must expect TILE::bytes among its transaction bytes).
template <typename TILE>
KITTENS_DEVICE void load_async(TILE& dst, const CUtensorMap& map, mbarrier& bar, int row, int col) {
    const uint64_t map_address = reinterpret_cast<uint64_t>(&map);
    const uint32_t bar_address = shared_address(&bar);
#pragma unroll
    for (int panel = 0; panel < TILE::panels; ++panel) {
        const int x = col * TILE::cols + panel * TILE::panel_cols, y = row * TILE::rows;
        asm volatile(
            "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(
                dst.smem() + panel * TILE::panel_bytes),
            "l"(map_address), "r"(x), "r"(y), "r"(bar_address)
            : "memory");
    }
}

// `src` to tile (row, col) of the matrix; completes at store_wait().
template <typename TILE>
KITTENS_DEVICE void store_async(const CUtensorMap& map, const TILE& src, int row, int col) {
    const uint64_t map_address = reinterpret_cast<uint64_t>(&map);
#pragma unroll
    for (int panel = 0; panel < TILE::panels; ++panel) {
        const int x = col * TILE::cols + panel * TILE::panel_cols, y = row * TILE::rows;
        asm volatile("cp.async.bulk.tensor.2d.global.shared::cta.tile.bulk_group [%0, {%1, %2}], [%3];\n" ::"l"(map_address),
                     "r"(x), "r"(y), "r"(src.smem() + panel * TILE::panel_bytes)
                     : "memory");
    }
    asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
}

// Until at most P of this thread's stores still read their shared source.
template <int P>
KITTENS_DEVICE void store_wait_read() {
    asm volatile("cp.async.bulk.wait_group.read %0;\n" ::"n"(P) : "memory");
}

// Until at most P of this thread's stores are incomplete (their global writes done too).
template <int P>
KITTENS_DEVICE void store_wait() {
    asm volatile("cp.async.bulk.wait_group %0;\n" ::"n"(P) : "memory");
}

}  // namespace tma

// Registers -> a tma_tile, for a TMA store: this warp's rt_fl<16, N> (rows 16 w .. of a warpgroup's
// 64 x N result, columns [col0, col0 + TILE::cols) of it) to rows row0 .. row0 + 15 of `dst`,
// converted to the tile's dtype. Lanes of a quad write consecutive 4- or 8-byte pieces of one
// 16-byte chunk, and the swizzle puts the 8 rows of a warp instruction in 8 different chunks:
// free of bank conflicts.
template <typename TILE, typename L, int N>
KITTENS_DEVICE void store_slice(TILE& dst, const kittens::rt<float, 16, N, L>& src, int row0, int col0) {
    static_assert(TILE::cols % 16 == 0 && N % TILE::cols == 0, "tg::store_slice: the tile must cut N into whole slices");
    const int lane = kittens::laneid(), group = lane / 4, quad = lane % 4;
    const uint32_t base = dst.smem();
#pragma unroll
    for (int j = 0; j < TILE::cols / 16; ++j) {
#pragma unroll
        for (int p = 0; p < 4; ++p) {
            const float2 v = src.tiles[0][col0 / 16 + j].data[p];
            const int row = row0 + group + 8 * (p & 1), col = 16 * j + 2 * quad + 8 * (p >> 1);
            const uint32_t address = base + TILE::offset(row, col);
            if constexpr (std::is_same_v<typename TILE::dtype, float>) {
                asm volatile("st.shared.v2.f32 [%0], {%1, %2};\n" ::"r"(address), "f"(v.x), "f"(v.y) : "memory");
            } else {
                const uint32_t packed = kittens::detail::as_u32(__float22bfloat162_rn(v));
                asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(address), "r"(packed) : "memory");
            }
        }
    }
}

// Barrier of the warpgroup `group` alone (named barrier 1 + group, 128 threads): the other
// warpgroups go on.
KITTENS_DEVICE void warpgroup_barrier(int group) {
    asm volatile("bar.sync %0, 128;\n" ::"r"(1 + group) : "memory");
}

namespace tma {

// The epilogue of a warpgroup's 64 x N accumulator slice through shared memory and TMA stores:
// C tile (row, col) of 64 x N = alpha * acc (+ beta * C). With beta == 0 each part of `staging`'s
// width goes registers -> `staging` (every warp its 16 rows) -> a TMA store that one thread issues
// and nobody waits for: the warpgroup goes on to its next tile while the copy engine writes C;
// the next use of `staging` first waits until the previous store has read it. With beta != 0
// (C must be read) the warps store directly. Every thread of the warpgroup calls it; the barrier
// is the warpgroup's own (named barrier 1 + warpgroup), so other warpgroups are not held. Call
// store_drain() once after the last one, before the block ends.
template <typename TILE, kittens::ducks::gl::all GL, typename L, int N>
KITTENS_DEVICE void store_accumulators(const CUtensorMap& map, TILE& staging, kittens::rt<float, 16, N, L>& acc,
                                       const GL& c, int row, int col, float alpha, float beta) {
    static_assert(TILE::rows == 64 && N % TILE::cols == 0, "tg::tma::store_accumulators: staging is 64 x (a part of N)");
    const int group = kittens::warpgroupid(), warp = kittens::warpid() % kittens::WARPGROUP_WARPS;
    kittens::mul(acc, acc, alpha);
    if (beta != 0.f) {
        kittens::rt<float, 16, N, L> previous;
        kittens::load(previous, c, {0, 0, row * 4 + warp, col});
        kittens::mul(previous, previous, beta);
        kittens::add(acc, acc, previous);
        kittens::store(c, acc, {0, 0, row * 4 + warp, col});
        return;
    }
    const bool issuer = warp == 0 && kittens::laneid() == 0;
#pragma unroll
    for (int part = 0; part < N / TILE::cols; ++part) {
        if (issuer) store_wait_read<0>();  // the previous store from `staging` has read it
        warpgroup_barrier(group);
        store_slice(staging, acc, 16 * warp, part * TILE::cols);
        fence_proxy_async();  // the copy engine reads what these ordinary stores wrote
        warpgroup_barrier(group);
        if (issuer) store_async(map, staging, row, col * (N / TILE::cols) + part);
    }
}

// Before the block ends: the stores store_accumulators issued from this thread are complete.
KITTENS_DEVICE void store_drain() {
    if (kittens::warpid() % kittens::WARPGROUP_WARPS == 0 && kittens::laneid() == 0) store_wait<0>();
}

}  // namespace tma
}  // namespace tg
