"""The AMD assembly reader (functions, blocks, loops) and the static LDS-wait check of
backends/drivers/amd_asm.py, on hand-written assembly: each bad snippet must be flagged, each good
one must pass. Real compiler output is checked in tests/test_amd_emitted_kernels.py."""

from __future__ import annotations

import pytest

from backends.drivers.amd_asm import check_lds_waits, lgkm_wait, parse_assembly


def function(body: str, name: str = "_Z4testv") -> str:
    """``body`` (one instruction or label per line) as LLVM writes a kernel into a ``.s`` file."""
    lines = []
    for line in body.strip().splitlines():
        line = line.strip()
        lines.append(line if line.endswith(":") or line.startswith(";") else "\t" + line)
    code = "\n".join(lines)
    return (
        f'\t.amdgcn_target "amdgcn-amd-amdhsa--gfx942"\n\t.globl\t{name}\n\t.type\t{name},@function\n'
        f"{name}:                             ; @{name}\n; %bb.0:\n{code}\n\ts_endpgm\n.Lfunc_end0:\n"
        f"\t.size\t{name}, .Lfunc_end0-{name}\n"
    )


MFMA = "v_mfma_f32_16x16x16_bf16 a[0:3], v[0:1], v[2:3], a[0:3]"

CASES = {
    # name: (body, lines of the instructions that must be flagged, by their text)
    "use right after the read": (f"ds_read_b64 v[0:1], v10\nds_read_b64 v[2:3], v11\n{MFMA}", [MFMA]),
    "covering wait": (f"ds_read_b64 v[0:1], v10\nds_read_b64 v[2:3], v11\ns_waitcnt lgkmcnt(0)\n{MFMA}", []),
    "lgkmcnt(1) covers the older of two reads only": (
        "ds_read_b64 v[0:1], v10\nds_read_b64 v[2:3], v11\ns_waitcnt lgkmcnt(1)\n"
        "v_mov_b32_e32 v20, v0\nv_mov_b32_e32 v21, v2",
        ["v_mov_b32_e32 v21, v2"],
    ),
    "an LDS store counts in lgkmcnt too": (
        "ds_read_b64 v[0:1], v10\nds_write_b64 v12, v[4:5]\ns_waitcnt lgkmcnt(1)\nv_mov_b32_e32 v20, v0",
        [],
    ),
    # SMEM is counted too but may return first: lgkmcnt(1) may leave the LDS read outstanding.
    "scalar load issued after the read does not cover it": (
        "ds_read_b64 v[0:1], v10\ns_load_dwordx2 s[0:1], s[4:5], 0x0\ns_waitcnt lgkmcnt(1)\nv_mov_b32_e32 v20, v1",
        ["v_mov_b32_e32 v20, v1"],
    ),
    "vmcnt alone does not cover": ("ds_read_b32 v0, v10\ns_waitcnt vmcnt(0)\nv_add_f32_e32 v1, v0, v0", ["v_add_f32"]),
    "numeric s_waitcnt with lgkmcnt 0": ("ds_read_b32 v0, v10\ns_waitcnt 0xc07f\nv_add_f32_e32 v1, v0, v0", []),
    "numeric s_waitcnt with lgkmcnt 15": (
        "ds_read_b32 v0, v10\ns_waitcnt 0xcf7f\nv_add_f32_e32 v1, v0, v0",
        ["v_add"],
    ),
    "overwriting a pending register is a hazard too": ("ds_read_b32 v0, v10\nv_mov_b32_e32 v0, 0", ["v_mov_b32"]),
    "the address of the next read": ("ds_read_b32 v0, v10\nds_read_b32 v1, v0", ["ds_read_b32 v1"]),
    "AGPR destinations": ("ds_read_b64 a[4:5], v10\nv_accvgpr_read_b32 v0, a5", ["v_accvgpr_read_b32"]),
    "inline asm read, compiler never waits": (
        ";;#ASMSTART\nds_read_b64 v[0:1], v10 offset:64\n;;#ASMEND\n"
        f";;#ASMSTART\nds_read_b64 v[2:3], v10\n;;#ASMEND\n{MFMA}",
        [MFMA],
    ),
    # The wait is on one path only: the merge keeps the read pending.
    "wait on one branch only": (
        "ds_read_b32 v0, v10\ns_cbranch_scc1 .LBB0_2\n; %bb.1:\ns_waitcnt lgkmcnt(0)\n"
        ".LBB0_2:\nv_add_f32_e32 v1, v0, v0",
        ["v_add_f32"],
    ),
    "wait on both branches": (
        "ds_read_b32 v0, v10\ns_cbranch_scc1 .LBB0_2\n; %bb.1:\ns_waitcnt lgkmcnt(0)\ns_branch .LBB0_3\n"
        ".LBB0_2:\ns_waitcnt lgkmcnt(0)\n.LBB0_3:\nv_add_f32_e32 v1, v0, v0",
        [],
    ),
    # A read at the bottom of the loop, used at the top of the next trip: found through the back edge.
    "loop-carried read without a wait": (
        "s_waitcnt lgkmcnt(0)\n.LBB0_1:\nv_add_f32_e32 v1, v0, v0\nds_read_b32 v0, v10\n"
        "s_add_i32 s0, s0, -1\ns_cmp_lg_u32 s0, 0\ns_cbranch_scc1 .LBB0_1\n; %bb.2:\ns_waitcnt lgkmcnt(0)",
        ["v_add_f32"],
    ),
    "loop-carried read waited for before the back edge": (
        "s_waitcnt lgkmcnt(0)\n.LBB0_1:\nv_add_f32_e32 v1, v0, v0\nds_read_b32 v0, v10\n"
        "s_add_i32 s0, s0, -1\ns_cmp_lg_u32 s0, 0\ns_waitcnt lgkmcnt(0)\ns_cbranch_scc1 .LBB0_1",
        [],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_lds_wait_check(case: str) -> None:
    body, flagged = CASES[case]
    findings = check_lds_waits(function(body))
    texts = list(dict.fromkeys(f.instruction.text for f in findings))  # one per instruction
    assert len(texts) == len(flagged), "\n".join(map(str, findings))
    for text, expected in zip(texts, flagged, strict=True):
        assert text.startswith(expected), (text, expected)


def test_a_finding_names_the_use_the_read_and_the_registers() -> None:
    (finding,) = check_lds_waits(function(f";;#ASMSTART\nds_read_b64 v[0:1], v10\n;;#ASMEND\n{MFMA}"))
    message = str(finding)
    assert finding.registers == (("v", 0), ("v", 1)) and finding.read.inline_asm
    assert message.startswith("test: line ") and "uses v0, v1" in message and "`ds_read_b64 v[0:1], v10`" in message
    assert "(inline asm)" in message


def test_lgkm_wait_forms() -> None:
    (fn,) = parse_assembly(
        function("s_waitcnt vmcnt(0) lgkmcnt(3)\ns_waitcnt vmcnt(1)\ns_waitcnt 0\ns_waitcnt_lgkmcnt null, 2")
    )
    assert [lgkm_wait(i) for i in fn.instructions] == [3, None, 0, 2, None]


def test_the_reader_splits_functions_blocks_and_loops() -> None:
    text = function(
        "s_mov_b32 s0, 8\n.LBB0_1:\nds_read_b64 v[0:1], v10 offset:512\ns_waitcnt lgkmcnt(0)\n"
        "s_add_i32 s0, s0, -1\ns_cmp_lg_u32 s0, 0\ns_cbranch_scc1 .LBB0_1\n; %bb.2:\nv_mov_b32_e32 v2, 0"
    ) + function("s_nop 0", name="_Z5otherv").replace(".Lfunc_end0", ".Lfunc_end1")
    first, second = parse_assembly(text)
    assert (first.plain_name, second.plain_name) == ("test", "other")
    assert [b.label for b in first.blocks] == ["_Z4testv", ".LBB0_1", "%bb.2"]
    assert first.block(".LBB0_1").successors == [".LBB0_1", "%bb.2"]
    (loop,) = first.loops()
    assert loop.header == ".LBB0_1"
    assert [i.mnemonic for i in loop.instructions] == [
        "ds_read_b64", "s_waitcnt", "s_add_i32", "s_cmp_lg_u32", "s_cbranch_scc1",
    ]  # fmt: skip
    read = loop.instructions[0]
    assert read.operands == ("v[0:1]", "v10 offset:512") and read.destination == {("v", 0), ("v", 1)}
    assert read.registers == {("v", 0), ("v", 1), ("v", 10)}
    assert [i.mnemonic for i in second.instructions] == ["s_nop", "s_endpgm"]
