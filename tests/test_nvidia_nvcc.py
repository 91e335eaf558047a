"""The nvcc driver and the NVIDIA runtime at compile time: kernels written like emitted ones
compile for sm_90a and sm_80 without spills, the runtime's index math agrees with the PTX ISA,
the barrier / setmaxnreg mapping is what docs/nvidia.md says, ptxas's report is read correctly,
and compiler failures explain themselves."""

from __future__ import annotations

import os
import subprocess
import sysconfig
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from backends.drivers import nvcc
from backends.drivers.common import RUNTIME_INCLUDE, CompileError, CompileResult, CompilerNotFound

pytestmark = pytest.mark.nvcc

KERNELS = Path(__file__).resolve().parent / "nvidia_kernels"


@dataclass(frozen=True)
class Build:
    source: str
    target: str
    defines: tuple[str, ...]
    kernel: str


# Both GEMM modules, both targets, each B layout and C dtype at least once; device code only (the
# GPU test builds them as modules).
BUILDS = {
    "gemm_async-sm_90a-AB-f32": Build("gemm_async.cpp", "sm_90a", (), "gemm_async_kernel"),
    "gemm_async-sm_80-ABt-bf16": Build("gemm_async.cpp", "sm_80", ("TG_B_NK=1", "TG_C_BF16=1"), "gemm_async_kernel"),
    "gemm_specialized-sm_90a-ABt-bf16": Build(
        "gemm_specialized.cpp", "sm_90a", ("TG_B_NK=1", "TG_C_BF16=1"), "gemm_specialized_kernel"
    ),
    "gemm_specialized-sm_80-AB-f32": Build("gemm_specialized.cpp", "sm_80", (), "gemm_specialized_kernel"),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CompileResult]:
    """Every build above, compiled once, concurrently."""

    def build(name: str) -> CompileResult:
        spec = BUILDS[name]
        return nvcc.compile_object(
            KERNELS / spec.source,
            spec.target,
            [RUNTIME_INCLUDE],
            tmp_path_factory.mktemp(name.replace("-", "_")),
            extra_flags=[f"-D{d}" for d in spec.defines],
            device_only=True,
        )

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return dict(zip(BUILDS, pool.map(build, BUILDS), strict=True))


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_emitted_style_kernels_compile_without_spills(built: dict[str, CompileResult], name: str) -> None:
    spec, result = BUILDS[name], built[name]
    assert result.output.exists()
    assert [(r.kernel, r.target) for r in result.resources] == [(spec.kernel, spec.target)], result.log
    (resources,) = result.resources
    assert resources.spills == 0, f"{name} spills {resources.spills} bytes:\n{result.log}"
    assert resources.scratch_bytes == 0, f"{name} has a {resources.scratch_bytes}-byte stack frame:\n{result.log}"
    assert resources.registers is not None and 0 < resources.registers <= 255


def test_commands_name_the_target_and_compile_cpp_files_as_cuda(built: dict[str, CompileResult]) -> None:
    for name, spec in BUILDS.items():
        command = built[name].command
        assert nvcc.GENCODE[spec.target] in command
        assert command[command.index("-x") + 1] == "cu"
        assert "-std=c++20" in command


def test_the_runtime_index_math_agrees_with_the_ptx_isa(tmp_path: Path) -> None:
    """layout_check.cu runs the runtime's own layout, ldmatrix, mma-fragment and group-band index
    functions on the host against the PTX ISA's definitions, and its bank-conflict claims."""
    program = tmp_path / "layout_check"
    command = nvcc.command(KERNELS / "layout_check.cu", "sm_80", [RUNTIME_INCLUDE], program)
    subprocess.run(command, check=True, capture_output=True, text=True)
    proc = subprocess.run([str(program)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "all checks passed"


PTX_PROBE = textwrap.dedent(
    """
    #include "kittens.cuh"
    __global__ __launch_bounds__(256, 1) void roles(float* out) {
        if (kittens::warpid() < 4) {
            tg::set_max_registers<56>();
            tg::barrier();
        } else {
            tg::set_max_registers<200>();
            __builtin_amdgcn_s_barrier();
            out[threadIdx.x] = 1.0f;
        }
        __syncthreads();
    }
    """
)


def _ptx(tmp_path: Path, target: str) -> str:
    source = tmp_path / "roles.cu"
    source.write_text(PTX_PROBE)
    output = tmp_path / f"roles_{target}.ptx"
    command = nvcc.command(source, target, [RUNTIME_INCLUDE], output, ["-ptx"])
    subprocess.run(command, check=True, capture_output=True, text=True)
    return output.read_text()


@pytest.mark.parametrize("target", sorted(nvcc.GENCODE))
def test_role_barriers_are_non_aligned_and_syncthreads_stays_aligned(tmp_path: Path, target: str) -> None:
    instructions = [line.strip() for line in _ptx(tmp_path, target).splitlines()]
    role_barriers = [i for i in instructions if i.startswith("barrier.sync")]
    aligned = [i for i in instructions if i.startswith("bar.sync") or i.startswith("barrier.sync.aligned")]
    # tg::barrier() and hip_compat's __builtin_amdgcn_s_barrier(), one in each role
    assert len(role_barriers) == 2 and all(".aligned" not in i for i in role_barriers), instructions
    assert len(aligned) == 1  # the __syncthreads() every warp reaches


@pytest.mark.parametrize("target", sorted(nvcc.GENCODE))
def test_register_budgets_become_setmaxnreg_on_sm90a_only(tmp_path: Path, target: str) -> None:
    setmaxnreg = [line.strip() for line in _ptx(tmp_path, target).splitlines() if "setmaxnreg" in line]
    if target == "sm_90a":
        # Each role's budget is compared with the launch's share (65536 / 256 threads) at run time.
        assert {s.split()[-1].rstrip(";") for s in setmaxnreg} == {"56", "200"}
        assert {s.split()[0] for s in setmaxnreg} == {
            "setmaxnreg.inc.sync.aligned.u32",
            "setmaxnreg.dec.sync.aligned.u32",
        }
    else:
        assert setmaxnreg == []


SPILLING = textwrap.dedent(
    """
    __global__ void heavy(const float* in, float* out, int n) {
        __shared__ float staging[1024];
        float acc[48];
    #pragma unroll
        for (int i = 0; i < 48; ++i) acc[i] = in[i * blockDim.x + threadIdx.x];
        for (int r = 0; r < n; ++r) {
    #pragma unroll
            for (int i = 0; i < 48; ++i) acc[i] = acc[i] * acc[(i + 7) % 48] + in[r];
        }
        staging[threadIdx.x] = acc[0];
        __syncthreads();
        float s = staging[(threadIdx.x + 1) % 1024];
    #pragma unroll
        for (int i = 0; i < 48; ++i) s += acc[i];
        out[threadIdx.x] = s;
    }
    """
)


@pytest.mark.parametrize("max_registers", [32, 255])
def test_ptxas_figures_follow_the_register_limit(tmp_path: Path, max_registers: int) -> None:
    source = tmp_path / "heavy.cu"
    source.write_text(SPILLING)
    result = nvcc.compile_object(source, "sm_80", [RUNTIME_INCLUDE], tmp_path, [f"-maxrregcount={max_registers}"])
    (resources,) = result.resources
    assert resources.kernel == "heavy" and resources.target == "sm_80"
    assert resources.shared_bytes == 1024 * 4  # the static `staging` array
    assert resources.registers is not None and resources.registers <= max_registers
    # 48 live floats and their addresses do not fit in 32 registers: ptxas spills them to the stack.
    spilled = resources.spills > 0 and resources.scratch_bytes > 0
    assert spilled == (max_registers == 32), result.log


def test_a_compile_error_names_the_file_the_command_and_the_error(tmp_path: Path) -> None:
    source = tmp_path / "broken.cpp"
    source.write_text('#include "kittens.cuh"\n__global__ void k() { this_name_does_not_exist(); }\n')
    with pytest.raises(CompileError) as caught:
        nvcc.compile_object(source, "sm_80", [RUNTIME_INCLUDE], tmp_path)
    message = str(caught.value)
    assert str(source) in message
    assert "nvcc" in message and "-gencode=arch=compute_80,code=sm_80" in message
    assert "this_name_does_not_exist" in message


def test_a_static_assert_of_the_runtime_reaches_the_error_message(tmp_path: Path) -> None:
    source = tmp_path / "wrong_layout.cpp"
    source.write_text(
        '#include "kittens.cuh"\nusing namespace kittens;\n'
        "__global__ void k() { rt_bf<16, 16> a, b; rt_fl<16, 16, ducks::rt_layout::col> c; mma_AB(c, a, b, c); }\n"
    )
    with pytest.raises(CompileError, match=r"mma_AB: b must be rt_bf<K, N, ducks::rt_layout::col>"):
        nvcc.compile_object(source, "sm_80", [RUNTIME_INCLUDE], tmp_path)


def test_a_missing_nvcc_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nvcc, "find_tool", lambda name, dirs=(): None)
    with pytest.raises(CompilerNotFound, match="install the CUDA toolkit"):
        nvcc.compile_object(KERNELS / "gemm_async.cpp", "sm_90a")


def test_unknown_targets_and_misnamed_modules_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sm_90a, sm_80"):
        nvcc.compile_object(KERNELS / "gemm_async.cpp", "gfx942", [RUNTIME_INCLUDE], tmp_path)
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    with pytest.raises(ValueError, match=f"name it `right{suffix}`"):
        nvcc.build_extension(KERNELS / "gemm_async.cpp", "sm_90a", [RUNTIME_INCLUDE], tmp_path / "wrong.so", "right")
