"""The HIP emitter: a validated ``ir.Kernel`` -> HipKittens-style HIP source.

Python makes every decision (where a tile is declared, which barrier a point needs, how the block
finds its output tile, how the epilogue may treat an accumulator, what each comment says); the
jinja2 templates in ``templates/`` hold every piece of C++ syntax. The contract with the runtime
and the compile step is docs/architecture.md ("The emitted module") and docs/runtime-api.md;
docs/emitted-code.md walks through an emitted file block by block.

Output is deterministic: the same kernel and target give the same bytes (no timestamps, no
absolute paths; source locations are printed as the builder recorded them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import jinja2

from backends.hip.block_order_code import Assign, BlockOrder, Let, When, block_order
from backends.hip.launch import tensor_maps
from ir import models as m
from ir.expr import (
    BLOCK_COL,
    BLOCK_ROW,
    K_DONE,
    NUM_K_TILES,
    WARP,
    Arith,
    BoolOp,
    Cmp,
    Const,
    Expr,
    Not,
    Var,
    evaluate,
    free_vars,
    linear_terms,
    simplify,
    to_cpp,
    to_text,
)
from ir.names import IDENTIFIER
from ir.plan import plan
from ir.resources import dynamic_shared_memory
from ir.semantics import Semantics, b_shape, group_member, has_semantics, missing_index, spurious_index
from ir.targets import Target, get_target
from ir.validate import validate

TEMPLATES = Path(__file__).resolve().parent / "templates"

#: The header remark of an AMD file that uses tilegen extensions (anything in ``tg::``): once per
#: file, listing them. NVIDIA files never carry it (HipKittens is not their reference).
EXTENSION_NOTE = "tilegen extensions (not in HipKittens; docs/hipkittens-compat.md says how to supply them)"
_EXTENSION_CALL = re.compile(r"\btg::(\w+)")

#: C++ names of the schedule's builtin variables; loop variables keep their own names.
BUILTIN_NAMES = {
    WARP: "warp_id",
    BLOCK_ROW: BLOCK_ROW,
    BLOCK_COL: BLOCK_COL,
    NUM_K_TILES: NUM_K_TILES,
    K_DONE: K_DONE,
}



def emit(kernel: m.Kernel, target: str = "gfx942", *, module_name: Optional[str] = None) -> str:
    """HIP source of ``kernel`` for ``target``, after validating it.

    ``module_name`` names the pybind11 module (``PYBIND11_MODULE``); it defaults to
    ``tilegen_<kernel name>``. Raises ``ScheduleError`` when the schedule breaks a rule of the
    validator; a schedule that validates for ``target`` always emits (the names and shapes the
    C++ needs are validator rules: ``structure.names``, ``structure.references``,
    ``collectives.group-store-share``).
    """
    spec = get_target(target)
    validate(kernel, target=spec.name)  # raises ScheduleError, every diagnostic attached, on any error
    return render(kernel, spec.name, module_name=module_name)


def render(kernel: m.Kernel, target: str = "gfx942", *, module_name: Optional[str] = None) -> str:
    """``emit`` without running the validator: for callers that have just validated ``kernel``
    for ``target`` (the compile step) and for tests of the emitter's own mechanics."""
    spec = get_target(target)
    module = module_name if module_name is not None else f"tilegen_{kernel.name}"
    if not IDENTIFIER.match(module):
        raise ValueError(f"module_name `{module}` is not a C identifier; use letters, digits and underscores")
    context = _Emitter(kernel, spec).context(module)
    template = _environment().get_template("module.cpp.j2")
    # Render once to learn which tg:: extensions the body calls, then again with the header
    # listing them (the header precedes the body, which Python has fully decided already).
    first = template.render(**context, extensions=[], waits_shared_loads=False)
    context["extensions"] = list(dict.fromkeys(f"tg::{name}" for name in _EXTENSION_CALL.findall(first)))
    # The body waits for shared -> register loads built against HipKittens (module.cpp.j2 says why).
    context["waits_shared_loads"] = "TG_WAIT_SHARED_LOADS();" in first
    return _tidy(template.render(**context))


# --------------------------------------------------------------------------------------------
# Templates and layout
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.globals["EXTENSION_NOTE"] = EXTENSION_NOTE
    return env


def _tidy(text: str) -> str:
    """One layout whatever the template whitespace: no trailing spaces, at most one blank line in
    a row, none right after an opening brace or right before a closing one."""
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if not line and (not out or not out[-1] or out[-1].endswith("{")):
            continue
        if line.lstrip().startswith("}") and out and not out[-1]:
            out.pop()
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# What the templates receive
# --------------------------------------------------------------------------------------------


@dataclass
class Node:
    """One block of the kernel body: a comment naming the schedule step and its Python line(s),
    and what the block holds. ``kind`` selects the macro in templates/body.j2."""

    kind: str
    comment: str
    extension: bool = False
    #: Leaf ops (``steps``), declarations (``decls``), scalar definitions (``lets``).
    items: list[dict[str, Any]] = field(default_factory=list)
    body: list[Node] = field(default_factory=list)
    orelse: list[Node] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


def where(locs: Iterable[m.SourceLoc]) -> str:
    """``examples/k.py:12-14, 20`` for the given locations, files in first-seen order."""
    by_file: dict[str, set[int]] = {}
    for loc in locs:
        by_file.setdefault(loc.file, set()).add(loc.line)
    parts = []
    for file, lines in by_file.items():
        parts.append(f"{file}:{_line_ranges(sorted(lines))}")
    return ", ".join(parts)


def _line_ranges(lines: list[int]) -> str:
    runs: list[list[int]] = []
    for line in lines:
        if runs and line == runs[-1][-1] + 1:
            runs[-1].append(line)
        else:
            runs.append([line])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def _names_listed(names: Iterable[str]) -> str:
    unique = list(dict.fromkeys(names))
    return ", ".join(unique)


# --------------------------------------------------------------------------------------------
# The emitter
# --------------------------------------------------------------------------------------------

_LEAF_KINDS = (
    "zero",
    "copy",
    "group_load",
    "stage_load",
    "stage_store",
    "async_wait",
    "load_shared",
    "mma",
    "store",
    "store_shared",
    "group_store",
    "barrier",
    "tma_load",
    "arrive",
    "wait_barrier",
    "wgmma",
    "wgmma_wait",
    "proxy_fence",
    "store_tma",
)
_CONTROL_KINDS = ("for", "if", "role", "for_tiles", "cluster", "one_thread")
#: Every op kind of the IR this emitter turns into code (tests compare it with ir.models.Stmt).
HANDLED_KINDS = frozenset(_LEAF_KINDS + _CONTROL_KINDS)


class UnvalidatedKernel(RuntimeError):
    """``render`` met a schedule that breaks a validator rule: it was not validated for this
    target. The emitter has no rules of its own (``emit`` validates first)."""


def _unvalidated(loc: Optional[m.SourceLoc], rule: str) -> UnvalidatedKernel:
    return UnvalidatedKernel(
        f"the schedule at {loc} breaks validator rule `{rule}`; call emit() (which validates) or validate() first"
    )


class _Emitter:
    def __init__(self, kernel: m.Kernel, target: Target):
        self.kernel = kernel
        self.target = target
        self.launch = kernel.launch
        self.persistent = kernel.launch.persistent_blocks is not None
        self.order: BlockOrder = block_order(kernel.launch)  # structure.launch validated the launch
        self.dims = _Dims(kernel)
        self.grid_names = _grid_names(kernel)
        self.cpp_names = {**BUILTIN_NAMES, **{name: name for _, name in self.grid_names}}
        self.used_grid_names: set[str] = set()
        self.roll_var = next(v for v in ("i", "j", "t", "e", "ii") if v not in _schedule_names(kernel))
        self.group_sizes: set[int] = set()
        self.uses_extensions = False
        self.uses_algorithm = False
        self.semantics = Semantics(kernel)
        #: Every decision about the schedule (barrier kinds, in-place epilogues, role chains,
        #: budgets, declarations) is the plan's, made before validation (ir/plan.py).
        self.plan = plan(kernel, self.semantics)
        self.budget_in_branch = self.plan.budget_in_branch
        self.hoisted = self.plan.hoisted
        self.one_thread_first, self.in_one_thread = _one_thread_sites(kernel)
        #: One tensor map per TMA-loaded shared tile: (globals member, tile type, operand).
        self.tma_maps = _tensor_maps(kernel)

    # -- expressions -----------------------------------------------------------------------------
    def _cpp(self, expr: Expr) -> str:
        """C++ of a schedule expression: constants folded, warp-grid coordinates by their names."""
        return to_cpp(simplify(self._named(expr)), self.cpp_names)

    def _named(self, expr: Expr) -> Expr:
        """``expr`` with each subexpression that folds to a named one (a warp-grid coordinate, a
        role's warp index) replaced by its name; names first, so folding cannot split them."""
        folded = simplify(expr)
        for grid_expr, name in self.grid_names:
            if folded == grid_expr:
                self.used_grid_names.add(name)
                return Var(name=name)
        if isinstance(expr, Arith):
            return Arith(op=expr.op, lhs=self._named(expr.lhs), rhs=self._named(expr.rhs))
        if isinstance(expr, Cmp):
            return Cmp(op=expr.op, lhs=self._named(expr.lhs), rhs=self._named(expr.rhs))
        if isinstance(expr, BoolOp):
            return BoolOp(op=expr.op, args=tuple(self._named(a) for a in expr.args))
        if isinstance(expr, Not):
            return Not(arg=self._named(expr.arg))
        return expr

    def _coord(self, row: Expr, col: Expr) -> str:
        return f"{{0, 0, {self._cpp(row)}, {self._cpp(col)}}}"

    def _role_cond(self, role: m.Role) -> str:
        """The test for "this wave is in ``role``", without the halves that are always true."""
        end = role.first + role.count
        parts = []
        if role.first > 0:
            parts.append(f"warp_id >= {role.first}")
        if end < self.launch.num_warps:
            parts.append(f"warp_id < {end}")
        return " && ".join(parts) or "true"

    def _reg_type(self, tile: m.RegisterTile) -> str:
        base = "rt_bf" if tile.dtype == "bf16" else "rt_fl"
        layout = ", ducks::rt_layout::col" if tile.layout == "col" else ""
        rows, cols = self.dims.of(tile.name, tile.rows, tile.cols)
        return f"{base}<{rows}, {cols}{layout}>"

    def _shared_type(self, name: str, rows: int, cols: int, dtype: str = "bf16") -> str:
        r, c = self.dims.of(name, rows, cols)
        return f"{'st_bf' if dtype == 'bf16' else 'st_fl'}<{r}, {c}>"

    # -- declarations --------------------------------------------------------------------------
    def _decl_nodes(self, names: set[str], heading: str) -> list[Node]:
        nodes = []
        registers = [t for t in self.kernel.registers if t.name in names]
        if registers:
            items = [
                {"kind": "register", "type": self._reg_type(t), "name": t.name, "count": t.count} for t in registers
            ]
            comment = f"{heading} ({where(t.loc for t in registers)})"
            notes = [
                f"{t.name}: declared here because {self.hoisted[t.name]}" for t in registers if t.name in self.hoisted
            ]
            nodes.append(Node("decls", comment, items=items, info={"notes": notes}))
        stages = [s for s in self.kernel.stages if s.name in names]
        if stages:
            self.uses_extensions = True
            items = [
                {
                    "kind": "stage",
                    "type": self._shared_type(s.name, s.rows, s.cols),
                    "group": s.group_size,
                    "name": s.name,
                }
                for s in stages
            ]
            held = "registers holding this wave's share of a tile in flight"
            comment = f"Stage buffers: {held} ({where(s.loc for s in stages)})"
            notes = [
                f"{s.name}: declared here because {self.hoisted[s.name]}" for s in stages if s.name in self.hoisted
            ]
            nodes.append(Node("decls", comment, extension=True, items=items, info={"notes": notes}))
        return nodes

    # -- the module ----------------------------------------------------------------------------
    def context(self, module_name: str) -> dict[str, Any]:
        kernel, launch = self.kernel, self.launch
        kernel_scope = {
            t.name for t in [*kernel.registers, *kernel.stages] if t.scope == "kernel" or t.name in self.hoisted
        }
        nodes: list[Node] = []
        if kernel.shared:
            shared = [
                {
                    "type": _tma_type(t) if t.layout == "tma" else self._shared_type(t.name, t.rows, t.cols, t.dtype),
                    "name": t.name,
                    "buffers": t.buffers,
                }
                for t in kernel.shared
            ]
            nodes.append(
                Node(
                    "shared",
                    f"Shared tiles: {dynamic_shared_memory(kernel, self.target)} bytes of dynamic shared memory "
                    f"({where(t.loc for t in kernel.shared)})",
                    extension=any(t.layout == "tma" for t in kernel.shared),
                    items=shared,
                )
            )
        if kernel.mbarriers:
            self.uses_extensions = True
            rings = [{"name": r.name, "count": r.count, "arrivals": r.arrivals} for r in kernel.mbarriers]
            nodes.append(
                Node(
                    "mbarriers",
                    "mbarriers: one thread sets each one's arrival count, fences the initialisation for the TMA "
                    f"unit, and a block barrier publishes them ({where(r.loc for r in kernel.mbarriers)})",
                    extension=True,
                    items=rings,
                )
            )
        nodes += self._decl_nodes(kernel_scope, "Register tiles of every wave")
        body = self._body(kernel.body)
        scalars = self._scalars()
        if scalars:
            what = "Which wave this is"
            if self.used_grid_names:
                what += ", where it sits in its warp grid"
                what += f" ({where(g.loc for g in kernel.warp_grids)})"
            nodes.append(Node("lets", f"{what}, and the problem's K steps (K = g.a.cols())", items=scalars))
        nodes += self._budget_nodes()
        nodes += body
        if self.order.kind == "persistent":
            self.uses_algorithm = True
        name = kernel.name
        return {
            "kernel": kernel,
            "target": self.target,
            "launch": launch,
            "where_kernel": where([kernel.loc]),
            "function": kernel.loc.function,
            "b_kn": kernel.globals.b_layout == "kn",
            "c_type": "float" if kernel.globals.c_dtype == "f32" else "bf16",
            "order": self.order,
            "group_sizes": sorted(self.group_sizes),
            "uses_extensions": self.uses_extensions,
            "std_headers": ["algorithm", "stdexcept", "string"] if self.uses_algorithm else ["stdexcept", "string"],
            "globals_name": f"{name}_globals",
            "kernel_fn": f"{name}_kernel",
            "dispatch_fn": f"dispatch_{name}",
            "module_name": module_name,
            "shared_bytes": dynamic_shared_memory(kernel, self.target),
            "nodes": nodes,
            "launch_bounds_min": launch_bounds_min(launch, self.target),
            "dim_constants": self.dims.constants,
            "vendor": self.target.vendor,
            "tma_maps": self.tma_maps,
        }

    def _scalars(self) -> list[dict[str, str]]:
        used: set[str] = set()
        for op in m.walk(self.kernel.body):
            for expr in self.semantics.of(op).exprs:
                used |= free_vars(expr)
            if isinstance(op, (m.RoleBranch, m.GroupStore)):
                used.add(WARP)
        if any(not placed for placed in self.budget_in_branch.values()):
            used.add(WARP)
        scalars = []
        if WARP in used or self.used_grid_names:
            scalars.append({"name": "warp_id", "value": "kittens::warpid()"})
        for expr, name in self.grid_names:
            if name in self.used_grid_names:
                scalars.append({"name": name, "value": to_cpp(expr, BUILTIN_NAMES)})
        if NUM_K_TILES in used or (K_DONE in used and self.persistent):  # k_done counts in K steps
            scalars.append({"name": NUM_K_TILES, "value": "g.a.cols() / K_STEP"})
        return scalars

    # -- statements ----------------------------------------------------------------------------
    def _body(self, body: list[m.Stmt]) -> list[Node]:
        """Nodes for ``body``; the plan says which ops run in uniform code (a barrier elsewhere is
        reached by some waves only, so it is matched by count)."""
        nodes: list[Node] = []
        run: list[m.Stmt] = []
        tiles_here = sum(isinstance(op, m.ForTiles) for op in body)

        def flush() -> None:
            if run:
                nodes.append(self._steps(list(run)))
                run.clear()

        for op in body:
            if op.kind in _CONTROL_KINDS:
                flush()
                if isinstance(op, m.ForTiles):
                    nodes += self._for_tiles(op, inline=tiles_here == 1)
                else:
                    nodes.append(self._control(op))
                continue
            if op.kind not in _LEAF_KINDS:
                raise NotImplementedError(f"the HIP emitter has no code for op kind `{op.kind}` ({op.loc})")
            if run and self._category(run[-1]) != self._category(op):
                flush()
            run.append(op)
        flush()
        return _chain_roles(nodes)

    def _control(self, op: m.Stmt) -> Node:
        if isinstance(op, m.For):
            label = op.label or f"Loop over {op.var}"
            return Node(
                "for",
                _say(f"{label[0].upper()}{label[1:]}", [op.loc]),
                body=self._body(op.body),
                info={"var": op.var, "start": self._cpp(op.start), "stop": self._cpp(op.stop), "unroll": op.unroll},
            )
        if isinstance(op, m.If):
            return Node(
                "if",
                _say(_describe_condition(op.cond), [op.loc]),
                body=self._body(op.then),
                orelse=self._body(op.orelse),
                info={"cond": self._cpp(op.cond)},
            )
        if isinstance(op, m.Cluster):
            return self._cluster(op)
        if isinstance(op, m.OneThread):
            return Node(
                "one_thread",
                f"One thread (lane 0 of wave {self.one_thread_first[id(op)]}) issues these ({where([op.loc])})",
                body=self._body(op.body),
                info={"warp": self.one_thread_first[id(op)]},
            )
        assert isinstance(op, m.RoleBranch)
        role = self.kernel.role(op.role)
        inner: list[Node] = []
        if self.budget_in_branch.get(role.name):
            inner.append(self._budget_node(role))
        declared = set(self.plan.declared_in_branch.get(id(op), ()))
        inner += self._decl_nodes(declared, f"Register tiles of role `{role.name}`")
        inner += self._body(op.body)
        if any(isinstance(inner_op, m.StoreTma) for inner_op in m.walk(op.body)):
            inner.append(
                Node(
                    "steps",
                    "The TMA stores this warpgroup issued complete before the block ends",
                    extension=True,
                    items=[{"kind": "store_drain", "extension": True}],
                )
            )
        return Node(
            "role",
            _say(f"Role `{role.name}`: {_waves(role)}", [op.loc]),
            body=inner,
            info={"role": role.name, "cond": self._role_cond(role), "chained": id(op) in self.plan.chained},
        )

    def _cluster(self, op: m.Cluster) -> Node:
        """A scheduling cluster: its body at its priority, then the barrier and scheduling fence
        that close it (tg::cluster_barrier; the runtime of each target lowers both)."""
        self.uses_extensions = True
        what = f"`{op.label}`" if op.label else "cluster"
        priority = f" at priority {op.priority}" if op.priority else ""
        return Node(
            "cluster",
            f"Scheduling {what}{priority}, closed by a barrier and a scheduling fence the compiler moves "
            f"nothing across ({where([op.loc])})",
            extension=True,
            body=self._body(op.body),
            info={
                "priority": op.priority,
                "end": f"End of {what}: {'priority back to 0, ' if op.priority else ''}barrier, scheduling fence",
            },
        )

    def _budget_node(self, role: m.Role, reason: str = "") -> Node:
        self.uses_extensions = True
        return Node(
            "budget",
            f"Register budget of role `{role.name}`: {role.max_registers} per thread{reason} ({where([role.loc])})",
            extension=True,
            info={"registers": role.max_registers},
        )

    def _budget_nodes(self) -> list[Node]:
        """Budgets of roles whose code is spread over several branches (or sits in a loop): set
        once, before the body, each in a branch of its own."""
        nodes = []
        for role in self.kernel.roles:
            if role.name in self.budget_in_branch and not self.budget_in_branch[role.name]:
                budget = self._budget_node(role, ", set once here as the role's code is in several branches or a loop")
                nodes.append(
                    Node(
                        "role",
                        f"Role `{role.name}`: {_waves(role)} ({where([role.loc])})",
                        body=[budget],
                        info={"role": role.name, "cond": self._role_cond(role)},
                    )
                )
        return nodes

    def _for_tiles(self, op: m.ForTiles, inline: bool) -> list[Node]:
        order = self.order
        comment = f"Output tile: {order.description} ({where([op.loc])})"
        setup = _block_order_lines(order.grid + order.first_tile)
        coords = _block_order_lines(order.coords)
        if any(K_DONE in free_vars(e) for inner in m.walk(op.body) for e in self.semantics.of(inner).exprs):
            # The K steps of this block's earlier tiles: numbers its K steps across tiles (mbarrier rings).
            done = f"(tile_id - {order.first_name}) / static_cast<int>(gridDim.x)"
            value = f"{done} * {NUM_K_TILES}" if self.persistent else "0"
            coords.append({"kind": "let", "name": K_DONE, "value": value, "mutable": False})
        body = self._body(op.body)
        if order.kind == "persistent":
            return [
                Node(
                    "tile_loop",
                    comment,
                    body=body,
                    items=setup,
                    info={"first": order.first_name, "coords": coords},
                )
            ]
        if inline:
            return [Node("order", comment, items=setup + coords), *body]
        return [Node("tile_scope", comment, body=body, items=setup + coords)]

    # -- leaf ops ------------------------------------------------------------------------------
    def _steps(self, ops: list[m.Stmt]) -> Node:
        kind = self._category(ops[0])
        items = self._rolled(ops, [self._op(op) for op in ops])
        extension = any(item.get("extension") for item in items)
        if extension:
            self.uses_extensions = True
        return Node("steps", _say(self._describe(kind, ops), [op.loc for op in ops]), extension, items=items)

    def _rolled(self, ops: list[Any], items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Items with each run of ops that one Python line made over a whole register-tile array
        (``k.zero(acc)``, a store inside a Python loop) written as one C++ loop, as the user would."""
        out: list[dict[str, Any]] = []
        i = 0
        while i < len(ops):
            j = i + 1
            while j < len(ops) and _same_run(ops[i], ops[j], items[i], items[j]):
                j += 1
            rolled = self._roll(ops[i:j], items[i:j]) if j - i > 1 else None
            if rolled is None:
                out.append(items[i])
                i += 1
            else:
                out.append(rolled)
                i = j
        return out

    def _roll(self, ops: list[Any], items: list[dict[str, Any]]) -> Optional[dict[str, Any]]:
        n = len(ops)
        var = self.roll_var
        if isinstance(ops[0], m.Zero):
            ref = ops[0].dst
            if [op.dst.index for op in ops] != [Const(value=v) for v in range(n)]:
                return None
            return {"kind": "zero_loop", "var": var, "count": n, "dst": f"{ref.tile}[{var}]"}
        if isinstance(ops[0], m.Store):
            ref = ops[0].src
            if [op.src.index for op in ops] != [Const(value=v) for v in range(n)]:
                return None
            row = _affine(ops, "row", var)
            col = _affine(ops, "col", var)
            if row is None or col is None:
                return None
            return {
                **items[0],
                "kind": "store_loop",
                "var": var,
                "count": n,
                "src": f"{ref.tile}[{var}]",
                "row": self._cpp(row),
                "col": self._cpp(col),
                "coord": "{0, 0, global_row, global_col}",
            }
        return None

    def _describe(self, kind: str, ops: list[Any]) -> str:
        """What a block of leaf ops does, in the schedule's terms (tile names, not indices)."""
        if kind == "zero":
            return f"Zero {_names_listed(op.dst.tile for op in ops)}"
        if kind == "copy":
            return "Copy registers: " + _names_listed(f"{op.src.tile} -> {op.dst.tile}" for op in ops)
        if kind in ("group_load", "group_load_async"):
            moves = _names_listed(f"{op.src} -> {op.dst.tile}" for op in ops)
            groups = _names_listed(str(op.group_size) for op in ops)
            how = "Global -> shared" if kind == "group_load" else "Global -> shared, asynchronous until an async wait"
            return f"{how}: {moves}; groups of {groups} waves"
        if kind == "stage_load":
            moves = _names_listed(f"{op.src} -> {op.dst}" for op in ops)
            return f"Stage global -> registers, asynchronous until an async wait: {moves}"
        if kind == "stage_store":
            return "Staged registers -> shared: " + _names_listed(f"{op.src} -> {op.dst.tile}" for op in ops)
        if kind == "async_wait":
            if all(op.pending == 0 for op in ops):
                return "Wait until every asynchronous load this wave issued has landed"
            pending = _names_listed(str(op.pending) for op in ops)
            return f"Wait until this wave's asynchronous loads have landed, all but the newest {pending}"
        if kind == "load_shared":
            return "Shared -> registers: " + _names_listed(f"{op.src.tile} -> {op.dst.tile}" for op in ops)
        if kind == "mma":
            parts = []
            for op in ops:
                b = f"{op.b.tile}^T" if op.variant == "ABt" else op.b.tile
                if op.c.tile == op.d.tile:
                    parts.append(f"{op.d.tile} += {op.a.tile} @ {b}")
                else:
                    parts.append(f"{op.d.tile} = {op.a.tile} @ {b} + {op.c.tile}")
            return f"mma_{ops[0].variant}: " + _names_listed(parts)
        if kind == "store":
            return (
                "Epilogue, registers -> global: C = alpha * " + _names_listed(op.src.tile for op in ops) + " + beta * C"
            )
        if kind == "store_shared":
            return "Registers -> shared: " + _names_listed(f"{op.src.tile} -> {op.dst.tile}" for op in ops)
        if kind == "group_store":
            tiles = _names_listed(op.src.tile for op in ops)
            groups = _names_listed(str(op.group_size) for op in ops)
            return f"Epilogue, shared -> global: C = alpha * {tiles} + beta * C; groups of {groups} waves"
        if kind == "tma_load":
            moves = _names_listed(f"{op.src} -> {op.dst.tile}" for op in ops)
            bars = _names_listed(op.barrier.barrier for op in ops)
            return f"TMA global -> shared: {moves}; the bytes sign in on {bars}"
        if kind == "arrive":
            parts = [
                f"{op.barrier.barrier}" + (f" expecting {op.expect_bytes} bytes" if op.expect_bytes else "")
                for op in ops
            ]
            return "Arrive on " + _names_listed(parts)
        if kind == "wait_barrier":
            return "Wait for the phase of " + _names_listed(op.barrier.barrier for op in ops)
        if kind == "wgmma":
            parts = [f"{op.d.tile} += {op.a.tile} @ {op.b.tile}{'^T' if op.variant == 'ABt' else ''}" for op in ops]
            return "wgmma, asynchronous until a wgmma wait: " + _names_listed(parts)
        if kind == "wgmma_wait":
            pending = _names_listed(str(op.pending) for op in ops)
            return f"Wait until at most {pending} of this wave's wgmma groups are in flight"
        if kind == "store_tma":
            tiles = _names_listed(f"{op.src.tile} via {op.staging.tile}" for op in ops)
            return (
                f"Epilogue, registers -> shared -> TMA store: C = alpha * {tiles} + beta * C (beta == 0: "
                "the warpgroup does not wait for the store; else direct stores)"
            )
        if kind == "proxy_fence":
            return "Make this wave's ordinary shared writes visible to TMA and wgmma"
        if kind == "barrier":
            return "Block barrier"
        if kind == "barrier_divergent":
            return "Block barrier in divergent code: waves match barriers by count"
        raise AssertionError(kind)

    def _category(self, op: Any) -> str:
        """Leaf ops of one category in a row form one commented block."""
        if isinstance(op, m.GroupLoad) and op.is_async:
            return "group_load_async"
        if isinstance(op, m.Barrier) and not self.plan.aligned_barrier(op):
            return "barrier_divergent"
        return op.kind

    def _op(self, op: m.Stmt) -> dict[str, Any]:
        if isinstance(op, m.Zero):
            return {"kind": "zero", "dst": self._reg(op.dst, op.loc)}
        if isinstance(op, m.Copy):
            return {"kind": "copy", "dst": self._reg(op.dst, op.loc), "src": self._reg(op.src, op.loc)}
        if isinstance(op, m.GroupLoad):
            self.group_sizes.add(op.group_size)
            return {
                "kind": "group_load",
                "group": f"G{op.group_size}",
                "call": "load_async" if op.is_async else "load",
                "dst": self._shared(op.dst, op.loc),
                "src": op.src.lower(),
                "coord": self._coord(op.row, op.col),
            }
        if isinstance(op, m.StageLoad):
            stage = self.kernel.stage_buffer(op.dst)
            return {
                "kind": "stage_load",
                "extension": True,
                "group": stage.group_size,
                "dst": op.dst,
                "src": op.src.lower(),
                "coord": self._coord(op.row, op.col),
            }
        if isinstance(op, m.StageStore):
            stage = self.kernel.stage_buffer(op.src)
            return {
                "kind": "stage_store",
                "extension": True,
                "group": stage.group_size,
                "dst": self._shared(op.dst, op.loc),
                "src": op.src,
            }
        if isinstance(op, m.AsyncWait):
            # The kernel's stage buffer types: on AMD the runtime turns "P loads" into vmcnt
            # instructions with the fewest instructions one of them issues per load.
            stages = sorted(
                {f"tg::stage<{self._shared_type(s.name, s.rows, s.cols)}, {s.group_size}>" for s in self.kernel.stages}
                | {
                    f"tg::lds_load<{self._shared_type(t.name, t.rows, t.cols, t.dtype)}, {g.group_size}>"
                    for g in m.walk(self.kernel.body)
                    if isinstance(g, m.GroupLoad) and g.is_async
                    for t in (self.kernel.shared_tile(g.dst.tile),)
                }
            )
            return {"kind": "async_wait", "extension": True, "pending": op.pending, "stages": stages}
        if isinstance(op, m.LoadShared):
            return {
                "kind": "load_shared",
                "dst": self._reg(op.dst, op.loc),
                "src": self._subtile(op.src, op.dst, op.row, op.col, op.loc),
            }
        if isinstance(op, m.Mma):
            return {
                "kind": "mma",
                "call": f"mma_{op.variant}",
                "args": [self._reg(r, op.loc) for r in (op.d, op.a, op.b, op.c)],
            }
        if isinstance(op, m.Store):
            tile = self.kernel.register_tile(op.src.tile)
            return {
                "kind": "store",
                "src": self._reg(op.src, op.loc),
                "type": self._reg_type(tile),
                "coord": self._coord(op.row, op.col),
                "in_place": id(op) in self.plan.scale_in_place,
            }
        if isinstance(op, m.StoreShared):
            return {
                "kind": "store_shared",
                "src": self._reg(op.src, op.loc),
                "dst": self._subtile(op.dst, op.src, op.row, op.col, op.loc),
            }
        if isinstance(op, m.GroupStore):
            return self._group_store(op)
        if isinstance(op, m.Barrier):
            return {"kind": "barrier", "extension": not self.plan.aligned_barrier(op)}
        if isinstance(op, m.TmaLoad):
            return {
                "kind": "tma_load",
                "extension": True,
                "dst": self._shared(op.dst, op.loc),
                "map": _map_member(op.dst.tile),
                "bar": self._bar(op.barrier),
                "row": self._cpp(op.row),
                "col": self._cpp(op.col),
            }
        if isinstance(op, m.Arrive):
            return {
                "kind": "arrive",
                "extension": True,
                "bar": self._bar(op.barrier),
                "bytes": op.expect_bytes,
                "per_wave": id(op) not in self.in_one_thread,
            }
        if isinstance(op, m.WaitBarrier):
            parity = self._cpp(op.parity)
            return {"kind": "wait_barrier", "extension": True, "bar": self._bar(op.barrier), "parity": parity}
        if isinstance(op, m.Wgmma):
            return {
                "kind": "wgmma",
                "extension": True,
                "call": f"mma_{op.variant}",
                "d": self._reg(op.d, op.loc),
                "a": self._shared(op.a, op.loc),
                "slice": self._cpp(op.a_slice),
                "b": self._shared(op.b, op.loc),
            }
        if isinstance(op, m.WgmmaWait):
            return {"kind": "wgmma_wait", "extension": True, "pending": op.pending, "d": self._reg(op.d, op.loc)}
        if isinstance(op, m.ProxyFence):
            return {"kind": "proxy_fence", "extension": True}
        if isinstance(op, m.StoreTma):
            return {
                "kind": "store_tma",
                "extension": True,
                "map": _map_member(op.staging.tile),
                "staging": self._shared(op.staging, op.loc),
                "src": self._reg(op.src, op.loc),
                "row": self._cpp(op.row),
                "col": self._cpp(op.col),
            }
        raise NotImplementedError(f"the HIP emitter has no code for op kind `{op.kind}` ({op.loc})")

    def _group_store(self, op: m.GroupStore) -> dict[str, Any]:
        self.group_sizes.add(op.group_size)
        tile = self.kernel.shared_tile(op.src.tile)
        n = op.group_size
        share = tile.rows // n
        base = self.target.base_tile
        if tile.rows % n or share % base:
            raise _unvalidated(op.loc, "collectives.group-store-share")
        part_row = op.row * n + group_member(n)
        rows, cols = self.dims.of(tile.name, tile.rows, tile.cols)
        part_rows = rows if n == 1 else (f"{rows} / {n}" if not rows.isdigit() else str(share))
        return {
            "kind": "group_store",
            "group": f"G{n}",
            "n": n,
            "src": self._shared(op.src, op.loc),
            "coord": self._coord(op.row, op.col),
            "part_type": f"rt_fl<{part_rows}, {cols}>",
            "part_shape": f"{part_rows}, {cols}",
            "part_offset": f"{{{to_cpp(group_member(n), BUILTIN_NAMES)}, 0}}",
            "part_coord": f"{{0, 0, {to_cpp(simplify(part_row), BUILTIN_NAMES)}, {self._cpp(op.col)}}}",
            "share": share,
            "tile": tile.name,
        }

    # -- references ----------------------------------------------------------------------------
    def _bar(self, ref: m.BarRef) -> str:
        ring = self.kernel.mbarrier(ref.barrier)
        if ring.count == 1 and ref.index is None:
            return f"{ring.name}[0]"
        return f"{ring.name}[{self._cpp(ref.index if ref.index is not None else Const(value=0))}]"

    def _reg(self, ref: m.RegRef, loc: m.SourceLoc) -> str:
        tile = self.kernel.register_tile(ref.tile)
        if spurious_index(self.kernel, ref) or missing_index(self.kernel, ref):
            raise _unvalidated(loc, "structure.references")
        if tile.count == 1:
            return tile.name
        assert ref.index is not None
        return f"{tile.name}[{self._cpp(ref.index)}]"

    def _shared(self, ref: m.SharedRef, loc: m.SourceLoc) -> str:
        tile = self.kernel.shared_tile(ref.tile)
        if spurious_index(self.kernel, ref) or missing_index(self.kernel, ref):
            raise _unvalidated(loc, "structure.references")
        if tile.buffers == 1:
            return tile.name
        assert ref.buffer is not None
        return f"{tile.name}[{self._cpp(ref.buffer)}]"

    def _subtile(self, shared: m.SharedRef, reg: m.RegRef, row: Expr, col: Expr, loc: m.SourceLoc) -> dict[str, str]:
        """The shared operand of a register <-> shared move: the whole tile when the shapes match
        at offset (0, 0), else ``subtile_inplace<R, C>(tile, {row, col})``."""
        tile = self.kernel.shared_tile(shared.tile)
        register = self.kernel.register_tile(reg.tile)
        text = self._shared(shared, loc)
        zero = Const(value=0)
        whole = (tile.rows, tile.cols) == (register.rows, register.cols) and row == zero and col == zero
        return {
            "whole": whole,
            "tile": text,
            "shape": ", ".join(self.dims.of(register.name, register.rows, register.cols)),
            "offset": f"{{{self._cpp(row)}, {self._cpp(col)}}}",
        }


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def launch_bounds_min(launch: m.Launch, target: Target) -> int:
    """The second argument of ``__launch_bounds__``. CUDA reads it as blocks per SM; HIP reads it
    as waves per SIMD (execution unit), so on AMD ``min_blocks_per_cu`` blocks of ``num_warps``
    waves become ceil(num_warps / 4) x min_blocks_per_cu waves on each of the CU's 4 SIMDs (an
    8-wave block at one block per CU: 2, as HipKittens' 8-wave GEMMs write)."""
    if target.is_amd:
        return -(-launch.num_warps // 4) * launch.min_blocks_per_cu
    return launch.min_blocks_per_cu


def _chain_roles(nodes: list[Node]) -> list[Node]:
    """Join each role branch the plan chains (``ir.plan``: adjacent branches of different roles)
    to the branch before it, as one ``if / else if`` chain. It matters on sm_90a: ptxas applies a
    role's ``setmaxnreg`` budget to its code only when each role is one branch of a single if/else.
    """
    out: list[Node] = []
    for node in nodes:
        if node.kind == "role" and node.info.get("chained"):
            previous = out[-1]
            assert previous.kind in ("role", "role_chain"), "the plan chains a role branch to a non-role block"
            chain = previous if previous.kind == "role_chain" else Node("role_chain", "", body=[previous])
            chain.body.append(node)
            chain.comment = "Roles " + ", ".join(f"`{b.info['role']}`" for b in chain.body) + (
                ": one if / else chain, so each role's register budget applies to its own code"
            )
            out[-1] = chain
            continue
        out.append(node)
    return out


def _waves(role: m.Role) -> str:
    last = role.first + role.count - 1
    return f"wave {role.first}" if role.count == 1 else f"waves {role.first}-{last}"


def _say(what: str, locs: Iterable[m.SourceLoc]) -> str:
    """A block comment: what the block does, why in the user's words (the ``# comment`` on the
    schedule line, when there is one), and where in the Python it comes from."""
    locs = list(locs)
    notes = list(dict.fromkeys(loc.note for loc in locs if loc.note))
    text = what
    if notes:
        text += (": " if ":" not in what else "; ") + "; ".join(notes)
    return f"{text} ({where(locs)})"


def _describe_condition(cond: Expr) -> str:
    """Why a schedule branch exists, read off its condition where it has a common shape."""
    if isinstance(cond, Cmp) and cond.op == "<" and cond.rhs == Var(name=NUM_K_TILES):
        return f"Only if K step {to_text(simplify(cond.lhs))} exists (a short K has fewer steps)"
    if isinstance(cond, Cmp) and cond.op == ">" and cond.lhs == Var(name=NUM_K_TILES):
        return f"Only if there are more than {to_text(cond.rhs)} K steps"
    return f"Only where {to_text(simplify(cond))}"


def _same_run(a: Any, b: Any, item_a: dict[str, Any], item_b: dict[str, Any]) -> bool:
    """Two leaf ops one Python line made over elements of one register-tile array."""
    if type(a) is not type(b) or a.loc != b.loc:
        return False
    if isinstance(a, m.Zero):
        return a.dst.tile == b.dst.tile
    if isinstance(a, m.Store):
        return a.src.tile == b.src.tile and item_a.get("in_place") == item_b.get("in_place")
    return False


def _affine(ops: list[Any], field_name: str, var: str) -> Optional[Expr]:
    """One expression in ``var`` (0 .. len(ops)-1) giving ``getattr(ops[i], field_name)`` for every
    i: the first op's expression plus ``s * var`` or ``s * (var / c) + t * (var % c)``; None if the
    ops' expressions differ by more than a constant or the constants follow no such pattern."""
    exprs = [getattr(op, field_name) for op in ops]
    terms0, c0 = linear_terms(exprs[0])
    offsets = []
    for expr in exprs:
        terms, c = linear_terms(expr)
        if terms != terms0:
            return None
        offsets.append(c - c0)
    n, i = len(ops), Var(name=var)
    candidates: list[Expr] = [offsets[1] * i]
    candidates += [offsets[c] * (i // c) + offsets[1] * (i % c) for c in range(2, n) if n % c == 0]
    for candidate in candidates:
        if all(evaluate(candidate, {var: v}) == offsets[v] for v in range(n)):
            return exprs[0] + candidate
    return None


def _schedule_names(kernel: m.Kernel) -> set[str]:
    names = {t.name for t in [*kernel.shared, *kernel.registers, *kernel.stages, *kernel.roles]}
    return names | {op.var for op in m.walk(kernel.body) if isinstance(op, m.For)}


def _grid_names(kernel: m.Kernel) -> list[tuple[Expr, str]]:
    """(expression, C++ name) of every warp-grid coordinate: ``warp_row`` / ``warp_col`` as
    ``warp_grid`` handed them out; a later, different grid gets its role's name as a suffix. Then
    each role's local warp index, ``<role>_warp``."""
    names: list[tuple[Expr, str]] = []
    taken = _schedule_names(kernel)
    for index, grid in enumerate(kernel.warp_grids):
        suffix = "" if index == 0 else f"_{grid.role}" if grid.role else f"_{index + 1}"
        for expr, base in ((grid.row, "warp_row"), (grid.col, "warp_col")):
            folded = simplify(expr)
            if isinstance(folded, (Const, Var)) or any(folded == known for known, _ in names):
                continue
            name = base + suffix
            if name in taken or any(name == known for _, known in names):
                continue
            names.append((folded, name))
    # A role's own warp index (`role.warp`, counted from the role's first warp), where the schedule
    # uses it without a grid: `consumers_warp`, as the user's `local_warp_id`.
    for role in kernel.roles:
        local = simplify(Var(name=WARP) - role.first)
        name = f"{role.name}_warp"
        if role.first == 0 or name in taken or any(local == known for known, _ in names):
            continue
        names.append((local, name))
    return names


#: Names of the tile-shape constants, by (storage, axis): the axis of the GEMM a tile dimension
#: runs along (M, N of the output, K of the reduction).
_DIM_PREFIX = {
    ("reg", "M"): "REG_M",
    ("reg", "N"): "REG_N",
    ("reg", "K"): "DOT_SLICE",
    ("shared", "M"): "SHARED_M",
    ("shared", "N"): "SHARED_N",
    ("shared", "K"): "SHARED_SLICE",
}
_BLOCK_NAME = {"M": "BLOCK_M", "N": "BLOCK_N", "K": "K_STEP"}


class _Dims:
    """Named constants for tile dimensions, so template arguments read ``st_bf<BLOCK_M, K_STEP>``
    and ``rt_bf<REG_M, K_STEP>`` as in the user's kernels. A dimension's axis comes from how the
    schedule uses the tile (mma operand, A / B / C load or store); a dimension of the block's
    size takes the launch constant's name, a smaller one a constant defined from it."""

    def __init__(self, kernel: m.Kernel):
        launch = kernel.launch
        self.block = {"M": launch.block_m, "N": launch.block_n, "K": launch.k_step}
        b_axes = b_shape(kernel.globals.b_layout, "K", "N")
        operand_axes = {"A": ("M", "K"), "B": b_axes}
        axes: dict[str, tuple[set[str], set[str]]] = {}
        same: list[tuple[str, str]] = []

        def mark(tile: str, row: str, col: str) -> None:
            entry = axes.setdefault(tile, (set(), set()))
            entry[0].add(row)
            entry[1].add(col)

        operand_axes["C"] = ("M", "N")
        semantics = Semantics(kernel)
        for op in m.walk(kernel.body):
            if isinstance(op, (m.Mma, m.Wgmma)):
                mark(op.a.tile, "M", "K")
                mark(op.b.tile, *(("K", "N") if op.variant == "AB" else ("N", "K")))
                mark(op.d.tile, "M", "N")
                if isinstance(op, m.Mma):
                    mark(op.c.tile, "M", "N")
                continue
            if isinstance(op, m.StageStore):
                same.append((op.dst.tile, op.src))
            elif isinstance(op, m.Copy):
                same.append((op.dst.tile, op.src.tile))
            if not has_semantics(type(op)):
                continue
            effects = semantics.of(op)
            if effects.global_use is None:
                continue
            # the tile that moves to or from A, B or C runs along that matrix's axes
            axes_of = operand_axes[effects.global_use.matrix]
            for use in (*effects.shared, *effects.async_shared):
                mark(use.ref.tile, *axes_of)
            for name in (*effects.stage_reads, *effects.stage_writes):
                mark(name, *axes_of)
            for ref in (*effects.reads, *effects.writes):
                mark(ref.tile, *axes_of)
        for _ in range(2):
            for a, b in same:
                for x, y in ((a, b), (b, a)):
                    if y in axes and len(axes[y][0]) == 1 and len(axes[y][1]) == 1:
                        mark(x, next(iter(axes[y][0])), next(iter(axes[y][1])))
        # A stage buffer holds a wave's share of a shared tile: it takes the shared tile's names.
        spaces = {t.name: "shared" for t in [*kernel.shared, *kernel.stages]}
        spaces.update({t.name: "reg" for t in kernel.registers})
        self._names: dict[tuple[str, str, int], str] = {}
        #: ``constexpr int NAME = value;`` lines, in first-use order.
        self.constants: list[dict[str, str]] = []
        self._tiles: dict[str, tuple[Optional[str], Optional[str]]] = {}
        sizes = {t.name: (t.rows, t.cols) for t in [*kernel.shared, *kernel.registers, *kernel.stages]}
        for name, (rows, cols) in sizes.items():
            row_axes, col_axes = axes.get(name, (set(), set()))
            self._tiles[name] = (
                self._name(spaces[name], next(iter(row_axes)), rows) if len(row_axes) == 1 else None,
                self._name(spaces[name], next(iter(col_axes)), cols) if len(col_axes) == 1 else None,
            )

    def _name(self, space: str, axis: str, value: int) -> str:
        block = self.block[axis]
        if value == block:
            return _BLOCK_NAME[axis]
        key = (space, axis, value)
        if key not in self._names:
            prefix = _DIM_PREFIX[(space, axis)]
            taken = sum(1 for s, a, _ in self._names if (s, a) == (space, axis))
            name = prefix if taken == 0 else f"{prefix}_{taken + 1}"
            self._names[key] = name
            whole = value < block and block % value == 0
            self.constants.append(
                {"name": name, "value": f"{_BLOCK_NAME[axis]} / {block // value}" if whole else str(value)}
            )
        return self._names[key]

    def of(self, tile: str, rows: int, cols: int) -> tuple[str, str]:
        """The C++ template arguments for ``tile``'s ``rows`` and ``cols``."""
        row_name, col_name = self._tiles.get(tile, (None, None))
        return (row_name or self._any(rows), col_name or self._any(cols))

    def _any(self, value: int) -> str:
        for axis, name in _BLOCK_NAME.items():
            if self.block[axis] == value:
                return name
        for (_, _, known), name in self._names.items():
            if known == value:
                return name
        return str(value)


def _tma_type(tile: m.SharedTile) -> str:
    return f"tg::tma_tile_{'bf' if tile.dtype == 'bf16' else 'fl'}<{tile.rows}, {tile.cols}>"


def _map_member(tile: str) -> str:
    return f"tma_{tile}"


def _tensor_maps(kernel: m.Kernel) -> list[dict[str, str]]:
    """The tensor maps dispatch() makes on the host (backends/hip/launch.py: ``tensor_maps``)."""
    return [{"member": t.member, "type": _tma_type(t.tile), "src": t.operand} for t in tensor_maps(kernel)]


def _one_thread_sites(kernel: m.Kernel) -> tuple[dict[int, int], set[int]]:
    """For each OneThread block (by id): the wave whose lane 0 runs it (the first of the enclosing
    role); and the ids of every op inside one."""
    first: dict[int, int] = {}
    inside: set[int] = set()

    def visit(body: list[m.Stmt], role_first: int) -> None:
        for op in body:
            if isinstance(op, m.OneThread):
                first[id(op)] = role_first
                inside.update(id(inner) for inner in m.walk(op.body))
            here = kernel.role(op.role).first if isinstance(op, m.RoleBranch) else role_first
            for child in m.children(op):
                visit(child, here)

    visit(kernel.body, 0)
    return first, inside


def _block_order_lines(statements: Iterable[Any]) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for statement in statements:
        if isinstance(statement, Let):
            lines.append(
                {"kind": "let", "name": statement.name, "value": to_cpp(statement.value), "mutable": statement.mutable}
            )
        elif isinstance(statement, Assign):
            lines.append({"kind": "assign", "name": statement.name, "value": to_cpp(statement.value)})
        elif isinstance(statement, When):
            lines.append({"kind": "when", "cond": to_cpp(statement.cond), "body": _block_order_lines(statement.body)})
    return lines
