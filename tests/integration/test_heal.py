"""Re-replication through real processes: a chunkserver killed for good
is healed around (fsck DEGRADED, then HEALTHY with every chunk on three
distinct live nodes, bytes unchanged); a node that comes back after its
chunks were copied elsewhere ends with exactly the target count (its
intact replicas counted again and the surplus trimmed, or its torn ones
deleted); setrep up and down moves replica counts to follow.

Four chunkservers, 1 MiB chunks, test timings (--dead-after 2s,
--scan-interval 500ms). The metaserver's default replication is 4 so that
Cluster.start() sees every chunkserver; the files here say -r 3.
"""
import os

import pytest

from cluster import Cluster, fsck, fsck_is, locations, put_bytes, wait_for

MIB = 1024 * 1024
TIMINGS = ("--replication", "4", "--dead-after", "2s", "--scan-interval", "500ms")


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, nchunks=4, meta_extra=TIMINGS).start()
    yield c
    c.kill()


def get(cluster, tmp_path, remote):
    local = tmp_path / "got"
    cluster.cli("get", remote, local, timeout="30s")
    return local.read_bytes()


def spread(cluster, path, want, dead=()):
    """Whether every chunk of path has exactly want replicas, on distinct
    nodes, none of them in dead."""
    locs = locations(cluster, path)
    return all(len(l["replicas"]) == want and len(set(l["replicas"])) == want and
               not set(l["replicas"]) & set(dead) for l in locs)


def replica_files(cluster):
    return sum(len(c.replica_files()) for c in cluster.chunks)


def test_node_killed_for_good(cluster, tmp_path):
    files = {"/a/%d" % i: os.urandom(2 * MIB + 1000 * i) for i in range(3)}
    cluster.cli("mkdir", "/a")
    for path, data in files.items():
        put_bytes(cluster, tmp_path, path, data, "-r", "3")
    # A file that wants all four: it cannot heal while a node is down.
    wide = os.urandom(MIB + 77)
    put_bytes(cluster, tmp_path, "/wide", wide)
    assert fsck_is(cluster, "HEALTHY")[0] == 0

    victim = cluster.chunks[0]
    victim.kill()
    rc, report = wait_for("fsck DEGRADED", lambda: fsck_is(cluster, "DEGRADED"))
    assert rc == 1
    wide_chunks = {l["chunk"] for l in locations(cluster, "/wide")}
    named = {(p["path"], p["chunk"]) for p in report["problems"]}
    assert {("/wide", c) for c in wide_chunks} <= named
    assert all(p["kind"] == "under_replicated" for p in report["problems"])
    assert report["missing"] == 0 and report["under_replicated"] >= len(wide_chunks)
    plain = cluster.cli.run("admin", "fsck", check=False)
    assert plain.returncode == 1 and "/wide" in plain.stdout and "DEGRADED" in plain.stdout

    # Every -r 3 file heals onto the three live nodes; /wide stays short.
    for path in files:
        wait_for(path + " on 3 live nodes", lambda: spread(cluster, path, 3, [victim.addr]))
    rc, report = fsck(cluster)
    assert rc == 1 and {p["path"] for p in report["problems"]} == {"/wide"}
    assert fsck_is(cluster, "HEALTHY", "/a")[0] == 0

    cluster.cli("setrep", "3", "/wide")
    wait_for("fsck HEALTHY", lambda: fsck_is(cluster, "HEALTHY"))
    for path in list(files) + ["/wide"]:
        assert spread(cluster, path, 3, [victim.addr])
    for path, data in files.items():
        assert get(cluster, tmp_path, path) == data
    assert get(cluster, tmp_path, "/wide") == wide


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_returning_node_is_trimmed(cluster, tmp_path, how):
    """A stopped node comes back with its replicas intact: they count again
    and the surplus goes. A kill -9'd one comes back with its unsynced
    replicas cut short: they do not count and are deleted."""
    data = os.urandom(5 * MIB + 3)
    put_bytes(cluster, tmp_path, "/f", data, "-r", "3")
    nchunks = len(locations(cluster, "/f"))
    victim = next(c for c in cluster.chunks if c.replica_files())
    victim.stop() if how == "stop" else victim.kill()
    wait_for("/f healed", lambda: spread(cluster, "/f", 3, [victim.addr]), seconds=60)

    victim.start()  # same address, its old replicas still on disk
    wait_for("the node back", lambda: any(
        n["addr"] == victim.addr and n["state"] == "up"
        for n in cluster.cli.json("admin", "nodes")))
    wait_for("surplus gone", lambda: spread(cluster, "/f", 3) and
             replica_files(cluster) == 3 * nchunks, seconds=60)
    assert fsck(cluster)[0] == 0
    assert get(cluster, tmp_path, "/f") == data


def test_setrep_moves_replica_counts(cluster, tmp_path):
    data = os.urandom(3 * MIB + 5)
    put_bytes(cluster, tmp_path, "/s", data, "-r", "2")
    nchunks = len(locations(cluster, "/s"))
    assert spread(cluster, "/s", 2)
    cluster.cli("setrep", "3", "/s")
    wait_for("3 replicas", lambda: spread(cluster, "/s", 3))
    assert fsck(cluster)[0] == 0
    cluster.cli("setrep", "2", "/s")
    wait_for("2 replicas", lambda: spread(cluster, "/s", 2) and
             replica_files(cluster) == 2 * nchunks)
    assert fsck(cluster)[0] == 0
    assert get(cluster, tmp_path, "/s") == data
