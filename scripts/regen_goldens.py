"""Regenerate tests/golden/: the HIP the emitter writes for every example, for each golden target.

    python scripts/regen_goldens.py          # rewrite tests/golden/ (and delete stale files)
    python scripts/regen_goldens.py --check  # change nothing; exit 1 with a diff if a golden is stale

Each module ``examples/<name>.py`` exposes ``kernel(**params)``. Its golden for a target is
``tests/golden/<name>.<target>.cpp``: the emitted source at the default parameters, updated by the
module's ``TARGET_PARAMS`` for the target (keyed by target name, or by vendor: "amd", "nvidia").
When the schedule is rejected for a target, the golden is ``<name>.<target>.error.txt`` holding the
message instead, so a change in the emitted code or in a diagnostic both show up in review.

Kernels are built with the repository root as the working directory, so the source locations in
the goldens read ``examples/<name>.py:<line>`` wherever the script or the tests are run from.
tests/test_emit_golden.py compares the emitter's output with these files byte for byte.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
GOLDEN_DIR = ROOT / "tests" / "golden"
TARGETS = ("gfx942", "sm_90a")
REGEN_COMMAND = "python scripts/regen_goldens.py"

for _path in (ROOT, EXAMPLES):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


def example_modules() -> list[str]:
    """Every example module, by name: each ``examples/*.py`` not starting with an underscore."""
    return sorted(path.stem for path in EXAMPLES.glob("*.py") if not path.stem.startswith("_"))


def example_params(module: Any, target: str) -> dict[str, Any]:
    """The parameters an example is built with for ``target``: its ``TARGET_PARAMS`` entry for the
    target name or vendor (the same lookup as ``tilegen check`` / ``tilegen emit``)."""
    from tilegen.schedule import target_params

    return target_params(module, target)


@contextlib.contextmanager
def _at_root() -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(ROOT)
    try:
        yield
    finally:
        os.chdir(previous)


def golden(module_name: str, target: str) -> tuple[str, str]:
    """(file name, contents) of the golden of example ``module_name`` for ``target``."""
    from backends.hip.emitter import emit
    from ir.diagnostics import ScheduleError

    with _at_root():
        module = importlib.import_module(module_name)
        kernel = module.kernel(**example_params(module, target))
        try:
            return f"{module_name}.{target}.cpp", emit(kernel, target)
        except ScheduleError as error:
            return f"{module_name}.{target}.error.txt", f"{error}\n"


def expected_goldens() -> dict[str, str]:
    """Every golden file name -> contents, for every example and target."""
    files: dict[str, str] = {}
    for module_name in example_modules():
        for target in TARGETS:
            name, text = golden(module_name, target)
            files[name] = text
    return files


def diff_excerpt(expected: str, actual: str, name: str, limit: int = 60) -> str:
    """The first ``limit`` lines of a unified diff from the golden to the emitted text."""
    lines = list(
        difflib.unified_diff(expected.splitlines(), actual.splitlines(), f"tests/golden/{name}", "emitted", lineterm="")
    )
    more = f"\n... ({len(lines) - limit} more diff lines)" if len(lines) > limit else ""
    return "\n".join(lines[:limit]) + more


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report stale goldens, change nothing")
    args = parser.parse_args(argv)

    wanted = expected_goldens()
    present = {path.name for path in GOLDEN_DIR.glob("*") if path.is_file()}
    stale = sorted(present - set(wanted))
    changed = [name for name, text in wanted.items() if name not in present or (GOLDEN_DIR / name).read_text() != text]

    if args.check:
        for name in changed:
            old = (GOLDEN_DIR / name).read_text() if name in present else ""
            print(diff_excerpt(old, wanted[name], name))
        for name in stale:
            print(f"stale golden (no example makes it): tests/golden/{name}")
        if changed or stale:
            print(f"{len(changed)} golden(s) differ, {len(stale)} stale; run `{REGEN_COMMAND}`")
            return 1
        print(f"{len(wanted)} goldens up to date")
        return 0

    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    for name in changed:
        (GOLDEN_DIR / name).write_text(wanted[name])
        print(f"wrote tests/golden/{name}")
    for name in stale:
        (GOLDEN_DIR / name).unlink()
        print(f"removed tests/golden/{name}")
    print(f"{len(wanted)} goldens: {len(changed)} written, {len(stale)} removed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
