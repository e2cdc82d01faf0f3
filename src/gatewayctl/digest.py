"""SHA-256 hex digests without importing hashlib.

hashlib loads OpenSSL's libcrypto (about 3 ms of a cold `gatewayctl
check`, a tenth of what the whole command may cost) to offer every
algorithm; a loaded document and the schema match need only SHA-256, which
CPython also builds in as ``_sha256`` (``_sha2`` from 3.12). The digest is
the same either way; hashlib is the fallback where neither is built.

Imports nothing at module level; any gatewayctl package may import it.
"""

from __future__ import annotations

__all__ = ["sha256_hex"]


def _constructor():
    try:
        from _sha256 import sha256  # CPython 3.11
    except ImportError:
        try:
            from _sha2 import sha256  # CPython 3.12+
        except ImportError:
            from hashlib import sha256
    return sha256


_sha256 = _constructor()


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data`` as 64 lowercase hex digits (hashlib.sha256(data).hexdigest())."""
    return _sha256(data).hexdigest()
