"""The AMD runtime's C++, run lane by lane on the host, does what backends/amd/lane_layout.py says.

tests/amd_kernels/host_emulation.cpp is built with hipcc against the real headers and calls the
same per-lane bodies (kittens::detail::*_lane) that every device op calls, for all 64 lanes and
every warp of a group. Its JSON report is checked here against the Python model, torch's bf16
rounding and plain matrix products. No AMD GPU exists: this is the closest the project gets to
running the AMD path.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import pytest
import torch

from backends.amd import lane_layout as ll
from backends.drivers.common import RUNTIME_INCLUDE, run
from backends.drivers.hipcc import HIP_ENV, find_compiler

pytestmark = pytest.mark.amd_toolchain

KERNELS = Path(__file__).resolve().parent / "amd_kernels"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Built host-only with the current AMD compiler and headers (no HIP runtime library needed)."""
    source = KERNELS / "host_emulation.cpp"
    exe = tmp_path_factory.mktemp("amd_host_emulation") / "host_emulation"
    compiler = find_compiler()
    no_runtime = ["-no-hip-rt"] if compiler.kind == "toolchain" else []
    command = [compiler.path, *compiler.flags, "-O1", "-std=c++20", "--offload-arch=gfx942", "--cuda-host-only"]
    command += [*no_runtime, f"-I{RUNTIME_INCLUDE}", f"-I{KERNELS}"]
    run([*command, str(source), "-o", str(exe)], source, env=HIP_ENV)
    return json.loads(run([str(exe)], source))


def bf16_bits(value: float) -> int:
    """torch's float32 -> bf16 rounding (nearest even), as a 16-bit pattern."""
    return int(torch.tensor([value], dtype=torch.float32).to(torch.bfloat16).view(torch.int16).item()) & 0xFFFF


def bf16_value(bits: int) -> float:
    return struct.unpack("<f", struct.pack("<I", bits << 16))[0]


def element_value(index: int, stored_dtype: str, register_dtype: str) -> float:
    """What a register of `register_dtype` reports for an element whose index pattern was stored
    as `stored_dtype` (bf16: the index is the raw bit pattern; f32: the value)."""
    if stored_dtype == "bf16":
        return index if register_dtype == "bf16" else bf16_value(index)
    return float(index) if register_dtype == "f32" else bf16_bits(float(index))


def test_lane_layout_table_is_the_models(report: dict[str, Any]) -> None:
    for layout in ("row", "col"):
        expected = [
            [ll.element_row(layout, lane, i), ll.element_col(layout, lane, i)] for lane in range(64) for i in range(4)
        ]
        assert report["lane_layout"][layout] == expected


def test_float_to_bf16_rounds_like_torch(report: dict[str, Any]) -> None:
    for float_bits, got in report["bf16_rounding"]:
        value = struct.unpack("<f", struct.pack("<I", int(float_bits)))[0]
        if math.isnan(value):
            assert (int(got) & 0x7F80) == 0x7F80 and (int(got) & 0x7F) != 0, "NaN must stay NaN"
        else:
            assert int(got) == bf16_bits(value), f"float {value!r}"


def test_shared_offsets_are_the_models(report: dict[str, Any]) -> None:
    assert len(report["shared_offsets"]) == 8
    for case in report["shared_offsets"]:
        tile = ll.SharedTileLayout(case["rows"], case["cols"], case["dtype"])
        assert case["bytes"] == tile.bytes, "sizeof(st) must be exactly rows * cols * element size"
        assert case["offsets"] == tile.offsets().flatten().tolist()


def test_register_loads_from_shared_put_each_element_where_the_model_says(report: dict[str, Any]) -> None:
    assert len(report["register_shared"]) == 12
    for case in report["register_shared"]:
        rt_dtype, rows, cols, layout = case["rt"]
        st_dtype, _, parent_cols = case["st"]
        sub_row, sub_col = case["subtile"]
        tile = ll.RegisterTileLayout(rows, cols, layout, rt_dtype)
        for lane in range(64):
            for slot in range(tile.slots_per_lane):
                row, col = tile.element(lane, slot)
                index = (sub_row * rows + row) * parent_cols + sub_col * cols + col + 1
                assert case["loaded"][lane][slot] == element_value(index, st_dtype, rt_dtype), (case["rt"], lane, slot)


def round_trip(index: int, stored_dtype: str, register_dtype: str) -> float:
    """The element pattern `index` after shared (stored_dtype) -> register -> shared."""
    if stored_dtype == "f32" and register_dtype == "bf16":
        return bf16_value(bf16_bits(float(index)))  # the register rounded it
    return index


def test_register_stores_to_shared_write_back_exactly_the_subtile(report: dict[str, Any]) -> None:
    for case in report["register_shared"]:
        rt_dtype, rows, cols, _ = case["rt"]
        st_dtype, parent_rows, parent_cols = case["st"]
        sub_row, sub_col = case["subtile"]
        for r in range(parent_rows):
            for c in range(parent_cols):
                inside = sub_row * rows <= r < (sub_row + 1) * rows and sub_col * cols <= c < (sub_col + 1) * cols
                expected = round_trip(r * parent_cols + c + 1, st_dtype, rt_dtype) if inside else 0
                assert case["stored"][r * parent_cols + c] == expected, (case["rt"], case["st"], r, c)


def test_register_loads_from_global_use_register_tile_units(report: dict[str, Any]) -> None:
    assert len(report["register_global_load"]) == 4
    for case in report["register_global_load"]:
        rt_dtype, rows, cols, layout = case["rt"]
        gl_dtype, _, matrix_cols = case["gl"]
        tile_row, tile_col = case["coord"]
        tile = ll.RegisterTileLayout(rows, cols, layout, rt_dtype)
        for lane in range(64):
            for slot in range(tile.slots_per_lane):
                row, col = tile.element(lane, slot)
                index = (tile_row * rows + row) * matrix_cols + tile_col * cols + col + 1
                assert case["loaded"][lane][slot] == element_value(index, gl_dtype, rt_dtype), (case["rt"], lane, slot)


def test_register_stores_to_global_write_only_their_tile_converted(report: dict[str, Any]) -> None:
    assert len(report["register_global_store"]) == 4
    for case in report["register_global_store"]:
        rt_dtype, rows, cols, layout = case["rt"]
        gl_dtype = case["gl"][0]
        tile_row, tile_col = case["coord"]
        tile = ll.RegisterTileLayout(rows, cols, layout, rt_dtype)
        expected = {}
        for lane in range(64):
            for slot in range(tile.slots_per_lane):
                row, col = tile.element(lane, slot)
                value = float(torch.tensor(lane * 1000 + slot + case["fraction"], dtype=torch.float32))
                if rt_dtype == "bf16":  # the register itself holds the rounded value
                    value = bf16_value(bf16_bits(value))
                stored = bf16_bits(value) if gl_dtype == "bf16" else value
                if stored != 0:
                    expected[(tile_row * rows + row, tile_col * cols + col)] = stored
        written = {(int(r), int(c)): v for r, c, v in case["written"]}
        assert written.keys() == expected.keys()
        for position, value in expected.items():
            assert written[position] == pytest.approx(value, rel=0, abs=0), (case["rt"], position)


def test_group_loads_give_each_warp_its_band_of_rows(report: dict[str, Any]) -> None:
    assert len(report["group"]) == 10
    for case in report["group"]:
        dtype, rows, cols = case["st"]
        group = case["group"]
        tile = ll.SharedTileLayout(rows, cols, dtype)
        band_rows = -(-rows // group)
        assert case["chunks_per_lane"] == -(-band_rows * tile.chunks_per_row // 64)
        for member, result in enumerate(case["load"]):
            assert result["full_rows"] == list(ll.group_band(rows, group, member)), (case["st"], group, member)
            assert result["partial_rows"] == [] and result["wrong_values"] == 0, (case["st"], group, member)


def test_group_stores_write_each_warps_band_to_the_right_tile(report: dict[str, Any]) -> None:
    for case in report["group"]:
        dtype, rows, cols = case["st"]
        group = case["group"]
        target_dtype = case["gl_store_dtype"]
        for member, written in enumerate(case["store"]):
            got = {(int(r), int(c)): v for r, c, v in written}
            expected = {}
            for r in ll.group_band(rows, group, member):
                for c in range(cols):
                    index = r * cols + c + 1
                    value = element_value(index, dtype, target_dtype)
                    expected[(2 * rows + r, cols + c)] = value
            assert got == expected, (case["st"], group, member)


def test_mma_over_register_tiles_is_matmul(report: dict[str, Any]) -> None:
    """The gfx942 plan (16x16x16) and the gfx950 plan (16x16x32 over join_k'ed pairs of K base tiles,
    an odd last slice as 16x16x16), run lane by lane with ISA-defined MFMAs, give A @ B."""
    assert [(case["variant"], case["target"]) for case in report["mma"]] == [
        (variant, target) for target in ("gfx942", "gfx950") for variant in ("AB", "ABt", "AB")
    ]
    for case in report["mma"]:
        a = torch.tensor(case["a"], dtype=torch.float32)
        b = torch.tensor(case["b"], dtype=torch.float32)
        product = a @ (b.T if case["variant"] == "ABt" else b)
        c = torch.tensor(case["c"], dtype=torch.float32)
        half = c.shape[0] // 2
        assert torch.equal(c[:half], torch.zeros_like(c[:half])), "store(g.c, d, {0, 0, 1, 0}) wrote tile row 0"
        assert torch.equal(c[half:], product)
        # The emulated wave and the Python model agree on the same operands, with the same MFMAs.
        assert torch.equal(ll.emulate_matmul(a, b, case["variant"], target=case["target"]), product)
        m, k = a.shape
        n = product.shape[1]
        d_tile, a_tile = ll.RegisterTileLayout(m, n, "col", "f32"), ll.RegisterTileLayout(m, k)
        order = ll.mfma_order(d_tile, a_tile, k32=case["target"] == "gfx950")
        assert case["mfmas"] == [sum(t == 1 for *_, t in order), sum(t == 2 for *_, t in order)]
        assert case["mfmas"][1] > 0 if case["target"] == "gfx950" else case["mfmas"][1] == 0


def test_join_k_packs_operands_as_the_model_says(report: dict[str, Any]) -> None:
    lo = torch.tensor([[100 * lane + i for i in range(4)] for lane in range(64)])
    hi = torch.tensor([[100 * lane + 50 + i for i in range(4)] for lane in range(64)])
    assert torch.equal(torch.tensor(report["join_k"]), ll.join_k(lo, hi))
