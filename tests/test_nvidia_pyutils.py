"""pyutils/pyutils.cuh, built by nvcc and by hipcc: modules link and import without a GPU, and
bind_function fills a globals struct from Python arguments, accepting exactly the tensors the
contract allows (docs/nvidia.md, "pyutils") and refusing the rest by argument, with a fix. The
probe module's bound function records what it received instead of launching anything."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import sysconfig
import textwrap
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backends.drivers.common import RUNTIME_INCLUDE, CompileResult

PROBE_SOURCE = Path(__file__).resolve().parent / "nvidia_kernels" / "pyutils_probe.cpp"
EXT_SUFFIX = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
# compiler -> target the probe is built for
TOOLCHAINS = {"nvcc": "sm_90a", "hipcc": "gfx940"}


@dataclass(frozen=True)
class Probe:
    compiler: str
    result: CompileResult
    module: ModuleType


@pytest.fixture(
    scope="module",
    params=[pytest.param("nvcc", marks=pytest.mark.nvcc), pytest.param("hipcc", marks=pytest.mark.amd_toolchain)],
)
def probe(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Probe:
    if request.param == "nvcc":
        from backends.drivers import nvcc as driver
    else:
        from backends.drivers import hipcc as driver  # type: ignore[no-redef]
    name = f"pyutils_probe_{request.param}"
    out = tmp_path_factory.mktemp(name) / f"{name}{EXT_SUFFIX}"
    result = driver.build_extension(PROBE_SOURCE, TOOLCHAINS[request.param], [RUNTIME_INCLUDE], out, name)
    spec = importlib.util.spec_from_file_location(name, result.output)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Probe(request.param, result, module)


IMPORT_AND_LAUNCH = textwrap.dedent(
    """
    import importlib.util, sys
    spec = importlib.util.spec_from_file_location(sys.argv[2], sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    print("imported")

    class Tensor:  # torch's attributes, with a made-up device pointer: the call must fail before using it
        dtype, shape, is_cuda = "torch.float32", (4, 32), True
        def stride(self):
            return (32, 1)
        def data_ptr(self):
            return 1 << 20

    try:
        module.fill(Tensor(), 1.0, 0)
    except RuntimeError as error:
        print("RuntimeError:", error)
    """
)


def test_the_module_imports_without_a_gpu_and_fails_only_when_it_launches(probe: Probe) -> None:
    assert [(r.kernel, r.target) for r in probe.result.resources] == [("fill", TOOLCHAINS[probe.compiler])]
    # With no device visible, even on a GPU machine, the GPU runtime fails at its first call.
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "HIP_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_AND_LAUNCH, str(probe.result.output), probe.module.__name__],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "imported"
    assert lines[1].startswith("RuntimeError: launching the kernel failed: "), proc.stdout


@dataclass
class FakeTensor:
    """What pyutils reads from a torch tensor, and nothing else."""

    dtype: torch.dtype
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    pointer: int
    is_cuda: bool

    def stride(self) -> tuple[int, ...]:
        return self.strides

    def data_ptr(self) -> int:
        return self.pointer


ELEMENT_BYTES = {torch.bfloat16: 2, torch.float32: 4, torch.float16: 2}


@st.composite
def fake_tensors(draw: st.DrawFn) -> FakeTensor:
    rank = draw(st.sampled_from([2, 2, 2, 1, 3]))
    shape = tuple(draw(st.lists(st.sampled_from([1, 8, 16, 24, 64, 100, 128]), min_size=rank, max_size=rank)))
    strides = [1] * rank
    for i in range(rank - 2, -1, -1):
        strides[i] = strides[i + 1] * shape[i + 1]
    layout = draw(st.sampled_from(["contiguous", "contiguous", "transposed", "padded"]))
    if layout == "transposed" and rank == 2:
        strides = [1, shape[0]]
    elif layout == "padded" and rank == 2:
        strides[0] = shape[1] + 8
    return FakeTensor(
        dtype=draw(st.sampled_from([torch.bfloat16, torch.bfloat16, torch.float32, torch.float16])),
        shape=shape,
        strides=tuple(strides),
        pointer=draw(st.sampled_from([1 << 20, (1 << 20) + 8, (1 << 20) + 16, (1 << 40) + 256])),
        is_cuda=draw(st.sampled_from([True, True, True, False])),
    )


def acceptable(tensor: FakeTensor, dtype: torch.dtype) -> bool:
    """The contract of docs/nvidia.md ("pyutils"), written independently of pyutils.cuh."""
    if tensor.dtype != dtype or not tensor.is_cuda or len(tensor.shape) != 2:
        return False
    rows, cols = tensor.shape
    row_stride, col_stride = tensor.strides
    contiguous = (cols == 1 or col_stride == 1) and (rows == 1 or row_stride == cols)
    return contiguous and tensor.pointer % 16 == 0 and (cols * ELEMENT_BYTES[dtype]) % 16 == 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=fake_tensors(), c=fake_tensors(), alpha=st.floats(-4, 4, allow_nan=False), stream=st.integers(0, 2**63))
def test_tensors_are_accepted_exactly_when_the_contract_holds(
    probe: Probe, a: FakeTensor, c: FakeTensor, alpha: float, stream: int
) -> None:
    a_ok, c_ok = acceptable(a, torch.bfloat16), acceptable(c, torch.float32)
    if a_ok and c_ok:
        probe.module.record(a, c, alpha, stream, -3)
        recorded = probe.module.recorded()
        for name, tensor in (("a", a), ("c", c)):
            assert recorded[name] == {
                "data_ptr": tensor.pointer,
                "batch": 1,
                "depth": 1,
                "rows": tensor.shape[0],
                "cols": tensor.shape[1],
            }
        assert recorded["alpha"] == pytest.approx(alpha, rel=1e-6, abs=1e-30)
        assert recorded["stream"] == stream and recorded["count"] == -3
    else:
        first_bad = 1 if not a_ok else 2
        with pytest.raises(ValueError, match=rf"^record\(\): argument {first_bad}: "):
            probe.module.record(a, c, alpha, stream, 0)


def good(dtype: torch.dtype) -> FakeTensor:
    return FakeTensor(dtype, (64, 64), (64, 1), 1 << 20, True)


@pytest.mark.parametrize(
    ("tensor", "message"),
    [
        (
            FakeTensor(torch.float16, (64, 64), (64, 1), 1 << 20, True),
            "expected a torch.bfloat16 tensor, got torch.float16",
        ),
        (FakeTensor(torch.bfloat16, (64, 64), (64, 1), 1 << 20, False), r"not on the GPU .* \.cuda\(\)"),
        (FakeTensor(torch.bfloat16, (4, 64, 64), (4096, 64, 1), 1 << 20, True), "expected a 2-D tensor .* got 3"),
        (FakeTensor(torch.bfloat16, (64, 64), (1, 64), 1 << 20, True), r"not contiguous .* \.contiguous\(\)"),
        (FakeTensor(torch.bfloat16, (64, 64), (64, 1), (1 << 20) + 2, True), "not 16-byte aligned"),
        (FakeTensor(torch.bfloat16, (64, 12), (12, 1), 1 << 20, True), "multiple of 8"),
        ("a string", "expected a torch tensor .* got a str"),
    ],
)
def test_refusals_say_what_is_wrong_and_how_to_fix_it(probe: Probe, tensor: object, message: str) -> None:
    with pytest.raises(ValueError, match=r"^record\(\): argument 1: .*" + message):
        probe.module.record(tensor, good(torch.float32), 1.0, 0, 0)


@pytest.mark.parametrize(
    ("alpha", "stream", "count", "message"),
    [
        ("x", 0, 0, r"argument 3: expected a float, got 'x' \(str\)"),
        (1.0, -1, 0, r"argument 4: expected a non-negative integer, got -1 \(int\)"),
        (1.0, 0, 0.5, r"argument 5: expected an integer, got 0.5 \(float\)"),
    ],
)
def test_scalar_arguments_are_cast_or_refused_by_position(
    probe: Probe, alpha: object, stream: object, count: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        probe.module.record(good(torch.bfloat16), good(torch.float32), alpha, stream, count)


def test_real_cpu_tensors_are_refused_before_any_gpu_work(probe: Probe) -> None:
    a = torch.zeros(64, 64, dtype=torch.bfloat16)
    with pytest.raises(ValueError, match="argument 1: the tensor is not on the GPU"):
        probe.module.record(a, good(torch.float32), 1.0, 0, 0)
