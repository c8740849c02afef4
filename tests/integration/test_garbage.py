"""Garbage, truncated and oversized frames on the metaserver's port: the
bad connection closes, the server keeps serving others, memory stays flat."""
import os
import random

from conftest import rss_kib
import wire


def test_ping_by_hand_works(meta):
    env = wire.ping(meta.addr, call_id=300)
    assert b"\x08\xac\x02" in env  # call_id 300 echoed


BAD_FRAMES = {
    "random bytes": bytes(random.Random(1).randrange(256) for _ in range(4096)),
    "bad magic": wire.frame(wire.ping_envelope(1), magic=0xDEADBEEF),
    "bad version": wire.frame(wire.ping_envelope(1), magic=0x43524E00 | 9),
    "header crc": wire.frame(wire.ping_envelope(1), crc=12345),
    "garbage envelope": wire.frame(b"\xff\xff\xff\xff\xff\xff"),
    "oversized envelope": wire.frame(b"", header_len=0x7FFFFFFF),
    "oversized payload": wire.frame(wire.ping_envelope(1), payload_len=0xFFFFFFFF),
    "payload without crcs": wire.frame(wire.ping_envelope(1), payload=b"x" * 100),
}


def test_bad_frames_close_only_that_connection(meta, cli):
    good = wire.connect(meta.addr)
    good.sendall(wire.frame(wire.ping_envelope(1))[:10])  # half a frame, left open
    for name, data in BAD_FRAMES.items():
        s = wire.connect(meta.addr)
        s.sendall(data)
        assert wire.closed_by_peer(s), "connection not closed after " + name
        s.close()
        cli("mkdir", "-p", "/after/" + name.replace(" ", "-"))
    # The half-frame connection is still served once the frame completes.
    good.sendall(wire.frame(wire.ping_envelope(1))[10:])
    hdr = wire.recv_exact(good, 16)
    assert int.from_bytes(hdr[:4], "big") == wire.MAGIC
    good.close()
    assert len(cli("ls", "/after").split()) == len(BAD_FRAMES)
    assert meta.proc.poll() is None


def test_truncated_frames_and_abrupt_closes(meta, cli):
    whole = wire.frame(wire.ping_envelope(5))
    for cut in range(1, len(whole)):
        s = wire.connect(meta.addr)
        s.sendall(whole[:cut])
        s.close()
    assert wire.ping(meta.addr)
    cli("stat", "/")


def test_memory_stays_flat_under_garbage(meta):
    pid = meta.proc.pid
    rng = random.Random(2)
    frames = list(BAD_FRAMES.values())

    def storm(n):
        for i in range(n):
            s = wire.connect(meta.addr)
            s.sendall(frames[i % len(frames)] if i % 3 else os.urandom(rng.randrange(1, 2000)))
            wire.closed_by_peer(s, 2)
            s.close()

    storm(300)  # warm up allocator pools
    before = rss_kib(pid)
    storm(1500)
    after = rss_kib(pid)
    # ASan's quarantine holds freed memory by design; there, LeakSanitizer's
    # check at the clean exit below is the (stronger) test.
    if not os.environ.get("CAIRN_SANITIZE"):
        assert after - before < 4096, "RSS grew from %d to %d KiB" % (before, after)
    assert wire.ping(meta.addr)
    assert meta.stop() == 0, meta.log()
