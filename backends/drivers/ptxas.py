"""Per-kernel resources from ptxas's verbose report (``nvcc -Xptxas -v``).

ptxas writes, for every kernel and every target it assembles::

    ptxas info    : Compiling entry function '_Z6kernelv' for 'sm_90a'
    ptxas info    : Function properties for _Z6kernelv
        8 bytes stack frame, 8 bytes spill stores, 8 bytes spill loads
    ptxas info    : Used 168 registers, used 1 barriers, 4096 bytes smem, 440 bytes cmem[0]

The parts after "Used N registers" vary by version and target (barriers, smem and cmem appear
only when non-zero or on some targets), and device functions that were not inlined get their own
"Function properties" block. Only entry functions (kernels) become ``Resources``.
"""

from __future__ import annotations

import re
from typing import Optional

from backends.drivers.common import Resources

_ENTRY = re.compile(r"Compiling entry function '(?P<name>[^']+)' for '(?P<target>[^']+)'")
_PROPERTIES = re.compile(r"Function properties for (?P<name>\S+)")
_FRAME = re.compile(
    r"(?P<stack>\d+) bytes stack frame, (?P<stores>\d+) bytes spill stores, (?P<loads>\d+) bytes spill loads"
)
_USED = re.compile(r"Used (?P<registers>\d+) registers")
_SMEM = re.compile(r"(?P<smem>\d+) bytes smem")


def parse_ptxas(log: str) -> list[Resources]:
    """One ``Resources`` per (kernel, target) that ``log`` reports, in the order ptxas compiled them.

    ``vgprs`` holds the registers per thread, ``spills`` the spill store plus spill load bytes,
    ``scratch_bytes`` the stack frame, ``shared_bytes`` the static shared memory.
    """
    entries: list[dict] = []
    current: Optional[dict] = None
    frame_is_current = False  # the next frame line belongs to the current entry, not a device function
    for line in log.splitlines():
        if entry := _ENTRY.search(line):
            current = {
                "name": entry["name"],
                "target": entry["target"],
                "registers": None,
                "smem": 0,
                "frame": (0, 0, 0),
            }
            entries.append(current)
            frame_is_current = False
        elif properties := _PROPERTIES.search(line):
            frame_is_current = current is not None and properties["name"] == current["name"]
        elif frame := _FRAME.search(line):
            if frame_is_current and current is not None:
                current["frame"] = (int(frame["stack"]), int(frame["stores"]), int(frame["loads"]))
            frame_is_current = False
        elif (used := _USED.search(line)) and current is not None:
            current["registers"] = int(used["registers"])
            if smem := _SMEM.search(line):
                current["smem"] = int(smem["smem"])
    return [
        Resources(
            target=entry["target"],
            kernel=kernel_name(entry["name"]),
            vgprs=entry["registers"],
            spills=entry["frame"][1] + entry["frame"][2],
            scratch_bytes=entry["frame"][0],
            shared_bytes=entry["smem"],
        )
        for entry in entries
    ]


def entry_names(log: str) -> list[str]:
    """The mangled names of the entry functions (kernels) ``log`` reports, in order, once each."""
    return list(dict.fromkeys(hit["name"] for hit in map(_ENTRY.search, log.splitlines()) if hit))


def kernel_name(mangled: str) -> str:
    """The qualified name of an Itanium-mangled function without its template arguments and
    parameters: ``_Z6kernelv`` -> ``kernel``, ``_ZN2ns6kernelILi1EEEvv`` -> ``ns::kernel``. Names
    that are not mangled (``extern "C"`` kernels) or that this small reader does not follow come
    back unchanged."""
    if not mangled.startswith("_Z"):
        return mangled
    text, i = mangled, 2
    nested = text.startswith("N", i)
    i += nested
    parts: list[str] = []
    while i < len(text) and text[i].isdigit():
        name, i = _source_name(text, i)
        parts.append(name)
        if not nested:
            break
        if text.startswith("I", i):
            i = _skip_template_args(text, i)
            if i < 0:
                return mangled
    return "::".join(parts) if parts else mangled


def _source_name(text: str, i: int) -> tuple[str, int]:
    """``<length><identifier>`` at ``i``: the identifier and the index after it."""
    digits = re.match(r"\d+", text[i:])
    assert digits is not None
    start = i + len(digits.group())
    end = start + int(digits.group())
    return text[start:end], end


def _skip_template_args(text: str, i: int) -> int:
    """Index after the ``I ... E`` template argument list at ``i`` (-1 if it does not end)."""
    depth = 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit():
            _, i = _source_name(text, i)
            continue
        if ch == "L" and not text.startswith("L_Z", i):  # literal: L <type> [n] <digits> E
            literal = re.match(r"L[a-z]n?\d*E", text[i:])
            if literal is None:
                return -1
            i += len(literal.group())
            continue
        if ch == "S":  # substitution: S_, S<seq>_, or St/Sa/Sb/Ss/Si/So/Sd
            if i + 1 < len(text) and text[i + 1] in "tabsiod":
                i += 2
            else:
                close = text.find("_", i)
                if close < 0:
                    return -1
                i = close + 1
            continue
        if ch in "IN":
            depth += 1
        elif ch == "E":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return -1
