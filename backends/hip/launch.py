"""How an emitted kernel is launched, as data: ``launch_spec(kernel, target)``.

The emitted module's host code (``dispatch_<name>`` in ``templates/module.cpp.j2``) launches the
``__global__`` function itself. ``tilegen.compile`` instead builds the device code alone and
launches it through one prebuilt launcher (``backends/drivers/launcher``), which needs the same
facts: the kernel function, the byte layout of its ``<name>_globals`` parameter, the block size,
the dynamic shared memory and the grid. They are written here once; the device-only build
appends ``static_asserts()`` to the compile, so a layout that disagrees with the C++ struct is a
compile error, never a wrong launch.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, Optional, Union

from ir import models as m
from ir.targets import get_target

ParamKind = Literal["gl", "f32", "u64", "tensor_map"]

#: (size, alignment) in bytes of each parameter kind. ``gl`` is the runtime's global view
#: ``{T* raw_ptr; int batch_, depth_, rows_, cols_;}`` (both runtime paths), ``tensor_map`` a
#: ``CUtensorMap`` (128 bytes, 64-byte aligned).
KIND_LAYOUT: dict[str, tuple[int, int]] = {"gl": (24, 8), "f32": (4, 4), "u64": (8, 8), "tensor_map": (128, 64)}
#: Byte offsets of the members of a ``gl`` (checked by the static_asserts too).
GL_FIELDS = (("raw_ptr", 0), ("batch_", 8), ("depth_", 12), ("rows_", 16), ("cols_", 20))

#: A value for each kind, as ``pack`` takes it: gl -> (address, rows, cols); f32 -> float;
#: u64 -> int; tensor_map -> the 128 bytes ``encode_tensor_map`` returned.
ParamValue = Union[tuple[int, int, int], float, int, bytes]


@dataclass(frozen=True)
class Param:
    """One member of the kernel's globals struct."""

    name: str
    kind: ParamKind
    offset: int
    size: int
    #: gl: element type of the tensor ("bf16" / "f32").
    dtype: Optional[str] = None
    #: tensor_map: the operand it describes ("a" / "b" / "c"), the box (rows, cols in elements)
    #: one TMA copy moves, and the swizzle in bytes (0, 32, 64, 128).
    operand: Optional[str] = None
    box: tuple[int, ...] = ()
    swizzle: int = 0


@dataclass(frozen=True)
class LaunchSpec:
    """Everything a launcher needs to run the emitted kernel of one ``Kernel`` on one target."""

    kernel_fn: str  # the __global__ function (its mangled name comes from the compiler's report)
    globals_name: str  # the struct the kernel takes by value
    params: tuple[Param, ...]
    size: int  # sizeof(globals)
    threads: int  # threads per block
    shared_bytes: int  # dynamic shared memory per block
    grid_kind: str  # "2d" | "linear" | "persistent" (backends.hip.block_order_code)
    block_m: int
    block_n: int
    persistent_blocks: Optional[int] = None

    def grid(self, m_size: int, n_size: int) -> tuple[int, int, int]:
        """The grid ``<name>_globals::grid()`` computes for an M x N output."""
        if self.grid_kind == "2d":
            return (n_size // self.block_n, m_size // self.block_m, 1)
        tiles = (m_size // self.block_m) * (n_size // self.block_n)
        if self.grid_kind == "persistent":
            assert self.persistent_blocks is not None
            return (min(self.persistent_blocks, tiles), 1, 1)
        return (tiles, 1, 1)

    def pack(self, values: Mapping[str, ParamValue]) -> bytes:
        """The globals struct as bytes, from a value for every member (see ``ParamValue``)."""
        out = bytearray(self.size)
        for param in self.params:
            if param.name not in values:
                raise KeyError(f"no value for member `{param.name}` of {self.globals_name}")
            value = values[param.name]
            if param.kind == "gl":
                address, rows, cols = value  # type: ignore[misc]
                struct.pack_into("<Qiiii", out, param.offset, address, 1, 1, rows, cols)
            elif param.kind == "f32":
                struct.pack_into("<f", out, param.offset, float(value))  # type: ignore[arg-type]
            elif param.kind == "u64":
                struct.pack_into("<Q", out, param.offset, int(value))  # type: ignore[arg-type]
            else:
                data = bytes(value)  # type: ignore[arg-type]
                if len(data) != param.size:
                    raise ValueError(f"{param.name}: a tensor map is {param.size} bytes, got {len(data)}")
                out[param.offset : param.offset + param.size] = data
        return bytes(out)

    def static_asserts(self) -> str:
        """C++ that fails to compile unless the struct's layout is this spec's."""
        g = self.globals_name
        lines = [
            f"// tilegen launch layout of {g} (backends/hip/launch.py): the launcher packs these bytes.",
            "#include <cstddef>",
            f'static_assert(sizeof({g}) == {self.size}, "tilegen launch layout: sizeof({g}) differs");',
        ]
        for param in self.params:
            lines.append(
                f"static_assert(offsetof({g}, {param.name}) == {param.offset} && sizeof({g}::{param.name}) == "
                f'{param.size}, "tilegen launch layout: member {param.name} of {g} differs");'
            )
            if param.kind == "gl":
                for field, offset in GL_FIELDS:
                    lines.append(
                        f"static_assert(offsetof(decltype({g}::{param.name}), {field}) == {offset}, "
                        f'"tilegen launch layout: gl::{field} differs");'
                    )
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LaunchSpec:
        params = tuple(Param(**{**p, "box": tuple(p.get("box", ()))}) for p in data["params"])
        return cls(**{**data, "params": params})


def layout(members: list[tuple[str, ParamKind, dict[str, Any]]]) -> tuple[tuple[Param, ...], int]:
    """Offsets of ``members`` laid out as a C++ struct (natural alignment), and the struct size."""
    offset, align_max, params = 0, 1, []
    for name, kind, extra in members:
        size, align = KIND_LAYOUT[kind]
        offset = -(-offset // align) * align
        params.append(Param(name=name, kind=kind, offset=offset, size=size, **extra))
        offset += size
        align_max = max(align_max, align)
    return tuple(params), -(-offset // align_max) * align_max


@dataclass(frozen=True)
class TensorMap:
    """A ``CUtensorMap`` member of the globals struct: one per shared tile TMA moves (loads into it,
    or stores C from it), made on the host for each call over ``operand`` in boxes of one
    128-byte panel x the tile's rows, 128-byte swizzle (``tg::tma::make_map``)."""

    member: str
    tile: m.SharedTile
    operand: str  # "a" | "b" | "c"

    @property
    def box(self) -> tuple[int, int]:
        """(rows, cols) in elements of one TMA copy."""
        return self.tile.rows, 128 // (2 if self.tile.dtype == "bf16" else 4)


def tensor_maps(kernel: m.Kernel) -> list[TensorMap]:
    """The kernel's tensor maps, in the order the globals struct declares them (first use)."""
    maps: dict[str, TensorMap] = {}
    for op in m.walk(kernel.body):
        if isinstance(op, m.TmaLoad) and op.dst.tile not in maps:
            maps[op.dst.tile] = TensorMap(f"tma_{op.dst.tile}", kernel.shared_tile(op.dst.tile), op.src.lower())
        if isinstance(op, m.StoreTma) and op.staging.tile not in maps:
            maps[op.staging.tile] = TensorMap(f"tma_{op.staging.tile}", kernel.shared_tile(op.staging.tile), "c")
    return list(maps.values())


def launch_spec(kernel: m.Kernel, target: str) -> LaunchSpec:
    """The launch of ``kernel``'s emitted code on ``target`` (the members of ``<name>_globals`` in
    the order ``templates/module.cpp.j2`` declares them)."""
    # Imported here: loading a cached kernel needs only LaunchSpec.from_json, not these.
    from backends.hip.block_order_code import block_order
    from ir.resources import dynamic_shared_memory

    spec = get_target(target)
    glob, launch = kernel.globals, kernel.launch
    members: list[tuple[str, ParamKind, dict[str, Any]]] = [
        ("a", "gl", {"dtype": glob.a_dtype}),
        ("b", "gl", {"dtype": glob.b_dtype}),
        ("c", "gl", {"dtype": glob.c_dtype}),
        ("alpha", "f32", {}),
        ("beta", "f32", {}),
        ("stream", "u64", {}),
    ]
    dtypes = {"a": glob.a_dtype, "b": glob.b_dtype, "c": glob.c_dtype}
    for tmap in tensor_maps(kernel):
        extra = {"operand": tmap.operand, "box": tmap.box, "swizzle": 128, "dtype": dtypes[tmap.operand]}
        members.append((tmap.member, "tensor_map", extra))
    params, size = layout(members)
    order = block_order(launch)
    return LaunchSpec(
        kernel_fn=f"{kernel.name}_kernel",
        globals_name=f"{kernel.name}_globals",
        params=params,
        size=size,
        threads=launch.num_warps * spec.wave_size,
        shared_bytes=dynamic_shared_memory(kernel, target),
        grid_kind=order.kind,
        block_m=launch.block_m,
        block_n=launch.block_n,
        persistent_blocks=launch.persistent_blocks,
    )


__all__ = ["KIND_LAYOUT", "LaunchSpec", "Param", "TensorMap", "launch_spec", "layout", "tensor_maps"]
