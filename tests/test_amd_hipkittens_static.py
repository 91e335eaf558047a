"""The static structure of the HipKittens-class 8-wave GEMM (examples/hipkittens_8wave.py) in the
machine code of the current AMD toolchain (clang 22 + HIP 6.4 of ../shared/toolchains/amd), read
per trip of the main loop with ``backends.drivers.amd_loops``.

gfx942: at most 257 instructions per K step (HipKittens' own 8-wave kernel, cdna3 2538b4d4, has
249 plus 8 scheduling fences), 128 v_mfma_f32_16x16x16_bf16, 8 barriers / 8 priority switches / 8
scheduling fences, the next tile's buffer loads issued at least one MFMA cluster before their LDS
writes, no LDS read used before a wait that covers it, 0 spills. Matching a static structure is not
a measured speed: nothing runs on AMD here (docs/amd-performance.md).

Also: unit tests of the loop reader on a small hand-written ``.s``.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from backends.drivers import amd_asm, amd_loops, hipcc
from backends.drivers.common import RUNTIME_INCLUDE, Resources, python_include_dirs
from backends.hip.emitter import emit
from tilegen.cli import target_params
from tilegen.testing import load_example

# -- the loop reader -----------------------------------------------------------------------------

SAMPLE = """\
\t.type\t_Z1kv,@function
_Z1kv:                                  ; @_Z1kv
; %bb.0:
\ts_mov_b32 s0, 0
.LBB0_1:                                ; =>This Inner Loop Header: Depth=1
\tbuffer_load_dwordx4 v[8:11], v1, s[4:7], 0 offen
\tds_read_b64 v[2:3], v0
\ts_waitcnt lgkmcnt(0)
\ts_barrier
\t; sched_barrier mask(0x00000000)
\ts_setprio 1
\tv_mfma_f32_16x16x16_bf16 v[4:7], v[2:3], v[2:3], v[4:7]
\ts_setprio 0
\ts_barrier
\t; sched_barrier mask(0x00000000)
\ts_waitcnt vmcnt(0)
\tds_write_b128 v0, v[8:11]
\ts_barrier
\ts_cbranch_scc1 .LBB0_1
; %bb.2:
\tds_read_b64 v[2:3], v0
\tv_mfma_f32_16x16x16_bf16 v[4:7], v[2:3], v[2:3], v[4:7]
\ts_endpgm
.Lfunc_end0:
"""


def test_loop_reader_counts_one_trip() -> None:
    loop = amd_loops.main_loop(SAMPLE)
    assert loop.blocks == ["LBB0_1"]
    assert loop.count("mfma") == 1 and loop.count("barrier") == 3 and loop.count("setprio") == 2
    assert loop.count("sched_barrier") == 2 and loop.count("buffer_load") == 1
    assert loop.size == 12  # machine instructions: the fences are not counted
    assert loop.waits == {"lgkmcnt(0)": 1, "vmcnt(0)": 1}
    assert amd_loops.clusters_before_write(loop) == 1
    assert amd_loops.uncovered_lds_reads(loop) == []


def test_loop_reader_finds_a_read_used_before_its_wait() -> None:
    racy = SAMPLE.replace("\ts_waitcnt lgkmcnt(0)\n", "")
    (read,) = amd_loops.uncovered_lds_reads(amd_loops.main_loop(racy))
    assert read.mnemonic == "ds_read_b64"


def test_loop_reader_sees_a_write_in_the_loads_own_cluster() -> None:
    eager = SAMPLE.replace("\tbuffer_load_dwordx4 v[8:11], v1, s[4:7], 0 offen\n", "").replace(
        "\ts_waitcnt vmcnt(0)\n", "\tbuffer_load_dwordx4 v[8:11], v1, s[4:7], 0 offen\n\ts_waitcnt vmcnt(0)\n"
    )
    assert amd_loops.clusters_before_write(amd_loops.main_loop(eager)) == 0


# -- the example, compiled -----------------------------------------------------------------------


def _toolchain() -> tuple[str, list[str]]:
    """clang 22 and the flags of ../shared/toolchains/amd (the AMD truth), or skip."""
    finder = getattr(hipcc, "find_toolchain", None)
    found = finder() if finder is not None else None
    if found is not None:
        return found.path, list(found.flags)
    clang, flags = os.environ.get("TILEGEN_AMD_CLANG"), os.environ.get("TILEGEN_AMD_FLAGS")
    if clang and flags:
        return clang, shlex.split(flags)
    pytest.skip("the clang-22 AMD toolchain is not set up: `bash ../shared/toolchains/amd/setup.sh` and "
                "`source ../shared/toolchains/amd/env.sh` (docs/amd.md)")


_ASSEMBLY: dict[str, str] = {}


def _assembly(target: str, tmp: Path) -> str:
    if target not in _ASSEMBLY:
        clang, flags = _toolchain()
        source = tmp / f"hipkittens_8wave_{target}.cpp"
        module = load_example("hipkittens_8wave")
        source.write_text(emit(module.kernel(**target_params(module, target)), target=target))
        out = source.with_suffix(".s")
        includes = [f"-I{d}" for d in (RUNTIME_INCLUDE, *python_include_dirs())]
        command = [clang, *flags, f"--offload-arch={target}", *includes, "--cuda-device-only", "-S", str(source),
                   "-o", str(out)]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-4000:]
        _ASSEMBLY[target] = out.read_text()
    return _ASSEMBLY[target]


@pytest.fixture(scope="module")
def tmp_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hipkittens_8wave")


def _resources(assembly: str, target: str) -> Resources:
    return amd_asm.find_kernel(amd_asm.parse_resources(assembly, target), "hipkittens_8wave_kernel")


def test_gfx942_main_loop_has_hipkittens_structure(tmp_dir: Path) -> None:
    assembly = _assembly("gfx942", tmp_dir)
    loop = amd_loops.main_loop(assembly, "hipkittens_8wave")
    assert loop.size <= 257, loop.summary()
    assert loop.mfma_kinds == {"v_mfma_f32_16x16x16_bf16": 128}, loop.summary()
    assert (loop.count("barrier"), loop.count("setprio"), loop.count("sched_barrier")) == (8, 8, 8)
    assert loop.count("buffer_load") == 8 and loop.count("global_load") == 0, loop.summary()
    # the clusters alternate: 4 with MFMAs only, 4 with LDS traffic and no MFMA
    assert sorted(segment.mfmas for segment in loop.segments()) == [0, 0, 0, 0, 32, 32, 32, 32]
    gap = amd_loops.clusters_before_write(loop)
    assert gap is not None and gap >= 1, "a global load is written to LDS before an MFMA cluster ran"
    assert "vmcnt(4)" in loop.waits, "the graded wait (A landed, B in flight) is missing"
    assert amd_loops.uncovered_lds_reads(loop) == []
    assert _resources(assembly, "gfx942").spills == 0


def test_gfx950_form_multiplies_16x16x32_and_loads_straight_into_lds(tmp_dir: Path) -> None:
    """The CDNA4 form (TARGET_PARAMS["gfx950"]): 32-wide K slices, next K step by buffer_load ... lds
    into the other LDS buffer, one counted wait per K step."""
    assembly = _assembly("gfx950", tmp_dir)
    loop = amd_loops.main_loop(assembly, "hipkittens_8wave")
    assert loop.mfma_kinds == {"v_mfma_f32_16x16x32_bf16": 64}, loop.summary()
    assert loop.count("buffer_load_lds") == 8 and loop.count("buffer_load") == 0, loop.summary()
    assert loop.count("lds_write") == 0  # nothing goes through registers
    assert (loop.count("barrier"), loop.count("setprio"), loop.count("sched_barrier")) == (8, 8, 8)
    assert loop.waits.get("vmcnt(0)") == 1, "the loads straight into LDS must stay in flight until the wait"
    assert amd_loops.uncovered_lds_reads(loop) == []
    assert _resources(assembly, "gfx950").spills == 0
