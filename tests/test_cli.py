"""The ``tilegen`` command line: schedule files and their parameters, emit, check, bench without
a GPU, the cache commands, --help, and the progress line while a compile runs."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from test_cache import fake_builder

from tilegen import cache
from tilegen.cli import CliError, load_schedule, main, parse_params, parse_size
from tilegen.compiler import _Progress

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "k01_baseline_4wave.py"


def run_cli(*args: str, env_cache: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = None if env_cache is None else {**os.environ, cache.ENV_CACHE_DIR: str(env_cache)}
    return subprocess.run(
        [sys.executable, "-m", "tilegen", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300
    )


# --------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------


def _factory(block: int = 128, k_step: int = 32, ratio: float = 0.5, fast: bool = False, name: str = "x",
             shape: tuple[int, int] = (128, 256)) -> None:  # fmt: skip
    """Stands in for an example's kernel(**params) signature."""


def test_params_take_the_type_of_their_default() -> None:
    values = parse_params(
        _factory,
        ["block=64", "k_step = 16", "ratio=0.25", "fast=true", "name=abc", "shape=64x128"],
    )
    assert values == {"block": 64, "k_step": 16, "ratio": 0.25, "fast": True, "name": "abc", "shape": (64, 128)}
    assert parse_params(_factory, ["fast=off", "shape=32,64"]) == {"fast": False, "shape": (32, 64)}


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("blocks=64", r"--param blocks: kernel\(\) has no such parameter; it takes: block=128, k_step=32"),
        ("block=big", r"--param block=big: expected int \(default 128\)"),
        ("fast=maybe", r"--param fast=maybe: expected true or false"),
        ("block", r"--param 'block': expected name=value"),
        ("shape=1xq", r"--param shape=1xq: expected integers like 128x256"),
    ],
)
def test_bad_params_say_what_is_accepted(param: str, message: str) -> None:
    with pytest.raises(CliError, match=message):
        parse_params(_factory, [param])


def test_sizes() -> None:
    assert parse_size("4096") == (4096, 4096, 4096)
    assert parse_size("16384x4096x14336") == (16384, 4096, 14336)
    for bad in ("4096x4096", "0", "axb", "1x2x3x4"):
        with pytest.raises(CliError, match="expected N or MxNxK"):
            parse_size(bad)


def test_schedule_files_are_checked(tmp_path: Path) -> None:
    with pytest.raises(CliError, match="no such file"):
        load_schedule(tmp_path / "missing.py")
    no_kernel = tmp_path / "no_kernel.py"
    no_kernel.write_text("x = 1\n")
    with pytest.raises(CliError, match=r"defines no kernel\(\*\*params\) function"):
        load_schedule(no_kernel)
    not_built = tmp_path / "not_built.py"
    not_built.write_text(
        "import tilegen as tg\ndef kernel():\n    return tg.Kernel('k', warps=1, block=(16, 16), k_step=16)\n"
    )
    with pytest.raises(CliError, match=r"kernel\(\) returned Kernel, expected the tilegen.KernelIR"):
        load_schedule(not_built)


def test_a_schedule_may_import_its_siblings(tmp_path: Path) -> None:
    (tmp_path / "shared_sizes.py").write_text("BLOCK = 64\n")
    (tmp_path / "mine.py").write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(ROOT / "examples")!r})
            from k01_baseline_4wave import kernel as base
            from shared_sizes import BLOCK

            def kernel(k_step: int = 32):
                return base(block=BLOCK, k_step=k_step)
            """
        )
    )
    kernel = load_schedule(tmp_path / "mine.py", ["k_step=16"])
    assert (kernel.launch.block_m, kernel.launch.k_step) == (64, 16)


def test_target_params_apply_by_target_then_vendor_and_params_win(tmp_path: Path) -> None:
    schedule = tmp_path / "per_target.py"
    schedule.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(ROOT / "examples")!r})
            from k01_baseline_4wave import kernel as base

            TARGET_PARAMS = {{"amd": {{"k_step": 16}}, "sm_90a": {{"k_step": 64}}}}

            def kernel(block: int = 128, k_step: int = 32):
                return base(block=block, k_step=k_step)
            """
        )
    )

    def k_step(target: str | None, *params: str) -> int:
        return load_schedule(schedule, params, target).launch.k_step

    assert k_step(None) == 32
    assert k_step("gfx942") == 16 and k_step("gfx90a") == 16
    assert k_step("sm_90a") == 64 and k_step("sm_80") == 32
    assert k_step("sm_90a", "k_step=48") == 48


def test_help_for_every_command() -> None:
    for command in ([], ["emit"], ["check"], ["bench"], ["cache"]):
        out = io.StringIO()
        with pytest.raises(SystemExit) as info:
            sys.stdout, saved = out, sys.stdout
            try:
                main([*command, "--help"])
            finally:
                sys.stdout = saved
        assert info.value.code == 0
        assert out.getvalue().startswith(f"usage: tilegen {' '.join(command)}".rstrip())


def test_python_dash_m_tilegen_is_the_same_command() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0 and "emit" in proc.stdout and "cache" in proc.stdout


# --------------------------------------------------------------------------------------------
# emit and check (the real validator, emitter and simulator)
# --------------------------------------------------------------------------------------------


def test_emit_writes_what_tilegen_emit_returns(tmp_path: Path) -> None:
    import tilegen

    out = tmp_path / "k01.cpp"
    proc = run_cli("emit", str(EXAMPLE), "--target", "sm_90a", "-o", str(out), "--param", "k_step=16")
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}" in proc.stderr
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from k01_baseline_4wave import kernel
    finally:
        sys.path.remove(str(ROOT / "examples"))
    assert out.read_text() == tilegen.emit(kernel(k_step=16), target="sm_90a")
    to_stdout = run_cli("emit", str(EXAMPLE))
    assert to_stdout.returncode == 0 and to_stdout.stdout == tilegen.emit(kernel(), target="gfx942")


def test_check_validates_and_simulates_without_a_gpu() -> None:
    import tilegen

    proc = run_cli("check", str(EXAMPLE), "--size", "256", "128", "96")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith(tilegen.validate(load_schedule(EXAMPLE), "gfx942").summary())
    assert "at M=256, N=128, K=96 on the CPU" in proc.stdout and proc.stdout.rstrip().endswith(": ok")


_BROKEN = """
import tilegen as tg

def kernel():
    k = tg.Kernel("broken", warps=4, block=(64, 64), k_step=32)
    As = k.shared("As", 64, 32)
    Bs = k.shared("Bs", 32, 64)
    acc = k.accumulator("acc", 32, 32)
    a = k.register("a", 32, 32)
    b = k.register("b", 32, 32, layout="col")
    wr, wc = k.warp_grid(2, 2)
    k.zero(acc)
    with k.k_loop() as kt:
        k.load_tile(As, "A", kt)
        k.load_tile(Bs, "B", kt)
        with k.when(k.warp.eq(0)):
            k.sync()
        k.load(a, As, row=wr)
        k.load(b, Bs, col=wc)
        k.mma(acc, a, b)
        k.sync()
    k.store(acc, row=wr, col=wc)
    return k.build()
"""


def test_check_fails_with_the_diagnostics_of_a_broken_schedule(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text(_BROKEN)
    proc = run_cli("check", str(broken))
    assert proc.returncode == 1
    assert "error[" in proc.stdout and "broken.py:" in proc.stdout


def test_a_size_the_schedule_cannot_run_fails_the_check() -> None:
    proc = run_cli("check", str(EXAMPLE), "--size", "100", "128", "32")
    assert proc.returncode == 1
    assert "M=100" in proc.stdout and "multiple" in proc.stdout and "Traceback" not in proc.stderr


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="a GPU is present: bench runs for real in scripts/device_check.sh"
)
def test_bench_without_a_gpu_says_so() -> None:
    proc = run_cli("bench", str(EXAMPLE))
    assert proc.returncode == 1
    assert "NoGPUError: no GPU visible to torch; tilegen.emit and `tilegen check` still work" in proc.stderr
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------------------------
# cache
# --------------------------------------------------------------------------------------------


def _entry(root: Path, key: str) -> None:
    cache.get_or_build(root, key, fake_builder([]), describe={"kernel": "baseline_4wave", "target": "sm_90a"})


def test_cache_path_list_and_clear(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    assert run_cli("cache", "path", env_cache=root).stdout.strip() == str(root)
    assert run_cli("cache", "list", env_cache=root).stdout.strip() == f"no entries in {root}"
    _entry(root, "ab" * 20)
    _entry(root, "cd" * 20)
    (root / ("cd" * 20) / cache.MANIFEST_NAME).unlink()
    listing = run_cli("cache", "list", env_cache=root).stdout.splitlines()
    assert listing[0].startswith("ab" * 20) and "baseline_4wave" in listing[0] and "sm_90a" in listing[0]
    assert listing[1].startswith("cd" * 20) and "INVALID (no readable manifest" in listing[1]
    cleared = run_cli("cache", "clear", "--cache-dir", str(root))
    assert cleared.stdout.strip() == f"removed 2 entries from {root}"
    assert cache.list_entries(root) == []


# --------------------------------------------------------------------------------------------
# Progress while compiling
# --------------------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_one_line_when_stderr_is_not_a_terminal() -> None:
    stream = io.StringIO()
    with _Progress("k for sm_90a", stream) as progress:
        progress.run(lambda: cache.BuiltFiles("x.so"))
    assert stream.getvalue() == "compiling k for sm_90a...\n"


def test_progress_on_a_terminal_counts_seconds_and_ends_with_the_total() -> None:
    import time

    stream = _Terminal()
    with _Progress("k for gfx942", stream) as progress:
        progress.run(lambda: time.sleep(1.2) or cache.BuiltFiles("x.so"))
    text = stream.getvalue()
    assert "\r\033[Kcompiling k for gfx942... 1 s" in text
    assert re.search(r"\r\033\[Kcompiled k for gfx942 in 1\.\d s\n$", text), text


def test_progress_says_when_it_waits_for_another_process() -> None:
    stream = io.StringIO()
    with _Progress("k for gfx942", stream) as progress:
        progress.waiting()
    assert stream.getvalue() == "waiting for another process compiling k for gfx942...\n"


def test_check_shows_how_the_block_order_shares_panels() -> None:
    from tilegen.cli import block_order_report

    kernel = load_schedule(ROOT / "examples" / "k05_subtile_16x16.py", [], "gfx942")
    line = block_order_report(kernel, "gfx942")
    # 304 resident 64 x 64 blocks in row-major order over 128 tile columns: 3 A panels, 128 B panels.
    assert "read 3 A panels and 128 B panels" in line
    assert "a grouped order (`order=tg.grouped(" in line

