"""Every BuildError names the user's file:line and how to fix it, as ScheduleError does.

Two checks: every ``raise BuildError(...)`` in the builder passes a ``fix=`` (read off the source
with ``ast``), and a table of misuses, one per site, raises from the test's own line with the
line and the fix in the message.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from pathlib import Path

import pytest

import tilegen as tg
from tilegen import builder

SOURCE = Path(builder.__file__)


def _raise_sites() -> list[ast.Call]:
    tree = ast.parse(SOURCE.read_text())
    return [
        node.exc
        for node in ast.walk(tree)
        if isinstance(node, ast.Raise)
        and isinstance(node.exc, ast.Call)
        and isinstance(node.exc.func, ast.Name)
        and node.exc.func.id == "BuildError"
    ]


def test_every_raise_site_gives_a_fix() -> None:
    sites = _raise_sites()
    assert len(sites) >= 12
    missing = [call.lineno for call in sites if "fix" not in {k.arg for k in call.keywords}]
    assert not missing, f"raise BuildError without fix= at tilegen/builder.py lines {missing}"


def _kernel(warps: int = 4) -> tg.Kernel:
    return tg.Kernel("misuse", warps=warps, block=(64, 64), k_step=32)


def _nested_roles() -> None:
    k = _kernel(8)
    producers = k.role("producer", range(0, 4))
    consumers = k.role("consumer", range(4, 8))
    with consumers:
        with producers:  # MISUSE
            pass


def _warp_grid_in_role() -> None:
    k = _kernel(12)
    consumers = k.role("consumer", range(4, 12))
    k.warp_grid(2, 2, role=consumers)  # MISUSE


def _warp_grid_inside_role() -> None:
    k = _kernel(12)
    consumers = k.role("consumer", range(4, 12))
    with consumers:
        k.warp_grid(2, 2)  # MISUSE


def _warp_grid_kernel() -> None:
    k = _kernel(4)
    k.warp_grid(3, 2)  # MISUSE


def _array_unindexed() -> None:
    k = _kernel()
    acc = k.accumulator("acc", 16, 16, count=4)
    k.zero(acc[0])
    k.store(acc)  # MISUSE


def _otherwise_alone() -> None:
    k = _kernel()
    with k.otherwise():  # MISUSE
        pass


def _when_python_bool() -> None:
    k = _kernel()
    with k.when(k.warp == 0):  # MISUSE
        pass


def _open_block_at_build() -> None:
    k = _kernel()
    with k.loop(2):
        k.build()  # MISUSE


def _builtin_loop_var() -> None:
    k = _kernel()
    with k.loop(2, var="warp"):  # MISUSE
        pass


def _shadowed_loop_var() -> None:
    k = _kernel()
    with k.loop(2, var="i"), k.loop(2, var="i"):  # MISUSE
        pass


def _bad_role_range() -> None:
    k = _kernel()
    k.role("producer", range(0, 4, 2))  # MISUSE


def _bad_ring() -> None:
    k = _kernel()
    k.ring("a_ring", 16, 32, depth=0)  # MISUSE


def _bad_priority() -> None:
    k = _kernel()
    with k.cluster(priority=5):  # MISUSE
        pass


def _tile_not_dividing() -> None:
    k = _kernel()
    As = k.shared("As", 48, 32)
    k.load_tile(As, "A", 0)  # MISUSE


def _bad_source() -> None:
    k = _kernel()
    As = k.shared("As", 64, 32)
    k.load_tile(As, "C", 0)  # type: ignore[arg-type]  # MISUSE


def _kernel_name() -> None:
    tg.Kernel("my-gemm", warps=4, block=(64, 64), k_step=32)  # MISUSE


def _zero_rows() -> None:
    k = _kernel()
    k.shared("As", 0, 32)  # MISUSE


def _zero_warps() -> None:
    tg.Kernel("gemm", warps=0, block=(64, 64), k_step=32)  # MISUSE


def _duplicate_name() -> None:
    k = _kernel()
    k.shared("As", 64, 32)
    k.register("As", 16, 32)  # MISUSE


MISUSES: list[Callable[[], None]] = [
    _kernel_name,
    _zero_rows,
    _zero_warps,
    _duplicate_name,
    _nested_roles,
    _warp_grid_in_role,
    _warp_grid_inside_role,
    _warp_grid_kernel,
    _array_unindexed,
    _otherwise_alone,
    _when_python_bool,
    _open_block_at_build,
    _builtin_loop_var,
    _shadowed_loop_var,
    _bad_role_range,
    _bad_ring,
    _bad_priority,
    _tile_not_dividing,
    _bad_source,
]


def _misuse_line(fn: Callable[[], None]) -> int:
    lines, first = inspect.getsourcelines(fn)
    return first + next(i for i, line in enumerate(lines) if "# MISUSE" in line)


@pytest.mark.parametrize("misuse", MISUSES, ids=lambda fn: fn.__name__.strip("_"))
def test_each_misuse_names_the_users_line_and_a_fix(misuse: Callable[[], None]) -> None:
    with pytest.raises(tg.BuildError) as caught:
        misuse()
    error = caught.value
    line = _misuse_line(misuse)
    assert error.loc.file.endswith("test_builder_errors.py") and error.loc.line == line, error.loc
    text = str(error)
    assert f"test_builder_errors.py:{line}" in text
    assert error.fix and f"fix: {error.fix}" in text


def test_the_table_covers_every_raise_site() -> None:
    """Each raise site of the builder is hit by at least one misuse above."""
    hit: set[int] = set()
    for misuse in MISUSES:
        with pytest.raises(tg.BuildError) as caught:
            misuse()
        frames = [f for f in inspect.getinnerframes(caught.tb) if Path(f.filename) == SOURCE]
        hit.add(frames[-1].lineno)
    sites = {call.lineno for call in _raise_sites()}
    # a raise statement spans lines; the traceback points at its first line or the call's
    missed = [line for line in sorted(sites) if not any(line <= h <= line + 6 for h in hit)]
    assert not missed, f"no misuse reaches the raise BuildError at tilegen/builder.py lines {missed}"


def test_the_irs_own_checks_become_build_errors_with_a_fix() -> None:
    with pytest.raises(tg.BuildError) as caught:
        _zero_rows()
    assert "`rows` = 0" in caught.value.message and "at least 1" in caught.value.fix
    with pytest.raises(tg.BuildError) as caught:
        _kernel_name()
    assert "`my_gemm`" in caught.value.fix
    with pytest.raises(tg.BuildError) as caught:
        _duplicate_name()
    assert "shared tile declared at" in caught.value.message


def test_nested_roles_say_how_to_fix_it() -> None:
    with pytest.raises(tg.BuildError) as caught:
        _nested_roles()
    assert "close `with consumer:` before opening `with producer:`" in caught.value.fix


def test_a_warp_grid_that_does_not_fit_its_role_lists_the_grids_that_do() -> None:
    with pytest.raises(tg.BuildError) as caught:
        _warp_grid_in_role()
    assert "role `consumer` has 8" in caught.value.message
    assert "2 x 4" in caught.value.fix


def test_a_warp_grid_inside_a_role_without_role_says_to_pass_it() -> None:
    with pytest.raises(tg.BuildError) as caught:
        _warp_grid_inside_role()
    assert "pass `role=consumer`" in caught.value.fix and "2 x 4" in caught.value.fix
