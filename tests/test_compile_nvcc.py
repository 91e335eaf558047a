"""The real pipeline up to the GPU: validator, emitter, bundled runtime and nvcc build the device
code for sm_90a (a cubin, launched through tilegen's launcher); it loads on a machine without a
GPU, reports its resources, loads from the cache in a new process without running any compiler,
and refuses CPU tensors before launching. The same emitted file still builds as a full pybind11
module (``TILEGEN_BUILD=module``, and by hand)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import tilegen
from tilegen import cache
from tilegen.callable import CompiledKernel
from tilegen.schedule import load_schedule

pytestmark = pytest.mark.nvcc

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "k01_baseline_4wave.py"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[CompiledKernel, Path]:
    root = tmp_path_factory.mktemp("nvcc-cache")
    return tilegen.compile(load_schedule(EXAMPLE, [], "sm_90a"), "sm_90a", cache_dir=root), root


def test_the_device_code_is_built_alone(built: tuple[CompiledKernel, Path]) -> None:
    fn, root = built
    assert fn.library_path == fn.cache_path / "kernel.cubin" and fn.cache_path.parent == root
    assert fn.library_path.read_bytes()[:4] == b"\x7fELF"
    assert "nvcc" in fn.build_command[0] and "-gencode=arch=compute_90a,code=sm_90a" in fn.build_command
    assert "-cubin" in fn.build_command and "-DTILEGEN_DEVICE_ONLY" in fn.build_command
    assert fn.cache_entry.build["function"] == "_Z21baseline_4wave_kernel22baseline_4wave_globals"
    assert fn.cache_entry.build["launch"]["size"] == 88
    assert callable(fn.module.dispatch)
    # The emitted file is still the whole module a user can build by hand.
    assert f"PYBIND11_MODULE(tg_baseline_4wave_{fn.cache_path.name[:16]}" in fn.source
    assert cache.inspect_entry(fn.cache_path)[0] is not None


def test_module_builds_are_still_available(
    built: tuple[CompiledKernel, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fn, _ = built
    monkeypatch.setenv("TILEGEN_BUILD", "module")
    module_fn = tilegen.compile(fn.kernel, "sm_90a", cache_dir=tmp_path)
    assert module_fn.cache_path != fn.cache_path  # another key: the build mode is part of it
    assert module_fn.module.__name__ == f"tg_baseline_4wave_{module_fn.cache_path.name[:16]}"
    assert callable(module_fn.module.dispatch) and "-shared" in module_fn.build_command
    assert module_fn.resources[0].registers == fn.resources[0].registers


def test_ptxas_resources_are_kept(built: tuple[CompiledKernel, Path]) -> None:
    fn, _ = built
    (resources,) = [r for r in fn.resources if "baseline_4wave" in r.kernel]
    assert resources.target == "sm_90a"
    assert resources.registers is not None and 0 < resources.registers <= 255
    assert resources.spills == 0, f"the kernel spills: {resources}"
    assert f"registers={resources.registers}" in repr(fn)


_WARM = textwrap.dedent(
    """
    import subprocess, sys, time
    sys.path.insert(0, {root!r})
    spawned = []
    _init = subprocess.Popen.__init__
    def counting(self, args, *rest, **kw):
        spawned.append(args)
        _init(self, args, *rest, **kw)
    subprocess.Popen.__init__ = counting
    import torch, tilegen
    from tilegen.schedule import load_schedule
    kernel = load_schedule({example!r}, [], "sm_90a")
    start = time.perf_counter()
    fn = tilegen.compile(kernel, "sm_90a", cache_dir={cache!r})
    print(len(spawned), f"{{1e3 * (time.perf_counter() - start):.1f}}", fn.cache_path)
    """
)


def test_a_new_process_loads_it_without_running_a_compiler(built: tuple[CompiledKernel, Path], tmp_path: Path) -> None:
    fn, root = built
    script = tmp_path / "warm.py"
    script.write_text(_WARM.format(root=str(ROOT), example=str(EXAMPLE), cache=str(root)))
    timings = []
    for _ in range(2):  # the first run may still find a header or driver file it has not hashed
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert out.returncode == 0, out.stderr
        spawned, ms, path = out.stdout.split()
        assert (spawned, path) == ("0", str(fn.cache_path)), out.stdout + out.stderr
        timings.append(float(ms))
    print(f"warm compile() in a new process: {timings} ms")
    # The goal (< 100 ms) is measured on the device machine; this bound only catches a regression
    # that brings validation, emission or a compiler back into the warm path on a busy CI box.
    assert min(timings) < 1000


def test_cpu_tensors_are_refused_before_any_launch(built: tuple[CompiledKernel, Path]) -> None:
    fn, _ = built
    a = torch.randn(128, 32).to(torch.bfloat16)
    b = torch.randn(32, 128).to(torch.bfloat16)
    with pytest.raises(ValueError, match=r"A is on cpu, but the kernel runs on the GPU \(sm_90a\)"):
        fn(a, b)


def test_a_launch_layout_that_disagrees_with_the_struct_fails_the_build(tmp_path: Path) -> None:
    import dataclasses

    from backends.drivers import nvcc
    from backends.drivers.common import CompileError
    from backends.hip.launch import launch_spec

    kernel = load_schedule(EXAMPLE, [], "sm_90a")
    spec = launch_spec(kernel, "sm_90a")
    source = tmp_path / "kernel.cpp"
    source.write_text(tilegen.emit(kernel, "sm_90a"))
    result = nvcc.build_device(source, "sm_90a", out_dir=tmp_path, layout_checks=spec.static_asserts())
    assert result.entries == ["_Z21baseline_4wave_kernel22baseline_4wave_globals"]
    moved = dataclasses.replace(spec.params[3], offset=spec.params[3].offset + 4)  # alpha where beta is
    wrong = dataclasses.replace(spec, params=(*spec.params[:3], moved, *spec.params[4:]))
    with pytest.raises(CompileError, match="tilegen launch layout: member alpha of baseline_4wave_globals differs"):
        nvcc.build_device(source, "sm_90a", out_dir=tmp_path / "wrong", layout_checks=wrong.static_asserts())


def test_the_hopper_example_does_not_spill(tmp_path: Path) -> None:
    # It spilled 16 bytes at ptxas's 168-register cap until the emitted code was tidied (main
    # 0bcc165); compile() would now refuse it (SpillError) if it spilled again.
    kernel = load_schedule(ROOT / "examples" / "h100_producer_consumer.py", [], "sm_90a")
    fn = tilegen.compile(kernel, "sm_90a", cache_dir=tmp_path)
    assert fn.resources[0].spills == 0 and fn.resources[0].scratch_bytes == 0
