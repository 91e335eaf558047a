"""Properties of the HIP emitter that hold for every kernel: determinism, every declared tile and
every op reaches the code, barriers of the right kind, extensions listed, consistent layout,
and the choices the emitter makes (declaration scope, epilogue form, names it refuses).

The synthetic kernels below use the builder like a user would; between them and the examples every
op kind of the IR is covered. They go through ``render`` (no validator) where a test is about the
emitter's mechanics rather than about a schedule being correct.
"""

from __future__ import annotations

import importlib
import re
import typing
from pathlib import Path

import pytest

import tilegen as tg
from backends.hip.emitter import EXTENSION_NOTE, HANDLED_KINDS, UnvalidatedKernel, emit, render
from ir import models as m
from ir.diagnostics import ScheduleError
from ir.expr import WARP, free_vars

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("gfx942", "sm_90a")


# -- synthetic kernels ---------------------------------------------------------------------------


def all_ops_kernel() -> m.Kernel:
    """Every op kind: persistent grouped order with an XCD remap, B as N x K, bf16 C, producer
    and consumer roles with a register budget, asynchronous and staged loads, a conditional with
    an else branch, an unrolled loop, register copies, C stored through shared memory."""
    k = tg.Kernel(
        "all_ops",
        warps=8,
        block=(64, 64),
        k_step=32,
        b_layout="nk",
        c_dtype="bf16",
        order=tg.grouped(2),
        persistent=6,
        xcd=tg.xcd_remap(4, 1),
    )
    As = k.shared("As", 64, 32, buffers=2)
    Bs = k.shared("Bs", 64, 32, buffers=2)
    Cs = k.shared("Cs", 64, 64, dtype="f32")
    producer = k.role("producer", range(0, 4))
    consumer = k.role("consumer", range(4, 8), max_registers=200)
    b_stage = k.stage("b_stage", Bs, group=4, scope=producer)
    acc = k.accumulator("acc", 32, 16, count=2, scope=consumer)
    a = k.register("a_reg", 32, 32, scope=consumer)
    a_keep = k.register("a_keep", 32, 32, scope=consumer)
    b = k.register("b_reg", 16, 32, count=2, scope=consumer)
    warp_row, warp_col = k.warp_grid(2, 2, role=consumer)
    with k.tiles():
        with producer:
            k.load_tile(As[0], "A", 0, is_async=True)
            k.stage_load(b_stage, "B", 0)
            k.wait(0)
            k.stage_store(Bs[0], b_stage)
        with consumer:
            k.zero(acc)
        k.sync()
        with k.k_loop() as kt:
            with producer:
                with k.when(kt + 1 < k.num_k_tiles):
                    k.load_tile(As[(kt + 1) % 2], "A", kt + 1, is_async=True)
                    k.stage_load(b_stage, "B", kt + 1)
                    k.wait(0)
                    k.stage_store(Bs[(kt + 1) % 2], b_stage)
                with k.otherwise():
                    k.wait(0)
            with consumer:
                k.load(a, As[kt % 2], row=warp_row)
                with k.loop(2, var="h", unroll=True) as h:
                    k.load(b[h], Bs[kt % 2], row=2 * warp_col + h)
                    k.mma(acc[h], a, b[h], variant="ABt")
                k.copy(a_keep, a)
            k.sync()
        with consumer:
            for h in range(2):
                k.store_shared(Cs, acc[h], row=warp_row, col=2 * warp_col + h)
        k.sync()
        with producer:
            k.store_tile(Cs)
        k.sync()
    return k.build()


def store_then_reuse_kernel() -> m.Kernel:
    """Stores a running sum every K step (the accumulator is read again) and once at the end."""
    k = tg.Kernel("store_then_reuse", warps=1, block=(16, 16), k_step=16)
    As = k.shared("As", 16, 16)
    Bs = k.shared("Bs", 16, 16)
    acc = k.accumulator("acc", 16, 16)
    a = k.register("a_reg", 16, 16)
    b = k.register("b_reg", 16, 16, layout="col")
    k.zero(acc)
    with k.k_loop() as kt:
        k.load_tile(As, "A", kt)
        k.load_tile(Bs, "B", kt)
        k.sync()
        k.load(a, As)
        k.load(b, Bs)
        k.mma(acc, a, b)
        k.store(acc)
        k.sync()
    k.store(acc)
    return k.build()


def barrier_kinds_kernel() -> m.Kernel:
    """Barriers in uniform code, under a uniform condition, in a loop whose trip count depends
    on the wave, and closing scheduling clusters (with and without a priority)."""
    k = tg.Kernel("barrier_kinds", warps=2, block=(16, 16), k_step=16)
    k.sync()
    with k.when(k.num_k_tiles > 1):
        k.sync()
    with k.loop(k.warp + 1, var="w"):
        k.sync()
    with k.k_loop():
        k.sync()
        with k.cluster(priority=1, label="first"):
            pass
        with k.cluster():
            pass
    return k.build()


def hopper_ops_kernel() -> m.Kernel:
    """TMA loads into a ring guarded by mbarriers, wgmma and its wait, a proxy fence (sm_90a)."""
    k = tg.Kernel("hopper_ops", warps=8, block=(64, 64), k_step=64, c_dtype="bf16")
    As = k.shared("As", 64, 64, buffers=2, layout="tma")
    Bs = k.shared("Bs", 64, 64, buffers=2, layout="tma")
    full = k.mbarrier("full", arrivals=1, count=2)
    empty = k.mbarrier("empty", arrivals=4, count=2)
    Cs = k.shared("Cs", 64, 64, dtype="bf16", layout="tma")
    producer, consumer = k.role("producer", range(0, 4)), k.role("consumer", range(4, 8))
    with producer, k.one_thread(), k.k_loop() as kt:
        k.wait_barrier(empty[kt % 2], (kt // 2 + 1) % 2)
        k.arrive(full[kt % 2], expect_bytes=k.tile_bytes(As, Bs))
        k.tma_load(As[kt % 2], "A", kt, barrier=full[kt % 2])
        k.tma_load(Bs[kt % 2], "B", kt, barrier=full[kt % 2])
    with consumer:
        acc = k.accumulator("acc", 16, 64)
        k.zero(acc)
        k.proxy_fence()
        with k.k_loop() as kt:
            k.wait_barrier(full[kt % 2], (kt // 2) % 2)
            k.wgmma(acc, As[kt % 2], Bs[kt % 2], a_slice=0)
            k.wgmma_wait(acc, 0)
            k.arrive(empty[kt % 2])
        k.store_tma(acc, Cs, slice=0)
    return k.build()


def example_kernels() -> list[tuple[str, str, m.Kernel]]:
    """(example module, target, kernel) for every example and golden target."""
    import regen_helpers

    out = []
    for name in regen_helpers.example_modules():
        module = importlib.import_module(name)
        for target in TARGETS:
            out.append((name, target, module.kernel(**regen_helpers.example_params(module, target))))
    return out


def _regen_helpers() -> None:
    """Expose scripts/regen_goldens.py (discovery and target parameters) as `regen_helpers`."""
    import importlib.util
    import sys

    if "regen_helpers" in sys.modules:
        return
    spec = importlib.util.spec_from_file_location("regen_helpers", ROOT / "scripts" / "regen_goldens.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["regen_helpers"] = module


_regen_helpers()

SYNTHETIC = {
    "all_ops": all_ops_kernel,
    "store_then_reuse": store_then_reuse_kernel,
    "barrier_kinds": barrier_kinds_kernel,
    "hopper_ops": hopper_ops_kernel,
}


def all_cases() -> list[tuple[str, str, m.Kernel]]:
    cases = [(name, target, make()) for name, make in SYNTHETIC.items() for target in TARGETS]
    cases += [(name, target, kernel) for name, target, kernel in example_kernels()]
    return cases


CASES = all_cases()
IDS = [f"{name}-{target}" for name, target, _ in CASES]


def _source(kernel: m.Kernel, target: str) -> str:
    return render(kernel, target)


# -- coverage of op kinds ------------------------------------------------------------------------


def test_every_ir_op_kind_has_code() -> None:
    stmt_classes = typing.get_args(typing.get_args(m.Stmt)[0])
    kinds = {cls.model_fields["kind"].default for cls in stmt_classes}
    assert kinds == set(HANDLED_KINDS), f"IR op kinds without emitter code: {sorted(kinds - HANDLED_KINDS)}"


def test_synthetic_kernels_cover_every_op_kind() -> None:
    seen = {op.kind for make in SYNTHETIC.values() for op in m.walk(make().body)}
    assert seen == set(HANDLED_KINDS), f"not exercised: {sorted(set(HANDLED_KINDS) - seen)}"


def _code_lines(source: str) -> list[str]:
    """The code lines (comments dropped) of the ``__global__`` function."""
    kernel = source.split("__global__ __launch_bounds__", 1)[1].split("\n}\n", 1)[0]
    return [line.strip() for line in kernel.splitlines() if line.strip() and not line.strip().startswith("//")]


_ROLE_GUARD = r"(\} else )?if \((warp_id >= \d+ && warp_id < \d+|warp_id >= \d+|warp_id < \d+|true)\) \{"


def _role_guard(role: m.Role, num_warps: int) -> str:
    """The test the emitter writes for ``role``: no half that holds for every wave."""
    parts = [f"warp_id >= {role.first}"] if role.first > 0 else []
    if role.first + role.count < num_warps:
        parts.append(f"warp_id < {role.first + role.count}")
    return f"if ({' && '.join(parts) or 'true'}) {{"


def _weighted(code: list[str], kernel: m.Kernel) -> list[tuple[str, int]]:
    """Each code line with how many ops it stands for: a line inside a loop the emitter rolled
    (one Python line over an accumulator array; its variable is no schedule loop's) counts once
    per iteration, and the rolled loop's own header is not a schedule loop."""
    schedule_vars = {op.var for op in m.walk(kernel.body) if isinstance(op, m.For)}
    out: list[tuple[str, int]] = []
    stack: list[tuple[int, int]] = []  # (depth inside the rolled loop, iterations)
    depth = 0
    for line in code:
        rolled = re.fullmatch(r"for \(int (\w+) = 0; \1 < (\d+); \+\+\1\) \{", line)
        weight = 1
        for _, count in stack:
            weight *= count
        if rolled and rolled.group(1) not in schedule_vars:
            stack.append((depth + 1, int(rolled.group(2))))
            out.append(("// rolled loop", 1))
        else:
            out.append((line, weight))
        depth += line.count("{") - line.count("}")
        while stack and depth < stack[-1][0]:
            stack.pop()
    return out


def _expected_counts(kernel: m.Kernel) -> dict[str, int]:
    counts: dict[str, int] = {}
    for op in m.walk(kernel.body):
        kind = op.kind
        if isinstance(op, m.Barrier):
            kind = "barrier"
        if isinstance(op, m.GroupLoad):
            kind = "group_load_async" if op.is_async else "group_load"
        counts[kind] = counts.get(kind, 0) + 1
    return counts


#: How each op kind shows in the code: a pattern matched once per op against each code line.
_SIGNATURES = {
    "zero": r"^zero\(",
    "copy": r"^\w+(\[[^\]]+\])? = \w+(\[[^\]]+\])?;$",
    "group_load": r"^G\d+::load\(",
    "group_load_async": r"^G\d+::load_async\(",
    "stage_load": r"^tg::stage_load<\d+>\(",
    "stage_store": r"^tg::stage_store<\d+>\(",
    "async_wait": r"^tg::async_wait<\d+(, tg::(stage|lds_load)<st_(bf|fl)<[\w /]+, [\w /]+>, \d+>)*>\(\);$",
    "load_shared": r"^load\((?!c_prev|c_part)\w+(\[[^\]]+\])?, (subtile_inplace<|\w+(\[[^\]]+\])?\);)",
    "mma": r"^mma_ABt?\(",
    "store": r"^store\(g\.c, (?!c_part)",
    "store_shared": r"^store\((shared_view|\w+(\[[^\]]+\])?), (?!.*g\.c)",
    "group_store": r"^G\d+::store\(g\.c, ",
    "barrier": r"^(__syncthreads|tg::barrier)\(\);$",
    # (mbarrier initialisation loops, one-thread blocks and per-wave arrivals are not If / For ops)
    "for": r"^for \(int (?!tile_id|i = 0; i < \d+; \+\+i\) tg::init)\w+ = ",
    "if": r"^if \((?!g\.(alpha|beta)|(warp_id >= \d+ && warp_id < \d+|warp_id [<>]=? \d+|true)\)"
    r"|first_tile_id < xcd_full|tile_id < xcd_full"
    r"|threadIdx\.x == 0\)|warp_id == \d+ && kittens::laneid\(\) == 0\)|kittens::laneid\(\) == 0\) tg::arrive)",
    "for_tiles": r"^const int block_row = ",
}


@pytest.mark.parametrize(("name", "target", "kernel"), CASES, ids=IDS)
def test_every_op_reaches_the_code(name: str, target: str, kernel: m.Kernel) -> None:
    code = _code_lines(_source(kernel, target))
    weighted = _weighted(code, kernel)
    expected = _expected_counts(kernel)
    for kind, pattern in _SIGNATURES.items():
        found = sum(weight for line, weight in weighted if re.search(pattern, line))
        # a store with the copy epilogue stores `c_out`; the pattern counts it once as well
        assert found == expected.get(kind, 0), f"{kind}: {expected.get(kind, 0)} op(s) in the IR, {found} in the code"
    # A role branch opens with `if (...)`, or `} else if (...)` when it continues a chain of roles.
    guards = [i for i, line in enumerate(code) if re.fullmatch(_ROLE_GUARD, line)]
    budget_only = [
        i for i in guards if code[i + 1].startswith("tg::set_max_registers<") and code[i + 2].startswith("}")
    ]
    assert len(guards) - len(budget_only) == expected.get("role", 0), "role branches differ from the IR"


@pytest.mark.parametrize(("name", "target", "kernel"), CASES, ids=IDS)
def test_each_register_budget_is_set_once_inside_its_role(name: str, target: str, kernel: m.Kernel) -> None:
    code = _code_lines(_source(kernel, target))
    for role in kernel.roles:
        calls = [i for i, line in enumerate(code) if line == f"tg::set_max_registers<{role.max_registers}>();"]
        if role.max_registers is None:
            continue
        assert len(calls) == 1, f"role {role.name}: budget set {len(calls)} times"
        guard = _role_guard(role, kernel.launch.num_warps)
        assert code[calls[0] - 1] in (guard, "} else " + guard), (
            f"role {role.name}: budget not at the top of its own branch"
        )
    assert sum(line.startswith("tg::set_max_registers<") for line in code) == sum(
        r.max_registers is not None for r in kernel.roles
    )


# -- determinism ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "target", "kernel"), CASES, ids=IDS)
def test_emission_is_deterministic(name: str, target: str, kernel: m.Kernel) -> None:
    first = _source(kernel, target)
    assert _source(kernel, target) == first
    round_tripped = m.Kernel.model_validate_json(kernel.model_dump_json())
    assert _source(round_tripped, target) == first


# -- declarations --------------------------------------------------------------------------------


def _reg_type(tile: m.RegisterTile) -> str:
    layout = ", ducks::rt_layout::col" if tile.layout == "col" else ""
    return f"rt_{'bf' if tile.dtype == 'bf16' else 'fl'}<{tile.rows}, {tile.cols}{layout}>"


def _constants(source: str) -> dict[str, int]:
    """The file's ``constexpr int NAME = value;`` lines, values evaluated (``BLOCK_M / 4``)."""
    values: dict[str, int] = {}
    for name, text in re.findall(r"^constexpr int (\w+) = ([^;]+);$", source, flags=re.M):
        parts = text.split(" / ")
        if all(p in values or p.isdigit() for p in parts):
            value = int(values.get(parts[0], parts[0]))
            for p in parts[1:]:
                value //= int(values.get(p, p))
            values[name] = value
    return values


def _resolved(source: str) -> list[str]:
    """The kernel's code lines with each named size in a template argument list replaced by its
    value, so declarations can be compared with the IR's shapes."""
    values = _constants(source)

    def resolve(match: re.Match[str]) -> str:
        args = [str(values.get(a.strip(), a.strip())) for a in match.group(2).split(",")]
        return f"{match.group(1)}<{', '.join(args)}>"

    pattern = re.compile(r"\b(st_bf|st_fl|rt_bf|rt_fl|subtile_inplace)<([^<>]*)>")
    return [pattern.sub(resolve, line) for line in _code_lines(source)]


@pytest.mark.parametrize(("name", "target", "kernel"), CASES, ids=IDS)
def test_every_declared_tile_is_declared_once_with_its_type(name: str, target: str, kernel: m.Kernel) -> None:
    code = _resolved(_source(kernel, target))
    for tile in kernel.shared:
        kind = "tg::tma_tile_" if tile.layout == "tma" else "st_"
        st = f"{kind}{'bf' if tile.dtype == 'bf16' else 'fl'}<{tile.rows}, {tile.cols}>"
        if tile.buffers == 1:
            decl = f"{st} (&{tile.name}) = al.allocate<{st}>();"
        else:
            decl = f"{st} (&{tile.name})[{tile.buffers}] = al.allocate<{st}, {tile.buffers}>();"
        assert code.count(decl) == 1, f"shared tile {tile.name}: `{decl}` missing"
    for reg in kernel.registers:
        decl = f"{_reg_type(reg)} {reg.name}{f'[{reg.count}]' if reg.count > 1 else ''};"
        assert code.count(decl) == 1, f"register tile {reg.name}: `{decl}` missing"
    for stage in kernel.stages:
        decl = f"tg::stage<st_bf<{stage.rows}, {stage.cols}>, {stage.group_size}> {stage.name};"
        assert code.count(decl) == 1, f"stage buffer {stage.name}: `{decl}` missing"


def test_role_tiles_live_in_their_role_branch() -> None:
    kernel = importlib.import_module("k02_producer_consumer").kernel()
    lines = _source(kernel, "gfx942").splitlines()
    branch = lines.index("    } else if (warp_id >= 4) {")
    decl = lines.index("        rt_fl<REG_M, REG_N, ducks::rt_layout::col> C_accum[4];")
    assert decl > branch, "the consumer's accumulators must be declared inside the consumer branch"
    assert not any("C_accum[4];" in line for line in lines[:branch])


def test_role_tiles_of_a_role_with_several_branches_are_hoisted_with_the_reason() -> None:
    source = _source(all_ops_kernel(), "gfx942")
    assert "// acc: declared here because role `consumer` has 3 branches" in source
    assert "// b_stage: declared here because role `producer` has 3 branches" in source
    kernel_scope = source.split("void all_ops_kernel(")[1].split("if (warp_id ")[0]
    assert "rt_fl<REG_M, REG_N, ducks::rt_layout::col> acc[2];" in kernel_scope
    assert "constexpr int REG_M = BLOCK_M / 2;" in source and "constexpr int REG_N = BLOCK_N / 4;" in source


# -- barriers ------------------------------------------------------------------------------------


def _barrier_kinds(kernel: m.Kernel) -> tuple[int, int]:
    """(uniform, divergent) barriers: divergent under an If, a RoleBranch or a warp-bound loop."""
    counts = [0, 0]

    def visit(body: list[m.Stmt], uniform: bool) -> None:
        for op in body:
            if isinstance(op, m.Barrier):
                counts[0 if uniform else 1] += 1
            elif isinstance(op, m.For):
                visit(op.body, uniform and WARP not in free_vars(op.start) | free_vars(op.stop))
            elif isinstance(op, m.If):
                visit(op.then, False)
                visit(op.orelse, False)
            elif isinstance(op, m.RoleBranch):
                visit(op.body, False)
            elif isinstance(op, m.ForTiles):
                visit(op.body, uniform)

    visit(kernel.body, True)
    return counts[0], counts[1]


@pytest.mark.parametrize(("name", "target", "kernel"), CASES, ids=IDS)
def test_barriers_in_divergent_code_are_matched_by_count(name: str, target: str, kernel: m.Kernel) -> None:
    code = _code_lines(_source(kernel, target))
    uniform, divergent = _barrier_kinds(kernel)
    assert code.count("__syncthreads();") == uniform
    assert code.count("tg::barrier();") == divergent
    assert not any("__builtin_amdgcn_s_barrier" in line for line in code), "a bare s_barrier has no memory fence"


def test_barrier_kinds_by_context() -> None:
    code = _code_lines(_source(barrier_kinds_kernel(), "gfx942"))
    # top level and K loop: uniform; under a condition and in the wave-bound loop: divergent
    assert code.count("__syncthreads();") == 2
    assert code.count("tg::barrier();") == 2


# -- extensions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "target", "kernel"), CASES, ids=IDS)
def test_the_header_lists_every_extension_used_once_on_amd_only(name: str, target: str, kernel: m.Kernel) -> None:
    source = _source(kernel, target)
    used = sorted(set(re.findall(r"\btg::\w+", "\n".join(_code_lines(source)))))
    header = source.split("#include")[0]
    if target.startswith("sm_"):
        assert "HipKittens" not in source and EXTENSION_NOTE not in source
        return
    assert source.count(EXTENSION_NOTE) == (1 if used else 0)
    if used:
        listed = re.search(re.escape(EXTENSION_NOTE) + r": ([^\n]*)\.\n", header)
        assert listed is not None and sorted(listed.group(1).split(", ")) == used


def test_no_extension_no_extension_header() -> None:
    source = _source(importlib.import_module("k01_baseline_4wave").kernel(), "gfx942")
    assert "tg::" not in source and "tilegen extension" not in source


# -- layout --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "target", "kernel"), CASES, ids=IDS)
def test_layout_is_consistent(name: str, target: str, kernel: m.Kernel) -> None:
    """4-space indentation following brace depth (a wrapped line indents 4 more), no tabs, no
    trailing spaces, no double blank lines, one statement per line, one final newline."""
    source = _source(kernel, target)
    assert source.endswith("}\n") and not source.endswith("\n\n")
    assert "\t" not in source and "\n\n\n" not in source
    depth = 0
    wrapped = False
    for number, line in enumerate(source.splitlines(), 1):
        assert line == line.rstrip(), f"line {number}: trailing spaces"
        code = re.sub(r'"[^"]*"', '""', line.split("//")[0]).strip()
        if not line.strip():
            continue
        closing = code.startswith("}")
        indent = len(line) - len(line.lstrip(" "))
        expected = 4 * (depth - (1 if closing else 0)) + (4 if wrapped else 0)
        if not code.startswith("#include"):
            assert indent == expected, f"line {number}: indent {indent}, expected {expected}: {line!r}"
        assert code.count(";") <= 1 or code.startswith("for ("), f"line {number}: several statements: {line!r}"
        depth += code.count("{") - code.count("}")
        if code and not code.startswith("#"):
            wrapped = not code.endswith((";", "{", "}", ")")) or code.endswith(("(", ",", "+"))
    assert depth == 0, "unbalanced braces"


# -- epilogue ------------------------------------------------------------------------------------


def test_epilogue_scales_a_copy_when_the_tile_is_read_later() -> None:
    source = _source(store_then_reuse_kernel(), "gfx942")
    in_loop, after_loop = source.split("for (int k = 0; k < num_k_tiles; ++k) {")[1].split("\n    }\n", 1)
    assert "mul(c_out, acc, g.alpha);" in in_loop and "mul(acc, acc, g.alpha);" not in in_loop
    assert "mul(acc, acc, g.alpha);" in after_loop and "c_out" not in after_loop


@pytest.mark.parametrize(("name", "target", "kernel"), CASES, ids=IDS)
def test_every_store_applies_alpha_and_beta(name: str, target: str, kernel: m.Kernel) -> None:
    weighted = _weighted(_code_lines(_source(kernel, target)), kernel)
    stores = sum(isinstance(op, (m.Store, m.GroupStore)) for op in m.walk(kernel.body))
    assert sum(w for line, w in weighted if line.endswith("g.alpha);")) == stores
    assert sum(w for line, w in weighted if line == "mul(c_prev, c_prev, g.beta);") == stores
    assert sum(w for line, w in weighted if line == "if (g.beta != 0.f) {") == stores


def test_group_store_runs_cooperatively_or_per_wave_with_the_epilogue() -> None:
    source = _source(all_ops_kernel(), "gfx942")
    assert "if (g.alpha == 1.f && g.beta == 0.f) {" in source
    assert "G4::store(g.c, Cs, {0, 0, block_row, block_col});" in source
    assert "load(c_part, subtile_inplace<BLOCK_M / 4, BLOCK_N>(Cs, {warp_id % 4, 0}));" in source
    assert "store(g.c, c_part, {0, 0, block_row * 4 + warp_id % 4, block_col});" in source


def test_group_store_whose_share_is_not_whole_base_tiles_is_refused() -> None:
    """Was the emitter's own `emit-group-store`; now a validator rule, so emit() refuses it by
    validating and render() (unvalidated) refuses it as an unvalidated schedule."""
    k = tg.Kernel("thin_store", warps=4, block=(32, 32), k_step=16)
    Cs = k.shared("Cs", 32, 32, dtype="f32")
    k.store_tile(Cs)
    kernel = k.build()
    with pytest.raises(ScheduleError) as info:
        emit(kernel, "gfx942")
    (diagnostic,) = [d for d in info.value.errors if d.rule == "collectives.group-store-share"]
    assert diagnostic.buffer == "Cs"
    assert diagnostic.loc is not None and diagnostic.loc.file.endswith("test_emit_properties.py")
    assert "8 rows" not in diagnostic.fix and "group=2" in diagnostic.fix
    with pytest.raises(UnvalidatedKernel, match=r"collectives\.group-store-share"):
        render(kernel, "gfx942")


# -- names, module, launch -----------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["store", "warp_id", "int", "G4", "__tile", "_Tile", "band"])
def test_names_the_code_cannot_hold_are_refused_with_the_line(bad: str) -> None:
    """Was the emitter's own `emit-name`; now the validator's `structure.names`: a schedule that
    validates always emits (`band` used to validate and then fail in emit)."""
    k = tg.Kernel("names", warps=1, block=(16, 16), k_step=16)
    acc = k.accumulator(bad, 16, 16)
    k.zero(acc)
    k.store(acc)
    with pytest.raises(ScheduleError) as info:
        emit(k.build(), "gfx942")
    (diagnostic,) = [d for d in info.value.errors if d.rule == "structure.names"]
    assert f"`{bad}`" in diagnostic.message
    assert diagnostic.loc is not None and diagnostic.loc.line > 0 and diagnostic.fix


def test_loop_variable_names_are_checked_too() -> None:
    k = tg.Kernel("loops", warps=1, block=(16, 16), k_step=16)
    with k.loop(2, var="g"):
        k.sync()
    with pytest.raises(ScheduleError, match="loop variable name `g`"):
        emit(k.build(), "gfx942")


def test_module_name() -> None:
    kernel = store_then_reuse_kernel()
    assert "PYBIND11_MODULE(tilegen_store_then_reuse, m) {" in render(kernel)
    assert "PYBIND11_MODULE(mod_0123abcd, m) {" in render(kernel, module_name="mod_0123abcd")
    with pytest.raises(ValueError, match="not a C identifier"):
        render(kernel, module_name="has-dash")


def test_launch_constants_and_grid() -> None:
    source = _source(all_ops_kernel(), "gfx942")
    for line in (
        "constexpr int PERSISTENT_BLOCKS = 6;",
        "constexpr int GROUP_M = 2;",
        "constexpr int NUM_XCDS = 4;",
        "constexpr int XCD_CHUNK = 1;",
        "using _gl_C = gl<bf16, -1, -1, -1, -1>;",
        # HIP's second bound is waves per SIMD: one block of 8 waves per CU is 2 per SIMD
        "__global__ __launch_bounds__(NUM_THREADS, 2)",
        "dim3 grid() { return dim3(std::min<int>(PERSISTENT_BLOCKS, (c.rows() / BLOCK_M) * (c.cols() / BLOCK_N))); }",
        "for (int tile_id = first_tile_id; tile_id < num_tiles; tile_id += gridDim.x) {",
        "tg::set_max_registers<200>();",
        "mma_ABt(acc[h], a_reg, b_reg[h], acc[h]);",
    ):
        assert line in source, line


def test_dynamic_shared_memory_is_the_derived_figure() -> None:
    from ir.resources import dynamic_shared_memory
    from ir.targets import get_target

    kernel = all_ops_kernel()
    expected = dynamic_shared_memory(kernel, get_target("gfx942"))
    assert expected == 2 * (2 * 64 * 32 * 2) + 64 * 64 * 4
    assert f"size_t dynamic_shared_memory() {{ return {expected}; }}" in _source(kernel, "gfx942")


def test_header_names_schedule_target_and_no_machine_path() -> None:
    source = _source(store_then_reuse_kernel(), "sm_90a")
    first = source.splitlines()[:5]
    assert first[0].startswith("// store_then_reuse: C = alpha * A @ B + beta * C, HIP for sm_90a")
    assert "tests/test_emit_properties.py:" in first[1] and 'target="sm_90a"' in first[2]
    assert str(ROOT) not in source


def test_emit_validates_first() -> None:
    """emit() refuses what the validator refuses; render() is the unvalidated path."""
    k = tg.Kernel("racy", warps=4, block=(64, 64), k_step=16)
    As = k.shared("As", 64, 16)
    a = k.register("a_reg", 16, 16)
    k.load_tile(As, "A", 0)
    k.load(a, As, row=k.warp)  # no barrier between the group load and the reads: a race
    kernel = k.build()
    with pytest.raises(ScheduleError):
        emit(kernel, "gfx942")
    assert "void racy_kernel(" in render(kernel, "gfx942")
