// Host driver of the recording build: runs an emitted kernel function once per wave of the chosen
// blocks and prints each wave's log (kittens.cuh in this folder says what a log holds).
//
//   <binary> M N K kn|nk alpha beta block...     (a negative block counts from the grid's end)
//
// Output: `grid X Y Z`, `block X Y Z` (threads), then for each block and wave `wave BLOCK WARP` followed by its log.
// Waves run one after another, each to completion: the log is per wave and barriers are counted,
// not waited on, so no wave depends on another (no memory is simulated).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

kittens::alignment_dummy __shm[1];

namespace tilegen_record {

template <typename G, typename Kernel, typename Setup>
int drive(int argc, char** argv, Kernel kernel, Setup setup) {
    if (argc < 8) {
        std::fprintf(stderr, "usage: %s M N K kn|nk alpha beta block...\n", argv[0]);
        return 2;
    }
    const int m = std::atoi(argv[1]), n = std::atoi(argv[2]), k = std::atoi(argv[3]);
    const bool b_kn = std::string(argv[4]) == "kn";
    G g{};
    g.a.name = 'A', g.a.rows_ = m, g.a.cols_ = k;
    g.b.name = 'B', g.b.rows_ = b_kn ? k : n, g.b.cols_ = b_kn ? n : k;
    g.c.name = 'C', g.c.rows_ = m, g.c.cols_ = n;
    g.alpha = std::strtof(argv[5], nullptr);
    g.beta = std::strtof(argv[6], nullptr);
    g.stream = 0;
    setup(g);  // what the emitted dispatch does to g before the launch (tensor maps)
    const dim3 grid = g.grid();
    gridDim = grid;
    blockDim = g.block();
    const long blocks = static_cast<long>(grid.x) * grid.y * grid.z;
    // The waves of a block are the threads the code launches it with (block()), one per wave.
    const int num_warps = static_cast<int>(blockDim.x * blockDim.y * blockDim.z) / kittens::WARP_THREADS;
    std::printf("grid %u %u %u\n", grid.x, grid.y, grid.z);
    std::printf("block %u %u %u\n", blockDim.x, blockDim.y, blockDim.z);
    for (int i = 7; i < argc; ++i) {
        long block = std::atol(argv[i]);
        if (block < 0) block += blocks;
        if (block < 0 || block >= blocks) continue;
        blockIdx = dim3(static_cast<unsigned>(block % grid.x), static_cast<unsigned>(block / grid.x % grid.y),
                        static_cast<unsigned>(block / (static_cast<long>(grid.x) * grid.y)));
        for (int warp = 0; warp < num_warps; ++warp) {
            threadIdx = dim3(static_cast<unsigned>(warp * kittens::WARP_THREADS), 0, 0);
            begin_wave();
            kernel(g);
            std::printf("wave %ld %d\n", block, warp);
            std::fputs(state().log.c_str(), stdout);
        }
    }
    return 0;
}

}  // namespace tilegen_record
