"""Diagnostics: what the validator and the simulator say about a schedule.

Every diagnostic names the rule, the op, the wave(s), the buffer and the user's Python line, and
says how to fix it, so a message can be acted on without reading tilegen's source.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict

from ir.models import SourceLoc


class Diagnostic(BaseModel):
    model_config = ConfigDict(frozen=True)

    rule: str
    severity: Literal["error", "warning"]
    message: str
    op: Optional[str] = None  # the op as the user would read it, e.g. "mma_AB(C_accum[1], ...)"
    waves: tuple[int, ...] = ()
    buffer: Optional[str] = None
    loc: Optional[SourceLoc] = None
    fix: str = ""

    def __str__(self) -> str:
        where = str(self.loc) if self.loc else "<no source line>"
        parts = [f"{self.severity}[{self.rule}] at {where}: {self.message}"]
        details = []
        if self.op:
            details.append(f"op: {self.op}")
        if self.waves:
            details.append(f"wave(s): {format_waves(self.waves)}")
        if self.buffer:
            details.append(f"buffer: {self.buffer}")
        if details:
            parts.append("  " + "; ".join(details))
        if self.fix:
            parts.append(f"  fix: {self.fix}")
        return "\n".join(parts)


def format_waves(waves: tuple[int, ...] | list[int]) -> str:
    """``(0, 1, 2, 3, 6)`` -> ``"0-3, 6"``."""
    ws = sorted(set(waves))
    if not ws:
        return "none"
    runs: list[str] = []
    start = prev = ws[0]
    for w in [*ws[1:], None]:
        if w is not None and w == prev + 1:
            prev = w
            continue
        runs.append(str(start) if start == prev else f"{start}-{prev}")
        if w is not None:
            start = prev = w
    return ", ".join(runs)


class ScheduleError(Exception):
    """A schedule broke a rule. ``diagnostics`` holds every error found (warnings too)."""

    def __init__(self, diagnostics: list[Diagnostic], headline: str = "the schedule is invalid"):
        self.diagnostics = list(diagnostics)
        errors = [d for d in self.diagnostics if d.severity == "error"]
        body = "\n".join(str(d) for d in errors) or "\n".join(str(d) for d in self.diagnostics)
        count = f"{len(errors)} error{'s' if len(errors) != 1 else ''}"
        super().__init__(f"{headline} ({count}):\n{body}")

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def rules(self) -> set[str]:
        return {d.rule for d in self.errors}


class SimulationError(ScheduleError):
    """The simulator caught a hazard at run time (race, uninitialised read, out of bounds...)."""

    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__(diagnostics, headline="the simulation found a hazard")
