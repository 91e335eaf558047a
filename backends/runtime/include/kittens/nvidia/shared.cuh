// Shared tiles, subtile views and the shared-memory allocator of the NVIDIA path.
//
// Layout (docs/nvidia.md, "Shared tiles"): row-major, with the 16-byte chunks of every 128-byte
// line permuted by an XOR so that the accesses the runtime makes are free of bank conflicts:
//   * ldmatrix (8 rows x 16 bytes per matrix) and the register -> shared stores of bf16 tiles,
//   * the 8-byte float2 accesses of f32 tiles (half a warp = 4 rows x 4 lanes at a time),
//   * the 16-byte cp.async / vector copies of group loads and stores (8 consecutive chunks).
// Only bits 4..6 of a byte offset change, so every 16-byte chunk stays whole and in its 128-byte
// line: the permutation is a bijection for any tile size.
#pragma once

#include "base.cuh"

namespace kittens {

namespace ducks {
namespace st {
struct identifier {};
template <typename T>
concept all = std::is_same_v<typename T::identifier, identifier>;
}  // namespace st
namespace st_subtile {
struct identifier {};
template <typename T>
concept all = std::is_same_v<typename T::identifier, identifier>;
}  // namespace st_subtile
}  // namespace ducks

template <typename T, int R, int C>
struct st {
    static_assert(detail::is_supported_dtype<T>, "kittens (NVIDIA): shared tiles hold bf16 or float");
    static_assert(R > 0 && C > 0 && R % 16 == 0 && C % 16 == 0,
                  "kittens (NVIDIA): shared tile rows and columns must be positive multiples of 16");
    using identifier = ducks::st::identifier;
    using dtype = T;
    static constexpr int rows = R;
    static constexpr int cols = C;
    static constexpr int num_elements = R * C;
    static constexpr int row_bytes = C * static_cast<int>(sizeof(T));
    static constexpr int bytes = R * row_bytes;
    static constexpr int chunk_elements = 16 / static_cast<int>(sizeof(T));
    static constexpr int chunks_per_row = row_bytes / 16;

    T data[R * C];

    // Byte offset inside the tile of element (row, col). Rows of a multiple of 128 bytes permute
    // their chunks by the row index (ldmatrix reads 8 consecutive rows at one column); narrower
    // rows share a 128-byte line, so the key is the line index. f32 tiles double the key: a half
    // warp's float2 accesses cover 4 rows x 2 chunks, and keys 0, 2, 4, 6 keep those rows apart.
    KITTENS_HD static constexpr uint32_t offset(int row, int col) {
        const uint32_t linear = static_cast<uint32_t>(row) * row_bytes + static_cast<uint32_t>(col) * sizeof(T);
        uint32_t key = (row_bytes % 128 == 0) ? static_cast<uint32_t>(row) : (linear >> 7);
        if constexpr (sizeof(T) == 4) {
            key <<= 1;
        }
        return linear ^ ((key & 7u) << 4);
    }

    // Address of the tile in the shared window (what ldmatrix, cp.async and ld/st.shared take).
    KITTENS_DEVICE uint32_t smem() const { return static_cast<uint32_t>(__cvta_generic_to_shared(&data[0])); }
};

template <int R, int C>
using st_bf = st<bf16, R, C>;
template <int R, int C>
using st_fl = st<float, R, C>;

// {row, col} of a subtile, in subtiles; takes any integer type like coord.
struct subtile_index {
    int r = 0, c = 0;
    template <typename R, typename C>
    KITTENS_HD constexpr subtile_index(R r_, C c_) : r(static_cast<int>(r_)), c(static_cast<int>(c_)) {}
};

// An R x C window of a shared tile, starting at element (row0, col0) of it. Accesses go through
// the parent's layout, so a view costs nothing but two integers.
template <typename ST, int R, int C>
struct st_subtile {
    static_assert(R > 0 && C > 0 && R % 16 == 0 && C % 16 == 0,
                  "kittens (NVIDIA): subtile rows and columns must be positive multiples of 16");
    static_assert(R <= ST::rows && C <= ST::cols, "kittens (NVIDIA): a subtile cannot be larger than its shared tile");
    using identifier = ducks::st_subtile::identifier;
    using parent = ST;
    using dtype = typename ST::dtype;
    static constexpr int rows = R;
    static constexpr int cols = C;

    ST* tile;
    int row0, col0;
};

// The (r, c)-th R x C subtile of `tile` (HipKittens' subtile_inplace): offsets count subtiles.
template <int R, int C, typename ST>
KITTENS_DEVICE st_subtile<ST, R, C> subtile_inplace(ST& tile, subtile_index index) {
    return st_subtile<ST, R, C>{&tile, index.r * R, index.c * C};
}


// `extern __shared__ alignment_dummy __shm[];` makes the dynamic shared region start 1024-byte
// aligned (PTX `.extern .shared .align 1024`).
struct alignas(1024) alignment_dummy {
    int dummy;
};

// Hands out consecutive pieces of the dynamic shared region, each at a multiple of ALIGN bytes
// from its start (what the validator and the emitter's dynamic_shared_memory() count with).
struct shared_allocator {
    static constexpr uint32_t ALIGN = 1024;

    char* base;
    uint32_t used = 0;

    KITTENS_DEVICE explicit shared_allocator(int* region) : base(reinterpret_cast<char*>(region)) {}

    template <typename T>
    KITTENS_DEVICE T& allocate() {
        return *reinterpret_cast<T*>(take(sizeof(T)));
    }

    template <typename T, int N>
    KITTENS_DEVICE T (&allocate())[N] {
        return *reinterpret_cast<T(*)[N]>(take(sizeof(T) * N));
    }

   private:
    KITTENS_DEVICE char* take(size_t bytes) {
        used = (used + ALIGN - 1) & ~(ALIGN - 1);
        char* piece = base + used;
        used += static_cast<uint32_t>(bytes);
        return piece;
    }
};

}  // namespace kittens
