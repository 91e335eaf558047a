// Host program (no GPU needed) that checks the NVIDIA runtime's index math, calling the runtime's
// own functions, against the PTX ISA's definitions:
//   * the shared layout is a bijection that keeps 16-byte chunks whole;
//   * ldmatrix.x4 (straight and .trans), as the runtime addresses it, hands each lane exactly the
//     elements the register layout says the lane holds;
//   * the register layout's pairs are mma.m16n8k16's A, B and C/D fragments where the runtime
//     passes them;
//   * the runtime's shared accesses are free of bank conflicts;
//   * the warps of a group split a tile's rows into the bands the hazard model assumes.
// Prints one line per failure and exits non-zero if there is any.
#include <cstdio>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "kittens.cuh"

using namespace kittens;
using detail::pair_position;

static int failures = 0;

#define CHECK(condition, ...)                                                    \
    do {                                                                         \
        if (!(condition)) {                                                      \
            if (failures++ < 40) {                                               \
                std::printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #condition); \
                std::printf(__VA_ARGS__);                                        \
                std::printf("\n");                                               \
            }                                                                    \
        }                                                                        \
    } while (0)

// ---- bank conflicts ------------------------------------------------------------------------------
// Shared memory serves 128 bytes a cycle. An instruction whose lanes access `width` bytes each is
// split into phases of 128 / width lanes; a phase is conflict-free when its lanes hit distinct
// width-sized slots of the 128-byte window, or the very same address.
static bool conflict_free(const std::vector<uint32_t>& addresses, int width) {
    const int lanes_per_phase = 128 / width;
    for (size_t first = 0; first < addresses.size(); first += lanes_per_phase) {
        std::map<uint32_t, uint32_t> slot_owner;
        for (size_t lane = first; lane < first + lanes_per_phase && lane < addresses.size(); ++lane) {
            const uint32_t slot = (addresses[lane] / width) % lanes_per_phase;
            auto [it, inserted] = slot_owner.emplace(slot, addresses[lane]);
            if (!inserted && it->second != addresses[lane]) {
                return false;
            }
        }
    }
    return true;
}

// ---- the shared layout -----------------------------------------------------------------------------

// Rows of 32 or 64 bytes, or of a multiple of 128, are free of bank conflicts (docs/nvidia.md);
// other widths (48 bf16 columns, say) are laid out correctly but may conflict.
template <typename ST>
inline constexpr bool conflict_free_width = ST::row_bytes % 128 == 0 || 128 % ST::row_bytes == 0;

template <typename ST>
void check_layout(const char* name) {
    using T = typename ST::dtype;
    std::vector<int> owner(ST::bytes, -1);
    for (int r = 0; r < ST::rows; ++r) {
        for (int c = 0; c < ST::cols; ++c) {
            const uint32_t off = ST::offset(r, c);
            CHECK(off % sizeof(T) == 0 && off + sizeof(T) <= ST::bytes, "%s (%d, %d) -> %u", name, r, c, off);
            if (off + sizeof(T) > ST::bytes) {
                continue;
            }
            for (size_t b = 0; b < sizeof(T); ++b) {
                CHECK(owner[off + b] < 0, "%s: (%d, %d) and element %d share byte %u", name, r, c, owner[off + b],
                      static_cast<unsigned>(off + b));
                owner[off + b] = r * ST::cols + c;
            }
            if (c % ST::chunk_elements != 0) {
                CHECK(off == ST::offset(r, c - 1) + sizeof(T), "%s: the chunk of (%d, %d) is split", name, r, c);
            } else {
                CHECK(off % 16 == 0, "%s: the chunk of (%d, %d) is not 16-byte aligned", name, r, c);
            }
        }
    }
}

// Group copies (group<N>::load / load_async / store, tg::stage): every chunk once, warp w within
// its band, 16-byte phases without conflicts, and, in regular bands, the step-by-step shared
// offsets (a phase base plus whole layout periods) equal to the layout's.
template <typename ST, int N>
void check_band(const char* name) {
    using band = detail::band<ST, N>;
    std::set<std::pair<int, int>> covered;
    for (int warp = 0; warp < 2 * N; ++warp) {  // two groups: the band depends on warp % N only
        for (int step = 0; step < band::per_lane; ++step) {
            std::vector<uint32_t> addresses;
            for (int lane = 0; lane < WARP_THREADS; ++lane) {
                int row = 0, col = 0;
                if (!band::locate(step, lane, warp, row, col)) {
                    continue;
                }
                const int first = (warp % N) * ST::rows / N;
                CHECK(row >= first && row < first + ST::rows / N && col % ST::chunk_elements == 0 && col < ST::cols,
                      "%s g%d: warp %d lane %d step %d -> (%d, %d)", name, N, warp, lane, step, row, col);
                addresses.push_back(ST::offset(row, col));
                if constexpr (band::regular) {
                    int row0 = 0, col0 = 0;
                    band::locate(0, lane, warp, row0, col0);
                    const uint32_t walked = band::phase_offset(row0, col0, step % band::phases) + band::period_shift(step);
                    CHECK(walked == ST::offset(row, col) && row == row0 + step * band::rows_per_step && col == col0,
                          "%s g%d: warp %d lane %d step %d walks to %u, the layout says %u", name, N, warp, lane,
                          step, walked, ST::offset(row, col));
                }
                if (warp < N) {
                    CHECK(covered.emplace(row, col).second, "%s g%d: chunk (%d, %d) moved twice", name, N, row, col);
                }
            }
            CHECK(conflict_free(addresses, 16), "%s g%d: warp %d step %d has bank conflicts", name, N, warp, step);
        }
    }
    CHECK(static_cast<int>(covered.size()) == ST::rows * ST::chunks_per_row, "%s g%d: %zu of %d chunks moved", name, N,
          covered.size(), ST::rows * ST::chunks_per_row);
}

// ---- registers <-> shared --------------------------------------------------------------------------

template <bool COLUMN_PAIRS>
pair_position second_element(pair_position first) {
    return COLUMN_PAIRS ? pair_position{first.row + 1, first.col} : pair_position{first.row, first.col + 1};
}

// ldmatrix.x4 as the PTX ISA defines it: lanes 8m..8m+7 give the row addresses of matrix m;
// without .trans, lane l receives elements (l / 4, 2 (l % 4) + e) of each matrix, with .trans the
// elements (2 (l % 4) + e, l / 4).
template <typename ST, bool COLUMN_PAIRS>
void check_ldmatrix(const char* name) {
    static_assert(std::is_same_v<typename ST::dtype, bf16>, "ldmatrix moves 16-bit elements");
    std::map<uint32_t, pair_position> element_at;
    for (int r = 0; r < ST::rows; ++r) {
        for (int c = 0; c < ST::cols; ++c) {
            element_at[ST::offset(r, c)] = {r, c};
        }
    }
    for (int r0 = 0; r0 < ST::rows; r0 += 16) {
        for (int c0 = 0; c0 < ST::cols; c0 += 16) {
            uint32_t row_address[WARP_THREADS];
            for (int lane = 0; lane < WARP_THREADS; ++lane) {
                const pair_position in_tile = detail::ldmatrix_row<COLUMN_PAIRS>(lane);
                row_address[lane] = ST::offset(r0 + in_tile.row, c0 + in_tile.col);
            }
            for (int m = 0; m < 4 && conflict_free_width<ST>; ++m) {
                CHECK(conflict_free(std::vector<uint32_t>(row_address + 8 * m, row_address + 8 * m + 8), 16),
                      "%s base tile (%d, %d) matrix %d: bank conflicts", name, r0, c0, m);
            }
            for (int lane = 0; lane < WARP_THREADS; ++lane) {
                for (int m = 0; m < 4; ++m) {
                    const pair_position first = detail::pair_origin<COLUMN_PAIRS>(lane, m);
                    const pair_position expected[2] = {first, second_element<COLUMN_PAIRS>(first)};
                    for (int e = 0; e < 2; ++e) {
                        const uint32_t address =
                            COLUMN_PAIRS ? row_address[8 * m + 2 * (lane % 4) + e] + 2 * (lane / 4)
                                         : row_address[8 * m + lane / 4] + 2 * (2 * (lane % 4) + e);
                        const pair_position got = element_at.at(address);
                        CHECK(got.row == r0 + expected[e].row && got.col == c0 + expected[e].col,
                              "%s: lane %d register %d element %d is (%d, %d), the layout says (%d, %d)", name, lane,
                              m, e, got.row, got.col, r0 + expected[e].row, c0 + expected[e].col);
                    }
                }
            }
        }
    }
}

// Row pairs move as one 4-byte (bf16) or 8-byte (float) access per lane: conflict-free for every
// register tile placed anywhere a subtile can start (in tiles of the widths that promise it).
template <typename ST>
void check_pair_accesses(const char* name) {
    if constexpr (!conflict_free_width<ST>) {
        return;
    }
    constexpr int width = 2 * static_cast<int>(sizeof(typename ST::dtype));
    for (int r0 = 0; r0 < ST::rows; r0 += 16) {
        for (int c0 = 0; c0 < ST::cols; c0 += 16) {
            for (int p = 0; p < 4; ++p) {
                std::vector<uint32_t> addresses;
                for (int lane = 0; lane < WARP_THREADS; ++lane) {
                    const pair_position at = detail::pair_origin<false>(lane, p);
                    addresses.push_back(ST::offset(r0 + at.row, c0 + at.col));
                }
                CHECK(conflict_free(addresses, width), "%s base tile (%d, %d) pair %d: bank conflicts", name, r0, c0, p);
            }
        }
    }
}

// ---- mma.m16n8k16 fragments ----------------------------------------------------------------------
// PTX ISA, mma.m16n8k16 with .bf16 inputs and .f32 accumulators; g = lane / 4, t = lane % 4:
//   A register k (0..3) holds A[g + 8 (k % 2)][2t + 8 (k / 2) + e];
//   B register k (0..1) holds B[2t + 8k + e][g];
//   C/D element k (0..3) is  C[g + 8 (k / 2)][2t + (k % 2)].
void check_mma_fragments() {
    for (int lane = 0; lane < WARP_THREADS; ++lane) {
        const int g = lane / 4, t = lane % 4;
        for (int k = 0; k < 4; ++k) {  // A: a row-pair tile's pair k
            const pair_position at = detail::pair_origin<false>(lane, k);
            CHECK(at.row == g + 8 * (k % 2) && at.col == 2 * t + 8 * (k / 2), "A register %d of lane %d", k, lane);
        }
        for (int h = 0; h < 2; ++h) {  // output columns 8h..8h+7
            for (int k = 0; k < 2; ++k) {
                const int p = detail::b_fragment_pair(h, k);
                // mma_AB: b is a K x N column-pair tile; element e of the pair is B[row + e][col].
                const pair_position kn = detail::pair_origin<true>(lane, p);
                CHECK(kn.row == 2 * t + 8 * k && kn.col == 8 * h + g, "mma_AB: B register %d of lane %d, half %d", k,
                      lane, h);
                // mma_ABt: b is an N x K row-pair tile holding B^T; element e is B^T[row][col + e].
                const pair_position nk = detail::pair_origin<false>(lane, p);
                CHECK(nk.col == 2 * t + 8 * k && nk.row == 8 * h + g, "mma_ABt: B register %d of lane %d, half %d", k,
                      lane, h);
            }
            for (int k = 0; k < 4; ++k) {  // accumulators: row-pair f32 tiles
                const pair_position at = detail::pair_origin<false>(lane, detail::accumulator_pair(h, k / 2));
                CHECK(at.row == g + 8 * (k / 2) && at.col == 8 * h + 2 * t,
                      "C/D element %d of lane %d, half %d", k, lane, h);
            }
        }
    }
}

// ---- what the runtime promises for the tile shapes emitted kernels use ------------------------------

template <int R, int C>
void check_bf16_tile(const char* name) {
    using ST = st_bf<R, C>;
    check_layout<ST>(name);
    check_ldmatrix<ST, false>(name);
    check_ldmatrix<ST, true>(name);
    check_pair_accesses<ST>(name);
}

template <int R, int C>
void check_f32_tile(const char* name) {
    using ST = st_fl<R, C>;
    check_layout<ST>(name);
    check_pair_accesses<ST>(name);
}

int main() {
    check_mma_fragments();

    check_bf16_tile<16, 16>("st_bf<16, 16>");
    check_bf16_tile<32, 32>("st_bf<32, 32>");
    check_bf16_tile<64, 48>("st_bf<64, 48>");
    check_bf16_tile<128, 64>("st_bf<128, 64>");
    check_bf16_tile<32, 128>("st_bf<32, 128>");
    check_bf16_tile<16, 256>("st_bf<16, 256>");
    check_f32_tile<16, 16>("st_fl<16, 16>");
    check_f32_tile<32, 32>("st_fl<32, 32>");
    check_f32_tile<32, 48>("st_fl<32, 48>");
    check_f32_tile<64, 64>("st_fl<64, 64>");
    check_f32_tile<16, 128>("st_fl<16, 128>");

    check_band<st_bf<16, 16>, 2>("st_bf<16, 16>");
    check_band<st_bf<64, 32>, 4>("st_bf<64, 32>");
    check_band<st_bf<128, 64>, 4>("st_bf<128, 64>");
    check_band<st_bf<256, 64>, 8>("st_bf<256, 64>");
    check_band<st_bf<48, 48>, 4>("st_bf<48, 48>");
    check_band<st_bf<32, 128>, 1>("st_bf<32, 128>");
    check_band<st_fl<64, 64>, 8>("st_fl<64, 64>");
    check_band<st_fl<32, 16>, 2>("st_fl<32, 16>");
    check_band<st_bf<64, 16>, 1>("st_bf<64, 16>");
    check_band<st_bf<64, 256>, 4>("st_bf<64, 256>");
    check_band<st_bf<32, 512>, 2>("st_bf<32, 512>");
    check_band<st_fl<64, 128>, 4>("st_fl<64, 128>");

    if (failures) {
        std::printf("%d failures\n", failures);
        return 1;
    }
    std::printf("all checks passed\n");
    return 0;
}
