"""The emitted code does what was validated (issue 8, item 3).

Each test builds the emitted kernel for the host against the recording kittens API
(backends/recorder), runs every wave of a few blocks and compares each wave's log with the
validated per-wave trace. g++ only; binaries are cached by source hash, so a rerun builds nothing.
"""

from __future__ import annotations

import re
import shutil
import typing
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_emit_properties import all_ops_kernel, store_then_reuse_kernel

from backends.hip.emitter import emit, render
from backends.recorder import EXPECT, EmittedMismatch, MissingOp, RecorderError, check_emitted
from backends.recorder.build import kernel_part
from ir import models as m
from ir.block_order import num_blocks, tiles_of_block
from ir.diagnostics import ScheduleError
from ir.trace import Problem
from ir.validate import validate
from tilegen.schedule import target_params
from tilegen.testing import example_names, example_runs_on, load_example, schedule_cases

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not found: the recorder builds on the host")

TARGETS = ("gfx942", "sm_90a")


def example_kernel(name: str, target: str) -> m.Kernel:
    module = load_example(name)
    return module.kernel(**target_params(module, target))


# -- every example ---------------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", example_names())
def test_example_emitted_code_matches_validated_trace(name: str, target: str) -> None:
    if not example_runs_on(name, target):
        pytest.skip(f"{name} is written for other targets (its module's TARGETS)")
    kernel = example_kernel(name, target)
    summary = check_emitted(kernel, target)
    launch, problem = kernel.launch, summary.problem
    # The size exercises what the code computes: several K steps, a grid whose last blocks are
    # checked, and for a persistent launch a block that wraps around to more tiles.
    assert problem.k // launch.k_step >= 2
    assert num_blocks(launch, problem.m, problem.n) - 1 in summary.blocks
    if launch.persistent_blocks is not None:
        assert max(len(tiles_of_block(launch, b, problem.m, problem.n)) for b in summary.blocks) >= 2
    assert summary.ops > 0


@pytest.mark.parametrize("target", TARGETS)
def test_every_op_kind_persistent_xcd_and_group_store(target: str) -> None:
    """Every IR op kind, a persistent grouped launch with an XCD remap, a group store (whole and
    per-wave scaled), staging, async waits and a register budget."""
    kernel = all_ops_kernel()
    summary = check_emitted(kernel, target)
    assert max(len(tiles_of_block(kernel.launch, b, summary.problem.m, summary.problem.n)) for b in summary.blocks) >= 2


def proxy_fence_kernel() -> m.Kernel:
    """The Hopper example with a proxy fence before each wgmma (no example fences yet)."""

    def edit(body: list[m.Stmt]) -> list[m.Stmt]:
        out: list[m.Stmt] = []
        for op in body:
            if isinstance(op, m.Wgmma):
                out.append(m.ProxyFence(loc=op.loc))
            fields = [name for name in ("body", "then", "orelse") if name in type(op).model_fields]
            nested = {name: edit(getattr(op, name)) for name in fields}
            out.append(op.model_copy(update=nested) if nested else op)
        return out

    kernel = example_kernel("hopper_tma_wgmma", "sm_90a")
    return kernel.model_copy(update={"body": edit(kernel.body)})


def test_proxy_fence() -> None:
    kernel = proxy_fence_kernel()
    source = render(kernel, "sm_90a")
    assert "tg::fence_proxy_async();" in source
    check_emitted(kernel, "sm_90a", source=source)
    with pytest.raises(EmittedMismatch, match="where the schedule has `proxy_fence`"):
        check_emitted(kernel, "sm_90a", source=source.replace("tg::fence_proxy_async();", "", 1))


def test_every_leaf_op_of_the_ir_has_an_expectation_and_a_kernel_that_checks_it() -> None:
    """A new IR op fails here, by name, until the recorder knows what it must log; and every
    expectation is exercised by a kernel of this file (the examples or ``all_ops_kernel``)."""
    leaves = {t for t in typing.get_args(typing.get_args(m.Stmt)[0]) if not {"body", "then"} & set(t.model_fields)}
    assert not leaves - set(EXPECT), f"no recorder expectation for {sorted(t.__name__ for t in leaves - set(EXPECT))}"
    kernels = [all_ops_kernel(), proxy_fence_kernel()] + [
        example_kernel(name, target) for name in example_names() for target in TARGETS if example_runs_on(name, target)
    ]
    used = {type(op) for kernel in kernels for op in m.walk(kernel.body)}
    assert set(EXPECT) <= used, f"no kernel here uses {sorted(t.__name__ for t in set(EXPECT) - used)}"


def test_store_of_a_tile_read_again_goes_through_a_copy() -> None:
    """The accumulator is stored every K step and read again: the emitted epilogue must not scale
    it in place. (The schedule breaks a store rule, so it is rendered without the validator.)"""
    kernel = store_then_reuse_kernel()
    check_emitted(kernel, "gfx942", source=render(kernel, "gfx942"))


# -- corrupted emitted code is caught --------------------------------------------------------------


def _sub(pattern: str, replacement: str) -> Callable[[str], str]:
    """A corruption of the kernel text: the first match of ``pattern`` only."""

    def corrupt(source: str) -> str:
        kernel = kernel_part(source)
        changed, count = re.subn(pattern, replacement, kernel, count=1, flags=re.S)
        assert count == 1, f"corruption pattern {pattern!r} no longer matches the emitted code: update it"
        return source.replace(kernel, changed)

    return corrupt


def _k02(target: str) -> m.Kernel:
    return example_kernel("k02_producer_consumer", target)


def _h100(target: str) -> m.Kernel:
    return example_kernel("h100_producer_consumer", target)


def _hk(target: str) -> m.Kernel:
    return example_kernel("hipkittens_8wave", target)


CORRUPTIONS: list[tuple[str, Callable[[str], m.Kernel], Callable[[str], str], str]] = [
    ("global index off by one", _k02, _sub(r"(block_row, )k \+ 1\}", r"\1k}"), "where the schedule has `32`"),
    ("K loop bound", _k02, _sub(r"k < num_k_tiles;", "k < num_k_tiles - 1;"), "fewer ops than the trace"),
    ("role condition", _k02, _sub(r"warp_id < 4\)", "warp_id < 3)"), "fewer ops than the trace"),
    (
        "block order (row and column swapped)",
        _k02,
        _sub(
            r"block_row = blockIdx\.y;(\s*)const int block_col = blockIdx\.x;",
            r"block_row = blockIdx.x;\1const int block_col = blockIdx.y;",
        ),
        "block 1, wave 0",
    ),
    (
        "aligned barrier in divergent code",
        _k02,
        _sub(r"tg::barrier\(\);", "__syncthreads();"),
        "an aligned barrier must be the same call in every wave",
    ),
    ("block size", _k02, _sub(r"NUM_WARPS = \d+;", "NUM_WARPS = 7;"), "block(): the code launches 448"),
    ("pipeline buffer", _k02, _sub(r"As\[k % 2\]", "As[(k + 1) % 2]"), "everywhere before"),
    ("register array index", _k02, _sub(r"(C_accum\[1\], a_reg\[0\], )b_reg\[1\]", r"\1b_reg[0]"), "holds b_reg[0]"),
    (
        "persistent stride",
        lambda t: all_ops_kernel(),
        _sub(r"tile_id \+= gridDim\.x", "tile_id += gridDim.x + 1"),
        "where the schedule has",
    ),
    (
        "grouped order's last band",
        _h100,
        _sub(r"min\(GROUP_M, tile_rows - band_first_row\)", "GROUP_M"),
        "where the schedule has",
    ),
    ("register budget", _h100, _sub(r"set_max_registers<232>", "set_max_registers<240>"), "the code sets 240"),
    (
        "group store skips the epilogue when only beta is 0",
        lambda t: all_ops_kernel(),
        _sub(r"g\.alpha == 1\.f && g\.beta == 0\.f", "g.beta == 0.f"),
        "alpha=2, beta=0",
    ),
    ("epilogue drops beta", _k02, _sub(r"add\([^;]*c_prev\);", ""), "the stored value is"),
    ("stored tile", _k02, _sub(r"store\(g\.c, C_accum\[(\w+)\]", r"store(g.c, C_accum[(\1 + 1) % 4]"), "holds C_"),
    ("epilogue coordinates", _k02, _sub(r"(global_row = [^;]*)\(i / 2\)", r"\1(i % 2)"), "where the schedule has"),
    # Only a single K step shows this one: the check also runs every K the validator checks.
    ("pipeline prologue guard", _h100, _sub(r"num_k_tiles > 0\)", "num_k_tiles > 1)"), "num_k_tiles=1"),
    ("cluster priority", _hk, _sub(r"set_priority<1>", "set_priority<2>"), "priority 2, not 1"),
    ("cluster closed without its fence", _hk, _sub(r"tg::cluster_barrier\(\);", "__syncthreads();"), "`sync:"),
]


@pytest.mark.parametrize(("what", "kernel", "corrupt", "message"), CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS])
def test_corrupted_emitted_code_is_caught(
    what: str, kernel: Callable[[str], m.Kernel], corrupt: Callable[[str], str], message: str
) -> None:
    target = "gfx942"  # the emitted text is the same for both targets up to constants and budgets
    schedule = kernel(target)
    source = emit(schedule, target)
    with pytest.raises(EmittedMismatch) as info:
        check_emitted(schedule, target, source=corrupt(source))
    text = str(info.value)
    assert message in text
    # The report names the op's Python line (or the role's, for a budget).
    assert re.search(r"examples/\w+\.py:\d+|tests/test_emit_properties\.py:\d+", text)


HOPPER_CORRUPTIONS: list[tuple[str, Callable[[str], str], str]] = [
    ("mbarrier parity", _sub(r"\+ 1\) % 2\)", ") % 2)"), "where the schedule has"),
    ("expected transaction bytes", _sub(r"(arrive_expect_tx\([^;]*, )(\d+)\)", r"\g<1>1024)"), "`1024` where"),
    ("wgmma A slice", _sub(r"(mma_AB\([^,]*, [^,]*, )consumer_warp / 4", r"\g<1>0"), "`0` where the schedule has `1`"),
    ("mbarrier arrival count", _sub(r"(tg::init\(empty\[i\], )(\d+)\)", r"\g<1>1)"), "initialised for 1 arrivals"),
    ("tensor map of the other operand", _sub(r"g\.tma_Bs, full", "g.tma_As, full"), "`A` where the schedule has `B`"),
    ("missing wgmma wait", _sub(r"tg::wgmma::wait<0>\([^;]*\);", ""), "where the schedule has `wgmma_wait`"),
    ("TMA store row", _sub(r"(store_accumulators\([^;]*g\.c, )block_row \* 2", r"\1block_row"), "schedule has"),
    ("TMA stores not drained", _sub(r"tg::tma::store_drain\(\);", ""), "not drained"),
]


@pytest.mark.parametrize(("what", "corrupt", "message"), HOPPER_CORRUPTIONS, ids=[c[0] for c in HOPPER_CORRUPTIONS])
def test_corrupted_hopper_code_is_caught(what: str, corrupt: Callable[[str], str], message: str) -> None:
    """TMA loads, mbarrier rings and wgmma (sm_90a)."""
    schedule = example_kernel("hopper_tma_wgmma", "sm_90a")
    source = emit(schedule, "sm_90a")
    with pytest.raises(EmittedMismatch, match=re.escape(message)):
        check_emitted(schedule, "sm_90a", source=corrupt(source))

def test_epilogue_scaling_a_tile_in_place_that_is_read_again_is_caught() -> None:
    kernel = store_then_reuse_kernel()
    source = render(kernel, "gfx942")
    assert "mul(c_out, acc, g.alpha);" in source
    bad = source.replace("mul(c_out, acc, g.alpha);", "mul(acc, acc, g.alpha);\nmul(c_out, acc, 1.f);", 1)
    with pytest.raises(EmittedMismatch, match="after the epilogue scaled it in place"):
        check_emitted(kernel, "gfx942", source=bad)


# -- what the check does not know fails loudly ------------------------------------------------------


def test_a_kittens_call_the_recorder_lacks_fails_naming_it() -> None:
    kernel = _k02("gfx942")
    source = emit(kernel, "gfx942")
    bad = source.replace("tg::barrier();", "tg::tma_arrive(As[0]);\n        tg::barrier();", 1)
    with pytest.raises(MissingOp) as info:
        check_emitted(kernel, "gfx942", source=bad)
    assert "tg::tma_arrive" in info.value.names
    assert "backends/recorder/include/kittens.cuh" in str(info.value)


def test_an_ir_op_without_an_expectation_fails_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(EXPECT, m.Mma)
    with pytest.raises(RecorderError, match="IR op kind `mma`"):
        check_emitted(_k02("gfx942"), "gfx942")


# -- generated schedules ---------------------------------------------------------------------------


@st.composite
def _cases(draw: st.DrawFn) -> tuple[str, m.Kernel, Problem]:
    target = draw(st.sampled_from((*TARGETS, "gfx950", "sm_80")))
    name = draw(st.sampled_from(example_names()))
    _, kernel, (m_, n_, k_) = draw(schedule_cases(name, target=target, max_tiles=3, max_k_tiles=3, min_k_tiles=2))
    try:
        validate(kernel, target)
    except ScheduleError:
        assume(False)  # the property is about schedules the validator accepts for the target
    launch = kernel.launch

    def up(size: int, unit: int) -> int:  # a kernel that pads its edges sees padded sizes
        return -(-size // unit) * unit

    return target, kernel, Problem(up(m_, launch.block_m), up(n_, launch.block_n), up(k_, launch.k_step))


def _check_case(case: tuple[str, m.Kernel, Problem]) -> None:
    target, kernel, problem = case
    check_emitted(kernel, target, source=render(kernel, target), problem=problem)  # validated in _cases


_SETTINGS: dict[str, Any] = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow], "derandomize": True}


@settings(max_examples=8, **_SETTINGS)
@given(case=_cases())
def test_generated_schedules_emitted_code_matches_validated_trace(case: tuple[str, m.Kernel, Problem]) -> None:
    _check_case(case)


@pytest.mark.slow
@settings(max_examples=60, **{**_SETTINGS, "derandomize": False})
@given(case=_cases())
def test_generated_schedules_emitted_code_matches_validated_trace_long(case: tuple[str, m.Kernel, Problem]) -> None:
    _check_case(case)
