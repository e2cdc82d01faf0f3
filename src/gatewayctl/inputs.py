"""Bounded reads of the files and streams gatewayctl is handed: the one
place that decides what "too big" and "not a file" mean.

A config or a plan is a small regular file. Anything else given in its
place (``/dev/zero``, a FIFO nobody writes to, a terminal, a 50 MB file)
would make a naive ``read()`` grow until the kernel kills us or block
forever; here it is refused before a byte is read, or after at most
``limit + 1`` bytes. The limits below are documented in docs/cli.md
("Input limits") and read by the loader (source/), the plan file reader
(compile/planfile.py), the staleness check and the CLI's stdin reads: one
source for each limit.

Standard library only, and imports nothing from gatewayctl, so every layer
(source, compile, runtime, cli) may use it.
"""

from __future__ import annotations

import errno
import os
import stat

# A config is a few kilobytes; a megabyte is hundreds of accounts.
MAX_CONFIG_BYTES = 1024 * 1024
# A plan copies at most one account per family (six lanes) from its config,
# so it cannot outgrow a few configs; the margin keeps hand-made big plans
# readable while /dev/zero or a runaway file is refused.
MAX_PLAN_BYTES = 8 * 1024 * 1024

# Nesting: a config value may sit at most MAX_CONFIG_DEPTH containers deep
# (the root table counts as one); a plan at most MAX_PLAN_DEPTH. A lane's
# settings sit three levels deeper in a plan than a family's fields in the
# config (envelope > plan > lanes > lane > settings), so every config that
# loads compiles to a plan that loads: MAX_CONFIG_DEPTH + 3 <= MAX_PLAN_DEPTH.
MAX_CONFIG_DEPTH = 24
MAX_PLAN_DEPTH = 32

_KIND_NAMES = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class InputError(Exception):
    """A file or stream that cannot be used as input. ``kind`` is one of
    ``missing``, ``directory``, ``permission``, ``not_regular``,
    ``too_large``, ``os``; ``reason`` is the human half of a message
    (``"no such file"``, ``"it is a FIFO (named pipe), not a regular file"``)."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def describe_mode(mode: int) -> str:
    for test, name in _KIND_NAMES:
        if test(mode):
            return name
    return "not a regular file"


def size_text(n: int) -> str:
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MiB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} bytes"


def too_large(limit: int) -> InputError:
    return InputError("too_large", f"it is larger than the {size_text(limit)} limit")


def read_regular_file(path: str, limit: int) -> bytes:
    """The bytes of ``path``, which must be a regular file of at most
    ``limit`` bytes. Never blocks on a FIFO (it is opened non-blocking and
    refused), never reads more than ``limit + 1`` bytes. Symlinks to a
    regular file are followed (a config may be a link). Raises InputError."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise InputError("missing", "no such file") from None
    except IsADirectoryError:
        raise InputError("directory", "it is a directory") from None
    except PermissionError:
        raise InputError("permission", "permission denied") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        if isinstance(exc, OSError) and exc.errno == errno.ENXIO:
            # A FIFO without a writer on some systems, a socket: not a file.
            raise InputError("not_regular", "it is not a regular file") from None
        raise InputError("os", getattr(exc, "strerror", None) or str(exc)) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise InputError("directory", "it is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise InputError("not_regular", f"it is {describe_mode(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise too_large(limit)
        return _read_at_most(fd, limit)
    except OSError as exc:
        raise InputError("os", exc.strerror or str(exc)) from None
    finally:
        os.close(fd)


def read_stream(stream, limit: int) -> bytes:
    """Read a binary stream (stdin) to its end, but never more than
    ``limit + 1`` bytes: the caller sees more than ``limit`` and refuses it,
    and the producer (``/dev/zero``) gets EPIPE instead of our memory."""
    chunks: list[bytes] = []
    total = 0
    while total <= limit:
        chunk = stream.read(min(65536, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = os.read(fd, min(1 << 20, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            # The file grew after fstat: the same refusal as a big file.
            raise too_large(limit)
    return b"".join(chunks)
