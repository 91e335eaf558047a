"""Collecting diagnostics with deduplication.

Trace-based rules see the same faulty op once per wave, loop iteration and problem size, and the
builder makes several ops from one Python line (``k.zero(acc)`` zeroes every element; a Python
``for`` emits one op per iteration). A ``Findings`` keeps one diagnostic per (rule, user's line,
detail): the message of the first occurrence (which names one concrete instance), the union of
the waves of all occurrences, and the other ops involved (for races: every conflicting op).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Literal, Optional

from ir import models as m
from ir.diagnostics import Diagnostic
from ir.validate.describe import describe

#: How many other ops a message lists before summarising the rest.
MAX_RELATED = 3


@dataclass
class _Entry:
    severity: Literal["error", "warning"]
    message: str
    op_text: Optional[str]
    buffer: Optional[str]
    loc: Optional[m.SourceLoc]
    fix: str
    waves: set[int] = field(default_factory=set)
    related: list[str] = field(default_factory=list)


class Findings:
    """Diagnostics of one rule, merged per (source line, key)."""

    def __init__(self, rule: str, kernel: m.Kernel):
        self.rule = rule
        self.kernel = kernel
        self._entries: dict[Hashable, _Entry] = {}

    def add(
        self,
        message: str,
        *,
        fix: str,
        op: Optional[m.Stmt] = None,
        key: Hashable = (),
        waves: Iterable[int] = (),
        buffer: Optional[str] = None,
        loc: Optional[m.SourceLoc] = None,
        related: Optional[str] = None,
        severity: Literal["error", "warning"] = "error",
    ) -> None:
        """Record one occurrence. ``related`` names another op involved; the first one is assumed
        to be in ``message`` already, later different ones are appended to it."""
        where = loc if loc is not None else (op.loc if op is not None else None)
        full_key = ((where.file, where.line) if where is not None else None, key)
        entry = self._entries.get(full_key)
        if entry is None:
            entry = _Entry(
                severity=severity,
                message=message,
                op_text=describe(op, self.kernel) if op is not None else None,
                buffer=buffer,
                loc=where,
                fix=fix,
            )
            self._entries[full_key] = entry
        entry.waves.update(waves)
        if related is not None and related not in entry.related:
            entry.related.append(related)

    def error(self, message: str, **kwargs: object) -> None:
        self.add(message, severity="error", **kwargs)  # type: ignore[arg-type]

    def warning(self, message: str, **kwargs: object) -> None:
        self.add(message, severity="warning", **kwargs)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self._entries)

    def diagnostics(self) -> list[Diagnostic]:
        return [
            Diagnostic(
                rule=self.rule,
                severity=e.severity,
                message=e.message + _also(e.related[1:]),
                op=e.op_text,
                waves=tuple(sorted(e.waves)),
                buffer=e.buffer,
                loc=e.loc,
                fix=e.fix,
            )
            for e in self._entries.values()
        ]


def _also(others: list[str]) -> str:
    if not others:
        return ""
    shown = others[:MAX_RELATED]
    more = f" and {len(others) - len(shown)} more" if len(others) > len(shown) else ""
    return f". Also with {'; '.join(shown)}{more}"
