"""Barriers: every wave of the block reaches the same number of block barriers.

Barriers are matched by count (barrier i of every wave ends phase i), not by source position, so
staggered barriers (one half of an 8-wave ping-pong syncs once before the K loop, the other half
once after it) are valid. A barrier that some waves reach more often than others is reported
with the branch that makes them disagree."""

from __future__ import annotations

from collections import Counter, defaultdict

from ir import models as m
from ir.diagnostics import Diagnostic, format_waves
from ir.validate.context import ValidationContext
from ir.validate.findings import Findings


def _by_count(counts: dict[int, int], unit: str) -> str:
    """{wave: count} -> "wave(s) 0-3: 2 times, wave(s) 4-7: 0 times"."""
    groups: dict[int, list[int]] = defaultdict(list)
    for wave, count in counts.items():
        groups[count].append(wave)
    return ", ".join(
        f"wave(s) {format_waves(waves)}: {count} {unit}{'s' if count != 1 else ''}"
        for count, waves in sorted(groups.items(), reverse=True)
    )


def check_barrier_counts(ctx: ValidationContext) -> list[Diagnostic]:
    """Every wave reaches the same number of block barriers. When they do not, blame the
    barriers that waves of one role (or of a kernel without roles) reach unevenly, naming the
    branch that splits them; when every role is consistent but the roles' totals differ, say so
    per role (role branches may each hold their own barriers, as long as the counts match)."""
    found = Findings("barriers.divergent", ctx.kernel)
    kernel = ctx.kernel
    for sample in ctx.samples:
        totals = {wave: 0 for wave in sample.traces}
        per_op: dict[int, Counter[int]] = defaultdict(Counter)
        ops: dict[int, m.Stmt] = {}
        for wave, events in sample.traces.items():
            for event in events:
                if isinstance(event.op, m.Barrier):
                    totals[wave] += 1
                    per_op[id(event.op)][wave] += 1
                    ops[id(event.op)] = event.op
        if len(set(totals.values())) == 1:
            continue
        groups: dict[str, list[int]] = defaultdict(list)  # role name -> its waves
        for wave in sample.traces:
            role = kernel.role_of_warp(wave)
            groups[role.name if role else ""].append(wave)
        blamed = False
        for op_id, counter in per_op.items():
            for waves in groups.values():
                counts = {wave: counter.get(wave, 0) for wave in waves}
                if len(set(counts.values())) == 1:
                    continue
                op = ops[op_id]
                blamed = True
                found.error(
                    f"block barrier reached unevenly{ctx.site_text(op)}: it is reached by "
                    f"{_by_count(counts, 'time')}. In total {_by_count(totals, 'barrier')} ({sample.label()}), so "
                    "the waves that reach more barriers wait forever (a hang) or pair with the wrong barrier",
                    op=op,
                    waves=waves,
                    fix="move the barrier out of the branch so every wave reaches it, or give the other waves a "
                    "matching barrier on their own path (barriers are matched by count per wave)",
                )
        if not blamed:
            per_role = ", ".join(
                f"role `{name}` (waves {format_waves(waves)}): {totals[waves[0]]}" if name
                else f"waves {format_waves(waves)} of no role: {totals[waves[0]]}"
                for name, waves in groups.items()
            )
            first = next(ops[i] for i, c in per_op.items() if len({c.get(w, 0) for w in sample.traces}) > 1)
            found.error(
                f"the roles reach different numbers of block barriers: {per_role} ({sample.label()}); barriers "
                "are matched by count, so the waves of the role with more barriers wait forever (a hang) or pair "
                "with the wrong barrier",
                op=first,
                key="roles",
                waves=list(sample.traces),
                fix="give every role's path the same number of barriers (add the missing `k.sync()` to the role "
                "with fewer, or remove the extra one)",
            )
    return found.diagnostics()


def check_aligned(ctx: ValidationContext) -> list[Diagnostic]:
    """A barrier in uniform code (``ir.plan``: under no ``if``, role branch or warp-dependent
    loop) is emitted as the aligned ``__syncthreads()``, which every wave must reach at that very
    barrier: each such barrier is reached the same number of times by every wave of the block."""
    found = Findings("barriers.aligned", ctx.kernel)
    plan = ctx.plan
    for sample in ctx.samples:
        per_op: dict[int, Counter[int]] = defaultdict(Counter)
        ops: dict[int, m.Stmt] = {}
        for wave, events in sample.traces.items():
            for event in events:
                if plan.aligned_barrier(event.op):
                    per_op[id(event.op)][wave] += 1
                    ops[id(event.op)] = event.op
        for op_id, counter in per_op.items():
            counts = {wave: counter.get(wave, 0) for wave in sample.traces}
            if len(set(counts.values())) == 1:
                continue
            found.error(
                f"this barrier is emitted as the aligned `__syncthreads()` (it is in uniform code), but the waves "
                f"reach it unevenly: {_by_count(counts, 'time')} ({sample.label()})",
                op=ops[op_id],
                waves=[w for w, n in counts.items() if n != max(counts.values())],
                fix="a barrier only some waves reach belongs inside the branch or loop that splits them (then it is "
                "matched by count); check the loop bounds around it",
            )
    return found.diagnostics()
