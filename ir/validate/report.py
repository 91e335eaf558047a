"""What ``validate`` returns: diagnostics and the resources the schedule needs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from ir.diagnostics import Diagnostic
from ir.resources import RegisterEstimate, SharedFootprint


class ProblemSizes(BaseModel):
    """The M, N, K a compiled schedule accepts."""

    model_config = ConfigDict(frozen=True)

    edge: Literal["refuse", "pad"]
    #: M, N and K must be positive multiples of these (1 when ``edge == "pad"``).
    m_multiple: int
    n_multiple: int
    k_multiple: int
    description: str


class Resources(BaseModel):
    model_config = ConfigDict(frozen=True)

    registers: RegisterEstimate
    shared: SharedFootprint
    #: Bytes of dynamic shared memory the launch requests (the footprint, derived).
    dynamic_shared_memory: int
    sizes: ProblemSizes


class ValidationReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    kernel: str
    target: str
    errors: list[Diagnostic]
    warnings: list[Diagnostic]
    resources: Resources
    #: Choices that cost speed, each with its figure (``ir/validate/performance.py``); never errors.
    performance: list[Diagnostic] = []

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """A few lines for a terminal: resources, then every warning."""
        r = self.resources
        roles = ", ".join(f"{role.role} {role.registers}" for role in r.registers.roles)
        lines = [
            f"{self.kernel} on {self.target}: valid ({len(self.warnings)} warning(s))",
            f"  registers per lane: kernel {r.registers.kernel} of {r.registers.limit} ({roles})",
            f"  shared memory: {r.shared.total_bytes} of {r.shared.limit_bytes} bytes "
            f"(dynamic shared memory {r.dynamic_shared_memory})",
            f"  problem sizes: {r.sizes.description}",
        ]
        lines += [str(w) for w in self.warnings]
        if self.performance:
            lines.append(f"  performance ({len(self.performance)} finding(s)):")
            lines += ["  " + str(p).replace("\n", "\n  ") for p in self.performance]
        return "\n".join(lines)
