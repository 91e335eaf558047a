"""The AMD runtime compiles for real: hand-written kernels in the emitter's style, gfx942 and gfx950,
with the current AMD compiler (ROCm, or tilegen's clang-22 / HIP 6.4 toolchain).

Each kernel in tests/amd_kernels/ is built to an object file (host + device code) and to device
assembly by backends.drivers.hipcc. The assembly must show no spills and no scratch, MFMA doing
the math, LDS reached with ds_* instructions and global memory with global_* instructions (flat_*
would mean the runtime lost track of an address space), no LDS read used before a covering
s_waitcnt (backends/drivers/amd_asm.py), and the object must carry a code object for the requested
target. Misuse of the API must fail to compile with the runtime's own message.
"""

from __future__ import annotations

import math
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from backends.drivers.amd_asm import check_lds_waits
from backends.drivers.common import RUNTIME_INCLUDE, CompileError, CompileResult
from backends.drivers.hipcc import compile_object, device_assembly

pytestmark = pytest.mark.amd_toolchain

KERNELS_DIR = Path(__file__).resolve().parent / "amd_kernels"
KERNELS = ["gemm_4wave_ab", "gemm_4wave_abt_prefetch", "gemm_subtile16", "gemm_8wave_staged"]
TARGETS = ["gfx942", "gfx950"]
INCLUDES = [RUNTIME_INCLUDE, KERNELS_DIR]


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], CompileResult]:
    out = tmp_path_factory.mktemp("amd_kernels")
    jobs = [(kernel, target) for kernel in KERNELS for target in TARGETS]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            job: pool.submit(compile_object, KERNELS_DIR / f"{job[0]}.cpp", job[1], INCLUDES, out / job[1])
            for job in jobs
        }
        return {job: future.result() for job, future in futures.items()}


def assembly_of(build: CompileResult) -> str:
    return build.output.with_suffix(".s").read_text()


def launch_bounds(kernel: str) -> tuple[int, int]:
    """(threads per block, min blocks per CU) from the kernel's __launch_bounds__."""
    source = (KERNELS_DIR / f"{kernel}.cpp").read_text()
    hit = re.search(r"__launch_bounds__\((\w+) \* WARP_THREADS, (\d+)\)", source)
    assert hit, f"{kernel}.cpp has no __launch_bounds__(NUM_WARPS * WARP_THREADS, n)"
    warps = int(re.search(rf"constexpr int {hit.group(1)} = (\d+);", source).group(1))  # type: ignore[union-attr]
    return warps * 64, int(hit.group(2))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_builds_without_spills(builds: dict, kernel: str, target: str) -> None:
    build = builds[(kernel, target)]
    assert build.output.stat().st_size > 0
    assert [r.kernel for r in build.resources] == [kernel]
    resources = build.resources[0]
    assert resources.target == target
    assert resources.spills == 0, f"{kernel} spills on {target}: {resources}"
    assert resources.scratch_bytes == 0, f"{kernel} uses scratch on {target} (a register tile indexed at run time?)"
    assert resources.registers is not None and resources.registers <= 512
    assert resources.shared_bytes == 0, "all LDS is dynamic (shared_allocator), none static"
    threads, min_blocks = launch_bounds(kernel)
    waves_per_simd = math.ceil(threads // 64 * min_blocks / 4)  # a CU has 4 SIMDs
    assert resources.occupancy is not None and resources.occupancy >= waves_per_simd


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_code_uses_mfma_lds_and_global_instructions(builds: dict, kernel: str, target: str) -> None:
    assembly = assembly_of(builds[(kernel, target)])
    assert f'.amdgcn_target "amdgcn-amd-amdhsa--{target}' in assembly
    # gfx950 multiplies 32-deep K slices with 16x16x32; gemm_subtile16's register tiles are 16 deep.
    k32 = target == "gfx950" and kernel != "gemm_subtile16"
    mfma = "v_mfma_f32_16x16x32_bf16" if k32 else "v_mfma_f32_16x16x16_bf16"
    assert mfma in assembly, f"{kernel} on {target} multiplies with {mfma}"
    assert check_lds_waits(assembly) == []
    assert re.search(r"\bds_write_b128\b", assembly), "group loads / stage stores write 16-byte chunks"
    assert re.search(r"\bds_read(2|2st64)?_(b64|b128|u16)\b", assembly), "register loads read LDS with ds_read*"
    # Global reads move 16-byte chunks: global loads, or buffer loads (stage loads through a buffer
    # resource; on gfx950 also group<N>::load_async straight into LDS).
    assert re.search(r"\b(global|buffer)_load_dwordx4\b", assembly), "group loads read 16-byte chunks"
    if target == "gfx950" and "load_async" in (KERNELS_DIR / f"{kernel}.cpp").read_text():
        assert re.search(r"\bbuffer_load_dwordx4\b.*\blds\b", assembly), "gfx950 load_async goes straight to LDS"
    flat = re.findall(r"^\s+(flat_\w+)", assembly, flags=re.MULTILINE)
    assert flat == [], f"flat memory instructions mean a lost address space: {sorted(set(flat))}"


@pytest.mark.parametrize("target", TARGETS)
def test_objects_carry_a_code_object_for_the_target(builds: dict, target: str) -> None:
    for kernel in KERNELS:
        blob = builds[(kernel, target)].output.read_bytes()
        assert f"amdgcn-amd-amdhsa--{target}".encode() in blob, f"{kernel}.o has no {target} code object"


def test_staged_kernel_waits_with_vmcnt_and_keeps_raw_barriers(builds: dict) -> None:
    assembly = assembly_of(builds[("gemm_8wave_staged", "gfx942")])
    assert re.search(r"s_waitcnt vmcnt\(0\)", assembly)
    assert len(re.findall(r"^\s+s_barrier\b", assembly, flags=re.MULTILINE)) >= 4


MISUSES = {
    "mma_AB with a row-layout b": (
        "rt_fl<32, 32, ducks::rt_layout::col> d; rt_bf<32, 32> a, b; zero(d); mma_AB(d, a, b, d);",
        "mma_AB: b must be an rt_bf<k, n, ducks::rt_layout::col>",
    ),
    "mma_ABt with k that does not chain": (
        "rt_fl<32, 32, ducks::rt_layout::col> d; rt_bf<32, 32> a; rt_bf<32, 16> b; zero(d); mma_ABt(d, a, b, d);",
        "mma_ABt needs a (m x k), b (n x k), d (m x n)",
    ),
    "load of a whole shared tile into a smaller register tile": (
        "rt_bf<32, 32> a; load(a, As);",
        "the shapes differ; pass subtile_inplace<R, C>(tile, {r, c})",
    ),
    "subtile that does not tile its parent": (
        "rt_bf<48, 16> a; load(a, subtile_inplace<48, 16>(As, {0, 0}));",
        "the subtile shape must tile its parent shared tile exactly",
    ),
    "group load of a bf16 matrix into an f32 tile": (
        "st_fl<64, 64>& F = al.allocate<st_fl<64, 64>>(); group<4>::load(F, g.a, {0, 0, 0, 0});",
        "the shared tile and the global matrix must have the same dtype",
    ),
}


@pytest.mark.parametrize("case", list(MISUSES))
def test_api_misuse_fails_with_the_runtimes_message(case: str, tmp_path: Path) -> None:
    body, message = MISUSES[case]
    source = tmp_path / "misuse.cpp"
    source.write_text(
        '#include "amd_test_kittens.cuh"\nusing namespace kittens;\n'
        "struct globals { gl<bf16, -1, -1, -1, -1> a; };\n"
        "__global__ void misuse(const globals g) {\n"
        "    extern __shared__ alignment_dummy __shm[];\n"
        "    shared_allocator al((int*)&__shm[0]);\n"
        "    st_bf<64, 64>& As = al.allocate<st_bf<64, 64>>();\n"
        f"    {body}\n}}\n"
    )
    with pytest.raises(CompileError) as error:
        device_assembly(source, "gfx942", INCLUDES, tmp_path)
    assert message in error.value.log
    assert str(source) in str(error.value)
