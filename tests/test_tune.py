"""tilegen.tune on the CPU: pruning by rule, parallel builds (a stand-in device compiler), ranking
with a fake timer, the on-disk timing cache, dispatch by shape through compile(table), and the
`tilegen tune` command without a GPU. The GPU run is test_tune_gpu at the end (marker gpu)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from test_cache_defects import _toolchain

import tilegen
from tilegen.callable import CompiledKernel
from tilegen.tuner import TunedKernel, TuneTable, tune

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
from k01_baseline_4wave import kernel as k01  # noqa: E402

SPACE = {"block": [64, 128, 256], "k_step": [16, 32, 48]}
SHAPES = [(512, 512, 512), (4096, 4096, 4096)]


class FakeTimer:
    """ms from a formula of the configuration (bigger blocks faster on big shapes), exact results."""

    def __init__(self, wrong: frozenset[tuple[int, int]] = frozenset()) -> None:
        self.calls: list[tuple[str, tuple[int, int, int]]] = []
        self.wrong = wrong

    def identity(self) -> str:
        return "Fake GPU (1 SM), driver 0"

    def measure(self, fn: Any, shape: tuple[int, int, int]) -> tuple[float, float]:
        launch = fn.kernel.launch
        self.calls.append((f"{launch.block_m}/{launch.k_step}", shape))
        size = shape[0]
        ms = 1.0 + (launch.block_m / size) * 10 + 64 / launch.block_m + 0.01 * launch.k_step
        error = 0.5 if (launch.block_m, launch.k_step) in self.wrong else 1e-6
        return ms, error


def _tune(tmp_path: Path, timer: Any, **kwargs: Any) -> TuneTable:
    return tune(
        k01,
        kwargs.pop("space", SPACE),
        kwargs.pop("shapes", SHAPES),
        target="sm_90a",
        cache_dir=tmp_path,
        timer=timer,
        toolchain=_toolchain(),
        progress=kwargs.pop("progress", lambda _: None),
        **kwargs,
    )


def test_invalid_configurations_are_pruned_by_rule_before_compiling(tmp_path: Path) -> None:
    said: list[str] = []
    table = _tune(tmp_path, FakeTimer(), progress=said.append)
    pruned = [c for c in table.configs if c.status == "pruned"]
    assert len(table.configs) == 9 and pruned  # block 256 and 128 x 64 need more registers than a lane has
    by_rule = table.pruned_by_rule()
    assert sum(by_rule.values()) >= len(pruned) and all(c.rules and c.message for c in pruned)
    assert all(c.entry is None for c in pruned)  # nothing was compiled for them
    assert any("pruned before compiling" in line for line in said)
    built = [c for c in table.configs if c.status == "built"]
    assert built and all(c.entry for c in built)


def test_the_table_is_ranked_fastest_correct_first(tmp_path: Path) -> None:
    timer = FakeTimer(wrong=frozenset({(128, 16)}))
    table = _tune(tmp_path, timer)
    for shape in SHAPES:
        ranked = table.ranked(shape)
        timed = [t.ms for t in ranked if t.correct]
        assert timed == sorted(timed) and timed
        wrong = [t for t in ranked if not t.correct and t.ms is not None]
        assert all("WRONG RESULT" in t.note for t in wrong)
        assert table.best(shape) is not None and table.best(shape).params != {"block": 128, "k_step": 16}
    # small shapes prefer small blocks in the fake formula, big shapes big blocks
    assert table.best(SHAPES[0]).params["block"] < table.best(SHAPES[1]).params["block"]
    text = table.markdown()
    assert "### 4096 x 4096 x 4096" in text and "(default)" in text and "pruned by:" in text


def test_timings_are_cached_per_gpu_binary_and_shape(tmp_path: Path) -> None:
    first = FakeTimer()
    table = _tune(tmp_path, first)
    assert first.calls
    again = FakeTimer()
    cached = _tune(tmp_path, again)
    assert again.calls == []  # every timing came from the cache
    assert [t.ms for t in cached.timings] == [t.ms for t in table.timings]
    assert all(t.note == "cached" for t in cached.timings if t.ms is not None)

    class OtherGpu(FakeTimer):
        def identity(self) -> str:
            return "Another GPU"

    other = OtherGpu()
    _tune(tmp_path, other)
    assert len(other.calls) == len(first.calls)  # another GPU times again


def test_without_a_timer_it_prunes_and_builds_and_says_it_cannot_time(tmp_path: Path) -> None:
    said: list[str] = []
    table = _tune(tmp_path, None, progress=said.append) if not torch.cuda.is_available() else None
    if table is None:
        pytest.skip("a GPU is visible: tune times by default")
    assert not table.timed and all(t.ms is None for t in table.timings)
    assert any("cannot time" in line for line in said)
    assert "not timed: no GPU" in table.markdown()


def test_compile_dispatches_each_shape_to_its_best_configuration(tmp_path: Path) -> None:
    table = TuneTable.from_json(_tune(tmp_path, FakeTimer()).to_json())  # through JSON, as a saved table
    fn = tilegen.compile(table, cache_dir=tmp_path, toolchain=_toolchain())
    assert isinstance(fn, TunedKernel)
    assert fn.choose(512, 512, 512) == table.best((512, 512, 512))
    assert fn.choose(4096, 4096, 4096) == table.best((4096, 4096, 4096))
    assert fn.choose(8192, 8192, 8192) == table.best((4096, 4096, 4096))  # the nearest tuned shape
    # A shape the best configuration cannot run goes to the next one that can.
    odd = fn.choose(512, 512, 544)
    assert 544 % odd.params["k_step"] == 0

    calls: list[Any] = []

    class Recording(CompiledKernel):
        def __call__(self, a: Any, b: Any, c: Any = None, **kw: Any) -> Any:
            calls.append((self.kernel.launch.block_m, self.kernel.launch.k_step))
            return "ran"

    built = {}

    def compile_one(kernel: Any) -> Any:
        one = Recording.__new__(Recording)
        one.kernel = kernel
        built[kernel.launch.block_m, kernel.launch.k_step] = one
        return one

    fn._compile_one = compile_one  # type: ignore[method-assign]
    a = torch.zeros(512, 512, dtype=torch.bfloat16)
    b = torch.zeros(512, 512, dtype=torch.bfloat16)
    assert fn(a, b) == "ran"
    best = table.best((512, 512, 512))
    assert calls == [(best.params["block"], best.params["k_step"])]


def test_a_table_with_no_timings_cannot_dispatch(tmp_path: Path) -> None:
    table = _tune(tmp_path, FakeTimer(wrong=frozenset((b, k) for b in (64, 128, 256) for k in (16, 32, 48))))
    with pytest.raises(ValueError, match="no timed, correct configuration"):
        tilegen.compile(table, toolchain=_toolchain())


def test_the_tune_command_without_a_gpu(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible: the command times (test_tune_gpu)")
    proc = subprocess.run(
        [
            sys.executable, "-m", "tilegen", "tune", str(ROOT / "examples" / "k01_baseline_4wave.py"),
            "--target", "sm_90a", "--param", "block=128,256", "--param", "k_step=32,64",
            "--size", "1024", "--cache-dir", str(tmp_path), "--json", str(tmp_path / "table.json"),
        ],
        capture_output=True, text=True, cwd=ROOT, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "[tune] 4 configurations: 3 pruned before compiling (registers.budget 3)" in proc.stderr
    assert "cannot time" in proc.stderr and "| rank | configuration |" in proc.stdout
    table = TuneTable.load(tmp_path / "table.json")
    assert [c.params for c in table.configs if c.status == "built"] == [{"block": 128, "k_step": 32}]


@pytest.mark.gpu
def test_tune_gpu(tmp_path: Path) -> None:
    table = tune(k01, {"block": [64, 128], "k_step": [32, 64]}, [(2048, 2048, 2048)], cache_dir=tmp_path)
    assert table.timed and table.best((2048, 2048, 2048)) is not None
    assert all(t.correct for t in table.timings if t.ms is not None)
    fn = tilegen.compile(table, cache_dir=tmp_path)
    a = torch.randn(2048, 2048, device="cuda").bfloat16()
    b = torch.randn(2048, 2048, device="cuda").bfloat16()
    ref = a.double() @ b.double()
    assert float((fn(a, b).double() - ref).norm() / ref.norm()) < 1e-4
