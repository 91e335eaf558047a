"""A tilegen kernel as a torch custom op (issue 13, item 6): registered through torch.library
with a fake implementation, it traces inside torch.compile and torch.export with fake / meta
tensors (no GPU here); the GPU test runs it inside a torch.compile'd model on the device."""

from __future__ import annotations

import pytest
import torch

from tilegen import torch_op
from tilegen.callable import reference_gemm, relative_error
from tilegen.testing import load_example

K01 = load_example("k01_baseline_4wave")


class Projection(torch.nn.Module):
    """A model that calls the op: y = relu(x @ W)."""

    def __init__(self, op: object, k: int, n: int, device: str) -> None:
        super().__init__()
        self.op = op
        self.weight = torch.nn.Parameter(torch.randn(k, n, device=device).to(torch.bfloat16), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.op(x, self.weight))  # type: ignore[operator]


def _recording_backend(graphs: list[torch.fx.GraphModule]):  # type: ignore[no-untyped-def]
    def backend(gm: torch.fx.GraphModule, example_inputs: list[torch.Tensor]):  # type: ignore[no-untyped-def]
        graphs.append(gm)
        return gm.forward

    return backend


def test_a_model_with_the_op_traces_in_torch_compile_on_meta_tensors() -> None:
    op = torch_op.register(K01.kernel(), name="k01_meta_trace")
    model = Projection(op, 128, 256, device="meta")
    graphs: list[torch.fx.GraphModule] = []
    compiled = torch.compile(model, backend=_recording_backend(graphs), fullgraph=True)
    out = compiled(torch.empty(384, 128, dtype=torch.bfloat16, device="meta"))
    assert (out.shape, out.dtype, out.device.type) == ((384, 256), torch.float32, "meta")
    targets = [node.target for graph in graphs for node in graph.graph.nodes]
    assert torch.ops.tilegen.k01_meta_trace.default in targets


def test_torch_export_keeps_the_op_in_the_graph() -> None:
    op = torch_op.register(K01.kernel(), name="k01_export")
    model = Projection(op, 128, 256, device="cpu")
    # export traces with fake tensors: the real kernel (a GPU build) is never called
    program = torch.export.export(model, (torch.randn(256, 128).to(torch.bfloat16),))
    calls = [n for n in program.graph.nodes if n.target == torch.ops.tilegen.k01_export.default]
    assert len(calls) == 1
    (meta,) = [n.meta["val"] for n in calls]
    assert tuple(meta.shape) == (256, 256) and meta.dtype == torch.float32


def test_the_fake_implementation_checks_shapes_and_dtypes() -> None:
    op = torch_op.register(K01.kernel(), name="k01_fake_checks")
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        a = torch.empty(256, 128, dtype=torch.bfloat16)
        assert op(a, torch.empty(128, 64, dtype=torch.bfloat16)).shape == (256, 64)
        with pytest.raises(RuntimeError, match="B must be K x N with K = 128"):
            op(a, torch.empty(64, 64, dtype=torch.bfloat16))
        with pytest.raises(RuntimeError, match="must be bfloat16"):
            op(a.float(), torch.empty(128, 64, dtype=torch.bfloat16))
        with pytest.raises(RuntimeError, match="beta != 0 needs C"):
            op(a, torch.empty(128, 64, dtype=torch.bfloat16), None, 1.0, 0.5)


def test_registering_twice_returns_the_op_and_a_clash_is_refused() -> None:
    first = torch_op.register(K01.kernel(), name="k01_twice")
    assert torch_op.register(K01.kernel(), name="k01_twice") is first
    with pytest.raises(ValueError, match="already registered for another kernel"):
        torch_op.register(K01.kernel(block=64), name="k01_twice")
    with pytest.raises(ValueError, match="must be a Python identifier"):
        torch_op.register(K01.kernel(), name="bad-name")


@pytest.mark.gpu
def test_the_op_runs_inside_a_compiled_model_on_the_gpu() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no GPU visible to torch: run on the device machine")
    from tilegen.compiler import detect_target
    from tilegen.schedule import target_params

    target = detect_target()
    fn = __import__("tilegen").compile(K01.kernel(**target_params(K01, target)), target)
    op = torch_op.register(fn, name="k01_gpu")
    model = Projection(op, 512, 1024, device="cuda")
    from torch.utils._triton import has_triton

    # inductor (the default backend) generates Triton for the relu; without Triton, AOT autograd
    # still traces the op through its fake implementation and runs the real one
    compiled = torch.compile(model, fullgraph=True, backend="inductor" if has_triton() else "aot_eager")
    x = torch.randn(768, 512, device="cuda").to(torch.bfloat16)
    out = compiled(x)
    torch.cuda.synchronize()
    expected = torch.relu(reference_gemm("kn", x, model.weight))
    assert relative_error(out, expected) < 1e-4
    c = torch.randn(768, 1024, device="cuda")
    before = c.clone()
    result = op(x, model.weight, c, 2.0, 0.5)
    assert torch.equal(c, before), "the op is functional: the caller's C is not written"
    assert relative_error(result, reference_gemm("kn", x, model.weight, before, alpha=2.0, beta=0.5)) < 1e-4
    torch.library.opcheck(op, (x, model.weight, c, 2.0, 0.5))
