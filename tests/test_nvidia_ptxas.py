"""ptxas report parsing (backends/drivers/ptxas.py): properties over reports written in every
shape ptxas uses (targets, optional fields, device-function blocks); runs without nvcc."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from backends.drivers.ptxas import kernel_name, parse_ptxas

identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)


def mangle_plain(name: str, params: str = "v") -> str:
    return f"_Z{len(name)}{name}{params}"


@st.composite
def template_args(draw: st.DrawFn, depth: int = 0) -> str:
    """An Itanium template argument list: literals, class names, nested templates."""
    args = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["int", "neg", "bool", "class"] + (["nested"] if depth < 2 else [])))
        if kind == "int":
            args.append(f"Li{draw(st.integers(0, 4096))}E")
        elif kind == "neg":
            args.append(f"Lin{draw(st.integers(1, 4096))}E")
        elif kind == "bool":
            args.append(f"Lb{draw(st.integers(0, 1))}E")
        elif kind == "class":
            ident = draw(identifiers)
            args.append(f"{len(ident)}{ident}")
        else:
            ident = draw(identifiers)
            args.append(f"{len(ident)}{ident}{draw(template_args(depth + 1))}")
    return "I" + "".join(args) + "E"


@st.composite
def nested_names(draw: st.DrawFn) -> tuple[str, str]:
    """(mangled, expected) for a function inside namespaces, maybe with template arguments."""
    parts = draw(st.lists(identifiers, min_size=2, max_size=4))
    mangled = "_ZN"
    for part in parts:
        mangled += f"{len(part)}{part}"
        if draw(st.booleans()):
            mangled += draw(template_args())
    mangled += "E" + draw(st.sampled_from(["v", "iPf", "S_", "RKi"]))
    return mangled, "::".join(parts)


@given(identifiers, st.sampled_from(["v", "Pfi", "16gemm_globals", "ILi128EEvv"]))
def test_plain_mangled_names_give_the_function_name(name: str, rest: str) -> None:
    assert kernel_name(mangle_plain(name, rest)) == name


@given(nested_names())
def test_nested_and_templated_names_give_the_qualified_name(case: tuple[str, str]) -> None:
    mangled, expected = case
    assert kernel_name(mangled) == expected


@given(identifiers.filter(lambda s: not s.startswith("_Z")))
def test_unmangled_names_pass_through(name: str) -> None:
    assert kernel_name(name) == name


@dataclass(frozen=True)
class Kernel:
    name: str
    target: str
    registers: int
    stack: int
    stores: int
    loads: int
    smem: int
    barriers: int
    cmem: int


kernels = st.builds(
    Kernel,
    name=identifiers,
    target=st.sampled_from(["sm_80", "sm_90a", "sm_90"]),
    registers=st.integers(1, 255),
    stack=st.integers(0, 4096),
    stores=st.integers(0, 4096),
    loads=st.integers(0, 4096),
    smem=st.integers(0, 232448),
    barriers=st.integers(0, 16),
    cmem=st.integers(0, 1024),
)


def render(kernel: Kernel, mangled: str, device_function: str | None) -> list[str]:
    """One kernel's block as ptxas -v writes it, with the optional parts ptxas leaves out."""
    lines = [f"ptxas info    : Compiling entry function '{mangled}' for '{kernel.target}'"]
    if device_function:  # a called device function reports its own frame first
        lines += [
            f"ptxas info    : Function properties for {device_function}",
            "    64 bytes stack frame, 32 bytes spill stores, 32 bytes spill loads",
        ]
    lines += [
        f"ptxas info    : Function properties for {mangled}",
        f"    {kernel.stack} bytes stack frame, {kernel.stores} bytes spill stores, {kernel.loads} bytes spill loads",
    ]
    if kernel.stores or kernel.loads:
        lines.insert(
            1,
            f"ptxas warning : Registers are spilled to local memory in function '{mangled}', "
            f"{kernel.stores} bytes spill stores, {kernel.loads} bytes spill loads",
        )
    used = f"ptxas info    : Used {kernel.registers} registers"
    if kernel.barriers:
        used += f", used {kernel.barriers} barriers"
    if kernel.smem:
        used += f", {kernel.smem} bytes smem"
    if kernel.cmem:
        used += f", {kernel.cmem} bytes cmem[0]"
    lines += [used, "ptxas info    : Compile time = 12.345 ms"]
    return lines


@given(st.lists(st.tuples(kernels, st.booleans()), min_size=0, max_size=6))
def test_every_entry_function_is_reported_with_its_own_figures(cases: list[tuple[Kernel, bool]]) -> None:
    log = ["ptxas info    : 0 bytes gmem"]
    for kernel, with_device_function in cases:
        mangled = mangle_plain(kernel.name, "Pf")
        log += render(kernel, mangled, f"_Z6helperi{kernel.name}" if with_device_function else None)
    resources = parse_ptxas("\n".join(log))
    assert [(r.kernel, r.target) for r in resources] == [(k.name, k.target) for k, _ in cases]
    for r, (k, _) in zip(resources, cases, strict=True):
        assert r.vgprs == k.registers
        assert r.registers == k.registers
        assert r.spills == k.stores + k.loads
        assert r.scratch_bytes == k.stack
        assert r.shared_bytes == k.smem


def test_a_log_without_ptxas_reports_gives_no_resources() -> None:
    assert parse_ptxas("nvcc warning : something unrelated\n") == []
