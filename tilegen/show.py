"""A picture of a schedule for one block (``tilegen show``) and one wave's op sequence
(``tilegen trace``).

The picture is what a kernel author reasons about: waves as rows, barrier phases as columns,
each cell the ops that wave runs in that phase (hover for the op, click for every op with its
Python line), the shared buffers each phase writes and reads, the asynchronous loads in flight
from the phase that issues them to the phase whose wait completes them, and the validator's
findings marked on the cells where they happen. It is one self-contained HTML file with an
inline SVG and a few lines of script: no server, no network, it opens from the disk.

Everything comes from the per-wave traces of ``ir.trace`` (the validator's and the simulator's
abstract machine) and the effects of ``ir.semantics``, run for a small problem; nothing here
re-derives what an op does.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Optional

from pydantic import BaseModel

from ir import models as m
from ir.diagnostics import Diagnostic, ScheduleError
from ir.expr import Arith, BoolOp, Cmp, Const, Not, Var, evaluate
from ir.semantics import OpEffects, Semantics
from ir.trace import Event, Problem, wave_trace
from ir.validate.describe import describe

__all__ = ["Picture", "build_picture", "render_html", "trace_lines"]


# --------------------------------------------------------------------------------------------
# What the picture shows
# --------------------------------------------------------------------------------------------


@dataclass
class OpEntry:
    """One op one wave runs: a short label for the cell, the full call, the Python line."""

    label: str
    call: str
    loc: str
    kind: str
    findings: list[str] = field(default_factory=list)


@dataclass
class Flight:
    """An asynchronous load in flight: issued in ``issued``, complete in ``done`` (None: never
    waited for in this block)."""

    buffer: str
    what: str
    waves: list[int]
    issued: int
    done: Optional[int]
    loc: str


@dataclass
class Finding:
    severity: str
    rule: str
    text: str
    cells: list[tuple[int, int]]


@dataclass
class Picture:
    kernel: str
    target: str
    problem: Problem
    block: int
    waves: list[int]
    roles: dict[int, str]
    phases: int
    #: (wave, phase) -> the ops that wave runs in that phase, in order.
    cells: dict[tuple[int, int], list[OpEntry]]
    #: barrier i ends phase i: where it is in the Python (one of the waves' barrier lines).
    barriers: list[str]
    #: shared buffer (``As[1]``) -> {phase: "W" / "R" / "WR"}.
    buffers: dict[str, dict[int, str]]
    flights: list[Flight]
    findings: list[Finding]


def build_picture(kernel: m.Kernel, target: str = "gfx942", *, block: int = 0, k_steps: int = 3) -> Picture:
    """The picture of ``kernel`` for block ``block`` of a problem of one block tile with
    ``k_steps`` K steps (a persistent kernel's first tile)."""
    problem = Problem.smallest(kernel, k_tiles=max(1, k_steps))
    waves = list(range(kernel.launch.num_warps))
    roles = {w: (r.name if (r := kernel.role_of_warp(w)) else "") for w in waves}
    traces = {w: wave_trace(kernel, w, block, problem) for w in waves}
    semantics = Semantics(kernel)
    cells: dict[tuple[int, int], list[OpEntry]] = {}
    buffers: dict[str, dict[int, str]] = {}
    flights: dict[tuple[str, str, int, Optional[int], str], Flight] = {}
    barriers: dict[int, str] = {}
    where_ops: dict[tuple[int, str], list[tuple[int, int]]] = {}
    phases = 1
    for wave, events in traces.items():
        phase = 0
        #: per completion counter: (issue phase, buffer, what, loc) of each load in flight, oldest first
        pending: dict[str, list[tuple[int, str, str, str]]] = {}
        for event in events:
            op = event.op
            loc = _loc(op)
            if isinstance(op, m.Barrier):
                barriers.setdefault(phase, loc)
                phase += 1
                continue
            entry = OpEntry(_label(kernel, event), _resolved_call(kernel, event), loc, op.kind)
            cells.setdefault((wave, phase), []).append(entry)
            where_ops.setdefault((wave, loc), []).append((wave, phase))
            effects = semantics.of(op)
            for name, mode in _shared_access(effects, event):
                lane = buffers.setdefault(name, {})
                lane[phase] = "".join(sorted(set(lane.get(phase, "")) | set(mode), key="WRA".index))
            if effects.completes is not None:  # asynchronous: in flight until a wait retires it
                written = [_ref(u.ref, dict(event.env)) for u in effects.shared if u.write]
                target_name = (written or list(effects.stage_writes) or [op.kind])[0]
                source = getattr(op, "src", "")
                what = f"{source} -> {target_name}" if isinstance(source, str) and source else target_name
                pending.setdefault(effects.completes.counter, []).append((phase, target_name, what, loc))
            if effects.retires is not None:
                queue = pending.get(effects.retires.counter, [])
                while len(queue) > effects.retires.keep:
                    issued, name, what, where = queue.pop(0)
                    _add_flight(flights, name, what, wave, issued, phase, where)
        for queue in pending.values():
            for issued, name, what, where in queue:
                _add_flight(flights, name, what, wave, issued, None, where)
        phases = max(phases, phase + 1)
    findings = [_place(d, where_ops, cells) for d in _diagnostics(kernel, target)]
    return Picture(
        kernel=kernel.name,
        target=target,
        problem=problem,
        block=block,
        waves=waves,
        roles=roles,
        phases=phases,
        cells=cells,
        barriers=[barriers.get(i, "") for i in range(phases - 1)],
        buffers=dict(sorted(buffers.items())),
        flights=sorted(flights.values(), key=lambda f: (f.issued, f.buffer, f.waves)),
        findings=findings,
    )


def _add_flight(
    flights: dict[tuple[str, str, int, Optional[int], str], Flight],
    name: str,
    what: str,
    wave: int,
    issued: int,
    done: Optional[int],
    loc: str,
) -> None:
    key = (name, what, issued, done, loc)
    if key in flights:
        flights[key].waves.append(wave)
    else:
        flights[key] = Flight(name, what, [wave], issued, done, loc)


def _diagnostics(kernel: m.Kernel, target: str) -> list[Diagnostic]:
    from ir.validate import validate

    try:
        report = validate(kernel, target=target)
    except ScheduleError as error:
        return list(error.diagnostics)
    return [*report.warnings, *report.performance]


def _place(
    diagnostic: Diagnostic,
    where_ops: dict[tuple[int, str], list[tuple[int, int]]],
    cells: dict[tuple[int, int], list[OpEntry]],
) -> Finding:
    """The cells a finding happens in: the ops of its waves (all waves if it names none) at its
    Python line."""
    loc = str(diagnostic.loc) if diagnostic.loc else ""
    places: list[tuple[int, int]] = []
    for (wave, where), found in where_ops.items():
        if where == loc and (not diagnostic.waves or wave in diagnostic.waves):
            places += found
    places = sorted(set(places))
    text = f"{diagnostic.severity}[{diagnostic.rule}] at {loc or '<no line>'}: {diagnostic.message}"
    if diagnostic.fix:
        text += f" Fix: {diagnostic.fix}"
    for place in places:
        for entry in cells.get(place, []):
            if entry.loc == loc and text not in entry.findings:
                entry.findings.append(text)
    return Finding(diagnostic.severity, diagnostic.rule, text, places)


# --------------------------------------------------------------------------------------------
# Ops as text, with the values the wave runs them with
# --------------------------------------------------------------------------------------------


def _loc(op: Any) -> str:
    loc = getattr(op, "loc", None)
    return str(loc) if loc is not None else ""


def _value(expr: Any, env: dict[str, int]) -> Any:
    try:
        return Const(value=evaluate(expr, env))
    except (KeyError, ZeroDivisionError):
        return expr


def _resolve(value: Any, env: dict[str, int]) -> Any:
    """``value`` (an op, a reference) with every expression replaced by its value in ``env``."""
    if isinstance(value, (Var, Arith, Cmp, BoolOp, Not)):
        return _value(value, env)
    if isinstance(value, BaseModel):
        update = {}
        for name in type(value).model_fields:
            item = getattr(value, name)
            if name in ("body", "then", "orelse", "loc"):
                continue
            resolved = _resolve(item, env)
            if resolved is not item:
                update[name] = resolved
        return value.model_copy(update=update) if update else value
    return value


def _resolved_call(kernel: m.Kernel, event: Event) -> str:
    return describe(_resolve(event.op, dict(event.env)), kernel)


def _ref(ref: Any, env: dict[str, int]) -> str:
    resolved = _resolve(ref, env)
    index = getattr(resolved, "index", None) if isinstance(resolved, m.RegRef) else getattr(resolved, "buffer", None)
    if index is None:
        return resolved.tile
    return f"{resolved.tile}[{index.value if isinstance(index, Const) else index}]"


def _label(kernel: m.Kernel, event: Event) -> str:
    """A few characters for the cell: what moves where."""
    op, env = event.op, dict(event.env)
    if isinstance(op, m.GroupLoad):
        return f"{'async ' if op.is_async else ''}load {op.src} -> {_ref(op.dst, env)}"
    if isinstance(op, m.StageLoad):
        return f"stage_load {op.src} -> {op.dst}"
    if isinstance(op, m.StageStore):
        return f"stage_store {op.src} -> {_ref(op.dst, env)}"
    if isinstance(op, m.AsyncWait):
        return f"wait({op.pending})"
    if isinstance(op, m.LoadShared):
        return f"{_ref(op.dst, env)} <- {_ref(op.src, env)}"
    if isinstance(op, m.Mma):
        return f"mma {_ref(op.d, env)}"
    if isinstance(op, m.Store):
        return f"store {_ref(op.src, env)} -> C"
    if isinstance(op, m.StoreShared):
        return f"{_ref(op.src, env)} -> {_ref(op.dst, env)}"
    if isinstance(op, m.GroupStore):
        return f"store {_ref(op.src, env)} -> C"
    if isinstance(op, m.Zero):
        return f"zero {_ref(op.dst, env)}"
    if isinstance(op, m.Copy):
        return f"{_ref(op.dst, env)} = {_ref(op.src, env)}"
    call = _resolved_call(kernel, event)
    return call if len(call) <= 28 else call[:26] + ".."


def _shared_access(effects: OpEffects, event: Event) -> list[tuple[str, str]]:
    """(shared buffer, "W" / "R") the op touches, as ir.semantics says (the asynchronous proxy's
    uses included)."""
    env = dict(event.env)
    uses = [(_ref(use.ref, env), "W" if use.write else "R") for use in effects.shared]
    # the asynchronous proxy (TMA, wgmma) is ordered by mbarriers, not block barriers: its own mark
    return uses + [(_ref(use.ref, env), "A") for use in effects.async_shared]


# --------------------------------------------------------------------------------------------
# tilegen trace
# --------------------------------------------------------------------------------------------


def trace_lines(kernel: m.Kernel, wave: int, *, block: int = 0, k_steps: int = 3) -> list[str]:
    """One wave's op sequence for block ``block`` of a one-tile problem with ``k_steps`` K steps:
    each op as the HipKittens call with the values the wave runs it with, its Python line, and
    the barrier phases."""
    if not 0 <= wave < kernel.launch.num_warps:
        raise ValueError(f"wave {wave} does not exist: {kernel.name} has waves 0-{kernel.launch.num_warps - 1}")
    problem = Problem.smallest(kernel, k_tiles=max(1, k_steps))
    role = kernel.role_of_warp(wave)
    head = f"wave {wave} of block {block}{f' (role {role.name})' if role else ''}, {kernel.name}"
    lines = [f"{head} at M={problem.m}, N={problem.n}, K={problem.k} ({max(1, k_steps)} K steps)", "phase 0"]
    phase = 0
    for event in wave_trace(kernel, wave, block, problem):
        loc = _loc(event.op)
        if isinstance(event.op, m.Barrier):
            phase += 1
            lines.append(f"  -- barrier {phase - 1} ({loc}) --")
            lines.append(f"phase {phase}")
            continue
        loops = ", ".join(f"{k}={v}" for k, v in event.env.items() if k not in ("warp", "num_k_tiles"))
        call = _resolved_call(kernel, event)
        lines.append(f"  {call:<72}  {loc}{f'  [{loops}]' if loops else ''}")
    return lines


# --------------------------------------------------------------------------------------------
# tilegen show: HTML + SVG
# --------------------------------------------------------------------------------------------

_ROLE_COLOURS = ["#e8f0fe", "#fdecea", "#e6f4ea", "#fef7e0", "#f3e8fd", "#e0f7fa"]
LEFT, TOP, COL_W, LINE_H, MAX_LINES = 170, 64, 230, 15, 6


def render_html(picture: Picture) -> str:
    """The picture as one HTML file (inline SVG, inline script, no external resources)."""
    svg, height, width = _svg(picture)
    details = {
        f"{w},{p}": [
            {"call": e.call, "loc": e.loc, "findings": e.findings} for e in picture.cells.get((w, p), [])
        ]
        for w in picture.waves
        for p in range(picture.phases)
    }
    findings = "".join(
        f'<li class="finding {html.escape(f.severity)}" data-cells="{html.escape(json.dumps(f.cells))}">'
        f"{html.escape(f.text)}{'' if f.cells else ' (not tied to an op of this block)'}</li>"
        for f in picture.findings
    )
    title = f"{picture.kernel} on {picture.target}: one block, waves by barrier phase"
    p = picture.problem
    return _PAGE.format(
        title=html.escape(title),
        subtitle=html.escape(
            f"block {picture.block} of M={p.m}, N={p.n}, K={p.k}: {len(picture.waves)} waves, {picture.phases} "
            f"phases, {len(picture.buffers)} shared buffers, {len(picture.flights)} asynchronous loads, "
            f"{len(picture.findings)} validator finding(s). Hover a cell for its ops; click for each op "
            "with its Python line."
        ),
        svg=svg,
        findings=findings or "<li>none: the validator accepts this schedule without warnings</li>",
        data=html.escape(json.dumps(details, sort_keys=True), quote=False),
        width=width,
        height=height,
    )


def _svg(picture: Picture) -> tuple[str, int, int]:
    out: list[str] = []
    role_names = sorted({r for r in picture.roles.values() if r})
    colour = {name: _ROLE_COLOURS[i % len(_ROLE_COLOURS)] for i, name in enumerate(role_names)}
    width = LEFT + COL_W * picture.phases + 20
    def lines_of(wave: int) -> int:
        return max((len(picture.cells.get((wave, p), [])) for p in range(picture.phases)), default=1)

    row_heights = {w: LINE_H * (min(MAX_LINES, max(2, lines_of(w))) + 1) + 8 for w in picture.waves}
    y = TOP
    out.append(f'<text class="heading" x="8" y="{TOP - 34}">wave \\ phase</text>')
    for phase in range(picture.phases):
        x = LEFT + phase * COL_W
        out.append(f'<text class="heading" x="{x + 8}" y="{TOP - 34}">phase {phase}</text>')
        if phase < picture.phases - 1:
            bx = x + COL_W
            label = picture.barriers[phase]
            line = label.rsplit(":", 1)[-1]
            out.append(
                f'<g class="barrier" data-barrier="{phase}"><title>barrier {phase} ends phase {phase}: '
                f'{html.escape(label)}</title><line x1="{bx}" y1="{TOP - 28}" x2="{bx}" y2="{{bottom}}"/>'
                f'<text x="{bx + 4}" y="{TOP - 16}">barrier {phase}, line {html.escape(line)}</text></g>'
            )
    for wave in picture.waves:
        h = row_heights[wave]
        role = picture.roles[wave]
        fill = colour.get(role, "#f5f5f5")
        out.append(
            f'<g class="wave" data-wave="{wave}">'
            f'<rect x="0" y="{y}" width="{LEFT - 4}" height="{h - 4}" fill="{fill}"/>'
            f'<text x="8" y="{y + 18}">wave {wave}</text><text class="role" x="8" y="{y + 34}">'
            f"{html.escape(role or 'all waves')}</text></g>"
        )
        for phase in range(picture.phases):
            entries = picture.cells.get((wave, phase), [])
            x = LEFT + phase * COL_W
            severities = {f.split("[", 1)[0] for e in entries for f in e.findings}
            bad = "error" if "error" in severities else "warning" if severities else ""
            tip = "\n".join(f"{e.call}  ({e.loc})" for e in entries) or "nothing: this wave waits at the barrier"
            tip += "".join(f"\n! {f}" for e in entries for f in e.findings)
            cls = "cell" + (f" flagged {bad}" if bad else "") + (" empty" if not entries else "")
            out.append(
                f'<g class="{cls}" data-wave="{wave}" data-phase="{phase}" data-ops="{len(entries)}">'
                f"<title>{html.escape(tip)}</title>"
                f'<rect x="{x + 2}" y="{y}" width="{COL_W - 6}" height="{h - 4}" fill="{fill}"/>'
            )
            for i, entry in enumerate(entries[:MAX_LINES]):
                mark = "! " if entry.findings else ""
                out.append(
                    f'<text class="op {html.escape(entry.kind)}" x="{x + 8}" y="{y + 15 + i * LINE_H}">'
                    f"{html.escape(mark + entry.label)}</text>"
                )
            if len(entries) > MAX_LINES:
                more = len(entries) - MAX_LINES
                out.append(f'<text class="more" x="{x + 8}" y="{y + 15 + MAX_LINES * LINE_H}">+{more} more</text>')
            out.append("</g>")
        y += h
    y += 16
    heading = "shared buffers (W written, R read, A asynchronous proxy) and loads in flight"
    out.append(f'<text class="heading" x="8" y="{y + 12}">{heading}</text>')
    y += 22
    lane_y: dict[str, int] = {}
    for name, uses in picture.buffers.items():
        lane_y[name] = y
        label = html.escape(name)
        out.append(f'<g class="lane" data-buffer="{label}"><text x="8" y="{y + 15}">{label}</text>')
        for phase, mode in sorted(uses.items()):
            x = LEFT + phase * COL_W
            out.append(
                f'<rect class="use {mode}" x="{x + 2}" y="{y + 2}" width="{COL_W - 6}" height="18"><title>'
                f"{html.escape(name)} in phase {phase}: {html.escape(_uses_text(mode))}</title></rect>"
                f'<text class="usetext" x="{x + 8}" y="{y + 15}">{mode}</text>'
            )
        out.append("</g>")
        y += 26
    for flight in picture.flights:
        row = lane_y.get(flight.buffer)
        if row is None:  # a stage buffer (registers): a lane of its own
            row = lane_y[flight.buffer] = y
            out.append(f'<g class="lane" data-buffer="{html.escape(flight.buffer)}"><text x="8" y="{y + 15}">'
                       f"{html.escape(flight.buffer)} (registers)</text></g>")
            y += 26
        end = flight.done if flight.done is not None else picture.phases - 1
        x1 = LEFT + flight.issued * COL_W + COL_W // 2
        x2 = LEFT + end * COL_W + COL_W // 2
        waves = _wave_ranges(flight.waves)
        done = f"complete in phase {flight.done}" if flight.done is not None else "never waited for in this block"
        out.append(
            f'<g class="flight" data-buffer="{html.escape(flight.buffer)}" data-issued="{flight.issued}" '
            f'data-done="{"" if flight.done is None else flight.done}">'
            f"<title>asynchronous load {html.escape(flight.what)}"
            f" by waves {waves} ({html.escape(flight.loc)}): issued in phase {flight.issued}, {done}</title>"
            f'<line x1="{x1}" y1="{row + 22}" x2="{max(x2, x1 + 30)}" y2="{row + 22}" marker-end="url(#arrow)"/></g>'
        )
    bottom = y + 10
    body = "\n".join(out).replace("{bottom}", str(bottom))
    defs = (
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#e37400"/></marker></defs>'
    )
    opening = f'<svg id="schedule" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{bottom}">'
    svg = f"{opening}{defs}\n{body}\n</svg>"
    return svg, bottom, width


def _uses_text(mode: str) -> str:
    words = {"W": "written", "R": "read", "A": "used by the asynchronous proxy (TMA / wgmma; ordered by mbarriers)"}
    return ", ".join(words[c] for c in mode)


def _wave_ranges(waves: Iterable[int]) -> str:
    ordered = sorted(set(waves))
    runs: list[list[int]] = []
    for w in ordered:
        if runs and w == runs[-1][-1] + 1:
            runs[-1].append(w)
        else:
            runs.append([w])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font: 13px/1.4 system-ui, sans-serif; margin: 16px; color: #202124; }}
h1 {{ font-size: 18px; margin: 0 0 4px; }}
p.sub {{ margin: 0 0 12px; color: #5f6368; }}
svg text {{ font: 12px ui-monospace, monospace; fill: #202124; }}
svg text.heading {{ font-weight: bold; }}
svg text.role {{ fill: #5f6368; }}
svg .cell rect {{ stroke: #dadce0; }}
svg .cell.empty rect {{ fill: #fafafa; }}
svg .cell.flagged.error rect {{ stroke: #d93025; stroke-width: 3; }}
svg .cell.flagged.warning rect {{ stroke: #f29900; stroke-width: 3; }}
svg .cell.selected rect {{ stroke: #1a73e8; stroke-width: 3; }}
svg .cell {{ cursor: pointer; }}
svg text.op.mma {{ fill: #188038; }}
svg text.op.group_load, svg text.op.stage_load {{ fill: #b06000; }}
svg text.op.async_wait {{ fill: #a142f4; }}
svg text.more {{ fill: #5f6368; font-style: italic; }}
svg .barrier line {{ stroke: #5f6368; stroke-dasharray: 4 3; }}
svg .barrier text {{ fill: #5f6368; font-size: 11px; }}
svg rect.use {{ stroke: #dadce0; }}
svg rect.use.W {{ fill: #fce8b2; }} svg rect.use.R {{ fill: #d2e3fc; }} svg rect.use.WR {{ fill: #f6aea9; }}
svg rect.use.A, svg rect.use.WA, svg rect.use.RA, svg rect.use.WRA {{ fill: #e6d6f8; }}
svg .flight line {{ stroke: #e37400; stroke-width: 3; }}
#details {{ white-space: pre-wrap; background: #f8f9fa; border: 1px solid #dadce0; padding: 8px; min-height: 2em; }}
li.finding.error {{ color: #d93025; }} li.finding.warning {{ color: #b06000; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p class="sub">{subtitle}</p>
<div id="picture">{svg}</div>
<h2>Selected cell</h2>
<pre id="details">Click a cell.</pre>
<h2>Validator findings</h2>
<ul id="findings">{findings}</ul>
<script type="application/json" id="ops">{data}</script>
<script>
(function () {{
  const ops = JSON.parse(document.getElementById("ops").textContent);
  const details = document.getElementById("details");
  function show(cell) {{
    document.querySelectorAll(".cell.selected").forEach(c => c.classList.remove("selected"));
    cell.classList.add("selected");
    const key = cell.dataset.wave + "," + cell.dataset.phase;
    const list = ops[key] || [];
    const lines = list.map(o => o.call + "\\n    " + o.loc + o.findings.map(f => "\\n    ! " + f).join(""));
    details.textContent = "wave " + cell.dataset.wave + ", phase " + cell.dataset.phase + ":\\n" +
      (lines.length ? lines.join("\\n") : "no ops: this wave only waits at the barrier");
  }}
  document.querySelectorAll(".cell").forEach(c => c.addEventListener("click", () => show(c)));
  document.querySelectorAll("li.finding").forEach(li => li.addEventListener("click", () => {{
    const cells = JSON.parse(li.dataset.cells || "[]");
    const at = cells.length ? `.cell[data-wave="${{cells[0][0]}}"][data-phase="${{cells[0][1]}}"]` : null;
    if (at) show(document.querySelector(at));
  }}));
  if (location.hash === "#selftest") {{
    const first = document.querySelector(".cell:not(.empty)");
    if (first) first.dispatchEvent(new MouseEvent("click", {{ bubbles: true }}));
    document.body.dataset.selftest = "done";
  }}
  document.body.dataset.cells = String(document.querySelectorAll(".cell").length);
}})();
</script>
</body>
</html>
"""
