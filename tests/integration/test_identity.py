"""Data dirs have identity (issue 10, items 1 and 2), with real processes.

A file's chunk size is its own, fixed at create: a metaserver restarted with
another --chunk-size reads, checks and keeps every existing file as it was
(no replica re-made or deleted), new files get the new default, and
`cairn put --chunk-size` picks another. A metaserver formats its data dir
with a random file-system id; a chunkserver joins one file system, records
its id in its data dirs and is refused by (and refuses) a metaserver of
another: one line in each log, nothing deleted on either side. Data dirs
of two file systems in one chunkserver, or a metaserver identity file that
does not match its checkpoint, stop the start.
"""
import filecmp
import struct
import os
import subprocess
import time

import wire
from cluster import Cluster, fsck_is, locations, wait_for
from conftest import BIN, Cli, Meta, free_port

MIB = 1 << 20


def put(cluster, tmp_path, remote, size, *opts):
    local = tmp_path / ("local-" + remote.strip("/").replace("/", "-"))
    local.write_bytes(os.urandom(size))
    cluster.cli("put", *opts, str(local), remote)
    return local


def get_equals(cluster, tmp_path, remote, local):
    out = tmp_path / ("got-" + remote.strip("/").replace("/", "-"))
    cluster.cli("get", remote, str(out))
    return filecmp.cmp(str(out), str(local), shallow=False)


def replicas_on_disk(cluster, path):
    """{(chunkserver, chunk id): inode} of every replica file of path's chunks: a
    replica deleted and made again has another inode."""
    ids = {c["chunk"] for c in locations(cluster, path)}
    return {(c.name, cid): os.stat(p).st_ino
            for c in cluster.chunks for cid, p in c.replica_files().items() if cid in ids}


def ident(path):
    """The identity file of a data dir as a dict."""
    out = {}
    with open(os.path.join(path, "identity")) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                k, v = line.split()
                out[k] = v
    return out


def offsets(cluster, path):
    return [(c["offset"], c["length"]) for c in locations(cluster, path)]


def test_chunk_size_is_the_files_own(tmp_path):
    c = Cluster(tmp_path, meta_extra=("--scan-interval", "300ms")).start()  # --chunk-size 1M
    try:
        f = put(c, tmp_path, "/f", 3 * MIB + 5)
        assert offsets(c, "/f") == [(0, MIB), (MIB, MIB), (2 * MIB, MIB), (3 * MIB, 5)]
        meta_id = ident(c.meta.dir)
        assert meta_id["chunk_size"] == str(MIB) and len(meta_id["fs_id"]) == 32
        st = c.meta.status()
        assert st["fs_id"] == meta_id["fs_id"] and st["format_chunk_size"] == MIB
        before = replicas_on_disk(c, "/f")
        assert len(before) == 4 * 3

        c.meta.extra[c.meta.extra.index("1M")] = "4M"
        c.meta.restart()
        assert "chunk size" in c.meta.log() and ident(c.meta.dir) == meta_id
        assert get_equals(c, tmp_path, "/f", f)
        assert offsets(c, "/f") == [(0, MIB), (MIB, MIB), (2 * MIB, MIB), (3 * MIB, 5)]
        wait_for("fsck HEALTHY", lambda: fsck_is(c, "HEALTHY"))
        g = put(c, tmp_path, "/g", 5 * MIB)  # the new default
        assert offsets(c, "/g") == [(0, 4 * MIB), (4 * MIB, MIB)]
        h = put(c, tmp_path, "/h", 5 * MIB, "--chunk-size", "2M")
        assert offsets(c, "/h") == [(0, 2 * MIB), (2 * MIB, 2 * MIB), (4 * MIB, MIB)]
        r = c.cli.run("put", "--chunk-size", "3M", str(h), "/bad", check=False)
        assert r.returncode == 2 and "power of two" in r.stderr
        r = c.cli.run("stat", "/bad", check=False)
        assert r.returncode != 0

        # Several replication scans later, /f's replicas are the very same files.
        time.sleep(1.5)
        assert replicas_on_disk(c, "/f") == before

        # And a restart keeps every file's mapping, checkpoint and log alike.
        c.meta.restart()
        for name, local in (("/f", f), ("/g", g), ("/h", h)):
            assert get_equals(c, tmp_path, name, local)
        assert offsets(c, "/h") == [(0, 2 * MIB), (2 * MIB, 2 * MIB), (4 * MIB, MIB)]
        wait_for("fsck HEALTHY", lambda: fsck_is(c, "HEALTHY"))
    finally:
        c.kill()


def test_a_chunkserver_of_another_file_system_is_refused(tmp_path):
    one = ("--replication", "1", "--scan-interval", "300ms")
    os.makedirs(str(tmp_path / "a"))
    os.makedirs(str(tmp_path / "b"))
    a = Cluster(tmp_path / "a", nchunks=1, meta_extra=one).start()
    b = Cluster(tmp_path / "b", nchunks=1, meta_extra=one).start()
    try:
        fa = put(a, tmp_path, "/a-file", 2 * MIB + 9)
        fb = put(b, tmp_path, "/b-file", MIB + 3)
        ch = a.chunks[0]
        a_id, b_id = ident(a.meta.dir)["fs_id"], ident(b.meta.dir)["fs_id"]
        assert a_id != b_id and ident(ch.dir)["fs_id"] == a_id
        assert ident(b.chunks[0].dir)["fs_id"] == b_id
        held = replicas_on_disk(a, "/a-file")
        assert len(held) == 3

        # A's chunkserver, started against B's metaserver, is refused on both sides.
        ch.stop()
        ch.meta_addr = b.meta.addr
        ch.start()
        wait_for("B's metaserver to refuse it",
                 lambda: "belongs to file system %s" % a_id in b.meta.log())
        wait_for("the chunkserver to say why", lambda: "refused us" in ch.log())
        time.sleep(4.5)  # two more attempts (every 2 s): still one line each
        assert b.meta.log().count("refused chunkserver %s" % ch.addr) == 1
        assert ch.log().count("refused us") == 1
        nodes = b.cli.json("admin", "nodes")
        assert ch.addr not in [n["addr"] for n in nodes]
        assert {k: v for k, v in replicas_on_disk(a, "/a-file").items()} == held
        assert get_equals(b, tmp_path, "/b-file", fb)
        assert fsck_is(b, "HEALTHY")
        assert ident(ch.dir)["fs_id"] == a_id

        # Back in A: its file reads and nothing was lost.
        ch.stop()
        ch.meta_addr = a.meta.addr
        ch.start()
        a.wait_ready()
        assert get_equals(a, tmp_path, "/a-file", fa)
        wait_for("A's fsck HEALTHY", lambda: fsck_is(a, "HEALTHY"))
        assert replicas_on_disk(a, "/a-file") == held

        # A metaserver whose identity file names another file system than its
        # checkpoint refuses to start, and changes nothing.
        a.meta.stop()
        mine = open(os.path.join(a.meta.dir, "identity")).read()
        theirs = open(os.path.join(b.meta.dir, "identity")).read()
        with open(os.path.join(a.meta.dir, "identity"), "w") as w:
            w.write(theirs)
        listing = sorted(os.listdir(a.meta.dir))
        try:
            a.meta.start()
            assert False, "started with another file system's identity"
        except RuntimeError as e:
            assert "belongs to file system %s" % a_id in str(e)
        assert sorted(os.listdir(a.meta.dir)) == listing
        with open(os.path.join(a.meta.dir, "identity"), "w") as w:
            w.write(mine)
        a.meta.start()
        assert get_equals(a, tmp_path, "/a-file", fa)
    finally:
        a.kill()
        b.kill()


def test_data_dirs_of_two_file_systems_refuse_to_start(tmp_path):
    dirs = [tmp_path / "d1", tmp_path / "d2"]
    for i, d in enumerate(dirs):
        d.mkdir()
        (d / "identity").write_text("format 1\nfs_id %032x\n" % (i + 1))
    r = subprocess.run([os.path.join(BIN, "cairn-chunk"), "--meta", "127.0.0.1:1",
                        "--listen", "127.0.0.1:%d" % free_port(), "--data", "%s,%s" % tuple(dirs)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "two file systems" in r.stderr, r
    assert sorted(os.listdir(str(dirs[0]))) == ["identity"]
    assert (dirs[1] / "identity").read_text() == "format 1\nfs_id %032x\n" % 2


def test_a_data_dir_without_identity_is_adopted(tmp_path):
    """A metaserver data dir with data but no identity file (made before
    identities) is adopted with a new id and a warning; one whose identity file
    alone was lost gets it back from its checkpoint. Files read either way."""
    c = Cluster(tmp_path, nchunks=1, meta_extra=("--replication", "1")).start()
    try:
        f = put(c, tmp_path, "/f", 2 * MIB + 1)
        first = ident(c.meta.dir)
        c.meta.kill()  # no final checkpoint: only the op log holds /f
        assert not any(n.startswith("checkpoint.") for n in os.listdir(c.meta.dir))
        os.unlink(os.path.join(c.meta.dir, "identity"))
        c.meta.start()
        assert "made before file-system ids: adopted" in c.meta.log()
        adopted = ident(c.meta.dir)
        assert adopted["fs_id"] != first["fs_id"] and adopted["chunk_size"] == str(MIB)
        # The chunkserver joined the first id: it is refused until told otherwise,
        # and keeps its replicas.
        wait_for("the refusal", lambda: "refused us" in c.chunks[0].log())
        assert len(c.chunks[0].replica_files()) >= 3
        c.chunks[0].stop()
        os.unlink(os.path.join(c.chunks[0].dir, "identity"))
        c.chunks[0].start()
        c.wait_ready()
        assert get_equals(c, tmp_path, "/f", f)

        c.meta.stop()  # writes a checkpoint, which carries the id
        os.unlink(os.path.join(c.meta.dir, "identity"))
        c.meta.start()
        assert "re-made it from the checkpoint" in c.meta.log()
        assert ident(c.meta.dir) == adopted
        assert get_equals(c, tmp_path, "/f", f)
    finally:
        c.kill()


def field(num, value):
    """One protobuf field: bytes as length-delimited, an int as a varint."""
    if isinstance(value, bytes):
        return wire.varint(num << 3 | 2) + wire.varint(len(value)) + value
    return wire.varint(num << 3) + wire.varint(value)


def call(addr, body_field, body):
    """Sends one request Envelope; returns the reply's (status, error text)."""
    with wire.connect(addr) as s:
        s.sendall(wire.frame(field(1, 9) + field(body_field, body)))
        _, hl, pl, _ = struct.unpack(">IIII", wire.recv_exact(s, 16))
        env = wire.recv_exact(s, hl)
    status, error, i = 0, "", 0
    while i < len(env):
        tag, i = read_varint(env, i)
        if tag & 7 == 0:
            v, i = read_varint(env, i)
            status = v if tag >> 3 == 3 else status
        elif tag & 7 == 2:
            n, i = read_varint(env, i)
            error = env[i:i + n].decode() if tag >> 3 == 4 else error
            i += n
        else:
            raise AssertionError("unexpected wire type in %r" % env)
    return status, error


def read_varint(b, i):
    v, shift = 0, 0
    while True:
        v |= (b[i] & 0x7F) << shift
        i += 1
        if not b[i - 1] & 0x80:
            return v, i
        shift += 7


STATUS_INVALID, STATUS_PERMISSION = 6, 7


def test_the_metaserver_checks_what_it_is_sent(tmp_path):
    """Bad chunk sizes in CreateReq and OpenReq and a malformed file-system id
    in RegisterReq are refused with a reason, whatever the client checked."""
    meta = Meta(tmp_path).start()
    try:
        for size in (3 << 20, 64 << 10, 512 << 20):
            st, why = call(meta.addr, 12, field(1, b"/c") + field(5, size))  # CreateReq
            assert st == STATUS_INVALID and "power of two" in why, (st, why)
            st, why = call(meta.addr, 18, field(1, b"/o") + field(3, 1) + field(10, size))
            assert st == STATUS_INVALID and "power of two" in why, (st, why)
        st, why = call(meta.addr, 12, field(1, b"/ok") + field(5, 2 << 20))
        assert st == 0, why
        st, why = call(meta.addr, 30, field(1, b"127.0.0.1:9") + field(7, b"12345"))
        assert st == STATUS_PERMISSION and "(malformed)" in why, (st, why)
        assert meta.log().count("refused chunkserver 127.0.0.1:9") == 1
        cli = Cli(meta.addr)
        assert cli.run("stat", "/c", check=False).returncode != 0
        assert cli.run("stat", "/o", check=False).returncode != 0
    finally:
        meta.kill()
