"""Hand-made cairn frames for tests that speak to a port directly.

Only what garbage tests need: the 16-byte frame header of DESIGN §3, a
CRC32C, and a ping Envelope encoded by hand (field 1 call_id, field 17 ping).
"""
import socket
import struct

MAGIC = 0x43524E00 | 1

_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def ping_envelope(call_id):
    return b"\x08" + varint(call_id) + b"\x8a\x01\x00"


def frame(envelope, payload=b"", magic=MAGIC, header_len=None, payload_len=None, crc=None):
    hl = len(envelope) if header_len is None else header_len
    pl = len(payload) if payload_len is None else payload_len
    c = crc32c(envelope) if crc is None else crc
    return struct.pack(">IIII", magic, hl, pl, c) + envelope + payload


def connect(addr):
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=5)
    return s


def ping(addr, call_id=7):
    """Sends one ping frame and returns the reply's raw envelope bytes."""
    with connect(addr) as s:
        s.sendall(frame(ping_envelope(call_id)))
        hdr = recv_exact(s, 16)
        magic, hl, pl, crc = struct.unpack(">IIII", hdr)
        assert magic == MAGIC
        env = recv_exact(s, hl)
        assert crc32c(env) == crc
        return env


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def closed_by_peer(s, seconds=5.0):
    """True when the peer closes the connection (EOF or reset) within seconds."""
    s.settimeout(seconds)
    try:
        while True:
            if not s.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def field(num, data):
    """A length-delimited protobuf field (string, bytes or message)."""
    return varint(num << 3 | 2) + varint(len(data)) + data


def mkdir_envelope(call_id, path):
    """A MkdirReq (Envelope field 11) for path, which may hold any byte."""
    return b"\x08" + varint(call_id) + field(11, field(1, path))


def fields(msg):
    """{field number: [values]} of a protobuf message: ints for varints, bytes
    for length-delimited fields (enough to read a reply's status and error)."""
    out, i = {}, 0

    def get_varint():
        nonlocal i
        n = shift = 0
        while True:
            b = msg[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n

    while i < len(msg):
        key = get_varint()
        if key & 7 == 0:
            val = get_varint()
        elif key & 7 == 2:
            n = get_varint()
            val, i = msg[i:i + n], i + n
        elif key & 7 == 1:
            val, i = msg[i:i + 8], i + 8
        else:
            val, i = msg[i:i + 4], i + 4
        out.setdefault(key >> 3, []).append(val)
    return out


def call(addr, envelope):
    """Sends one request frame; returns the reply envelope's fields."""
    with connect(addr) as s:
        s.sendall(frame(envelope))
        _, hl, _, _ = struct.unpack(">IIII", recv_exact(s, 16))
        return fields(recv_exact(s, hl))


def push(s, data, seconds=0.5):
    """Sends what the peer takes of data within seconds; returns the bytes sent."""
    s.settimeout(seconds)
    sent = 0
    try:
        while sent < len(data):
            sent += s.send(data[sent:sent + 65536])
    except (socket.timeout, BlockingIOError):
        pass
    return sent
