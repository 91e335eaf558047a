"""The cache cannot lie (issue 13, "Cache"), and a spilling build is refused (issue 12): one test
per defect, through the real validator, emitter and launch spec with a stand-in device compiler
(no nvcc needed; the real nvcc path is in test_compile_nvcc.py)."""

from __future__ import annotations

import errno
import json
import pathlib
import re
import sys
from pathlib import Path
from typing import Any

import pytest

import tilegen
from backends.drivers.common import CompileError, CompileResult, Resources
from tilegen import cache
from tilegen.compiler import SpillError, Toolchain, schedule_options
from tilegen.schedule import load_schedule

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
BUILT: list[str] = []


def _kernel(name: str = "k01_baseline_4wave.py") -> Any:
    return load_schedule(EXAMPLES / name, [], "sm_90a")


def _must_not_run(**_: Any) -> CompileResult:
    raise AssertionError("a device-only build must not build a module")


def _toolchain(spills: int = 0, scratch: int = 0) -> Toolchain:
    def build_device(
        *, source: Path, target: str, include_dirs: list, out_dir: Path, layout_checks: str
    ) -> CompileResult:
        assert "static_assert(sizeof(" in layout_checks
        BUILT.append(source.read_text().splitlines()[0])
        output = out_dir / "kernel.cubin"
        output.write_bytes(b"\x7fELF stand-in cubin of " + source.read_bytes()[:64])
        name = re.search(r"__global__[^\n]*\nvoid (\w+)\(", source.read_text()).group(1)  # type: ignore[union-attr]
        symbol = f"_Z{len(name)}{name}v"
        resources = [Resources(target=target, kernel=name, vgprs=168, spills=spills, scratch_bytes=scratch)]
        return CompileResult(output, ["stand-in-nvcc", "-cubin", str(source)], "ptxas info", resources, [symbol])

    # The "compiler" is this Python: its --version is cheap and stable.
    return Toolchain("stand-in", sys.executable, _must_not_run, (Path(__file__),), build_device=build_device)


def _compile(kernel: Any, root: Path, **options: Any) -> Any:
    toolchain = options.pop("toolchain", _toolchain())
    return tilegen.compile(kernel, "sm_90a", cache_dir=root, toolchain=toolchain, **options)


# --------------------------------------------------------------------------------------------
# Spills
# --------------------------------------------------------------------------------------------


def test_a_build_that_spills_is_refused_with_its_figures(tmp_path: Path) -> None:
    with pytest.raises(SpillError) as caught:
        _compile(_kernel(), tmp_path, toolchain=_toolchain(spills=16, scratch=8))
    message = str(caught.value)
    assert "baseline_4wave for sm_90a spills" in message
    assert "168 registers, 16 bytes spilled (stores + loads), 8 bytes of stack/scratch" in message
    assert "the schedule's register estimate is" in message and "allow_spills=True" in message
    before = len(BUILT)
    fn = _compile(_kernel(), tmp_path, toolchain=_toolchain(spills=16, scratch=8), allow_spills=True)
    assert len(BUILT) == before  # the entry was kept: accepting the spill does not rebuild
    assert fn.resources[0].spills == 16


def test_scratch_alone_is_refused_too(tmp_path: Path) -> None:
    with pytest.raises(SpillError, match=r"0 bytes spilled .* 24 bytes of stack/scratch"):
        _compile(_kernel(), tmp_path, toolchain=_toolchain(scratch=24))


def test_a_schedule_file_declares_that_it_accepts_spills(tmp_path: Path) -> None:
    schedule = tmp_path / "spilling.py"
    schedule.write_text("#: ptxas spills 16 bytes (measured harmless)\nCOMPILE_OPTIONS = {'allow_spills': True}\n")
    assert schedule_options(schedule) == {"allow_spills": True}
    assert schedule_options(EXAMPLES / "k01_baseline_4wave.py") == {}
    schedule.write_text("COMPILE_OPTIONS = {'cache_dir': '/'}\n")
    with pytest.raises(ValueError, match="COMPILE_OPTIONS may only set allow_spills"):
        schedule_options(schedule)


def test_compile_validates_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ir.validate

    calls: list[str] = []
    real = ir.validate.validate

    def counting(kernel: Any, target: str = "gfx942") -> Any:
        calls.append(kernel.name)
        return real(kernel, target)

    monkeypatch.setattr(ir.validate, "validate", counting)
    import backends.hip.emitter as emitter

    monkeypatch.setattr(emitter, "validate", counting)
    _compile(_kernel(), tmp_path)
    assert calls == ["baseline_4wave"]


def test_callable_and_compiler_do_not_import_each_other() -> None:
    import ast

    tree = ast.parse((ROOT / "tilegen" / "callable.py").read_text())
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module is not None
    }
    assert "tilegen.compiler" not in imported


# --------------------------------------------------------------------------------------------
# Every entry is checked against the request
# --------------------------------------------------------------------------------------------


def _aliases(root: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in (root / ".aliases").iterdir()}


def test_an_alias_pointing_at_another_kernels_entry_is_not_followed(tmp_path: Path) -> None:
    _compile(_kernel(), tmp_path)
    (k01_alias,) = _aliases(tmp_path)
    other = _compile(_kernel("k05_subtile_16x16.py"), tmp_path)
    (tmp_path / ".aliases" / k01_alias).write_text(other.cache_path.name)  # "edited" to k05's entry
    fn = _compile(_kernel(), tmp_path)
    assert fn.cache_entry.manifest["kernel"] == "baseline_4wave" and fn.cache_path != other.cache_path
    assert _aliases(tmp_path)[k01_alias] == fn.cache_path.name  # and repaired


def test_an_entry_built_for_another_request_under_this_key_is_rebuilt(tmp_path: Path) -> None:
    fn = _compile(_kernel(), tmp_path)
    manifest = json.loads((fn.cache_path / cache.MANIFEST_NAME).read_text())
    manifest["request"]["source"] = "0" * 64
    (fn.cache_path / cache.MANIFEST_NAME).write_text(json.dumps(manifest))
    (tmp_path / ".aliases").rename(tmp_path / "aliases-gone")
    before = len(BUILT)
    again = _compile(_kernel(), tmp_path)
    assert len(BUILT) == before + 1 and again.cache_entry.manifest["request"]["source"] != "0" * 64


# --------------------------------------------------------------------------------------------
# A read-only cache serves its intact entries
# --------------------------------------------------------------------------------------------


def test_a_read_only_cache_loads_an_intact_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache._tool_versions.clear()  # so tools.json is written for this cache
    fn = _compile(_kernel(), tmp_path)
    import shutil

    shutil.rmtree(tmp_path / ".aliases")
    (tmp_path / cache.TOOLS_NAME).unlink()
    cache._tool_versions.clear()  # this process must find no answer either, as a new one would
    real_mkdir = pathlib.Path.mkdir

    def read_only(path: Path) -> None:
        if str(path).startswith(str(tmp_path)):
            raise OSError(errno.EROFS, "Read-only file system", str(path))

    def mkdir(self: Path, *args: Any, **kwargs: Any) -> None:
        read_only(self)
        real_mkdir(self, *args, **kwargs)

    def write_text(self: Path, *args: Any, **kwargs: Any) -> int:
        read_only(self)
        raise AssertionError("unreachable")

    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)
    monkeypatch.setattr(pathlib.Path, "write_text", write_text)
    monkeypatch.setattr(cache, "_write_json_atomic", lambda path, value: read_only(path))
    again = _compile(_kernel(), tmp_path)
    assert again.cache_path == fn.cache_path


# --------------------------------------------------------------------------------------------
# Malformed metadata: rebuilt, or reported with the path and `tilegen cache clear`
# --------------------------------------------------------------------------------------------


def _edit_manifest(entry: Path, edit: Any) -> None:
    manifest = json.loads((entry / cache.MANIFEST_NAME).read_text())
    edit(manifest)
    (entry / cache.MANIFEST_NAME).write_text(json.dumps(manifest))


MALFORMED = {
    "files-not-objects": lambda m: m["files"].update({"kernel.cpp": 12}),
    "library-a-list": lambda m: m.update(library=["kernel.cubin"]),
    "kernel-a-list": lambda m: m.update(kernel=["baseline_4wave"]),
    "created-a-string": lambda m: m.update(created="yesterday"),
    "build-a-list": lambda m: m.update(build=[1, 2]),
    "file-outside-the-entry": lambda m: m["files"].update({"../x": {"size": 1}}),
}


@pytest.mark.parametrize("how", sorted(MALFORMED))
def test_a_malformed_manifest_is_listed_as_invalid_and_rebuilt(tmp_path: Path, how: str) -> None:
    fn = _compile(_kernel(), tmp_path)
    _edit_manifest(fn.cache_path, MALFORMED[how])
    ((_, entry, why),) = [found for found in cache.list_entries(tmp_path) if found[0] == fn.cache_path]
    assert entry is None and why
    before = len(BUILT)
    again = _compile(_kernel(), tmp_path)
    assert len(BUILT) == before + 1 and cache.inspect_entry(again.cache_path)[0] is not None


@pytest.mark.parametrize("stat", ["12", [1, "x"], None, {"a": 1}])
def test_a_bad_stat_in_tools_json_is_ignored(tmp_path: Path, stat: Any) -> None:
    cache._tool_versions.clear()  # so tools.json is written for this cache
    _compile(_kernel(), tmp_path)
    tools = json.loads((tmp_path / cache.TOOLS_NAME).read_text())
    for record in tools.values():
        record["stat"] = stat
    (tmp_path / cache.TOOLS_NAME).write_text(json.dumps(tools))
    cache._tool_versions.clear()
    assert cache.tool_version(sys.executable, tmp_path)
    _compile(_kernel(), tmp_path)


def test_an_alias_with_non_utf8_bytes_is_ignored_and_rewritten(tmp_path: Path) -> None:
    fn = _compile(_kernel(), tmp_path)
    (alias,) = _aliases(tmp_path)
    (tmp_path / ".aliases" / alias).write_bytes(b"\xff\xfe\x00garbage")
    again = _compile(_kernel(), tmp_path)
    assert again.cache_path == fn.cache_path and _aliases(tmp_path)[alias] == fn.cache_path.name


@pytest.mark.parametrize("name", [".build", ".locks"])
def test_a_file_where_a_cache_directory_belongs_is_reported_with_the_fix(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("in the way")
    with pytest.raises(cache.CacheError) as caught:
        _compile(_kernel(), tmp_path)
    assert str(tmp_path / name) in str(caught.value) and "tilegen cache clear" in str(caught.value)
    cache.clear(tmp_path)
    assert not (tmp_path / name).exists()
    _compile(_kernel(), tmp_path)


# --------------------------------------------------------------------------------------------
# Compiler errors keep the lines that say why
# --------------------------------------------------------------------------------------------


def test_a_compile_error_keeps_the_line_that_says_why(tmp_path: Path) -> None:
    log = (
        "/usr/bin/ld: final link failed: No space left on device\n"
        "collect2: error: ld returned 1 exit status\n"
    )
    message = str(CompileError(tmp_path / "kernel.cpp", ["nvcc", "x.cpp"], log))
    assert "No space left on device" in message and "ld returned 1" in message
    fatal = "kernel.cpp:3:10: fatal error: kittens.cuh: No such file or directory\ncompilation terminated.\n"
    assert "No such file or directory" in str(CompileError(tmp_path / "k.cpp", ["nvcc"], fatal))
    killed = "nvcc warning : something\nKilled\n"
    assert "Killed" in str(CompileError(tmp_path / "k.cpp", ["nvcc"], killed))
