"""The decisions the emitted code embodies, made once from the IR, before validation.

The emitter used to make these on its own, out of the validator's sight. Now ``plan(kernel)``
makes them and every layer reads the same answer:

* **Uniform code and barrier kind.** An op is in uniform code when no ``If``, role branch or loop
  whose bounds depend on the warp encloses it: every wave of the block runs it together. A block
  barrier there is emitted as the aligned ``__syncthreads()``; elsewhere as ``tg::barrier()``,
  matched by count. The validator proves the choice (``barriers.aligned``: every wave reaches each
  aligned barrier the same number of times) and names the enclosing branch that splits waves with
  the same notion (``splits_waves``).
* **Accumulators scaled in place.** A ``Store``'s epilogue (alpha * acc + beta * C) scales the
  register tile itself when no later op can read it (backward liveness over the structured IR),
  else a copy. The simulator scales in place exactly there, so a liveness bug shows on the CPU,
  and the validator checks it on its traces (``registers.scaled-in-place``).
* **Role chains.** Adjacent branches of different roles are one ``if / else if`` chain (on sm_90a
  ptxas applies each role's ``setmaxnreg`` budget only then). Sound because roles never share a
  warp (``structure.roles``, a gate rule).
* **Register budgets and declarations.** A role's budget is set at the top of its branch when it
  has exactly one, outside any loop; else once before the body. A role-scoped tile is declared
  inside its role's branch when the role has one branch, outside loops, holding every use; else at
  kernel scope (``hoisted``; the emitted comment gives the reason). Registers follow live ranges, not
  declarations, so the register estimate (``ir.resources``) is the same either way.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Optional

from ir import models as m
from ir.expr import WARP, Const, free_vars
from ir.semantics import Semantics


def splits_waves(op: m.Stmt) -> bool:
    """Whether ``op`` may run its body on some waves of a block and not others (or a different
    number of times): a role branch, an ``If`` on the warp, a loop with warp-dependent bounds."""
    if isinstance(op, (m.RoleBranch, m.OneThread)):  # OneThread: one lane of one wave
        return True
    if isinstance(op, m.If):
        return WARP in free_vars(op.cond)
    if isinstance(op, m.For):
        return WARP in free_vars(op.start) | free_vars(op.stop)
    return False


def _keeps_uniform(op: m.Stmt) -> bool:
    """Whether ``op``'s body is uniform code when ``op`` is: not under any ``If`` (the emitter
    treats every condition as divergent), role branch, or warp-dependent loop."""
    return not isinstance(op, (m.If, m.RoleBranch)) and not splits_waves(op)


@dataclass(frozen=True)
class Plan:
    #: id of every op that runs in uniform code.
    uniform: frozenset[int]
    #: id of every ``Store`` whose epilogue scales its source register tile in place.
    scale_in_place: frozenset[int]
    #: id of every ``RoleBranch`` emitted as ``else if`` of the role branch before it.
    chained: frozenset[int]
    #: role name -> True: budget set at the top of its only branch; False: once before the body.
    budget_in_branch: Mapping[str, bool]
    #: id(RoleBranch) -> role-scoped tiles and stage buffers declared at the top of that branch.
    declared_in_branch: Mapping[int, tuple[str, ...]]
    #: role-scoped tile or stage buffer declared at kernel scope anyway -> why.
    hoisted: Mapping[str, str]

    def is_uniform(self, op: m.Stmt) -> bool:
        return id(op) in self.uniform

    def aligned_barrier(self, op: m.Stmt) -> bool:
        """A ``Barrier`` emitted as the aligned ``__syncthreads()``."""
        return isinstance(op, m.Barrier) and id(op) in self.uniform


def plan(kernel: m.Kernel, semantics: Optional[Semantics] = None) -> Plan:
    """The plan of ``kernel`` (cheap: one pass or two over the ops)."""
    semantics = semantics or Semantics(kernel)
    persistent = kernel.launch.persistent_blocks is not None
    uniform: set[int] = set()
    _mark_uniform(kernel.body, True, uniform)
    live = _Liveness(kernel, semantics, persistent)
    in_place = frozenset(
        op_id for op_id, (src, after) in live.store_src.items() if not _is_live(src, after)
    )
    chained: set[int] = set()
    _chain(kernel.body, persistent, chained)
    budget, declared, hoisted = _placement(kernel, semantics, persistent)
    return Plan(frozenset(uniform), in_place, frozenset(chained), budget, declared, hoisted)


def _mark_uniform(body: list[m.Stmt], uniform: bool, out: set[int]) -> None:
    for op in body:
        if uniform:
            out.add(id(op))
        for child in m.children(op):
            _mark_uniform(child, uniform and _keeps_uniform(op), out)


# -- role chains -------------------------------------------------------------------------------


def _flat(body: list[m.Stmt], persistent: bool) -> Iterator[Optional[m.Stmt]]:
    """``body`` as the emitter lays it out in one C++ block: a lone, non-persistent output-tile loop
    is inlined (after the block-order code, which breaks a chain: ``None``)."""
    inline = sum(isinstance(op, m.ForTiles) for op in body) == 1 and not persistent
    for op in body:
        if isinstance(op, m.ForTiles) and inline:
            yield None
            yield from _flat(op.body, persistent)
        else:
            yield op


def _chain(body: list[m.Stmt], persistent: bool, out: set[int]) -> None:
    roles: set[str] = set()
    previous: Optional[m.Stmt] = None
    for op in _flat(body, persistent):
        if isinstance(op, m.RoleBranch) and isinstance(previous, m.RoleBranch) and op.role not in roles:
            out.add(id(op))
            roles.add(op.role)
        else:
            roles = {op.role} if isinstance(op, m.RoleBranch) else set()
        previous = op
        if op is not None:
            for child in m.children(op):
                _chain(child, persistent, out)


# -- budgets and declarations ------------------------------------------------------------------


def _role_branches(body: list[m.Stmt], in_loop: bool, persistent: bool) -> Iterator[tuple[m.RoleBranch, bool]]:
    for op in body:
        if isinstance(op, m.RoleBranch):
            yield op, in_loop
        looping = isinstance(op, m.For) or (isinstance(op, m.ForTiles) and persistent)
        for child in m.children(op):
            yield from _role_branches(child, in_loop or looping, persistent)


def _uses(semantics: Semantics, body: list[m.Stmt]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for op in m.walk(body):
        for name in semantics.of(op).storage:
            counts[name] = counts.get(name, 0) + 1
    return counts


def _placement(
    kernel: m.Kernel, semantics: Semantics, persistent: bool
) -> tuple[dict[str, bool], dict[int, tuple[str, ...]], dict[str, str]]:
    branches: dict[str, list[tuple[m.RoleBranch, bool]]] = {}
    for branch, in_loop in _role_branches(kernel.body, False, persistent):
        branches.setdefault(branch.role, []).append((branch, in_loop))
    budget = {
        role.name: len(branches.get(role.name, [])) == 1 and not branches[role.name][0][1]
        for role in kernel.roles
        if role.max_registers is not None
    }
    uses_total = _uses(semantics, kernel.body)
    declared: dict[int, list[str]] = {}
    hoisted: dict[str, str] = {}
    for tile in [*kernel.registers, *kernel.stages]:
        if tile.scope == "kernel":
            continue
        found = branches.get(tile.scope, [])
        if len(found) != 1:
            hoisted[tile.name] = (
                f"role `{tile.scope}` has {len(found)} branches" if found else f"role `{tile.scope}` has no branch"
            )
            continue
        branch, in_loop = found[0]
        if in_loop:
            hoisted[tile.name] = f"the branch of role `{tile.scope}` is inside a loop and the tile must persist"
        elif _uses(semantics, branch.body).get(tile.name, 0) != uses_total.get(tile.name, 0):
            hoisted[tile.name] = f"it is used outside the branch of role `{tile.scope}`"
        else:
            declared.setdefault(id(branch), []).append(tile.name)
    return budget, {k: tuple(v) for k, v in declared.items()}, hoisted


# -- liveness: may the epilogue scale an accumulator in place? -----------------------------------

#: (tile, element): element None stands for "an element picked at run time".
_Key = tuple[str, Optional[int]]


def _key(ref: m.RegRef) -> _Key:
    if ref.index is None:
        return (ref.tile, 0)
    if isinstance(ref.index, Const):
        return (ref.tile, ref.index.value)
    return (ref.tile, None)


def _is_live(ref: m.RegRef, live: frozenset[_Key]) -> bool:
    tile, element = _key(ref)
    if element is None:
        return any(t == tile for t, _ in live)
    return (tile, element) in live or (tile, None) in live


class _Liveness:
    """Backward liveness of register tiles over the structured IR: for every ``Store``, what may
    be read after it (a loop may run zero times; a role branch may not run)."""

    def __init__(self, kernel: m.Kernel, semantics: Semantics, persistent: bool):
        self.persistent = persistent
        self.semantics = semantics
        self.store_src: dict[int, tuple[m.RegRef, frozenset[_Key]]] = {}
        self._body(kernel.body, frozenset())

    def _body(self, body: list[m.Stmt], live_after: frozenset[_Key]) -> frozenset[_Key]:
        live = live_after
        for op in reversed(body):
            live = self._stmt(op, live)
        return live

    def _stmt(self, op: m.Stmt, live: frozenset[_Key]) -> frozenset[_Key]:
        if isinstance(op, m.For) or (isinstance(op, m.ForTiles) and self.persistent):
            head = live  # iterate to the fixed point of the back edge
            while True:
                new = live | self._body(op.body, head)
                if new == head:
                    return head
                head = new
        if isinstance(op, m.If):
            return self._body(op.then, live) | self._body(op.orelse, live)
        if isinstance(op, (m.RoleBranch, m.OneThread)):
            return self._body(op.body, live) | live
        children = m.children(op)
        if children:  # ForTiles (one tile), Cluster and other straight-line bodies
            for child in reversed(children):
                live = self._body(child, live)
            return live
        if isinstance(op, m.Store):
            src, earlier = self.store_src.get(id(op), (op.src, frozenset()))
            self.store_src[id(op)] = (src, earlier | live)
        effects = self.semantics.of(op)
        killed = {_key(r) for r in effects.writes if _key(r)[1] is not None}
        return (live - killed) | {_key(r) for r in effects.reads}
