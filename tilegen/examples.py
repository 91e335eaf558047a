"""The example registry: the schedules shipped with tilegen (``examples/*.py``), found the same way
in a checkout and in an installed wheel.

A wheel carries the examples as the package ``tilegen_examples`` (setup.py maps the directory
``examples/`` onto it), so nothing depends on where the repository is. ``TILEGEN_EXAMPLES``
points the registry at another directory of schedule files.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Optional

__all__ = ["example_names", "example_path", "examples_dir", "load_example"]

#: The package a wheel installs the examples as.
PACKAGE = "tilegen_examples"


def examples_dir() -> Optional[Path]:
    """The directory holding the examples: ``$TILEGEN_EXAMPLES``, else the checkout's
    ``examples/``, else the installed ``tilegen_examples`` package; None when there is none."""
    configured = os.environ.get("TILEGEN_EXAMPLES")
    if configured:
        return Path(configured)
    checkout = Path(__file__).resolve().parent.parent / "examples"
    if checkout.is_dir():
        return checkout
    spec = importlib.util.find_spec(PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return None


def example_names() -> list[str]:
    """Module names of the shipped examples (files that define ``kernel()``), sorted."""
    folder = examples_dir()
    if folder is None or not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_") and "def kernel(" in p.read_text())


def example_path(name: str) -> Path:
    """The file of example ``name``; ValueError naming the known examples if there is none."""
    folder = examples_dir()
    path = folder / f"{name}.py" if folder is not None else None
    if path is None or not path.is_file():
        where = folder if folder is not None else "this installation (no examples directory found)"
        known = ", ".join(example_names()) or "none"
        raise ValueError(f"no example `{name}` in {where}; known: {known}")
    return path


def load_example(name: str) -> ModuleType:
    """The example module ``name`` (imported once, under its own name, so examples may import
    each other as they do in the checkout)."""
    existing = sys.modules.get(name)
    if existing is not None and hasattr(existing, "kernel"):
        return existing
    path = example_path(name)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    folder = str(path.parent)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        sys.path.remove(folder)
    return module
