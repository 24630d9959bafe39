"""Every file steerbounds writes goes through here: atomic writes and the run store.

* :func:`atomic_path` / :func:`write_bytes` / :func:`write_text` / :func:`write_json`:
  a unique temporary file beside the target, flushed and fsynced, given the file
  mode the umask allows (``0o666 & ~umask``, as ``open`` would), then moved into
  place with :func:`os.replace`. A reader never sees half a file; a killed writer
  leaves at most a temporary file, which :func:`remove_stale_temporaries` removes
  once its writer process is gone.
* :class:`RunStore`: a run folder with an exclusive lock (a second writer is
  refused at once), a manifest written atomically, and an append-only JSON-lines
  log of records (one fsync per record). A torn last line (a kill mid-write) is cut
  off when the store opens; a corrupt line elsewhere is reported with its line
  number and, with ``repair=True``, dropped (its unit is then redone).

JSON is written as standard JSON: a non-finite float is written as ``null``
(:func:`jsonable`), never as the non-standard ``NaN``/``Infinity`` literals.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from steerbounds.errors import InputError

TEMP_SUFFIX = ".sbtmp"
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+" + re.escape(TEMP_SUFFIX) + r"$")
_UMASK_LOCK = threading.Lock()


# --------------------------------------------------------------------------- file modes


def current_umask() -> int:
    """The process umask (read from ``/proc`` where possible, so it is never changed)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new regular file gets from ``open``: ``0o666 & ~umask``."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """The mode a new folder gets from ``mkdir``: ``0o777 & ~umask``."""
    return 0o777 & ~current_umask()


# --------------------------------------------------------------------------- atomic writes


def _temp_name(target: Path) -> str:
    return f".{target.name}.{os.getpid()}."


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on normal exit it is fsynced, given
    the umask's mode and moved onto ``path``; on error it is removed.

    For writers that need a file name (``savefig``, ``safetensors.save_file``).
    The parent folder must exist.
    """
    target = Path(path)
    fd, name = tempfile.mkstemp(prefix=_temp_name(target), suffix=TEMP_SUFFIX, dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see the module docstring)."""
    target = Path(path)
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return target


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars/arrays as Python values and non-finite floats as None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "tolist") and callable(obj.tolist):  # numpy arrays and scalars
        return jsonable(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    return obj


def dumps(obj: Any, *, indent: int | None = 1, sort_keys: bool = True) -> str:
    """Standard JSON text of ``obj`` (NaN/inf as null; keys sorted unless ``sort_keys``
    is False, which keeps the insertion order of a reader-facing document)."""
    return json.dumps(jsonable(obj), indent=indent, sort_keys=sort_keys, allow_nan=False, ensure_ascii=False)


def write_json(path: str | os.PathLike[str], obj: Any, *, sort_keys: bool = True) -> Path:
    """Write ``obj`` as standard JSON to ``path`` atomically."""
    return write_text(path, dumps(obj, sort_keys=sort_keys) + "\n")


def read_json(path: str | os.PathLike[str], *, what: str = "file") -> Any:
    """Parse a JSON file; a missing or corrupt file is an :class:`InputError` naming it."""
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{what}: no such file {str(p)!r}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{what}: cannot read {str(p)!r}: {exc}") from None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files of writers that are no longer running (a kill
    inside :func:`atomic_path`); returns the removed paths."""
    removed: list[Path] = []
    base = Path(folder)
    if not base.is_dir():
        return removed
    for entry in base.iterdir():
        m = _TEMP.match(entry.name)
        if m is None or int(m["pid"]) == os.getpid() or _pid_alive(int(m["pid"])):
            continue
        with contextlib.suppress(FileNotFoundError):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
    return removed


def temporary_dir_beside(target: Path) -> Path:
    """A new temporary folder beside ``target`` (named so that
    :func:`remove_stale_temporaries` recognises it), with the umask's mode."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_name(target), suffix=TEMP_SUFFIX, dir=target.parent))
    os.chmod(tmp, dir_mode())
    return tmp


# --------------------------------------------------------------------------- output paths


def check_output_file(path: str | os.PathLike[str], *, option: str) -> Path:
    """Check, before any work, that ``path`` can be written as a file: it is not a
    folder, its parent exists (or can be made under an existing folder) and is
    writable. Returns the path; raises :class:`InputError` naming ``option``."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise InputError(f"{option}: {str(p)!r} is a folder; give a file name")
    _check_parent(p.parent, option=option)
    return p


def check_output_dir(path: str | os.PathLike[str], *, option: str) -> Path:
    """Check, before any work, that ``path`` is (or can be made as) a writable
    folder. Returns the path; raises :class:`InputError` naming ``option``."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise InputError(f"{option}: {str(p)!r} exists and is not a folder")
    if p.is_dir():
        if not os.access(p, os.W_OK | os.X_OK):
            raise InputError(f"{option}: the folder {str(p)!r} is not writable")
        return p
    _check_parent(p.parent, option=option)
    return p


def _check_parent(parent: Path, *, option: str) -> None:
    probe = parent if str(parent) else Path(".")
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise InputError(f"{option}: {str(probe)!r} is not a folder, so {str(parent)!r} cannot be made")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"{option}: the folder {str(probe)!r} is not writable")


@contextlib.contextmanager
def output_dir(path: str | os.PathLike[str], *, option: str) -> Iterator[Path]:
    """Create the folder ``path`` (checked first); if this call created it and the
    body fails, remove it again while it is still empty."""
    p = check_output_dir(path, option=option)
    created = not p.exists()
    p.mkdir(parents=True, exist_ok=True)
    try:
        yield p
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                p.rmdir()  # only succeeds while empty
        raise


# --------------------------------------------------------------------------- the run store


class StoreLockedError(InputError):
    """Another process holds the run folder's lock."""


class CorruptRecordError(InputError):
    """A record line that is not valid JSON (with its line number)."""

    def __init__(self, path: Path, line: int, detail: str) -> None:
        super().__init__(
            f"{str(path)!r} line {line} is corrupt ({detail}); "
            f"pass --repair (repair=True) to drop it and redo its unit"
        )
        self.path = path
        self.line = line


class RunStore:
    """A locked run folder: ``manifest.json`` plus an append-only ``records`` log.

    Use as a context manager (``with RunStore(folder) as store: ...``): entering
    takes an exclusive, non-blocking lock on ``folder/.lock`` (released by the OS
    when the process dies, so a killed run never leaves a stale lock), removes
    stale temporary files and cuts a torn last line off the log. A second process
    entering the same folder gets :class:`StoreLockedError` at once.
    """

    LOCK = ".lock"

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        records: str = "results.jsonl",
        manifest: str = "manifest.json",
    ) -> None:
        self.folder = Path(folder)
        self.records_path = self.folder / records
        self.manifest_path = self.folder / manifest
        self._lock_fd: int | None = None

    # -- lock
    def __enter__(self) -> RunStore:
        self.folder.mkdir(parents=True, exist_ok=True)
        lock = self.folder / self.LOCK
        while True:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, file_mode())
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "another process"
                os.close(fd)
                if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise StoreLockedError(
                        f"out: {str(self.folder)!r} is being written by process {holder}; "
                        f"wait for it to finish or choose another folder"
                    ) from None
                raise
            # the holder before us removes the lock file on exit: make sure ours is still it
            try:
                same = os.fstat(fd).st_ino == os.stat(lock).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        self._lock_fd = fd
        remove_stale_temporaries(self.folder)
        self._repair_tail()
        return self

    def __exit__(self, *exc: object) -> None:
        """Release the lock; the lock file is removed first (while still held), so
        a folder whose command failed before writing anything is left empty."""
        if self._lock_fd is not None:
            with contextlib.suppress(FileNotFoundError):
                (self.folder / self.LOCK).unlink()
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def _require_lock(self) -> None:
        if self._lock_fd is None:
            raise RuntimeError("RunStore: write outside 'with RunStore(...)'")

    # -- manifest
    def read_manifest(self) -> dict[str, Any] | None:
        """The manifest, or None when the folder has none yet."""
        if not self.manifest_path.is_file():
            return None
        data = read_json(self.manifest_path, what="manifest")
        if not isinstance(data, dict):
            raise InputError(f"manifest: {str(self.manifest_path)!r} is not a JSON object")
        return data

    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        self._require_lock()
        write_json(self.manifest_path, manifest)

    # -- records
    def _repair_tail(self) -> None:
        """Cut a partial last line (a unit interrupted mid-write) off the log."""
        path = self.records_path
        if not path.is_file():
            return
        size = path.stat().st_size
        if size == 0:
            return
        with path.open("rb+") as f:
            # look back for the last newline without reading the whole file
            block = 1 << 16
            pos = size
            cut = 0
            while pos > 0:
                start = max(0, pos - block)
                f.seek(start)
                chunk = f.read(pos - start)
                i = chunk.rfind(b"\n")
                if i >= 0:
                    cut = start + i + 1
                    break
                pos = start
            if cut != size:
                f.truncate(cut)
                f.flush()
                os.fsync(f.fileno())

    def records(self, *, repair: bool = False) -> list[dict[str, Any]]:
        """Every complete record, in order. A line that is not a JSON object raises
        :class:`CorruptRecordError` (its line number) unless ``repair``, which drops
        it from the log (the log is rewritten atomically; needs the lock)."""
        if not self.records_path.is_file():
            return []
        good: list[dict[str, Any]] = []
        kept: list[bytes] = []
        dropped = 0
        with self.records_path.open("rb") as f:
            for number, raw in enumerate(f, start=1):
                if not raw.endswith(b"\n"):
                    break  # a torn last line from a writer killed right now
                try:
                    rec = json.loads(raw)
                    if not isinstance(rec, dict):
                        raise ValueError("not a JSON object")
                except (ValueError, UnicodeDecodeError) as exc:
                    if not repair:
                        raise CorruptRecordError(self.records_path, number, str(exc)[:80]) from None
                    dropped += 1
                    continue
                good.append(rec)
                kept.append(raw)
        if dropped:
            self._require_lock()
            write_bytes(self.records_path, b"".join(kept))
        return good

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record as a JSON line; flushed and fsynced before returning."""
        self.extend([record])

    def extend(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Append records as JSON lines, flushed and fsynced once before returning
        (a kill mid-write leaves a torn last line, cut off on the next open); returns
        how many were appended."""
        self._require_lock()
        lines = [
            json.dumps(jsonable(r), allow_nan=False, ensure_ascii=False, sort_keys=True) + "\n"
            for r in records
        ]
        if not lines:
            return 0
        new = not self.records_path.exists()
        with self.records_path.open("a", encoding="utf-8") as f:  # a new file gets the umask's mode
            f.write("".join(lines))
            f.flush()
            os.fsync(f.fileno())
        if new:
            _fsync_dir(self.folder)
        return len(lines)

    def done(self, key: Callable[[dict[str, Any]], str], *, repair: bool = False) -> set[str]:
        """The keys of the records already in the log."""
        return {key(r) for r in self.records(repair=repair)}
