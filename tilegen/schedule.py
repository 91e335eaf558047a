"""Schedule files: import a module exposing ``kernel(**params)`` and build its kernel.

The library half of ``tilegen emit / check / bench / show / trace`` (tilegen/cli.py is only the
command line on top), shared with the benchmarks, the tests and the scripts. Every failure is a
``ScheduleFileError`` whose message names the file, the bad value and what is accepted: a
missing file, a module that does not import, an unknown or badly typed ``--param``, a parameter
the builder or the IR refuses, an exception raised inside ``kernel()`` (with the user's line).
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Optional

from ir.models import Kernel as KernelIR

__all__ = [
    "ScheduleFileError",
    "import_schedule",
    "load_schedule",
    "parse_params",
    "parse_size",
    "target_params",
]


class ScheduleFileError(ValueError):
    """A schedule file, or a parameter given for it, that cannot make a kernel; the message says
    which value is wrong and what is accepted."""


def import_schedule(path: str | Path) -> ModuleType:
    """Import the schedule module at ``path`` (its directory on ``sys.path`` while it imports, so
    it may import its siblings, as the examples do)."""
    path = Path(path)
    if path.is_dir():
        raise ScheduleFileError(f"{path} is a directory; give a schedule file, e.g. examples/k01_baseline_4wave.py")
    if not path.is_file():
        raise ScheduleFileError(f"{path}: no such file (expected a schedule module exposing kernel(**params))")
    module_name = f"tilegen_schedule_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ScheduleFileError(f"{path}: cannot be imported as a Python module (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        raise ScheduleFileError(f"{error.filename}:{error.lineno}: syntax error: {error.msg}") from None
    except Exception as error:
        raise ScheduleFileError(f"{path} fails to import: {_user_failure(error, path)}") from None
    finally:
        sys.path.remove(folder)
    return module


def load_schedule(path: str | Path, params: Sequence[str] = (), target: Optional[str] = None) -> KernelIR:
    """Import ``path`` and call its ``kernel(**params)``; ``params`` are ``name=value`` strings.

    A schedule module may define ``TARGET_PARAMS``: defaults per target name or vendor ("amd",
    "nvidia"), applied for ``target`` before ``params``.
    """
    module = import_schedule(path)
    factory = getattr(module, "kernel", None)
    if not callable(factory):
        raise ScheduleFileError(f"{path} defines no kernel(**params) function returning a tilegen kernel")
    values = dict(target_params(module, target)) if target else {}
    values.update(parse_params(factory, params))
    call = f"kernel({', '.join(f'{k}={v!r}' for k, v in values.items())})"
    try:
        kernel = factory(**values)
    except Exception as error:
        raise ScheduleFileError(f"{path}: {call} failed: {_user_failure(error, Path(path), values)}") from None
    if not isinstance(kernel, KernelIR):
        raise ScheduleFileError(
            f"{path}: kernel() returned {type(kernel).__name__}, expected the tilegen.KernelIR that "
            "tilegen.Kernel(...).build() returns"
        )
    return kernel


def target_params(module: Any, target: str) -> dict[str, Any]:
    """The module's ``TARGET_PARAMS`` entry for ``target``, else for its vendor, else none."""
    from ir.targets import get_target

    table = getattr(module, "TARGET_PARAMS", {}) or {}
    if target in table:
        return dict(table[target])
    return dict(table.get(get_target(target).vendor, {}))


def parse_params(factory: Callable[..., Any], params: Sequence[str]) -> dict[str, Any]:
    """``name=value`` strings -> keyword arguments of ``factory``, each converted to the type of
    the parameter's default (``128x256`` for a tuple, ``true`` / ``false`` for a bool)."""
    signature = inspect.signature(factory)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    values: dict[str, Any] = {}
    for item in params:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ScheduleFileError(f"--param {item!r}: expected name=value, e.g. --param block=128")
        parameter = signature.parameters.get(name)
        if parameter is None and not takes_any:
            raise ScheduleFileError(
                f"--param {name}: kernel() has no such parameter; it takes: {_signature_text(signature) or 'none'}"
            )
        default = parameter.default if parameter is not None else inspect.Parameter.empty
        values[name] = _convert(name, text.strip(), default)
    return values


def _signature_text(signature: inspect.Signature) -> str:
    return ", ".join(
        f"{p.name}={p.default!r}" if p.default is not inspect.Parameter.empty else p.name
        for p in signature.parameters.values()
    )


def _convert(name: str, text: str, default: Any) -> Any:
    if isinstance(default, tuple):  # e.g. block=(128, 256): accept 128x256 or 128,256
        items = [item for item in text.replace("x", ",").split(",") if item.strip()]
        try:
            values = tuple(int(item) for item in items)
        except ValueError:
            values = ()
        if len(values) != len(default):
            example = "x".join(map(str, default))
            raise ScheduleFileError(f"--param {name}={text}: expected integers like {example}")
        return values
    if isinstance(default, bool):
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ScheduleFileError(f"--param {name}={text}: expected true or false")
    for kind in (int, float):
        if isinstance(default, kind) or default is inspect.Parameter.empty or default is None:
            try:
                return kind(text)
            except ValueError:
                if isinstance(default, kind):
                    raise ScheduleFileError(
                        f"--param {name}={text}: expected {kind.__name__} (default {default!r})"
                    ) from None
    return text


def parse_size(text: str) -> tuple[int, int, int]:
    """``4096`` (a cube) or ``4096x4096x8192`` (M x N x K), every size a positive integer."""
    parts = text.lower().replace("*", "x").split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ScheduleFileError(f"size {text!r}: expected N or MxNxK, e.g. 4096 or 4096x4096x8192") from None
    if len(values) == 1:
        values *= 3
    if len(values) != 3 or min(values) < 1:
        raise ScheduleFileError(
            f"size {text!r}: expected N or MxNxK with positive integers, e.g. 4096 or 4096x4096x8192"
        )
    return values[0], values[1], values[2]


def _user_failure(error: BaseException, path: Path, values: Optional[dict[str, Any]] = None) -> str:
    """What went wrong inside the user's schedule, in one message: the error's own text (a
    pydantic error as field: reason, naming the parameter it came from where it can), and the
    innermost line of the user's file on the way."""
    message = _describe(error, values or {})
    where = _innermost_user_line(error, path)
    return f"{message}{f' (at {where})' if where and where not in message else ''}"


def _describe(error: BaseException, values: dict[str, Any]) -> str:
    from pydantic import ValidationError

    if isinstance(error, ValidationError):
        parts = []
        for item in error.errors():
            field = ".".join(str(x) for x in item.get("loc", ())) or error.title
            got = item.get("input")
            origin = _origin(field, got, values)
            parts.append(f"{error.title}.{field} = {got!r}{origin}: {item.get('msg', 'invalid')}")
        return "; ".join(parts)
    text = str(error) or type(error).__name__
    return text if type(error).__name__ in ("BuildError", "ScheduleError") else f"{type(error).__name__}: {text}"


def _origin(field: str, got: Any, values: dict[str, Any]) -> str:
    """`` (from --param block=0)`` when a parameter the user passed carries the refused value."""
    for name, value in values.items():
        if value == got or (isinstance(value, tuple) and got in value) or name in field:
            return f" (from the parameter {name}={value!r})"
    return ""


def _innermost_user_line(error: BaseException, path: Path) -> str:
    target = os.path.abspath(path)
    found = ""
    for frame in traceback.extract_tb(error.__traceback__):
        if os.path.abspath(frame.filename) == target:
            found = f"{path}:{frame.lineno}"
    return found
