"""The device-only launch path without a GPU: ``launch_spec`` packs the globals struct as the C++
compiler lays it out (the nvcc side is checked in test_compile_nvcc.py), and tilegen's launcher,
built for real, drives a stand-in CUDA driver (tests/launcher/fake_cuda.c) with the right module,
function, grid, block, dynamic shared memory, stream and parameter bytes."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from backends.hip.launch import LaunchSpec, launch_spec, layout
from tilegen.schedule import load_schedule

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def test_the_globals_layout_is_the_c_struct_layout() -> None:
    spec = launch_spec(load_schedule(EXAMPLES / "k01_baseline_4wave.py", [], "sm_90a"), "sm_90a")
    assert [(p.name, p.offset, p.size) for p in spec.params] == [
        ("a", 0, 24),
        ("b", 24, 24),
        ("c", 48, 24),
        ("alpha", 72, 4),
        ("beta", 76, 4),
        ("stream", 80, 8),
    ]
    assert spec.size == 88 and spec.threads == 128 and spec.shared_bytes == 16384
    # A tensor map is 64-byte aligned: after a 4-byte member it starts at 64, and the struct rounds up.
    params, size = layout([("alpha", "f32", {}), ("tma_a", "tensor_map", {"operand": "a", "box": (64, 64)})])
    assert [p.offset for p in params] == [0, 64] and size == 192


def test_pack_writes_each_member_where_the_struct_has_it() -> None:
    spec = launch_spec(load_schedule(EXAMPLES / "k01_baseline_4wave.py", [], "sm_90a"), "sm_90a")
    packed = spec.pack({"a": (0x1000, 256, 64), "b": (0x2000, 64, 512), "c": (0x3000, 256, 512),
                        "alpha": 2.0, "beta": 0.5, "stream": 77})
    assert struct.unpack_from("<Qiiii", packed, 24) == (0x2000, 1, 1, 64, 512)
    assert struct.unpack_from("<ffQ", packed, 72) == (2.0, 0.5, 77)
    with pytest.raises(KeyError, match="no value for member `alpha`"):
        spec.pack({"a": (0, 1, 1), "b": (0, 1, 1), "c": (0, 1, 1)})
    assert LaunchSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec


def test_the_grid_is_what_the_emitted_grid_function_computes() -> None:
    spec = launch_spec(load_schedule(EXAMPLES / "k01_baseline_4wave.py", [], "sm_90a"), "sm_90a")
    assert spec.grid_kind == "2d" and spec.grid(512, 1024) == (8, 4, 1)
    from backends.hip.block_order_code import block_order, num_blocks

    for path in sorted(EXAMPLES.glob("*.py")):
        kernel = load_schedule(path, [], "sm_90a")
        spec = launch_spec(kernel, "sm_90a")
        m, n = 8 * kernel.launch.block_m, 16 * kernel.launch.block_n
        x, y, z = spec.grid(m, n)
        assert x * y * z == num_blocks(block_order(kernel.launch), kernel.launch, m, n), path.name


_DRIVE = textwrap.dedent(
    """
    import ctypes, json, sys
    from pathlib import Path
    import torch
    sys.path.insert(0, {root!r})
    from backends.hip.launch import launch_spec
    from tilegen.schedule import load_schedule
    from tilegen.launch import DeviceModule
    kernel = load_schedule({example!r}, [], "sm_90a")
    spec = launch_spec(kernel, "sm_90a")
    fake = ctypes.CDLL({fake!r})
    ctypes.c_int.in_dll(fake, "fake_param_size").value = spec.size
    module = DeviceModule(Path({image!r}), "_Z6kernelv", spec, "nvidia", Path({cache!r}))
    a = torch.zeros(256, 128, dtype=torch.bfloat16)
    b = torch.zeros(128, 512, dtype=torch.bfloat16)
    c = torch.zeros(256, 512, dtype=torch.bfloat16 if kernel.globals.c_dtype == "bf16" else torch.float32)
    module.dispatch(a, b, c, 2.0, 0.5, 1234)
    module.dispatch(a, b, c, 2.0, 0.5, 1234)
    read = lambda name, n: list((ctypes.c_uint * n).in_dll(fake, name))
    print(json.dumps({{
        "loads": ctypes.c_int.in_dll(fake, "fake_loads").value,
        "launches": ctypes.c_int.in_dll(fake, "fake_launches").value,
        "function": ctypes.c_char_p(ctypes.addressof(ctypes.c_char.in_dll(fake, "fake_function"))).value.decode(),
        "grid": read("fake_grid", 3), "block": read("fake_block", 3),
        "shared": ctypes.c_uint.in_dll(fake, "fake_shared").value,
        "shared_attribute": ctypes.c_int.in_dll(fake, "fake_shared_attribute").value,
        "stream": ctypes.c_size_t.in_dll(fake, "fake_stream").value,
        "device": ctypes.c_int.in_dll(fake, "fake_device").value,
        "params": bytes((ctypes.c_ubyte * spec.size).in_dll(fake, "fake_params")).hex(),
        "a": a.data_ptr(), "b": b.data_ptr(),
        "expected": spec.pack({{"a": (a.data_ptr(), 256, 128), "b": (b.data_ptr(), 128, 512),
                                "c": (c.data_ptr(), 256, 512), "alpha": 2.0, "beta": 0.5, "stream": 1234,
                                **{{p.name: bytes(128) for p in spec.params if p.kind == "tensor_map"}}}}).hex(),
    }}))
    """
)


def _drive(tmp_path: Path, example: str) -> dict:
    fake = tmp_path / "libfakecuda.so"
    stand_in = ROOT / "tests" / "launcher" / "fake_cuda.c"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", str(stand_in), "-o", str(fake)], check=True)
    image = tmp_path / "kernel.cubin"
    image.write_bytes(b"\x7fELF fake image")
    script = tmp_path / "drive.py"
    script.write_text(
        _DRIVE.format(
            root=str(ROOT), example=str(EXAMPLES / example), fake=str(fake), image=str(image), cache=str(CACHE)
        )
    )
    env = {"TILEGEN_LIBCUDA": str(fake), "PATH": "/usr/bin:/bin:/usr/local/bin"}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


#: One launcher build for the tests of this file (tmp_path differs per test).
CACHE = Path(tempfile.gettempdir()) / "tilegen-test-launcher-cache"

needs_compilers = pytest.mark.skipif(
    shutil.which("gcc") is None or (shutil.which("g++") is None and shutil.which("c++") is None),
    reason="needs gcc and a C++ compiler (the launcher and the stand-in driver)",
)


@needs_compilers
def test_the_launcher_drives_the_driver_with_the_packed_parameters(tmp_path: Path) -> None:
    seen = _drive(tmp_path, "k01_baseline_4wave.py")
    assert seen["loads"] == 1 and seen["launches"] == 2  # loaded once per device, launched each call
    assert seen["function"] == "_Z6kernelv" and seen["device"] == 0
    assert seen["grid"] == [512 // 128, 256 // 128, 1] and seen["block"] == [128, 1, 1]
    assert seen["shared"] == 16384 and seen["shared_attribute"] == -1  # under 48 KiB: no opt-in needed
    assert seen["stream"] == 1234
    assert seen["params"] == seen["expected"]


@needs_compilers
def test_tma_kernels_get_their_tensor_maps_and_shared_memory(tmp_path: Path) -> None:
    seen = _drive(tmp_path, "hopper_tma_wgmma.py")
    params = bytes.fromhex(seen["params"])
    expected = bytes.fromhex(seen["expected"])
    assert params[:128] == expected[:128]  # the globals before the maps
    # The stand-in encoder writes (address, dims, row stride, box, data type, swizzle) as 8 u64s.
    tma_a = struct.unpack_from("<8Q", params, 128)
    tma_b = struct.unpack_from("<8Q", params, 256)
    assert tma_a == (seen["a"], 128, 256, 128 * 2, 64, 128, 9, 3)  # A 256 x 128 bf16, box 64 cols x 128 rows
    assert tma_b == (seen["b"], 512, 128, 512 * 2, 64, 64, 9, 3)  # B 128 x 512, box 64 x 64, BFLOAT16, 128B
    # 4 stages of A and B (192 KiB), two mbarrier rings (1 KiB each), the C staging (2 x 16 KiB)
    assert seen["shared"] == 231424 and seen["shared_attribute"] == 231424  # opted in past 48 KiB
    assert seen["block"] == [384, 1, 1] and seen["grid"][1:] == [1, 1]
