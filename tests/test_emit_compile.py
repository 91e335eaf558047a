"""The emitted HIP compiles: against a strict stub of the docs/runtime-api.md subset (always), and
against the bundled runtime in backends/runtime/include (once it is there).

The stub declares exactly the API the emitter may use, with static checks of what the docs promise
(mma operand layouts and shapes, register <-> shared shapes, subtile bounds, argument kinds), so it
catches an emitter that calls outside the contract or mixes tiles up, independently of the
runtime's progress. Compiles run in parallel: a few seconds each.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from backends.hip.emitter import render
from ir.diagnostics import ScheduleError
from ir.validate import validate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_emit_properties import CASES  # the synthetic kernels and every example

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ROOT / "backends" / "runtime" / "include"
HAS_RUNTIME = (RUNTIME / "kittens.cuh").exists()
NO_RUNTIME = "backends/runtime/include/kittens.cuh is not written yet"

STUB_KITTENS = r"""
// Test stub of the docs/runtime-api.md subset: declarations with static checks, no behaviour.
#pragma once
#if defined(__HIP__)
#include <hip/hip_runtime.h>
#define STUB_WARP_THREADS 64
#else
#include <cuda_runtime.h>
#define STUB_WARP_THREADS 32
using hipError_t = cudaError_t;
using hipStream_t = cudaStream_t;
constexpr cudaError_t hipSuccess = cudaSuccess;
constexpr cudaFuncAttribute hipFuncAttributeMaxDynamicSharedMemorySize = cudaFuncAttributeMaxDynamicSharedMemorySize;
inline hipError_t hipFuncSetAttribute(const void* f, cudaFuncAttribute a, int v) {
    return cudaFuncSetAttribute(f, a, v);
}
inline hipError_t hipGetLastError() { return cudaGetLastError(); }
inline const char* hipGetErrorString(hipError_t e) { return cudaGetErrorString(e); }
#endif
#include <type_traits>

namespace kittens {
struct bf16 { unsigned short bits; };
constexpr int WARP_THREADS = STUB_WARP_THREADS;
__device__ inline int warpid() { return threadIdx.x / WARP_THREADS; }
__device__ inline int laneid() { return threadIdx.x % WARP_THREADS; }
namespace ducks { namespace rt_layout { struct row {}; struct col {}; } }

template<typename T, int R, int C> struct shared_tile {
    static_assert(R % 16 == 0 && C % 16 == 0, "shared tile sides must be multiples of 16");
    static constexpr int rows = R, cols = C;
    T data[R * C];
};
template<int R, int C> using st_bf = shared_tile<bf16, R, C>;
template<int R, int C> using st_fl = shared_tile<float, R, C>;
template<typename ST, int R, int C> struct st_subtile { static constexpr int rows = R, cols = C; ST* parent; };
template<typename T> struct is_shared : std::false_type {};
template<typename T, int R, int C> struct is_shared<shared_tile<T, R, C>> : std::true_type {};
template<typename ST, int R, int C> struct is_shared<st_subtile<ST, R, C>> : std::true_type {};

template<typename T, int R, int C, typename L> struct register_tile {
    static_assert(R % 16 == 0 && C % 16 == 0, "register tile sides must be multiples of 16");
    static constexpr int rows = R, cols = C;
    T data[R * C / WARP_THREADS];
};
template<int R, int C, typename L = ducks::rt_layout::row> using rt_bf = register_tile<bf16, R, C, L>;
template<int R, int C, typename L = ducks::rt_layout::row> using rt_fl = register_tile<float, R, C, L>;
template<typename T> struct is_register : std::false_type {};
template<typename T, int R, int C, typename L> struct is_register<register_tile<T, R, C, L>> : std::true_type {};

template<typename T, int B, int D, int R, int C> struct gl {
    static_assert(B == -1 && D == -1 && R == -1 && C == -1, "the emitter uses run-time sized globals");
    T* raw_ptr;
    int rows_, cols_;
    __host__ __device__ int rows() const { return rows_; }
    __host__ __device__ int cols() const { return cols_; }
};
template<typename T> struct is_global : std::false_type {};
template<typename T, int B, int D, int R, int C> struct is_global<gl<T, B, D, R, C>> : std::true_type {};
struct coord { int b, d, r, c; };
struct rowcol { int r, c; };

struct alignment_dummy { int dummy; };
struct shared_allocator {
    __device__ explicit shared_allocator(int* base) : ptr(base) {}
    template<typename ST> __device__ ST& allocate() { return *reinterpret_cast<ST*>(ptr); }
    template<typename ST, int N> __device__ ST (&allocate())[N] { return *reinterpret_cast<ST(*)[N]>(ptr); }
    int* ptr;
};
template<int R, int C, typename ST> __device__ st_subtile<ST, R, C> subtile_inplace(ST& tile, rowcol) {
    static_assert(is_shared<ST>::value, "subtile_inplace takes a shared tile");
    static_assert(ST::rows % R == 0 && ST::cols % C == 0, "the subtile shape must divide the shared tile");
    return {&tile};
}
template<int N> struct group {
    template<typename ST, typename GL> __device__ static void load(ST&, const GL&, const coord&) {
        static_assert(is_shared<ST>::value && is_global<GL>::value, "group::load(shared, global, coord)");
    }
    template<typename ST, typename GL> __device__ static void load_async(ST&, const GL&, const coord&) {
        static_assert(is_shared<ST>::value && is_global<GL>::value, "group::load_async(shared, global, coord)");
    }
    template<typename GL, typename ST> __device__ static void store(const GL&, const ST&, const coord&) {
        static_assert(is_shared<ST>::value && is_global<GL>::value, "group::store(global, shared, coord)");
    }
};
template<typename RT, typename SRC> __device__ void load(RT&, const SRC&) {
    static_assert(is_register<RT>::value && is_shared<SRC>::value, "load(register, shared)");
    static_assert(RT::rows == SRC::rows && RT::cols == SRC::cols, "load: register and shared shapes differ");
}
template<typename RT, typename GL> __device__ void load(RT&, const GL&, const coord&) {
    static_assert(is_register<RT>::value && is_global<GL>::value, "load(register, global, coord)");
}
template<typename DST, typename RT> __device__ void store(DST&, const RT&) {
    static_assert(is_shared<DST>::value && is_register<RT>::value, "store(shared, register)");
    static_assert(RT::rows == DST::rows && RT::cols == DST::cols, "store: register and shared shapes differ");
}
template<typename GL, typename RT> __device__ void store(const GL&, const RT&, const coord&) {
    static_assert(is_global<GL>::value && is_register<RT>::value, "store(global, register, coord)");
}
template<typename RT> __device__ void zero(RT&) { static_assert(is_register<RT>::value, "zero(register)"); }
template<typename RT> __device__ void mul(RT&, const RT&, float) { static_assert(is_register<RT>::value, "mul"); }
template<typename RT> __device__ void add(RT&, const RT&, const RT&) { static_assert(is_register<RT>::value, "add"); }
template<typename D, typename A, typename B, typename C> __device__ void mma_AB(D&, const A&, const B&, const C&) {
    static_assert(std::is_same_v<D, C>, "mma_AB: c and d differ");
    static_assert(std::is_same_v<A, rt_bf<A::rows, A::cols>>, "mma_AB: a must be rt_bf, row layout");
    using col = ducks::rt_layout::col;
    static_assert(std::is_same_v<B, rt_bf<B::rows, B::cols, col>>, "mma_AB: b must be rt_bf, col layout");
    static_assert(std::is_same_v<D, rt_fl<D::rows, D::cols, col>>, "mma_AB: d must be rt_fl, col layout");
    static_assert(A::rows == D::rows && B::cols == D::cols && A::cols == B::rows, "mma_AB: shapes");
}
template<typename D, typename A, typename B, typename C> __device__ void mma_ABt(D&, const A&, const B&, const C&) {
    static_assert(std::is_same_v<D, C>, "mma_ABt: c and d differ");
    static_assert(std::is_same_v<A, rt_bf<A::rows, A::cols>>, "mma_ABt: a must be rt_bf, row layout");
    static_assert(std::is_same_v<B, rt_bf<B::rows, B::cols>>, "mma_ABt: b must be rt_bf, row layout");
    using col = ducks::rt_layout::col;
    static_assert(std::is_same_v<D, rt_fl<D::rows, D::cols, col>>, "mma_ABt: d must be rt_fl, col layout");
    static_assert(A::rows == D::rows && B::rows == D::cols && A::cols == B::cols, "mma_ABt: shapes");
}
}  // namespace kittens

namespace tg {
template<typename ST, int N> struct stage {
    static_assert(kittens::is_shared<ST>::value, "stage<shared tile type, N>");
};
template<int N, typename ST, typename GL> __device__ void stage_load(stage<ST, N>&, const GL&, const kittens::coord&) {}
template<int N, typename ST> __device__ void stage_store(ST&, const stage<ST, N>&) {}
template<typename ST, int N> struct lds_load {
    static_assert(kittens::is_shared<ST>::value, "lds_load<shared tile type, N>");
};
// P loads may stay in flight; the types say how many instructions each pending load counts.
template<int P, typename... Loads> __device__ void async_wait() { static_assert(P >= 0, "async_wait<P >= 0>"); }
template<int P> __device__ void set_priority() { static_assert(0 <= P && P <= 3, "set_priority<0..3>"); }
__device__ inline void cluster_barrier() {}
__device__ inline void barrier() {}
template<int R> __device__ void set_max_registers() {}
}  // namespace tg
"""

STUB_PYUTILS = r"""
// Test stub of pyutils and of the little of pybind11 the emitted module uses (no Python headers).
#pragma once
namespace pybind11 {
struct module_ {
    const char*& doc() { return doc_; }
    const char* doc_ = nullptr;
};
}  // namespace pybind11
#define PYBIND11_MODULE(name, variable) void pybind11_init_##name(pybind11::module_& variable)
namespace kittens { namespace py {
template<auto F, typename G, typename... M> void bind_function(pybind11::module_& m, const char*, M G::*... members) {
    static_assert(sizeof...(M) == 6, "dispatch binds a, b, c, alpha, beta, stream");
    (void)m;
    ((void)members, ...);
    (void)F;
}
} }
"""


def _python_includes() -> list[str]:
    import pybind11

    return [f"-I{pybind11.get_include()}", f"-I{sysconfig.get_paths()['include']}"]


def _stub(tmp_path: Path) -> Path:
    include = tmp_path / "stub"
    (include / "pyutils").mkdir(parents=True)
    (include / "kittens.cuh").write_text(STUB_KITTENS)
    (include / "pyutils" / "pyutils.cuh").write_text(STUB_PYUTILS)
    return include


def _hipcc(source: Path, include: Path, *, syntax_only: bool, python: bool = True) -> subprocess.CompletedProcess[str]:
    """The current AMD compiler (ROCm, or tilegen's clang-22 / HIP 6.4 toolchain) for gfx942."""
    from backends.drivers.hipcc import find_compiler

    compiler = find_compiler()
    mode = ["-fsyntax-only"] if syntax_only else ["-c", "-o", str(source.with_suffix(".o"))]
    includes = [f"-I{include}", *(_python_includes() if python else [])]
    command = [compiler.path, *compiler.flags, "--offload-arch=gfx942", "-std=c++20", *mode, *includes, str(source)]
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HIP_PLATFORM": "amd"})


def _nvcc(source: Path, include: Path, *, python: bool = True) -> subprocess.CompletedProcess[str]:
    command = [
        "nvcc",
        "-x",
        "cu",
        "-std=c++20",
        "-gencode=arch=compute_90a,code=sm_90a",
        "-c",
        "-o",
        str(source.with_suffix(".o")),
        f"-I{include}",
        *(_python_includes() if python else []),
        str(source),
    ]
    return subprocess.run(command, capture_output=True, text=True)


def _errors(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (result.stderr + result.stdout).splitlines() if "error" in line]
    return "\n".join(lines[:8]) or (result.stderr + result.stdout)[-2000:]


def _valid(kernel, target: str) -> bool:  # type: ignore[no-untyped-def]
    try:
        validate(kernel, target)
    except ScheduleError:
        return False
    return True


def _write_sources(tmp_path: Path, target: str) -> list[Path]:
    """Every case valid for ``target`` (e.g. the Hopper synthetic kernel is refused for AMD)."""
    paths = []
    for name, case_target, kernel in CASES:
        if case_target == target and _valid(kernel, target):
            path = tmp_path / f"{name}.{target}.cpp"
            path.write_text(render(kernel, target))
            paths.append(path)
    return paths


def _compile_all(paths: list[Path], compile_one) -> list[str]:  # type: ignore[no-untyped-def]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(compile_one, paths))
    pairs = zip(paths, results, strict=True)
    return [f"{path.name}:\n{_errors(result)}" for path, result in pairs if result.returncode != 0]


def _kernels_only(tmp_path: Path, paths: list[Path]) -> Path:
    """One translation unit holding every kernel of ``paths``, each in a namespace of its own and
    without its pybind11 module: the runtime headers are parsed once for all of them."""
    parts = ['#include "kittens.cuh"']
    for path in paths:
        text = path.read_text().split("PYBIND11_MODULE(")[0]
        body = "\n".join(line for line in text.splitlines() if not line.startswith("#include"))
        parts.append(f"namespace {path.name.split('.')[0]}_ns {{\n{body}\n}}")
    combined = tmp_path / "all_kernels.cpp"
    combined.write_text("\n".join(parts) + "\n")
    return combined


# -- against the API stub ------------------------------------------------------------------------


@pytest.mark.amd_toolchain
def test_every_emitted_kernel_type_checks_against_the_api_stub(tmp_path: Path) -> None:
    include = _stub(tmp_path)
    paths = _write_sources(tmp_path, "gfx942")
    module = next(p for p in paths if p.name.startswith("all_ops."))  # with its pybind11 module
    units = [_kernels_only(tmp_path, paths), module]
    failures = _compile_all(units, lambda p: _hipcc(p, include, syntax_only=True, python=False))
    assert not failures, "emitted code outside the documented API:\n" + "\n".join(failures)


@pytest.mark.amd_toolchain
def test_the_stub_rejects_a_tile_mix_up(tmp_path: Path) -> None:
    """The stub can fail: the k01 kernel with its B registers in row layout must not compile."""
    include = _stub(tmp_path)
    source = next(render(k, "gfx942") for name, t, k in CASES if name == "k01_baseline_4wave" and t == "gfx942")
    broken = source.replace("rt_bf<K_STEP, REG_N, ducks::rt_layout::col> b_reg[2];", "rt_bf<K_STEP, REG_N> b_reg[2];")
    assert broken != source
    path = tmp_path / "broken.cpp"
    path.write_text(broken)
    result = _hipcc(path, include, syntax_only=True, python=False)
    assert result.returncode != 0 and "mma_AB: b must be rt_bf, col layout" in result.stderr


@pytest.mark.nvcc
def test_the_nvidia_path_builds_against_the_api_stub(tmp_path: Path) -> None:
    include = _stub(tmp_path)
    path = next(p for p in _write_sources(tmp_path, "sm_90a") if p.name.startswith("all_ops."))
    result = _nvcc(path, include, python=False)
    assert result.returncode == 0, _errors(result)


# -- against the bundled runtime -----------------------------------------------------------------


@pytest.mark.amd_toolchain
@pytest.mark.skipif(not HAS_RUNTIME, reason=NO_RUNTIME)
def test_every_emitted_kernel_type_checks_against_the_bundled_runtime(tmp_path: Path) -> None:
    paths = _write_sources(tmp_path, "gfx942")
    module = next(p for p in paths if p.name.startswith("k01_baseline_4wave."))  # with its pybind11 module
    failures = _compile_all([_kernels_only(tmp_path, paths), module], lambda p: _hipcc(p, RUNTIME, syntax_only=True))
    assert not failures, "the bundled runtime lacks what these kernels use:\n" + "\n".join(failures)


@pytest.mark.amd_toolchain
@pytest.mark.skipif(not HAS_RUNTIME, reason=NO_RUNTIME)
def test_an_example_builds_real_gfx942_code_with_the_bundled_runtime(tmp_path: Path) -> None:
    path = next(p for p in _write_sources(tmp_path, "gfx942") if p.name.startswith("k06_async_staging."))
    result = _hipcc(path, RUNTIME, syntax_only=False)
    assert result.returncode == 0, _errors(result)


@pytest.mark.nvcc
@pytest.mark.skipif(not HAS_RUNTIME, reason=NO_RUNTIME)
def test_an_example_builds_for_sm_90a_with_the_bundled_runtime(tmp_path: Path) -> None:
    path = next(p for p in _write_sources(tmp_path, "sm_90a") if p.name.startswith("h100_producer_consumer."))
    result = _nvcc(path, RUNTIME)
    assert result.returncode == 0, _errors(result)
