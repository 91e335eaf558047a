"""Reading per-kernel resources out of AMDGPU assembly (backends/drivers/amd_asm.py).

The assembly here is rendered in the layout LLVM 15 writes (kernel descriptor, ``; Kernel info:``
comment block, ``.amdgpu_metadata`` YAML with nested ``.args``), with figures drawn by Hypothesis,
so every figure must come back from the right place. Real compiler output is parsed by
tests/test_amd_kernels_compile.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.drivers.amd_asm import demangle_name, find_kernel, parse_resources
from backends.drivers.common import Resources

# Hypothesis' per-example deadline trips on busy CI machines; these tests are about values, not time.
no_deadline = settings(deadline=None)


@dataclass(frozen=True)
class Figures:
    mangled: str
    vgprs: int
    agprs: int
    sgprs: int
    vgpr_spills: int
    sgpr_spills: int
    scratch: int
    lds: int
    occupancy: int


def render_kernel(f: Figures) -> str:
    accum_offset = (f.vgprs + 3) // 4 * 4
    total = accum_offset + f.agprs if f.agprs else f.vgprs
    return f"""\t.protected\t{f.mangled}
{f.mangled}:
\tv_mfma_f32_16x16x16_bf16 a[0:3], v[0:1], v[2:3], a[0:3]
\ts_endpgm
\t.section\t.rodata,#alloc
\t.amdhsa_kernel {f.mangled}
\t\t.amdhsa_group_segment_fixed_size {f.lds}
\t\t.amdhsa_private_segment_fixed_size {f.scratch}
\t\t.amdhsa_next_free_vgpr {total}
\t\t.amdhsa_accum_offset {accum_offset}
\t.end_amdhsa_kernel
\t.text
.Lfunc_end_{f.mangled}:
; Kernel info:
; codeLenInByte = 60
; NumSgprs: {f.sgprs}
; NumVgprs: {f.vgprs}
; NumAgprs: {f.agprs}
; TotalNumVgprs: {total}
; ScratchSize: {f.scratch}
; LDSByteSize: {f.lds} bytes/workgroup (compile time only)
; Occupancy: {f.occupancy}
; COMPUTE_PGM_RSRC2:SCRATCH_EN: {int(f.scratch > 0)}
"""


def render_metadata(f: Figures) -> str:
    accum_offset = (f.vgprs + 3) // 4 * 4
    total = accum_offset + f.agprs if f.agprs else f.vgprs
    return f"""  - .agpr_count:     {f.agprs}
    .args:
      - .address_space:  global
        .name:           decoy_argument_name
        .offset:         0
        .size:           8
        .value_kind:     global_buffer
      - .offset:         8
        .size:           4
        .value_kind:     by_value
    .group_segment_fixed_size: {f.lds}
    .kernarg_segment_align: 8
    .language:       OpenCL C
    .language_version:
      - 2
      - 0
    .max_flat_workgroup_size: 256
    .name:           {f.mangled}
    .private_segment_fixed_size: {f.scratch}
    .sgpr_count:     {f.sgprs}
    .sgpr_spill_count: {f.sgpr_spills}
    .symbol:         {f.mangled}.kd
    .vgpr_count:     {total}
    .vgpr_spill_count: {f.vgpr_spills}
    .wavefront_size: 64
"""


DEVICE_FUNCTION = """helper:
\ts_setpc_b64 s[30:31]
; Function info:
; codeLenInByte = 4
; NumSgprs: 99
; NumVgprs: 99
; ScratchSize: 999
"""


def render(kernels: list[Figures]) -> str:
    body = '\t.amdgcn_target "amdgcn-amd-amdhsa--gfx940"\n' + DEVICE_FUNCTION
    body += "".join(render_kernel(k) for k in kernels)
    metadata = "".join(render_metadata(k) for k in kernels)
    return (
        f"{body}\t.amdgpu_metadata\n---\namdhsa.kernels:\n{metadata}"
        "amdhsa.target:   amdgcn-amd-amdhsa--gfx940\namdhsa.version:\n  - 1\n  - 1\n...\n\n\t.end_amdgpu_metadata\n"
    )


names = st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True)
figures = st.builds(
    lambda name, *numbers: Figures(f"_Z{len(name)}{name}{len(name) + 8}{name}_globals", *numbers),
    names,
    st.integers(1, 512),
    st.integers(0, 256),
    st.integers(1, 106),
    st.integers(0, 300),
    st.integers(0, 40),
    st.integers(0, 1 << 16),
    st.integers(0, 65536),
    st.integers(1, 10),
)


@no_deadline
@given(kernels=st.lists(figures, min_size=1, max_size=4, unique_by=lambda f: f.mangled))
def test_every_figure_comes_back_for_every_kernel(kernels: list[Figures]) -> None:
    parsed = parse_resources(render(kernels), "gfx940")
    assert parsed == [
        Resources(
            target="gfx940",
            kernel=demangle_name(k.mangled),
            vgprs=k.vgprs,
            agprs=k.agprs,
            sgprs=k.sgprs,
            spills=k.vgpr_spills + k.sgpr_spills,
            scratch_bytes=k.scratch,
            shared_bytes=k.lds,
            occupancy=k.occupancy,
        )
        for k in kernels
    ]


@no_deadline
@given(kernel=figures)
def test_metadata_alone_still_gives_arch_vgprs_and_spills(kernel: Figures) -> None:
    """Without the comment blocks (stripped assembly), arch VGPRs = unified total - AGPRs."""
    text = "\n".join(line for line in render([kernel]).splitlines() if not line.startswith(";"))
    (parsed,) = parse_resources(text, "gfx90a")
    accum_offset = (kernel.vgprs + 3) // 4 * 4
    assert parsed.agprs == kernel.agprs
    assert parsed.vgprs == (accum_offset if kernel.agprs else kernel.vgprs)
    assert parsed.spills == kernel.vgpr_spills + kernel.sgpr_spills
    assert parsed.occupancy is None


def test_device_functions_are_not_kernels() -> None:
    kernel = Figures("_Z4gemm", 10, 0, 12, 0, 0, 0, 0, 8)
    assert [r.kernel for r in parse_resources(render([kernel]), "gfx940")] == ["gemm"]


@no_deadline
@given(parts=st.lists(names, min_size=1, max_size=3))
def test_demangle_reads_plain_and_nested_names(parts: list[str]) -> None:
    encoded = "".join(f"{len(p)}{p}" for p in parts)
    mangled = f"_ZN{encoded}E13some_globals" if len(parts) > 1 else f"_Z{encoded}13some_globals"
    assert demangle_name(mangled) == "::".join(parts)


def test_demangle_drops_template_arguments_and_keeps_c_names() -> None:
    assert demangle_name("_Z6kernelILi4EEv6params") == "kernel"
    assert demangle_name("plain_c_kernel") == "plain_c_kernel"


def test_find_kernel_names_what_the_object_holds() -> None:
    entries = [Resources(target="gfx940", kernel="a_kernel"), Resources(target="gfx940", kernel="ns::b_kernel")]
    assert find_kernel(entries, "b_kernel").kernel == "ns::b_kernel"
    assert find_kernel(entries, "_Z8a_kernelv").kernel == "a_kernel"
    with pytest.raises(KeyError, match="it holds: a_kernel, ns::b_kernel"):
        find_kernel(entries, "missing")
