"""Measure tilegen's build times on this machine (docs/compile.md, "Build times").

    python3 scripts/build_times.py [--target sm_90a] [--jobs 4]

In a fresh cache: (1) the launcher, built once per machine; (2) a cold compile() of k01 alone, in
a new process; (3) every example compiled cold at once (``--jobs`` threads), each one's time;
(4) warm compile() of k01 in three new processes (time of the call, compilers started). With a
GPU, (5) k01 and the Hopper examples run at 1024^3 and 4096^3 against float64 (a smoke test of the
launcher); exit status 1 if one is wrong.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EXAMPLES = ROOT / "examples"

_ONE = """
import subprocess, sys, time
sys.path.insert(0, {root!r})
spawned = []
_init = subprocess.Popen.__init__
def counting(self, args, *rest, **kw):
    spawned.append(args)
    _init(self, args, *rest, **kw)
subprocess.Popen.__init__ = counting
import tilegen
from tilegen.cli import load_schedule
from tilegen.compiler import schedule_options
kernel = load_schedule({example!r}, [], {target!r})
start = time.perf_counter()
fn = tilegen.compile(kernel, {target!r}, cache_dir={cache!r}, **schedule_options({example!r}))
print(f"{{time.perf_counter() - start:.3f}} {{len(spawned)}} {{fn.cache_entry.build.get('mode')}}")
"""


def one_process(example: Path, target: str, cache: Path) -> tuple[float, int, str]:
    code = _ONE.format(root=str(ROOT), example=str(example), target=target, cache=str(cache))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"compile of {example.name} failed:\n{out.stderr}")
    seconds, spawned, mode = out.stdout.split()[-3:]
    return float(seconds), int(spawned), mode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default=None, help="default: the GPU torch sees, else sm_90a")
    parser.add_argument("--jobs", type=int, default=4)
    args = parser.parse_args()
    import torch

    from tilegen.compiler import compile, schedule_options
    from tilegen.launch import load_launcher

    gpu = torch.cuda.is_available()
    if args.target is None:
        from tilegen.device import detect_target

        args.target = detect_target() if gpu else "sm_90a"
    cache = Path(tempfile.mkdtemp(prefix="tilegen-build-times-"))
    where = torch.cuda.get_device_name(0) if gpu else "no GPU"
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"# tilegen build times, {when}, {os.cpu_count()} CPUs, {where}")
    print(f"target {args.target}, cache {cache}\n")

    start = time.perf_counter()
    load_launcher(cache)
    print(f"launcher (once per machine, Python and compiler): {time.perf_counter() - start:.1f} s")

    k01 = EXAMPLES / "k01_baseline_4wave.py"
    seconds, _, mode = one_process(k01, args.target, cache)
    print(f"cold compile() of k01 alone, new process: {seconds:.2f} s ({mode} build)")

    examples = sorted(p for p in EXAMPLES.glob("*.py") if p != k01)
    from tilegen.cli import load_schedule

    def cold(path: Path) -> tuple[str, float]:
        kernel = load_schedule(path, [], args.target)
        begin = time.perf_counter()
        compile(kernel, args.target, cache_dir=cache, **schedule_options(path))
        return path.stem, time.perf_counter() - begin

    begin = time.perf_counter()
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(cold, examples))
    wall = time.perf_counter() - begin
    print(f"\n{len(examples)} other examples cold, {args.jobs} at once: {wall:.1f} s wall")
    print("| example | cold compile() s |\n| --- | ---: |")
    for name, took in results:
        print(f"| {name} | {took:.2f} |")

    warm = [one_process(k01, args.target, cache) for _ in range(3)]
    print(
        "\nwarm compile() of k01, new processes: "
        + ", ".join(f"{1e3 * s:.1f} ms ({n} processes started)" for s, n, _ in warm)
    )

    if gpu:
        from tilegen.bench import TOLERANCE

        failed = 0
        for name in ("k01_baseline_4wave.py", "hopper_tma_wgmma.py", "h100_producer_consumer.py"):
            path = EXAMPLES / name
            if not path.is_file():
                continue
            kernel = load_schedule(path, [], args.target)
            fn = compile(kernel, args.target, cache_dir=cache, **schedule_options(path))
            for size in (1024, 4096):
                a = torch.randn(size, size, device="cuda").bfloat16()
                b = torch.randn(size, size, device="cuda").bfloat16()
                b = b if kernel.globals.b_layout == "kn" else b.t().contiguous()
                c = fn(a, b)
                torch.cuda.synchronize()
                ref = a.double() @ (b.double() if kernel.globals.b_layout == "kn" else b.double().t())
                error = float((c.double() - ref).norm() / ref.norm())
                ok = error < TOLERANCE[kernel.globals.c_dtype]
                failed += not ok
                verdict = "ok" if ok else "WRONG"
                print(f"{path.stem} through the launcher at {size}^3: relative error {error:.2e} ({verdict})")
        if failed:
            print("LAUNCHER CHECK FAILED: rerun with TILEGEN_BUILD=module to use the full pybind11 modules")
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
