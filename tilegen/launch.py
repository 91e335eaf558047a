"""Running device code built alone: the cached launcher module and ``DeviceModule``, which gives a
cubin the ``dispatch(a, b, c, alpha, beta, stream)`` of an emitted pybind11 module.

``tilegen.compile`` builds a kernel's device code only (``nvcc -cubin``, seconds) and launches it
through one launcher (``backends/drivers/launcher``) built once per machine, Python and host
compiler, and kept in the cache like a kernel (``tilegen cache list`` shows it).
"""

from __future__ import annotations

import os
import sys
import sysconfig
import threading
from pathlib import Path
from types import ModuleType
from typing import Any, Optional

from backends.hip.launch import LaunchSpec
from tilegen import cache

_launchers: dict[str, ModuleType] = {}
_launcher_lock = threading.Lock()


def launcher_key() -> str:
    """The cache key of the launcher: its source, the compiler, Python's ABI and pybind11."""
    import pybind11

    from backends.drivers import launcher

    compiler = launcher.find_cxx()
    return cache.cache_key(
        {
            "kind": "launcher",
            "source": cache.file_digest(launcher.SOURCE),
            "driver": cache.file_digest(Path(launcher.__file__)),
            "compiler": os.path.realpath(compiler),
            "compiler_version": cache.tool_version(compiler) or "",
            "python_abi": f"{sys.implementation.cache_tag} {sysconfig.get_config_var('EXT_SUFFIX')}",
            "pybind11": pybind11.__version__,
        }
    )


def load_launcher(root: Path) -> ModuleType:
    """The launcher module, built into the cache at ``root`` the first time (about 10-30 s, once
    per machine), imported once per process."""
    from backends.drivers import launcher
    from tilegen.compiler import import_module

    key = launcher_key()
    with _launcher_lock:
        if key in _launchers:
            return _launchers[key]
        module_name = f"tg_launch_{key[:16]}"

        def build(build_dir: Path) -> cache.BuiltFiles:
            print("building tilegen's kernel launcher (once per machine)...", file=sys.stderr, flush=True)
            result = launcher.build(build_dir, module_name)
            (build_dir / cache.LOG_NAME).write_text(f"$ {' '.join(result.command)}\n{result.log}")
            return cache.BuiltFiles(library=result.output.name, record={"command": result.command, "mode": "launcher"})

        entry, _ = cache.get_or_build(
            root, key, build, describe={"kernel": "tilegen-launcher", "target": "host", "module_name": module_name}
        )
        module = import_module(entry.library_path, module_name)
        _launchers[key] = module
        return module


class DeviceModule:
    """A kernel's device image with the ``dispatch`` of its emitted pybind11 module: packs the
    globals struct from the tensors as ``LaunchSpec`` says, and launches through the launcher."""

    def __init__(self, image: Path, function: str, spec: LaunchSpec, vendor: str, cache_root: Path) -> None:
        self.image = image
        self.function = function
        self.spec = spec
        self.vendor = vendor
        self._root = cache_root
        self._kernel: Optional[Any] = None
        self._launcher: Optional[ModuleType] = None
        self._lock = threading.Lock()
        self._maps: dict[tuple[Any, ...], bytes] = {}  # encoded CUtensorMaps by (member, device, operand)
        self.__name__ = f"{function} in {image}"

    def _loaded(self) -> Any:
        with self._lock:
            if self._kernel is None:
                self._launcher = load_launcher(self._root)
                self._kernel = self._launcher.Kernel(self.vendor, self.image.read_bytes(), self.function)
            return self._kernel

    def dispatch(self, a: Any, b: Any, c: Any, alpha: float, beta: float, stream: int) -> None:
        """Launch C = alpha * A @ B + beta * C on ``stream`` (an int handle). Checks nothing
        beyond what packing needs: ``CompiledKernel`` checks the arguments first."""
        values: dict[str, Any] = {
            "a": (a.data_ptr(), a.shape[0], a.shape[1]),
            "b": (b.data_ptr(), b.shape[0], b.shape[1]),
            "c": (c.data_ptr(), c.shape[0], c.shape[1]),
            "alpha": alpha,
            "beta": beta,
            "stream": stream,
        }
        spec = self.spec
        device = c.device.index if c.device.index is not None else 0
        kernel = self._loaded()
        for param in spec.params:
            if param.kind == "tensor_map":
                # A map depends only on the tensor's address, shape and the box: encode it once.
                key = (param.name, device, values[param.operand])
                encoded = self._maps.get(key)
                if encoded is None:
                    if len(self._maps) >= 256:
                        self._maps.clear()
                    encoded = encode_tensor_map(self._launcher, device, param, values)
                    self._maps[key] = encoded
                values[param.name] = encoded
        params = spec.pack(values)
        kernel.launch(
            device,
            list(spec.grid(c.shape[0], c.shape[1])),
            [spec.threads, 1, 1],
            spec.shared_bytes,
            int(stream),
            params,
            [0],
        )


#: CUtensorMapDataType of each element type.
_TMA_DTYPES = {"bf16": 9, "f32": 7}  # CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, _FLOAT32
_TMA_SWIZZLE = {0: 0, 32: 1, 64: 2, 128: 3}  # CU_TENSOR_MAP_SWIZZLE_NONE / 32B / 64B / 128B


def encode_tensor_map(launcher: ModuleType, device: int, param: Any, values: dict[str, Any]) -> bytes:
    """The CUtensorMap of ``param`` (a "tensor_map" member of the launch spec) over the row-major
    operand it names: dims (cols, rows), the box (box cols, box rows), 16-byte-aligned rows."""
    operand = param.operand
    address, rows, cols = values[operand]
    dtype = param.dtype or "bf16"  # the operand's element type
    element = 2 if dtype == "bf16" else 4
    box_rows, box_cols = param.box
    return launcher.encode_tensor_map(
        device,
        _TMA_DTYPES[dtype],
        address,
        [cols, rows],
        [cols * element],
        [box_cols, box_rows],
        [1, 1],
        0,
        _TMA_SWIZZLE[param.swizzle],
        3,  # CU_TENSOR_MAP_L2_PROMOTION_L2_256B (as tg::tma::make_map does)
        0,
    )
