"""backends/drivers/hipcc.py: command lines, target mapping, errors, and real builds."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from backends.drivers import hipcc
from backends.drivers.common import CompileError, CompilerNotFound

KERNELS_DIR = Path(__file__).resolve().parent / "amd_kernels"


def _no_compilers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ROCM_PATH", str(tmp_path / "no-rocm"))
    monkeypatch.setattr(hipcc, "find_rocm", lambda: None)
    monkeypatch.delenv("TILEGEN_AMD_CLANG", raising=False)
    monkeypatch.delenv("TILEGEN_AMD_FLAGS", raising=False)
    monkeypatch.setenv("TILEGEN_AMD_TOOLCHAIN", str(tmp_path / "no-toolchain"))
    monkeypatch.setattr(hipcc.shutil, "which", lambda name: None)


def test_missing_compiler_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _no_compilers(monkeypatch, tmp_path)
    with pytest.raises(CompilerNotFound, match=r"ROCm.*toolchains/amd/setup\.sh.*apt-get install hipcc"):
        hipcc.find_compiler()
    with pytest.raises(CompilerNotFound, match=r"ROCm"):
        hipcc.compile_object(KERNELS_DIR / "gemm_4wave_ab.cpp", "gfx942", [], tmp_path)
    with pytest.raises(CompilerNotFound, match=r"hipcc .* was not found.*loadable AMD module"):
        hipcc.find_hipcc()


def _fake_executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\necho 'clang version 20.0.0'\n")
    path.chmod(0o755)
    return path


def test_rocm_comes_first_hipcc_then_amdclang(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    rocm = tmp_path / "rocm"
    monkeypatch.setenv("ROCM_PATH", str(rocm))
    clang = _fake_executable(rocm / "bin" / "amdclang++")
    found = hipcc.find_rocm()
    assert found == hipcc.AmdCompiler("rocm", str(clang), ("-x", "hip", f"--rocm-path={rocm}"))
    assert hipcc.find_compiler().kind == "rocm" and hipcc.find_module_compiler().kind == "rocm"
    hip = _fake_executable(rocm / "bin" / "hipcc")
    assert hipcc.find_rocm() == hipcc.AmdCompiler("rocm", str(hip))


def test_toolchain_from_its_variables_or_its_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _no_compilers(monkeypatch, tmp_path)
    clang = _fake_executable(tmp_path / "bin" / "clang++-22")
    monkeypatch.setenv("TILEGEN_AMD_CLANG", str(clang))
    monkeypatch.setenv("TILEGEN_AMD_FLAGS", "-x hip --rocm-path=/r -D__AMDGCN_WAVEFRONT_SIZE=64")
    found = hipcc.find_compiler()
    assert (found.kind, found.path) == ("toolchain", str(clang))
    assert found.flags == ("-x", "hip", "--rocm-path=/r", "-D__AMDGCN_WAVEFRONT_SIZE=64")
    assert not found.can_link_modules
    # Without the variables: the folder setup.sh fills, with the flags env.sh would export.
    monkeypatch.delenv("TILEGEN_AMD_CLANG")
    root = tmp_path / "toolchain"
    (root / "usr" / "include").mkdir(parents=True)
    (root / "lib" / "bitcode").mkdir(parents=True)
    (root / "bitcode").symlink_to(root / "lib" / "bitcode")
    (root / "VERSIONS").write_text("Package: libamdhip64-dev Version: 6.4.3-5\nDebian clang version 22.1.8\n")
    monkeypatch.setenv("TILEGEN_AMD_TOOLCHAIN", str(root))
    monkeypatch.setattr(hipcc, "find_tool", lambda name, extra_dirs=(): str(clang) if name == "clang++-22" else None)
    found = hipcc.find_compiler()
    assert (found.kind, found.path) == ("toolchain", str(clang))
    assert f"--rocm-path={root / 'usr'}" in found.flags
    assert f"--rocm-device-lib-path={root / 'lib' / 'bitcode'}" in found.flags
    assert found.flags[found.flags.index("-isystem") + 1] == str(root / "usr" / "include")
    with pytest.raises(CompilerNotFound, match="no HIP runtime library to link"):
        hipcc.find_module_compiler()


@pytest.mark.parametrize(("major", "expected"), [(15, "gfx940"), (16, "gfx940"), (None, "gfx940"), (17, "gfx942")])
def test_gfx942_becomes_gfx940_only_where_the_compiler_lacks_it(
    monkeypatch: pytest.MonkeyPatch, major: int | None, expected: str
) -> None:
    monkeypatch.setattr(hipcc, "clang_major", lambda path: major)
    compiler = hipcc.AmdCompiler("hipcc", "/usr/bin/hipcc")
    arch, note = hipcc.offload_arch("gfx942", compiler)
    assert arch == expected
    assert ("compiled for gfx940 instead" in note) == (expected == "gfx940")
    assert hipcc.offload_arch("gfx90a", compiler) == ("gfx90a", "")


def test_gfx950_is_refused_by_a_compiler_that_does_not_know_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hipcc, "clang_major", lambda path: 15)
    with pytest.raises(CompilerNotFound, match=r"does not know gfx950 .*clang >= 20.*setup\.sh"):
        hipcc.offload_arch("gfx950", hipcc.AmdCompiler("hipcc", "/usr/bin/hipcc"))
    monkeypatch.setattr(hipcc, "clang_major", lambda path: 22)
    assert hipcc.offload_arch("gfx950", hipcc.AmdCompiler("toolchain", "/usr/bin/clang++-22")) == ("gfx950", "")


def test_unknown_targets_are_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown AMD target `sm_90a`; known: gfx90a, gfx940, gfx941, gfx942, gfx950"):
        hipcc.offload_arch("sm_90a")


def test_command_line_puts_the_compilers_flags_first() -> None:
    compiler = hipcc.AmdCompiler("toolchain", "/usr/bin/clang++-22", ("-x", "hip", "--rocm-path=/r"))
    cmd = hipcc.command(Path("k.cpp"), "gfx950", [Path("/inc")], Path("k.o"), ["-c"], ["-DX=1"], compiler)
    assert cmd[:4] == ["/usr/bin/clang++-22", "-x", "hip", "--rocm-path=/r"]
    assert {"-O3", "-std=c++20", "--offload-arch=gfx950", "-I/inc", "-DX=1", "-c"} <= set(cmd)
    assert cmd[-3:] == ["k.cpp", "-o", "k.o"]


def test_module_names_are_checked_before_compiling(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a Python identifier"):
        hipcc.build_extension(tmp_path / "m.cpp", "gfx940", [], tmp_path / "bad-name.so", "bad-name")
    with pytest.raises(ValueError, match=r"only from a file named `probe.<suffix>`"):
        hipcc.build_extension(tmp_path / "m.cpp", "gfx940", [], tmp_path / "other.so", "probe")


@pytest.mark.amd_toolchain
def test_compile_errors_show_source_command_and_first_error(tmp_path: Path) -> None:
    source = tmp_path / "broken.cpp"
    source.write_text("#include <hip/hip_runtime.h>\n__global__ void k(float* p) { p[0] = undeclared_name; }\n")
    with pytest.raises(CompileError) as error:
        hipcc.compile_object(source, "gfx942", [], tmp_path)
    message = str(error.value)
    assert str(source) in message and "--offload-arch=gfx942" in message
    assert "undeclared_name" in message and "broken.cpp:2" in message
    assert not list(tmp_path.glob(".hipcc-*")), "the private -save-temps directory is removed on failure"


@pytest.mark.amd_legacy_hipcc
def test_an_older_hipcc_builds_gfx942_as_gfx940_and_says_so(tmp_path: Path) -> None:
    """The older-compiler check: Debian 12's hipcc (HIP 5.2, clang 15) still builds the runtime."""
    legacy = hipcc.find_system_hipcc()
    assert legacy is not None
    if (hipcc.clang_major(legacy.path) or 0) >= 17:
        pytest.skip("this hipcc knows gfx942: nothing is mapped")
    source = KERNELS_DIR / "gemm_subtile16.cpp"
    result = hipcc.compile_object(source, "gfx942", [hipcc_runtime_include(), KERNELS_DIR], tmp_path, compiler=legacy)
    assert result.output.name == "gemm_subtile16.gfx940.o"
    assert "compiled for gfx940 instead" in result.log
    assert [r.target for r in result.resources] == ["gfx942"]
    assert '.amdgcn_target "amdgcn-amd-amdhsa--gfx940' in result.output.with_suffix(".s").read_text()


def hipcc_runtime_include() -> Path:
    from backends.drivers.common import RUNTIME_INCLUDE

    return RUNTIME_INCLUDE


PROBE_MODULE = """
#include <hip/hip_runtime.h>
#include <pybind11/pybind11.h>
#include "kittens.cuh"
using namespace kittens;
__global__ void probe_kernel(gl<float, -1, -1, -1, -1> g) {
    rt_fl<16, 16, ducks::rt_layout::col> tile;
    load(tile, g, {0, 0, 0, 0});
    store(g, tile, {0, 0, 0, 0});
}
// hipGetDeviceCount runs the HIP runtime the module links; no GPU is needed to call it.
int device_count() {
    int count = -1;
    return hipGetDeviceCount(&count) == hipSuccess ? count : 0;
}
PYBIND11_MODULE(TG_MODULE_NAME, m) { m.def("device_count", &device_count); m.def("name", [] { return "tg_probe"; }); }
"""


@pytest.mark.amd_legacy_hipcc
def test_build_extension_links_the_hip_runtime_and_imports(tmp_path: Path) -> None:
    source = tmp_path / "probe.cpp"
    source.write_text(PROBE_MODULE)
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    out_path = tmp_path / f"tg_probe{suffix}"
    result = hipcc.build_extension(source, "gfx90a", [hipcc_runtime_include()], out_path, "tg_probe")
    assert result.output.exists() and "-shared" in result.command and "-DTG_MODULE_NAME=tg_probe" in result.command
    assert [r.kernel for r in result.resources] == ["probe_kernel"] and result.resources[0].spills == 0
    linked = subprocess.run(["ldd", str(result.output)], capture_output=True, text=True).stdout
    assert "libamdhip64" in linked and "not found" not in linked
    # A fresh interpreter, so a module that cannot load cannot disturb this one.
    script = "import tg_probe; print(tg_probe.name(), tg_probe.device_count() >= 0)"
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["tg_probe", "True"]
