"""cairn: the cairn distributed file system from Python, over libcairn.

    import cairn
    fs = cairn.connect("127.0.0.1:20000")      # default: $CAIRN_META
    with fs.open("/data/a.csv", "w") as f:      # "rb", "wb", "ab", "r+b", text modes
        f.write("x,y\\n1,2\\n")
    fs.ls("/data", detail=True); fs.stat("/data/a.csv"); fs.locations("/data/a.csv")

Files are standard io objects (see cairn.fileio); failures raise the
built-in exceptions a local file system would (FileNotFoundError, ...)
or cairn.Error (see cairn.errors). The GIL is released inside every call
into libcairn. cairn.fsspec registers "cairn://HOST:PORT/path" with
fsspec, for pandas and dask.
"""
from ._lib import path as library_path
from .client import FileSystem, connect
from .errors import (ECHECKSUM, EINTERNAL, ELEASE, EPROTO, ESTALE, EUNAVAIL, Error,
                     Unavailable)
from .fileio import DEFAULT_BUFFER_SIZE, RawFile

__version__ = "0.1"

__all__ = ["connect", "FileSystem", "RawFile", "Error", "Unavailable", "library_path",
           "DEFAULT_BUFFER_SIZE", "ECHECKSUM", "ESTALE", "ELEASE", "EPROTO", "EUNAVAIL",
           "EINTERNAL"]
