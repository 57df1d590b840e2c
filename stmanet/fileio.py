"""Writing files the user cares about so that a crash mid-write never leaves a broken one, and
reading the description files (split lists, label projects) with errors that name them."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from stmanet.errors import DatasetError


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename.

    On an exception the temporary file is removed and `path` keeps its previous content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path | str, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_text_file(path: Path) -> str:
    """The text of a UTF-8 file (a leading byte-order mark dropped); DatasetError naming the
    file when it is missing, unreadable or not text."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise DatasetError("file not found", file=path) from exc
    except UnicodeDecodeError as exc:
        raise DatasetError("not a UTF-8 text file", file=path) from exc
    except OSError as exc:
        raise DatasetError(f"cannot read: {exc.strerror}", file=path) from exc
