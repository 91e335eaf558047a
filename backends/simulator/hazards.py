"""The hazard model's bookkeeping: shared-memory accesses as rectangles, races between them, and
diagnostics merged across the waves and iterations that hit the same problem.

A phase has a few dozen accesses, so races are found by intersecting rectangles per (tile,
buffer) rather than by marking elements.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ir.diagnostics import Diagnostic
from ir.models import SourceLoc
from ir.semantics import Rect
from ir.trace import Event

#: What the simulator checks at run time, under the validator's rule names (``ir.validate.RULES``)
#: so one bug has one name whichever checker finds it.
RULES: dict[str, str] = {
    "races.shared-race": "two waves touch the same shared element in one barrier phase, at least one writing",
    "races.uninitialised-read": "a read of shared memory nothing wrote in an earlier phase (or this wave earlier)",
    "races.async-incomplete": (
        "an asynchronous load's target (shared tile or stage buffer) is used before the issuing wave's wait, or "
        "a wave ends with loads in flight"
    ),
    "barriers.divergent": "waves reach different numbers of barriers",
    "collectives.incomplete-group": (
        "a group collective is run by only some warps of its group, or with different coordinates"
    ),
    "shapes.global-bounds": "a load or store touches elements outside A, B or C",
    "shapes.subtile-bounds": "a subtile runs past its shared tile",
    "shapes.buffer-index": "a pipeline buffer index is missing or out of range",
    "shapes.register-index": "an index into a register-tile array is missing or out of range",
    "shapes.mma-shape": "the shapes of an mma's operands do not fit together",
    "shapes.load-dtype": "a register copy between tiles of different shapes",
    "shapes.operand-tile": "a stage buffer stored into a shared tile of another shape",
    "shapes.store-coverage": "an element of C is written twice, or never",
    "registers.read-before-write": "a register tile or stage buffer is read before this wave wrote it",
    "registers.scope": "a wave uses a register tile or stage buffer of a role it is not in",
    "structure.variables": "an expression cannot be evaluated where it runs (undefined variable, division by zero)",
    "structure.references": (
        "an op names a register tile, shared tile or stage buffer the kernel does not declare, or an array / "
        "multi-buffered tile without saying which element"
    ),
    "structure.traceable": "a wave runs more ops than any real schedule would (a loop bound is wrong)",
}


@dataclass(slots=True)
class Access:
    """One wave's access to a rectangle ``[r0, r1) x [c0, c1)`` of one buffer of a shared tile."""

    tile: str
    buffer: int
    r0: int
    r1: int
    c0: int
    c1: int
    wave: int
    write: bool
    event: Event
    #: The write of an asynchronous load that has not landed yet (it spans phases).
    in_flight: bool = False

    @property
    def rect(self) -> Rect:
        return Rect(self.r0, self.r1, self.c0, self.c1)

    def overlap(self, other: Access) -> Optional[tuple[int, int, int, int]]:
        common = self.rect.intersect(other.rect)
        return None if common is None else (common.r0, common.r1, common.c0, common.c1)


def find_races(accesses: list[Access]) -> list[tuple[Access, Access, tuple[int, int, int, int]]]:
    """Pairs of accesses from different waves to overlapping elements, at least one a write."""
    by_buffer: dict[tuple[str, int], list[Access]] = {}
    for access in accesses:
        by_buffer.setdefault((access.tile, access.buffer), []).append(access)
    races = []
    for group in by_buffer.values():
        writes = [a for a in group if a.write]
        for i, first in enumerate(writes):
            # Each write against every later write and every read (reads never race with reads).
            for second in writes[i + 1 :] + [a for a in group if not a.write]:
                if second.wave == first.wave:
                    continue
                region = first.overlap(second)
                if region is not None:
                    races.append((first, second, region))
    return races


@dataclass
class _Finding:
    rule: str
    message: str
    op: str
    loc: Optional[SourceLoc]
    buffer: Optional[str]
    fix: str
    waves: set[int] = field(default_factory=set)


class Findings:
    """Diagnostics keyed by what went wrong where; repeats on other waves or iterations only add
    their wave, so one bug gives one message however many times it fires."""

    #: A broken schedule can fire the same rule at hundreds of places; the first few say enough.
    LIMIT = 8

    def __init__(self) -> None:
        self._items: dict[tuple, _Finding] = {}

    def __bool__(self) -> bool:
        return bool(self._items)

    def add(
        self,
        rule: str,
        key: tuple,
        *,
        message: str,
        op: str,
        waves: tuple[int, ...],
        loc: Optional[SourceLoc],
        buffer: Optional[str] = None,
        fix: str = "",
    ) -> None:
        item = self._items.get((rule, *key))
        if item is None:
            if len(self._items) >= self.LIMIT:
                return
            item = _Finding(rule, message, op, loc, buffer, fix)
            self._items[(rule, *key)] = item
        item.waves.update(waves)

    def diagnostics(self, rules: Optional[set[str]] = None) -> list[Diagnostic]:
        return [
            Diagnostic(
                rule=item.rule,
                severity="error",
                message=item.message,
                op=item.op,
                waves=tuple(sorted(item.waves)),
                buffer=item.buffer,
                loc=item.loc,
                fix=item.fix,
            )
            for item in self._items.values()
            if rules is None or item.rule in rules
        ]
