// A recording implementation of the kittens API, for the host (g++, no GPU).
//
// backends/recorder compiles an emitted kernel against this header instead of the bundled
// runtime: every kittens call the kernel makes appends one line to the running wave's log, with
// its tiles and its coordinates resolved to numbers. The driver (driver.hpp) runs the kernel
// function once per wave of the chosen blocks; Python compares each wave's log with the
// validated per-wave trace (ir/trace.py). No data moves: shared and global memory are not
// simulated, only the registers' *values* are followed symbolically, so the epilogue
// (alpha * acc + beta * C, scaled in place or through a copy) is checked as one store.
//
// Log lines (fields separated by one space; rectangles are element rows/cols: row0 col0 rows cols):
//   decl rN dtype rows cols layout      a register tile was constructed (ids count constructions)
//   sdecl sA.E dtype rows cols          shared allocation A, element E
//   tdecl tN dtype rows cols group      a stage buffer was constructed
//   zero rN | copy rD rS | mma AB|ABt rD rA rB rC
//   load_shared rD sX rect | store_shared sX rect rS
//   group_load N async sX A|B rect | group_store N sX C rect
//   stage_load N tX A|B rect | stage_store N sX tX | async_wait P
//   store C rect value                 value: `token=coef;token=coef` (rN: a register's content,
//                                       C@r0,c0,rows,cols: old C)
//   barrier I sync:LINE|tg|cluster | priority P | budget R | load_global rD A|B|C rect (no IR op does this)
//   Hopper: mbarrier_init sX arrivals | wait_barrier sX parity | arrive sX bytes | proxy_fence
//   tma_load sX A|B rect sBar | wgmma AB|ABt rD sA slice sB | wgmma_wait P rD | store_drain
//   store_tma sStaging MAP RxC C rect(warpgroup's 64 x N) value(this wave's rows)
// A register read prints `rN`, or `rN{value}` when the tile holds a value the epilogue scaled
// (a later op reading it would see alpha * acc: the liveness bug the emitter must not make).
//
// To add an op: define it here with the emitted code's exact signature, make it call
// tilegen_record::emit with a new line kind, and teach backends/recorder/compare.py what the
// IR op it implements should log (EXPECT). An op the emitted code calls and this header lacks
// fails the host build, and compare.py names it.
// An include guard, not #pragma once: build.py precompiles this header and the emitted kernel
// includes it again.
#ifndef TILEGEN_RECORD_KITTENS_CUH
#define TILEGEN_RECORD_KITTENS_CUH

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>

#ifndef TILEGEN_WARP_THREADS
#error "define TILEGEN_WARP_THREADS (the target's wave size) when building the recorder"
#endif

#define __global__
#define __device__
#define __host__
// The emitted AMD code's TG_WAIT_SHARED_LOADS() is an s_waitcnt under HipKittens and nothing under
// the bundled runtime; this header stands in for the bundled runtime (no lanes, nothing to wait for).
#define TILEGEN_BUNDLED_RUNTIME 1

#define __shared__
#define __grid_constant__
#define __forceinline__ inline
#define __launch_bounds__(...)

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

// Set by the driver before each wave runs the kernel function.
inline dim3 blockIdx(0, 0, 0), threadIdx(0, 0, 0), gridDim(1, 1, 1), blockDim(1, 1, 1);

inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }

namespace tilegen_record {

//: A register's value as a linear combination: token -> coefficient.
using Value = std::map<std::string, double>;

struct State {
    std::string log;
    int next_reg = 0;
    int next_stage = 0;
    int barriers = 0;
    long lines = 0;
    std::deque<std::shared_ptr<void>> shared_arena;
};

inline State& state() {
    static State s;
    return s;
}

inline void begin_wave() {
    State& s = state();
    s.log.clear();
    s.next_reg = 0;
    s.next_stage = 0;
    s.barriers = 0;
    s.lines = 0;
    s.shared_arena.clear();
}

// A wave that logs more than this many lines is assumed to loop forever (ir/trace.py has the
// same bound on the validated side).
constexpr long MAX_LINES_PER_WAVE = 2000000;

inline void emit(const std::string& line) {
    if (++state().lines > MAX_LINES_PER_WAVE) {
        std::fprintf(stderr, "a wave ran more than %ld ops: a loop bound is likely wrong\n", MAX_LINES_PER_WAVE);
        std::exit(3);
    }
    state().log += line;
    state().log += '\n';
}

inline std::string num(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

inline std::string show(const Value& value) {
    std::string out;
    for (const auto& [token, coef] : value) {
        if (coef == 0.0) continue;
        if (!out.empty()) out += ';';
        out += token + "=" + num(coef);
    }
    return out.empty() ? "0" : out;
}

inline std::string rect(int row0, int col0, int rows, int cols) {
    return std::to_string(row0) + " " + std::to_string(col0) + " " + std::to_string(rows) + " " +
           std::to_string(cols);
}

struct reg_base {
    std::string id;
    int rows, cols;
    Value value;

    reg_base(const char* dtype, int rows_, int cols_, const char* layout) : rows(rows_), cols(cols_) {
        id = "r" + std::to_string(state().next_reg++);
        value = {{id, 1.0}};
        emit("decl " + id + " " + dtype + " " + std::to_string(rows) + " " + std::to_string(cols) + " " + layout);
    }
    reg_base(const reg_base&) = delete;  // the emitted code never copies a tile by construction
    reg_base& operator=(const reg_base& src);

    // What an op that reads this tile logs: its id, and its value if that is not what the last
    // op of the schedule wrote (the epilogue scaled it in place).
    std::string read() const {
        Value own{{id, 1.0}};
        return value == own ? id : id + "{" + show(value) + "}";
    }
    void written() { value = {{id, 1.0}}; }
};

inline reg_base& reg_base::operator=(const reg_base& src) {
    emit("copy " + id + " " + src.read());
    written();
    return *this;
}

struct shared_base {
    std::string id;
    const char* dtype = "?";
    int rows = 0, cols = 0;
};

// A rectangle of a shared tile, in elements (subtile_inplace's result).
struct shared_view {
    std::string id;
    int row0, col0, rows, cols;
    shared_view(const shared_base& tile) : id(tile.id), row0(0), col0(0), rows(tile.rows), cols(tile.cols) {}
    shared_view(std::string id_, int row0_, int col0_, int rows_, int cols_)
        : id(std::move(id_)), row0(row0_), col0(col0_), rows(rows_), cols(cols_) {}
    std::string text() const { return id + " " + rect(row0, col0, rows, cols); }
};

struct gl_base {
    char name;  // 'A', 'B' or 'C'
    int rows_, cols_;
    int rows() const { return rows_; }
    int cols() const { return cols_; }
    int batch() const { return 1; }
    int depth() const { return 1; }
};

struct stage_base {
    std::string id;
    int rows, cols, group;
    stage_base(const char* dtype, int rows_, int cols_, int group_) : rows(rows_), cols(cols_), group(group_) {
        id = "t" + std::to_string(state().next_stage++);
        emit("tdecl " + id + " " + dtype + " " + std::to_string(rows) + " " + std::to_string(cols) + " " +
             std::to_string(group));
    }
    stage_base(const stage_base&) = delete;
    stage_base& operator=(const stage_base&) = delete;
};

}  // namespace tilegen_record

namespace kittens {

constexpr int WARP_THREADS = TILEGEN_WARP_THREADS;

inline int warpid() { return static_cast<int>(threadIdx.x) / WARP_THREADS; }
inline int laneid() { return static_cast<int>(threadIdx.x) % WARP_THREADS; }

struct bf16 {
    std::uint16_t bits;
};

namespace ducks::rt_layout {
struct row {
    static constexpr const char* name = "row";
};
struct col {
    static constexpr const char* name = "col";
};
}  // namespace ducks::rt_layout

template <int R, int C, typename L = ducks::rt_layout::row>
struct rt_bf : tilegen_record::reg_base {
    rt_bf() : reg_base("bf16", R, C, L::name) {}
    using reg_base::operator=;
};

template <int R, int C, typename L = ducks::rt_layout::row>
struct rt_fl : tilegen_record::reg_base {
    rt_fl() : reg_base("f32", R, C, L::name) {}
    using reg_base::operator=;
};

template <int R, int C>
struct st_bf : tilegen_record::shared_base {
    st_bf() { dtype = "bf16", rows = R, cols = C; }
};

template <int R, int C>
struct st_fl : tilegen_record::shared_base {
    st_fl() { dtype = "f32", rows = R, cols = C; }
};

template <typename T, int B, int D, int R, int C>
struct gl : tilegen_record::gl_base {};

// {batch, depth, row, col}: row and col count tiles of the moved tile's shape.
struct coord {
    int b, d, r, c;
};

// subtile_inplace's offset: counts subtiles of the requested shape.
struct subtile_offset {
    int r, c;
};

template <int R, int C>
tilegen_record::shared_view subtile_inplace(const tilegen_record::shared_base& tile, subtile_offset off) {
    return {tile.id, off.r * R, off.c * C, R, C};
}

struct alignment_dummy {
    int dummy;
};

// Hands out shared tiles in allocation order; allocation A, element E is `sA.E` in the log.
struct shared_allocator {
    int next = 0;
    explicit shared_allocator(int*) {}

    template <typename T>
    T& allocate() {
        return allocate<T, 1>()[0];
    }

    template <typename T, int N>
    T (&allocate())[N] {
        auto* tiles = new T[N];
        tilegen_record::state().shared_arena.emplace_back(tiles, [](T* p) { delete[] p; });
        const std::string base = "s" + std::to_string(next++) + ".";
        for (int i = 0; i < N; ++i) {
            tiles[i].id = base + std::to_string(i);
            tilegen_record::emit("sdecl " + tiles[i].id + " " + tiles[i].dtype + " " + std::to_string(tiles[i].rows) +
                                 " " + std::to_string(tiles[i].cols));
        }
        return *reinterpret_cast<T(*)[N]>(tiles);
    }
};

// -- register ops ---------------------------------------------------------------------------

inline void zero(tilegen_record::reg_base& dst) {
    tilegen_record::emit("zero " + dst.id);
    dst.written();
}

inline void load(tilegen_record::reg_base& dst, const tilegen_record::shared_view& src) {
    tilegen_record::emit("load_shared " + dst.id + " " + src.text());
    dst.written();
}

inline void load(tilegen_record::reg_base& dst, const tilegen_record::gl_base& src, const coord& idx) {
    const std::string where = tilegen_record::rect(idx.r * dst.rows, idx.c * dst.cols, dst.rows, dst.cols);
    if (src.name == 'C') {  // the epilogue reads old C: follow it as a value, not as an op
        std::string token = "C@" + where;
        for (char& ch : token) ch = ch == ' ' ? ',' : ch;
        dst.value = {{token, 1.0}};
        return;
    }
    tilegen_record::emit("load_global " + dst.id + " " + std::string(1, src.name) + " " + where);
    dst.written();
}

inline void store(const tilegen_record::shared_view& dst, const tilegen_record::reg_base& src) {
    tilegen_record::emit("store_shared " + dst.text() + " " + src.read());
}

inline void store(const tilegen_record::gl_base& dst, const tilegen_record::reg_base& src, const coord& idx) {
    tilegen_record::emit("store " + std::string(1, dst.name) + " " +
                         tilegen_record::rect(idx.r * src.rows, idx.c * src.cols, src.rows, src.cols) + " " +
                         tilegen_record::show(src.value));
}

inline void mul(tilegen_record::reg_base& dst, const tilegen_record::reg_base& src, float scale) {
    tilegen_record::Value out;
    for (const auto& [token, coef] : src.value) out[token] = coef * static_cast<double>(scale);
    dst.value = out;
}

inline void add(tilegen_record::reg_base& dst, const tilegen_record::reg_base& x, const tilegen_record::reg_base& y) {
    tilegen_record::Value out = x.value;
    for (const auto& [token, coef] : y.value) out[token] += coef;
    dst.value = out;
}

inline void mma(const char* variant, tilegen_record::reg_base& d, const tilegen_record::reg_base& a,
                const tilegen_record::reg_base& b, const tilegen_record::reg_base& c) {
    tilegen_record::emit(std::string("mma ") + variant + " " + d.id + " " + a.read() + " " + b.read() + " " +
                         c.read());
    d.written();
}

inline void mma_AB(tilegen_record::reg_base& d, const tilegen_record::reg_base& a, const tilegen_record::reg_base& b,
                   const tilegen_record::reg_base& c) {
    mma("AB", d, a, b, c);
}

inline void mma_ABt(tilegen_record::reg_base& d, const tilegen_record::reg_base& a, const tilegen_record::reg_base& b,
                    const tilegen_record::reg_base& c) {
    mma("ABt", d, a, b, c);
}

// -- cooperative (group) ops ------------------------------------------------------------------

template <int N>
struct group {
    static void load(const tilegen_record::shared_base& dst, const tilegen_record::gl_base& src, const coord& idx) {
        move(false, dst, src, idx);
    }
    static void load_async(const tilegen_record::shared_base& dst, const tilegen_record::gl_base& src,
                           const coord& idx) {
        move(true, dst, src, idx);
    }
    static void store(const tilegen_record::gl_base& dst, const tilegen_record::shared_base& src, const coord& idx) {
        tilegen_record::emit("group_store " + std::to_string(N) + " " + src.id + " " + std::string(1, dst.name) + " " +
                             tilegen_record::rect(idx.r * src.rows, idx.c * src.cols, src.rows, src.cols));
    }

  private:
    static void move(bool async, const tilegen_record::shared_base& dst, const tilegen_record::gl_base& src,
                     const coord& idx) {
        tilegen_record::emit("group_load " + std::to_string(N) + " " + (async ? "1 " : "0 ") + dst.id + " " +
                             std::string(1, src.name) + " " +
                             tilegen_record::rect(idx.r * dst.rows, idx.c * dst.cols, dst.rows, dst.cols));
    }
};

}  // namespace kittens

// The aligned barrier: every thread of the block must reach the same instruction (NVIDIA's
// bar.sync .aligned), so it is logged with the emitted line it is called from (`sync:LINE`).
inline void __syncthreads(int line = __builtin_LINE()) {
    tilegen_record::State& s = tilegen_record::state();
    tilegen_record::emit("barrier " + std::to_string(s.barriers++) + " sync:" + std::to_string(line));
}

// -- tilegen extensions (tg::) ------------------------------------------------------------------

namespace tg {

template <typename ST, int N>
struct stage : tilegen_record::stage_base {
    stage() : stage_base(ST().dtype, ST().rows, ST().cols, N) {}
};

template <int N, typename ST>
void stage_load(stage<ST, N>& buf, const tilegen_record::gl_base& src, const kittens::coord& idx) {
    tilegen_record::emit("stage_load " + std::to_string(N) + " " + buf.id + " " + std::string(1, src.name) + " " +
                         tilegen_record::rect(idx.r * buf.rows, idx.c * buf.cols, buf.rows, buf.cols));
}

template <int N, typename ST>
void stage_store(const ST& dst, const stage<ST, N>& buf) {
    tilegen_record::emit("stage_store " + std::to_string(N) + " " + dst.id + " " + buf.id);
}

// The types after P say how the runtime counts each kind of load in flight (stage buffers, AMD
// LDS DMA loads); the count of loads P is what the schedule states, and all that is logged.
template <typename ST, int N>
struct lds_load {};

template <int P, typename... Loads>
void async_wait() {
    tilegen_record::emit("async_wait " + std::to_string(P));
}

inline void barrier() {
    tilegen_record::State& s = tilegen_record::state();
    tilegen_record::emit("barrier " + std::to_string(s.barriers++) + " tg");
}

// Scheduling clusters (IR `Cluster`): the priority the following ops run at, and the barrier with
// a scheduling fence that closes a cluster.
template <int P>
void set_priority() {
    tilegen_record::emit("priority " + std::to_string(P));
}

inline void cluster_barrier() {
    tilegen_record::State& s = tilegen_record::state();
    tilegen_record::emit("barrier " + std::to_string(s.barriers++) + " cluster");
}

template <int R, int LAUNCH_REGISTERS = 0>
void set_max_registers() {
    tilegen_record::emit("budget " + std::to_string(R));
}

}  // namespace tg

// -- Hopper: TMA, mbarriers, wgmma (sm_90a) ------------------------------------------------------

struct CUtensorMap {
    char name = '?';  // the matrix the map reads ('A' or 'B'), set by make_map
    int rows = 0, cols = 0;  // the tile shape the map moves
};

namespace tg {

template <int R, int C>
struct tma_tile_bf : tilegen_record::shared_base {
    tma_tile_bf() { dtype = "bf16/tma", rows = R, cols = C; }  // the 128-byte swizzled TMA / wgmma layout
};

template <int R, int C>
struct tma_tile_fl : tilegen_record::shared_base {
    tma_tile_fl() { dtype = "f32/tma", rows = R, cols = C; }  // an f32 C staging tile for TMA stores
};

struct mbarrier : tilegen_record::shared_base {
    mbarrier() { dtype = "mbarrier"; }
};

inline void init(mbarrier& bar, int arrivals) {
    tilegen_record::emit("mbarrier_init " + bar.id + " " + std::to_string(arrivals));
}

inline void fence_barrier_init() {}

inline void wait(mbarrier& bar, int parity) {
    tilegen_record::emit("wait_barrier " + bar.id + " " + std::to_string(parity));
}

inline void arrive(mbarrier& bar) { tilegen_record::emit("arrive " + bar.id + " 0"); }

inline void arrive_expect_tx(mbarrier& bar, int bytes) {
    tilegen_record::emit("arrive " + bar.id + " " + std::to_string(bytes));
}

inline void fence_proxy_async() { tilegen_record::emit("proxy_fence"); }

namespace tma {

template <typename TILE>
CUtensorMap make_map(const tilegen_record::gl_base& src) {
    const TILE tile;
    return CUtensorMap{src.name, tile.rows, tile.cols};
}

template <typename TILE>
void load_async(TILE& dst, const CUtensorMap& map, mbarrier& bar, int row, int col) {
    tilegen_record::emit("tma_load " + dst.id + " " + std::string(1, map.name) + " " +
                         tilegen_record::rect(row * map.rows, col * map.cols, map.rows, map.cols) + " " + bar.id);
}

// The epilogue through a staging tile and TMA stores (IR StoreTma), run by each wave of a
// warpgroup: C tile (row, col) of the warpgroup's 64 x N slice = alpha * acc + beta * C, this wave
// writing its 16 rows (warpid() % 4); acc is scaled in place.
template <typename TILE>
void store_accumulators(const CUtensorMap& map, TILE& staging, tilegen_record::reg_base& acc,
                        const tilegen_record::gl_base& c, int row, int col, float alpha, float beta) {
    const int rows = 4 * acc.rows, cols = acc.cols;
    const int r0 = row * rows + (kittens::warpid() % 4) * acc.rows, c0 = col * cols;
    std::string token = "C@" + std::to_string(r0) + "," + std::to_string(c0) + "," + std::to_string(acc.rows) +
                        "," + std::to_string(cols);
    tilegen_record::Value value;
    for (const auto& [t, coef] : acc.value) value[t] = coef * static_cast<double>(alpha);
    if (beta != 0.f) value[token] += static_cast<double>(beta);
    tilegen_record::emit("store_tma " + staging.id + " " + std::string(1, map.name) + " " +
                         std::to_string(map.rows) + "x" + std::to_string(map.cols) + " " + std::string(1, c.name) +
                         " " + tilegen_record::rect(row * rows, c0, rows, cols) + " " + tilegen_record::show(value));
    acc.value = value;
}

// Before the block ends: the TMA stores this thread issued are complete.
inline void store_drain() { tilegen_record::emit("store_drain"); }

}  // namespace tma

namespace wgmma {

inline void mma(const char* variant, tilegen_record::reg_base& d, const tilegen_record::shared_base& a, int slice,
                const tilegen_record::shared_base& b) {
    tilegen_record::emit(std::string("wgmma ") + variant + " " + d.read() + " " + a.id + " " + std::to_string(slice) +
                         " " + b.id);
    d.written();
}

inline void mma_AB(tilegen_record::reg_base& d, const tilegen_record::shared_base& a, int slice,
                   const tilegen_record::shared_base& b) {
    mma("AB", d, a, slice, b);
}

inline void mma_ABt(tilegen_record::reg_base& d, const tilegen_record::shared_base& a, int slice,
                    const tilegen_record::shared_base& b) {
    mma("ABt", d, a, slice, b);
}

template <int P>
void wait(tilegen_record::reg_base& d) {
    tilegen_record::emit("wgmma_wait " + std::to_string(P) + " " + d.read());
}

}  // namespace wgmma

}  // namespace tg

#endif  // TILEGEN_RECORD_KITTENS_CUH
