"""GPU correctness of the NVIDIA path of the bundled kittens runtime, primitive by primitive, then
in whole GEMM modules written the way tilegen emits them; every result is checked against torch
on the GPU.

Needs an NVIDIA GPU of compute capability 8.x (built for sm_80) or 9.0 (sm_90a), nvcc, and a CUDA
build of torch. Run it with pytest, or as a script (the same tests, verbosely)::

    python -m pytest -q tests/test_nvidia_runtime_gpu.py
    python tests/test_nvidia_runtime_gpu.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

pytestmark = [pytest.mark.gpu, pytest.mark.nvcc]

ROOT = Path(__file__).resolve().parent.parent
KERNELS = Path(__file__).resolve().parent / "nvidia_kernels"
EXT_SUFFIX = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
BF16, F32 = torch.bfloat16, torch.float32

# module name -> (source, -D defines); the GEMM variants cover both B layouts and C dtypes.
MODULES = {
    "nv_primitives": ("primitives.cu", ()),
    **{
        f"nv_{source}_{layout}_{c}": (
            f"{source}.cpp",
            tuple(d for d, on in (("TG_B_NK=1", layout == "ABt"), ("TG_C_BF16=1", c == "bf16")) if on),
        )
        for source in ("gemm_async", "gemm_specialized")
        for layout in ("AB", "ABt")
        for c in ("f32", "bf16")
    },
}


def _target() -> str:
    major, minor = torch.cuda.get_device_capability()
    if (major, minor) == (9, 0):
        return "sm_90a"
    if major == 8:
        return "sm_80"  # sm_80 code runs on every 8.x device
    pytest.skip(f"the NVIDIA runtime is built for sm_80 and sm_90a; this GPU is sm_{major}{minor}")


def _import(name: str, path: Path) -> ModuleType:
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every module above, built once with the nvcc driver (in parallel) for this GPU."""
    from backends.drivers import nvcc
    from backends.drivers.common import RUNTIME_INCLUDE

    target = _target()
    out_dir = tmp_path_factory.mktemp("nvidia_runtime_modules")

    def build(name: str) -> Path:
        source, defines = MODULES[name]
        result = nvcc.build_extension(
            KERNELS / source,
            target,
            [RUNTIME_INCLUDE],
            out_dir / f"{name}{EXT_SUFFIX}",
            name,
            extra_flags=[f"-D{d}" for d in defines],
        )
        for resources in result.resources:
            assert resources.spills == 0, f"{name}: {resources.kernel} spills on {target}:\n{result.log}"
        return result.output

    with ThreadPoolExecutor(max_workers=min(len(MODULES), os.cpu_count() or 1)) as pool:
        return dict(zip(MODULES, pool.map(build, MODULES), strict=True))


@pytest.fixture(scope="module")
def prims(built: dict[str, Path]) -> ModuleType:
    return _import("nv_primitives", built["nv_primitives"])


def stream() -> int:
    return torch.cuda.current_stream().cuda_stream


def assert_same(got: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    """Exact equality, or a message with the number of mismatches and the first of them."""
    torch.cuda.synchronize()
    assert got.shape == expected.shape and got.dtype == expected.dtype, (what, got.shape, got.dtype, expected.shape)
    wrong = (got != expected) & ~(got.isnan() & expected.isnan())
    if wrong.any():
        first = tuple(int(i) for i in wrong.nonzero()[0])
        raise AssertionError(
            f"{what}: {int(wrong.sum())} of {got.numel()} elements differ; first at {first}: "
            f"got {got[first].item()}, expected {expected[first].item()}"
        )


def assert_close(got: torch.Tensor, expected: torch.Tensor, what: str, rtol: float, atol: float) -> None:
    torch.cuda.synchronize()
    try:
        torch.testing.assert_close(got, expected, rtol=rtol, atol=atol)
    except AssertionError as error:
        raise AssertionError(f"{what}: {error}") from None


# ---- global <-> shared: group<N>::load / load_async, tg::stage, group<N>::store ----------------

# name, in dtype, out dtype, tile rows, tile cols (the bindings in primitives.cu)
COPIES = [
    ("copy_bf16_bf16_64x64_g4_sync", BF16, BF16, 64, 64),
    ("copy_bf16_bf16_64x64_g4_async", BF16, BF16, 64, 64),
    ("copy_bf16_bf16_64x64_g4_staged", BF16, BF16, 64, 64),
    ("copy_bf16_bf16_16x16_g2_sync", BF16, BF16, 16, 16),
    ("copy_bf16_bf16_64x16_g4_async", BF16, BF16, 64, 16),
    ("copy_bf16_bf16_32x32_g1_staged", BF16, BF16, 32, 32),
    ("copy_bf16_bf16_16x128_g2_sync", BF16, BF16, 16, 128),
    ("copy_bf16_bf16_48x48_g4_async", BF16, BF16, 48, 48),
    ("copy_bf16_bf16_256x64_g8_sync", BF16, BF16, 256, 64),
    ("copy_bf16_f32_32x64_g2_sync", BF16, F32, 32, 64),
    ("copy_f32_f32_32x32_g4_async", F32, F32, 32, 32),
    ("copy_f32_bf16_64x16_g1_staged", F32, BF16, 64, 16),
]


@pytest.mark.parametrize(("name", "src", "dst", "rows", "cols"), COPIES, ids=[c[0] for c in COPIES])
def test_group_copies_move_every_element(
    prims: ModuleType, name: str, src: torch.dtype, dst: torch.dtype, rows: int, cols: int
) -> None:
    # 3 x 2 blocks of two groups each: tile coordinates along both axes are exercised.
    x = torch.randn(3 * rows, 4 * cols, device="cuda").to(src)
    out = torch.full(x.shape, float("nan"), device="cuda", dtype=dst)
    getattr(prims, name)(x, out, stream())
    assert_same(out, x.to(dst), name)


# ---- register layouts: what each lane holds --------------------------------------------------


def lane_map(rows: int, cols: int, column_pairs: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, col) of the element each lane holds, per docs/nvidia.md: shape (32, h, w, 4, 2)."""
    rr = torch.empty(32, rows // 16, cols // 16, 4, 2, dtype=torch.long)
    cc = torch.empty_like(rr)
    for lane in range(32):
        g, t = lane // 4, lane % 4
        for p in range(4):
            across, along = g + 8 * (p & 1), 2 * t + 8 * (p >> 1)
            r, c = (along, across) if column_pairs else (across, along)
            for e in range(2):
                dr, dc = (e, 0) if column_pairs else (0, e)
                for i in range(rows // 16):
                    for j in range(cols // 16):
                        rr[lane, i, j, p, e] = 16 * i + r + dr
                        cc[lane, i, j, p, e] = 16 * j + c + dc
    return rr, cc


# name, shared dtype, shared shape, register dtype, layout, register shape, subtile (None: whole tile)
DUMPS_SHARED = [
    ("dump_shared_bf32x32_bf32x32row", BF16, (32, 32), BF16, "row", (32, 32), None),
    ("dump_shared_bf32x32_bf32x32col", BF16, (32, 32), BF16, "col", (32, 32), None),
    ("dump_shared_bf32x32_fl32x32col", BF16, (32, 32), F32, "col", (32, 32), None),
    ("dump_shared_fl32x32_bf32x32col", F32, (32, 32), BF16, "col", (32, 32), None),
    ("dump_shared_fl16x32_fl16x32row", F32, (16, 32), F32, "row", (16, 32), None),
    ("dump_shared_bf64x64_bf32x16col_sub12", BF16, (64, 64), BF16, "col", (32, 16), (1, 2)),
    ("dump_shared_bf64x64_bf16x32row_sub31", BF16, (64, 64), BF16, "row", (16, 32), (3, 1)),
    ("dump_shared_bf128x16_bf32x16row_sub20", BF16, (128, 16), BF16, "row", (32, 16), (2, 0)),
    ("dump_shared_bf32x48_bf16x16col_sub12", BF16, (32, 48), BF16, "col", (16, 16), (1, 2)),
]
# name, global dtype, register dtype, layout, register shape (loads tile (1, 1) of a 2 x 2 grid)
DUMPS_GLOBAL = [
    ("dump_global_f32_fl32x16col", F32, F32, "col", (32, 16)),
    ("dump_global_bf16_bf16x32row", BF16, BF16, "row", (16, 32)),
    ("dump_global_bf16_bf32x16col", BF16, BF16, "col", (32, 16)),
]


def _dump(
    kernel: Any, shape: tuple[int, int], dtype: torch.dtype, rt_shape: tuple[int, int]
) -> tuple[torch.Tensor, ...]:
    """Run a dump kernel on the row-index and on the column-index matrix (exact in bf16)."""
    rows = torch.arange(shape[0], device="cuda").view(-1, 1).expand(shape).to(dtype).contiguous()
    cols = torch.arange(shape[1], device="cuda").view(1, -1).expand(shape).to(dtype).contiguous()
    width = rt_shape[0] // 16 * rt_shape[1] // 16 * 8
    found = []
    for index in (rows, cols):
        out = torch.full((32, width), float("nan"), device="cuda")
        kernel(index, out, stream())
        torch.cuda.synchronize()
        found.append(out.view(32, rt_shape[0] // 16, rt_shape[1] // 16, 4, 2).long().cpu())
    return tuple(found)


@pytest.mark.parametrize("case", DUMPS_SHARED, ids=[c[0] for c in DUMPS_SHARED])
def test_shared_to_register_loads_follow_the_documented_lane_map(prims: ModuleType, case: tuple) -> None:
    name, st_dtype, st_shape, rt_dtype, layout, rt_shape, sub = case
    got_rows, got_cols = _dump(getattr(prims, name), st_shape, st_dtype, rt_shape)
    rr, cc = lane_map(*rt_shape, column_pairs=rt_dtype == BF16 and layout == "col")
    sub_r, sub_c = sub or (0, 0)
    assert_same(got_rows, rr + sub_r * rt_shape[0], f"{name}: rows")
    assert_same(got_cols, cc + sub_c * rt_shape[1], f"{name}: columns")


@pytest.mark.parametrize("case", DUMPS_GLOBAL, ids=[c[0] for c in DUMPS_GLOBAL])
def test_global_to_register_loads_follow_the_documented_lane_map(prims: ModuleType, case: tuple) -> None:
    name, dtype, rt_dtype, layout, rt_shape = case
    got_rows, got_cols = _dump(getattr(prims, name), (2 * rt_shape[0], 2 * rt_shape[1]), dtype, rt_shape)
    rr, cc = lane_map(*rt_shape, column_pairs=rt_dtype == BF16 and layout == "col")
    assert_same(got_rows, rr + rt_shape[0], f"{name}: rows")
    assert_same(got_cols, cc + rt_shape[1], f"{name}: columns")


# ---- registers -> shared subtiles ---------------------------------------------------------------

# name, shared dtype, shared shape, register shape, subtile
PATCHES = [
    ("patch_bf64x64_bf32x16row_sub12", BF16, (64, 64), (32, 16), (1, 2)),
    ("patch_bf64x64_bf16x32col_sub31", BF16, (64, 64), (16, 32), (3, 1)),
    ("patch_fl32x64_fl16x32col_sub11", F32, (32, 64), (16, 32), (1, 1)),
    ("patch_bf32x32_fl16x16col_sub10", BF16, (32, 32), (16, 16), (1, 0)),
]


@pytest.mark.parametrize("case", PATCHES, ids=[c[0] for c in PATCHES])
def test_register_stores_write_exactly_their_subtile(prims: ModuleType, case: tuple) -> None:
    name, dtype, shape, rt_shape, (sub_r, sub_c) = case
    background = torch.randn(shape, device="cuda").to(dtype)
    patch = torch.randn(rt_shape, device="cuda").to(BF16)  # exact in every register and tile dtype
    out = torch.full(shape, float("nan"), device="cuda", dtype=dtype)
    getattr(prims, name)(background, patch, out, stream())
    expected = background.clone()
    rows, cols = (
        slice(sub_r * rt_shape[0], (sub_r + 1) * rt_shape[0]),
        slice(sub_c * rt_shape[1], (sub_c + 1) * rt_shape[1]),
    )
    expected[rows, cols] = patch.to(dtype)
    assert_same(out, expected, name)


# ---- registers <-> global, mul / add / zero / copy ----------------------------------------------

# name, in dtype, out dtype, register dtype, register shape
AXPYS = [
    ("axpy_f32_f32_fl32x32col", F32, F32, F32, (32, 32)),
    ("axpy_bf16_f32_fl16x32col", BF16, F32, F32, (16, 32)),
    ("axpy_f32_bf16_bf32x16row", F32, BF16, BF16, (32, 16)),
    ("axpy_bf16_bf16_bf16x32col", BF16, BF16, BF16, (16, 32)),
]


@pytest.mark.parametrize("case", AXPYS, ids=[c[0] for c in AXPYS])
def test_global_loads_and_stores_with_elementwise_ops(prims: ModuleType, case: tuple) -> None:
    name, src, dst, reg, (r, c) = case
    alpha = -1.75
    x = torch.randn(2 * r, 2 * c, device="cuda").to(src)
    out = torch.full((2 * r, 2 * c), 1234.0, device="cuda", dtype=dst)
    getattr(prims, name)(x, out, alpha, stream())
    # In the register dtype: load converts, mul and add compute in float and round to it.
    xr = x.to(reg)
    scaled = (xr[r:, c:].float() * alpha).to(reg)
    expected = out.clone().fill_(1234.0)
    expected[r:, :c] = (scaled.float() + xr[:r, :c].float()).to(reg).to(dst)
    untouched = torch.ones_like(out, dtype=torch.bool)
    untouched[r:, :c] = False
    assert_same(out[untouched], expected[untouched], f"{name}: elements outside the stored tile")
    if reg == BF16:  # rounded to bf16 after the multiply and after the add, like the reference
        assert_same(out[r:, :c], expected[r:, :c], name)
    else:  # the compiler may fuse the float multiply and add into one rounding
        assert_close(out[r:, :c], expected[r:, :c], name, rtol=1e-6, atol=1e-6)


# ---- mma through shared memory and ldmatrix --------------------------------------------------------

# name, M, N, K, B given as N x K
MMAS = [
    ("mma_AB_32x32x32", 32, 32, 32, False),
    ("mma_ABt_32x32x32", 32, 32, 32, True),
    ("mma_AB_16x48x64", 16, 48, 64, False),
    ("mma_ABt_48x16x16", 48, 16, 16, True),
]


@pytest.mark.parametrize("case", MMAS, ids=[c[0] for c in MMAS])
def test_mma_matches_torch(prims: ModuleType, case: tuple) -> None:
    name, m, n, k, b_nk = case
    a = torch.randn(m, k, device="cuda").to(BF16)
    b = torch.randn(k, n, device="cuda").to(BF16)
    c = torch.randn(m, n, device="cuda")
    d = torch.full((m, n), float("nan"), device="cuda")
    getattr(prims, name)(a, b.t().contiguous() if b_nk else b, c, d, stream())
    # The kernel accumulates twice: d = a @ b + c, then d = a @ b + d.
    expected = 2 * (a.double() @ b.double()) + c.double()
    assert_close(d.double(), expected, name, rtol=1e-4, atol=1e-4)


# ---- barriers inside role branches ------------------------------------------------------------------

BARRIER_RUN = textwrap.dedent(
    """
    import importlib.util, json, sys, torch
    spec = importlib.util.spec_from_file_location("nv_primitives", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = {}
    for rounds in (0, 1, 2, 7, 64):
        out = torch.full((4, 16), float("nan"), device="cuda")  # one float per reader thread
        module.barrier_roles(out, rounds, torch.cuda.current_stream().cuda_stream)
        torch.cuda.synchronize()
        results[rounds] = out.flatten().tolist()
    print(json.dumps(results))
    """
)


def test_role_branch_barriers_match_by_count(built: dict[str, Path]) -> None:
    # A wrong barrier hangs the GPU rather than failing: run it where a timeout can stop it.
    try:
        proc = subprocess.run(
            [sys.executable, "-c", BARRIER_RUN, str(built["nv_primitives"])],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("barrier_roles did not finish in 120 s: the role-branch barriers deadlocked")
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    for rounds, sums in results.items():
        rounds = int(rounds)
        for reader, got in enumerate(sums):
            partner = 63 - reader
            expected = sum(r * 1000 + partner for r in range(rounds))
            assert got == expected, f"{rounds} rounds, reader thread {64 + reader}: read {got}, expected {expected}"


# ---- whole GEMM modules, emitted style ----------------------------------------------------------------

GEMMS = sorted(name for name in MODULES if name.startswith("nv_gemm"))


@pytest.mark.parametrize("alpha_beta", [(1.0, 0.0), (0.5, -1.25)], ids=["alpha1_beta0", "alpha0.5_beta-1.25"])
@pytest.mark.parametrize("name", GEMMS)
def test_gemm_modules_match_torch(built: dict[str, Path], name: str, alpha_beta: tuple[float, float]) -> None:
    module = _import(name, built[name])
    alpha, beta = alpha_beta
    b_nk, c_dtype = "_ABt_" in name, BF16 if name.endswith("_bf16") else F32
    m, n, k = 256, 384, 512
    a = torch.randn(m, k, device="cuda").to(BF16)
    b = torch.randn(k, n, device="cuda").to(BF16)
    # C lives inside a larger buffer: a write past its last row shows up in the guard rows.
    buffer = torch.randn(m + 8, n, device="cuda").to(c_dtype)
    c = buffer[:m]
    guard = buffer[m:].clone()
    c_old = c.clone()
    side = torch.cuda.Stream()  # the kernel must run on the stream it is given
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        module.dispatch(a, b.t().contiguous() if b_nk else b, c, alpha, beta, side.cuda_stream)
    side.synchronize()
    expected = alpha * (a.double() @ b.double()) + beta * c_old.double()
    if c_dtype == BF16:
        assert_close(c.double(), expected.to(BF16).double(), name, rtol=2e-2, atol=2e-2)
    else:
        assert_close(c.double(), expected, name, rtol=1e-4, atol=1e-3)
    assert_same(buffer[m:], guard, f"{name}: rows past C")


def test_dispatch_refuses_bad_tensors_before_launching(built: dict[str, Path]) -> None:
    module = _import("nv_gemm_async_AB_f32", built["nv_gemm_async_AB_f32"])
    a = torch.randn(128, 64, device="cuda").to(BF16)
    b = torch.randn(64, 128, device="cuda").to(BF16)
    c = torch.zeros(128, 128, device="cuda")
    for bad, message in (
        ((a.cpu(), b, c), "argument 1: the tensor is not on the GPU"),
        ((a, b.t(), c), "argument 2: the tensor's rows are not contiguous"),
        ((a, b, c.to(BF16)), "argument 3: expected a torch.float32 tensor, got torch.bfloat16"),
    ):
        with pytest.raises(ValueError, match=message):
            module.dispatch(*bad, 1.0, 0.0, stream())
    torch.cuda.synchronize()
    assert not c.any(), "a refused call still wrote C"


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(pytest.main([__file__, "-v", "-rs", *sys.argv[1:]]))
