"""The IR is plain data: every example round-trips through JSON exactly."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from ir import models as m
from ir.models import Kernel, walk

EXAMPLES = sorted(
    p.stem for p in (Path(__file__).resolve().parent.parent / "examples").glob("*.py") if not p.stem.startswith("_")
)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_round_trips_through_json(name: str) -> None:
    kernel = importlib.import_module(name).kernel()
    again = Kernel.model_validate_json(kernel.model_dump_json())
    assert again == kernel
    assert again.model_dump_json() == kernel.model_dump_json()


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_op_records_a_line_in_the_example_file(name: str) -> None:
    kernel = importlib.import_module(name).kernel()
    for op in walk(kernel.body):
        assert op.loc.line > 0
        assert op.loc.file.endswith(".py")
        assert "tilegen/" not in op.loc.file  # the user's line, never the builder's


def test_duplicate_names_are_refused() -> None:
    import tilegen as tg

    k = tg.Kernel("dup", warps=4, block=(64, 64), k_step=32)
    k.shared("X", 64, 32)
    # The builder refuses the second declaration itself, on its line (a BuildError is a ValueError).
    with pytest.raises(tg.BuildError, match="already used") as caught:
        k.register("X", 16, 16)
    assert caught.value.loc.line > 0 and caught.value.fix
    # The IR refuses it too, whoever builds the model.
    kernel = k.build()
    tile = m.RegisterTile(name="X", rows=16, cols=16, dtype="f32", loc=kernel.loc)
    with pytest.raises(ValueError, match="already used"):
        m.Kernel.model_validate({**kernel.model_dump(), "registers": [tile.model_dump()]})


@pytest.mark.parametrize("name", EXAMPLES)
def test_running_an_example_file_validates_and_simulates_it(name: str) -> None:
    import runpy
    import sys

    path = Path(__file__).resolve().parent.parent / "examples" / f"{name}.py"
    argv = sys.argv
    try:
        sys.argv = [str(path)]
        runpy.run_path(str(path), run_name="__main__")  # run_example exits non-zero on any failure
    except SystemExit as stop:
        assert stop.code in (0, None), f"python {path.name} exited with {stop.code}"
    finally:
        sys.argv = argv
