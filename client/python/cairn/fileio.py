"""fileio: cairn files as standard io objects.

RawFile is an io.RawIOBase over one libcairn file handle (cairn_file_t);
open_file() stacks io.BufferedReader / BufferedWriter / BufferedRandom and
io.TextIOWrapper on it exactly as the built-in open() does over FileIO, so
a cairn file behaves as a local one: read, readinto, readline, iteration,
seek/tell, write, flush, close, with-blocks.

Copies: readinto() hands the caller's buffer to cairn_read() (the library
copies the bytes once, into it); read() of the rest of a file reads into
the bytes object it returns. BufferedReader passes reads of at least its
buffer size (DEFAULT_BUFFER_SIZE, 1 MiB) straight to readinto() on the
caller's buffer. Writes pass the caller's memory to cairn_write().

Semantics are libcairn's: close-to-open consistency (close() returns once
every replica acknowledged the data and the size is committed), one
writer per file (another open for writing fails with cairn.Error ELEASE),
no truncate() but at open ("w"). flush() hands buffered bytes to libcairn,
which sends them on at once; fsync() on the raw file waits until they are
durable on every replica.

Threads: each call holds the file's lock, so a RawFile may be shared, but
its position is one; threads reading in parallel should open their own
files (or use pread()). A file opened before os.fork() is closed in the
child without a call into the library (its handle belongs to the parent).
"""
import io
import os
import threading

from . import _buffers
from ._lib import (O_APPEND, O_CREAT, O_EXCL, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY, lib)

DEFAULT_BUFFER_SIZE = 1 << 20


class RawFile(io.RawIOBase):
    """An open cairn file, unbuffered. Made by FileSystem.open(path, mode, buffering=0)."""

    def __init__(self, fs, path, handle, flags, mode):
        super().__init__()
        self._fs = fs  # keeps the client handle alive while the file is open
        self._h = handle
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self.name = path
        self.mode = mode
        acc = flags & 3
        self._readable = acc in (O_RDONLY, O_RDWR)
        self._writable = acc in (O_WRONLY, O_RDWR)

    def __repr__(self):
        return "<cairn.RawFile name=%r mode=%r closed=%s>" % (self.name, self.mode, self.closed)

    def _handle(self):
        if self._h is None:
            raise ValueError("I/O operation on closed file")
        if self._pid != os.getpid():
            raise ValueError("cairn file %s was opened in another process (before fork)" %
                             self.name)
        return self._h

    def _fail(self, code):
        return self._fs._error(code, self.name)

    def readable(self):
        self._handle()
        return self._readable

    def writable(self):
        self._handle()
        return self._writable

    def seekable(self):
        self._handle()
        return True

    def readinto(self, b):
        with self._lock, _buffers.pinned(b, True) as (addr, n):
            h = self._handle()
            if not self._readable:
                raise io.UnsupportedOperation("File not open for reading")
            if n == 0:
                return 0
            got = lib.cairn_read(h, addr, n)
        if got < 0:
            raise self._fail(got)
        return got

    def pread(self, n, offset):
        """Up to n bytes at offset (short only at the end); the position is unchanged."""
        buf = bytearray(n)
        got = self.preadinto(buf, offset)
        del buf[got:]
        return bytes(buf)

    def preadinto(self, b, offset):
        """Reads into b at offset without moving the position; returns the count."""
        with self._lock, _buffers.pinned(b, True) as (addr, n):
            h = self._handle()
            got = lib.cairn_pread(h, addr, n, offset) if n else 0
        if got < 0:
            raise self._fail(got)
        return got

    def readall(self):
        with self._lock:
            h = self._handle()
            pos = lib.cairn_seek(h, 0, os.SEEK_CUR)
            end = lib.cairn_seek(h, 0, os.SEEK_END)
            lib.cairn_seek(h, pos, os.SEEK_SET)
            want = end - pos
        if want < 2:
            return super().readall()
        data, addr = _buffers.new_bytes(want)
        with self._lock:
            got = 0
            while got < want:
                n = lib.cairn_read(self._handle(), addr + got, want - got)
                if n < 0:
                    raise self._fail(n)
                if n == 0:
                    break
                got += n
        if got < want:
            return data[:got]
        rest = super().readall()  # a writer's own later writes, if any
        return data + rest if rest else data

    def write(self, b):
        with self._lock, _buffers.pinned(b, False) as (addr, n):
            h = self._handle()
            if not self._writable:
                raise io.UnsupportedOperation("File not open for writing")
            if n == 0:
                return 0
            put = lib.cairn_write(h, addr, n)
        if put < 0:
            raise self._fail(put)
        return put

    def seek(self, offset, whence=os.SEEK_SET):
        with self._lock:
            pos = lib.cairn_seek(self._handle(), offset, whence)
        if pos < 0:
            raise self._fail(pos)
        return pos

    def tell(self):
        return self.seek(0, os.SEEK_CUR)

    def truncate(self, size=None):
        raise io.UnsupportedOperation("cairn files are truncated only by opening with 'w'")

    def fsync(self):
        """Waits until every byte written so far is durable on every replica."""
        with self._lock:
            rc = lib.cairn_fsync(self._handle())
        if rc < 0:
            raise self._fail(rc)

    def close(self):
        """Writes out what is buffered, waits for every replica, releases the lease."""
        if self.closed:
            return
        with self._lock:
            h, self._h = self._h, None
            try:
                super().close()
            finally:
                rc = lib.cairn_close(h) if h is not None and self._pid == os.getpid() else 0
        if rc < 0:
            raise self._fail(rc)


MODES = {
    # mode letter (with '+'): (flags, seek to the end at open)
    "r": (O_RDONLY, False),
    "r+": (O_RDWR, False),
    "w": (O_WRONLY | O_CREAT | O_TRUNC, False),
    "w+": (O_RDWR | O_CREAT | O_TRUNC, False),
    "a": (O_WRONLY | O_CREAT | O_APPEND, True),
    "a+": (O_RDWR | O_CREAT | O_APPEND, True),
    "x": (O_WRONLY | O_CREAT | O_EXCL, False),
    "x+": (O_RDWR | O_CREAT | O_EXCL, False),
}


def parse_mode(mode):
    """(libcairn flags, seek to end, binary, canonical binary mode) for an open() mode."""
    if not isinstance(mode, str) or len(set(mode)) != len(mode) or set(mode) - set("rwaxbt+"):
        raise ValueError("invalid mode: %r" % (mode,))
    kind = [c for c in mode if c in "rwax"]
    if len(kind) != 1 or ("b" in mode and "t" in mode):
        raise ValueError("invalid mode: %r" % (mode,))
    key = kind[0] + ("+" if "+" in mode else "")
    flags, to_end = MODES[key]
    return flags, to_end, "b" in mode, key + "b" if "+" not in key else key[0] + "+b"


def wrap(raw, binary, buffering, encoding, errors, newline, mode):
    """Stacks the io layers of open() on raw; returns the object to hand out."""
    if buffering == 1 and binary:
        buffering = -1  # as open(): line buffering is for text only
    line_buffering = buffering == 1 and not binary
    if buffering == 0:
        if not binary:
            raise ValueError("can't have unbuffered text I/O")
        return raw
    size = buffering if buffering > 1 else DEFAULT_BUFFER_SIZE
    if raw.readable() and raw.writable():
        buf = io.BufferedRandom(raw, size)
    elif raw.writable():
        buf = io.BufferedWriter(raw, size)
    else:
        buf = io.BufferedReader(raw, size)
    if binary:
        return buf
    text = io.TextIOWrapper(buf, encoding or "utf-8", errors, newline, line_buffering)
    text.mode = mode
    return text
