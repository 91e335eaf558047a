"""The on-disk cache of built kernel modules.

Layout under the cache root (``TILEGEN_CACHE_DIR``, else ``$XDG_CACHE_HOME/tilegen``, else
``~/.cache/tilegen``)::

    <key>/            one entry per cache key (a hash of everything that changes the binary)
        kernel.cpp    the emitted source that was compiled
        <module>.so   the pybind11 module
        build.log     the compiler's output
        manifest.json written last: file sizes, sha256 of the library, the build command
    .build/<key>/     where an entry is built before it is renamed into place; a failed build
                      stays here so the paths in the compiler's error message remain valid
    .locks/<key>.lock one flock per key: concurrent builders of the same key take turns
    .aliases/<name>   the key an earlier compile of the same IR, target and toolchain led to, so
                      a repeat can skip validating and emitting
    tools.json        ``--version`` output of each compiler binary, keyed by the binary's stat

An entry is trusted only if its manifest parses, is well formed, names its own key, lists files
that exist with the recorded sizes and sha256, and records the request it was built for (kernel,
target, toolchain, source), which the caller compares with its own; anything else is rebuilt.
Malformed metadata (aliases, ``tools.json``) is ignored and rewritten; what cannot be repaired
raises ``CacheError`` naming the path and ``tilegen cache clear``. A read-only cache serves its
intact entries.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

ENV_CACHE_DIR = "TILEGEN_CACHE_DIR"
MANIFEST_NAME = "manifest.json"
SOURCE_NAME = "kernel.cpp"
LOG_NAME = "build.log"
TOOLS_NAME = "tools.json"
#: Bumped whenever the entry layout or the key recipe changes, so old entries are never trusted.
FORMAT_VERSION = 1
HEADER_SUFFIXES = (".cuh", ".h", ".hpp", ".hh", ".cu", ".inl", ".inc")

_KEY_PATTERN = re.compile(r"^[0-9a-f]{40}$")
_KEY_LENGTH = 40

_digest_lock = threading.Lock()
_file_digests: dict[str, tuple[tuple[int, int, int], str]] = {}
_tool_versions: dict[str, tuple[tuple[int, int, int], str]] = {}


class CacheError(RuntimeError):
    """The cache directory cannot be used (not writable, not a directory, ...)."""


CLEAR_HINT = "`tilegen cache clear` (or deleting the directory) resets the cache"


def cache_root(override: Optional[os.PathLike[str] | str] = None) -> Path:
    """Where entries live: ``override``, else ``TILEGEN_CACHE_DIR``, else the XDG cache dir."""
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "tilegen"


# --------------------------------------------------------------------------------------------
# Fingerprints: cheap enough to run on every compile() call
# --------------------------------------------------------------------------------------------


def _stat_signature(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    """sha256 of a file's contents, computed once per process while its stat is unchanged."""
    resolved = str(Path(path).resolve())
    signature = _stat_signature(Path(resolved))
    with _digest_lock:
        known = _file_digests.get(resolved)
    if known is not None and known[0] == signature:
        return known[1]
    value = sha256_file(Path(resolved))
    with _digest_lock:
        _file_digests[resolved] = (signature, value)
    return value


def tree_digest(roots: Sequence[Path], suffixes: Sequence[str] = HEADER_SUFFIXES) -> str:
    """One hash over the relative path and contents of every file with ``suffixes`` under each
    root, in a stable order. A root that is a file counts as itself."""
    digest = hashlib.sha256()
    for root in roots:
        root = Path(root)
        digest.update(f"root:{root}\n".encode())
        if root.is_file():
            digest.update(f"{root.name}:{file_digest(root)}\n".encode())
            continue
        files: list[Path] = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            files.extend(Path(dirpath) / name for name in sorted(filenames) if name.endswith(tuple(suffixes)))
        for path in files:
            digest.update(f"{path.relative_to(root)}:{file_digest(path)}\n".encode())
    return digest.hexdigest()


def tool_version(
    tool: str, cache_dir: Optional[Path] = None, args: Sequence[str] = ("--version",), *, run: bool = True
) -> Optional[str]:
    """The output of ``tool --version``, run at most once per binary version.

    Memoised per process and, when ``cache_dir`` is given, on disk keyed by the resolved binary's
    size, mtime and inode, so loading a cached kernel in a new process runs no compiler at all.
    With ``run=False``, None when the answer is not on record yet.
    """
    resolved = Path(os.path.realpath(tool))
    signature = _stat_signature(resolved)
    memo_key = f"{resolved} {' '.join(args)}"
    with _digest_lock:
        known = _tool_versions.get(memo_key)
    if known is not None and known[0] == signature:
        return known[1]
    on_disk = _read_json(cache_dir / TOOLS_NAME) if cache_dir is not None else None
    record = (on_disk or {}).get(memo_key)
    if _stat_matches(record, signature):
        version = str(record["version"])  # type: ignore[index]
    elif not run:
        return None
    else:
        proc = subprocess.run([str(resolved), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        version = proc.stdout.strip()
        if cache_dir is not None:
            updated = dict(on_disk or {})
            updated[memo_key] = {"stat": list(signature), "version": version}
            with contextlib.suppress(OSError):
                cache_dir.mkdir(parents=True, exist_ok=True)
                _write_json_atomic(cache_dir / TOOLS_NAME, updated)
    with _digest_lock:
        _tool_versions[memo_key] = (signature, version)
    return version


def _stat_matches(record: Any, signature: tuple[int, int, int]) -> bool:
    """Whether a tools.json record is well formed and for this binary (anything else is re-run)."""
    if not isinstance(record, dict) or not isinstance(record.get("version"), str):
        return False
    stat = record.get("stat")
    return isinstance(stat, list) and tuple(stat) == signature


def cache_key(parts: Mapping[str, str]) -> str:
    """The entry name for a set of named inputs (order-independent, stable across runs)."""
    canonical = json.dumps({"format": FORMAT_VERSION, **parts}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:_KEY_LENGTH]


# --------------------------------------------------------------------------------------------
# Entries
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuiltFiles:
    """What a builder reports after writing ``kernel.cpp``, the library and ``build.log``."""

    library: str  # file name of the shared library inside the build directory
    record: dict[str, Any] = field(default_factory=dict)  # stored in the manifest as "build"


@dataclass(frozen=True)
class CacheEntry:
    path: Path
    manifest: dict[str, Any]

    @property
    def key(self) -> str:
        return self.path.name

    @property
    def library_path(self) -> Path:
        return self.path / self.manifest["library"]

    @property
    def source_path(self) -> Path:
        return self.path / SOURCE_NAME

    @property
    def log_path(self) -> Path:
        return self.path / LOG_NAME

    @property
    def build(self) -> dict[str, Any]:
        build = self.manifest.get("build", {})
        return build if isinstance(build, dict) else {}

    @property
    def size_bytes(self) -> int:
        return sum(info["size"] for info in self.manifest["files"].values())


def inspect_entry(path: Path) -> tuple[Optional[CacheEntry], str]:
    """(the entry, "") if the directory holds a complete, intact, well-formed entry, else (None,
    why not). Never raises for what is on disk."""
    manifest = _read_json(path / MANIFEST_NAME)
    if manifest is None:
        return None, "no readable manifest (never finished, or removed)"
    if manifest.get("format") != FORMAT_VERSION:
        return None, f"manifest format {manifest.get('format')!r} is not {FORMAT_VERSION}"
    if manifest.get("key") != path.name:
        return None, f"manifest is for key {manifest.get('key')!r}, not {path.name}"
    for name, kind in (("kernel", str), ("target", str), ("created", (int, float)), ("build", dict)):
        if name in manifest and not isinstance(manifest[name], kind):
            found = type(manifest[name]).__name__
            return None, f"manifest field {name!r} is a {found}, not {getattr(kind, '__name__', 'a number')}"
    files = manifest.get("files")
    library = manifest.get("library")
    if not isinstance(files, dict) or not isinstance(library, str) or library not in files:
        return None, "manifest lists no library"
    for name, info in files.items():
        if not isinstance(info, dict) or not isinstance(info.get("size"), int) or not _plain_name(name):
            return None, f"manifest entry for {name!r} is malformed"
        try:
            size = (path / name).stat().st_size
        except OSError:
            return None, f"{name} is missing"
        if size != info["size"]:
            return None, f"{name} is {size} bytes, the manifest says {info['size']}"
    for name, info in files.items():
        if (name == library or "sha256" in info) and _sha256_or_none(path / name) != info.get("sha256"):
            return None, f"{name} does not match its sha256 in the manifest"
    return CacheEntry(path, manifest), ""


def _plain_name(name: str) -> bool:
    """A file name inside the entry directory (no path separators, no ``..``)."""
    return bool(name) and "/" not in name and "\\" not in name and name not in (".", "..")


def _sha256_or_none(path: Path) -> Optional[str]:
    try:
        return sha256_file(path)
    except OSError:
        return None


def load_entry(root: Path, key: str) -> Optional[CacheEntry]:
    entry, _ = inspect_entry(Path(root) / key)
    return entry


def get_or_build(
    root: Path,
    key: str,
    build: Callable[[Path], BuiltFiles],
    *,
    on_wait: Optional[Callable[[], None]] = None,
    describe: Optional[dict[str, Any]] = None,
    verify: Optional[Callable[[CacheEntry], Optional[str]]] = None,
) -> tuple[CacheEntry, bool]:
    """The intact entry for ``key``, building it with ``build(build_dir)`` if needed.

    Returns (entry, built_here). Two processes asking for the same key at once both succeed: the
    first builds under the key's lock, the second waits on the lock (``on_wait`` is called once if
    it has to) and then loads what the first built. ``describe`` is stored in the manifest.
    ``verify(entry)`` says why an intact entry does not serve the caller's request (None when it
    does); such an entry is rebuilt like a corrupt one.
    """
    if not _KEY_PATTERN.match(key):
        raise ValueError(f"not a cache key: {key!r}")
    root = Path(root)

    def usable() -> Optional[CacheEntry]:
        entry = load_entry(root, key)
        if entry is not None and verify is not None and verify(entry) is not None:
            return None
        return entry

    entry = usable()
    if entry is not None:
        return entry, False
    _ensure_dir(root)
    with _key_lock(root, key, on_wait):
        entry = usable()
        if entry is not None:
            return entry, False
        build_dir = _subdir(root, ".build") / key
        try:
            if build_dir.is_dir() and not build_dir.is_symlink():
                shutil.rmtree(build_dir)
            elif build_dir.exists() or build_dir.is_symlink():
                build_dir.unlink()
            build_dir.mkdir(parents=True)
        except OSError as error:
            raise CacheError(f"cannot prepare the build directory {build_dir}: {error}; {CLEAR_HINT}") from error
        built = build(build_dir)
        _write_manifest(build_dir, key, built, describe or {})
        final = root / key
        if final.exists():
            # A corrupt or half-written entry: move it aside in one rename so no reader ever sees
            # a mix of old and new files, then delete it.
            trash = root / f".trash-{key}-{uuid.uuid4().hex[:8]}"
            os.replace(final, trash)
            shutil.rmtree(trash, ignore_errors=True)
        os.replace(build_dir, final)
    entry, why = inspect_entry(final)
    if entry is None:
        raise CacheError(f"the entry just built at {final} does not verify: {why}; {CLEAR_HINT}")
    if verify is not None and (why := verify(entry)) is not None:
        raise CacheError(f"the entry just built at {final} is not what was asked for: {why}; {CLEAR_HINT}")
    return entry, True


def _write_manifest(build_dir: Path, key: str, built: BuiltFiles, describe: dict[str, Any]) -> None:
    library = build_dir / built.library
    if not library.is_file():
        raise CacheError(f"the build wrote no library at {library}")
    files: dict[str, dict[str, Any]] = {}
    for path in sorted(build_dir.iterdir()):
        if path.is_file() and path.name != MANIFEST_NAME and not path.name.endswith(".tmp"):
            files[path.name] = {"size": path.stat().st_size}
    files[built.library]["sha256"] = sha256_file(library)
    manifest = {
        "format": FORMAT_VERSION,
        "key": key,
        "library": built.library,
        "files": files,
        "created": time.time(),
        "build": built.record,
        **describe,
    }
    _write_json_atomic(build_dir / MANIFEST_NAME, manifest)


def _subdir(root: Path, name: str) -> Path:
    """``root/name`` as a directory (created if missing); ``CacheError`` with the path when
    something else is in the way."""
    path = root / name
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CacheError(f"cannot use {path} as a directory ({error}); {CLEAR_HINT}") from error
    if not path.is_dir():
        raise CacheError(f"{path} is not a directory; {CLEAR_HINT}")
    return path


@contextlib.contextmanager
def _key_lock(root: Path, key: str, on_wait: Optional[Callable[[], None]]) -> Iterator[None]:
    locks = _subdir(root, ".locks")
    try:
        handle = open(locks / f"{key}.lock", "a+")
    except OSError as error:
        raise CacheError(f"cannot open the lock {locks / f'{key}.lock'} ({error}); {CLEAR_HINT}") from error
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def follow_alias(root: Path, name: str) -> Optional[CacheEntry]:
    """The intact entry an alias names (see ``write_alias``), or None."""
    try:
        key = (Path(root) / ".aliases" / name).read_bytes().decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None  # missing, unreadable or garbled: the caller takes the full path and rewrites it
    return load_entry(root, key) if _KEY_PATTERN.match(key) else None


def write_alias(root: Path, name: str, key: str) -> None:
    """Record that inputs hashed to ``name`` (cheaper to compute than the entry's own key) lead to
    the entry ``key``."""
    if not (_KEY_PATTERN.match(name) and _KEY_PATTERN.match(key)):
        raise ValueError(f"not cache keys: {name!r} -> {key!r}")
    aliases = Path(root) / ".aliases"
    try:
        aliases.mkdir(parents=True, exist_ok=True)
        tmp = aliases / f"{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        tmp.write_text(key)
        os.replace(tmp, aliases / name)
    except OSError:
        pass  # a read-only cache (or an alias directory in the way): the shortcut is only an optimisation


# --------------------------------------------------------------------------------------------
# Maintenance (``tilegen cache ...``)
# --------------------------------------------------------------------------------------------


def list_entries(root: Path) -> list[tuple[Path, Optional[CacheEntry], str]]:
    """Every entry directory under ``root`` with its verified entry, or None and why not."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.iterdir()):
        if path.is_dir() and _KEY_PATTERN.match(path.name):
            entry, why = inspect_entry(path)
            found.append((path, entry, why))
    return found


def clear(root: Path) -> int:
    """Delete every entry, build directory, lock and memo under ``root``; return the number of
    entries removed. Only names the cache itself creates are touched, so a cache dir pointed at
    a directory holding other files leaves those files alone."""
    root = Path(root)
    if not root.is_dir():
        return 0
    removed = 0
    for path in root.iterdir():
        if _KEY_PATTERN.match(path.name):
            _remove(path)
            removed += 1
        elif path.name in (".build", ".locks", ".aliases", ".tune", TOOLS_NAME) or path.name.startswith(".trash-"):
            _remove(path)
    return removed


# --------------------------------------------------------------------------------------------
# Small file helpers
# --------------------------------------------------------------------------------------------


def _remove(path: Path) -> None:
    """Delete a file, link or directory tree (whatever a broken cache left under that name)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def _ensure_dir(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CacheError(
            f"cannot create the tilegen cache directory {root}: {error}; set {ENV_CACHE_DIR} to a writable "
            "directory or pass cache_dir="
        ) from error
    if not os.access(root, os.W_OK):
        raise CacheError(f"the tilegen cache directory {root} is not writable; set {ENV_CACHE_DIR} or pass cache_dir=")


def _read_json(path: Path) -> Optional[dict[str, Any]]:
    try:
        with open(path) as handle:
            value = json.load(handle)
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _write_json_atomic(path: Path, value: dict[str, Any]) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "w") as handle:
        json.dump(value, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
