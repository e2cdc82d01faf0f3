"""Atomic file replacement: the one implementation every package uses.

A reader of a file written here sees the old content or the new, never a
torn or empty file: the data goes to a temp file in the same directory,
which then replaces the target with one rename. ``durable=True`` adds the
fsyncs (file, then directory) that make the new content survive a crash;
hot, disposable files (a lane's live status, a cache) skip them.

Standard library only, and imports nothing from gatewayctl, so every layer
(compile, validate, runtime, workers) may use it.
"""

from __future__ import annotations

import os
import tempfile


def fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_temp(directory: str, data: bytes, *, mode: int = 0o600, durable: bool = True, prefix: str = ".tmp-") -> str:
    """Write ``data`` to a new temp file in ``directory``; returns its path."""
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=directory)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        unlink_quietly(tmp)
        raise
    os.close(fd)
    return tmp


def write_bytes(path: str, data: bytes, *, mode: int = 0o600, durable: bool = True, prefix: str = ".tmp-") -> None:
    """Replace ``path`` with ``data`` atomically (the directory must exist)."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = write_temp(directory, data, mode=mode, durable=durable, prefix=prefix)
    try:
        os.replace(tmp, path)
    except BaseException:
        unlink_quietly(tmp)
        raise
    if durable:
        fsync_dir(directory)


def unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
