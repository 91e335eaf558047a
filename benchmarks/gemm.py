"""Every example under examples/ against torch.matmul (cuBLAS on NVIDIA, hipBLASLt / rocBLAS on
AMD), in the same run, on the GPU torch sees.

    python benchmarks/gemm.py [--sizes 4096 8192 4096x4096x8192] [--c-dtype f32] [--json out.json]

Each example is compiled for the local GPU (cached), checked against float64 at every size, then
timed with CUDA events: warm-up calls, then the median of --repeats calls queued back to back,
rotating over enough input sets that together they are at least twice the L2 (so inputs come from
HBM, as in a real model). torch.matmul runs on the same inputs with bf16 output. Prints a markdown
table (TFLOP/s, ratio to torch.matmul) under a line with the date, GPU, torch and CUDA / ROCm
versions; --json writes the raw numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ir.diagnostics import ScheduleError  # noqa: E402 (the repository root goes on sys.path first)
from tilegen.cli import (  # noqa: E402
    BenchResult,
    bench_kernel,
    environment_line,
    load_schedule,
    markdown_table,
    parse_size,
)


def _compile(example: Path, c_dtype: str, target: str, cache_dir: str | None) -> tuple[str, Any]:
    """(example stem, CompiledKernel) or (example stem, a one-line reason it is not benchmarked)."""
    from tilegen.compiler import compile, schedule_options

    try:
        kernel = load_schedule(example, [f"c_dtype={c_dtype}"], target)
        return example.stem, compile(kernel, target, cache_dir=cache_dir, **schedule_options(example))
    except ScheduleError as error:
        return example.stem, f"not valid for {target} ({', '.join(sorted(error.rules))})"
    except Exception as error:  # a build failure is reported in the table, the other examples still run
        return example.stem, f"{type(error).__name__}: {str(error).splitlines()[0]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=[(4096,) * 3, (8192,) * 3], metavar="SIZE",
                        help="N (a cube) or MxNxK (default: 4096 8192)")  # fmt: skip
    parser.add_argument("--examples", nargs="+", default=None, metavar="NAME", help="example stems (default: all)")
    parser.add_argument("--c-dtype", default="f32", choices=["f32", "bf16"])
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--json", default=None, metavar="PATH", help="write the raw numbers here")
    args = parser.parse_args(argv)

    import torch

    from tilegen.compiler import detect_target

    target = detect_target()
    examples = sorted((ROOT / "examples").glob("*.py"))
    if args.examples:
        examples = [p for p in examples if p.stem in set(args.examples)]
    with ThreadPoolExecutor(max_workers=min(8, len(examples) or 1)) as pool:
        built = list(pool.map(lambda p: _compile(p, args.c_dtype, target, args.cache_dir), examples))

    results: list[BenchResult] = []
    skipped: dict[str, str] = {}
    for name, fn in built:
        if isinstance(fn, str):
            skipped[name] = fn
            continue
        results.extend(bench_kernel(fn, args.sizes, warmup=args.warmup, repeats=args.repeats))
        torch.cuda.empty_cache()

    header = environment_line()
    print(f"{header}\n")
    print(
        f"bf16 A and B, {args.c_dtype} C, f32 accumulation; median of {args.repeats} calls after {args.warmup} "
        "warm-up calls, inputs rotating past L2; torch.matmul writes bf16; ratio = torch.matmul time / kernel time\n"
    )
    print(markdown_table(results))
    for name, why in skipped.items():
        print(f"\n- {name}: not benchmarked: {why}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "environment": header,
                    "target": target,
                    "c_dtype": args.c_dtype,
                    "gpu": torch.cuda.get_device_name(),
                    "torch": torch.__version__,
                    "cuda": torch.version.cuda,
                    "hip": getattr(torch.version, "hip", None),
                    "results": [asdict(r) for r in results],
                    "skipped": skipped,
                },
                indent=1,
            )
        )
    return 0 if results and all(r.correct for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
