// Runs the AMD runtime's per-lane bodies (kittens::detail::*_lane, the index math every device op
// uses) on the host, for all 64 lanes and every warp of a group, and prints what they did as JSON.
// tests/test_amd_runtime_emulation.py compares that against backends/amd/lane_layout.py and
// against plain matrix arithmetic. Nothing here predicts the answers; it only records them.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "amd_test_kittens.cuh"

using namespace kittens;
using kittens::detail::bf16_bits;
using kittens::detail::bf16_bits_to_float;
using kittens::detail::bf16_from_bits;

namespace {

// ---- a tiny JSON writer ------------------------------------------------------------------------

struct Json {
    std::string text;
    std::vector<bool> first{true};

    void comma() {
        if (!first.back()) text += ",";
        first.back() = false;
    }
    void key(const char* name) {
        comma();
        text += "\"";
        text += name;
        text += "\":";
        first.back() = true;  // the value that follows needs no comma
    }
    void open(char bracket) {
        comma();
        text += bracket;
        first.push_back(true);
    }
    void close(char bracket) {
        text += bracket;
        first.pop_back();
        first.back() = false;
    }
    void number(double value) {
        comma();
        char buffer[64];
        std::snprintf(buffer, sizeof buffer, "%.17g", value);  // exact for every float and 32-bit int
        text += buffer;
    }
    void string(const std::string& value) {
        comma();
        text += "\"" + value + "\"";
    }
};

// Value of a register slot as JSON sees it: bf16 registers report their raw 16-bit pattern so that
// bit-exact copies can be checked; f32 registers report the float.
template <typename RT>
double slot_value(const RT& tile, int slot) {
    const int base = slot / 4;
    const auto& data = tile.tiles[base / RT::width][base % RT::width].data;
    if constexpr (std::is_same_v<typename RT::dtype, bf16>) {
        return static_cast<uint16_t>(data[slot % 4]);
    } else {
        return data[slot % 4];
    }
}

template <typename T>
T from_index(int index) {
    if constexpr (std::is_same_v<T, bf16>) {
        return bf16_from_bits(static_cast<uint16_t>(index));
    } else {
        return static_cast<float>(index);
    }
}

template <typename T>
double as_number(T value) {
    if constexpr (std::is_same_v<T, bf16>) {
        return bf16_bits(value);
    } else {
        return value;
    }
}

template <typename T>
const char* dtype_name() {
    return std::is_same_v<T, bf16> ? "bf16" : "f32";
}

template <typename L>
const char* layout_name() {
    return std::is_same_v<L, ducks::rt_layout::row> ? "row" : "col";
}

// ---- lane layout and shared offsets ------------------------------------------------------------

void dump_lane_layout(Json& out) {
    out.key("lane_layout");
    out.open('{');
    for (const char* layout : {"row", "col"}) {
        out.key(layout);
        out.open('[');
        for (int lane = 0; lane < WARP_THREADS; ++lane) {
            for (int i = 0; i < 4; ++i) {
                const bool row = layout[0] == 'r';
                out.open('[');
                out.number(row ? amd_layout::row_layout_row(lane, i) : amd_layout::col_layout_row(lane, i));
                out.number(row ? amd_layout::row_layout_col(lane, i) : amd_layout::col_layout_col(lane, i));
                out.close(']');
            }
        }
        out.close(']');
    }
    out.close('}');
}

template <typename T, int R, int C>
void dump_shared_offsets(Json& out) {
    out.open('{');
    out.key("dtype");
    out.string(dtype_name<T>());
    out.key("rows");
    out.number(R);
    out.key("cols");
    out.number(C);
    out.key("bytes");
    out.number(sizeof(st<T, R, C>));
    out.key("offsets");
    out.open('[');
    for (int r = 0; r < R; ++r) {
        for (int c = 0; c < C; ++c) out.number(st<T, R, C>::offset(r, c));
    }
    out.close(']');
    out.close('}');
}

// ---- registers <-> shared ----------------------------------------------------------------------

// Parent tile filled with logical index + 1 (raw bits for bf16); load the (sr, sc) subtile into
// each lane's registers, then store those registers into a zeroed copy of the parent.
template <typename RT, typename ST>
void dump_register_shared(Json& out, int sr, int sc) {
    using S = typename ST::dtype;
    std::vector<ST> parents(2);
    ST& src = parents[0];
    ST& back = parents[1];
    std::memset(&back, 0, sizeof(ST));
    for (int r = 0; r < ST::rows; ++r) {
        for (int c = 0; c < ST::cols; ++c) src.data[ST::offset(r, c)] = from_index<S>(r * ST::cols + c + 1);
    }
    std::vector<RT> regs(WARP_THREADS);
    for (int lane = 0; lane < WARP_THREADS; ++lane) {
        detail::load_shared_lane(regs[lane], subtile_inplace<RT::rows, RT::cols>(src, {sr, sc}), lane);
    }
    for (int lane = 0; lane < WARP_THREADS; ++lane) {
        detail::store_shared_lane(subtile_inplace<RT::rows, RT::cols>(back, {sr, sc}), regs[lane], lane);
    }
    out.open('{');
    out.key("rt");
    out.open('[');
    out.string(dtype_name<typename RT::dtype>());
    out.number(RT::rows);
    out.number(RT::cols);
    out.string(layout_name<typename RT::layout>());
    out.close(']');
    out.key("st");
    out.open('[');
    out.string(dtype_name<S>());
    out.number(ST::rows);
    out.number(ST::cols);
    out.close(']');
    out.key("subtile");
    out.open('[');
    out.number(sr);
    out.number(sc);
    out.close(']');
    out.key("loaded");
    out.open('[');
    for (int lane = 0; lane < WARP_THREADS; ++lane) {
        out.open('[');
        for (int slot = 0; slot < RT::slots_per_lane; ++slot) out.number(slot_value(regs[lane], slot));
        out.close(']');
    }
    out.close(']');
    out.key("stored");
    out.open('[');
    for (int r = 0; r < ST::rows; ++r) {
        for (int c = 0; c < ST::cols; ++c) out.number(as_number(back.data[ST::offset(r, c)]));
    }
    out.close(']');
    out.close('}');
}

// ---- registers <-> global ----------------------------------------------------------------------

// Matrix of `rows` x `cols` filled with index + 1; load tile (tr, tc) into every lane's registers.
template <typename RT, typename G>
void dump_register_global_load(Json& out, int rows, int cols, int tr, int tc) {
    std::vector<G> matrix(rows * cols);
    for (int i = 0; i < rows * cols; ++i) matrix[i] = from_index<G>(i + 1);
    gl<G, -1, -1, -1, -1> view(matrix.data(), 1, 1, rows, cols);
    out.open('{');
    out.key("rt");
    out.open('[');
    out.string(dtype_name<typename RT::dtype>());
    out.number(RT::rows);
    out.number(RT::cols);
    out.string(layout_name<typename RT::layout>());
    out.close(']');
    out.key("gl");
    out.open('[');
    out.string(dtype_name<G>());
    out.number(rows);
    out.number(cols);
    out.close(']');
    out.key("coord");
    out.open('[');
    out.number(tr);
    out.number(tc);
    out.close(']');
    out.key("loaded");
    out.open('[');
    for (int lane = 0; lane < WARP_THREADS; ++lane) {
        RT regs;
        detail::load_global_lane(regs, view, {0, 0, tr, tc}, lane);
        out.open('[');
        for (int slot = 0; slot < RT::slots_per_lane; ++slot) out.number(slot_value(regs, slot));
        out.close(']');
    }
    out.close(']');
    out.close('}');
}

// Every lane's slot s holds lane * 1000 + s + `fraction`; store tile (tr, tc) into a zeroed matrix
// and report every element that changed (row, col, value as float or bf16 bits).
template <typename RT, typename G>
void dump_register_global_store(Json& out, int rows, int cols, int tr, int tc, float fraction) {
    std::vector<G> matrix(rows * cols);
    std::memset(matrix.data(), 0, matrix.size() * sizeof(G));
    gl<G, -1, -1, -1, -1> view(matrix.data(), 1, 1, rows, cols);
    for (int lane = 0; lane < WARP_THREADS; ++lane) {
        RT regs;
        for (int slot = 0; slot < RT::slots_per_lane; ++slot) regs.set_slot(slot, lane * 1000 + slot + fraction);
        detail::store_global_lane(view, regs, {0, 0, tr, tc}, lane);
    }
    out.open('{');
    out.key("rt");
    out.open('[');
    out.string(dtype_name<typename RT::dtype>());
    out.number(RT::rows);
    out.number(RT::cols);
    out.string(layout_name<typename RT::layout>());
    out.close(']');
    out.key("gl");
    out.open('[');
    out.string(dtype_name<G>());
    out.number(rows);
    out.number(cols);
    out.close(']');
    out.key("coord");
    out.open('[');
    out.number(tr);
    out.number(tc);
    out.close(']');
    out.key("fraction");
    out.number(fraction);
    out.key("written");
    out.open('[');
    for (int r = 0; r < rows; ++r) {
        for (int c = 0; c < cols; ++c) {
            const double value = as_number(matrix[r * cols + c]);
            if (value != 0) {
                out.open('[');
                out.number(r);
                out.number(c);
                out.number(value);
                out.close(']');
            }
        }
    }
    out.close(']');
    out.close('}');
}

// ---- global <-> shared, group<N> ---------------------------------------------------------------

// Every warp of the group loads tile (2, 1) of a matrix whose rows are not a multiple of 16 bytes
// apart and whose first element is not 16-byte aligned, into its own sentinel-filled tile; report
// per warp which rows it wrote fully, partly, and how many written values were wrong. Then the
// same for group<N>::store from a shared tile into a matrix of dtype G.
template <typename ST, int N, typename G>
void dump_group(Json& out) {
    using T = typename ST::dtype;
    constexpr int TR = 2, TC = 1;
    const int rows = ST::rows * 3;
    const int cols = ST::cols * 2 + 3;
    std::vector<T> storage(rows * cols + 1);
    for (int i = 0; i < rows * cols; ++i) storage[i + 1] = from_index<T>((i % 30000) + 1);
    gl<T, -1, -1, -1, -1> source(storage.data() + 1, 1, 1, rows, cols);
    auto global_at = [&](int r, int c) { return as_number(source.raw_ptr[(TR * ST::rows + r) * cols + TC * ST::cols + c]); };

    out.open('{');
    out.key("st");
    out.open('[');
    out.string(dtype_name<T>());
    out.number(ST::rows);
    out.number(ST::cols);
    out.close(']');
    out.key("group");
    out.number(N);
    out.key("gl_store_dtype");
    out.string(dtype_name<G>());
    out.key("chunks_per_lane");
    out.number(detail::group_share<ST, N>::CHUNKS_PER_LANE);
    out.key("load");
    out.open('[');
    std::vector<ST> tiles(1);
    for (int member = 0; member < N; ++member) {
        ST& tile = tiles[0];
        std::memset(&tile, 0xFF, sizeof(ST));  // sentinel: all-ones bits (a NaN in both dtypes)
        for (int lane = 0; lane < WARP_THREADS; ++lane) detail::group_load_lane<ST, N>(tile, source, {0, 0, TR, TC}, member, lane);
        std::vector<int> full, partial;
        int wrong = 0;
        for (int r = 0; r < ST::rows; ++r) {
            int written = 0;
            for (int c = 0; c < ST::cols; ++c) {
                const T value = tile.data[ST::offset(r, c)];
                uint32_t bits = 0;
                std::memcpy(&bits, &value, sizeof(T));
                const bool sentinel = sizeof(T) == 2 ? bits == 0xFFFFu : bits == 0xFFFFFFFFu;
                if (!sentinel) {
                    ++written;
                    if (as_number(value) != global_at(r, c)) ++wrong;
                }
            }
            if (written == ST::cols) full.push_back(r);
            else if (written > 0) partial.push_back(r);
        }
        out.open('{');
        out.key("full_rows");
        out.open('[');
        for (int r : full) out.number(r);
        out.close(']');
        out.key("partial_rows");
        out.open('[');
        for (int r : partial) out.number(r);
        out.close(']');
        out.key("wrong_values");
        out.number(wrong);
        out.close('}');
    }
    out.close(']');

    // group<N>::store: shared tile of logical index + 1 -> tile (TR, TC) of a zeroed G matrix.
    ST& shared = tiles[0];
    for (int r = 0; r < ST::rows; ++r) {
        for (int c = 0; c < ST::cols; ++c) shared.data[ST::offset(r, c)] = from_index<T>(r * ST::cols + c + 1);
    }
    out.key("store");
    out.open('[');
    for (int member = 0; member < N; ++member) {
        std::vector<G> target(rows * cols + 1);
        std::memset(target.data(), 0, target.size() * sizeof(G));
        gl<G, -1, -1, -1, -1> destination(target.data() + 1, 1, 1, rows, cols);
        for (int lane = 0; lane < WARP_THREADS; ++lane) detail::group_store_lane<ST, N>(destination, shared, {0, 0, TR, TC}, member, lane);
        out.open('[');
        for (int r = 0; r < rows; ++r) {
            for (int c = 0; c < cols; ++c) {
                const double value = as_number(destination.raw_ptr[r * cols + c]);
                if (value != 0) {
                    out.open('[');
                    out.number(r);
                    out.number(c);
                    out.number(value);
                    out.close(']');
                }
            }
        }
        out.close(']');
    }
    out.close(']');
    out.close('}');
}

// ---- mma over register tiles, all lanes --------------------------------------------------------

// v_mfma_f32_16x16x16_bf16 across the wave, from the ISA's operand layouts (written here
// independently of layout.cuh): lane l, element i holds A[l % 16][4 (l / 16) + i],
// B[4 (l / 16) + i][l % 16], C/D[4 (l / 16) + i][l % 16].
void wave_mfma(const detail::bf16x4* a, const detail::bf16x4* b, detail::floatx4* d) {
    float A[16][16], B[16][16];
    for (int l = 0; l < 64; ++l) {
        for (int i = 0; i < 4; ++i) {
            A[l % 16][4 * (l / 16) + i] = bf16_bits_to_float(static_cast<uint16_t>(a[l][i]));
            B[4 * (l / 16) + i][l % 16] = bf16_bits_to_float(static_cast<uint16_t>(b[l][i]));
        }
    }
    for (int l = 0; l < 64; ++l) {
        for (int i = 0; i < 4; ++i) {
            float sum = d[l][i];
            for (int k = 0; k < 16; ++k) sum += A[4 * (l / 16) + i][k] * B[k][l % 16];
            d[l][i] = sum;
        }
    }
}

// v_mfma_f32_16x16x32_bf16 (CDNA4) across the wave, from the ISA's operand layouts (written here
// independently of mma.cuh): lane l, element e holds A[l % 16][8 (l / 16) + e], B[8 (l / 16) + e][l % 16];
// C/D as for 16x16x16.
void wave_mfma_k32(const detail::bf16x8* a, const detail::bf16x8* b, detail::floatx4* d) {
    float A[16][32], B[32][16];
    for (int l = 0; l < 64; ++l) {
        for (int e = 0; e < 8; ++e) {
            A[l % 16][8 * (l / 16) + e] = bf16_bits_to_float(static_cast<uint16_t>(a[l][e]));
            B[8 * (l / 16) + e][l % 16] = bf16_bits_to_float(static_cast<uint16_t>(b[l][e]));
        }
    }
    for (int l = 0; l < 64; ++l) {
        for (int i = 0; i < 4; ++i) {
            float sum = d[l][i];
            for (int k = 0; k < 32; ++k) sum += A[4 * (l / 16) + i][k] * B[k][l % 16];
            d[l][i] = sum;
        }
    }
}

int a_value(int r, int c) { return (r * 7 + c * 3) % 9 - 4; }
int b_value(int r, int c) { return (r * 5 + c * 11) % 7 - 3; }

// A (M x K) and B (K x N, or N x K for ABt) sit in shared tiles at subtile (sa_r, sa_c), (sb_r, sb_c);
// every lane loads its registers with load_shared_lane, the wave runs for_each_mfma with the
// emulated MFMAs, and every lane stores D to tile (1, 0) of a zeroed f32 matrix.
// K32: the wave runs for_each_mfma's gfx950 plan (16x16x32 over join_k'ed pairs of K base tiles, an
// odd last one as 16x16x16), as mma.cuh does under __gfx950__; otherwise its 16x16x16-only plan.
template <bool K32, bool TRANSPOSED_B, typename SA, typename SB, typename RA, typename RB, typename RD>
void dump_mma(Json& out, int sa_r, int sa_c, int sb_r, int sb_c) {
    std::vector<SA> sa(1);
    std::vector<SB> sb(1);
    for (int r = 0; r < SA::rows; ++r) {
        for (int c = 0; c < SA::cols; ++c) sa[0].data[SA::offset(r, c)] = detail::convert<bf16>(float(a_value(r, c)));
    }
    for (int r = 0; r < SB::rows; ++r) {
        for (int c = 0; c < SB::cols; ++c) sb[0].data[SB::offset(r, c)] = detail::convert<bf16>(float(b_value(r, c)));
    }
    std::vector<RA> a(64);
    std::vector<RB> b(64);
    std::vector<RD> d(64);
    int mfmas[2] = {0, 0};  // 16x16x16, 16x16x32 issued
    for (int lane = 0; lane < 64; ++lane) {
        detail::load_shared_lane(a[lane], subtile_inplace<RA::rows, RA::cols>(sa[0], {sa_r, sa_c}), lane);
        detail::load_shared_lane(b[lane], subtile_inplace<RB::rows, RB::cols>(sb[0], {sb_r, sb_c}), lane);
        zero(d[lane]);
    }
    // B's base tile of output column j and K slice k, as mma.cuh's b_tile.
    auto b_tile = [&](int lane, int j, int k) -> const detail::bf16x4& {
        return TRANSPOSED_B ? b[lane].tiles[j][k].data : b[lane].tiles[k][j].data;
    };
    detail::for_each_mfma<K32, RD, RA>([&](int i, int j, int k, int k_tiles) {
        detail::floatx4 d_frag[64];
        for (int lane = 0; lane < 64; ++lane) d_frag[lane] = d[lane].tiles[i][j].data;
        if (k_tiles == 2) {
            detail::bf16x8 a_frag[64], b_frag[64];
            for (int lane = 0; lane < 64; ++lane) {
                a_frag[lane] = detail::join_k(a[lane].tiles[i][k].data, a[lane].tiles[i][k + 1].data);
                b_frag[lane] = detail::join_k(b_tile(lane, j, k), b_tile(lane, j, k + 1));
            }
            wave_mfma_k32(a_frag, b_frag, d_frag);
        } else {
            detail::bf16x4 a_frag[64], b_frag[64];
            for (int lane = 0; lane < 64; ++lane) {
                a_frag[lane] = a[lane].tiles[i][k].data;
                b_frag[lane] = b_tile(lane, j, k);
            }
            wave_mfma(a_frag, b_frag, d_frag);
        }
        for (int lane = 0; lane < 64; ++lane) d[lane].tiles[i][j].data = d_frag[lane];
        ++mfmas[k_tiles - 1];
    });
    const int rows = 2 * RD::rows, cols = RD::cols;
    std::vector<float> c_matrix(rows * cols, 0.0f);
    gl<float, -1, -1, -1, -1> view(c_matrix.data(), 1, 1, rows, cols);
    for (int lane = 0; lane < 64; ++lane) detail::store_global_lane(view, d[lane], {0, 0, 1, 0}, lane);

    out.open('{');
    out.key("variant");
    out.string(TRANSPOSED_B ? "ABt" : "AB");
    out.key("target");
    out.string(K32 ? "gfx950" : "gfx942");
    out.key("mfmas");
    out.open('[');
    out.number(mfmas[0]);
    out.number(mfmas[1]);
    out.close(']');
    out.key("a");
    out.open('[');
    for (int r = 0; r < RA::rows; ++r) {
        out.open('[');
        for (int c = 0; c < RA::cols; ++c) out.number(a_value(sa_r * RA::rows + r, sa_c * RA::cols + c));
        out.close(']');
    }
    out.close(']');
    out.key("b");
    out.open('[');
    for (int r = 0; r < RB::rows; ++r) {
        out.open('[');
        for (int c = 0; c < RB::cols; ++c) out.number(b_value(sb_r * RB::rows + r, sb_c * RB::cols + c));
        out.close(']');
    }
    out.close(']');
    out.key("c");
    out.open('[');
    for (int r = 0; r < rows; ++r) {
        out.open('[');
        for (int c = 0; c < cols; ++c) out.number(c_matrix[r * cols + c]);
        out.close(']');
    }
    out.close(']');
    out.close('}');
}

void dump_bf16_rounding(Json& out) {
    const float values[] = {0.0f, -0.0f, 1.0f, 1.00390625f, 1.005859375f, 1.0078125f, 1.01171875f, -2.7182817f,
                            3.14159274f, 65504.0f, 3.0e38f, 3.4028235e38f, 1.0e-40f, -1.0e-40f, 1.17549435e-38f,
                            __builtin_inff(), -__builtin_inff(), __builtin_nanf(""), 123456.789f, -0.333333343f};
    out.key("bf16_rounding");
    out.open('[');
    for (float value : values) {
        out.open('[');
        uint32_t bits;
        std::memcpy(&bits, &value, 4);
        out.number(bits);
        out.number(detail::float_to_bf16_bits(value));
        out.close(']');
    }
    out.close(']');
}

}  // namespace

int main() {
    using row = ducks::rt_layout::row;
    using col = ducks::rt_layout::col;
    Json out;
    out.open('{');
    dump_lane_layout(out);
    dump_bf16_rounding(out);

    out.key("shared_offsets");
    out.open('[');
    dump_shared_offsets<bf16, 16, 16>(out);
    dump_shared_offsets<bf16, 128, 32>(out);
    dump_shared_offsets<bf16, 32, 128>(out);
    dump_shared_offsets<bf16, 64, 64>(out);
    dump_shared_offsets<bf16, 48, 48>(out);
    dump_shared_offsets<bf16, 16, 256>(out);
    dump_shared_offsets<float, 32, 16>(out);
    dump_shared_offsets<float, 64, 64>(out);
    out.close(']');

    out.key("register_shared");
    out.open('[');
    dump_register_shared<rt_bf<16, 16, row>, st_bf<16, 16>>(out, 0, 0);
    dump_register_shared<rt_bf<32, 32, row>, st_bf<128, 32>>(out, 2, 0);
    dump_register_shared<rt_bf<32, 32, col>, st_bf<32, 128>>(out, 0, 3);
    dump_register_shared<rt_bf<32, 16, row>, st_bf<128, 64>>(out, 1, 3);
    dump_register_shared<rt_bf<16, 32, col>, st_bf<64, 64>>(out, 2, 1);
    dump_register_shared<rt_bf<32, 64, row>, st_bf<64, 64>>(out, 1, 0);
    dump_register_shared<rt_bf<16, 16, row>, st_bf<32, 48>>(out, 1, 2);
    dump_register_shared<rt_bf<16, 48, col>, st_bf<48, 48>>(out, 2, 0);
    dump_register_shared<rt_fl<32, 32, col>, st_fl<64, 64>>(out, 1, 1);
    dump_register_shared<rt_fl<16, 32, row>, st_fl<32, 32>>(out, 1, 0);
    dump_register_shared<rt_fl<32, 32, row>, st_bf<64, 64>>(out, 0, 1);
    dump_register_shared<rt_bf<16, 16, col>, st_fl<32, 32>>(out, 1, 1);
    out.close(']');

    out.key("register_global_load");
    out.open('[');
    dump_register_global_load<rt_fl<32, 32, col>, float>(out, 96, 160, 1, 3);
    dump_register_global_load<rt_bf<16, 32, row>, bf16>(out, 64, 96, 2, 1);
    dump_register_global_load<rt_fl<32, 16, col>, bf16>(out, 64, 48, 1, 2);
    dump_register_global_load<rt_bf<16, 16, col>, float>(out, 48, 48, 2, 0);
    out.close(']');

    out.key("register_global_store");
    out.open('[');
    dump_register_global_store<rt_fl<32, 32, col>, float>(out, 96, 160, 2, 1, 0.0f);
    dump_register_global_store<rt_fl<16, 32, row>, float>(out, 48, 96, 1, 2, 0.5f);
    dump_register_global_store<rt_fl<32, 16, col>, bf16>(out, 64, 48, 1, 1, 0.3f);
    dump_register_global_store<rt_bf<16, 16, row>, float>(out, 32, 32, 1, 1, 0.0f);
    out.close(']');

    out.key("group");
    out.open('[');
    dump_group<st_bf<128, 32>, 4, bf16>(out);
    dump_group<st_bf<32, 128>, 4, bf16>(out);
    dump_group<st_bf<64, 64>, 8, bf16>(out);
    dump_group<st_bf<128, 64>, 8, bf16>(out);
    dump_group<st_bf<48, 48>, 4, bf16>(out);
    dump_group<st_bf<32, 64>, 3, bf16>(out);
    dump_group<st_bf<16, 256>, 1, bf16>(out);
    dump_group<st_bf<128, 16>, 8, bf16>(out);
    dump_group<st_fl<64, 32>, 2, float>(out);
    dump_group<st_fl<32, 32>, 4, bf16>(out);
    out.close(']');

    out.key("mma");
    out.open('[');
    // Each case on the gfx942 plan (16x16x16 only) and the gfx950 plan (16x16x32 pairs; K = 48 leaves
    // one 16-wide slice for 16x16x16).
    dump_mma<false, false, st_bf<128, 32>, st_bf<32, 128>, rt_bf<32, 32, row>, rt_bf<32, 32, col>, rt_fl<32, 32, col>>(out, 1, 0, 0, 2);
    dump_mma<false, true, st_bf<64, 64>, st_bf<64, 64>, rt_bf<32, 64, row>, rt_bf<16, 64, row>, rt_fl<32, 16, col>>(out, 1, 0, 3, 0);
    dump_mma<false, false, st_bf<64, 48>, st_bf<48, 64>, rt_bf<16, 48, row>, rt_bf<48, 32, col>, rt_fl<16, 32, col>>(out, 2, 0, 0, 1);
    dump_mma<true, false, st_bf<128, 32>, st_bf<32, 128>, rt_bf<32, 32, row>, rt_bf<32, 32, col>, rt_fl<32, 32, col>>(out, 1, 0, 0, 2);
    dump_mma<true, true, st_bf<64, 64>, st_bf<64, 64>, rt_bf<32, 64, row>, rt_bf<16, 64, row>, rt_fl<32, 16, col>>(out, 1, 0, 3, 0);
    dump_mma<true, false, st_bf<64, 48>, st_bf<48, 64>, rt_bf<16, 48, row>, rt_bf<48, 32, col>, rt_fl<16, 32, col>>(out, 2, 0, 0, 1);
    out.close(']');

    // join_k on patterns: lane l's two base-tile fragments hold 100 * l + i and 100 * l + 50 + i.
    out.key("join_k");
    out.open('[');
    for (int lane = 0; lane < 64; ++lane) {
        detail::bf16x4 lo, hi;
        for (int i = 0; i < 4; ++i) {
            lo[i] = static_cast<short>(100 * lane + i);
            hi[i] = static_cast<short>(100 * lane + 50 + i);
        }
        const detail::bf16x8 joined = detail::join_k(lo, hi);
        out.open('[');
        for (int e = 0; e < 8; ++e) out.number(joined[e]);
        out.close(']');
    }
    out.close(']');

    out.close('}');
    std::fputs(out.text.c_str(), stdout);
    std::fputs("\n", stdout);
    return 0;
}
