"""Which HipKittens checkouts an emitted kernel may be built against, decided before any compiler runs.

``tilegen.compile(kernel, kittens_root=...)`` puts a user's kittens checkout in front of the bundled
runtime. tilegen supports exactly the (HipKittens version, kernel) pairs that are compiled and
checked in its suite (docs/hipkittens-compat.md, tests/test_amd_hipkittens.py); everything else is
refused here with the reason, from the checkout's own files and the emitted source:

* the checkout must be a HipKittens flavour tilegen knows: the ``cdna3`` branch (MI300, gfx942;
  ``include/types/shared/st_layout.cuh``, ``KITTENS_CDNA3`` in ``include/common/util.cuh``) or
  ``main`` (CDNA4, gfx950; ``include/types/shared/st_shape.cuh``: shared tiles take a shape);
* its ``include/`` must be a tested version (a digest of every file in it, ``SUPPORTED``);
* the flavour must support the target and the emitted code must use only what that version has
  (no ``tg::`` extensions, no ``group<N>::load_async``, no ``group<N>::store``).

Supported today: HipKittens ``cdna3`` at 2538b4d4 for gfx942 (and gfx940), kernels without those
constructs (k01_baseline_4wave, k03_register_prefetch, k05_subtile_16x16). HipKittens ``main``
(f09e9685, CDNA4) is refused: its tile types changed (``st_bf<R, C, shape>``, ``rt_16x32``), and
tilegen emits the cdna3 API.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

Flavour = Literal["cdna3", "main-cdna4"]


@dataclass(frozen=True)
class KnownVersion:
    flavour: Flavour
    commit: str
    targets: tuple[str, ...]
    #: -D flags HipKittens needs for the target (its README: -DKITTENS_CDNA3 on MI300).
    defines: tuple[str, ...]


#: sha256 (first 16 hex digits) of the checkout's include/ tree -> the version it is. Computed by
#: ``include_digest`` from ``git archive <commit> include`` of HazyResearch/HipKittens.
SUPPORTED: dict[str, KnownVersion] = {
    "4c97efa668c74f5f": KnownVersion("cdna3", "2538b4d4", ("gfx942", "gfx940"), ("-DKITTENS_CDNA3",)),
}
#: Versions seen and refused, for a precise message.
REFUSED: dict[str, str] = {
    "fe3461187adea553": (
        "HipKittens main at f09e9685 (CDNA4) changed the tile API tilegen emits: shared tiles are "
        "st_bf<R, C, shape> and register tiles rt_16x32 shapes for its 16x16x32 MFMAs; tilegen emits the "
        "cdna3 API (st_bf<R, C>, rt_bf<R, C>). Build gfx950 kernels with the bundled runtime (no kittens_root)"
    ),
}
#: What the emitted source may not use with a HipKittens checkout: pattern -> why.
UNSUPPORTED_CONSTRUCTS: dict[str, str] = {
    r"\btg::": "tilegen extensions (tg::) that HipKittens does not have",
    r"::load_async\(": "group<N>::load_async, which HipKittens does not have",
    r"group<\d+>::store\(": (
        "group<N>::store through a shared staging tile: its alpha/beta path loads an rt_fl from shared, "
        "which HipKittens' load(rt, st) refuses"
    ),
}


class KittensRootRefused(ValueError):
    """This kittens checkout is not supported for this kernel and target; the message says why."""


def include_digest(include_dir: Path) -> str:
    """A digest of every file under ``include_dir`` (paths and contents)."""
    h = hashlib.sha256()
    for path in sorted(p for p in include_dir.rglob("*") if p.is_file()):
        h.update(path.relative_to(include_dir).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def detect_flavour(include_dir: Path) -> Optional[Flavour]:
    """The HipKittens flavour of a checkout's include directory, or None if it is not one tilegen knows."""
    util = include_dir / "common" / "util.cuh"
    if (include_dir / "types" / "shared" / "st_shape.cuh").is_file():
        return "main-cdna4"
    if (include_dir / "types" / "shared" / "st_layout.cuh").is_file() and util.is_file():
        if "KITTENS_CDNA3" in util.read_text(errors="replace"):
            return "cdna3"
    return None


def check_kittens_root(include_dir: Path, target: str, source: str) -> KnownVersion:
    """The supported HipKittens version of ``include_dir`` for ``source`` (the emitted kernel) on
    ``target``, or ``KittensRootRefused`` saying why not. Reads files only; runs no compiler."""
    include_dir = Path(include_dir)
    flavour = detect_flavour(include_dir)
    if flavour is None:
        raise KittensRootRefused(
            f"kittens_root {include_dir} is not a HipKittens checkout tilegen knows (it looks for the cdna3 "
            "branch's include/types/shared/st_layout.cuh or main's st_shape.cuh). tilegen supports HipKittens "
            f"cdna3 at {_supported_commits()} only (docs/hipkittens-compat.md); ThunderKittens is not supported. "
            "Leave kittens_root unset to use the bundled runtime"
        )
    digest = include_digest(include_dir)
    if digest in REFUSED:
        raise KittensRootRefused(f"kittens_root {include_dir}: {REFUSED[digest]}")
    version = SUPPORTED.get(digest)
    if version is None:
        raise KittensRootRefused(
            f"kittens_root {include_dir}: HipKittens {flavour} at a version tilegen has not compiled and "
            f"checked (include/ digest {digest}); supported: HipKittens cdna3 at {_supported_commits()} "
            "(docs/hipkittens-compat.md). Check out that commit, or leave kittens_root unset"
        )
    if target not in version.targets:
        raise KittensRootRefused(
            f"kittens_root {include_dir}: HipKittens {version.flavour} at {version.commit} is for "
            f"{', '.join(version.targets)}, not {target}"
        )
    for pattern, why in UNSUPPORTED_CONSTRUCTS.items():
        hit = re.search(pattern, source)
        if hit:
            line = source.count("\n", 0, hit.start()) + 1
            raise KittensRootRefused(
                f"kittens_root {include_dir}: the kernel uses {why} (emitted line {line}: "
                f"`{source.splitlines()[line - 1].strip()}`); build it with the bundled runtime (no kittens_root)"
            )
    return version


def _supported_commits() -> str:
    return ", ".join(v.commit for v in SUPPORTED.values())


def for_kittens_checkout(include_dir: Path, target: str, source: str) -> str:
    """``source`` ready to build against the checkout at ``include_dir``: refused (``KittensRootRefused``)
    unless the pair is supported, else with the macros that HipKittens version needs defined first."""
    version = check_kittens_root(include_dir, target, source)
    defines = [flag.removeprefix("-D").partition("=") for flag in version.defines]
    lines = [f"#define {name} {value or 1}" for name, _, value in defines]
    note = f"// Built against HipKittens {version.flavour} at {version.commit}, which needs:"
    return "\n".join([note, *lines, source])
