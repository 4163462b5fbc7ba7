"""Writing a file so that a crash leaves the old bytes or the new, never a mix.

``write_durably`` writes a dot-named temporary file beside the target, fsyncs
it, renames it over the target and fsyncs the directory, so the new name is
durable too; on any failure the temporary file is removed, so nothing
half-written is left for a web server or a sync tool to pick up.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_durably(path: Path, data: bytes, *, mode: int = 0o644, sync_dir: bool = True) -> None:
    """Replace ``path`` with ``data`` at once (``OSError`` on failure). ``sync_dir``:
    fsync the directory now; a caller writing many files in one folder may do it
    once, with ``fsync_dir``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)  # gone already once renamed
    if sync_dir:
        fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make the entries of directory ``path`` (a new or renamed file) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
