"""Rack-aware placement through real processes: two racks of two
chunkservers, replication 2. Chunks written while only rack r1 existed
are given a replica on r2 once it joins (and trimmed back to two); new
chunks span both racks; so does every chunk after a rebalance and after
the loss of a node, when its replicas are re-made on the rack they left.

1 MiB chunks, 40 MiB per chunkserver, test timings.
"""
import os

import pytest

from balance import add_chunk, nodes, replica_counts, spread, wait_nodes_up
from cluster import Cluster, fsck_is, put_bytes, wait_for

MIB = 1024 * 1024
TIMINGS = ("--replication", "2", "--dead-after", "2s", "--scan-interval", "300ms")
CAP = ("--capacity", "40M")


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, nchunks=2, meta_extra=TIMINGS,
                chunk_extra=CAP + ("--rack", "r1")).start()
    yield c
    c.kill()


def racks_ok(cluster, paths, dead=()):
    rack = {a: n["rack"] for a, n in nodes(cluster).items()}
    reps = replica_counts(cluster, paths)
    return reps and all(len(r) == 2 and {rack[a] for a in r} == {"r1", "r2"} and
                        not set(r) & set(dead) for r in reps)


def test_two_racks(cluster, tmp_path):
    cluster.cli("mkdir", "/d")
    files = {}
    for i in range(8):
        files["/d/old%d" % i] = os.urandom(MIB + MIB // 2 + 1000 * i)
        put_bytes(cluster, tmp_path, "/d/old%d" % i, files["/d/old%d" % i])
    r2 = [add_chunk(cluster, *CAP, "--rack", "r2") for _ in range(2)]
    wait_nodes_up(cluster, 4)
    # The old chunks, all on r1, get their replica on r2.
    wait_for("old chunks on both racks", lambda: racks_ok(cluster, list(files)), 30)
    for i in range(4):
        files["/d/new%d" % i] = os.urandom(MIB + 777 * i)
        put_bytes(cluster, tmp_path, "/d/new%d" % i, files["/d/new%d" % i])
    assert racks_ok(cluster, list(files))
    r = cluster.cli.run("admin", "rebalance", "--wait", "--threshold", "10", timeout="30s",
                        check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for("within 10 points", lambda: spread(cluster)[1] <= 10)
    assert racks_ok(cluster, list(files))
    # Lose a node of r2: its replicas are re-made on the other r2 node.
    r2[0].kill()
    wait_for("healed on both racks",
             lambda: racks_ok(cluster, list(files), dead=[r2[0].addr]) and
             fsck_is(cluster, "HEALTHY"), 30)
    local = tmp_path / "got"
    for path, data in files.items():
        cluster.cli("get", path, local, timeout="30s")
        assert local.read_bytes() == data, path
