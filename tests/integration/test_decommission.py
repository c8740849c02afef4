"""Decommissioning through real processes: `cairn admin decommission ADDR
--wait` drains the node to no replicas while fsck stays HEALTHY (polled
while it runs) and the node keeps serving; it gets no new chunks; `admin
nodes` shows it decommissioning, then decommissioned; once stopped, fsck
stays HEALTHY and every file reads back. The decommission survives a
metaserver restart; recommission takes a node back.

Four chunkservers (three replicas), 1 MiB chunks, test timings.
"""
import os

import pytest

from balance import FsckWatch, add_chunk, nodes, replica_counts, wait_nodes_up
from cluster import Cluster, fsck_is, locations, put_bytes, wait_for

MIB = 1024 * 1024
TIMINGS = ("--dead-after", "2s", "--scan-interval", "300ms")


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, nchunks=3, meta_extra=TIMINGS).start()
    yield c
    c.kill()


def fill_four(cluster, tmp_path):
    cluster.cli("mkdir", "/d")
    files = {}
    for i in range(6):
        files["/d/f%d" % i] = os.urandom(MIB + MIB // 2 + 1000 * i)
        put_bytes(cluster, tmp_path, "/d/f%d" % i, files["/d/f%d" % i])
    add_chunk(cluster)
    wait_nodes_up(cluster, 4)
    return files


def get(cluster, tmp_path, remote):
    local = tmp_path / ("got-" + remote.strip("/").replace("/", "-"))
    cluster.cli("get", remote, local, timeout="30s")
    return local.read_bytes()


def state(cluster, addr):
    n = nodes(cluster).get(addr)  # not there before it registers after a restart
    return (n["state"], n["chunks"]) if n else None


def test_drain_then_stop(cluster, tmp_path):
    files = fill_four(cluster, tmp_path)
    victim = cluster.chunks[0]
    assert state(cluster, victim.addr)[1] > 0
    with FsckWatch(cluster) as watch:
        r = cluster.cli.run("admin", "decommission", "--wait", victim.addr, timeout="30s",
                            check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "decommissioned" in r.stdout.strip().splitlines()[-1]
    assert watch.seen and not watch.bad(), watch.seen
    assert state(cluster, victim.addr) == ("decommissioned", 0)
    assert not [r for r in replica_counts(cluster, list(files)) if victim.addr in r]
    # No new chunks on it.
    put_bytes(cluster, tmp_path, "/new", os.urandom(2 * MIB))
    assert all(victim.addr not in l["replicas"] for l in locations(cluster, "/new"))
    # Its files go with the deletes; stopped, nothing is missed.
    wait_for("the victim's replica files deleted", lambda: not victim.replica_files())
    victim.stop()
    wait_for("the victim silent past --dead-after",
             lambda: nodes(cluster)[victim.addr]["state"] == "decommissioned" and
             fsck_is(cluster, "HEALTHY"), 10)
    import time
    time.sleep(2.5)  # past --dead-after: still healthy, still "decommissioned"
    assert fsck_is(cluster, "HEALTHY")
    assert state(cluster, victim.addr) == ("decommissioned", 0)
    files["/new"] = None
    for path, data in files.items():
        if data is not None:
            assert get(cluster, tmp_path, path) == data, path
    reps = replica_counts(cluster, [p for p in files if files[p] is not None])
    assert all(len(set(r)) == 3 for r in reps)


def test_survives_metaserver_restart(cluster, tmp_path):
    files = fill_four(cluster, tmp_path)
    victim = cluster.chunks[1]
    cluster.cli("admin", "decommission", victim.addr)
    assert state(cluster, victim.addr)[0] in ("decommissioning", "decommissioned")
    cluster.meta.kill()
    cluster.meta.start()
    # Not asked again: the metaserver remembers, and finishes.
    wait_for("decommissioned after the restart",
             lambda: state(cluster, victim.addr) == ("decommissioned", 0), 30)
    assert fsck_is(cluster, "HEALTHY")
    for path, data in files.items():
        assert get(cluster, tmp_path, path) == data, path
    # Recommission: back in service, chunks may land there again.
    r = cluster.cli.run("admin", "recommission", victim.addr)
    assert r.returncode == 0
    assert state(cluster, victim.addr)[0] == "up"
    cluster.meta.kill()
    cluster.meta.start()
    wait_for("up after the restart", lambda: (state(cluster, victim.addr) or ("",))[0] == "up",
             30)
