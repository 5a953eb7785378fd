"""Streaming SHA-256 of files and folders, for footage of any size.

``collect`` expands the paths a user named into regular files, recursively and in a stable order
(command-line order, then by name within each folder), and lists everything it did *not* take with
the reason: left out on purpose (hidden, empty, excluded by a pattern: ``Selection``) or skipped
(symlinked folders, sockets, unreadable folders...). ``hash_files`` reads each file once
in large chunks into a reused buffer (``readinto``: no per-chunk allocation), optionally on several
threads (``hashlib`` releases the GIL while it hashes), and also reads the media type from the
first bytes and, for MP4/MOV, the duration from ``moov/mvhd``, and what its C2PA manifest says
(``ledger.content.c2pa.inspect``: a few seeks for a file without one). Files that fail while
being read are reported as skipped, never silently dropped.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TextIO

from ledger.content.c2pa import inspect
from ledger.content.manifest import ManifestItem
from ledger.content.media import SNIFF_BYTES, is_iso_bmff, media_type, mp4_duration

#: Read size: large enough that the per-call overhead vanishes next to SHA-256 itself.
CHUNK_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class FileToHash:
    path: Path
    size: int  # from stat, for the progress bar; the manifest records the bytes actually read


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


#: Why a file or folder was left out on purpose (``Selection``), each with its opt-in.
HIDDEN, EMPTY, EXCLUDED, SIDECAR = "hidden", "empty", "excluded", "sidecar"
#: A C2PA sidecar (``clip.c2pa``): the manifest of a clip next to it, not content of its own.
_SIDECAR_SUFFIX = ".c2pa"


@dataclass(frozen=True)
class Selection:
    """Which files under the named folders to take. By default hidden files and folders (a name
    starting with ``.``: ``.DS_Store``, ``.git``) and empty files are left out; ``exclude``
    patterns (``fnmatch``, e.g. ``*.txt``, ``proxies/*``) match a name or the path relative to
    the folder named. A hidden file named explicitly is taken."""

    exclude: tuple[str, ...] = ()
    include_hidden: bool = False
    include_empty: bool = False

    def left_out(self, path: Path, relative: PurePosixPath | None, size: int | None) -> str | None:
        """Why ``path`` is left out (HIDDEN, EMPTY, EXCLUDED, SIDECAR: a ``.c2pa`` file in a
        folder, read as its clip's manifest instead), or None to take it. ``relative``
        is its path under the folder named (None: named itself); ``size`` None for a folder."""
        names = [path.name] if relative is None else [path.name, str(relative)]
        if any(fnmatch.fnmatchcase(n, pattern) for n in names for pattern in self.exclude):
            return EXCLUDED
        if relative is not None and path.name.startswith(".") and not self.include_hidden:
            return HIDDEN
        if size == 0 and not self.include_empty:
            return EMPTY
        if relative is not None and size is not None and path.suffix == _SIDECAR_SUFFIX:
            return SIDECAR
        return None


def collect(
    paths: Sequence[Path], selection: Selection | None = None
) -> tuple[list[FileToHash], list[Skipped]]:
    """Regular files under ``paths``, and what was not taken: left out by ``selection`` (the
    reason is HIDDEN, EMPTY, EXCLUDED or SIDECAR) or skipped (any other reason). Raises
    FileNotFoundError for a named path that is absent."""
    selection = selection or Selection()
    files: list[FileToHash] = []
    skipped: list[Skipped] = []
    for path in paths:
        st = path.stat()  # follows a symlink the user named explicitly
        if stat.S_ISDIR(st.st_mode):
            _walk(path, PurePosixPath(), selection, files, skipped)
        elif stat.S_ISREG(st.st_mode):
            _take(path, None, st.st_size, selection, files, skipped)
        else:
            skipped.append(Skipped(str(path), "not a regular file"))
    return files, skipped


def _take(
    path: Path,
    relative: PurePosixPath | None,
    size: int,
    selection: Selection,
    files: list[FileToHash],
    skipped: list[Skipped],
) -> None:
    reason = selection.left_out(path, relative, size)
    if reason is None:
        files.append(FileToHash(path, size))
    else:
        skipped.append(Skipped(str(path), reason))


def _walk(
    folder: Path,
    under: PurePosixPath,
    selection: Selection,
    files: list[FileToHash],
    skipped: list[Skipped],
) -> None:
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as e:
        skipped.append(Skipped(str(folder), f"cannot list folder: {e.strerror}"))
        return
    for entry in entries:
        path, relative = folder / entry.name, under / entry.name
        try:
            if entry.is_symlink() and entry.is_dir():
                skipped.append(Skipped(str(path), "symlink to a folder (not followed)"))
            elif entry.is_dir(follow_symlinks=False):
                reason = selection.left_out(path, relative, None)
                if reason is None:
                    _walk(path, relative, selection, files, skipped)
                else:
                    skipped.append(Skipped(f"{path}{os.sep}", reason))
            elif entry.is_file():  # a regular file, or a symlink to one
                _take(path, relative, entry.stat().st_size, selection, files, skipped)
            else:
                skipped.append(Skipped(str(path), "not a regular file"))
        except OSError as e:
            skipped.append(Skipped(str(path), e.strerror or str(e)))


class Progress:
    """A one-line progress bar on a stream: bytes, percent, throughput and ETA. Thread-safe."""

    def __init__(
        self, total: int, files: int, stream: TextIO | None, *, always: bool = False
    ) -> None:
        self.total, self.files, self.stream, self.always = total, files, stream, always
        self.interval = 0.2
        self.done = 0
        self.files_done = 0
        self.started = time.monotonic()
        self._last = self.started  # the first bar appears after `interval`: short work stays quiet
        self._drawn = False
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.done += n
            now = time.monotonic()
            if self.stream is not None and now - self._last >= self.interval:
                self._last = now
                self._render(now)

    def file_done(self) -> None:
        with self._lock:
            self.files_done += 1

    def _render(self, now: float) -> None:
        assert self.stream is not None
        self._drawn = True
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        pct = 100.0 * self.done / self.total if self.total else 100.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        self.stream.write(
            f"\rhashing {_human(self.done)} / {_human(self.total)} {pct:5.1f}%"
            f"  {_human(rate)}/s  ETA {int(eta) // 60}:{int(eta) % 60:02d}"
            f"  ({self.files_done}/{self.files} files)  "
        )
        self.stream.flush()

    def finish(self) -> None:
        """End the line; short work that never drew the bar leaves no trace unless ``always``."""
        if self.stream is not None and (self._drawn or self.always):
            with self._lock:
                self._render(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.1f} TB"


def file_sha256(path: Path) -> str:
    """The SHA-256 (hex) of one file's bytes, streamed; raises OSError."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hash_file(
    path: Path, buffer: bytearray, on_bytes: Callable[[int], None], *, read_c2pa: bool = True
) -> ManifestItem:
    """SHA-256, size, media type and duration of one file, and (``read_c2pa``) what its C2PA
    manifest says; raises OSError."""
    digest = hashlib.sha256()
    view = memoryview(buffer)
    size = 0
    head = b""
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buffer):
            if not head:
                head = bytes(view[: min(n, SNIFF_BYTES)])  # not the last file's leftovers
            digest.update(view[:n])
            size += n
            on_bytes(n)
        duration = mp4_duration(f, size) if is_iso_bmff(head) else None
        kind = media_type(head, path.name)
        c2pa = inspect(path, f, head, size, kind) if read_c2pa else None
    return ManifestItem(digest.hexdigest(), size, duration, kind, str(path), c2pa=c2pa)


def hash_files(
    files: Sequence[FileToHash],
    jobs: int = 1,
    progress: Progress | None = None,
    *,
    read_c2pa: bool = True,
) -> Iterator[ManifestItem | Skipped]:
    """Hash ``files`` on ``jobs`` threads (``hash_file``); yields results in the order of
    ``files``.

    Closing the generator early (an error, Ctrl-C) stops the other threads at their next chunk
    instead of letting them finish multi-GB files nobody will read.
    """
    local = threading.local()
    stop = threading.Event()

    def add(n: int) -> None:
        if stop.is_set():
            raise _Stopped
        if progress is not None:
            progress.add(n)

    def one(item: FileToHash) -> ManifestItem | Skipped:
        if not hasattr(local, "buffer"):
            local.buffer = bytearray(CHUNK_BYTES)
        try:
            return hash_file(item.path, local.buffer, add, read_c2pa=read_c2pa)
        except OSError as e:
            return Skipped(str(item.path), f"cannot read: {e.strerror or e}")
        finally:
            if progress is not None:
                progress.file_done()

    if jobs <= 1:
        yield from map(one, files)
        return
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        yield from pool.map(one, files)
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


class _Stopped(Exception):
    """Raised inside a hashing thread when the consumer has gone away."""


def make_progress(files: Sequence[FileToHash], mode: str) -> Progress:
    """A bar on stderr when ``mode`` is "always", or "auto" and stderr is a terminal."""
    shown = mode == "always" or (mode == "auto" and sys.stderr.isatty())
    total = sum(f.size for f in files)
    return Progress(total, len(files), sys.stderr if shown else None, always=mode == "always")
