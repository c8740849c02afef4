"""_lib: loads libcairn and declares the part of client/include/cairn.h
that the package calls, with ctypes.

The library is looked for in this order: $CAIRN_LIBRARY; libcairn.so next
to this file (where tools/install-python copies it); the build tree of the
source checkout this package lives in (client/python/cairn ->
build/lib/libcairn.so). It is loaded with ctypes.CDLL, so every call
releases the GIL while it runs: threads calling into libcairn at once run
in parallel. Structures mirror cairn.h field by field; ctypes lays them
out as the C compiler does.
"""
import ctypes
import os

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_BUILD = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(HERE))), "build",
                            "lib", "libcairn.so")


def candidates():
    """The places libcairn is looked for, in order."""
    env = os.environ.get("CAIRN_LIBRARY")
    if env:
        return [env]
    return [os.path.join(HERE, "libcairn.so"), SOURCE_BUILD]


def load():
    """Loads the first libcairn found; ImportError naming every place tried."""
    tried = []
    for path in candidates():
        if not os.path.exists(path):
            tried.append(path + " (missing)")
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
    raise ImportError("cairn: cannot load libcairn: tried " + "; ".join(tried) +
                      ". Set CAIRN_LIBRARY to the path of libcairn.so, or run "
                      "tools/install-python.")


class Options(ctypes.Structure):
    _fields_ = [("timeout_ms", ctypes.c_uint64), ("replication", ctypes.c_uint32),
                ("reserved", ctypes.c_uint32 * 13)]


class Stat(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint64), ("type", ctypes.c_int), ("mode", ctypes.c_uint32),
                ("uid", ctypes.c_uint32), ("gid", ctypes.c_uint32), ("size", ctypes.c_uint64),
                ("replication", ctypes.c_uint32), ("nchunks", ctypes.c_uint64),
                ("nentries", ctypes.c_uint64), ("atime_us", ctypes.c_int64),
                ("mtime_us", ctypes.c_int64), ("ctime_us", ctypes.c_int64),
                ("chunk_size", ctypes.c_uint64)]


class OpenOptions(ctypes.Structure):
    _fields_ = [("chunk_size", ctypes.c_uint64), ("replication", ctypes.c_uint32)]


class Dirent(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("st", Stat)]


class ChunkLoc(ctypes.Structure):
    _fields_ = [("index", ctypes.c_uint64), ("offset", ctypes.c_uint64),
                ("length", ctypes.c_uint64), ("chunk_id", ctypes.c_uint64),
                ("version", ctypes.c_uint64), ("nreplicas", ctypes.c_size_t),
                ("replicas", ctypes.POINTER(ctypes.c_char_p))]


class Node(ctypes.Structure):
    _fields_ = [("addr", ctypes.c_char_p), ("rack", ctypes.c_char_p), ("state", ctypes.c_int),
                ("used", ctypes.c_uint64), ("capacity", ctypes.c_uint64),
                ("chunks", ctypes.c_uint64), ("last_heard_ms", ctypes.c_uint64),
                ("load", ctypes.c_uint32)]


class FsckProblem(ctypes.Structure):
    _fields_ = [("path", ctypes.c_char_p), ("chunk_id", ctypes.c_uint64),
                ("index", ctypes.c_uint64), ("kind", ctypes.c_int), ("node", ctypes.c_char_p),
                ("version", ctypes.c_uint64), ("why", ctypes.c_char_p)]


class Fsck(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int), ("files", ctypes.c_uint64),
                ("chunks", ctypes.c_uint64), ("under_replicated", ctypes.c_uint64),
                ("missing", ctypes.c_uint64), ("corrupt", ctypes.c_uint64),
                ("stale", ctypes.c_uint64), ("nproblems", ctypes.c_size_t),
                ("problems", ctypes.POINTER(FsckProblem)), ("more", ctypes.c_int),
                ("held", ctypes.c_uint64)]


class Rebalance(ctypes.Structure):
    _fields_ = [("threshold", ctypes.c_uint32), ("mean", ctypes.c_double),
                ("spread", ctypes.c_double), ("chunks_moved", ctypes.c_uint64),
                ("bytes_moved", ctypes.c_uint64), ("moves_in_flight", ctypes.c_uint64),
                ("scan", ctypes.c_uint64), ("first_scan", ctypes.c_uint64),
                ("balanced", ctypes.c_int), ("blocked", ctypes.c_int), ("nodes", ctypes.c_uint32)]


CAIRN_DIR = 1
CAIRN_FILE = 2
CAIRN_SYMLINK = 3

O_RDONLY = 0x0000
O_WRONLY = 0x0001
O_RDWR = 0x0002
O_CREAT = 0x0100
O_EXCL = 0x0200
O_TRUNC = 0x0400
O_APPEND = 0x0800
RENAME_NOREPLACE = 0x1

_p = ctypes.c_void_p
_s = ctypes.c_char_p
_u32 = ctypes.c_uint32
_u64 = ctypes.c_uint64
_int = ctypes.c_int

# name: (restype, argtypes)
PROTOTYPES = {
    "cairn_strerror": (_s, [_int]),
    "cairn_last_error": (_s, [_p]),
    "cairn_connect": (_int, [_s, ctypes.POINTER(Options), ctypes.POINTER(_p)]),
    "cairn_disconnect": (None, [_p]),
    "cairn_meta_addr": (_s, [_p]),
    "cairn_timeout_ms": (_u64, [_p]),
    "cairn_ping": (_int, [_p]),
    "cairn_stat": (_int, [_p, _s, ctypes.POINTER(Stat)]),
    "cairn_mkdir": (_int, [_p, _s, _u32]),
    "cairn_mkdirs": (_int, [_p, _s, _u32]),
    "cairn_create": (_int, [_p, _s, _u32, _u32, _int]),
    "cairn_remove": (_int, [_p, _s, _int]),
    "cairn_rename": (_int, [_p, _s, _s]),
    "cairn_rename2": (_int, [_p, _s, _s, _int]),
    "cairn_temp_path": (_int, [_s, _s, ctypes.c_size_t]),
    "cairn_truncate": (_int, [_p, _s, _u64]),
    "cairn_chown": (_int, [_p, _s, _u32, _u32]),
    "cairn_checksum": (_int, [_p, _s, ctypes.POINTER(_u32), ctypes.POINTER(_u64)]),
    "cairn_set_replication": (_int, [_p, _s, _u32]),
    "cairn_chmod": (_int, [_p, _s, _u32]),
    "cairn_utimes": (_int, [_p, _s, ctypes.c_int64, ctypes.c_int64]),
    "cairn_opendir": (_int, [_p, _s, ctypes.POINTER(_p)]),
    "cairn_readdir_next": (_int, [_p, ctypes.POINTER(Dirent)]),
    "cairn_closedir": (None, [_p]),
    "cairn_open": (_int, [_p, _s, _int, _u32, ctypes.POINTER(_p)]),
    "cairn_open_opts": (_int, [_p, _s, _int, _u32, ctypes.POINTER(OpenOptions),
                               ctypes.POINTER(_p)]),
    "cairn_close": (_int, [_p]),
    "cairn_read": (ctypes.c_ssize_t, [_p, _p, ctypes.c_size_t]),
    "cairn_pread": (ctypes.c_ssize_t, [_p, _p, ctypes.c_size_t, _u64]),
    "cairn_write": (ctypes.c_ssize_t, [_p, _p, ctypes.c_size_t]),
    "cairn_pwrite": (ctypes.c_ssize_t, [_p, _p, ctypes.c_size_t, _u64]),
    "cairn_seek": (ctypes.c_int64, [_p, ctypes.c_int64, _int]),
    "cairn_fsync": (_int, [_p]),
    "cairn_chunk_locations": (_int, [_p, _s, _u64, _u64, ctypes.POINTER(ctypes.POINTER(ChunkLoc)),
                                     ctypes.POINTER(ctypes.c_size_t)]),
    "cairn_chunk_locations_free": (None, [ctypes.POINTER(ChunkLoc), ctypes.c_size_t]),
    "cairn_admin_nodes": (_int, [_p, ctypes.POINTER(ctypes.POINTER(Node)),
                                 ctypes.POINTER(ctypes.c_size_t)]),
    "cairn_admin_nodes_free": (None, [ctypes.POINTER(Node), ctypes.c_size_t]),
    "cairn_node_state_name": (_s, [_int]),
    "cairn_admin_fsck": (_int, [_p, _s, ctypes.POINTER(ctypes.POINTER(Fsck))]),
    "cairn_admin_fsck_free": (None, [ctypes.POINTER(Fsck)]),
    "cairn_fsck_status_name": (_s, [_int]),
    "cairn_fsck_kind_name": (_s, [_int]),
    "cairn_admin_rebalance": (_int, [_p, _u32, _int, ctypes.POINTER(Rebalance)]),
    "cairn_admin_decommission": (_int, [_p, _s, _int]),
    "cairn_admin_release_held": (_int, [_p, ctypes.POINTER(ctypes.c_uint64)]),
    "cairn_symlink": (_int, [_p, _s, _s]),
    "cairn_readlink": (ctypes.c_ssize_t, [_p, _s, _p, ctypes.c_size_t]),
    "cairn_setxattr": (_int, [_p, _s, _s, _p, ctypes.c_size_t, _int]),
    "cairn_getxattr": (ctypes.c_ssize_t, [_p, _s, _s, _p, ctypes.c_size_t]),
    "cairn_listxattr": (ctypes.c_ssize_t, [_p, _s, _p, ctypes.c_size_t]),
    "cairn_removexattr": (_int, [_p, _s, _s]),
}

lib, path = load()
for _name, (_res, _args) in PROTOTYPES.items():
    _fn = getattr(lib, _name)
    _fn.restype = _res
    _fn.argtypes = _args


def strerror(err):
    """cairn_strerror() as a str."""
    return lib.cairn_strerror(err).decode(errors="replace")


def last_error(handle):
    """cairn_last_error() of this thread's last call on handle, as a str ("" if none)."""
    return lib.cairn_last_error(handle).decode(errors="replace")
