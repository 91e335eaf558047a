"""The validator: ``validate(kernel, target)`` checks a schedule against every rule in
``ir.validate.rules.RULES`` and returns a ``ValidationReport`` (errors, warnings, resources), or
raises ``ScheduleError`` with every diagnostic when there is an error.

``check_problem(kernel, M, N, K)`` is the run-time size check the compiled function and the
simulator share.
"""

from __future__ import annotations

from typing import Union

from ir import models as m
from ir.diagnostics import Diagnostic, ScheduleError
from ir.resources import dynamic_shared_memory, register_estimate, shared_footprint
from ir.targets import Target, get_target
from ir.validate.context import TraceFailure, ValidationContext
from ir.validate.describe import describe
from ir.validate.launch_size import check_launch_size, launch_grid
from ir.validate.performance import findings as performance_findings
from ir.validate.report import ProblemSizes, Resources, ValidationReport
from ir.validate.rules import RULES, Rule
from ir.validate.rules.runtime_shapes import check_problem, supported_sizes

__all__ = [
    "RULES",
    "ProblemSizes",
    "Resources",
    "Rule",
    "ValidationContext",
    "ValidationReport",
    "check_launch_size",
    "check_problem",
    "describe",
    "diagnose",
    "launch_grid",
    "supported_sizes",
    "validate",
]


def diagnose(kernel: m.Kernel, target: Union[str, Target] = "gfx942") -> list[Diagnostic]:
    """Every diagnostic (errors and warnings) for ``kernel`` on ``target``, without raising."""
    ctx = ValidationContext(kernel, target if isinstance(target, Target) else get_target(target))
    diagnostics: list[Diagnostic] = []
    for rule in RULES:
        if rule.gate:
            diagnostics += rule.check(ctx)
    if any(d.severity == "error" for d in diagnostics):
        return diagnostics  # names, roles or variables are broken: nothing else can be trusted
    try:
        ctx.samples  # noqa: B018 - trace once, up front, so a failure is reported once
        traced = True
    except TraceFailure as failure:
        diagnostics.append(failure.diagnostic)
        traced = False
    for rule in RULES:
        if not rule.gate and (traced or not rule.needs_trace):
            diagnostics += rule.check(ctx)
    return diagnostics


def resources(kernel: m.Kernel, target: Union[str, Target] = "gfx942") -> Resources:
    """Register and shared-memory estimates and the problem sizes the schedule handles."""
    return Resources(
        registers=register_estimate(kernel, target),
        shared=shared_footprint(kernel, target),
        dynamic_shared_memory=dynamic_shared_memory(kernel, target),
        sizes=supported_sizes(kernel),
    )


def validate(kernel: m.Kernel, target: str = "gfx942") -> ValidationReport:
    """Check ``kernel`` for ``target``; raise ``ScheduleError`` (every diagnostic attached) on any
    error, else return the report with the warnings and resource estimates."""
    resolved = get_target(target)
    diagnostics = diagnose(kernel, resolved)
    if any(d.severity == "error" for d in diagnostics):
        raise ScheduleError(diagnostics, headline=f"schedule `{kernel.name}` is invalid for {resolved.name}")
    return ValidationReport(
        kernel=kernel.name,
        target=resolved.name,
        errors=[],
        warnings=[d for d in diagnostics if d.severity == "warning"],
        resources=resources(kernel, resolved),
        performance=performance_findings(kernel, resolved),
    )
