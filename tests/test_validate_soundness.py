"""Issue 9: each schedule the validator used to accept although the GPU computed wrong numbers,
rebuilt through the builder API. Every one must be rejected by ``validate`` with the op, the wave
and the user's Python line (or, for what the builder can refuse at once, at build time)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import pytest

import tilegen as tg
from ir import models as m
from ir.diagnostics import Diagnostic
from ir.expr import Const
from ir.validate import diagnose

HERE = __file__.rsplit("/", 1)[-1]


def _line_of(marker: str) -> int:
    """The line of this file holding ``# <marker>``: where the bug is planted."""
    with open(__file__) as source:
        for number, text in enumerate(source, 1):
            if text.rstrip().endswith(f"# {marker}"):
                return number
    raise AssertionError(marker)


# --------------------------------------------------------------------------------------------
# Schedules (each returns the valid schedule with bug=None)
# --------------------------------------------------------------------------------------------


def k01(bug: Optional[str] = None) -> m.Kernel:
    """Reference kernel 01 (4 waves, 2 x 2 accumulators of 32 x 32 per wave)."""
    k = tg.Kernel("k01", warps=4, block=(128, 128), k_step=32)
    As = k.shared("As", 128, 32)
    Bs = k.shared("Bs", 32, 128)
    acc = k.accumulator("C_accum", 32, 32, count=4)
    a = k.register("a_reg", 32, 32, count=2)
    b = k.register("b_reg", 32, 32, layout="col", count=2)
    wr, wc = k.warp_grid(2, 2)
    if bug != "zero-in-k-loop":
        k.zero(acc)
    with k.k_loop() as kt:
        if bug == "zero-in-k-loop":
            k.zero(acc)  # BUG zero-in-k-loop
        k.load_tile(As, "A", kt)
        k.load_tile(Bs, "B", kt)
        k.sync()
        for i in range(2):
            if bug == "block-offset" and i == 1:
                k.load(a[i], As, row=wr + 2 * i + 4 * (k.block_row // 2))  # BUG block-offset
            else:
                k.load(a[i], As, row=wr + 2 * i)
            if bug == "b-from-a":
                k.load(b[i], As, row=wc + 2 * i)  # BUG b-from-a
            else:
                k.load(b[i], Bs, col=wc + 2 * i)
        for i in range(2):
            for j in range(2):
                k.mma(acc[2 * i + j], a[i], b[j])
        k.sync()
    for i in range(2):
        for j in range(2):
            if bug == "other-warp-store":
                k.store(acc[2 * i + j], row=wc + 2 * i, col=wr + 2 * j)  # BUG other-warp-store
            else:
                k.store(acc[2 * i + j], row=wr + 2 * i, col=wc + 2 * j)
    return k.build()


def h100(bug: Optional[str] = None, blocks: int = 132) -> m.Kernel:
    """examples/h100_producer_consumer.py at its AMD size (persistent, async ring of 2 stages)."""
    stages, block_m, block_n, k_step, dot = 2, 128, 128, 32, 16
    k = tg.Kernel("h100", warps=12, block=(block_m, block_n), k_step=k_step, order=tg.grouped(8), persistent=blocks)
    As = k.shared("As", block_m, k_step, buffers=stages)
    Bs = k.shared("Bs", k_step, block_n, buffers=stages)
    producers = k.role("producer", range(0, 4), max_registers=40)
    consumers = k.role("consumer", range(4, 12), max_registers=232)
    with producers:
        with k.tiles():
            for step in range(stages - 1):
                with k.when(step < k.num_k_tiles):
                    k.load_tile(As[step], "A", step, is_async=True)
                    k.load_tile(Bs[step], "B", step, is_async=True)
            k.wait(0)
            k.sync()
            with k.k_loop() as kt:
                ahead = kt + stages - 1
                with k.when(ahead < k.num_k_tiles):
                    k.load_tile(As[ahead % stages], "A", ahead, is_async=True)
                    k.load_tile(Bs[ahead % stages], "B", ahead, is_async=True)
                    k.wait(stages - 2)
                with k.otherwise():
                    k.wait(0)
                k.sync()
    with consumers:
        acc = k.accumulator("C_accum", block_m // 2, block_n // 4)
        a = k.register("a_reg", block_m // 2, dot)
        b = k.register("b_reg", dot, block_n // 4, layout="col")
        wr, wc = k.warp_grid(2, 4, role=consumers)
        if bug == "zero-once":
            k.zero(acc)  # BUG zero-once
        with k.tiles():
            if bug != "zero-once":
                k.zero(acc)
            k.sync()
            with k.k_loop() as kt:
                with k.loop(k_step // dot, var="d", unroll=True) as d:
                    k.load(a, As[kt % stages], row=wr, col=d)
                    k.load(b, Bs[kt % stages], row=d, col=wc)
                    k.mma(acc, a, b)
                k.sync()
            k.store(acc, row=wr, col=wc)
    return k.build()


def async_k01(bug: Optional[str] = None) -> m.Kernel:
    """k01 with asynchronous loads, the next step's loads issued after this step's reads."""
    k = tg.Kernel("async_k01", warps=4, block=(128, 128), k_step=32)
    As = k.shared("As", 128, 32)
    Bs = k.shared("Bs", 32, 128)
    acc = k.accumulator("C_accum", 32, 32, count=4)
    a = k.register("a_reg", 32, 32, count=2)
    b = k.register("b_reg", 32, 32, layout="col", count=2)
    wr, wc = k.warp_grid(2, 2)
    k.zero(acc)
    k.load_tile(As, "A", 0, is_async=True)
    k.load_tile(Bs, "B", 0, is_async=True)
    with k.k_loop() as kt:
        if bug == "async-waw":
            with k.when(kt + 1 < k.num_k_tiles):
                k.load_tile(As, "A", kt + 1, is_async=True)  # BUG async-waw
                k.load_tile(Bs, "B", kt + 1, is_async=True)
        k.wait(0)
        k.sync()
        for i in range(2):
            k.load(a[i], As, row=wr + 2 * i)
            k.load(b[i], Bs, col=wc + 2 * i)
        k.sync()
        if bug != "async-waw":
            with k.when(kt + 1 < k.num_k_tiles):
                k.load_tile(As, "A", kt + 1, is_async=True)
                k.load_tile(Bs, "B", kt + 1, is_async=True)
        for i in range(2):
            for j in range(2):
                k.mma(acc[2 * i + j], a[i], b[j])
    for i in range(2):
        for j in range(2):
            k.store(acc[2 * i + j], row=wr + 2 * i, col=wc + 2 * j)
    return k.build()


def stage_never_waited(bug: Optional[str] = None) -> m.Kernel:
    """k01 that also stages the next A tile into registers; the bug never waits for it."""
    k = tg.Kernel("staged_k01", warps=4, block=(128, 128), k_step=32)
    As = k.shared("As", 128, 32)
    Bs = k.shared("Bs", 32, 128)
    a_next = k.stage("a_next", As)
    acc = k.accumulator("C_accum", 32, 32, count=4)
    a = k.register("a_reg", 32, 32, count=2)
    b = k.register("b_reg", 32, 32, layout="col", count=2)
    wr, wc = k.warp_grid(2, 2)
    k.zero(acc)
    k.load_tile(As, "A", 0)
    with k.k_loop() as kt:
        k.load_tile(Bs, "B", kt)
        k.sync()
        with k.when(kt + 1 < k.num_k_tiles):
            k.stage_load(a_next, "A", kt + 1)  # BUG stage-never-waited
        for i in range(2):
            k.load(a[i], As, row=wr + 2 * i)
            k.load(b[i], Bs, col=wc + 2 * i)
        for i in range(2):
            for j in range(2):
                k.mma(acc[2 * i + j], a[i], b[j])
        k.sync()
        with k.when(kt + 1 < k.num_k_tiles):
            if bug != "stage-never-waited":
                k.wait(0)
                k.stage_store(As, a_next)
            else:
                k.load_tile(As, "A", kt + 1)
    for i in range(2):
        for j in range(2):
            k.store(acc[2 * i + j], row=wr + 2 * i, col=wc + 2 * j)
    return k.build()


def prefetch(bug: Optional[str] = None) -> m.Kernel:
    """Reference kernel 03 (register double-buffering, B N x K); the bug prefetches the next
    step's A into the registers this step's mmas still read."""
    k = tg.Kernel("prefetch", warps=4, block=(128, 128), k_step=64, b_layout="nk")
    As = k.shared("As", 128, 64)
    Bs = k.shared("Bs", 128, 64)
    acc = k.accumulator("C_accum", 32, 32, count=4)
    a = k.register("a_reg", 32, 64, count=2)
    b = k.register("b_reg", 32, 64, count=2)
    a_next = k.register("a_next", 32, 64, count=2)
    b_next = k.register("b_next", 32, 64, count=2)
    wr, wc = k.warp_grid(2, 2)

    def multiply() -> None:
        for i in range(2):
            for j in range(2):
                k.mma(acc[2 * i + j], a[i], b[j])

    k.zero(acc)
    k.load_tile(As, "A", 0)
    k.load_tile(Bs, "B", 0)
    k.sync()
    for i in range(2):
        k.load(a[i], As, row=wr + 2 * i)
        k.load(b[i], Bs, row=wc + 2 * i)
    with k.k_loop(start=1) as kt:
        k.sync()
        k.load_tile(As, "A", kt)
        k.load_tile(Bs, "B", kt)
        k.sync()
        for i in range(2):
            if bug == "prefetch-overwrite":
                k.load(a[i], As, row=wr + 2 * i)  # BUG prefetch-overwrite
            else:
                k.load(a_next[i], As, row=wr + 2 * i)
            k.load(b_next[i], Bs, row=wc + 2 * i)
        multiply()
        for i in range(2):
            if bug != "prefetch-overwrite":
                k.copy(a[i], a_next[i])
            k.copy(b[i], b_next[i])
    multiply()
    for i in range(2):
        for j in range(2):
            k.store(acc[2 * i + j], row=wr + 2 * i, col=wc + 2 * j)
    return k.build()


def staging(bug: Optional[str] = None) -> m.Kernel:
    """Reference kernel 06 (8 waves, staged slices); the bug stores the staged A slice into Bs
    and the B slice into As."""
    block, k_step, shared_slice, dot_slice = 128, 128, 64, 32
    slices = k_step // shared_slice
    k = tg.Kernel("staging", warps=8, block=(block, block), k_step=k_step, b_layout="nk")
    As = k.shared("As", block, shared_slice)
    Bs = k.shared("Bs", block, shared_slice)
    a_next = k.stage("a_next", As)
    b_next = k.stage("b_next", Bs)
    acc = k.accumulator("C_accum", 32, 32, count=2)
    a = k.register("a_reg", 32, dot_slice)
    b = k.register("b_reg", 32, dot_slice, count=2)
    wr, wc = k.warp_grid(4, 2)
    k.zero(acc)
    k.load_tile(As, "A", 0)
    k.load_tile(Bs, "B", 0)
    k.sync()
    with k.k_loop() as kt:
        with k.loop(slices, var="s") as s:
            has_next = kt * slices + s + 1 < k.num_k_tiles * slices
            with k.when(has_next):
                k.stage_load(a_next, "A", kt, part=(0, s + 1))
                k.stage_load(b_next, "B", kt, part=(0, s + 1))
            with k.loop(shared_slice // dot_slice, var="d") as d:
                k.load(a, As, row=wr, col=d)
                k.load(b[0], Bs, row=wc, col=d)
                k.load(b[1], Bs, row=wc + 2, col=d)
                k.mma(acc[0], a, b[0])
                k.mma(acc[1], a, b[1])
            k.sync()
            with k.when(has_next):
                k.wait(0)
                if bug == "stage-swapped":
                    k.stage_store(Bs, a_next)  # BUG stage-swapped
                    k.stage_store(As, b_next)
                else:
                    k.stage_store(As, a_next)
                    k.stage_store(Bs, b_next)
            k.sync()
    k.store(acc[0], row=wr, col=wc)
    k.store(acc[1], row=wr, col=wc + 2)
    return k.build()


def dead_branch(bug: Optional[str] = None) -> m.Kernel:
    """k01 whose first loads run on a warp condition; the bug's condition no wave satisfies
    (what ``k.when(k.warp == 0)`` built before the builder refused Python bools)."""
    k = tg.Kernel("dead", warps=4, block=(128, 128), k_step=32)
    As = k.shared("As", 128, 32)
    Bs = k.shared("Bs", 32, 128)
    acc = k.accumulator("C_accum", 32, 32, count=4)
    a = k.register("a_reg", 32, 32, count=2)
    b = k.register("b_reg", 32, 32, layout="col", count=2)
    wr, wc = k.warp_grid(2, 2)
    k.zero(acc)
    with k.k_loop() as kt:
        k.load_tile(As, "A", kt)
        k.load_tile(Bs, "B", kt)
        k.sync()
        for i in range(2):
            k.load(a[i], As, row=wr + 2 * i)
            k.load(b[i], Bs, col=wc + 2 * i)
        for i in range(2):
            for j in range(2):
                k.mma(acc[2 * i + j], a[i], b[j])
        k.sync()
    with k.when(k.warp >= (4 if bug == "no-wave" else 0)):  # BUG no-wave
        for i in range(2):
            for j in range(2):
                k.store(acc[2 * i + j], row=wr + 2 * i, col=wc + 2 * j)
    return k.build()


# --------------------------------------------------------------------------------------------
# The bugs of the issue: (builder, bug, rule, op text fragment, waves)
# --------------------------------------------------------------------------------------------

BUGS: dict[str, tuple[Callable[..., m.Kernel], str, str, str]] = {
    "block-offset": (k01, "block-offset", "shapes.subtile-bounds", "load(a_reg[1]"),
    "zero-once": (h100, "zero-once", "accumulators.foreign-sums", "mma_AB(C_accum"),
    "async-waw": (async_k01, "async-waw", "races.async-incomplete", "group<4>::load_async(As"),
    "stage-never-waited": (stage_never_waited, "stage-never-waited", "races.async-incomplete", "stage_load<4>(a_next"),
    "zero-in-k-loop": (k01, "zero-in-k-loop", "accumulators.missing-k", "store(g.c, C_accum"),
    "b-from-a": (k01, "b-from-a", "accumulators.operand-matrix", "mma_AB(C_accum"),
    "prefetch-overwrite": (prefetch, "prefetch-overwrite", "accumulators.operand-k", "mma_ABt(C_accum"),
    "other-warp-store": (k01, "other-warp-store", "accumulators.store-position", "store(g.c, C_accum"),
    "stage-swapped": (staging, "stage-swapped", "accumulators.shared-matrix", "stage_store<8>(Bs, a_next)"),
    "no-wave": (dead_branch, "no-wave", "structure.unreachable", "if (warp >= 4)"),
}


def _rejection(name: str) -> Diagnostic:
    build, bug, rule, _ = BUGS[name]
    errors = [d for d in diagnose(build(bug)) if d.severity == "error"]
    matching = [d for d in errors if d.rule == rule]
    assert matching, f"{name}: expected {rule}, got {[(d.rule, d.message) for d in errors]}"
    return matching[0]


#: Bugs whose rule is still being built (issue 9 items 1 and 3); strict, so each flips when done.
PENDING: set[str] = set()


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason="rule in progress")) if n in PENDING else n
     for n in sorted(BUGS)],
)
def test_each_bug_of_the_issue_is_rejected_with_op_wave_and_line(name: str) -> None:
    error = _rejection(name)
    _, bug, _, op_text = BUGS[name]
    related = f"{error.op} {error.message}"
    assert op_text in related, error
    assert error.waves, error
    assert error.loc is not None and error.loc.file.endswith(HERE)
    lines = {error.loc.line} | {int(x) for x in _lines_named(error.message)}
    assert _line_of(f"BUG {bug}") in lines, error


def _lines_named(message: str) -> list[str]:
    import re

    return re.findall(rf"{HERE}:(\d+)", message)


@pytest.mark.parametrize(
    "build", [k01, h100, async_k01, stage_never_waited, prefetch, staging, dead_branch], ids=lambda f: f.__name__
)
def test_the_valid_versions_are_accepted(build: Callable[..., m.Kernel]) -> None:
    errors = [d for d in diagnose(build()) if d.severity == "error"]
    assert errors == []


def test_when_refuses_a_python_bool_with_the_line() -> None:
    k = tg.Kernel("bool", warps=4, block=(128, 128), k_step=32)
    with pytest.raises(tg.BuildError) as caught:
        with k.when(k.warp == 0):  # the comparison is the bug: a Python bool
            pass
    text = str(caught.value)
    assert "Python bool" in text and "k.warp.eq(0)" in text
    assert f"{HERE}:" in text


def test_grid_past_the_2d_limit_is_refused_before_launch() -> None:
    from ir.validate import check_launch_size

    kernel = k01()
    check_launch_size(kernel, "sm_90a", 65_535 * 128, 256)  # the largest that fits
    with pytest.raises(ValueError) as caught:
        check_launch_size(kernel, "sm_90a", 65_536 * 128, 256)
    text = str(caught.value)
    assert "65536 block rows" in text and "65535" in text and "M = 8388608" in text


# --------------------------------------------------------------------------------------------
# The sizes the traced rules check, and the index forms they can vouch for
# --------------------------------------------------------------------------------------------


def test_checked_sizes_follow_the_index_expressions() -> None:
    from ir.validate.sizes import checked_sizes

    plain = checked_sizes(k01())
    assert plain.grids == ((2, 2),) and plain.k_tiles == (1, 2, 3, 4)
    offset = checked_sizes(k01("block-offset"))  # block_row // 2: two periods of block rows
    assert (5, 2) in offset.grids and offset.block_period == (2, 1)
    ring = checked_sizes(h100())  # kt % 2, a 2-deep ring, persistent: every block walks >= 2 tiles
    assert ring.persistent_blocks == 2 and any(r * c >= 5 for r, c in ring.grids)
    assert ring.k_tiles[-1] >= ring.depth + 2
    assert "wrap-around" in ring.describe() and "K tiles 1-" in ring.describe()


def test_a_block_dependent_offset_is_seen_past_the_first_two_block_rows() -> None:
    error = _rejection("block-offset")
    assert "M=640" in error.message  # the 5 x 2 grid: block row 2 is the first that breaks


def _index_kernel(bad: bool) -> m.Kernel:
    k = tg.Kernel("index", warps=4, block=(128, 128), k_step=32)
    As = k.shared("As", 128, 32)
    Bs = k.shared("Bs", 32, 128)
    acc = k.accumulator("C_accum", 32, 32, count=4)
    a = k.register("a_reg", 32, 32, count=2)
    b = k.register("b_reg", 32, 32, layout="col", count=2)
    wr, wc = k.warp_grid(2, 2)
    k.zero(acc)
    with k.k_loop() as kt:
        k.load_tile(As, "A", kt)
        k.load_tile(Bs, "B", kt)
        k.sync()
        for i in range(2):
            row = wr + 2 * i + (wr * kt if bad else 0)  # BUG index-form
            k.load(a[i], As, row=row)
            k.load(b[i], Bs, col=wc + 2 * i)
        for i in range(2):
            for j in range(2):
                k.mma(acc[2 * i + j], a[i], b[j])
        k.sync()
    for i in range(2):
        for j in range(2):
            k.store(acc[2 * i + j], row=wr + 2 * i, col=wc + 2 * j)
    return k.build()


def test_an_index_the_sizes_cannot_cover_is_refused() -> None:
    errors = [d for d in diagnose(_index_kernel(bad=True)) if d.rule == "structure.index-form"]
    assert len(errors) == 1 and "multiplies two variables" in errors[0].message
    assert errors[0].loc is not None and errors[0].loc.line == _line_of("BUG index-form") + 1
    assert [d for d in diagnose(_index_kernel(bad=False)) if d.rule == "structure.index-form"] == []


def test_a_warp_condition_that_some_wave_meets_is_not_dead_code() -> None:
    assert [d for d in diagnose(dead_branch()) if d.rule == "structure.unreachable"] == []
    error = _rejection("no-wave")
    assert "then-branch" in error.message and error.waves == (0, 1, 2, 3)


def test_the_three_liner_sizes_make_persistent_blocks_wrap() -> None:
    """``check_indexing`` / ``gemm_shapes`` default to sizes at which a persistent block walks
    several tiles, so the zeroed-once accumulator gives wrong numbers there too (issue 9)."""
    from tilegen.testing import check_indexing

    with pytest.raises(AssertionError, match="differs from the float64 reference"):
        check_indexing(h100("zero-once"), alpha=1.0, beta=0.0)
    report = check_indexing(h100(), alpha=1.0, beta=0.0)
    assert "capped to 2 blocks" in str(report) and "wrap-around" in str(report)


def test_an_index_with_a_fixed_bound_may_not_grow_with_the_problem() -> None:
    errors = [d for d in diagnose(k01("block-offset")) if d.rule == "shapes.index-growth"]
    assert len(errors) == 1 and "grows with `block_row`" in errors[0].message
    assert errors[0].loc is not None and errors[0].loc.line == _line_of("BUG block-offset")
    # periodic in the block and K variables: fine (the h100 ring `As[kt % stages]`)
    assert [d for d in diagnose(h100()) if d.rule == "shapes.index-growth"] == []


def test_the_if_0_the_old_builder_made_is_dead_code_for_validate() -> None:
    """What ``k.when(k.warp == 0)`` used to build: ``if (0)`` around the stores."""
    from tilegen.testing import _replace_at

    kernel = dead_branch()
    index = next(i for i, op in enumerate(m.walk(kernel.body)) if isinstance(op, m.If))
    if_0 = _replace_at(kernel, index, lambda op: [op.model_copy(update={"cond": Const(value=0)})])
    errors = [d for d in diagnose(if_0) if d.rule == "structure.unreachable"]
    assert len(errors) == 1 and errors[0].op == "if (0)" and errors[0].waves == (0, 1, 2, 3)
    assert errors[0].loc is not None and errors[0].loc.line == _line_of("BUG no-wave")


def test_a_block_condition_is_checked_on_both_sides_of_its_constant() -> None:
    """A block row compared with 3 needs blocks 3 and past it: 5 block rows are traced, and a
    load that only block row 3 makes past A's end is seen."""
    from ir.validate.sizes import checked_sizes

    k = tg.Kernel("edge", warps=4, block=(128, 128), k_step=32)
    As = k.shared("As", 128, 32)
    Bs = k.shared("Bs", 32, 128)
    acc = k.accumulator("C_accum", 32, 32, count=4)
    a = k.register("a_reg", 32, 32, count=2)
    b = k.register("b_reg", 32, 32, layout="col", count=2)
    wr, wc = k.warp_grid(2, 2)
    k.zero(acc)
    with k.k_loop() as kt:
        with k.when(k.block_row.eq(3)):
            k.load_tile(As, "A", kt, row=k.block_row + 5)  # BUG block-condition
        with k.otherwise():
            k.load_tile(As, "A", kt)
        k.load_tile(Bs, "B", kt)
        k.sync()
        for i in range(2):
            k.load(a[i], As, row=wr + 2 * i)
            k.load(b[i], Bs, col=wc + 2 * i)
        for i in range(2):
            for j in range(2):
                k.mma(acc[2 * i + j], a[i], b[j])
        k.sync()
    for i in range(2):
        for j in range(2):
            k.store(acc[2 * i + j], row=wr + 2 * i, col=wc + 2 * j)
    kernel = k.build()
    assert any(rows >= 5 for rows, _ in checked_sizes(kernel).grids)
    errors = [d for d in diagnose(kernel) if d.severity == "error"]
    assert any(d.loc is not None and d.loc.line == _line_of("BUG block-condition") for d in errors), errors


def hopper(bug: Optional[str] = None) -> m.Kernel:
    """examples/hopper_tma_wgmma.py (TMA ring, mbarriers, wgmma, persistent) at a small size."""
    stages, block_n = 2, 128
    k = tg.Kernel("hopper", warps=12, block=(128, block_n), k_step=64, c_dtype="f32", persistent=3)
    As = k.shared("As", 128, 64, buffers=stages, layout="tma")
    Bs = k.shared("Bs", 64, block_n, buffers=stages, layout="tma")
    full = k.mbarrier("full", arrivals=1, count=stages)
    empty = k.mbarrier("empty", arrivals=8, count=stages)
    producer = k.role("producer", range(0, 4), max_registers=40)
    consumers = k.role("consumer", range(4, 12), max_registers=232)
    with producer, k.tiles(), k.one_thread(), k.k_loop() as kt:
        step = k.k_done + kt
        k.wait_barrier(empty[step % stages], (step // stages + 1) % 2)
        k.arrive(full[step % stages], expect_bytes=k.tile_bytes(As, Bs))
        k.tma_load(As[step % stages], "A", kt, barrier=full[step % stages])
        k.tma_load(Bs[step % stages], "B", kt, barrier=full[step % stages])
    with consumers:
        acc = k.accumulator("C_accum", 16, block_n)
        if bug == "hopper-zero-once":
            k.zero(acc)  # BUG hopper-zero-once
        with k.tiles():
            if bug is None:
                k.zero(acc)
            with k.k_loop() as kt:
                if bug == "hopper-zero-in-k-loop":
                    k.zero(acc)  # BUG hopper-zero-in-k-loop
                step = k.k_done + kt
                k.wait_barrier(full[step % stages], (step // stages) % 2)
                k.wgmma(acc, As[step % stages], Bs[step % stages], a_slice=consumers.warp // 4)
                k.wgmma_wait(acc, 0)
                k.arrive(empty[step % stages])
            k.store(acc, row=consumers.warp)  # BUG-STORE
    return k.build()


@pytest.mark.parametrize(
    ("bug", "rule"),
    [("hopper-zero-once", "accumulators.foreign-sums"), ("hopper-zero-in-k-loop", "accumulators.missing-k")],
)
def test_wgmma_accumulators_are_checked_too(bug: str, rule: str) -> None:
    assert [d for d in diagnose(hopper(), "sm_90a") if d.severity == "error"] == []
    errors = [d for d in diagnose(hopper(bug), "sm_90a") if d.rule == rule]
    assert errors, [str(d) for d in diagnose(hopper(bug), "sm_90a")]
    assert errors[0].loc is not None and errors[0].loc.line == _line_of("BUG-STORE")
    assert f"{HERE}:{_line_of(f'BUG {bug}')}" in errors[0].message


def test_a_duplicated_wgmma_is_a_k_step_summed_twice() -> None:
    """Found by the mutation property: a second wgmma on the same stage fill."""
    from tilegen.testing import _replace_at

    kernel = hopper()
    index = next(i for i, op in enumerate(m.walk(kernel.body)) if isinstance(op, m.Wgmma))
    twice = _replace_at(kernel, index, lambda op: [op, op])
    errors = [d for d in diagnose(twice, "sm_90a") if d.rule == "accumulators.foreign-sums"]
    assert errors and "a second time" in errors[0].message and errors[0].waves == tuple(range(4, 12))


def test_the_hopper_example_with_its_tma_epilogue_is_checked_for_missing_k() -> None:
    from tilegen.testing import _replace_at, load_example

    kernel = load_example("hopper_tma_wgmma").kernel()
    assert [d for d in diagnose(kernel, "sm_90a") if d.severity == "error"] == []
    ops = list(m.walk(kernel.body))
    zero = next(i for i, op in enumerate(ops) if isinstance(op, m.Zero))
    loop = next(i for i, op in enumerate(ops) if isinstance(op, m.For) and i > zero)
    moved = _replace_at(kernel, loop, lambda op: [op.model_copy(update={"body": [ops[zero], *op.body]})])
    moved = _replace_at(moved, zero, lambda op: [])
    errors = [d for d in diagnose(moved, "sm_90a") if d.rule == "accumulators.missing-k"]
    assert errors and "of the 128 K elements" in errors[0].message
