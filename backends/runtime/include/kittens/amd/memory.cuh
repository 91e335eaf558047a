// Moving tiles: registers <-> shared (one warp), registers <-> global (one warp),
// global <-> shared (group<N>, each warp its band of rows).
//
// Every op is a public __device__ wrapper around a detail::*_lane body that takes the lane (and the
// warp's place in its group) as arguments. The bodies are __host__ __device__, so the host
// emulation test runs the exact index math of this file for all 64 lanes without a GPU.
#pragma once

#include "global.cuh"
#include "lds_dma.cuh"
#include "register.cuh"
#include "shared.cuh"

namespace kittens {
namespace detail {

using u32x4 = unsigned int __attribute__((ext_vector_type(4)));  // one 16-byte chunk

template <typename ST>
inline constexpr int chunk_elements = ST::swizzle::CHUNK_ELEMENTS;

// Element e of a 16-byte chunk of T values, little-endian as in memory.
template <typename T>
KITTENS_HD T chunk_get(const u32x4& chunk, int e) {
    if constexpr (std::is_same_v<T, float>) {
        // Through a scalar: clang 15's __builtin_bit_cast of a vector element always reads element 0.
        const unsigned int word = chunk[e];
        return __builtin_bit_cast(float, word);
    } else {
        return bf16_from_bits(static_cast<uint16_t>(chunk[e / 2] >> (16 * (e % 2))));
    }
}
// Copy one element into slot i of a base tile, converting if the types differ (bits are copied
// unchanged when they do not, so bf16 -> bf16 never rounds).
template <typename T, typename L, typename S>
KITTENS_HD void base_set(rt_base<T, L>& tile, int i, S value) {
    if constexpr (std::is_same_v<T, S> && std::is_same_v<T, bf16>) {
        tile.data[i] = static_cast<short>(bf16_bits(value));
    } else if constexpr (std::is_same_v<T, S>) {
        tile.data[i] = value;
    } else {
        tile.set(i, convert<float>(value));
    }
}
template <typename S, typename T, typename L>
KITTENS_HD S base_get(const rt_base<T, L>& tile, int i) {
    if constexpr (std::is_same_v<T, S> && std::is_same_v<T, bf16>) {
        return bf16_from_bits(static_cast<uint16_t>(tile.data[i]));
    } else if constexpr (std::is_same_v<T, S>) {
        return tile.data[i];
    } else {
        return convert<S>(tile.get(i));
    }
}

template <typename RT, typename SV>
constexpr void check_register_shared_shapes() {
    static_assert(RT::rows == SV::rows && RT::cols == SV::cols,
                  "load/store between a register tile and shared memory: the shapes differ; pass "
                  "subtile_inplace<R, C>(tile, {r, c}) with the register tile's R x C");
}

// ---- registers <-> shared, one warp -----------------------------------------------------------

// A row-layout register tile read from a subtile of a swizzled shared tile, split into what the
// lane alone decides and what the subtile decides. Subtile and base-tile origins are multiples of
// 16 rows and columns, and the swizzle key repeats every 8 rows (or fewer), so for lane row lr and
// lane column lc at origin (R, C), in bytes (B bytes per element, CE elements per 16-byte chunk):
//   B * offset(R + lr, C + lc) = B * R * COLS + ((B * C) ^ key_hi) + lane_part,
//   key_hi = 16 * (key(lr) with the bits below 16 / CE cleared), and
//   lane_part = B * (lr * COLS + ((lc / CE) ^ (key(lr) & those bits)) * CE + lc % CE),
// because B * C has the bits of key_hi's cleared part clear (the XOR of the two parts never
// carries). lane_part and key_hi are computed once per lane and stay live; per read one XOR-add
// remains, and B * R * COLS folds into the ds_read's immediate offset.
template <typename SW, typename T>
struct row_read_lane {
    static constexpr int CE = SW::CHUNK_ELEMENTS;
    static constexpr int LOW = amd_layout::BASE_TILE / CE - 1;
    static constexpr int ROW_BYTES = SW::CHUNKS_PER_ROW * 16;
    static_assert(SW::ROWS_PER_128_BYTES * SW::KEY_RANGE <= amd_layout::BASE_TILE &&
                      amd_layout::BASE_TILE % (SW::ROWS_PER_128_BYTES * SW::KEY_RANGE) == 0,
                  "row_read_lane: the swizzle key must repeat within a base tile's 16 rows");
    int lane_part;
    int key_hi;
    KITTENS_HD explicit row_read_lane(int lane) {
        const int lr = amd_layout::row_layout_row(lane, 0);
        const int lc = amd_layout::row_layout_col(lane, 0);
        const int key = SW::key(lr);
        lane_part = lr * ROW_BYTES + (((lc / CE) ^ (key & LOW)) * CE + lc % CE) * static_cast<int>(sizeof(T));
        key_hi = (key & ~LOW) * 16;
    }
    // Byte offset of the lane's first element in the base tile at (row, col) of the tile.
    KITTENS_HD int offset(int row, int col, int hi) const {
        return row * ROW_BYTES + ((col * static_cast<int>(sizeof(T))) ^ hi) + lane_part;
    }
};

template <ducks::rt::all RT, ducks::st::all SV>
KITTENS_HD void load_shared_lane(RT& dst, const SV& src, int lane) {
    check_register_shared_shapes<RT, SV>();
    using T = typename RT::dtype;
    using S = typename SV::dtype;
    using L = typename RT::layout;
    if constexpr (std::is_same_v<L, ducks::rt_layout::row> && std::is_same_v<T, S> &&
                  requires { typename SV::parent::swizzle; }) {
        using SW = typename SV::parent::swizzle;
        const row_read_lane<SW, S> part(lane & (WARP_THREADS - 1));
        // The lane parts stay live across reads; recomputing the key per read keeps the compiler
        // from hoisting every read's full address out of the loop (a VGPR each).
        const int hi = recompute_per_use(part.key_hi);
        const char* base = reinterpret_cast<const char*>(src.data);
#pragma unroll
        for (int ti = 0; ti < RT::height; ++ti) {
#pragma unroll
            for (int tj = 0; tj < RT::width; ++tj) {
                // 4 contiguous, 4-aligned elements of one row: one ds_read_b64 (bf16) / b128 (f32).
                const char* p = base + part.offset(src.row_offset + ti * amd_layout::BASE_TILE,
                                                   src.col_offset + tj * amd_layout::BASE_TILE, hi);
                dst.tiles[ti][tj].data = *reinterpret_cast<const typename base_storage<T>::type*>(p);
            }
        }
        return;
    }
    lane = recompute_per_use(lane) & (WARP_THREADS - 1);  // & restores the range the optimiser lost
#pragma unroll
    for (int ti = 0; ti < RT::height; ++ti) {
#pragma unroll
        for (int tj = 0; tj < RT::width; ++tj) {
            auto& tile = dst.tiles[ti][tj];
            const int row0 = ti * amd_layout::BASE_TILE;
            const int col0 = tj * amd_layout::BASE_TILE;
            if constexpr (std::is_same_v<L, ducks::rt_layout::row> && std::is_same_v<T, S>) {
                // 4 contiguous, 4-aligned elements of one row: one ds_read_b64 (bf16) / b128 (f32).
                const S* p = src.data + src.offset(row0 + amd_layout::row_layout_row(lane, 0),
                                                   col0 + amd_layout::row_layout_col(lane, 0));
                tile.data = *reinterpret_cast<const typename base_storage<T>::type*>(p);
            } else {
#pragma unroll
                for (int i = 0; i < amd_layout::ELEMENTS_PER_LANE; ++i) {
                    const int r = row0 + amd_layout::element_row<L>(lane, i);
                    const int c = col0 + amd_layout::element_col<L>(lane, i);
                    base_set(tile, i, src.data[src.offset(r, c)]);
                }
            }
        }
    }
}

template <ducks::st::all SV, ducks::rt::all RT>
KITTENS_HD void store_shared_lane(const SV& dst, const RT& src, int lane) {
    check_register_shared_shapes<RT, SV>();
    lane = recompute_per_use(lane) & (WARP_THREADS - 1);  // & restores the range the optimiser lost
    using T = typename RT::dtype;
    using S = typename SV::dtype;
    using L = typename RT::layout;
#pragma unroll
    for (int ti = 0; ti < RT::height; ++ti) {
#pragma unroll
        for (int tj = 0; tj < RT::width; ++tj) {
            const auto& tile = src.tiles[ti][tj];
            const int row0 = ti * amd_layout::BASE_TILE;
            const int col0 = tj * amd_layout::BASE_TILE;
            if constexpr (std::is_same_v<L, ducks::rt_layout::row> && std::is_same_v<T, S>) {
                S* p = dst.data + dst.offset(row0 + amd_layout::row_layout_row(lane, 0),
                                             col0 + amd_layout::row_layout_col(lane, 0));
                *reinterpret_cast<typename base_storage<T>::type*>(p) = tile.data;
            } else {
#pragma unroll
                for (int i = 0; i < amd_layout::ELEMENTS_PER_LANE; ++i) {
                    const int r = row0 + amd_layout::element_row<L>(lane, i);
                    const int c = col0 + amd_layout::element_col<L>(lane, i);
                    dst.data[dst.offset(r, c)] = base_get<S>(tile, i);
                }
            }
        }
    }
}

// ---- registers <-> global, one warp (coordinates in units of the register tile) ---------------
// Every address is a wave-uniform pointer (tile origin plus the element's step, in scalar
// registers) plus one 32-bit per-lane byte offset: the backend then emits saddr global accesses
// sharing one offset VGPR. Plain 64-bit indexing costs a VGPR pair per element (LLVM 15).

template <ducks::rt::all RT, ducks::gl::all GL>
KITTENS_HD auto* global_tile_origin(const GL& g, const coord<RT>& idx) {
    return g.raw_ptr + static_cast<int64_t>(idx.r) * RT::rows * g.row_stride() + static_cast<int64_t>(idx.c) * RT::cols;
}

// Per-lane byte offset (32 bits: a lane's part is under 16 rows of its matrix).
template <ducks::rt::all RT, typename T>
KITTENS_HD uint32_t global_lane_offset(int lane, int64_t stride) {
    using L = typename RT::layout;
    return static_cast<uint32_t>((amd_layout::lane_row<L>(lane) * stride + amd_layout::lane_col<L>(lane)) * sizeof(T));
}

// base + a 32-bit byte offset, spelled so the backend sees (uniform 64-bit) + zext(32-bit).
template <typename T>
KITTENS_HD T* offset_bytes(T* base, uint32_t bytes) {
    using byte = std::conditional_t<std::is_const_v<T>, const char, char>;
    return reinterpret_cast<T*>(reinterpret_cast<byte*>(base) + static_cast<uint64_t>(bytes));
}

// Rows below the tile origin of element i of base tile row ti: the wave-uniform part of an address.
template <ducks::rt::all RT>
KITTENS_HD int global_step_rows(int ti, int i) {
    return ti * amd_layout::BASE_TILE + amd_layout::step_row<typename RT::layout>(i);
}

// Columns right of the lane's own: a compile-time constant, which the backend folds into the
// instruction's immediate offset (one scalar base per element row instead of one per element).
template <ducks::rt::all RT>
KITTENS_HD constexpr int global_step_cols(int tj, int i) {
    return tj * amd_layout::BASE_TILE + amd_layout::step_col<typename RT::layout>(i);
}

template <ducks::rt::all RT, ducks::gl::all GL>
KITTENS_HD void load_global_lane(RT& dst, const GL& src, coord<RT> idx, int lane) {
    const auto* origin = global_tile_origin<RT>(src, idx);
    const int64_t stride = src.row_stride();
    const uint32_t lane_offset = global_lane_offset<RT, typename GL::dtype>(lane, stride);
#pragma unroll
    for (int ti = 0; ti < RT::height; ++ti) {
#pragma unroll
        for (int i = 0; i < amd_layout::ELEMENTS_PER_LANE; ++i) {
            const auto* row = offset_bytes(origin + global_step_rows<RT>(ti, i) * stride, lane_offset);
#pragma unroll
            for (int tj = 0; tj < RT::width; ++tj) base_set(dst.tiles[ti][tj], i, row[global_step_cols<RT>(tj, i)]);
        }
    }
}

template <ducks::gl::all GL, ducks::rt::all RT>
KITTENS_HD void store_global_lane(const GL& dst, const RT& src, coord<RT> idx, int lane) {
    using G = typename GL::dtype;
    auto* origin = global_tile_origin<RT>(dst, idx);
    const int64_t stride = dst.row_stride();
    const uint32_t lane_offset = global_lane_offset<RT, G>(lane, stride);
#pragma unroll
    for (int ti = 0; ti < RT::height; ++ti) {
#pragma unroll
        for (int i = 0; i < amd_layout::ELEMENTS_PER_LANE; ++i) {
            auto* row = offset_bytes(origin + global_step_rows<RT>(ti, i) * stride, lane_offset);
#pragma unroll
            for (int tj = 0; tj < RT::width; ++tj) row[global_step_cols<RT>(tj, i)] = base_get<G>(src.tiles[ti][tj], i);
        }
    }
}

// ---- global <-> shared, group<N> ----------------------------------------------------------------

// Which part of an ST tile one warp of an N-warp group moves: member m (= warp % N) moves rows
// [m * R / N, (m + 1) * R / N), the band tilegen's hazard model assumes. Inside its band, lane l
// moves 16-byte chunks l, l + 64, l + 128, ... in row-major chunk order.
template <typename ST, int N>
struct group_share {
    static_assert(N >= 1, "group<N>: N must be at least 1");
    static constexpr int CHUNK_ELEMENTS = chunk_elements<ST>;
    static constexpr int CHUNKS_PER_ROW = ST::cols / CHUNK_ELEMENTS;
    static constexpr int MAX_BAND_ROWS = (ST::rows + N - 1) / N;
    static constexpr int CHUNKS_PER_LANE = (MAX_BAND_ROWS * CHUNKS_PER_ROW + WARP_THREADS - 1) / WARP_THREADS;
    // True when every lane moves the same number of chunks: no bounds test in the loops.
    static constexpr bool EVEN = ST::rows % N == 0 && (MAX_BAND_ROWS * CHUNKS_PER_ROW) % WARP_THREADS == 0;
    // When a row is a power-of-two number of chunks up to 64, chunk k of lane l sits
    // 64 / CHUNKS_PER_ROW rows below chunk k - 1: the lane part of the address is the same for all k.
    static constexpr bool LANE_PART_FIXED = WARP_THREADS % CHUNKS_PER_ROW == 0;

    KITTENS_HD static constexpr int first_row(int member) { return member * ST::rows / N; }
    KITTENS_HD static constexpr int end_row(int member) { return (member + 1) * ST::rows / N; }
    // Rows below the band's first row: the part shared by the wave (k_rows) and the lane's part.
    KITTENS_HD static constexpr int k_rows(int k) { return LANE_PART_FIXED ? k * (WARP_THREADS / CHUNKS_PER_ROW) : 0; }
    KITTENS_HD static constexpr int lane_rows(int lane, int k) {
        return LANE_PART_FIXED ? lane / CHUNKS_PER_ROW : (lane + WARP_THREADS * k) / CHUNKS_PER_ROW;
    }
    // Tile-local (row, first column) of chunk k of `lane`, and whether that row is in the band
    // (always, when EVEN; otherwise the last lanes of the last k have nothing to move).
    KITTENS_HD static constexpr int chunk_row(int member, int lane, int k) {
        return first_row(member) + k_rows(k) + lane_rows(lane, k);
    }
    KITTENS_HD static constexpr bool moves(int member, int lane, int k) {
        return EVEN || chunk_row(member, lane, k) < end_row(member);
    }
    KITTENS_HD static constexpr int chunk_col(int lane, int k) {
        return ((lane + WARP_THREADS * k) % CHUNKS_PER_ROW) * CHUNK_ELEMENTS;
    }
};

// Global chunks move as 16-byte memcpys: whatever the matrix's alignment, the backend emits one
// global_load/store_dwordx4 on gfx90a/gfx940 (HSA runs them in unaligned-access mode, and LLVM
// only forms the wide access where the target allows it), so no run-time alignment branch.
template <typename T>
KITTENS_HD void copy_chunk(T* dst, const T* src) {
    __builtin_memcpy(dst, src, 16);
}

// Global address of chunk k of `lane`: uniform base plus 32-bit per-lane byte offset (see above).
template <typename ST, int N, typename T>
KITTENS_HD T* chunk_address(T* tile_origin, int64_t stride, int member, int lane, int k) {
    using share = group_share<ST, N>;
    T* base = tile_origin + (share::first_row(member) + share::k_rows(k)) * stride;
    const uint32_t bytes = static_cast<uint32_t>((share::lane_rows(lane, k) * stride + share::chunk_col(lane, k)) *
                                                 static_cast<int64_t>(sizeof(T)));
    return offset_bytes(base, bytes);
}

// One lane's 16-byte chunks of a tile in flight between global and shared memory.
template <typename ST, int N>
struct staged_chunks {
    u32x4 chunks[group_share<ST, N>::CHUNKS_PER_LANE];
};

template <typename ST, int N, ducks::gl::all GL>
KITTENS_HD void stage_load_lane(staged_chunks<ST, N>& staged, const GL& src, coord<ST> idx, int member, int lane) {
    using T = typename ST::dtype;
    using share = group_share<ST, N>;
    static_assert(std::is_same_v<T, typename GL::dtype>,
                  "group<N>::load / tg::stage_load: the shared tile and the global matrix must have the same dtype");
    const T* origin = src.raw_ptr + static_cast<int64_t>(idx.r) * ST::rows * src.row_stride() +
                      static_cast<int64_t>(idx.c) * ST::cols;
#pragma unroll
    for (int k = 0; k < share::CHUNKS_PER_LANE; ++k) {
        if (!share::moves(member, lane, k)) continue;
        copy_chunk(reinterpret_cast<T*>(&staged.chunks[k]),
                   chunk_address<ST, N>(origin, src.row_stride(), member, lane, k));
    }
}

template <typename ST, int N>
KITTENS_HD void stage_store_lane(ST& dst, const staged_chunks<ST, N>& staged, int member, int lane) {
    using share = group_share<ST, N>;
#pragma unroll
    for (int k = 0; k < share::CHUNKS_PER_LANE; ++k) {
        if (!share::moves(member, lane, k)) continue;
        // A chunk never straddles the swizzle: its 16 bytes stay together in LDS (ds_write_b128).
        const int row = share::chunk_row(member, lane, k);
        *reinterpret_cast<u32x4*>(&dst.data[ST::offset(row, share::chunk_col(lane, k))]) = staged.chunks[k];
    }
}

template <typename ST, int N, ducks::gl::all GL>
KITTENS_HD void group_load_lane(ST& dst, const GL& src, coord<ST> idx, int member, int lane) {
    staged_chunks<ST, N> staged;
    stage_load_lane<ST, N>(staged, src, idx, member, lane);
    stage_store_lane<ST, N>(dst, staged, member, lane);
}

template <typename ST, int N, ducks::gl::all GL>
KITTENS_HD void group_store_lane(const GL& dst, const ST& src, coord<ST> idx, int member, int lane) {
    using T = typename ST::dtype;
    using G = typename GL::dtype;
    using share = group_share<ST, N>;
    G* origin = dst.raw_ptr + static_cast<int64_t>(idx.r) * ST::rows * dst.row_stride() +
                static_cast<int64_t>(idx.c) * ST::cols;
#pragma unroll
    for (int k = 0; k < share::CHUNKS_PER_LANE; ++k) {
        if (!share::moves(member, lane, k)) continue;
        const int row = share::chunk_row(member, lane, k);
        const u32x4 chunk = *reinterpret_cast<const u32x4*>(&src.data[ST::offset(row, share::chunk_col(lane, k))]);
        G* p = chunk_address<ST, N>(origin, dst.row_stride(), member, lane, k);
        if constexpr (std::is_same_v<T, G>) {
            copy_chunk(p, reinterpret_cast<const G*>(&chunk));
        } else {
#pragma unroll
            for (int e = 0; e < share::CHUNK_ELEMENTS; ++e) p[e] = convert<G>(chunk_get<T>(chunk, e));
        }
    }
}

template <typename T, int R, int C>
KITTENS_HD st_subtile<st<T, R, C>, R, C> view_of(const st<T, R, C>& tile) {
    return {const_cast<T*>(&tile.data[0]), 0, 0};
}
template <typename ST, int R, int C>
KITTENS_HD st_subtile<ST, R, C> view_of(const st_subtile<ST, R, C>& view) {
    return view;
}

}  // namespace detail

// ---- the public API (one warp unless a group says otherwise) ------------------------------------

template <ducks::rt::all RT, typename T, int R, int C>
KITTENS_DEVICE void load(RT& dst, const st<T, R, C>& src) {
    detail::load_shared_lane(dst, detail::view_of(src), laneid());
}
template <ducks::rt::all RT, typename ST, int R, int C>
KITTENS_DEVICE void load(RT& dst, const st_subtile<ST, R, C>& src) {
    detail::load_shared_lane(dst, src, laneid());
}
template <typename T, int R, int C, ducks::rt::all RT>
KITTENS_DEVICE void store(st<T, R, C>& dst, const RT& src) {
    detail::store_shared_lane(detail::view_of(dst), src, laneid());
}
template <typename ST, int R, int C, ducks::rt::all RT>
KITTENS_DEVICE void store(const st_subtile<ST, R, C>& dst, const RT& src) {
    detail::store_shared_lane(dst, src, laneid());
}

// load(rt, g.c, {0, 0, r, c}): the (r, c)-th tile of the register tile's shape, converted.
template <ducks::rt::all RT, ducks::gl::all GL>
KITTENS_DEVICE void load(RT& dst, const GL& src, const coord<RT>& idx) {
    detail::load_global_lane(dst, src, idx, laneid());
}
// store(g.c, rt, {0, 0, r, c}): converts to the matrix's dtype (f32 or bf16, rounding to nearest even).
template <ducks::gl::all GL, ducks::rt::all RT>
KITTENS_DEVICE void store(const GL& dst, const RT& src, const coord<RT>& idx) {
    detail::store_global_lane(dst, src, idx, laneid());
}

// group<N>: the N warps [N * (warp / N), N * (warp / N) + N) move a tile together; each must call.
template <int N>
struct group {
    static_assert(N >= 1, "group<N>: N must be at least 1");
    static constexpr int GROUP_WARPS = N;
    static constexpr int GROUP_THREADS = N * WARP_THREADS;

    KITTENS_DEVICE static int warpid() { return kittens::warpid() % N; }
    KITTENS_DEVICE static int laneid() { return threadIdx.x % GROUP_THREADS; }

    template <typename ST, ducks::gl::all GL>
    KITTENS_DEVICE static void load(ST& dst, const GL& src, const coord<ST>& idx) {
        detail::group_load_lane<ST, N>(dst, src, idx, warpid(), kittens::laneid());
    }
    // On gfx950 the load goes straight to LDS and completes at the next tg::async_wait that
    // retires it. Elsewhere it is synchronous (global -> registers -> LDS): it has completed when
    // it returns, which satisfies "complete at the next tg::async_wait". See docs/amd.md.
    template <typename ST, ducks::gl::all GL>
    KITTENS_DEVICE static void load_async(ST& dst, const GL& src, const coord<ST>& idx) {
#if defined(TG_LDS_DMA)
        // gfx950: straight into LDS (lds_dma.cuh), complete at tg::async_wait.
        if constexpr (tg::detail::lds_dma_share<ST, N>::WORKS) {
            tg::detail::lds_dma_load_lane<ST, N>(dst, src, idx, warpid(), kittens::laneid());
            return;
        }
#endif
        load(dst, src, idx);
    }
    template <ducks::gl::all GL, typename ST>
    KITTENS_DEVICE static void store(const GL& dst, const ST& src, const coord<ST>& idx) {
        detail::group_store_lane<ST, N>(dst, src, idx, warpid(), kittens::laneid());
    }
};

}  // namespace kittens
