"""cairn.fsspec: cairn as an fsspec file system, protocol "cairn".

URLs are cairn://HOST:PORT/path (the port defaults to 20000; cairn:///path
uses $CAIRN_META, else 127.0.0.1:20000), so that fsspec.open(),
pandas.read_csv / to_csv and dask.dataframe.read_csv work on them:

    pandas.read_csv("cairn://10.0.0.1:20000/data/a.csv")
    dask.dataframe.read_csv("cairn://10.0.0.1:20000/data/*.csv")

tools/install-python registers the protocol through the entry point
[fsspec.specs] cairn = cairn.fsspec:CairnFileSystem, so no import is
needed; importing this module registers it too (for a source checkout).

Every CairnFileSystem of one process and metaserver shares one
cairn.FileSystem (one libcairn handle, thread-safe), whatever thread
fsspec made it in. Files are cairn's own io objects; rename (mv) is
atomic; there are no transactions (autocommit only).
"""
import datetime
import os
import threading
from glob import has_magic

import fsspec
from fsspec.callbacks import _DEFAULT_CALLBACK
from fsspec.spec import AbstractFileSystem
from fsspec.utils import isfilelike, stringify_path, tokenize

from .client import COPY_BUFFER, FileSystem

DEFAULT_PORT = 20000

_clients = {}
_clients_lock = threading.Lock()


def shared_client(host, timeout, replication):
    """The process's cairn.FileSystem for these settings (made on first use)."""
    key = (host, timeout, replication)
    with _clients_lock:
        fs = _clients.get(key)
        if fs is None:
            fs = _clients[key] = FileSystem(host, timeout, replication)
        return fs


def split_url(url):
    """(host or None, path) of "cairn://HOST[:PORT]/path", "cairn:///path" or "/path"."""
    url = str(url)
    host = None
    if url.startswith("cairn://"):
        rest = url[len("cairn://"):]
        if not rest.startswith("/"):
            host, _, rest = rest.partition("/")
            host = host or None
        url = "/" + rest.lstrip("/")
    elif url.startswith("cairn::"):
        url = url[len("cairn::"):]
    path = "/" + url.strip("/")
    return host, path


class CairnFileSystem(AbstractFileSystem):
    """fsspec file system over a cairn cluster (see the module's text)."""

    protocol = "cairn"
    root_marker = "/"

    def __init__(self, host=None, timeout=None, replication=None, **kwargs):
        super().__init__(**kwargs)
        host = host or os.environ.get("CAIRN_META") or None  # None: libcairn's default
        if host and ":" not in host:
            host = "%s:%d" % (host, DEFAULT_PORT)
        self.host = host
        self.timeout = timeout
        self.replication = replication

    @property
    def client(self):
        """The cairn.FileSystem this uses."""
        return shared_client(self.host, self.timeout, self.replication)

    @classmethod
    def _strip_protocol(cls, path):
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        return split_url(stringify_path(path))[1]

    @staticmethod
    def _get_kwargs_from_urls(path):
        host, _ = split_url(stringify_path(path))
        return {"host": host} if host else {}

    def unstrip_protocol(self, name):
        if name.startswith("cairn://"):
            return name
        return "cairn://%s%s" % (self.host or self.client.addr, self._strip_protocol(name))

    # ---- listing ----

    def ls(self, path, detail=True, **kwargs):
        return self.client.ls(self._strip_protocol(path), detail=detail)

    def info(self, path, **kwargs):
        return self.client.stat(self._strip_protocol(path))

    def exists(self, path, **kwargs):
        return self.client.exists(self._strip_protocol(path))

    def created(self, path):
        return datetime.datetime.fromtimestamp(self.info(path)["ctime"], datetime.timezone.utc)

    def modified(self, path):
        return datetime.datetime.fromtimestamp(self.info(path)["mtime"], datetime.timezone.utc)

    def checksum(self, path):
        """The content's CRC32C (from the chunkservers' stored CRCs, no data read) for a
        file, so it changes only when the bytes do; a directory's attributes otherwise."""
        path = self._strip_protocol(path)
        st = self.client.stat(path)
        if st["type"] == "directory":
            return int(tokenize(st["id"], st["mtime"]), 16)
        return self.client.checksum(path)

    def ukey(self, path):
        path = self._strip_protocol(path)
        return tokenize(self.checksum(path), self.client.stat(path)["size"])

    # ---- namespace ----

    def mkdir(self, path, create_parents=True, **kwargs):
        self.client.mkdir(self._strip_protocol(path), parents=create_parents)

    def makedirs(self, path, exist_ok=False):
        self.client.mkdir(self._strip_protocol(path), parents=True, exist_ok=exist_ok)

    def rmdir(self, path):
        path = self._strip_protocol(path)
        if not self.client.isdir(path):
            raise NotADirectoryError(20, "Not a directory", path)
        self.client.rm(path)

    def _rm(self, path):
        self.client.rm(self._strip_protocol(path))

    def rm(self, path, recursive=False, maxdepth=None):
        if isinstance(path, str) and not has_magic(path) and maxdepth is None:
            self.client.rm(self._strip_protocol(path), recursive=recursive)
        else:
            super().rm(path, recursive=recursive, maxdepth=maxdepth)

    def mv(self, path1, path2, recursive=False, maxdepth=None, **kwargs):
        if isinstance(path1, str) and isinstance(path2, str) and not has_magic(path1):
            path1, path2 = self._strip_protocol(path1), self._strip_protocol(path2)
            parent = self._parent(path2)
            if parent not in ("", "/") and self.client.exists(path1):
                self.client.mkdir(parent, parents=True, exist_ok=True)  # as object stores
            self.client.mv(path1, path2)
        else:
            super().mv(path1, path2, recursive=recursive, maxdepth=maxdepth, **kwargs)

    def touch(self, path, truncate=True, **kwargs):
        if truncate:
            with self.open(path, "wb", **kwargs):
                pass
        else:
            self.client.touch(self._strip_protocol(path))

    # ---- data ----

    def _open(self, path, mode="rb", block_size=None, autocommit=True, cache_options=None,
              **kwargs):
        """A file object of the package (io), with fsspec's extras: .size, .info() and
        .details when reading; when writing, missing parents are made first (as object
        stores behave), and in a transaction (autocommit False) the bytes go to a hidden
        temporary that .commit() renames over path and .discard() removes."""
        path = self._strip_protocol(path)
        replication = kwargs.pop("replication", self.replication)
        writing = any(c in mode for c in "wax+")
        if writing:
            parent = self._parent(path)
            if parent not in ("", "/"):
                self.client.mkdir(parent, parents=True, exist_ok=True)
        target = path if autocommit or not writing else self.client.temp_path(path)
        f = self.client.open(target, mode, buffering=block_size or -1, replication=replication,
                             chunk_size=kwargs.pop("chunk_size", None))
        if not writing:
            details = self.client.stat(path)
            f.size, f.details = details["size"], details
            f.info = lambda: details
        elif target != path:
            f.commit = lambda: self.client.mv(target, path)
            f.discard = lambda: self._discard(target)
        return f

    def _discard(self, tmp):
        try:
            self.client.rm(tmp)
        except FileNotFoundError:
            pass

    def cat_file(self, path, start=None, end=None, **kwargs):
        path = self._strip_protocol(path)
        if start is None and end is None:
            return self.client.cat(path)
        with self.client.open(path, "rb", buffering=0) as f:
            size = f.seek(0, os.SEEK_END)
            start = 0 if start is None else (max(0, size + start) if start < 0 else start)
            end = size if end is None else (max(0, size + end) if end < 0 else min(end, size))
            return f.pread(max(0, end - start), start)

    def cp_file(self, path1, path2, **kwargs):
        """Copies one file (a directory: makes it) through this client, atomically, making
        missing parents."""
        path1, path2 = self._strip_protocol(path1), self._strip_protocol(path2)
        if self.client.isdir(path1):
            self.client.mkdir(path2, parents=True, exist_ok=True)
            return
        parent = self._parent(path2)
        if parent not in ("", "/"):
            self.client.mkdir(parent, parents=True, exist_ok=True)
        if self.client.isdir(path2):
            raise IsADirectoryError(21, "Is a directory", path2)
        self.client.copy(path1, path2, overwrite=True)

    def put_file(self, lpath, rpath, callback=_DEFAULT_CALLBACK, **kwargs):
        rpath = self._strip_protocol(rpath)
        if os.path.isdir(lpath):
            self.makedirs(rpath, exist_ok=True)
            return
        size = os.path.getsize(lpath)
        callback.set_size(size)
        parent = self._parent(rpath)
        if parent != "/":
            self.makedirs(parent, exist_ok=True)
        self.client.put(lpath, rpath, replication=kwargs.get("replication", self.replication),
                        overwrite=True, chunk_size=kwargs.get("chunk_size"))
        callback.relative_update(size)

    def get_file(self, rpath, lpath, callback=_DEFAULT_CALLBACK, outfile=None,
                 **kwargs):
        rpath = self._strip_protocol(rpath)
        if isfilelike(lpath) or outfile is not None:
            out = lpath if isfilelike(lpath) else outfile
            with self.client.open(rpath, "rb", buffering=0) as src:
                callback.set_size(src.seek(0, os.SEEK_END))
                src.seek(0)
                while True:
                    data = src.read(COPY_BUFFER)
                    if not data:
                        break
                    out.write(data)
                    callback.relative_update(len(data))
            return
        if self.client.isdir(rpath):
            os.makedirs(lpath, exist_ok=True)
            return
        if os.path.dirname(lpath):
            os.makedirs(os.path.dirname(lpath), exist_ok=True)  # a new local target
        self.client.get(rpath, lpath)
        callback.relative_update(os.path.getsize(lpath))


fsspec.register_implementation("cairn", CairnFileSystem, clobber=True)
