"""Which names a schedule may give its tiles, stage buffers and loop variables.

Each becomes a C++ identifier in the emitted kernel, next to the names the emitted code itself
declares or calls. ``name_problem`` says why a name cannot be one; the validator's
``structure.names`` rule reports it, so a schedule that validates always emits. The emitter
declares no identifier that a schedule could name outside ``EMITTED_NAMES`` (and ``G<n>``).
"""

from __future__ import annotations

import re
from typing import Optional

CPP_KEYWORDS = frozenset(
    """alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t
    char32_t class compl concept const consteval constexpr constinit const_cast continue co_await
    co_return co_yield decltype default delete do double dynamic_cast else enum explicit export
    extern false float for friend goto if inline int long mutable namespace new noexcept not not_eq
    nullptr operator or or_eq private protected public register reinterpret_cast requires return
    short signed sizeof static static_assert static_cast struct switch template this thread_local
    throw true try typedef typeid typename union unsigned using virtual void volatile wchar_t while
    xor xor_eq""".split()
)

#: Identifiers the emitted code itself declares or calls (kittens functions and types, the
#: kernel's locals and constants); a schedule name equal to one would shadow it.
EMITTED_NAMES = frozenset(
    """g al m py std kittens tg ducks warp_id block_row block_col num_k_tiles tile_id first_tile_id
    tile_rows tile_cols num_tiles band band_first_row band_rows in_band xcd_full c_prev c_out c_part
    shared_view BLOCK_M BLOCK_N K_STEP NUM_WARPS NUM_THREADS GROUP_M NUM_XCDS XCD_CHUNK
    PERSISTENT_BLOCKS zero mul add load store load_async mma_AB mma_ABt subtile_inplace group gl st_bf
    st_fl rt_bf rt_fl bf16 coord warpid laneid min max dim3 blockIdx blockDim gridDim threadIdx
    alignment_dummy shared_allocator WARP_THREADS REG_M REG_N DOT_SLICE SHARED_M SHARED_N SHARED_SLICE
    warp_row warp_col global_row global_col tile_iter k_done CUtensorMap""".split()
)

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def name_problem(name: str) -> Optional[str]:
    """Why ``name`` cannot name a tile, stage buffer or loop variable in the emitted C++, or None."""
    if not IDENTIFIER.match(name):
        return "is not a C++ identifier"
    if name in CPP_KEYWORDS:
        return "is a C++ keyword"
    if name in EMITTED_NAMES or re.fullmatch(r"G\d+", name):
        return "is a name the emitted code already uses (a kittens function, type or local)"
    if name.startswith("__") or re.match(r"_[A-Z]", name):
        return "is reserved in C++ (leading underscore + capital, or double underscore)"
    return None


def rename_hint(name: str, what: str) -> str:
    return f"rename the {what}, e.g. `{name.strip('_') or 'x'}_{'tile' if 'tile' in what else 'v'}`"
