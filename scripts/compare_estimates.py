"""Compare the validator's register estimate with what hipcc and nvcc allocate, for every example.

    python3 scripts/compare_estimates.py [--targets gfx940 sm_90a]

Prints one row per example and target: the estimate (`ir.resources.register_estimate`, the
kernel figure: the largest role), the compiler's figure (AMD: arch VGPRs + AGPRs per lane from the
assembly; NVIDIA: registers per thread from ptxas), their difference, and spills. Shared memory
needs no such table: kernels allocate exactly `ir.resources.dynamic_shared_memory` dynamically and
the compilers report 0 bytes of static shared memory for them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ir.resources import register_estimate  # noqa: E402
from ir.targets import get_target  # noqa: E402
from tilegen.schedule import load_schedule  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", nargs="+", default=["gfx940", "sm_90a"])
    args = parser.parse_args()
    from backends.drivers.resources import resources

    print("| example | target | estimate | compiler | compiler - estimate | spills |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for path in sorted((ROOT / "examples").glob("*.py")):
        for target in args.targets:
            kernel = load_schedule(path, [], target)
            estimate = register_estimate(kernel, get_target(target)).kernel
            found = resources(kernel, target)
            used = found.registers
            row = (path.stem, target, estimate, used, f"{used - estimate:+d}", found.spills)
            print("| " + " | ".join(str(cell) for cell in row) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
