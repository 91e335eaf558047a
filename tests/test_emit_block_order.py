"""The emitted block-order code computes exactly ``ir/block_order.py``.

Two levels: the statements the emitter prints (``backends.hip.block_order_code``), evaluated in
Python over random launches; and the real emitted file, whose kernel is compiled as host C++ with
a small stub (``blockIdx`` and ``gridDim`` as globals, ``store`` recording its coordinates) and
run block by block over its own ``grid()``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tilegen as tg
from backends.hip import block_order_code as code
from backends.hip.emitter import render
from ir import block_order as reference
from ir import models as m


@st.composite
def launches(draw: st.DrawFn) -> m.Launch:
    grid = draw(st.sampled_from(["2d", "linear"]))
    kind = draw(st.sampled_from(["row_major", "column_major", "grouped"]))
    persistent = None if grid == "2d" else draw(st.one_of(st.none(), st.integers(1, 40)))
    xcd = draw(st.one_of(st.none(), st.builds(m.XcdRemap, num_xcds=st.integers(1, 8), chunk=st.integers(1, 4))))
    return m.Launch(
        num_warps=4,
        block_m=draw(st.sampled_from([16, 32, 64])),
        block_n=draw(st.sampled_from([16, 32, 64])),
        k_step=16,
        grid=grid,
        tile_order=m.TileOrder(kind=kind, group_m=draw(st.integers(1, 5))),
        persistent_blocks=persistent,
        xcd_remap=xcd,
    )


@settings(max_examples=300, deadline=None)
@given(launches(), st.integers(1, 9), st.integers(1, 9))
def test_printed_statements_follow_the_reference(launch: m.Launch, tile_rows: int, tile_cols: int) -> None:
    order = code.block_order(launch)
    m_size, n_size = tile_rows * launch.block_m, tile_cols * launch.block_n
    blocks = reference.num_blocks(launch, m_size, n_size)
    assert code.num_blocks(order, launch, m_size, n_size) == blocks
    for block in range(blocks):
        assert code.tiles_of_block(order, launch, block, m_size, n_size) == reference.tiles_of_block(
            launch, block, m_size, n_size
        ), f"block {block} of {blocks}"


def test_a_persistent_2d_grid_is_refused() -> None:
    with pytest.raises(ValueError, match="grid='linear'"):
        code.block_order(m.Launch(num_warps=1, block_m=16, block_n=16, k_step=16, grid="2d", persistent_blocks=4))


# -- the emitted C++, run on the host ------------------------------------------------------------

HOST_STUB = r"""
#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <utility>
#include <vector>
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
dim3 blockIdx, gridDim;
#define __global__
#define __launch_bounds__(...)
using std::min;
std::vector<std::pair<int, int>> stored;
namespace kittens {
struct bf16 {};
constexpr int WARP_THREADS = 64;
inline int warpid() { return 0; }
namespace ducks { namespace rt_layout { struct row {}; struct col {}; } }
template<typename T, int R, int C, typename L> struct rt {};
template<int R, int C, typename L = ducks::rt_layout::row> using rt_fl = rt<float, R, C, L>;
template<typename T, int B, int D, int R, int C> struct gl {
    int r, c;
    int rows() const { return r; }
    int cols() const { return c; }
};
struct coord { int b, d, r, c; };
template<typename RT> void zero(RT&) {}
template<typename RT> void mul(RT&, const RT&, float) {}
template<typename RT> void add(RT&, const RT&, const RT&) {}
template<typename RT, typename GL> void load(RT&, const GL&, const coord&) {}
template<typename GL, typename RT> void store(const GL&, const RT&, const coord& at) { stored.push_back({at.r, at.c}); }
}
template<typename G, typename K> void run(const char* name, K kernel, int m, int n) {
    G g{};
    g.a.r = m;
    g.a.c = 16;
    g.c.r = m;
    g.c.c = n;
    dim3 grid = g.grid();
    gridDim = grid;
    for (unsigned y = 0; y < grid.y; ++y) {
        for (unsigned x = 0; x < grid.x; ++x) {
            blockIdx = dim3(x, y);
            stored.clear();
            kernel(g);
            std::printf("%s %d %d %u", name, m, n, y * grid.x + x);
            for (auto& tile : stored) std::printf(" %d,%d", tile.first, tile.second);
            std::printf("\n");
        }
    }
}
"""

#: (name, builder keyword arguments): every launch kind, tile order and the XCD remap.
CONFIGS = [
    ("grid2d", {}),
    ("linear_rows", {"grid": "linear"}),
    ("columns", {"order": tg.column_major()}),
    ("grouped3", {"order": tg.grouped(3)}),
    ("xcd", {"xcd": tg.xcd_remap(4, 1)}),
    ("persistent", {"persistent": 5}),
    ("persistent_grouped", {"persistent": 7, "order": tg.grouped(2)}),
    ("persistent_grouped_xcd", {"persistent": 6, "order": tg.grouped(2), "xcd": tg.xcd_remap(3, 2)}),
    ("persistent_columns_xcd", {"persistent": 20, "order": tg.column_major(), "xcd": tg.xcd_remap(8, 2)}),
]
PROBLEMS = [(16, 16), (80, 112), (128, 48), (144, 144)]


def mapping_kernel(name: str, **launch: object) -> m.Kernel:
    """One 16 x 16 accumulator stored at the block's tile: the stores show which tiles a block visits."""
    k = tg.Kernel(name, warps=1, block=(16, 16), k_step=16, **launch)  # type: ignore[arg-type]
    acc = k.accumulator("acc", 16, 16)
    k.zero(acc)
    k.store(acc)
    return k.build()


def _host_translation_unit(kernels: list[m.Kernel]) -> str:
    parts = [HOST_STUB]
    for kernel in kernels:
        source = render(kernel, "gfx942").split("// Host side:")[0]
        body = "\n".join(line for line in source.splitlines() if not line.startswith("#include"))
        parts.append(f"namespace {kernel.name}_ns {{\n{body}\n}}")
    calls = []
    for kernel in kernels:
        ns = f"{kernel.name}_ns"
        for m_size, n_size in PROBLEMS:
            calls.append(
                f'    run<{ns}::{kernel.name}_globals>("{kernel.name}", '
                f"{ns}::{kernel.name}_kernel, {m_size}, {n_size});"
            )
    parts.append("int main() {\n" + "\n".join(calls) + "\n    return 0;\n}\n")
    return "\n".join(parts)


@pytest.mark.skipif(shutil.which("c++") is None, reason="no host C++ compiler (c++) to run the emitted code")
def test_emitted_kernels_visit_the_reference_tiles(tmp_path: Path) -> None:
    kernels = [mapping_kernel(name, **launch) for name, launch in CONFIGS]
    source = tmp_path / "block_order.cpp"
    source.write_text(_host_translation_unit(kernels))
    binary = tmp_path / "block_order"
    build = subprocess.run(
        ["c++", "-std=c++17", "-O0", "-Wall", "-Werror", "-Wno-unused-variable", str(source), "-o", str(binary)],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, f"the emitted block-order code does not build as C++:\n{build.stderr[:3000]}"
    output = subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout

    seen: dict[tuple[str, int, int], dict[int, list[tuple[int, int]]]] = {}
    for line in output.splitlines():
        name, m_text, n_text, block, *tiles = line.split()
        visits = [tuple(int(v) for v in tile.split(",")) for tile in tiles]
        seen.setdefault((name, int(m_text), int(n_text)), {})[int(block)] = visits  # type: ignore[misc]

    for kernel in kernels:
        for m_size, n_size in PROBLEMS:
            blocks = seen[(kernel.name, m_size, n_size)]
            expected_blocks = reference.num_blocks(kernel.launch, m_size, n_size)
            assert sorted(blocks) == list(range(expected_blocks)), f"{kernel.name} {m_size}x{n_size}: grid() differs"
            for block, visits in blocks.items():
                assert visits == reference.tiles_of_block(kernel.launch, block, m_size, n_size), (
                    f"{kernel.name}, {m_size} x {n_size}, block {block}"
                )
