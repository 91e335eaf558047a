"""tilegen's command line never throws (issue 13, item 2): each bad argument or schedule file the
issue lists gets one message naming the bad value and what is accepted, and no traceback; plus
``--version``, progress for long simulations, and the messages of the size check and of alpha.

Each test here failed before the fix it covers (tracebacks, raw pydantic errors, a repeated size
message, a float() error not naming alpha)."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest
import torch

import tilegen as tg
from ir import models as m
from tilegen import cli
from tilegen.schedule import ScheduleFileError, load_schedule

ROOT = Path(__file__).resolve().parent.parent
K01 = str(ROOT / "examples" / "k01_baseline_4wave.py")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """(exit status, stdout + stderr) of ``tilegen argv`` run in this process."""
    try:
        code = cli.main(argv)
    except SystemExit as exit_:  # argparse's usage errors and --version
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "Traceback" not in text
    return code, text


@pytest.mark.parametrize("command", ["check", "emit", "bench"])
def test_an_unknown_target_is_a_usage_error_listing_the_targets(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = run([command, K01, "--target", "nonsense"], capsys)
    assert code == 2
    assert "'nonsense'" in text and "gfx942" in text and "sm_90a" in text


def test_a_parameter_the_ir_refuses_names_the_parameter_and_what_is_accepted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, text = run(["check", K01, "--param", "c_dtype=f16"], capsys)
    assert code == 2
    assert "c_dtype='f16'" in text and "'bf16' or 'f32'" in text and "validation error" not in text
    code, text = run(["check", K01, "--param", "block=0"], capsys)
    assert code == 2
    assert "block=0" in text and "greater than or equal to 1" in text


def test_negative_and_zero_sizes_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, text = run(["check", K01, "--size", "-128", "128", "128"], capsys)
    assert code == 2 and "'-128'" in text and "at least 1" in text
    code, text = run(["bench", K01, "--sizes", "0"], capsys)
    assert code == 2 and "'0'" in text and "positive" in text
    code, text = run(["bench", K01, "--sizes", "12x"], capsys)
    assert code == 2 and "'12x'" in text and "4096x4096x8192" in text


def test_emit_to_a_directory_says_so_before_any_work(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, text = run(["emit", K01, "-o", str(tmp_path)], capsys)
    assert code == 2 and "is a directory" in text and "kernel.cpp" in text
    code, text = run(["emit", K01, "-o", str(tmp_path / "no" / "such" / "k.cpp")], capsys)
    assert code == 2 and "does not exist" in text
    code, _ = run(["emit", K01, "-o", str(tmp_path / "k.cpp")], capsys)
    assert code == 0 and "baseline_4wave_kernel" in (tmp_path / "k.cpp").read_text()


def _schedule(tmp_path: Path, body: str) -> str:
    path = tmp_path / "sched.py"
    path.write_text(textwrap.dedent(body))
    return str(path)


def test_a_build_error_inside_kernel_names_the_users_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = _schedule(
        tmp_path,
        """
        import tilegen as tg

        def kernel():
            k = tg.Kernel("bad_grid", warps=4, block=(64, 64), k_step=32)
            k.warp_grid(3, 3)
            return k.build()
        """,
    )
    code, text = run(["check", path], capsys)
    assert code == 2
    assert "3 x 3 warp grid needs 9 warps" in text and f"{path}:6" in text


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("def kernel(:\n    pass\n", "syntax error"),
        ("import no_such_module_anywhere\n", "No module named 'no_such_module_anywhere'"),
        ("def kernel():\n    return 42\n", "returned int"),
        ("x = 1\n", "defines no kernel(**params)"),
        ("def kernel():\n    return {}['missing']\n", "KeyError"),
    ],
)
def test_a_broken_schedule_file_is_one_message(
    body: str, expected: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, text = run(["emit", _schedule(tmp_path, body)], capsys)
    assert code == 2 and expected in text


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, text = run(["--version"], capsys)
    assert code == 0 and text.startswith(f"tilegen {tg.__version__}")


def test_an_unexpected_failure_is_an_internal_error_without_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(args: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "cmd_emit", broken)
    monkeypatch.delenv("TILEGEN_TRACEBACK", raising=False)
    code, text = run(["emit", K01], capsys)
    assert code == 3 and "internal error: RuntimeError: boom" in text and "TILEGEN_TRACEBACK=1" in text


def test_load_schedule_is_a_library_function_with_its_own_error() -> None:
    with pytest.raises(ScheduleFileError, match="kernel\\(\\) has no such parameter; it takes: block=128"):
        load_schedule(K01, ["nope=1"])
    assert cli.CliError is ScheduleFileError  # older imports keep working
    assert cli.TOLERANCE is __import__("tilegen.bench").bench.TOLERANCE


def _broken_roles_kernel() -> m.Kernel:
    k = tg.Kernel("roles", warps=8, block=(64, 64), k_step=32)
    left = k.role("left", range(0, 4))
    acc = k.accumulator("acc", 32, 32)
    k.zero(acc)
    with left:
        k.sync()
    k.store(acc, row=k.warp // 2 % 2, col=k.warp % 2)
    data = k.build().model_dump()
    data["roles"][0]["name"] = "renamed"  # the branch now names a role nothing declares
    return m.Kernel.model_validate(data)


def test_simulating_a_structurally_invalid_schedule_names_the_fault() -> None:
    kernel = _broken_roles_kernel()
    a, b = torch.randn(64, 32), torch.randn(32, 64)
    with pytest.raises(tg.ScheduleError, match="role `left`"):
        tg.simulate(kernel, a, b)


def test_simulate_reports_progress_per_block() -> None:
    k = tg.Kernel("tiny", warps=1, block=(16, 16), k_step=16)
    acc = k.accumulator("acc", 16, 16)
    k.zero(acc)
    k.store(acc)
    calls: list[tuple[int, int]] = []
    tg.simulate(k.build(), torch.randn(48, 16), torch.randn(16, 32), progress=lambda d, t: calls.append((d, t)))
    assert calls == [(i, 6) for i in range(1, 7)]


def test_the_progress_line_appears_only_for_long_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([100.0, 100.2, 101.5, 101.6, 103.0])
    monkeypatch.setattr(cli.time, "monotonic", lambda: next(clock))
    stream = io.StringIO()
    progress = cli._Progress("simulating", stream)
    progress(1, 4)  # 0.2 s: quiet
    progress(2, 4)  # 1.5 s: shown
    progress(3, 4)  # 0.1 s after the last line: quiet
    progress(4, 4)  # done: shown
    progress.close()
    lines = stream.getvalue()
    assert "block 1 of 4" not in lines and "block 2 of 4 (50%)" in lines and "block 4 of 4 (100%)" in lines
    assert lines.endswith("\n")


def test_alpha_none_names_alpha() -> None:
    k = tg.Kernel("tiny", warps=1, block=(16, 16), k_step=16)
    acc = k.accumulator("acc", 16, 16)
    k.zero(acc)
    k.store(acc)
    with pytest.raises(TypeError, match=r"alpha must be a real number \(e.g. alpha=1.0\), got None"):
        tg.simulate(k.build(), torch.randn(16, 16), torch.randn(16, 16), alpha=None)  # type: ignore[arg-type]


def test_the_readme_three_liner_turns_off_the_deadline_and_says_what_it_covers() -> None:
    readme = (ROOT / "README.md").read_text()
    three_liner = readme.split("Property-test a schedule in three lines:", 1)[1].split("```", 2)[1]
    assert "@settings(deadline=None)" in three_liner and "check_indexing(kernel(), *shape)" in three_liner
    covers = readme.split("What it covers:", 1)[1].split("\n\n", 1)[0]
    assert "exactly once" in covers and "out of bounds" in covers and "GPU" in covers
    assert "`tilegen check` validates" in readme and "simulates one problem size" in readme
