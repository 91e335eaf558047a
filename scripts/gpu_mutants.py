"""Run accepted mutants of the example families on the GPU and compare with torch (issue 9).

Random mutants of every family (``tilegen.testing.mutants``: ops removed or duplicated, offsets
and loop bounds off by one, barriers moved into branches, tiles swapped, buffer indices rotated,
role ranges changed) are drawn for the target; those ``validate`` accepts are compiled in
parallel (a process pool: nvcc takes 10-15 s per kernel), then each is run on the GPU at a
size that exercises what the validator checks (its covering grid, enlarged so a persistent
launch wraps: at least 2 * blocks + 1 tiles) and compared with a float64 torch reference.

    python3 scripts/gpu_mutants.py --count 150 --budget 200

prints progress and, at the end, the figures: mutants drawn, accepted, compiled, run, wrong
(must be 0: a wrong one is a validator soundness bug, printed with its mutation), build and
launch failures (emitter / runtime bugs, printed too). ``--compile-only`` builds without a GPU.
Exit status 1 when any accepted mutant computes wrong numbers.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TOLERANCE = {"f32": 1e-4, "bf16": 1e-2}


def draw_accepted(job: tuple[int, int, str, float]) -> tuple[list[tuple[str, dict[str, Any], str, str]], int]:
    """Worker: up to ``want`` accepted mutants (family, params, what, kernel JSON), drawing until
    the ``deadline`` (a ``time.time()``), and how many mutants it drew."""
    seed, want, target, deadline = job
    import random
    import warnings

    from hypothesis.errors import NonInteractiveExampleWarning

    from ir.diagnostics import ScheduleError
    from ir.resources import shared_footprint
    from ir.validate import validate
    from tilegen.testing import _family, example_names, load_example, mutants

    warnings.simplefilter("ignore", NonInteractiveExampleWarning)
    rng = random.Random(seed)
    families = example_names()
    found: list[tuple[str, dict[str, Any], str, str]] = []
    drawn = [0]
    while len(found) < want and time.time() < deadline:
        family = families[rng.randrange(len(families))]
        module = load_example(family)
        family_space = _family(module)
        params = {name: rng.choice(values) for name, values in family_space.choices.items()}
        if not family_space.valid(params):
            continue
        kernel = module.kernel(**params)
        footprint = shared_footprint(kernel, target)
        if footprint.total_bytes > footprint.limit_bytes:
            continue
        drawn[0] += 1
        what, mutant = mutants(kernel).example()
        try:
            validate(mutant, target=target)
        except ScheduleError:
            continue
        found.append((family, params, what, mutant.model_dump_json()))
    return found, drawn[0]


def build(job: tuple[str, str, str]) -> tuple[str, Optional[str], float]:
    """Worker: compile one kernel into the shared cache; (json, error or None, seconds)."""
    kernel_json, target, cache_dir = job
    import tilegen as tg
    from ir import models as m

    started = time.perf_counter()
    try:
        # spills cost speed, not correctness: this run is about numbers
        tg.compile(m.Kernel.model_validate_json(kernel_json), target=target, cache_dir=cache_dir, allow_spills=True)
    except Exception as error:  # reported: a build failure of an accepted schedule
        return kernel_json, f"{type(error).__name__}: {str(error)[:400]}", time.perf_counter() - started
    return kernel_json, None, time.perf_counter() - started


def run_size(kernel: Any) -> tuple[int, int, int]:
    """The covering problem, with enough tiles that a persistent launch wraps."""
    from ir.validate.sizes import covering_problem

    problem = covering_problem(kernel)
    launch = kernel.launch
    rows, cols = problem.m // launch.block_m, problem.n // launch.block_n
    if launch.persistent_blocks is not None:
        while rows * cols < 2 * launch.persistent_blocks + 1:
            if rows <= cols:
                rows += 1
            else:
                cols += 1
    return rows * launch.block_m, cols * launch.block_n, problem.k


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=150, help="accepted mutants to compile and run")
    parser.add_argument("--budget", type=float, default=200.0, help="seconds for drawing and compiling")
    parser.add_argument("--target", default="sm_90a")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 4)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--compile-only", action="store_true", help="build, do not run (no GPU needed)")
    parser.add_argument("--cache-dir", default=None, help="tilegen cache (default: a fresh temporary one)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    cache_dir = args.cache_dir or tempfile.mkdtemp(prefix="tg_mutants_")

    import torch

    if not args.compile_only and not torch.cuda.is_available():
        print("no GPU visible to torch: run on the H200, or pass --compile-only", file=sys.stderr)
        return 2

    # 1. Draw accepted mutants in parallel (validation is CPU work).
    workers = max(1, args.workers)
    per = -(-args.count // workers)
    accepted: dict[str, tuple[str, dict[str, Any], str]] = {}
    spawn = multiprocessing.get_context("spawn")  # no fork of a process that imported torch
    with ProcessPoolExecutor(workers, mp_context=spawn) as pool:
        deadline = time.time() + 0.35 * args.budget  # the rest of the budget is for the builds
        jobs = [(args.seed * 1000 + i, per, args.target, deadline) for i in range(workers)]
        drawn = 0
        for found, tried in pool.map(draw_accepted, jobs):
            drawn += tried
            for family, params, what, kernel_json in found:
                accepted.setdefault(kernel_json, (family, params, what))
    kernels = list(accepted)[: args.count]
    print(
        f"[{time.perf_counter() - started:6.1f} s] {drawn} mutants drawn, {len(kernels)} distinct ones accepted by "
        "validate",
        flush=True,
    )

    # 2. Compile them in parallel into one cache, within the budget.
    built: list[str] = []
    failed_builds: list[tuple[str, str]] = []
    seconds: list[float] = []
    pool = ProcessPoolExecutor(workers, mp_context=spawn)
    pending = {pool.submit(build, (k, args.target, cache_dir)) for k in kernels}
    while pending:
        left = args.budget - (time.perf_counter() - started)
        if left <= 0:
            print(f"budget of {args.budget:.0f} s spent: {len(pending)} builds not waited for", flush=True)
            break
        done, pending = wait(pending, timeout=left, return_when=FIRST_COMPLETED)
        for future in done:
            kernel_json, error, took = future.result()
            seconds.append(took)
            if error is None:
                built.append(kernel_json)
            else:
                failed_builds.append((kernel_json, error))
        print(
            f"[{time.perf_counter() - started:6.1f} s] built {len(built)}, build failures {len(failed_builds)}, "
            f"{len(pending)} to go",
            flush=True,
        )
    pool.shutdown(wait=False, cancel_futures=True)
    for kernel_json, error in failed_builds[:5]:
        family, params, what = accepted[kernel_json]
        print(f"BUILD FAILED {family}({params}) with {what}: {error}")

    # 3. Run each on the GPU against torch.
    import tilegen as tg
    from ir import models as m

    wrong: list[str] = []
    launch_errors: list[str] = []
    ran = 0
    worst = 0.0
    if not args.compile_only:
        for i, kernel_json in enumerate(built):
            family, params, what = accepted[kernel_json]
            kernel = m.Kernel.model_validate_json(kernel_json)
            M, N, K = run_size(kernel)
            gen = torch.Generator(device="cuda").manual_seed(i)
            a = torch.randn(M, K, device="cuda", generator=gen).to(torch.bfloat16)
            b_shape = (K, N) if kernel.globals.b_layout == "kn" else (N, K)
            b = torch.randn(*b_shape, device="cuda", generator=gen).to(torch.bfloat16)
            dtype = torch.float32 if kernel.globals.c_dtype == "f32" else torch.bfloat16
            c = torch.randn(M, N, device="cuda", generator=gen).to(dtype)
            label = f"{family}({params}) with {what} at {M} x {N} x {K}"
            try:
                fn = tg.compile(kernel, target=args.target, cache_dir=cache_dir, allow_spills=True)
                out = fn(a, b, c.clone(), alpha=-1.5, beta=0.5)
                torch.cuda.synchronize()
            except Exception as error:  # reported: a launch failure of an accepted schedule
                launch_errors.append(f"{label}: {type(error).__name__}: {str(error)[:300]}")
                continue
            b64 = b.double() if kernel.globals.b_layout == "kn" else b.double().t()
            ref = -1.5 * (a.double() @ b64) + 0.5 * c.double()
            error = float(torch.linalg.vector_norm(out.double() - ref) / torch.linalg.vector_norm(ref))
            if not torch.isfinite(out.double()).all():
                error = float("inf")
            ran += 1
            if error >= TOLERANCE[kernel.globals.c_dtype]:
                wrong.append(f"{label}: relative error {error:.3e}")
            else:
                worst = max(worst, error)
            if (i + 1) % 25 == 0:
                print(f"[{time.perf_counter() - started:6.1f} s] ran {i + 1} of {len(built)}", flush=True)

    families: dict[str, int] = {}
    for kernel_json in built:
        families[accepted[kernel_json][0]] = families.get(accepted[kernel_json][0], 0) + 1
    mean = sum(seconds) / len(seconds) if seconds else 0.0
    print()
    print(f"mutants drawn: {drawn}; accepted by validate: {len(kernels)}; built {len(built)} "
          f"(mean {mean:.1f} s per build, {workers} workers); "
          f"build failures {len(failed_builds)}")
    print("by family: " + ", ".join(f"{name} {count}" for name, count in sorted(families.items())))
    if not args.compile_only:
        print(f"ran on the GPU: {ran}; wrong results: {len(wrong)}; launch errors: {len(launch_errors)}; "
              f"worst relative error of the correct ones {worst:.2e}")
        for line in wrong + launch_errors:
            print(("WRONG " if line in wrong else "LAUNCH ERROR ") + line)
    print(f"total {time.perf_counter() - started:.0f} s")
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
