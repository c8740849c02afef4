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
import fnmatch
import os
import posixpath
import tempfile
import threading
import time
import weakref

from . import _lib

from . import errors, fileio
from ._lib import (CAIRN_DIR, O_CREAT, O_EXCL, RENAME_NOREPLACE, ChunkLoc, Dirent, Fsck, Node,
                   OpenOptions, Options, Rebalance, Stat, lib, last_error, strerror)

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
        "chunk_size": st.chunk_size,
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
        self.cwd = "/"
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

    def _abs(self, path):
        """path (str, bytes or os.PathLike) as an absolute str: a relative one is taken from
        the working directory (chdir())."""
        path = text(path)
        if path.startswith("/"):
            return path
        return posixpath.normpath(posixpath.join(self.cwd, path)) if path else self.cwd

    def _bytes(self, path):
        """path made absolute, as the bytes libcairn takes."""
        return encode(self._abs(path))

    def chdir(self, path):
        """Makes path (a directory) the working directory relative paths start from."""
        path = self._abs(path)
        if not self.isdir(path):
            raise (NotADirectoryError if self.exists(path) else FileNotFoundError)(
                errno.ENOTDIR if self.exists(path) else errno.ENOENT,
                "not a directory" if self.exists(path) else "no such directory", path)
        self.cwd = path

    def getcwd(self):
        return self.cwd

    def ping(self):
        """One round trip to the metaserver."""
        self._check(lib.cairn_ping(self._handle()))

    def stat(self, path):
        """A dict describing path: name, type ("file"/"directory"), size, replication, ..."""
        st = Stat()
        self._check(lib.cairn_stat(self._handle(), self._bytes(path), ctypes.byref(st)), path)
        return info(self._abs(path), st)

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
        self._check(lib.cairn_opendir(h, self._bytes(path), ctypes.byref(d)), path)
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
        path = self._abs(path)
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
        stack = [self._abs(top).rstrip("/") or "/"]
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
        rc = lib.cairn_mkdir(h, self._bytes(path), mode)
        if rc == -errno.ENOENT and parents:
            parent = posixpath.dirname(self._abs(path).rstrip("/"))
            self._check(lib.cairn_mkdirs(h, self._bytes(parent), mode), parent)
            rc = lib.cairn_mkdir(h, self._bytes(path), mode)
        if rc == -errno.EEXIST and exist_ok and self.isdir(path):
            return
        self._check(rc, path)

    def rm(self, path, recursive=False):
        """Removes a file or an empty directory (recursive: any directory)."""
        self._check(lib.cairn_remove(self._handle(), self._bytes(path), int(bool(recursive))), path)

    def mv(self, src, dst, overwrite=True):
        """Renames src to dst atomically; an existing file at dst is replaced, or with
        overwrite=False refuses the rename (FileExistsError), atomically with it."""
        flags = 0 if overwrite else RENAME_NOREPLACE
        rc = lib.cairn_rename2(self._handle(), self._bytes(src), self._bytes(dst), flags)
        self._check(rc, self._abs(src), self._abs(dst))

    def setrep(self, path, replication):
        """Sets a file's target replication (1..16)."""
        self._check(lib.cairn_set_replication(self._handle(), self._bytes(path), replication), path)

    def chmod(self, path, mode):
        self._check(lib.cairn_chmod(self._handle(), self._bytes(path), mode & 0o7777), path)

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
        self._check(lib.cairn_create(h, self._bytes(path), 0, self.replication or 0, 0), path)
        us = int((time.time() if mtime is None else mtime) * 1e6)
        self._check(lib.cairn_utimes(h, self._bytes(path), us, us), path)

    def locations(self, path, offset=0, length=0):
        """Where the chunks of path overlapping [offset, offset + length) live (length 0:
        to the end): a list of dicts index, offset, length, chunk, version, replicas
        (["HOST:PORT", ...], best first)."""
        h = self._handle()
        arr = ctypes.POINTER(ChunkLoc)()
        n = ctypes.c_size_t()
        self._check(lib.cairn_chunk_locations(h, self._bytes(path), offset, length,
                                              ctypes.byref(arr),
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
        rc = lib.cairn_admin_fsck(self._handle(), self._bytes(path), ctypes.byref(rep))
        self._check(rc, path)
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
        path = self._abs(path)
        opts = None
        if chunk_size is not None:
            cs = int(chunk_size)
            if cs < 1 << 20 or cs > 256 << 20 or cs & (cs - 1):
                raise ValueError("chunk_size %r: a power of two from 1 MiB to 256 MiB" % (chunk_size,))
            opts = OpenOptions(chunk_size=cs, replication=replication or 0)
        h = self._handle()
        if replication and flags & O_CREAT and opts is None:
            excl = flags & O_EXCL
            self._check(lib.cairn_create(h, self._bytes(path), permissions, replication,
                                         int(bool(excl))), path)
            flags &= ~O_EXCL
            if not excl:
                self.setrep(path, replication)
        out = ctypes.c_void_p()
        if opts is None:
            self._check(lib.cairn_open(h, self._bytes(path), flags, permissions,
                                       ctypes.byref(out)), path)
        else:
            self._check(lib.cairn_open_opts(h, self._bytes(path), flags, permissions,
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

    def put(self, local, remote, replication=None, overwrite=False, recursive=False,
            chunk_size=None):
        """Copies the local file to remote (into it, under the local name, when remote is a
        directory), atomically as `cairn put`: the bytes go to a hidden temporary next to
        remote (see temp_path()), renamed over remote once closed. An existing remote raises
        FileExistsError unless overwrite. A failed copy removes its temporary and leaves
        remote as it was. A local directory needs recursive: it is copied with everything
        under it (into remote when remote is a directory, else as remote), each file as
        above. chunk_size: the new files' chunk size, as open() takes it. Returns the remote
        path."""
        local = os.fspath(local)
        remote = self._abs(remote)
        if self.isdir(remote):
            remote = remote.rstrip("/") + "/" + os.path.basename(local.rstrip("/"))
        if os.path.isdir(local):
            if not recursive:
                raise IsADirectoryError(errno.EISDIR, "a directory (recursive=True copies it)",
                                        local)
            self._put_tree(local, remote, replication, overwrite, chunk_size)
            return remote
        self._put_file(local, remote, replication, overwrite, chunk_size)
        return remote

    def _put_tree(self, local, remote, replication, overwrite, chunk_size):
        self.mkdir(remote, parents=True, exist_ok=True)
        for name in sorted(os.listdir(local)):
            src, dst = os.path.join(local, name), remote.rstrip("/") + "/" + name
            if os.path.isdir(src):
                self._put_tree(src, dst, replication, overwrite, chunk_size)
            else:
                self._put_file(src, dst, replication, overwrite, chunk_size)

    def _put_file(self, local, remote, replication, overwrite, chunk_size):
        if not overwrite and self.exists(remote):
            raise self._error(-errno.EEXIST, remote)
        with open(local, "rb", buffering=0) as src:
            self._write_atomic(remote, src, replication, os.fstat(src.fileno()).st_mode & 0o777,
                               overwrite, chunk_size)

    def _write_atomic(self, remote, src, replication, permissions, overwrite, chunk_size=None):
        """Copies src (readinto) to a temporary renamed over remote once closed."""
        tmp = self.temp_path(remote)
        try:
            with self.open(tmp, "xb", buffering=0, replication=replication,
                           permissions=permissions, chunk_size=chunk_size) as dst:
                copy(src, dst)
            self.mv(tmp, remote, overwrite=overwrite)
        except BaseException:
            try:
                self.rm(tmp)
            except OSError:
                pass
            raise

    def temp_path(self, path):
        """The hidden temporary name a copy to path writes first ("/d/.NAME.<hex>._COPYING_");
        the metaserver removes such a file when its writer's lease expires."""
        buf = ctypes.create_string_buffer(4097)
        self._check(lib.cairn_temp_path(self._bytes(path), buf, len(buf)), path)
        return buf.value.decode()

    def get(self, remote, local, recursive=False):
        """Copies remote to the local file (into it, under the remote name, when local is a
        directory). The bytes go to a temporary file renamed over local at the end. A remote
        directory needs recursive: it comes with everything under it (the temporaries of
        copies in progress left out), made as needed. Returns the local path."""
        remote = self._abs(remote)
        local = os.fspath(local)
        if os.path.isdir(local):
            local = os.path.join(local, posixpath.basename(remote.rstrip("/")) or "root")
        st = self.stat(remote)
        if st["type"] == "directory":
            if not recursive:
                raise IsADirectoryError(errno.EISDIR, "a directory (recursive=True copies it)",
                                        remote)
            for top, dirs, files in self.walk(remote):
                rel = posixpath.relpath(top, remote)
                here = local if rel == "." else os.path.join(local, rel)
                os.makedirs(here, exist_ok=True)
                for name in files:
                    if not _is_temp(name):
                        self._get_file(top.rstrip("/") + "/" + name, os.path.join(here, name))
            return local
        self._get_file(remote, local, st["mode"])
        return local

    def _get_file(self, remote, local, mode=None):
        if mode is None:
            mode = self.stat(remote)["mode"]
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(local) + ".cairn-get.",
                                   dir=os.path.dirname(local) or ".")
        try:
            with open(fd, "wb") as dst, self.open(remote, "rb", buffering=0) as src:
                copy(src, dst)
                os.fchmod(dst.fileno(), mode & 0o777)
            os.replace(tmp, local)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    # ---- datasets: globs, walks, copies, content ----

    def glob(self, pattern):
        """The paths matching pattern, sorted: '*', '?' and '[...]' within a component
        (fnmatch; they do not match a leading '.'), '{a,b}' alternatives, as the CLI
        expands them. A relative pattern starts at the working directory."""
        out = set()
        for pat in _braces(self._abs(pattern)):
            parts = [p for p in pat.split("/") if p]
            level = ["/"]
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                nxt = []
                for d in level:
                    base = d.rstrip("/") + "/"
                    if not _has_magic(part):
                        if self.exists(base + part):
                            nxt.append(base + part)
                        continue
                    try:
                        entries = self._listdir(d)
                    except (FileNotFoundError, NotADirectoryError):
                        continue
                    for name, st in entries:
                        if (name.startswith(".") and not part.startswith(".")) or \
                                not fnmatch.fnmatchcase(name, part):
                            continue
                        if last or st.type == CAIRN_DIR:
                            nxt.append(base + name)
                level = nxt
            out.update(level if parts else ["/"])
        return sorted(out)

    def find(self, path, name=None, type=None):
        """Every path under path (itself included), directories before what they hold,
        whose last component matches the glob name (if given) and whose type is type
        ("file" or "directory", if given)."""
        path = self._abs(path)
        found = []
        for top, dirs, files in self.walk(path):
            for n, kind in [(None, "directory")] + [(f, "file") for f in files]:
                p = top if n is None else top.rstrip("/") + "/" + n
                base = posixpath.basename(p) or "/"
                if (name is None or fnmatch.fnmatchcase(base, name)) and \
                        (type is None or type == kind):
                    found.append(p)
        if not found and self.isfile(path):
            st = self.stat(path)
            if (name is None or fnmatch.fnmatchcase(posixpath.basename(path), name)) and \
                    type in (None, "file"):
                found.append(st["name"])
        return found

    def du(self, path, total=True):
        """Bytes of the files under path (a file: its size); total=False: {file: size}."""
        path = self._abs(path)
        if self.isfile(path):
            sizes = {path: self.stat(path)["size"]}
        else:
            sizes, stack = {}, [path]
            while stack:
                top = stack.pop()
                for name, st in self._listdir(top):
                    p = top.rstrip("/") + "/" + name
                    if st.type == CAIRN_DIR:
                        stack.append(p)
                    else:
                        sizes[p] = st.size
        return sum(sizes.values()) if total else sizes

    def copy(self, src, dst, recursive=False, overwrite=False):
        """Copies src to dst inside cairn, streaming through this client (into dst under
        src's name when dst is a directory), each file atomically as put(), with its
        source's chunk size. A directory needs recursive. Returns the path made."""
        src, dst = self._abs(src), self._abs(dst)
        if self.isdir(dst):
            dst = dst.rstrip("/") + "/" + posixpath.basename(src.rstrip("/"))
        st = self.stat(src)
        if st["type"] == "directory":
            if not recursive:
                raise IsADirectoryError(errno.EISDIR, "a directory (recursive=True copies it)",
                                        src)
            if (dst + "/").startswith(src.rstrip("/") + "/"):
                raise OSError(errno.EINVAL, "cannot copy a directory into itself", dst)
            self.mkdir(dst, parents=True, exist_ok=True)
            for name, sub in self._listdir(src):
                if _is_temp(name):
                    continue
                self.copy(src.rstrip("/") + "/" + name, dst + "/" + name, True, overwrite)
            return dst
        if not overwrite and self.exists(dst):
            raise self._error(-errno.EEXIST, dst)
        with self.open(src, "rb", buffering=0) as f:
            self._write_atomic(dst, f, None, st["mode"], overwrite, st["chunk_size"] or None)
        return dst

    def tail(self, path, size=1024):
        """The last size bytes of the file."""
        with self.open(path, "rb", buffering=0) as f:
            end = f.seek(0, os.SEEK_END)
            f.seek(max(0, end - size))
            return f.readall()

    def truncate(self, path, size):
        """Cuts the file to size bytes, or grows it with zeros (cairn_truncate())."""
        self._check(lib.cairn_truncate(self._handle(), self._bytes(path), size), path)

    def chown(self, path, uid=None, gid=None):
        """Sets the owner and/or group (numeric ids; None leaves one as it is)."""
        omit = 0xFFFFFFFF
        rc = lib.cairn_chown(self._handle(), self._bytes(path), omit if uid is None else uid,
                             omit if gid is None else gid)
        self._check(rc, path)

    def checksum(self, path):
        """The CRC32C of the file's bytes as an int, combined from the CRCs the chunkservers
        store (no data is read): equal to the CRC32C of a local copy."""
        crc, size = ctypes.c_uint32(), ctypes.c_uint64()
        rc = lib.cairn_checksum(self._handle(), self._bytes(path), ctypes.byref(crc),
                                ctypes.byref(size))
        self._check(rc, path)
        return crc.value


def _has_magic(part):
    return any(c in part for c in "*?[")


def _is_temp(name):
    """A copy in progress (common/tempname.h)."""
    return name.startswith(".") and name.endswith("._COPYING_") and len(name) > 11


def _braces(pattern):
    """The '{a,b}' expansions of pattern, in order (nested allowed)."""
    depth, start = 0, -1
    for i, c in enumerate(pattern):
        if c == "{":
            if depth == 0:
                start = i
            depth += 1
        elif c == "}" and depth:
            depth -= 1
            if depth == 0:
                alts, level, cur = [], 0, ""
                for ch in pattern[start + 1:i]:
                    if ch == "," and level == 0:
                        alts.append(cur)
                        cur = ""
                        continue
                    level += (ch == "{") - (ch == "}")
                    cur += ch
                alts.append(cur)
                out = []
                for alt in alts:
                    out.extend(_braces(pattern[:start] + alt + pattern[i + 1:]))
                return out
    return [pattern]
