"""Generate docs/builder.md, the builder reference, from the docstrings of tilegen's builder.

    python scripts/builder_reference.py          # rewrite docs/builder.md
    python scripts/builder_reference.py --check  # change nothing; exit 1 if it is stale

Every public builder function documents each of its arguments under ``Args:`` and ends with a
two-line ``Example::`` that runs after SETUP (tests/test_builder_reference.py checks all three and
that docs/builder.md is what this script writes).
"""

from __future__ import annotations

import argparse
import inspect
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tilegen import builder  # noqa: E402

OUTPUT = ROOT / "docs" / "builder.md"

#: What every example assumes (it runs after these lines, on a fresh kernel each time).
SETUP = '''import tilegen as tg

k = tg.Kernel("doc", warps=8, block=(128, 128), k_step=32)
As = k.shared("As", 128, 32, buffers=2)
Bs = k.shared("Bs", 32, 128, buffers=2)
Cs = k.shared("Cs", 128, 128, dtype="f32")
producers = k.role("producers", range(0, 4))
consumers = k.role("consumers", range(4, 8))
acc = k.accumulator("acc", 32, 32, count=4)
a = k.register("a", 32, 32, count=2)
b = k.register("b", 32, 32, layout="col", count=2)
a_next = k.stage("a_next", As[0])
warp_row, warp_col = k.warp_grid(4, 2)
'''


@dataclass
class Entry:
    """One documented builder function: how it is called, its summary, its arguments, its example."""

    title: str
    call: str
    summary: str
    args: dict[str, str]
    example: str
    parameters: list[str]


def public_api() -> list[tuple[str, Callable[..., object]]]:
    """(title, function) of every public builder entry point, in reading order."""
    items: list[tuple[str, Callable[..., object]]] = [("tg.Kernel", builder.Kernel.__init__)]
    for name, member in builder.Kernel.__dict__.items():
        if name.startswith("_") or name in ("A", "B"):
            continue
        function = member.fget if isinstance(member, property) else member
        function = getattr(function, "__wrapped__", function)
        if callable(function):
            items.append((f"k.{name}", function))
    for name in ("row_major", "column_major", "grouped", "xcd_remap"):
        items.append((f"tg.{name}", getattr(builder, name)))
    return items


def parameters(function: Callable[..., object]) -> list[str]:
    return [p for p in inspect.signature(function).parameters if p != "self"]


def parse(title: str, function: Callable[..., object]) -> Entry:
    doc = inspect.getdoc(function) or ""
    summary, args, example = doc, {}, ""
    if "Example::" in doc:
        summary, example = doc.split("Example::", 1)
        example = textwrap.dedent(example.strip("\n")).strip()
    if "Args:" in summary:
        summary, arg_text = summary.split("Args:", 1)
        current = None
        for line in arg_text.splitlines():
            if line.startswith("    ") and not line.startswith("        ") and ":" in line:
                current, text = line.strip().split(":", 1)
                args[current] = text.strip()
            elif current and line.strip():
                args[current] += " " + line.strip()
    params = parameters(function)
    if title == "tg.Kernel":
        call = f"tg.Kernel({', '.join(_param_text(function, p) for p in params)})"
    elif isinstance(inspect.getattr_static(builder.Kernel, title[2:], None), property):
        call = title
    else:
        call = f"{title}({', '.join(_param_text(function, p) for p in params)})"
    summary = " ".join(summary.split()).replace("``", "`")
    args = {name: text.replace("``", "`") for name, text in args.items()}
    return Entry(title, call, summary, args, example, params)


def _param_text(function: Callable[..., object], name: str) -> str:
    parameter = inspect.signature(function).parameters[name]
    prefix = ""
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name == _first_keyword(function):
        prefix = "*, "
    if parameter.default is inspect.Parameter.empty:
        return prefix + name
    return f"{prefix}{name}={parameter.default!r}"


def _first_keyword(function: Callable[..., object]) -> str:
    for p in inspect.signature(function).parameters.values():
        if p.kind is inspect.Parameter.KEYWORD_ONLY:
            return p.name
    return ""


def entries() -> list[Entry]:
    return [parse(title, function) for title, function in public_api()]


def render() -> str:
    out = [
        "# Builder reference",
        "",
        "Generated from the docstrings of `tilegen/builder.py` by `python scripts/builder_reference.py`;",
        "`tests/test_builder_reference.py` checks that every argument is documented, that every example",
        "runs, and that this page is up to date. docs/ir.md explains how a schedule is written; this page",
        "lists what you can write. Every example runs after this setup:",
        "",
        "```python",
        SETUP.rstrip(),
        "```",
        "",
        "Handles: `k.shared` returns a tile you index by buffer (`As[kt % 2]`); `k.register` /",
        "`k.accumulator` return a tile or an array you index by element (`acc[i]`, or the whole array",
        "where an op takes one, e.g. `k.zero(acc)`); `k.ring` one you index by K slice; `k.role` a role",
        "you open with `with role:` (`role.warp` counts from the role's first warp). Expressions",
        "(`k.warp`, loop variables) combine with `+ - * // %` and compare with `< <= > >=`, `.eq()`,",
        "`.ne()`.",
        "",
    ]
    for entry in entries():
        out += [f"## `{entry.title}`", "", "```python", entry.call, "```", "", entry.summary, ""]
        for name in entry.parameters:
            out.append(f"- `{name}`: {entry.args.get(name, '(undocumented)')}")
        if entry.parameters:
            out.append("")
        out += ["```python", entry.example, "```", ""]
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/builder.md is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        stale = not OUTPUT.exists() or OUTPUT.read_text() != text
        print("docs/builder.md is stale; run python scripts/builder_reference.py" if stale else "up to date")
        return 1 if stale else 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({len(entries())} entries)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
