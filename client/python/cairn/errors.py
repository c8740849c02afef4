"""errors: libcairn's negative error codes as Python exceptions.

A code maps to the built-in OSError subclass a local file system would
raise (FileNotFoundError for -ENOENT, ...); anything else is cairn.Error
(an OSError), and a metaserver or chunkserver that could not be reached
within the time bound is cairn.Unavailable (a cairn.Error and a
ConnectionError). Every exception carries errno (for cairn's own codes,
the code itself: ECHECKSUM = 1000, ...), a message made of
cairn_strerror() and the server's words from cairn_last_error(), and the
path(s) involved as filename and filename2, so str(e) names them.
"""
import errno

# cairn's own codes (cairn.h), positive as in OSError.errno.
ECHECKSUM = 1000
ESTALE = 1001
ELEASE = 1002
EPROTO = 1003
EUNAVAIL = 1004
EINTERNAL = 1005


class Error(OSError):
    """A cairn failure with no more specific built-in exception."""


class Unavailable(Error, ConnectionError):
    """A server could not be reached (or stayed unreachable) within the time bound."""


BUILTIN = {
    errno.ENOENT: FileNotFoundError,
    errno.EEXIST: FileExistsError,
    errno.EISDIR: IsADirectoryError,
    errno.ENOTDIR: NotADirectoryError,
    errno.EACCES: PermissionError,
    errno.EPERM: PermissionError,
    errno.ETIMEDOUT: TimeoutError,
    EUNAVAIL: Unavailable,
}


def exception(code, text, cause="", path=None, path2=None):
    """The exception for libcairn's negative code, ready to raise.

    text is cairn_strerror(code); cause the server's words (may be empty).
    """
    num = -code
    msg = text
    if cause and cause != text:
        msg = "%s (%s)" % (text, cause)
    cls = BUILTIN.get(num, Error)
    if path2 is not None:
        return cls(num, msg, path, None, path2)
    if path is not None:
        return cls(num, msg, path)
    return cls(num, msg)
