"""The kernel launcher: one small pybind11 module (``launcher/tg_launch.cpp``) that loads device
code built alone (a cubin, an AMD code object) and launches it with packed parameters.

It is built with the host C++ compiler (no nvcc / hipcc: it opens the GPU driver with dlopen),
once per machine, Python and compiler; ``tilegen.compile`` caches it like a kernel.
"""

from __future__ import annotations

import os
import shutil
import sysconfig
from pathlib import Path

from backends.drivers.common import CompileResult, CompilerNotFound, python_include_dirs, run

SOURCE = Path(__file__).resolve().parent / "launcher" / "tg_launch.cpp"
FLAGS = ("-O1", "-std=c++17", "-shared", "-fPIC", "-fvisibility=hidden")


def find_cxx() -> str:
    """The host C++ compiler: $CXX, then c++, then g++."""
    for candidate in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if candidate and (found := shutil.which(candidate)):
            return found
    raise CompilerNotFound("no C++ compiler for tilegen's launcher: install g++ (apt-get install g++) or set CXX")


def module_file(module_name: str) -> str:
    return module_name + (sysconfig.get_config_var("EXT_SUFFIX") or ".so")


def build(out_dir: Path, module_name: str) -> CompileResult:
    """Build the launcher as the Python module ``module_name`` in ``out_dir``."""
    if not module_name.isidentifier():
        raise ValueError(f"module name `{module_name}` is not a Python identifier")
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / module_file(module_name)
    includes = [f"-I{d}" for d in python_include_dirs()]
    cmd = [find_cxx(), *FLAGS, f"-DTG_LAUNCHER_NAME={module_name}", *includes, str(SOURCE), "-o", str(output), "-ldl"]
    log = run(cmd, SOURCE)
    return CompileResult(output=output, command=cmd, log=log)
