// Shared-memory (LDS) tiles, subtile views and the shared allocator.
#pragma once

#include "layout.cuh"

namespace kittens {

// A shared tile of R x C elements, laid out as amd_layout::shared_swizzle says (docs/amd.md).
// sizeof is exactly R * C * sizeof(T): the allocation tilegen counts is the allocation made.
template <typename T, int R, int C>
struct alignas(16) st {
    static_assert(detail::is_supported_dtype<T>, "kittens (AMD): st<T, R, C> supports bf16 and float");
    static_assert(R > 0 && C > 0 && R % amd_layout::BASE_TILE == 0 && C % amd_layout::BASE_TILE == 0,
                  "kittens (AMD): shared tile sides must be positive multiples of 16");
    using dtype = T;
    using swizzle = amd_layout::shared_swizzle<sizeof(T), C>;
    static constexpr int rows = R;
    static constexpr int cols = C;
    static constexpr int num_elements = R * C;

    T data[R * C];

    // Offset of logical (row, col), in elements, from data[0].
    KITTENS_HD static constexpr int offset(int row, int col) { return swizzle::offset(row, col); }
};
template <int R, int C>
using st_bf = st<bf16, R, C>;
template <int R, int C>
using st_fl = st<float, R, C>;

// The (r, c)-th R x C subtile of a shared tile: a view, no copy. Offsets into the parent are in
// elements; the parent's layout still decides where each element lives.
template <typename ST, int R, int C>
struct st_subtile {
    using dtype = typename ST::dtype;
    using parent = ST;
    static constexpr int rows = R;
    static constexpr int cols = C;

    dtype* data;  // the parent's data[0]
    int row_offset;
    int col_offset;

    KITTENS_HD int offset(int row, int col) const { return ST::offset(row_offset + row, col_offset + col); }
};

namespace ducks::st {
template <typename S>
concept all = requires(const S& s, int r) {
    typename S::dtype;
    S::rows;
    S::cols;
    s.offset(r, r);
};
}  // namespace ducks::st

// subtile_inplace<R, C>(tile, {r, c}): the view of rows [R*r, R*r + R) and columns [C*c, C*c + C).
template <int R, int C, typename T, int PR, int PC>
KITTENS_HD st_subtile<st<T, PR, PC>, R, C> subtile_inplace(st<T, PR, PC>& tile, int2 index) {
    static_assert(R % amd_layout::BASE_TILE == 0 && C % amd_layout::BASE_TILE == 0,
                  "subtile_inplace<R, C>: subtile sides must be multiples of 16");
    static_assert(PR % R == 0 && PC % C == 0,
                  "subtile_inplace<R, C>: the subtile shape must tile its parent shared tile exactly");
    return {&tile.data[0], index.x * R, index.y * C};
}

// Lets `extern __shared__ alignment_dummy __shm[]` start the dynamic LDS region at 16 bytes.
struct alignas(16) alignment_dummy {
    int dummy;
};

// Hands out consecutive pieces of dynamic LDS from a 16-byte aligned base (alignment_dummy), each
// piece rounded up to 16 bytes, as tilegen's LDS accounting assumes. Pointer arithmetic stays on the
// base pointer (no integer round trip) so the compiler still sees LDS and emits ds_read/ds_write.
struct shared_allocator {
    int* ptr;

    KITTENS_HD explicit shared_allocator(int* base) : ptr(base) {}

    template <typename T, int N = 1>
    KITTENS_HD auto& allocate() {
        static_assert(N >= 1, "shared_allocator::allocate<T, N>: N must be at least 1");
        constexpr size_t bytes = (sizeof(T) * N + 15) / 16 * 16;
        char* start = reinterpret_cast<char*>(ptr);
        ptr = reinterpret_cast<int*>(start + bytes);
        if constexpr (N == 1) {
            return *reinterpret_cast<T*>(start);
        } else {
            return *reinterpret_cast<T(*)[N]>(start);
        }
    }
};

}  // namespace kittens
