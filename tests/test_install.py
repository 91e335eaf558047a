"""The example registry works from an installed tilegen (issue 8, item 5): build the wheel from a
copy of the source, install it into an empty directory, and use it from elsewhere with nothing of
the checkout on the path. Before, tilegen.testing found examples/ by its place in the repository,
so an installed tilegen had no examples."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent(
    """
    import sys
    import tilegen, tilegen.examples as registry, tilegen.testing as testing
    from tilegen import emit
    assert tilegen.__file__.startswith(sys.argv[1]), tilegen.__file__
    names = registry.example_names()
    assert "k01_baseline_4wave" in names and "pingpong_8wave" in names, names
    assert registry.examples_dir().name == "tilegen_examples", registry.examples_dir()
    assert testing.example_names() == names
    kernel = testing.load_example("k01_baseline_4wave").kernel()
    assert "baseline_4wave_kernel" in emit(kernel, "gfx942")
    print(registry.example_path("pingpong_8wave"))
    """
)


def _ignore(folder: str, names: list[str]) -> set[str]:
    junk = {".git", "__pycache__", "build", "dist", ".wt", ".whl", "tests", ".pytest_cache", ".hypothesis"}
    return {n for n in names if n in junk or n.endswith(".egg-info")}


@pytest.mark.slow
def test_an_installed_wheel_finds_its_examples(tmp_path: Path) -> None:
    pytest.importorskip("setuptools")
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=_ignore)
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    built = subprocess.run(
        [*pip, "wheel", str(source), "--no-deps", "--no-build-isolation", "-w", str(wheels)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if built.returncode != 0 and "No module named" in built.stderr:
        pytest.skip(f"cannot build a wheel here: {built.stderr.strip().splitlines()[-1]}")
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("tilegen-*.whl")
    installed = subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TILEGEN_EXAMPLES")}
    env["PYTHONPATH"] = str(target)
    away = tmp_path / "elsewhere"
    away.mkdir()
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(target)], cwd=away, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout + run.stderr
    example = Path(run.stdout.strip())
    assert example.is_file() and str(example).startswith(str(target))
    check = subprocess.run(
        [sys.executable, "-m", "tilegen", "emit", str(example), "--target", "sm_90a"],
        cwd=away,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0 and "pingpong_8wave_kernel" in check.stdout, check.stderr
