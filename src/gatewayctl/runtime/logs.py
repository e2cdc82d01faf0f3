"""Per-lane log files: size-capped and rotated, written only by the owner.

A lane's stdout and stderr reach the owner through one pipe, so the owner
decides when a file is full; a lane writing straight into the file could
grow it without bound between checks. Rotation keeps ``backups`` older
files (``x.log.1`` is the newest of them). Standard library only.
"""

from __future__ import annotations

import errno
import os
import stat
import time

from gatewayctl.runtime.statefiles import FILE_MODE

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_BACKUPS = 3


class LaneLog:
    def __init__(self, path: str, max_bytes: int = DEFAULT_MAX_BYTES, backups: int = DEFAULT_BACKUPS):
        self.path = path
        self.max_bytes = max(1024, max_bytes)
        self.backups = max(0, backups)
        self._fd: int | None = None
        self._size = 0

    def _open(self) -> int:
        if self._fd is None:
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            try:
                fd = os.open(self.path, flags, FILE_MODE)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENXIO):  # a symlink; a FIFO nobody reads
                    raise
                fd = None
            if fd is not None and not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                fd = None
            if fd is None:
                # A symlink (or a FIFO, a device) where the log belongs was not
                # made by the owner: replace it by a real file, never write
                # through it (an owner running as root would append to its target).
                os.unlink(self.path)
                fd = os.open(self.path, flags | os.O_EXCL, FILE_MODE)
            os.set_blocking(fd, True)
            self._fd = fd
            self._size = os.fstat(self._fd).st_size
        return self._fd

    def _rotate(self) -> None:
        self.close()
        if self.backups == 0:
            # Through a descriptor that refuses a symlink: never truncate another file.
            os.close(os.open(self.path, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC))
            return
        for i in range(self.backups - 1, 0, -1):
            older = f"{self.path}.{i}"
            if os.path.exists(older):
                os.replace(older, f"{self.path}.{i + 1}")
        os.replace(self.path, f"{self.path}.1")

    def write(self, data: bytes) -> None:
        """Append ``data``, rotating first whenever the file would pass the cap."""
        try:
            while data:
                fd = self._open()
                room = self.max_bytes - self._size
                if room <= 0:
                    self._rotate()
                    continue
                chunk = data[:room]
                os.write(fd, chunk)
                self._size += len(chunk)
                data = data[len(chunk) :]
        except OSError:
            # A full disk must not take the lanes down with it: drop the output.
            self.close()

    def note(self, text: str) -> None:
        """An owner-side line (start, exit, restart) between the worker's own output."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.write(f"[gatewayctl {stamp}] {text}\n".encode("utf-8", "replace"))

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None
