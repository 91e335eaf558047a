"""tilegen.compile with a fake frontend and toolchain: the emitter is replaced by a small C++
writer and the GPU compiler by g++, which builds a real pybind11 module whose ``dispatch`` does
the GEMM on the CPU. Everything else (key, cache, import, errors) is the real code path.

The fakes are importable (``FAKE_FRONTEND``, ``fake_toolchain``) so a child process can build the
same toolchain and load the same entry.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import types
from pathlib import Path
from typing import Any, Optional

import pybind11
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backends.drivers import common
from backends.drivers.common import CompileError, CompileResult, CompilerNotFound, Resources
from ir.diagnostics import Diagnostic, ScheduleError
from ir.models import Kernel as KernelIR
from tilegen import cache
from tilegen.callable import CompiledKernel, LaunchError, reference_gemm, relative_error
from tilegen.compiler import Frontend, NoGPUError, Toolchain, binary_inputs, compile, entry_key, include_path

compile_module = importlib.import_module("tilegen.compiler")

ROOT = Path(__file__).resolve().parent.parent
GXX = shutil.which("g++")
needs_gxx = pytest.mark.skipif(GXX is None, reason="g++ not found: it builds the fake pybind11 module")

# --------------------------------------------------------------------------------------------
# Fakes
# --------------------------------------------------------------------------------------------

_FAKE_SOURCE = """// fake kernel {name} for {target}
#include <pybind11/pybind11.h>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
namespace py = pybind11;

constexpr long BLOCK_M = {block_m}, BLOCK_N = {block_n}, K_STEP = {k_step};
constexpr bool B_KN = {b_kn};
constexpr bool C_BF16 = {c_bf16};

struct Matrix {{ std::uintptr_t ptr; long rows, cols; }};

static Matrix view(const py::object& t, const char* role) {{
    py::tuple shape = t.attr("shape");
    py::tuple stride = t.attr("stride")();
    Matrix m{{t.attr("data_ptr")().cast<std::uintptr_t>(), shape[0].cast<long>(), shape[1].cast<long>()}};
    if (stride[0].cast<long>() != m.cols || stride[1].cast<long>() != 1)
        throw std::invalid_argument(std::string(role) + " is not packed row-major");
    return m;
}}
static float from_bf16(std::uint16_t v) {{
    std::uint32_t bits = std::uint32_t(v) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}}
static std::uint16_t to_bf16(float f) {{  // round to nearest even
    std::uint32_t bits;
    std::memcpy(&bits, &f, 4);
    bits += 0x7fff + ((bits >> 16) & 1);
    return std::uint16_t(bits >> 16);
}}

void dispatch(py::object a, py::object b, py::object c, float alpha, float beta, std::size_t stream) {{
    if (std::isnan(alpha)) throw std::runtime_error("fake launch failure (alpha is NaN)");
    Matrix A = view(a, "A"), B = view(b, "B"), C = view(c, "C");
    const long M = A.rows, K = A.cols, N = C.cols;
    if (M % BLOCK_M || N % BLOCK_N || K % K_STEP)
        throw std::out_of_range("not whole block tiles: the real kernel would run out of bounds");
    if (C.rows != M || (B_KN ? (B.rows != K || B.cols != N) : (B.rows != N || B.cols != K)))
        throw std::out_of_range("operand shapes disagree");
    auto* a16 = reinterpret_cast<const std::uint16_t*>(A.ptr);
    auto* b16 = reinterpret_cast<const std::uint16_t*>(B.ptr);
    for (long i = 0; i < M; ++i)
        for (long j = 0; j < N; ++j) {{
            float acc = 0.f;
            for (long k = 0; k < K; ++k)
                acc += from_bf16(a16[i * K + k]) * from_bf16(B_KN ? b16[k * N + j] : b16[j * K + k]);
            float old = 0.f;
            if (beta != 0.f) old = C_BF16 ? from_bf16(reinterpret_cast<std::uint16_t*>(C.ptr)[i * N + j])
                                          : reinterpret_cast<float*>(C.ptr)[i * N + j];
            const float out = alpha * acc + beta * old;
            if (C_BF16) reinterpret_cast<std::uint16_t*>(C.ptr)[i * N + j] = to_bf16(out);
            else reinterpret_cast<float*>(C.ptr)[i * N + j] = out;
        }}
}}

PYBIND11_MODULE({module_name}, m) {{ m.def("dispatch", &dispatch); }}
"""


def fake_emit(kernel: KernelIR, target: str = "gfx942", *, module_name: Optional[str] = None) -> str:
    launch, glob = kernel.launch, kernel.globals
    return _FAKE_SOURCE.format(
        name=kernel.name,
        target=target,
        block_m=launch.block_m,
        block_n=launch.block_n,
        k_step=launch.k_step,
        b_kn="true" if glob.b_layout == "kn" else "false",
        c_bf16="true" if glob.c_dtype == "bf16" else "false",
        module_name=module_name or kernel.name,
    )


def fake_check_problem(kernel: KernelIR, m: int, n: int, k: int) -> None:
    launch = kernel.launch
    if kernel.edge == "pad":
        if min(m, n, k) < 1:
            raise ValueError("sizes must be at least 1")
        return
    if m % launch.block_m or n % launch.block_n or k % launch.k_step:
        raise ValueError(f"M, N, K must be multiples of {launch.block_m}, {launch.block_n}, {launch.k_step}")


class Calls:
    def __init__(self) -> None:
        self.validated: list[str] = []
        self.emitted: list[Optional[str]] = []
        self.built: list[str] = []


CALLS = Calls()


def _validate(kernel: KernelIR, target: str) -> dict[str, Any]:
    CALLS.validated.append(kernel.name)
    return {"target": target, "warnings": []}


def _emit(kernel: KernelIR, target: str, *, module_name: Optional[str] = None) -> str:
    CALLS.emitted.append(module_name)
    return fake_emit(kernel, target, module_name=module_name)


#: An include dir of its own, so the keys here do not follow edits to the bundled runtime headers;
#: the same path in every process, so a child process computes the same key.
FAKE_RUNTIME = Path(tempfile.gettempdir()) / "tilegen-test-fake-runtime"
FAKE_RUNTIME.mkdir(exist_ok=True)
FAKE_FRONTEND = Frontend(
    validate=_validate,
    emit=_emit,
    check_problem=fake_check_problem,
    runtime_include=FAKE_RUNTIME,
    code=(Path(__file__),),  # this file defines what the fake validate and emit do
)


def fake_build_extension(
    *, source: Path, target: str, include_dirs: list[Path], out_path: Path, module_name: str
) -> CompileResult:
    CALLS.built.append(module_name)
    command = [
        str(GXX),
        "-O1",
        "-shared",
        "-fPIC",
        "-std=c++17",
        *(f"-I{d}" for d in include_dirs),
        f"-I{pybind11.get_include()}",
        f"-I{sysconfig.get_paths()['include']}",
        str(source),
        "-o",
        str(out_path),
    ]
    log = common.run(command, source)
    resources = [Resources(target=target, kernel=module_name, vgprs=40, agprs=8, spills=0, shared_bytes=1024)]
    return CompileResult(output=out_path, command=command, log=log, resources=resources)


def fake_toolchain(flag_file: Optional[Path] = None) -> Toolchain:
    return Toolchain(
        name="g++",
        compiler=str(GXX),
        build_extension=fake_build_extension,
        flag_sources=(flag_file or Path(__file__),),
    )


def small_kernel(**overrides: Any) -> KernelIR:
    """Reference kernel 01 at a small block tile (the fake frontend does not validate it)."""
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from k01_baseline_4wave import kernel
    finally:
        sys.path.remove(str(ROOT / "examples"))
    params = {"block": 64, "k_step": 16}
    edge = overrides.pop("edge", "refuse")
    params.update(overrides)
    return kernel(**params).model_copy(update={"edge": edge})


def on_cpu(fn: CompiledKernel) -> CompiledKernel:
    """The same module and entry, with the argument checks accepting CPU tensors."""
    return CompiledKernel(
        fn.kernel, fn.target, fn.module, fn.cache_entry, check_problem=fake_check_problem, device_type="cpu"
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[CompiledKernel, Path]:
    if GXX is None:
        pytest.skip("g++ not found: it builds the fake pybind11 module")
    root = tmp_path_factory.mktemp("cache")
    before = len(CALLS.built)
    fn = compile(small_kernel(), "gfx942", cache_dir=root, frontend=FAKE_FRONTEND, toolchain=fake_toolchain())
    assert len(CALLS.built) == before + 1
    return fn, root


# --------------------------------------------------------------------------------------------
# Build, cache, load
# --------------------------------------------------------------------------------------------


@needs_gxx
def test_compile_builds_a_module_named_by_its_key(built: tuple[CompiledKernel, Path]) -> None:
    fn, root = built
    assert fn.cache_path.parent == root and len(fn.cache_path.name) == 40
    module_name = f"tg_{fn.name}_{fn.cache_path.name[:16]}"
    assert fn.module.__name__ == module_name
    assert f"PYBIND11_MODULE({module_name}, m)" in fn.source
    assert fn.source_path == fn.cache_path / "kernel.cpp" and fn.source == fn.source_path.read_text()
    assert fn.library_path.is_file() and fn.library_path.parent == fn.cache_path
    assert fn.build_log.startswith(f"$ {GXX} -O1")
    assert fn.build_command[0] == GXX
    assert fn.resources == (
        Resources(target="gfx942", kernel=module_name, vgprs=40, agprs=8, spills=0, shared_bytes=1024),
    )
    assert fn.resources[0].registers == 48
    text = repr(fn)
    for part in (repr(fn.name), "'gfx942'", "block=64x64", "k_step=16", "warps=4", "registers=48", str(fn.cache_path)):
        assert part in text


@needs_gxx
def test_second_compile_in_process_reuses_the_entry_and_module(built: tuple[CompiledKernel, Path]) -> None:
    fn, root = built
    before = len(CALLS.built)
    again = compile(small_kernel(), "gfx942", cache_dir=root, frontend=FAKE_FRONTEND, toolchain=fake_toolchain())
    assert len(CALLS.built) == before
    assert again.module is fn.module and again.cache_path == fn.cache_path


_WARM_CHILD = textwrap.dedent(
    """
    import subprocess, sys, time
    sys.path[:0] = [{root!r}, {tests!r}]
    spawned = []
    original = subprocess.Popen.__init__
    def counting(self, args, *rest, **kw):
        spawned.append(args)
        original(self, args, *rest, **kw)
    subprocess.Popen.__init__ = counting
    import test_compile as t
    from tilegen.compiler import compile
    kernel = t.small_kernel()
    start = time.perf_counter()
    fn = compile(kernel, "gfx942", cache_dir={cache!r}, frontend=t.FAKE_FRONTEND, toolchain=t.fake_toolchain())
    elapsed = time.perf_counter() - start
    calls = len(t.CALLS.validated) + len(t.CALLS.emitted) + len(t.CALLS.built)
    print(len(spawned), calls, f"{{1e3 * elapsed:.1f}}", fn.cache_path)
    print(f"warm load: {{1e3 * elapsed:.1f}} ms", file=sys.stderr)
    """
)


@needs_gxx
def test_a_new_process_loads_from_disk_without_running_any_compiler(
    built: tuple[CompiledKernel, Path], tmp_path: Path
) -> None:
    fn, root = built
    script = tmp_path / "warm.py"
    script.write_text(_WARM_CHILD.format(root=str(ROOT), tests=str(ROOT / "tests"), cache=str(root)))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    spawned, pipeline_calls, ms, path = out.stdout.split()
    # No compiler process, and not even the validator or the emitter: the IR was seen before.
    assert (spawned, pipeline_calls, path) == ("0", "0", str(fn.cache_path))
    # The spec asks for < 100 ms with the real frontend (measured by scripts/device_check.sh);
    # here the bound only catches a gross regression on a busy 2-core CI machine.
    assert float(ms) < 1000, f"loading from the cache took {ms} ms"
    print(out.stderr)


@needs_gxx
def test_a_changed_frontend_validates_and_emits_again_but_reuses_an_identical_binary(
    built: tuple[CompiledKernel, Path], tmp_path: Path
) -> None:
    fn, root = built
    frontend_code = tmp_path / "frontend_v1.py"
    frontend_code.write_text("RULES = 1\n")
    frontend = Frontend(_validate, _emit, fake_check_problem, FAKE_RUNTIME, code=(frontend_code,))
    counts = (len(CALLS.validated), len(CALLS.emitted), len(CALLS.built))

    def compile_now() -> CompiledKernel:
        return compile(small_kernel(), "gfx942", cache_dir=root, frontend=frontend, toolchain=fake_toolchain())

    assert compile_now().cache_path == fn.cache_path  # new frontend code: validated and emitted again
    after_first = (len(CALLS.validated), len(CALLS.emitted), len(CALLS.built))
    assert after_first[0] == counts[0] + 1 and after_first[1] > counts[1] and after_first[2] == counts[2]
    compile_now()  # the same frontend code: straight from the alias
    assert (len(CALLS.validated), len(CALLS.emitted), len(CALLS.built)) == after_first
    frontend_code.write_text("RULES = 2  # a validator change\n")
    compile_now()
    assert len(CALLS.validated) == after_first[0] + 1 and len(CALLS.built) == counts[2]


@needs_gxx
def test_a_corrupt_library_is_rebuilt(built: tuple[CompiledKernel, Path], tmp_path: Path) -> None:
    fn, _ = built
    root = tmp_path / "cache"
    shutil.copytree(fn.cache_path, root / fn.cache_path.name)
    shutil.copy(fn.cache_path.parent / "tools.json", root / "tools.json")
    library = root / fn.cache_path.name / fn.library_path.name
    library.write_bytes(library.read_bytes()[:-100])
    before = len(CALLS.built)
    again = compile(small_kernel(), "gfx942", cache_dir=root, frontend=FAKE_FRONTEND, toolchain=fake_toolchain())
    assert len(CALLS.built) == before + 1 and again.cache_path == root / fn.cache_path.name
    assert cache.inspect_entry(again.cache_path)[0] is not None


# --------------------------------------------------------------------------------------------
# The cache key
# --------------------------------------------------------------------------------------------


@needs_gxx
def test_the_key_changes_with_everything_that_changes_the_binary(tmp_path: Path) -> None:
    flags = tmp_path / "driver.py"
    flags.write_text("FLAGS = ['-O3']\n")
    kittens = tmp_path / "kittens"
    kittens.mkdir()
    (kittens / "kittens.cuh").write_text("// user's kittens\n")
    other_compiler = tmp_path / "other-cc"
    other_compiler.write_text("#!/bin/sh\necho 'other compiler 9.9'\n")
    other_compiler.chmod(0o755)
    root = tmp_path / "cache"
    source = fake_emit(small_kernel(), "gfx942", module_name="m")

    def key(
        source: str = source, target: str = "gfx942", toolchain: Optional[Toolchain] = None, dirs: Optional[list] = None
    ) -> str:
        dirs = dirs or include_path(None, FAKE_RUNTIME)
        toolchain = toolchain or fake_toolchain(flags)
        version = cache.tool_version(toolchain.compiler, root)
        return entry_key(source, binary_inputs(target, toolchain, dirs, version))

    base = key()
    assert key() == base  # deterministic
    variants = {
        "source": key(source=source + "// one more line\n"),
        "target": key(target="sm_90a"),
        "compiler": key(toolchain=Toolchain("cc", str(other_compiler), fake_build_extension, (flags,))),
        "kittens_root": key(dirs=include_path(kittens, FAKE_RUNTIME)),
    }
    flags.write_text("FLAGS = ['-O2']\n")
    variants["flags"] = key()
    (kittens / "kittens.cuh").write_text("// user's kittens, edited\n")
    variants["user header"] = key(dirs=include_path(kittens, FAKE_RUNTIME))
    assert len({base, *variants.values()}) == len(variants) + 1, variants


def test_include_path_puts_the_users_kittens_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(compile_module.ENV_KITTENS_ROOT, raising=False)
    assert include_path() == [common.RUNTIME_INCLUDE]
    checkout = tmp_path / "HipKittens"
    (checkout / "include").mkdir(parents=True)
    (checkout / "include" / "kittens.cuh").write_text("")
    assert include_path(checkout) == [checkout / "include", common.RUNTIME_INCLUDE]
    assert include_path(checkout / "include") == [checkout / "include", common.RUNTIME_INCLUDE]
    monkeypatch.setenv(compile_module.ENV_KITTENS_ROOT, str(checkout))
    assert include_path() == [checkout / "include", common.RUNTIME_INCLUDE]
    with pytest.raises(FileNotFoundError, match=r"no kittens\.cuh") as info:
        include_path(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere" / "include") in str(info.value)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def test_an_invalid_schedule_fails_before_any_compiler_runs(tmp_path: Path) -> None:
    diagnostic = Diagnostic(rule="barrier-divergence", severity="error", message="barrier in a branch")

    def reject(kernel: KernelIR, target: str) -> Any:
        raise ScheduleError([diagnostic])

    def must_not_run(**_: Any) -> CompileResult:
        raise AssertionError("a compiler ran for an invalid schedule")

    frontend = Frontend(validate=reject, emit=_emit, check_problem=fake_check_problem, runtime_include=FAKE_RUNTIME)
    toolchain = Toolchain("none", sys.executable, must_not_run)
    emitted = len(CALLS.emitted)
    with pytest.raises(ScheduleError, match="barrier in a branch"):
        compile(small_kernel(), "gfx942", cache_dir=tmp_path / "cache", frontend=frontend, toolchain=toolchain)
    assert len(CALLS.emitted) == emitted
    assert not (tmp_path / "cache").exists()


@needs_gxx
def test_a_compile_error_shows_the_source_the_command_and_the_first_errors(tmp_path: Path) -> None:
    def broken_emit(kernel: KernelIR, target: str, *, module_name: Optional[str] = None) -> str:
        return fake_emit(kernel, target, module_name=module_name).replace("acc += ", "acc += undeclared_name + ")

    frontend = Frontend(
        validate=_validate, emit=broken_emit, check_problem=fake_check_problem, runtime_include=FAKE_RUNTIME
    )
    with pytest.raises(CompileError) as info:
        compile(small_kernel(), "gfx942", cache_dir=tmp_path, frontend=frontend, toolchain=fake_toolchain())
    message = str(info.value)
    source = Path(info.value.source)
    assert source.is_file() and "undeclared_name" in source.read_text()
    assert str(source) in message and f"command: {GXX}" in message
    assert "undeclared_name" in message and "error" in message
    log = (source.parent / "build.log").read_text()
    assert log.startswith(f"$ {GXX}") and "undeclared_name" in log
    assert cache.list_entries(tmp_path) == []


def test_a_missing_compiler_names_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if Path("/opt/rocm/bin/hipcc").exists():
        pytest.skip("ROCm's hipcc is installed in /opt/rocm/bin, so it cannot be made missing")
    monkeypatch.setenv("PATH", str(tmp_path))
    for name in ("TILEGEN_AMD_CLANG", "TILEGEN_AMD_FLAGS", "ROCM_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TILEGEN_AMD_TOOLCHAIN", str(tmp_path / "no-toolchain"))  # nor tilegen's compile toolchain
    with pytest.raises(CompilerNotFound, match=r"no AMD compiler found.*apt-get install hipcc"):
        compile(small_kernel(), "gfx942", cache_dir=tmp_path / "cache", frontend=FAKE_FRONTEND)
    assert not (tmp_path / "cache").exists()


def test_an_unknown_target_is_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown target `gfx1100`"):
        compile(small_kernel(), "gfx1100", cache_dir=tmp_path, frontend=FAKE_FRONTEND, toolchain=fake_toolchain())


def test_target_detection_needs_a_gpu() -> None:
    if torch.cuda.is_available():
        from ir.targets import TARGETS

        assert compile_module.detect_target() in TARGETS
        return
    with pytest.raises(NoGPUError, match=r"no GPU visible to torch; tilegen\.emit and `tilegen check` still work"):
        compile(small_kernel(), frontend=FAKE_FRONTEND, toolchain=fake_toolchain())


@needs_gxx
def test_a_throwing_dispatch_becomes_a_launch_error(built: tuple[CompiledKernel, Path]) -> None:
    fn = on_cpu(built[0])
    a = torch.randn(64, 16).to(torch.bfloat16)
    b = torch.randn(16, 64).to(torch.bfloat16)
    with pytest.raises(LaunchError, match=r"kernel baseline_4wave \(gfx942\) failed to launch.*alpha is NaN") as info:
        fn(a, b, alpha=float("nan"))
    assert isinstance(info.value.__cause__, RuntimeError)


@needs_gxx
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    m=st.integers(1, 150),
    n=st.integers(1, 150),
    k=st.integers(1, 40),
    beta=st.sampled_from([0.0, 0.5]),
)
def test_the_real_module_computes_the_gemm_through_the_callable(
    built: tuple[CompiledKernel, Path], m: int, n: int, k: int, beta: float
) -> None:
    fn = built[0]
    padded = on_cpu(fn)
    padded.kernel = fn.kernel.model_copy(update={"edge": "pad"})
    a = torch.randn(m, k).to(torch.bfloat16)
    b = torch.randn(k, n).to(torch.bfloat16)
    c = torch.randn(m, n)
    expected = reference_gemm("kn", a, b, c, alpha=1.5, beta=beta)
    out = padded(a, b, c, alpha=1.5, beta=beta)
    assert out is c
    assert relative_error(out, expected) < 1e-5


def test_tilegen_compile_stays_the_function_after_the_module_is_imported() -> None:
    """The implementation lives in tilegen.compiler: importing it must not rebind tilegen.compile."""
    import tilegen
    import tilegen.compiler

    for _ in range(2):
        with pytest.raises(ValueError, match="unknown target `nope`"):
            tilegen.compile(small_kernel(), "nope", frontend=FAKE_FRONTEND, toolchain=fake_toolchain())
    assert callable(tilegen.compile) and not isinstance(tilegen.compile, types.ModuleType)
