"""The emitted HIP of every example, for every golden target, equals tests/golden/ byte for byte.

Examples are discovered (every examples/*.py), so a new example fails here until its goldens are
written with `python scripts/regen_goldens.py`; review the diff of the .cpp like any code change.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_regen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("regen_goldens", ROOT / "scripts" / "regen_goldens.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


regen = _load_regen()
#: Each golden is emitted once per session (the working-directory test calls regen directly).
golden = functools.lru_cache(maxsize=None)(regen.golden)
CASES = [(name, target) for name in regen.example_modules() for target in regen.TARGETS]


def test_every_example_is_covered() -> None:
    on_disk = sorted(path.stem for path in (ROOT / "examples").glob("*.py") if not path.stem.startswith("_"))
    assert on_disk, "no examples found"
    assert sorted({name for name, _ in CASES}) == on_disk


@pytest.mark.parametrize(("example", "target"), CASES, ids=[f"{n}-{t}" for n, t in CASES])
def test_emitted_source_matches_golden(example: str, target: str) -> None:
    name, text = golden(example, target)
    path = regen.GOLDEN_DIR / name
    if not path.exists():
        others = sorted(p.name for p in regen.GOLDEN_DIR.glob(f"{example}.{target}.*"))
        pytest.fail(
            f"no golden tests/golden/{name} (found: {', '.join(others) or 'none'}); "
            f"run `{regen.REGEN_COMMAND}` and review the new file"
        )
    expected = path.read_text()
    if text != expected:
        pytest.fail(
            f"emitted source of {example} for {target} differs from tests/golden/{name}:\n"
            f"{regen.diff_excerpt(expected, text, name)}\n"
            f"If the change is intended, run `{regen.REGEN_COMMAND}` and review the golden diff."
        )


def test_no_stale_goldens() -> None:
    wanted = {golden(n, t)[0] for n, t in CASES}
    present = {path.name for path in regen.GOLDEN_DIR.glob("*") if path.is_file()}
    stale = sorted(present - wanted)
    assert not stale, f"goldens no example produces: {stale}; run `{regen.REGEN_COMMAND}` to remove them"


def test_goldens_do_not_depend_on_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    example, target = CASES[0]
    at_root = regen.golden(example, target)
    monkeypatch.chdir(tmp_path)
    assert regen.golden(example, target) == at_root
    assert str(ROOT) not in at_root[1], "an absolute path leaked into the emitted source"


def _fenced_blocks(text: str, language: str) -> list[list[str]]:
    blocks, current = [], None
    for line in text.splitlines():
        if current is None and line.strip() == f"```{language}":
            current = []
        elif current is not None and line.strip() == "```":
            blocks.append(current)
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def _contains(haystack: list[str], needle: list[str]) -> bool:
    """``needle`` appears in ``haystack`` as consecutive lines, ignoring indentation."""
    hay = [line.strip() for line in haystack]
    pin = [line.strip() for line in needle]
    return any(hay[i : i + len(pin)] == pin for i in range(len(hay) - len(pin) + 1))


def test_the_docs_quote_the_goldens_and_examples_verbatim() -> None:
    """docs/emitted-code.md shows real output: each C++ block is in a golden, each Python block in
    an example, so the walkthrough cannot drift from what the emitter writes."""
    doc = (ROOT / "docs" / "emitted-code.md").read_text()
    goldens = [path.read_text().splitlines() for path in regen.GOLDEN_DIR.glob("*.cpp")]
    examples = [path.read_text().splitlines() for path in (ROOT / "examples").glob("*.py")]
    cpp_blocks, python_blocks = _fenced_blocks(doc, "cpp"), _fenced_blocks(doc, "python")
    assert len(cpp_blocks) >= 8 and python_blocks
    for block in cpp_blocks:
        assert any(_contains(golden, block) for golden in goldens), "not in any golden:\n" + "\n".join(block)
    for block in python_blocks:
        assert any(_contains(example, block) for example in examples), "not in any example:\n" + "\n".join(block)
