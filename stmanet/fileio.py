"""Writing files the user cares about so that a crash mid-write never leaves a broken one, and
reading the description files (split lists, label projects) with errors that name them."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from stmanet.errors import DatasetError, OutputError, printable_path

log = logging.getLogger(__name__)


# Temporary files of atomic writes: .NAME.PID-XXXXXXXX.tmp beside the file NAME, PID the
# writing process. A process killed mid-write (SIGKILL, power loss) leaves one behind.
_TEMP_NAME = re.compile(r"^\..+\.(\d+)-[a-z0-9_]{8}\.tmp$")
# A leftover is removed by the next atomic write into its folder once it is this old (its
# modification time: a live writer's file is younger, or its writer is still running) and,
# on POSIX, its writer is no longer a running process. Windows has no harmless way to ask
# whether a process runs (os.kill ends it), so there a leftover must be an hour old.
STALE_TEMP_SECONDS = 60.0
STALE_TEMP_SECONDS_WINDOWS = 3600.0


def _process_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: checks only
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # running, as another user
    except OSError:
        return True  # cannot tell: keep the file
    return True


def _is_stale_temp(entry: os.DirEntry[str], now: float) -> bool:
    match = _TEMP_NAME.match(entry.name)
    if match is None:
        return False
    try:
        if not entry.is_file(follow_symlinks=False):
            return False
        age = now - entry.stat(follow_symlinks=False).st_mtime
    except OSError:
        return False
    if os.name == "nt":
        return age > STALE_TEMP_SECONDS_WINDOWS
    pid = int(match.group(1))
    return age > STALE_TEMP_SECONDS and pid != os.getpid() and not _process_running(pid)


def remove_stale_temp_files(folder: Path) -> list[Path]:
    """Remove the leftovers of atomic writes that were killed mid-write from `folder` (see
    STALE_TEMP_SECONDS); the files removed. Nothing else is touched, and a folder that cannot
    be listed is left as it is."""
    removed = []
    now = time.time()
    try:
        with os.scandir(folder) as entries:
            stale = [Path(e.path) for e in entries if _is_stale_temp(e, now)]
    except OSError:
        return removed
    for path in stale:
        try:
            path.unlink()
        except OSError:
            continue  # another writer removed it first, or it cannot be: leave it
        log.info("removed %s, left by a write that was interrupted", printable_path(path))
        removed.append(path)
    return removed


def _fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable: after a power loss the folder names the new file.
    POSIX only (Windows cannot open a folder to flush it); a file system that cannot flush a
    folder (EINVAL) is taken as it is."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename.

    The temporary file is flushed to disk before the rename and the folder after it, so that
    after a crash or a power loss `path` holds either its previous content or the new one.
    On an exception the temporary file is removed and `path` keeps its previous content. An
    OSError (a full disk, a folder where the file should go) comes out naming `path`, not the
    temporary file. Temporary files that killed writers left in the folder are removed first
    (remove_stale_temp_files).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(path.parent)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp",
                                        dir=path.parent)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp makes the file private (0600); give it the permissions a plain open() would
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    except OSError as exc:
        if exc.filename in (str(path), path):
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path | str, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _nearest_existing(path: Path) -> Path:
    while not os.path.lexists(path) and path.parent != path:
        path = path.parent
    return path


def _check_folder_writable(folder: Path, target: Path) -> None:
    """OutputError naming `target` unless `folder` (existing, or to be made) can take files."""
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise OutputError(target, f"cannot be written: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(target, f"cannot be written: no permission to write in {existing}")
    if existing == folder:
        try:  # read-only mounts pass os.access for root; a real file tells
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            raise OutputError(target, f"cannot be written: {exc.strerror}") from exc


def check_output_file(path: Path | str) -> Path:
    """Refuse, before any work, an output file that cannot be written: an existing folder of
    that name, a parent that is a file, a folder without write permission. OutputError names
    the file."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(path, "is a folder: give a file name to write to")
    if os.path.lexists(path) and not path.is_file():
        raise OutputError(path, "is not a regular file: give a file name to write to")
    _check_folder_writable(path.parent, path)
    return path


def check_output_folder(path: Path | str) -> Path:
    """Refuse, before any work, an output folder that cannot be made or written into: an
    existing file of that name, a parent that is a file, no write permission. OutputError
    names the folder."""
    path = Path(path)
    if os.path.lexists(path) and not path.is_dir():
        raise OutputError(path, "is a file, not a folder: give a folder to write into")
    _check_folder_writable(path, path)
    return path


def check_regular_file(path: Path) -> None:
    """DatasetError naming `path` when it exists but is not a regular file (a FIFO, a device,
    a socket: reading one could wait forever)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as exc:
        raise DatasetError("file not found", file=path) from exc
    except OSError as exc:
        raise DatasetError(f"cannot read: {exc.strerror}", file=path) from exc
    if stat.S_ISDIR(mode):
        raise DatasetError("is a folder, not a file", file=path)
    if not stat.S_ISREG(mode):
        raise DatasetError("not a regular file (a pipe or a device?): give a file", file=path)


def file_sha256(path: Path | str) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_text_file(path: Path) -> str:
    """The text of a UTF-8 file (a leading byte-order mark dropped); DatasetError naming the
    file when it is missing, unreadable, not a regular file or not text."""
    check_regular_file(path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise DatasetError("file not found", file=path) from exc
    except UnicodeDecodeError as exc:
        raise DatasetError("not a UTF-8 text file", file=path) from exc
    except OSError as exc:
        raise DatasetError(f"cannot read: {exc.strerror}", file=path) from exc
