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

}  // namespace tma
}  // namespace tg
