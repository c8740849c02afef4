"""cairn: the cairn distributed file system from Python, over libcairn.

    import cairn
    fs = cairn.connect("127.0.0.1:20000")      # default: $CAIRN_META
    with fs.open("/data/a.csv", "w") as f:      # "rb", "wb", "ab", "r+b", text modes
        f.write("x,y\\n1,2\\n")
    fs.ls("/data", detail=True); fs.stat("/data/a.csv"); fs.locations("/data/a.csv")

Files are standard io objects (see cairn.fileio); failures raise the
built-in exceptions a local file system would (FileNotFoundError, ...)
or cairn.Error (see cairn.errors). The GIL is released inside every call
into libcairn. cairn.fsspec is an fsspec file system for
"cairn://HOST:PORT/path" URLs, for pandas and dask: `import cairn`
registers it with fsspec by name (fsspec imports it on first use), so a
source checkout (PYTHONPATH=client/python) needs no installed entry point.
"""
from ._lib import path as library_path
from .client import FileSystem, connect
from .errors import (ECHECKSUM, EINTERNAL, ELEASE, EPROTO, ESTALE, EUNAVAIL, Error,
                     Unavailable)
from .fileio import DEFAULT_BUFFER_SIZE, RawFile

__version__ = "0.2.0"


def _register_fsspec():
    """Registers the "cairn" protocol with fsspec, when fsspec is there."""
    try:
        from fsspec.registry import register_implementation
    except ImportError:
        return
    register_implementation("cairn", "cairn.fsspec.CairnFileSystem", clobber=True)


_register_fsspec()

__all__ = ["connect", "FileSystem", "RawFile", "Error", "Unavailable", "library_path",
           "DEFAULT_BUFFER_SIZE", "ECHECKSUM", "ESTALE", "ELEASE", "EPROTO", "EUNAVAIL",
           "EINTERNAL"]
