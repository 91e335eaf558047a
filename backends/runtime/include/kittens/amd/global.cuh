// Global memory views and tile coordinates.
#pragma once

#include "base.cuh"

namespace kittens {

// {batch, depth, row, col}. Rows and columns count tiles of the shape being moved (HipKittens'
// convention): row r of a 128-row tile starts at element row 128 * r.
template <typename TILE = void>
struct coord {
    int b = 0, d = 0, r = 0, c = 0;
};

// A row-major, contiguous matrix in global memory. Only the fully run-time form
// gl<T, -1, -1, -1, -1> is implemented; batch and depth are 1 (tilegen's GEMMs are 2-D).
template <typename T, int B, int D, int R, int C>
struct gl {
    static_assert(B == -1 && D == -1 && R == -1 && C == -1,
                  "kittens (AMD): only gl<T, -1, -1, -1, -1> (all sizes known at run time) is implemented");
    static_assert(detail::is_supported_dtype<T>, "kittens (AMD): gl<T, ...> supports bf16 and float");
    using dtype = T;

    T* raw_ptr = nullptr;
    int batch_ = 1, depth_ = 1, rows_ = 0, cols_ = 0;

    gl() = default;
    // What pyutils builds from a torch tensor: data pointer and the four extents.
    __host__ __device__ gl(T* data, int batch, int depth, int rows, int cols)
        : raw_ptr(data), batch_(batch), depth_(depth), rows_(rows), cols_(cols) {}

    KITTENS_HD int batch() const { return batch_; }
    KITTENS_HD int depth() const { return depth_; }
    KITTENS_HD int rows() const { return rows_; }
    KITTENS_HD int cols() const { return cols_; }
    // Row stride in elements: rows are contiguous.
    KITTENS_HD int row_stride() const { return cols_; }
};

namespace ducks::gl {
template <typename G>
concept all = requires(const G& g) {
    typename G::dtype;
    g.raw_ptr;
    g.rows();
    g.cols();
};
}  // namespace ducks::gl

}  // namespace kittens
