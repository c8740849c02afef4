"""client: FileSystem, one libcairn client handle (cairn_t) and the calls on it.

A FileSystem is thread-safe, as the handle is: threads share one and their
calls run at once (each releases the GIL inside libcairn). Every call is
bounded by the handle's timeout; failures raise the exceptions of
cairn.errors. Paths are absolute cairn paths, str (UTF-8) or bytes.

connect() does not contact the metaserver; the first call does (ping()
checks early). After os.fork() the child makes its own handle on its
first call (the parent's belongs to the parent's threads); files opened
before the fork cannot be used in the child.
"""
import ctypes
import errno
import os
import posixpath
import tempfile
import threading
import time
import weakref

from . import _lib

from . import errors, fileio
from ._lib import (CAIRN_DIR, O_CREAT, O_EXCL, ChunkLoc, Dirent, Fsck, Node, OpenOptions, Options, Rebalance,
                   Stat, lib, last_error, strerror)

COPY_BUFFER = 4 << 20


def connect(addr=None, timeout=None, replication=None):
    """A FileSystem for the metaserver at addr ("HOST:PORT", or a comma-separated list).

    addr None: libcairn's default ($CAIRN_META, else 127.0.0.1:20000).
    timeout (seconds) bounds every call, retries included (None:
    libcairn's default, 60 s). replication is given to files this handle
    creates (None: the metaserver's default).
    """
    return FileSystem(addr, timeout, replication)


def copy(src, dst):
    """Copies src (with readinto) to dst (with write) through one buffer; returns the count."""
    buf = bytearray(COPY_BUFFER)
    total = 0
    with memoryview(buf) as view:
        while True:
            n = src.readinto(buf)
            if not n:
                return total
            part = view[:n]
            while part:
                part = part[dst.write(part):]
            total += n


def text(path):
    """path (str, bytes or os.PathLike) as a str."""
    path = os.fspath(path)
    return path.decode("utf-8", "surrogateescape") if isinstance(path, bytes) else path


def encode(path):
    """path as the bytes libcairn takes. A NUL byte would end the C string
    there (and name another file), so it is refused, as os.mkdir() does."""
    raw = text(path).encode("utf-8", "surrogateescape")
    if b"\0" in raw:
        raise ValueError("embedded null byte in path %r" % (text(path),))
    return raw


def decode(raw):
    return raw.decode("utf-8", "surrogateescape")


def info(path, st):
    """The dict describing one file or directory (as ls(detail=True) and stat() give)."""
    is_dir = st.type == CAIRN_DIR
    return {
        "name": path,
        "type": "directory" if is_dir else "link" if st.type == _lib.CAIRN_SYMLINK else "file",
        "size": 0 if is_dir else st.size,
        "replication": st.replication,
        "chunks": st.nchunks,
        "entries": st.nentries,
        "mode": st.mode,
        "uid": st.uid,
        "gid": st.gid,
        "atime": st.atime_us / 1e6,
        "mtime": st.mtime_us / 1e6,
        "ctime": st.ctime_us / 1e6,
        "id": st.id,
    }


class FileSystem:
    """A connection to one cairn cluster (see connect())."""

    def __init__(self, addr=None, timeout=None, replication=None):
        self.addr = addr  # None until the first handle says which (libcairn's default)
        self.timeout = None if timeout is None else float(timeout)
        self.replication = replication
        self._lock = threading.Lock()
        self._files = weakref.WeakSet()
        self._h = None
        self._pid = None
        self._closed = False
        self._handle()  # a malformed address fails here

    def __repr__(self):
        return "<cairn.FileSystem %s>" % self.addr

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_h", None) is not None and self._pid == os.getpid():
            lib.cairn_disconnect(self._h)
            self._h = None

    def _handle(self):
        h = self._h
        if h is not None and self._pid == os.getpid():
            return h
        with self._lock:
            if self._closed:
                raise ValueError("cairn.FileSystem %s is closed" % self.addr)
            if self._h is None or self._pid != os.getpid():
                opt = Options()
                opt.timeout_ms = 0 if self.timeout is None else max(1, int(self.timeout * 1000))
                opt.replication = self.replication or 0
                out = ctypes.c_void_p()
                addr = None if self.addr is None else self.addr.encode()
                rc = lib.cairn_connect(addr, ctypes.byref(opt), ctypes.byref(out))
                if rc < 0:
                    raise errors.exception(rc, strerror(rc), "", self.addr)
                self._h, self._pid = out.value, os.getpid()
                self.addr = lib.cairn_meta_addr(self._h).decode()
                self.timeout = lib.cairn_timeout_ms(self._h) / 1000.0
                self._files = weakref.WeakSet()
            return self._h

    def close(self):
        """Closes (flushing them) the files still open on this handle, then the handle."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        first = None
        for f in list(self._files):
            try:
                f.close()
            except OSError as e:
                first = first or e
        h, self._h = self._h, None
        if h is not None and self._pid == os.getpid():
            lib.cairn_disconnect(h)
        if first:
            raise first

    def _error(self, code, path=None, path2=None):
        """The exception for code, with this thread's last error text on the handle."""
        cause = last_error(self._h) if self._h is not None else ""
        shown = [None if p is None else text(p) for p in (path, path2)]
        return errors.exception(code, strerror(code), cause, *shown)

    def _check(self, rc, path=None, path2=None):
        if rc < 0:
            raise self._error(rc, path, path2)
        return rc

    # ---- namespace ----

    def ping(self):
        """One round trip to the metaserver."""
        self._check(lib.cairn_ping(self._handle()))

    def stat(self, path):
        """A dict describing path: name, type ("file"/"directory"), size, replication, ..."""
        st = Stat()
        self._check(lib.cairn_stat(self._handle(), encode(path), ctypes.byref(st)), path)
        return info(text(path), st)

    info = stat

    def exists(self, path):
        try:
            self.stat(path)
            return True
        except (FileNotFoundError, NotADirectoryError):
            return False

    def isdir(self, path):
        try:
            return self.stat(path)["type"] == "directory"
        except (FileNotFoundError, NotADirectoryError):
            return False

    def isfile(self, path):
        try:
            return self.stat(path)["type"] == "file"
        except (FileNotFoundError, NotADirectoryError):
            return False

    def _listdir(self, path):
        """[(name, Stat)] of directory path, in name order."""
        h = self._handle()
        d = ctypes.c_void_p()
        self._check(lib.cairn_opendir(h, encode(path), ctypes.byref(d)), path)
        out = []
        try:
            ent = Dirent()
            while True:
                rc = lib.cairn_readdir_next(d, ctypes.byref(ent))
                if rc == 0:
                    return out
                self._check(rc, path)
                st = Stat()
                ctypes.pointer(st)[0] = ent.st
                out.append((decode(ent.name), st))
        finally:
            lib.cairn_closedir(d)

    def ls(self, path, detail=False):
        """The entries of directory path as full paths (detail: dicts, as stat()).

        A file lists as itself.
        """
        path = text(path)
        try:
            entries = self._listdir(path)
        except NotADirectoryError:
            if not self.isfile(path):
                raise
            return [self.stat(path) if detail else path]
        base = path.rstrip("/")
        full = [(base + "/" + name, st) for name, st in entries]
        return [info(p, st) for p, st in full] if detail else [p for p, _ in full]

    def walk(self, top):
        """Yields (dirpath, dirnames, filenames) for top and every directory under it,
        top-down, as os.walk()."""
        stack = [text(top).rstrip("/") or "/"]
        while stack:
            d = stack.pop()
            try:
                entries = self._listdir(d)
            except (FileNotFoundError, NotADirectoryError):
                continue  # not a directory, or removed meanwhile (as os.walk)
            dirs = [n for n, st in entries if st.type == CAIRN_DIR]
            files = [n for n, st in entries if st.type != CAIRN_DIR]
            yield d, dirs, files
            base = d.rstrip("/")
            stack.extend(base + "/" + n for n in reversed(dirs))

    def mkdir(self, path, parents=False, exist_ok=False, mode=0o755):
        """Makes directory path (parents: and missing ancestors), as pathlib.Path.mkdir."""
        h = self._handle()
        rc = lib.cairn_mkdir(h, encode(path), mode)
        if rc == -errno.ENOENT and parents:
            parent = posixpath.dirname(text(path).rstrip("/"))
            self._check(lib.cairn_mkdirs(h, encode(parent), mode), parent)
            rc = lib.cairn_mkdir(h, encode(path), mode)
        if rc == -errno.EEXIST and exist_ok and self.isdir(path):
            return
        self._check(rc, path)

    def rm(self, path, recursive=False):
        """Removes a file or an empty directory (recursive: any directory)."""
        self._check(lib.cairn_remove(self._handle(), encode(path), int(bool(recursive))), path)

    def mv(self, src, dst):
        """Renames src to dst atomically; an existing file at dst is replaced."""
        self._check(lib.cairn_rename(self._handle(), encode(src), encode(dst)), src, dst)

    def setrep(self, path, replication):
        """Sets a file's target replication (1..16)."""
        self._check(lib.cairn_set_replication(self._handle(), encode(path), replication), path)

    def chmod(self, path, mode):
        self._check(lib.cairn_chmod(self._handle(), encode(path), mode & 0o7777), path)

    def symlink(self, target, path):
        """Makes a symbolic link at path holding target (never followed by cairn itself)."""
        self._check(lib.cairn_symlink(self._handle(), encode(target), encode(path)), path)

    def readlink(self, path):
        """The target of the symbolic link at path (OSError EINVAL when it is not one)."""
        buf = ctypes.create_string_buffer(4097)
        n = lib.cairn_readlink(self._handle(), encode(path), buf, len(buf))
        self._check(n if n < 0 else 0, path)
        return decode(buf.raw[:n])

    def setxattr(self, path, name, value, flags=0):
        """Sets extended attribute name ("user.*") of path to value (bytes); flags as
        os.setxattr (os.XATTR_CREATE, os.XATTR_REPLACE)."""
        value = bytes(value)
        self._check(lib.cairn_setxattr(self._handle(), encode(path), encode(name), value,
                                       len(value), flags), path)

    def getxattr(self, path, name):
        """The value (bytes) of extended attribute name of path (OSError ENODATA if unset)."""
        h = self._handle()
        for _ in range(3):
            n = lib.cairn_getxattr(h, encode(path), encode(name), None, 0)
            self._check(n if n < 0 else 0, path)
            buf = ctypes.create_string_buffer(max(n, 1))
            got = lib.cairn_getxattr(h, encode(path), encode(name), buf, len(buf))
            if got != -errno.ERANGE:
                self._check(got if got < 0 else 0, path)
                return buf.raw[:got]
        raise OSError(errno.ERANGE, os.strerror(errno.ERANGE), path)

    def listxattr(self, path):
        """The names of path's extended attributes."""
        h = self._handle()
        for _ in range(3):
            n = lib.cairn_listxattr(h, encode(path), None, 0)
            self._check(n if n < 0 else 0, path)
            buf = ctypes.create_string_buffer(max(n, 1))
            got = lib.cairn_listxattr(h, encode(path), buf, len(buf))
            if got != -errno.ERANGE:
                self._check(got if got < 0 else 0, path)
                return [decode(x) for x in buf.raw[:got].split(b"\0") if x]
        raise OSError(errno.ERANGE, os.strerror(errno.ERANGE), path)

    def removexattr(self, path, name):
        self._check(lib.cairn_removexattr(self._handle(), encode(path), encode(name)), path)

    def touch(self, path, mtime=None):
        """Makes an empty file if path is missing, else sets its times (now, or mtime)."""
        h = self._handle()
        self._check(lib.cairn_create(h, encode(path), 0, self.replication or 0, 0), path)
        us = int((time.time() if mtime is None else mtime) * 1e6)
        self._check(lib.cairn_utimes(h, encode(path), us, us), path)

    def locations(self, path, offset=0, length=0):
        """Where the chunks of path overlapping [offset, offset + length) live (length 0:
        to the end): a list of dicts index, offset, length, chunk, version, replicas
        (["HOST:PORT", ...], best first)."""
        h = self._handle()
        arr = ctypes.POINTER(ChunkLoc)()
        n = ctypes.c_size_t()
        self._check(lib.cairn_chunk_locations(h, encode(path), offset, length, ctypes.byref(arr),
                                              ctypes.byref(n)), path)
        try:
            out = []
            for i in range(n.value):
                c = arr[i]
                out.append({"index": c.index, "offset": c.offset, "length": c.length,
                            "chunk": c.chunk_id, "version": c.version,
                            "replicas": [decode(c.replicas[j]) for j in range(c.nreplicas)]})
            return out
        finally:
            lib.cairn_chunk_locations_free(arr, n.value)

    # ---- admin: the same reports as `cairn admin ... --json` ----

    def nodes(self):
        """The chunkservers the metaserver knows: a list of dicts addr, rack, state ("up",
        "dead", "decommissioning", "decommissioned"), used, capacity, chunks,
        last_heard_ms, load."""
        arr = ctypes.POINTER(Node)()
        n = ctypes.c_size_t()
        self._check(lib.cairn_admin_nodes(self._handle(), ctypes.byref(arr), ctypes.byref(n)))
        try:
            return [{"addr": decode(x.addr), "rack": decode(x.rack),
                     "state": decode(lib.cairn_node_state_name(x.state)), "used": x.used,
                     "capacity": x.capacity, "chunks": x.chunks,
                     "last_heard_ms": x.last_heard_ms, "load": x.load}
                    for x in (arr[i] for i in range(n.value))]
        finally:
            lib.cairn_admin_nodes_free(arr, n.value)

    def fsck(self, path="/"):
        """Checks every chunk under path: a dict status ("HEALTHY", "DEGRADED",
        "CORRUPT"), files, chunks, under_replicated, missing, corrupt, stale, held, problems
        (a list of dicts path, chunk, index, kind; held ones also node, version, why) and
        more (problems left out)."""
        rep = ctypes.POINTER(Fsck)()
        self._check(lib.cairn_admin_fsck(self._handle(), encode(path), ctypes.byref(rep)), path)
        try:
            r = rep.contents
            out = {k: getattr(r, k) for k in ("files", "chunks", "under_replicated", "missing",
                                               "corrupt", "stale", "held")}
            out["status"] = decode(lib.cairn_fsck_status_name(r.status))
            out["problems"] = [self._problem(r.problems[i]) for i in range(r.nproblems)]
            out["more"] = bool(r.more)
            return out
        finally:
            lib.cairn_admin_fsck_free(rep)

    @staticmethod
    def _problem(p):
        out = {"path": decode(p.path), "chunk": p.chunk_id, "index": p.index,
               "kind": decode(lib.cairn_fsck_kind_name(p.kind))}
        if out["kind"] == "held":
            out.update(node=decode(p.node), version=p.version, why=decode(p.why))
        return out

    def release_held(self):
        """Deletes every held replica now (`cairn admin release-held`): chunks unknown to
        the namespace and versions it never granted. Returns how many."""
        n = ctypes.c_uint64()
        self._check(lib.cairn_admin_release_held(self._handle(), ctypes.byref(n)))
        return n.value

    def rebalance(self, threshold=0, query=False):
        """Asks for a rebalance to within threshold percentage points of the mean
        utilisation (0: the metaserver's --rebalance-threshold), or with query only
        reports. A dict threshold, mean, spread (points), chunks_moved, bytes_moved (since
        the metaserver started), moves_in_flight, balanced, blocked, nodes, scan and
        first_scan: balanced and blocked speak for this request once a later reply's scan
        reaches the first_scan of the reply to it."""
        r = Rebalance()
        self._check(lib.cairn_admin_rebalance(self._handle(), threshold, int(bool(query)),
                                              ctypes.byref(r)))
        out = {k: getattr(r, k) for k in ("threshold", "mean", "spread", "chunks_moved",
                                           "bytes_moved", "moves_in_flight", "nodes", "scan",
                                           "first_scan")}
        out.update(balanced=bool(r.balanced), blocked=bool(r.blocked))
        return out

    def decommission(self, addr, cancel=False):
        """Drains the chunkserver at addr ("HOST:PORT"); cancel takes it back into
        service. Progress shows in nodes(). An unknown addr raises FileNotFoundError."""
        self._check(lib.cairn_admin_decommission(self._handle(), encode(addr), int(bool(cancel))),
                    addr)

    # ---- data ----

    def open(self, path, mode="rb", buffering=-1, encoding=None, errors=None, newline=None,
             replication=None, permissions=0o644, chunk_size=None):
        """Opens path as the built-in open() opens a local file.

        mode: "rb" (the default, as in fsspec), "wb", "ab", "xb", with "+"
        (read and write), or the same without "b" for text (encoding default
        UTF-8). buffering 0 gives the RawFile itself (binary only), else the
        buffer size (default DEFAULT_BUFFER_SIZE). For modes that create (w,
        a, x): replication is the file's target replication, set before it is
        opened; permissions are a new file's mode bits; chunk_size (bytes, a
        power of two from 1 MiB to 256 MiB) is the chunk size of a file this
        open makes, fixed for its life (None: the metaserver's default; an
        existing file keeps its own; another value raises ValueError).
        """
        flags, to_end, binary, bmode = fileio.parse_mode(mode)
        path = text(path)
        opts = None
        if chunk_size is not None:
            cs = int(chunk_size)
            if cs < 1 << 20 or cs > 256 << 20 or cs & (cs - 1):
                raise ValueError("chunk_size %r: a power of two from 1 MiB to 256 MiB" % (chunk_size,))
            opts = OpenOptions(chunk_size=cs, replication=replication or 0)
        h = self._handle()
        if replication and flags & O_CREAT and opts is None:
            excl = flags & O_EXCL
            self._check(lib.cairn_create(h, encode(path), permissions, replication,
                                         int(bool(excl))), path)
            flags &= ~O_EXCL
            if not excl:
                self.setrep(path, replication)
        out = ctypes.c_void_p()
        if opts is None:
            self._check(lib.cairn_open(h, encode(path), flags, permissions, ctypes.byref(out)),
                        path)
        else:
            self._check(lib.cairn_open_opts(h, encode(path), flags, permissions,
                                            ctypes.byref(opts), ctypes.byref(out)), path)
        raw = fileio.RawFile(self, path, out.value, flags, bmode)
        try:
            if opts is not None and replication and flags & O_CREAT and not flags & O_EXCL:
                self.setrep(path, replication)  # an existing file's, as above
            if to_end:
                raw.seek(0, os.SEEK_END)
            f = fileio.wrap(raw, binary, buffering, encoding, errors, newline, mode)
        except BaseException:
            raw.close()
            raise
        self._files.add(f)
        return f

    def cat(self, path):
        """The whole file as bytes."""
        with self.open(path, "rb", buffering=0) as f:
            return f.readall()

    def write_bytes(self, path, data):
        """Writes data as the whole content of path (made if missing)."""
        with self.open(path, "wb", buffering=0) as f:
            view = memoryview(data)
            while view:
                view = view[f.write(view):]

    def put(self, local, remote, replication=None):
        """Copies the local file to remote (into it, under the local name, when remote is a
        directory). A failed copy removes the file if put made it."""
        local = os.fspath(local)
        remote = text(remote)
        if self.isdir(remote):
            remote = remote.rstrip("/") + "/" + os.path.basename(local)
        made = not self.exists(remote)
        try:
            with open(local, "rb", buffering=0) as src, \
                    self.open(remote, "wb", buffering=0, replication=replication,
                              permissions=os.fstat(src.fileno()).st_mode & 0o777) as dst:
                copy(src, dst)
        except BaseException:
            if made:
                try:
                    self.rm(remote)
                except OSError:
                    pass
            raise
        return remote

    def get(self, remote, local):
        """Copies remote to the local file (into it, under the remote name, when local is a
        directory). The bytes go to a temporary file renamed over local at the end."""
        remote = text(remote)
        local = os.fspath(local)
        if os.path.isdir(local):
            local = os.path.join(local, posixpath.basename(remote.rstrip("/")))
        mode = self.stat(remote)["mode"] & 0o777
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(local) + ".cairn-get.",
                                   dir=os.path.dirname(local) or ".")
        try:
            with open(fd, "wb") as dst, self.open(remote, "rb", buffering=0) as src:
                copy(src, dst)
                os.fchmod(dst.fileno(), mode)
            os.replace(tmp, local)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return local

