"""One running node per database, and a Matcher socket only its creator removes.

``NodeLock`` holds an exclusive ``flock`` on ``<database>.lock`` for the
life of ``hashlist node run`` and writes its pid there; a second node on the
same database is refused before it touches anything (the socket, the
replica), with a message naming the running process. The kernel releases
the lock when the process dies, however it dies, so a crash never leaves a
stale lock behind.

``node_running`` asks the same lock, without taking it, for ``node status``.

``OwnedSocket`` remembers the inode of the Unix socket the Matcher bound and
removes the path on exit only if it is still that socket.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from hashlist.errors import ConfigError


class NodeLock:
    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self._fd = -1

    def __enter__(self) -> NodeLock:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise ConfigError(f"cannot open {self.path}: {e.strerror}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise ConfigError(
                f"another node (pid {holder}) is running on {self.path.with_suffix('')}: "
                "stop it first, or give this one its own database"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        os.close(self._fd)  # releases the lock; the file stays, harmless


def node_running(database: Path) -> bool:
    """Whether a ``hashlist node run`` holds ``database``'s lock now (never creates the file)."""
    path = database.with_name(database.name + ".lock")
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also releases the shared lock, if it was taken
    return False


class OwnedSocket:
    """The Unix socket at ``address`` (``unix:PATH``), if that is what the Matcher bound."""

    def __init__(self, address: str) -> None:
        self.path = Path(address[len("unix:") :]) if address.startswith("unix:") else None
        self._inode = 0

    def bound(self) -> None:
        if self.path is not None and self.path.exists():
            self._inode = self.path.stat().st_ino

    def remove(self) -> None:
        if self.path is None or not self._inode:
            return
        try:
            if self.path.stat().st_ino == self._inode:
                self.path.unlink()
        except FileNotFoundError:
            pass
