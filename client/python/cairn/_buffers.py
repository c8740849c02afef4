"""_buffers: the address of a Python buffer, for handing it to libcairn
without a copy.

pinned(obj, writable) takes a buffer from any object with the buffer
protocol (bytes, bytearray, memoryview, mmap, array, numpy arrays) through
CPython's PyObject_GetBuffer, which also holds it: a bytearray cannot be
resized while pinned. It must be C-contiguous, as for the built-in file
objects. new_bytes(n) makes a bytes object of n bytes to fill before it is
shared (what C extensions do with PyBytes_FromStringAndSize(NULL, n)), so
that read() of a whole file lands in its result directly.
"""
import contextlib
import ctypes

PyBUF_SIMPLE = 0
PyBUF_WRITABLE = 1


class PyBuffer(ctypes.Structure):
    """CPython's Py_buffer (part of the stable ABI since 3.11, unchanged since 3.3)."""
    _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.c_void_p), ("len", ctypes.c_ssize_t),
                ("itemsize", ctypes.c_ssize_t), ("readonly", ctypes.c_int),
                ("ndim", ctypes.c_int), ("format", ctypes.c_char_p),
                ("shape", ctypes.c_void_p), ("strides", ctypes.c_void_p),
                ("suboffsets", ctypes.c_void_p), ("internal", ctypes.c_void_p)]


_api = ctypes.pythonapi
_get_buffer = _api.PyObject_GetBuffer
_get_buffer.argtypes = [ctypes.py_object, ctypes.POINTER(PyBuffer), ctypes.c_int]
_get_buffer.restype = ctypes.c_int
_release = _api.PyBuffer_Release
_release.argtypes = [ctypes.POINTER(PyBuffer)]
_release.restype = None
_bytes_new = _api.PyBytes_FromStringAndSize
_bytes_new.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t]
_bytes_new.restype = ctypes.py_object
_bytes_data = _api.PyBytes_AsString
_bytes_data.argtypes = [ctypes.py_object]
_bytes_data.restype = ctypes.c_void_p


@contextlib.contextmanager
def pinned(obj, writable):
    """Yields (address, length in bytes) of obj's memory, held until the block ends.

    TypeError if obj has no buffer, BufferError if it is not contiguous (or
    is read-only and writable was asked).
    """
    view = PyBuffer()
    _get_buffer(obj, ctypes.byref(view), PyBUF_WRITABLE if writable else PyBUF_SIMPLE)
    try:
        yield view.buf, view.len
    finally:
        _release(ctypes.byref(view))


def new_bytes(n):
    """(a new bytes object of n > 1 bytes, not yet filled; its data's address)."""
    assert n > 1  # 0 and 1 may be shared singletons
    b = _bytes_new(None, n)
    return b, _bytes_data(b)
