"""fsck, admin nodes and corruption repair through real processes.

Flipped bytes in one replica's chunk file: a reader still gets correct
bytes, and the bad replica is re-made from a good copy (the file on disk
replaced or removed) until fsck is HEALTHY; the same when only the
scrubber finds it. A chunk whose only replica is corrupt makes fsck
CORRUPT and names it. `admin nodes --json` has DESIGN §7's shape and
states; fsck checks a PATH subset, an empty cluster is HEALTHY, and a
missing path is one clear error.
"""
import os

import pytest

from cluster import Cluster, FirstReplicaFlip, flip_replica, fsck, fsck_is, locations, put_bytes, wait_for

MIB = 1024 * 1024
TIMINGS = ("--dead-after", "2s", "--scan-interval", "500ms")
NODE_KEYS = {"addr", "rack", "state", "used", "capacity", "chunks"}
FSCK_KEYS = {"status", "files", "chunks", "under_replicated", "missing", "corrupt", "stale",
             "held", "problems"}


def start(tmp_path, n=3, chunk_extra=(), replication="3"):
    return Cluster(tmp_path, nchunks=n, chunk_extra=chunk_extra,
                   meta_extra=TIMINGS + ("--replication", replication)).start()


@pytest.fixture
def cluster(tmp_path):
    c = start(tmp_path)
    yield c
    c.kill()


def node(cluster, addr):
    return next(c for c in cluster.chunks if c.addr == addr)


def repaired(path, good):
    """Whether the flipped replica file is gone or holds good bytes again."""
    if not os.path.exists(path):
        return True
    with open(path, "rb") as f:
        f.seek(65536 + 1000)
        return f.read(len(good)) == good


def healthy_with(cluster, path, want):
    rc, report = fsck(cluster, path)
    locs = locations(cluster, path)
    return rc == 0 and all(len(set(l["replicas"])) == want for l in locs)


def test_corrupt_replica_is_read_around_and_remade(tmp_path):
    cluster = start(tmp_path, n=4, replication="4")
    try:
        data = os.urandom(3 * MIB + 11)
        put_bytes(cluster, tmp_path, "/f", data, "-r", "3")
        got = tmp_path / "got"
        bad = FirstReplicaFlip(cluster, "/f")

        def read_and_noticed():
            if bad.path and bad.repaired():
                return True  # met, reported and re-made already
            bad.follow()
            cluster.cli("get", "/f", got)
            assert got.read_bytes() == data
            rc, report = fsck(cluster, "/f")
            return report and report["corrupt"] > 0

        wait_for("a reader to meet the bad replica", read_and_noticed)
        wait_for("the bad replica re-made", lambda: bad.repaired() and
                 healthy_with(cluster, "/f", 3))
        cluster.cli("get", "/f", got)
        assert got.read_bytes() == data
    finally:
        cluster.kill()


def test_only_replica_corrupt_is_reported(cluster, tmp_path):
    put_bytes(cluster, tmp_path, "/one", os.urandom(MIB + 5), "-r", "1")
    put_bytes(cluster, tmp_path, "/ok", os.urandom(MIB), "-r", "3")
    loc = locations(cluster, "/one")[0]
    flip_replica(node(cluster, loc["replicas"][0]), loc["chunk"])
    r = cluster.cli.run("get", "/one", tmp_path / "got", check=False)
    assert r.returncode == 1
    rc, report = wait_for("fsck CORRUPT", lambda: fsck_is(cluster, "CORRUPT"))
    assert rc == 1 and set(report) == FSCK_KEYS
    assert report["corrupt"] == 1 and report["files"] == 2
    assert report["problems"] == [{"path": "/one", "chunk": loc["chunk"], "kind": "corrupt"}]
    plain = cluster.cli.run("admin", "fsck", check=False)
    assert plain.returncode == 1 and "/one" in plain.stdout and "CORRUPT" in plain.stdout
    assert fsck(cluster, "/ok")[0] == 0


def test_scrubber_finds_corruption(tmp_path):
    cluster = start(tmp_path, chunk_extra=("--scrub-interval", "1s"))
    try:
        data = os.urandom(2 * MIB + 9)
        put_bytes(cluster, tmp_path, "/s", data, "-r", "2")
        before = locations(cluster, "/s")
        # The scrubber checks replicas at rest (synced): the copies setrep makes.
        cluster.cli("setrep", "3", "/s")
        wait_for("/s on 3 nodes", lambda: healthy_with(cluster, "/s", 3))
        loc = before[1]
        copy_addr = (set(cluster.addrs) - set(loc["replicas"])).pop()
        bad_path, good = flip_replica(node(cluster, copy_addr), loc["chunk"])
        # Nobody reads: only the scrubber can find it.
        wait_for("/s re-made", lambda: repaired(bad_path, good) and
                 healthy_with(cluster, "/s", 3))
        got = tmp_path / "got"
        cluster.cli("get", "/s", got)
        assert got.read_bytes() == data
        assert "corrupt" in node(cluster, copy_addr).log()
    finally:
        cluster.kill()


def test_admin_nodes(cluster, tmp_path):
    nodes = cluster.cli.json("admin", "nodes")
    assert sorted(n["addr"] for n in nodes) == cluster.addrs
    for n in nodes:
        assert set(n) == NODE_KEYS
        assert n["state"] == "up" and n["rack"] == "" and n["capacity"] > 0
    put_bytes(cluster, tmp_path, "/f", os.urandom(2 * MIB), "-r", "3")
    wait_for("replicas counted", lambda: all(
        n["chunks"] == 2 for n in cluster.cli.json("admin", "nodes")))
    victim = cluster.chunks[1]
    victim.kill()

    def with_dead():
        v = cluster.cli.json("admin", "nodes")
        return v if any(n["state"] == "dead" for n in v) else None
    nodes = wait_for("a dead node", with_dead)
    assert {n["addr"]: n["state"] for n in nodes} == {
        c.addr: "dead" if c is victim else "up" for c in cluster.chunks}
    plain = cluster.cli("admin", "nodes")
    assert "dead" in plain and victim.addr in plain and "LAST HEARTBEAT" in plain


def test_fsck_paths(cluster, tmp_path):
    rc, report = fsck(cluster)
    assert rc == 0 and report == {"status": "HEALTHY", "files": 0, "chunks": 0,
                                  "under_replicated": 0, "missing": 0, "corrupt": 0,
                                  "stale": 0, "held": 0, "problems": []}
    assert "status: HEALTHY" in cluster.cli("admin", "fsck")
    cluster.cli("mkdir", "/x", "/y")
    put_bytes(cluster, tmp_path, "/x/f", os.urandom(2 * MIB), "-r", "3")
    put_bytes(cluster, tmp_path, "/y/g", os.urandom(MIB + 1), "-r", "4")  # four wanted, three nodes
    g_chunks = [l["chunk"] for l in locations(cluster, "/y/g")]
    for path in ("/", "/y", "/y/g"):
        rc, report = fsck(cluster, path)
        assert rc == 1 and report["status"] == "DEGRADED", path
        assert report["problems"] == [{"path": "/y/g", "chunk": c, "kind": "under_replicated"}
                                      for c in g_chunks]
    rc, report = fsck(cluster, "/x")
    assert rc == 0 and report["files"] == 1 and report["chunks"] == 2
    assert fsck(cluster, "/x/f")[0] == 0
    err = cluster.cli.fails("admin", "fsck", "/nope")
    assert "/nope" in err and "no such file" in err.lower()
    r = cluster.cli.run("admin", "bogus", check=False)
    assert r.returncode == 2 and "bogus" in r.stderr
