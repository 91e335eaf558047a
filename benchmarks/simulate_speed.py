"""Time the CPU simulator on every example in examples/ at about 256^3 and print a table.

    python3 benchmarks/simulate_speed.py [--size 256] [--repeat 3]

Each example's default ``kernel()`` runs on M, N, K = ``--size`` rounded up to its block tile and
K step. "first" includes torch's one-time start-up on the first example; "best" is the fastest
of ``--repeat`` further runs. A schedule the simulator rejects shows its rules instead of times.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from backends.simulator import simulate  # noqa: E402
from ir.block_order import num_blocks  # noqa: E402
from ir.diagnostics import SimulationError  # noqa: E402
from tilegen.testing import example_names, load_example  # noqa: E402


def _round_up(x: int, unit: int) -> int:
    return -(-x // unit) * unit


def time_example(name: str, size: int, repeat: int) -> list[str]:
    kernel = load_example(name).kernel()
    launch = kernel.launch
    m, n, k = _round_up(size, launch.block_m), _round_up(size, launch.block_n), _round_up(size, launch.k_step)
    a = torch.randn(m, k, dtype=torch.bfloat16)
    b = torch.randn(*((k, n) if kernel.globals.b_layout == "kn" else (n, k)), dtype=torch.bfloat16)
    row = [name, f"{m}x{n}x{k}", str(num_blocks(launch, m, n)), str(launch.num_warps)]
    times = []
    for _ in range(repeat + 1):
        start = time.perf_counter()
        try:
            simulate(kernel, a, b)
        except SimulationError as error:
            return [*row, "-", "-", f"rejected: {', '.join(sorted(error.rules))}"]
        times.append(time.perf_counter() - start)
    return [*row, f"{times[0]:.3f}", f"{min(times[1:]):.3f}", ""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="M, N and K before rounding to the kernel's tiles")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs after the first")
    args = parser.parse_args(argv)
    header = ["example", "M x N x K", "blocks", "waves", "first s", "best s", "note"]
    rows = [header] + [time_example(name, args.size, max(1, args.repeat)) for name in example_names()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
