"""HipKittens compatibility is true or refused (backends/amd/hipkittens.py, docs/hipkittens-compat.md).

Without a checkout: the refusal logic on fake checkouts, and ``tilegen.compile(kittens_root=...)``
refusing before any compiler runs. With one (``TILEGEN_KITTENS_ROOT`` pointing at a HipKittens
checkout, kept outside the project): every example the docs claim for that version compiles against
it for its target with no spills, and the static LDS-wait check finds no instruction reading a
``ds_read`` destination without a covering ``s_waitcnt lgkmcnt`` (the emitted TG_WAIT_SHARED_LOADS
places the waits HipKittens' inline-asm loads need); every other example is refused, saying why.

Run with a checkout of HazyResearch/HipKittens (e.g. `git archive 2538b4d4 include` unpacked):
    TILEGEN_KITTENS_ROOT=/path/to/HipKittens python3 -m pytest tests/test_amd_hipkittens.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from amd_builds import DeviceBuilds

from backends.amd import hipkittens as hk
from backends.drivers.amd_asm import check_lds_waits
from backends.drivers.common import RUNTIME_INCLUDE, python_include_dirs
from backends.hip.emitter import emit
from ir.diagnostics import ScheduleError
from tilegen.schedule import load_schedule
from tilegen.testing import example_runs_on

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = {p.stem: p for p in (ROOT / "examples").glob("*.py")}
#: What docs/hipkittens-compat.md claims: HipKittens version -> examples that build against it, for gfx942.
CLAIMED = {"2538b4d4": ("k01_baseline_4wave", "k03_register_prefetch", "k05_subtile_16x16")}


# ------------------------------------------------------------------------------------------------
# Without a checkout
# ------------------------------------------------------------------------------------------------


def fake_checkout(root: Path, flavour: str) -> Path:
    include = root / "include"
    (include / "types" / "shared").mkdir(parents=True)
    (include / "common").mkdir()
    (include / "kittens.cuh").write_text("#pragma once\n")
    if flavour == "cdna3":
        (include / "types" / "shared" / "st_layout.cuh").write_text("")
        (include / "common" / "util.cuh").write_text("#if defined(KITTENS_CDNA3)\n#endif\n")
    elif flavour == "main":
        (include / "types" / "shared" / "st_shape.cuh").write_text("")
    return include


def test_flavours_are_told_from_the_checkouts_files(tmp_path: Path) -> None:
    assert hk.detect_flavour(fake_checkout(tmp_path / "a", "cdna3")) == "cdna3"
    assert hk.detect_flavour(fake_checkout(tmp_path / "b", "main")) == "main-cdna4"
    assert hk.detect_flavour(fake_checkout(tmp_path / "c", "thunderkittens")) is None


def test_refusals_say_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = "__global__ void k() { load(a, As); }"
    with pytest.raises(hk.KittensRootRefused, match=r"not a HipKittens checkout tilegen knows.*ThunderKittens"):
        hk.check_kittens_root(fake_checkout(tmp_path / "tk", "thunderkittens"), "gfx942", plain)
    cdna3 = fake_checkout(tmp_path / "cdna3", "cdna3")
    with pytest.raises(hk.KittensRootRefused, match=r"cdna3 at a version tilegen has not compiled.*2538b4d4"):
        hk.check_kittens_root(cdna3, "gfx942", plain)
    version = hk.KnownVersion("cdna3", "testing", ("gfx942",), ("-DKITTENS_CDNA3",))
    monkeypatch.setitem(hk.SUPPORTED, hk.include_digest(cdna3), version)
    assert hk.check_kittens_root(cdna3, "gfx942", plain) == version
    with pytest.raises(hk.KittensRootRefused, match="is for gfx942, not gfx950"):
        hk.check_kittens_root(cdna3, "gfx950", plain)
    for line, why in [
        ("tg::barrier();", "tilegen extensions"),
        ("G4::load_async(As, g.a, {0, 0, 0, 0});", "load_async"),
        ("group<4>::store(g.c, Cs, {0, 0, 0, 0});", "group<N>::store"),
    ]:
        with pytest.raises(hk.KittensRootRefused, match=rf"{why}.*emitted line 2: `{line[:8]}"):
            hk.check_kittens_root(cdna3, "gfx942", f"// header\n    {line}\n")
    source = hk.for_kittens_checkout(cdna3, "gfx942", plain)
    assert source.splitlines()[1] == "#define KITTENS_CDNA3 1" and source.endswith(plain)


def test_compile_refuses_before_any_compiler_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tilegen.compiler import Toolchain, compile

    ran = tmp_path / "compiler-ran"
    compiler = tmp_path / "fake-hipcc"
    compiler.write_text(f"#!/bin/sh\ntouch {ran}\necho 'clang version 20'\n")
    compiler.chmod(0o755)

    def build_extension(**_: object) -> None:
        raise AssertionError("the build must not start")

    toolchain = Toolchain("hipcc", str(compiler), build_extension)
    kernel = load_schedule(EXAMPLES["k02_producer_consumer"], [], "gfx942")
    checkout = tmp_path / "HipKittens"
    fake_checkout(checkout, "main")
    with pytest.raises(hk.KittensRootRefused, match=r"not a HipKittens checkout|has not compiled"):
        compile(kernel, "gfx942", kittens_root=checkout, cache_dir=tmp_path / "cache", toolchain=toolchain)
    assert not ran.exists(), "a compiler ran before the refusal"


# ------------------------------------------------------------------------------------------------
# With a checkout (TILEGEN_KITTENS_ROOT)
# ------------------------------------------------------------------------------------------------


def checkout_include() -> Path:
    root = os.environ.get("TILEGEN_KITTENS_ROOT")
    if not root:
        pytest.skip("TILEGEN_KITTENS_ROOT is not set: point it at a HipKittens checkout (outside the project)")
    from tilegen.compiler import include_path

    return include_path(root)[0]


def checkout_version(include: Path) -> hk.KnownVersion | None:
    return hk.SUPPORTED.get(hk.include_digest(include))


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_each_example_is_supported_or_refused(example: str) -> None:
    include = checkout_include()
    version = checkout_version(include)
    claimed = CLAIMED.get(version.commit, ()) if version else ()
    for target in ("gfx942", "gfx950"):
        kernel = load_schedule(EXAMPLES[example], [], target)
        if not example_runs_on(example, target):  # written for other targets: refused before HipKittens
            with pytest.raises(ScheduleError):
                emit(kernel, target=target)
            continue
        source = emit(kernel, target=target)
        if example in claimed and version is not None and target in version.targets:
            hk.check_kittens_root(include, target, source)
        else:
            with pytest.raises(hk.KittensRootRefused):
                hk.check_kittens_root(include, target, source)


@pytest.mark.amd_toolchain
def test_claimed_examples_build_against_the_checkout_with_their_waits(amd_builds: DeviceBuilds) -> None:
    include = checkout_include()
    version = checkout_version(include)
    if version is None:
        pytest.skip(f"{include} is not a version tilegen supports: every example is refused (test above)")
    includes = (include, RUNTIME_INCLUDE, *python_include_dirs())
    unwaited_uses = {}
    for example in CLAIMED[version.commit]:
        kernel = load_schedule(EXAMPLES[example], [], "gfx942")
        source = hk.for_kittens_checkout(include, "gfx942", emit(kernel, target="gfx942"))
        assert "TG_WAIT_SHARED_LOADS();" in source
        # Control: the same kernel without the waits has ds_read results used unwaited.
        no_waits = source.replace('asm volatile("s_waitcnt lgkmcnt(0)" ::: "memory")', "")
        jobs = [(f"{example}_hk", source), (f"{example}_hk_unwaited", no_waits)]
        built, control = (amd_builds.build(name, text, "gfx942", includes) for name, text in jobs)
        found = built.kernel(kernel.name)
        assert (found.spills, found.scratch_bytes) == (0, 0), found
        uncovered = check_lds_waits(built.assembly)
        assert not uncovered, "\n".join(map(str, uncovered[:5]))
        unwaited = [f for f in check_lds_waits(control.assembly) if f.read.inline_asm]
        unwaited_uses[example] = len({f.instruction.line for f in unwaited})
        print(f"{example} with HipKittens {version.commit}: {found.vgprs} VGPRs, 0 uncovered LDS reads; "
              f"{unwaited_uses[example]} without the waits")  # fmt: skip
    # The check has teeth on HipKittens' own ds_read: without the waits, uses go unwaited (k05's
    # loads happen to be followed by a fence that waits anyway, so not every example shows it).
    assert sum(unwaited_uses.values()) > 0, unwaited_uses
