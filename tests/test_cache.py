"""The disk cache: where it lives, what makes an entry trusted, rebuilds of broken entries,
concurrent builders, and the fingerprints that go into a key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tilegen import cache

ROOT = Path(__file__).resolve().parent.parent
KEY = "ab" * 20


def fake_builder(calls: list[Path], library_bytes: bytes = b"\x7fELF fake library"):
    """A builder that writes the files a real build writes and records each call."""

    def build(build_dir: Path) -> cache.BuiltFiles:
        calls.append(build_dir)
        (build_dir / cache.SOURCE_NAME).write_text("// source\n")
        (build_dir / "mod.so").write_bytes(library_bytes)
        (build_dir / cache.LOG_NAME).write_text("$ cc ...\n")
        return cache.BuiltFiles(library="mod.so", record={"command": ["cc", "kernel.cpp"]})

    return build


# --------------------------------------------------------------------------------------------
# Location
# --------------------------------------------------------------------------------------------


def test_cache_root_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(cache.ENV_CACHE_DIR, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_root() == tmp_path / "home" / ".cache" / "tilegen"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_root() == tmp_path / "xdg" / "tilegen"
    monkeypatch.setenv(cache.ENV_CACHE_DIR, str(tmp_path / "env"))
    assert cache.cache_root() == tmp_path / "env"
    assert cache.cache_root(tmp_path / "explicit") == tmp_path / "explicit"


# --------------------------------------------------------------------------------------------
# Build once, then load
# --------------------------------------------------------------------------------------------


def test_builds_once_then_loads(tmp_path: Path) -> None:
    calls: list[Path] = []
    entry, built = cache.get_or_build(tmp_path, KEY, fake_builder(calls), describe={"kernel": "k"})
    assert built and len(calls) == 1
    assert entry.path == tmp_path / KEY
    assert entry.library_path.read_bytes() == b"\x7fELF fake library"
    assert entry.source_path.read_text() == "// source\n"
    assert entry.manifest["kernel"] == "k" and entry.build["command"] == ["cc", "kernel.cpp"]
    assert not (tmp_path / ".build" / KEY).exists()  # renamed into place, not copied

    again, built_again = cache.get_or_build(tmp_path, KEY, fake_builder(calls))
    assert not built_again and len(calls) == 1
    assert again.manifest == entry.manifest


def test_manifest_records_sizes_and_library_hash(tmp_path: Path) -> None:
    entry, _ = cache.get_or_build(tmp_path, KEY, fake_builder([]))
    files = entry.manifest["files"]
    assert set(files) == {cache.SOURCE_NAME, "mod.so", cache.LOG_NAME}
    for name, info in files.items():
        assert info["size"] == (entry.path / name).stat().st_size
    assert files["mod.so"]["sha256"] == cache.sha256_file(entry.library_path)


def _corrupt(entry_dir: Path, how: str) -> None:
    library = entry_dir / "mod.so"
    manifest = entry_dir / cache.MANIFEST_NAME
    if how == "no manifest":
        manifest.unlink()
    elif how == "garbage manifest":
        manifest.write_text("{ not json")
    elif how == "manifest of another key":
        data = json.loads(manifest.read_text())
        data["key"] = "cd" * 20
        manifest.write_text(json.dumps(data))
    elif how == "old format":
        data = json.loads(manifest.read_text())
        data["format"] = cache.FORMAT_VERSION - 1
        manifest.write_text(json.dumps(data))
    elif how == "library truncated":
        library.write_bytes(library.read_bytes()[:3])
    elif how == "library flipped byte":
        data = bytearray(library.read_bytes())
        data[0] ^= 0xFF
        library.write_bytes(bytes(data))  # same size: only the sha256 catches it
    elif how == "library missing":
        library.unlink()
    elif how == "source missing":
        (entry_dir / cache.SOURCE_NAME).unlink()
    else:  # pragma: no cover
        raise AssertionError(how)


CORRUPTIONS = [
    "no manifest",
    "garbage manifest",
    "manifest of another key",
    "old format",
    "library truncated",
    "library flipped byte",
    "library missing",
    "source missing",
]


@settings(max_examples=len(CORRUPTIONS) * 2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(how=st.sampled_from(CORRUPTIONS))
def test_a_broken_entry_is_never_trusted_and_is_rebuilt(tmp_path: Path, how: str) -> None:
    root = tmp_path / how.replace(" ", "_")
    calls: list[Path] = []
    cache.clear(root)
    entry, _ = cache.get_or_build(root, KEY, fake_builder(calls))
    _corrupt(entry.path, how)
    found, why = cache.inspect_entry(entry.path)
    assert found is None and why
    rebuilt, built = cache.get_or_build(root, KEY, fake_builder(calls))
    assert built and len(calls) == 2
    assert cache.inspect_entry(rebuilt.path)[0] is not None
    assert rebuilt.library_path.read_bytes() == b"\x7fELF fake library"


def test_a_failed_build_leaves_no_entry_and_keeps_its_files_for_the_error_message(tmp_path: Path) -> None:
    def failing(build_dir: Path) -> cache.BuiltFiles:
        (build_dir / cache.SOURCE_NAME).write_text("broken")
        raise RuntimeError("compiler said no")

    with pytest.raises(RuntimeError, match="compiler said no"):
        cache.get_or_build(tmp_path, KEY, failing)
    assert cache.load_entry(tmp_path, KEY) is None
    assert (tmp_path / ".build" / KEY / cache.SOURCE_NAME).read_text() == "broken"
    entry, built = cache.get_or_build(tmp_path, KEY, fake_builder([]))
    assert built and cache.inspect_entry(entry.path)[0] is not None


def test_a_build_without_its_library_is_an_error(tmp_path: Path) -> None:
    def no_library(build_dir: Path) -> cache.BuiltFiles:
        return cache.BuiltFiles(library="missing.so")

    with pytest.raises(cache.CacheError, match="no library"):
        cache.get_or_build(tmp_path, KEY, no_library)
    assert cache.load_entry(tmp_path, KEY) is None


def test_keys_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a cache key"):
        cache.get_or_build(tmp_path, "../escape", fake_builder([]))


# --------------------------------------------------------------------------------------------
# Concurrency: two processes, one build
# --------------------------------------------------------------------------------------------

_CONCURRENT_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from tilegen import cache

    root, key, log = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])

    def build(build_dir):
        with open(log, "a") as handle:
            handle.write("build\\n")
        time.sleep(1.0)  # long enough that the other process arrives while this one builds
        (build_dir / "kernel.cpp").write_text("// source")
        (build_dir / "mod.so").write_bytes(b"library")
        (build_dir / "build.log").write_text("log")
        return cache.BuiltFiles(library="mod.so")

    waited = []
    entry, built = cache.get_or_build(root, key, build, on_wait=lambda: waited.append(1))
    print(built, bool(waited), entry.manifest["files"]["mod.so"]["sha256"])
    """
)


def test_concurrent_builders_of_one_key_build_once_and_all_succeed(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(_CONCURRENT_CHILD.format(root=str(ROOT)))
    log = tmp_path / "builds.log"
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / "cache"), KEY, str(log)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [proc.communicate(timeout=60) for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    lines = [out.split() for out, _ in outputs]
    assert log.read_text().count("build") == 1
    assert sorted(line[0] for line in lines) == ["False", "False", "True"]
    assert len({line[2] for line in lines}) == 1


# --------------------------------------------------------------------------------------------
# Keys and fingerprints
# --------------------------------------------------------------------------------------------

_parts = st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=30), min_size=1, max_size=6)


@settings(max_examples=50, deadline=None)
@given(parts=_parts, data=st.data())
def test_cache_key_depends_on_every_part_and_not_on_order(parts: dict[str, str], data: st.DataObject) -> None:
    key = cache.cache_key(parts)
    assert len(key) == 40 and all(ch in "0123456789abcdef" for ch in key)
    assert cache.cache_key(dict(reversed(list(parts.items())))) == key
    name = data.draw(st.sampled_from(sorted(parts)))
    changed = dict(parts, **{name: parts[name] + "x"})
    assert cache.cache_key(changed) != key


def test_tree_digest_follows_header_contents_only(tmp_path: Path) -> None:
    include = tmp_path / "include"
    (include / "kittens").mkdir(parents=True)
    header = include / "kittens" / "base.cuh"
    header.write_text("int a;\n")
    (include / "README.md").write_text("notes")
    first = cache.tree_digest([include])
    assert cache.tree_digest([include]) == first
    (include / "README.md").write_text("other notes")
    assert cache.tree_digest([include]) == first
    header.write_text("int b;\n")  # same size, new contents
    os.utime(header, ns=(header.stat().st_atime_ns, header.stat().st_mtime_ns + 1_000_000))
    second = cache.tree_digest([include])
    assert second != first
    (include / "kittens" / "extra.h").write_text("")
    assert cache.tree_digest([include]) != second


_FAKE_COMPILER = """#!/bin/sh
echo run >> "{log}"
echo "fake compiler {version}"
"""


def _write_fake_compiler(path: Path, log: Path, version: str) -> None:
    path.write_text(_FAKE_COMPILER.format(log=log, version=version))
    path.chmod(0o755)


def test_tool_version_runs_the_tool_once_per_binary_even_across_processes(tmp_path: Path) -> None:
    tool, log, root = tmp_path / "fakecc", tmp_path / "runs.log", tmp_path / "cache"
    _write_fake_compiler(tool, log, "1.0")
    assert cache.tool_version(str(tool), root) == "fake compiler 1.0"
    assert cache.tool_version(str(tool), root) == "fake compiler 1.0"
    child = (
        f"import sys, pathlib; sys.path.insert(0, {str(ROOT)!r}); from tilegen import cache; "
        f"print(cache.tool_version({str(tool)!r}, pathlib.Path({str(root)!r})))"
    )
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "fake compiler 1.0"
    assert log.read_text().count("run") == 1

    _write_fake_compiler(tool, log, "2.0-longer")  # an upgraded compiler: a new stat, a new run
    assert cache.tool_version(str(tool), root) == "fake compiler 2.0-longer"
    assert log.read_text().count("run") == 2


# --------------------------------------------------------------------------------------------
# Maintenance
# --------------------------------------------------------------------------------------------


def test_clear_removes_only_what_the_cache_made(tmp_path: Path) -> None:
    cache.get_or_build(tmp_path, KEY, fake_builder([]))
    cache.get_or_build(tmp_path, "cd" * 20, fake_builder([]))
    (tmp_path / "someone_elses_file.txt").write_text("keep me")
    (tmp_path / "notes").mkdir()
    assert cache.clear(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes", "someone_elses_file.txt"]
    assert cache.clear(tmp_path / "does-not-exist") == 0


def test_list_entries_reports_broken_ones_with_a_reason(tmp_path: Path) -> None:
    good, _ = cache.get_or_build(tmp_path, KEY, fake_builder([]))
    bad, _ = cache.get_or_build(tmp_path, "cd" * 20, fake_builder([]))
    (bad.path / cache.MANIFEST_NAME).unlink()
    listed = {path.name: (entry, why) for path, entry, why in cache.list_entries(tmp_path)}
    assert listed[KEY][0] is not None and listed[KEY][1] == ""
    assert listed["cd" * 20][0] is None and "manifest" in listed["cd" * 20][1]
    assert good.size_bytes == sum(p.stat().st_size for p in good.path.iterdir() if p.name != cache.MANIFEST_NAME)
