"""The builder reference (issue 13, item 3): every public builder function documents every
argument and carries a two-line example that runs; docs/builder.md is generated from those
docstrings and is up to date. Before, `part=` and `absolute=` appeared in no doc, and `group=`,
`persistent=`, `order=`, `xcd=`, `edge=` only inside rules.md examples."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("builder_reference", ROOT / "scripts" / "builder_reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["builder_reference"] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


reference = _load()
ENTRIES = reference.entries()
IDS = [entry.title for entry in ENTRIES]


def test_the_reference_covers_the_whole_public_builder() -> None:
    titles = set(IDS)
    import tilegen.builder as b

    methods = {f"k.{n}" for n in vars(b.Kernel) if not n.startswith("_") and n not in ("A", "B")}
    assert methods <= titles, sorted(methods - titles)
    assert {"tg.Kernel", "tg.grouped", "tg.xcd_remap", "tg.row_major", "tg.column_major"} <= titles


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_every_argument_is_documented(entry) -> None:  # type: ignore[no-untyped-def]
    assert entry.summary, f"{entry.title} has no summary"
    missing = [p for p in entry.parameters if not entry.args.get(p)]
    assert not missing, f"{entry.title}: arguments without a line under Args: {missing}"
    extra = sorted(set(entry.args) - set(entry.parameters))
    assert not extra, f"{entry.title}: Args documents arguments it does not take: {extra}"


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_every_example_is_two_lines_and_runs(entry) -> None:  # type: ignore[no-untyped-def]
    lines = entry.example.splitlines()
    assert len(lines) == 2, f"{entry.title}: the example has {len(lines)} lines, not two"
    namespace: dict[str, object] = {}
    exec(compile(reference.SETUP, "<setup>", "exec"), namespace)
    exec(compile(entry.example, f"<example of {entry.title}>", "exec"), namespace)
    kernel = namespace["k"].build()  # type: ignore[attr-defined]
    call = entry.title.split(".", 1)[1]
    if call not in ("Kernel", "build", "mma_variant"):  # the example uses what it documents
        assert call in entry.example, f"{entry.title}: the example does not use `{call}`"
    assert kernel.name


def test_the_arguments_the_issue_named_are_documented() -> None:
    page = (ROOT / "docs" / "builder.md").read_text()
    for argument in ("part", "absolute", "group", "persistent", "order", "xcd", "edge"):
        assert f"- `{argument}`: " in page, argument
        assert f"{argument}=" in page


def test_docs_builder_md_is_generated_from_the_docstrings() -> None:
    page = (ROOT / "docs" / "builder.md").read_text()
    assert page == reference.render(), "docs/builder.md is stale: run python scripts/builder_reference.py"
