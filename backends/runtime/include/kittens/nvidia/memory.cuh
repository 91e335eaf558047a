// Data movement of the NVIDIA path: global <-> shared (group<N>::load / load_async / store),
// shared <-> registers (load / store with a tile or subtile), global <-> registers (load / store
// with a gl and a coord).
//
// Every shared access is PTX through the shared window. Loads are `asm volatile`, so the compiler
// keeps them in program order with the barriers around them; stores also clobber memory.
#pragma once

#include "register.cuh"
#include "shared.cuh"

namespace kittens {

namespace detail {

// ---- PTX wrappers --------------------------------------------------------------------------

KITTENS_DEVICE void ldmatrix_x4(uint32_t addr, uint32_t (&r)[4]) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

KITTENS_DEVICE void ldmatrix_x4_trans(uint32_t addr, uint32_t (&r)[4]) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

KITTENS_DEVICE uint4 ld_shared_16(uint32_t addr) {
    uint4 v;
    asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];\n" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "r"(addr));
    return v;
}

KITTENS_DEVICE void st_shared_16(uint32_t addr, uint4 v) {
    asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};\n" ::"r"(addr), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w)
                 : "memory");
}

template <typename T>
KITTENS_DEVICE T ld_shared(uint32_t addr) {
    if constexpr (std::is_same_v<T, float>) {
        float v;
        asm volatile("ld.shared.f32 %0, [%1];\n" : "=f"(v) : "r"(addr));
        return v;
    } else {
        unsigned short bits;
        asm volatile("ld.shared.u16 %0, [%1];\n" : "=h"(bits) : "r"(addr));
        return __ushort_as_bfloat16(bits);
    }
}

template <typename T>
KITTENS_DEVICE void st_shared(uint32_t addr, T v) {
    if constexpr (std::is_same_v<T, float>) {
        asm volatile("st.shared.f32 [%0], %1;\n" ::"r"(addr), "f"(v) : "memory");
    } else {
        asm volatile("st.shared.u16 [%0], %1;\n" ::"r"(addr), "h"(__bfloat16_as_ushort(v)) : "memory");
    }
}

// Two adjacent elements of one row (never split across chunks: pairs start at even columns).
template <typename T>
KITTENS_DEVICE pair_t<T> ld_shared_pair(uint32_t addr) {
    if constexpr (std::is_same_v<T, float>) {
        float2 v;
        asm volatile("ld.shared.v2.f32 {%0, %1}, [%2];\n" : "=f"(v.x), "=f"(v.y) : "r"(addr));
        return v;
    } else {
        uint32_t bits;
        asm volatile("ld.shared.b32 %0, [%1];\n" : "=r"(bits) : "r"(addr));
        return from_u32<bf16_2>(bits);
    }
}

template <typename T>
KITTENS_DEVICE void st_shared_pair(uint32_t addr, pair_t<T> v) {
    if constexpr (std::is_same_v<T, float>) {
        asm volatile("st.shared.v2.f32 [%0], {%1, %2};\n" ::"r"(addr), "f"(v.x), "f"(v.y) : "memory");
    } else {
        asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(addr), "r"(as_u32(v)) : "memory");
    }
}

// 16 bytes global -> shared without passing through registers; completes at cp.async.wait_group.
KITTENS_DEVICE void cp_async_16(uint32_t smem_addr, const void* global) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_addr), "l"(global) : "memory");
}

KITTENS_DEVICE void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }

template <int PENDING>
KITTENS_DEVICE void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(PENDING) : "memory");
}

// A 16-byte global load that the compiler neither drops nor moves past other volatile asm, so a
// staged load is issued where the schedule put it, long before its registers are read.
KITTENS_DEVICE uint4 ld_global_16(const void* global) {
    uint4 v;
    asm volatile("ld.global.v4.u32 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(global));
    return v;
}

template <typename T>
KITTENS_DEVICE pair_t<T> ld_global_pair(const T* p) {
    return *reinterpret_cast<const pair_t<T>*>(p);
}

template <typename T>
KITTENS_DEVICE void st_global_pair(T* p, pair_t<T> v) {
    *reinterpret_cast<pair_t<T>*>(p) = v;
}

// ---- the share of a tile one warp of a group moves ------------------------------------------

KITTENS_HD constexpr int gcd(int a, int b) { return b == 0 ? a : gcd(b, a % b); }

// A copy of `p` the compiler cannot see through: the addresses of a copy's steps are then built
// one from the next, instead of each being hoisted out of the K loop into registers of its own.
template <typename T>
KITTENS_DEVICE T* opaque(T* p) {
    asm("" : "+l"(p));
    return p;
}
KITTENS_DEVICE int opaque(int x) {
    asm("" : "+r"(x));
    return x;
}

// Warp w of a group of N moves rows [(w % N) * R / N, (w % N + 1) * R / N) of an R-row tile
// (the split the validator and the simulator assume), 16 bytes per lane per step, consecutive
// lanes on consecutive chunks of a row, so every step is coalesced.
template <typename ST, int N>
struct band {
    static_assert(N > 0, "group<N>: N must be positive");
    static_assert(ST::rows % N == 0,
                  "group<N>: the N warps split a tile's rows evenly, so the shared tile's rows must be a multiple of N");
    static constexpr int rows = ST::rows / N;
    static constexpr int chunks = rows * ST::chunks_per_row;
    static constexpr int per_lane = (chunks + WARP_THREADS - 1) / WARP_THREADS;
    static constexpr bool ragged = chunks % WARP_THREADS != 0;

    // Tile row and first column of chunk number `step` of `lane` of `warp`; false if it has none.
    KITTENS_HD static constexpr bool locate(int step, int lane, int warp, int& row, int& col) {
        const int q = step * WARP_THREADS + lane;
        row = (warp % N) * rows + q / ST::chunks_per_row;
        col = (q % ST::chunks_per_row) * ST::chunk_elements;
        return !ragged || q < chunks;
    }
    KITTENS_DEVICE static bool locate(int step, int& row, int& col) { return locate(step, laneid(), warpid(), row, col); }

    // A regular band moves whole rows each step, at the lane's column: step s is s * rows_per_step
    // rows below step 0. The shared layout repeats every period_rows rows (the XOR key is the row
    // or the 128-byte line, modulo 8), so a step's shared offset is one of `phases` bases plus a
    // constant, and a copy keeps a few registers live instead of one address per step.
    static constexpr bool regular = WARP_THREADS % ST::chunks_per_row == 0;
    static constexpr int rows_per_step = regular ? WARP_THREADS / ST::chunks_per_row : 1;
    static constexpr int period_rows = ST::row_bytes % 128 == 0 ? 8 : 1024 / gcd(1024, ST::row_bytes);
    static constexpr int phases = period_rows / gcd(period_rows, rows_per_step);

    // Shared offset of step `step` of a lane whose first chunk is (row0, col0), in a regular band:
    // the offset of its phase's first step, plus whole layout periods below it.
    KITTENS_HD static constexpr uint32_t phase_offset(int row0, int col0, int phase) {
        return ST::offset(row0 + phase * rows_per_step, col0);
    }
    KITTENS_HD static constexpr uint32_t period_shift(int step) {
        return (step / phases) * (phases * rows_per_step * ST::row_bytes);
    }

    // This lane's steps: which it has, and where each is in shared memory (from the tile's start)
    // and in global memory (in elements from the moved tile's origin).
    struct walk {
        int row0, col0;
        uint32_t bases[regular ? phases : 1];

        KITTENS_DEVICE walk() {
            locate(0, row0, col0);
            // Rebuilt at every copy rather than hoisted out of the K loop: a few integer
            // operations instead of `phases` registers held across the loop.
            row0 = opaque(row0);
            if constexpr (regular) {
#pragma unroll
                for (int p = 0; p < phases; ++p) {
                    bases[p] = phase_offset(row0, col0, p);
                }
            }
        }
        KITTENS_DEVICE bool has(int step) const { return !ragged || step * WARP_THREADS + laneid() < chunks; }
        KITTENS_DEVICE uint32_t shared(int step) const {
            if constexpr (regular) {
                return bases[step % phases] + period_shift(step);
            } else {
                int row, col;
                locate(step, row, col);
                return ST::offset(row, col);
            }
        }
        KITTENS_DEVICE int64_t global(int step, int64_t ld) const {
            int row = row0 + step * rows_per_step, col = col0;
            if constexpr (!regular) {
                locate(step, row, col);
            }
            return static_cast<int64_t>(row) * ld + col;
        }
    };

    // Calls f(step, shared offset, global address) for this lane's steps first..last-1 of a copy
    // of the tile whose first element is at `origin` (rows `ld` elements apart).
    template <typename T, typename F>
    KITTENS_DEVICE static void for_each_chunk(T* origin, int64_t ld, F&& f, int first = 0, int last = per_lane) {
        const walk lanes;
        T* cursor = opaque(origin + lanes.global(first, ld));
#pragma unroll
        for (int step = first; step < last; ++step) {
            if (lanes.has(step)) {
                f(step, lanes.shared(step), regular ? cursor : origin + lanes.global(step, ld));
            }
            if constexpr (regular) {
                cursor = opaque(cursor + rows_per_step * ld);
            }
        }
    }
};

// Up to this many 16-byte loads are in flight per lane before their stores in group<N>::load.
inline constexpr int COPY_BATCH = 8;

template <typename ST, typename GL>
KITTENS_DEVICE const typename GL::dtype* tile_origin(const GL& src, const coord<>& idx) {
    return src.element(idx.b, idx.d, idx.r * ST::rows, idx.c * ST::cols);
}

// ---- shared <-> registers -----------------------------------------------------------------

// The row of a 16 x 16 base tile whose address `lane` gives ldmatrix.x4: lanes 8m..8m+7 give the
// 8 rows of matrix m, which becomes pair m (register.cuh), read straight or transposed.
template <bool COLUMN_PAIRS>
KITTENS_HD constexpr pair_position ldmatrix_row(int lane) {
    return COLUMN_PAIRS ? pair_position{lane % 8 + 8 * (lane / 16), 8 * ((lane / 8) % 2)}
                        : pair_position{lane % 16, 8 * (lane / 16)};
}

template <ducks::rt::all RT, ducks::st::all ST>
KITTENS_DEVICE void shared_to_registers(RT& dst, const ST& tile, int row0, int col0) {
    using S = typename ST::dtype;
    using T = typename RT::dtype;
    const uint32_t base = tile.smem();
    if constexpr (std::is_same_v<S, bf16> && std::is_same_v<T, bf16>) {
        const pair_position in_tile = ldmatrix_row<RT::column_pairs>(laneid());
#pragma unroll
        for (int i = 0; i < RT::height; ++i) {
#pragma unroll
            for (int j = 0; j < RT::width; ++j) {
                const uint32_t addr = base + ST::offset(row0 + 16 * i + in_tile.row, col0 + 16 * j + in_tile.col);
                uint32_t r[4];
                if constexpr (RT::column_pairs) {
                    ldmatrix_x4_trans(addr, r);
                } else {
                    ldmatrix_x4(addr, r);
                }
#pragma unroll
                for (int p = 0; p < 4; ++p) {
                    dst.tiles[i][j].data[p] = from_u32<bf16_2>(r[p]);
                }
            }
        }
    } else {
        for_each_pair(dst, [&](typename RT::pair& value, int r, int c) {
            const int row = row0 + r, col = col0 + c;
            if constexpr (RT::column_pairs) {
                const float lo = convert<float>(ld_shared<S>(base + ST::offset(row, col)));
                const float hi = convert<float>(ld_shared<S>(base + ST::offset(row + 1, col)));
                value = from_float2<T>(make_float2(lo, hi));
            } else {
                value = convert_pair<T>(ld_shared_pair<S>(base + ST::offset(row, col)));
            }
        });
    }
}

template <ducks::st::all ST, ducks::rt::all RT>
KITTENS_DEVICE void registers_to_shared(const ST& tile, int row0, int col0, const RT& src) {
    using S = typename ST::dtype;
    const uint32_t base = tile.smem();
    for_each_pair(src, [&](const typename RT::pair& value, int r, int c) {
        const int row = row0 + r, col = col0 + c;
        if constexpr (RT::column_pairs) {
            const float2 v = to_float2(value);
            st_shared<S>(base + ST::offset(row, col), convert<S>(v.x));
            st_shared<S>(base + ST::offset(row + 1, col), convert<S>(v.y));
        } else {
            st_shared_pair<S>(base + ST::offset(row, col), convert_pair<S>(value));
        }
    });
    // Lanes of one warp read each other's elements next; the hazard model orders a warp's own
    // accesses, which on NVIDIA (independent thread scheduling) takes a warp barrier.
    __syncwarp();
}

template <typename RT, typename SHAPE>
inline constexpr bool same_shape = RT::rows == SHAPE::rows && RT::cols == SHAPE::cols;

}  // namespace detail

// ---- the public API -------------------------------------------------------------------------

// shared tile -> registers (one warp); the register tile has the shared tile's shape.
template <ducks::rt::all RT, ducks::st::all ST>
KITTENS_DEVICE void load(RT& dst, const ST& src) {
    static_assert(detail::same_shape<RT, ST>,
                  "load(rt, st): the register tile must have the shared tile's shape; use subtile_inplace for a part");
    detail::shared_to_registers(dst, src, 0, 0);
}

// shared subtile -> registers (one warp).
template <ducks::rt::all RT, ducks::st_subtile::all SUB>
KITTENS_DEVICE void load(RT& dst, const SUB& src) {
    static_assert(detail::same_shape<RT, SUB>, "load(rt, subtile): the register tile must have the subtile's shape");
    detail::shared_to_registers(dst, *src.tile, src.row0, src.col0);
}

// registers -> shared tile (one warp).
template <ducks::st::all ST, ducks::rt::all RT>
KITTENS_DEVICE void store(ST& dst, const RT& src) {
    static_assert(detail::same_shape<RT, ST>,
                  "store(st, rt): the register tile must have the shared tile's shape; use subtile_inplace for a part");
    detail::registers_to_shared(dst, 0, 0, src);
}

// registers -> shared subtile (one warp).
template <ducks::st_subtile::all SUB, ducks::rt::all RT>
KITTENS_DEVICE void store(const SUB& dst, const RT& src) {
    static_assert(detail::same_shape<RT, SUB>, "store(subtile, rt): the register tile must have the subtile's shape");
    detail::registers_to_shared(*dst.tile, dst.row0, dst.col0, src);
}

// global -> registers (one warp); coordinates count tiles of RT's shape; converts to RT's dtype.
template <ducks::rt::all RT, ducks::gl::all GL>
KITTENS_DEVICE void load(RT& dst, const GL& src, const coord<>& idx) {
    using G = typename GL::dtype;
    using T = typename RT::dtype;
    const G* origin = detail::tile_origin<RT>(src, idx);
    const int64_t ld = src.cols();
    detail::for_each_pair(dst, [&](typename RT::pair& value, int r, int c) {
        const G* p = origin + r * ld + c;
        if constexpr (RT::column_pairs) {
            value = detail::from_float2<T>(make_float2(detail::convert<float>(p[0]), detail::convert<float>(p[ld])));
        } else {
            value = detail::convert_pair<T>(detail::ld_global_pair(p));
        }
    });
}

// registers -> global (one warp); coordinates count tiles of RT's shape; converts to the gl's dtype.
template <ducks::gl::all GL, ducks::rt::all RT>
KITTENS_DEVICE void store(const GL& dst, const RT& src, const coord<>& idx) {
    using G = typename GL::dtype;
    G* origin = const_cast<G*>(detail::tile_origin<RT>(dst, idx));
    const int64_t ld = dst.cols();
    detail::for_each_pair(src, [&](const typename RT::pair& value, int r, int c) {
        G* p = origin + r * ld + c;
        if constexpr (RT::column_pairs) {
            const float2 v = detail::to_float2(value);
            p[0] = detail::convert<G>(v.x);
            p[ld] = detail::convert<G>(v.y);
        } else {
            detail::st_global_pair(p, detail::convert_pair<G>(value));
        }
    });
}

// N consecutive warps; the caller's group is warpid() / N. Each warp of the group moves its band
// of the tile (detail::band), so all N warps must make the call.
template <int N>
struct group {
    static constexpr int GROUP_WARPS = N;
    static constexpr int GROUP_THREADS = N * WARP_THREADS;

    KITTENS_DEVICE static int warpid() { return kittens::warpid() % N; }
    KITTENS_DEVICE static int groupid() { return kittens::warpid() / N; }
    KITTENS_DEVICE static int laneid() { return static_cast<int>(threadIdx.x) % GROUP_THREADS; }

    // global tile (idx.r, idx.c), in units of ST, -> shared; 16-byte loads, then 16-byte stores.
    template <ducks::st::all ST, ducks::gl::all GL>
    KITTENS_DEVICE static void load(ST& dst, const GL& src, const coord<>& idx) {
        static_assert(std::is_same_v<typename ST::dtype, typename GL::dtype>,
                      "group<N>::load: the shared tile and the global matrix must have the same dtype");
        using band = detail::band<ST, N>;
        const auto* origin = detail::tile_origin<ST>(src, idx);
        const uint32_t base = dst.smem();
#pragma unroll
        for (int first = 0; first < band::per_lane; first += detail::COPY_BATCH) {
            const int last = first + detail::COPY_BATCH < band::per_lane ? first + detail::COPY_BATCH : band::per_lane;
            uint4 staged[detail::COPY_BATCH];
            band::for_each_chunk(
                origin, src.cols(),
                [&](int step, uint32_t, const auto* global) {
                    staged[step - first] = *reinterpret_cast<const uint4*>(global);
                },
                first, last);
            band::for_each_chunk(
                origin, src.cols(),
                [&](int step, uint32_t shared, const auto*) { detail::st_shared_16(base + shared, staged[step - first]); },
                first, last);
        }
        __syncwarp();
    }

    // Same copy with cp.async, committed as one group: it completes at tg::async_wait<P>().
    template <ducks::st::all ST, ducks::gl::all GL>
    KITTENS_DEVICE static void load_async(ST& dst, const GL& src, const coord<>& idx) {
        static_assert(std::is_same_v<typename ST::dtype, typename GL::dtype>,
                      "group<N>::load_async: the shared tile and the global matrix must have the same dtype");
        const uint32_t base = dst.smem();
        detail::band<ST, N>::for_each_chunk(
            detail::tile_origin<ST>(src, idx), src.cols(),
            [&](int, uint32_t shared, const auto* global) { detail::cp_async_16(base + shared, global); });
        detail::cp_async_commit();
    }

    // shared -> global tile (idx.r, idx.c), in units of ST; converts to the gl's dtype.
    template <ducks::gl::all GL, ducks::st::all ST>
    KITTENS_DEVICE static void store(const GL& dst, const ST& src, const coord<>& idx) {
        using G = typename GL::dtype;
        using S = typename ST::dtype;
        const uint32_t base = src.smem();
        detail::band<ST, N>::for_each_chunk(
            const_cast<G*>(detail::tile_origin<ST>(dst, idx)), dst.cols(), [&](int, uint32_t shared, G* out) {
                const uint4 chunk = detail::ld_shared_16(base + shared);
                if constexpr (std::is_same_v<G, S>) {
                    *reinterpret_cast<uint4*>(out) = chunk;
                } else if constexpr (std::is_same_v<S, bf16>) {
                    // 8 bf16 -> 8 floats: 32 bytes out.
                    const float2 p0 = detail::to_float2(detail::from_u32<bf16_2>(chunk.x));
                    const float2 p1 = detail::to_float2(detail::from_u32<bf16_2>(chunk.y));
                    const float2 p2 = detail::to_float2(detail::from_u32<bf16_2>(chunk.z));
                    const float2 p3 = detail::to_float2(detail::from_u32<bf16_2>(chunk.w));
                    reinterpret_cast<float4*>(out)[0] = make_float4(p0.x, p0.y, p1.x, p1.y);
                    reinterpret_cast<float4*>(out)[1] = make_float4(p2.x, p2.y, p3.x, p3.y);
                } else {
                    // 4 floats -> 4 bf16: 8 bytes out.
                    const bf16_2 lo = detail::from_float2<bf16>(make_float2(__uint_as_float(chunk.x), __uint_as_float(chunk.y)));
                    const bf16_2 hi = detail::from_float2<bf16>(make_float2(__uint_as_float(chunk.z), __uint_as_float(chunk.w)));
                    *reinterpret_cast<uint2*>(out) = make_uint2(detail::as_u32(lo), detail::as_u32(hi));
                }
            });
    }
};

}  // namespace kittens
