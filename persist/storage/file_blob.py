"""FileBlob: the Blob role on a local directory, durable and safe across processes.

Directory layout (flat: one file per key)::

    <root>/.lock                 flock'ed around every conditional write, set and delete
    <root>/.tmp-<pid>-<hex>      a write in progress by process <pid> (never a key); one
                                 left by a process that died is removed by
                                 ``clean_stale_tmp`` (the writer's open and GC call it)
    <root>/<escaped key>         one entry per key

Key escaping: every byte of the key's UTF-8 form outside ``[A-Za-z0-9_.-]``
(including ``/`` and ``%``) becomes ``%XX`` (upper-case hex), and a leading
``.`` becomes ``%2E``; so ``"meta/v1"`` is stored as ``meta%2Fv1``. Escaped
names never start with ``.``, which keeps keys apart from ``.lock`` and
temp files; a key whose escaped name exceeds 255 bytes is refused.

Entry layout (all integers little-endian)::

    offset  size  field
    0       4     magic            b"PBLB"
    4       2     format version   u16, currently 1
    6       2     reserved         u16, must be 0
    8       16    version token    16 random bytes, fresh for every write
    24      8     value length     u64 (n)
    32      4     value crc32      u32, zlib.crc32 of the value
    36      4     header crc32     u32, zlib.crc32 of bytes 0..36
    40      n     value            the bytes given to set() / compare_and_set()

The version token (its 32 lower-case hex digits are what ``get_versioned``
returns) is random per write, so a token never comes back after the key was
rewritten with the same bytes or deleted and recreated: no ABA. Reading an
entry checks the frame and raises :class:`~persist.errors.CorruptionError`
naming the file and offset when it does not verify.

Every write is: temp file, fsync, ``os.replace``, fsync the directory; a
delete is ``unlink`` + fsync the directory. Opening fsyncs the directory
and its parent, so names a dead process renamed in without its directory
fsync are durable before anything is decided on them.

Durable reads: ``get_versioned`` returns only a version a power loss cannot
take back. Another process's ``os.replace`` is visible at once but durable
only after its directory fsync; a reader that answered from a value in that
window (a metadata record naming a seal) would have shown a state that a
power loss then undoes (the fault filesystem's power loss does undo such a
rename). So the first time this handle sees a version it did not itself
make durable, it fsyncs the directory before returning it (the rename it
saw happened before that fsync, which therefore covers it; the value's
bytes were fsynced before the rename). One directory fsync per new version
seen; none for a version seen before, or written by this handle. A failed
fsync fails the read (``StorageUnavailableError``: nothing returned).
``get`` makes no such promise: the engine reads through it only keys that a
durable record names (batches, written and made durable before the record).

I/O errors (every ``OSError``) surface as persist errors saying whether the
call may have had an effect: a failed read, listing, lock or temp-file
write is :class:`~persist.errors.StorageUnavailableError` (nothing changed);
a failed ``os.replace`` or the directory fsync after it is
:class:`~persist.errors.DurabilityUnknownError` (the new value may be
visible and is not known durable); a failed ``unlink`` is
:class:`~persist.errors.StorageIndeterminateError`. The ``os.replace``/``unlink`` step
(and, for conditional writes, the version check before it) happens under an
exclusive ``flock`` on ``.lock``, so conditional writes are linearizable
against every writer in any process on this machine. The value's bytes are
written and fsynced before the lock is taken, keeping the critical section
short.

Stale temp files: a process that dies between creating its temp file and
the rename leaves it behind. ``clean_stale_tmp`` removes the temp files
whose process is gone (``<pid>`` no longer exists); it never touches its own
process's (a thread may be writing one) nor those of a live process, so it
is safe while other processes write. A pid reused by an unrelated live
process only delays the cleanup. Temp names without a pid (older builds)
count as stale once they are ``LEGACY_TMP_AGE`` seconds old.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import struct
import threading
import time
import zlib
from contextlib import contextmanager

from persist.errors import (
    ClosedError,
    ConflictError,
    CorruptionError,
    DurabilityUnknownError,
    InvalidArgumentError,
    StorageIndeterminateError,
    StorageUnavailableError,
)
from persist.storage.fsutil import _unlink_quietly, ensure_dir, fsync_dir, write_tmp

MAGIC = b"PBLB"
VERSION = 1
HEADER = struct.Struct("<4sHH16sQI")
HEADER_SIZE = HEADER.size + 4  # 40
LOCK_NAME = ".lock"
TMP_PREFIX = ".tmp-"
#: Temp files named without a pid (older builds) are stale after this many seconds.
LEGACY_TMP_AGE = 3600.0
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def escape_key(key: str) -> str:
    """The file name of ``key`` (see the module docstring)."""
    if not isinstance(key, str) or not key:
        raise InvalidArgumentError(f"a blob key must be a non-empty string, got {key!r}")
    out = []
    for i, b in enumerate(key.encode("utf-8")):
        if b in _SAFE and not (i == 0 and b == 0x2E):
            out.append(chr(b))
        else:
            out.append(f"%{b:02X}")
    name = "".join(out)
    if len(name) > 255:
        raise InvalidArgumentError(f"blob key {key[:40]!r}... is too long: its file name would be {len(name)} bytes (max 255)")
    return name


def unescape_key(name: str) -> str:
    """Inverse of :func:`escape_key`."""
    out = bytearray()
    i = 0
    while i < len(name):
        if name[i] == "%":
            out.append(int(name[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(ord(name[i]))
            i += 1
    return out.decode("utf-8")


def encode_entry(token: bytes, value: bytes) -> bytes:
    head = HEADER.pack(MAGIC, VERSION, 0, token, len(value), zlib.crc32(value))
    return head + struct.pack("<I", zlib.crc32(head)) + value


def decode_entry(data: bytes, name: str) -> tuple[bytes, str]:
    """Check an entry's frame; return ``(value, token hex)``."""
    view = memoryview(data)
    return _decode_parts(view[:HEADER_SIZE], view[HEADER_SIZE:], name)


def _decode_parts(head, value, name: str) -> tuple[bytes, str]:
    """:func:`decode_entry` on an entry read as its header and its value
    (a ``bytes`` value is returned as is, without a copy)."""
    if len(head) < HEADER_SIZE:
        raise CorruptionError(
            f"blob file {name}: {len(head) + len(value)} bytes, shorter than the {HEADER_SIZE}-byte header"
        )
    magic, version, reserved, token, length, vcrc = HEADER.unpack_from(head, 0)
    if magic != MAGIC:
        raise CorruptionError(f"blob file {name}: bad magic {bytes(magic)!r} at offset 0 (expected {MAGIC!r}); not a FileBlob entry")
    (hcrc,) = struct.unpack_from("<I", head, HEADER.size)
    if zlib.crc32(head[: HEADER.size]) != hcrc:
        raise CorruptionError(f"blob file {name}: header checksum mismatch at offset {HEADER.size}")
    if version != VERSION or reserved != 0:
        raise CorruptionError(
            f"blob file {name}: entry format version {version} at offset 4 is not supported (this build reads {VERSION})"
        )
    if len(value) != length:
        raise CorruptionError(f"blob file {name}: value is {len(value)} bytes but the header at offset 24 says {length}")
    if zlib.crc32(value) != vcrc:
        raise CorruptionError(f"blob file {name}: value checksum mismatch (bytes {HEADER_SIZE}..{HEADER_SIZE + len(value)})")
    return (value if isinstance(value, bytes) else bytes(value)), token.hex()


def _tmp_is_stale(path: str, name: str) -> bool:
    pid_text, sep, _ = name[len(TMP_PREFIX) :].partition("-")
    if not sep or not pid_text.isdigit():  # an older build's name: judge by age
        try:
            return time.time() - os.stat(path).st_mtime > LEGACY_TMP_AGE
        except FileNotFoundError:
            return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


class FileBlob:
    """A Blob in one local directory (created if missing). Thread- and
    process-safe; see the module docstring for layout and guarantees."""

    def __init__(self, root_dir: str | os.PathLike) -> None:
        self.root = ensure_dir(os.fspath(root_dir), "blob directory")
        self._lock_path = os.path.join(self.root, LOCK_NAME)
        try:
            if not os.path.exists(self._lock_path):
                fd = os.open(self._lock_path, os.O_WRONLY | os.O_CREAT, 0o644)
                os.close(fd)
            fsync_dir(self.root)  # adopt what is here durably (see the module docstring)
            fsync_dir(os.path.dirname(self.root))
        except OSError as e:
            raise StorageUnavailableError(f"cannot open the blob directory {self.root}: {e}; check the disk") from e
        self._closed = False
        #: per key, the version token (None: absent) last known durable in this
        #: directory: made durable by this handle's write or by its fsync after a read
        self._durable: dict[str, str | None] = {}
        self._durable_lock = threading.Lock()

    def _check(self) -> None:
        if self._closed:
            raise ClosedError(f"the FileBlob {self.root} was closed")

    @contextmanager
    def _locked(self):
        try:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise StorageUnavailableError(f"cannot open the lock of {self.root}: {e}; nothing changed") from e
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as e:
                raise StorageUnavailableError(f"cannot lock {self.root}: {e}; nothing changed") from e
            yield
        finally:
            os.close(fd)

    def _read(self, key: str) -> tuple[bytes, str] | None:
        path = os.path.join(self.root, escape_key(key))
        try:
            with open(path, "rb") as f:
                head = f.read(HEADER_SIZE)  # read apart, so that the value needs no copy
                value = f.read()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StorageUnavailableError(f"reading blob {key!r} ({path}) failed: {e}; nothing changed") from e
        return _decode_parts(head, value, path)

    def _known_durable(self, key: str, token: str | None) -> None:
        with self._durable_lock:
            self._durable[key] = token

    def _durability_unknown(self, key: str) -> None:
        with self._durable_lock:
            self._durable.pop(key, None)

    def _install(self, tmp: str, name: str, key: str, token: str) -> None:
        """Rename the temp file over ``name`` and fsync the directory (lock held)."""
        self._durability_unknown(key)
        try:
            os.replace(tmp, os.path.join(self.root, name))
        except OSError as e:
            raise DurabilityUnknownError(
                f"renaming the new value of blob {key!r} into place failed: {e}; it may or may not be visible"
            ) from e
        try:
            fsync_dir(self.root)
        except OSError as e:
            raise DurabilityUnknownError(
                f"blob {key!r} was replaced but fsyncing {self.root} failed: {e}; the new value is visible and "
                f"may not survive a power loss"
            ) from e
        self._known_durable(key, token)

    def get(self, key: str) -> bytes | None:
        self._check()
        got = self._read(key)
        return None if got is None else got[0]

    def get_versioned(self, key: str) -> tuple[bytes, str] | None:
        """The value and version of ``key``, durable (see "Durable reads" in
        the module docstring): a version first seen here is made durable by
        an fsync of the directory before it is returned."""
        self._check()
        got = self._read(key)
        token = None if got is None else got[1]
        with self._durable_lock:
            known = key in self._durable and self._durable[key] == token
        if not known:
            try:
                fsync_dir(self.root)
            except OSError as e:
                raise StorageUnavailableError(
                    f"blob {key!r} was read but fsyncing {self.root} to make the version read durable failed: {e}; "
                    f"nothing was returned (the value may not survive a power loss), check the disk"
                ) from e
            self._known_durable(key, token)
        return got

    def _prepare(self, key: str, value: bytes) -> tuple[str, str, str]:
        name = escape_key(key)
        token = secrets.token_bytes(16)
        tmp = os.path.join(self.root, f"{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(8)}")
        try:
            write_tmp(tmp, encode_entry(token, bytes(value)))
        except OSError as e:
            raise StorageUnavailableError(
                f"writing the new value of blob {key!r} failed: {e}; nothing changed, free space or fix the disk"
            ) from e
        return name, tmp, token.hex()

    def set(self, key: str, value: bytes) -> None:
        self.put(key, value)

    def put(self, key: str, value: bytes) -> str:
        """``set`` that also returns the new version token."""
        self._check()
        name, tmp, token = self._prepare(key, value)
        try:
            with self._locked():
                self._install(tmp, name, key, token)
        finally:
            _unlink_quietly(tmp)
        return token

    def compare_and_set(self, key: str, expected: str | None, value: bytes) -> str:
        self._check()
        name, tmp, token = self._prepare(key, value)
        try:
            with self._locked():
                current = self._read(key)
                found = None if current is None else current[1]
                if found != expected:
                    raise ConflictError(
                        f"compare_and_set on blob {key!r} expected version {expected!r}, found {found!r}; "
                        "re-read the key and retry"
                    )
                self._install(tmp, name, key, token)
        finally:
            _unlink_quietly(tmp)
        return token

    def delete(self, key: str) -> None:
        self._check()
        path = os.path.join(self.root, escape_key(key))
        with self._locked():
            try:
                os.unlink(path)
            except FileNotFoundError:
                return
            except OSError as e:
                self._durability_unknown(key)
                raise StorageIndeterminateError(f"deleting blob {key!r} failed: {e}; it may or may not be gone") from e
            self._durability_unknown(key)
            try:
                fsync_dir(self.root)
            except OSError as e:
                raise DurabilityUnknownError(
                    f"blob {key!r} was deleted but fsyncing {self.root} failed: {e}; a power loss may bring it back"
                ) from e
            self._known_durable(key, None)

    def clean_stale_tmp(self) -> list[str]:
        """Remove temp files left by processes that died mid-write; return
        their names (see the module docstring for what counts as stale)."""
        self._check()
        removed = []
        try:
            for name in os.listdir(self.root):
                if name.startswith(TMP_PREFIX) and _tmp_is_stale(os.path.join(self.root, name), name):
                    try:
                        os.unlink(os.path.join(self.root, name))
                    except FileNotFoundError:
                        continue
                    removed.append(name)
            if removed:
                fsync_dir(self.root)
        except OSError as e:
            raise StorageIndeterminateError(f"removing stale temp files of {self.root} failed: {e}") from e
        return removed

    def list_keys(self, prefix: str = "") -> list[str]:
        self._check()
        try:
            names = os.listdir(self.root)
        except OSError as e:
            raise StorageUnavailableError(f"listing {self.root} failed: {e}; nothing changed") from e
        keys = [unescape_key(n) for n in names if not n.startswith(".")]
        return sorted(k for k in keys if k.startswith(prefix))

    def close(self) -> None:
        self._closed = True

    def __repr__(self) -> str:
        return f"FileBlob({self.root!r})"
