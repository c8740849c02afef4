"""Small files through the one-step open: a writer's open that creates or
truncates a file also allocates its chunk 0 (OpenReq.allocate), a reader's
open brings the first chunk locations (OpenReq.locations), and a release
drops chunks allocated past the final size. Real cairn-meta (--chunk-size
1M) and three cairn-chunk processes, driven through the CLI.
"""
import os
import subprocess
import time

import pytest

from cluster import Cluster, fsck_is, locations, wait_for
from conftest import BIN

MIB = 1 << 20


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path).start()
    yield c
    c.kill()


def cairn(cluster, *args, input=None, check=True):
    argv = [os.path.join(BIN, "cairn"), "--meta", cluster.meta.addr, "--timeout", "20s"]
    r = subprocess.run(argv + [str(a) for a in args], capture_output=True, input=input,
                       timeout=120)
    if check and r.returncode != 0:
        raise AssertionError("%s failed: %s" % (args, r.stderr.decode(errors="replace")))
    return r


def stat_json(cluster, path):
    return cluster.cli.json("stat", path)


def test_small_files_round_trip_with_the_chunk_they_need(cluster):
    sizes = [0, 1, 4096, 65535, 65536, 65537, MIB, MIB + 1]
    files = {"/s/f%d" % i: os.urandom(n) for i, n in enumerate(sizes)}
    cairn(cluster, "mkdir", "/s")
    for path, data in files.items():
        cairn(cluster, "put", "-", path, input=data)
    for path, data in files.items():
        assert cairn(cluster, "cat", path).stdout == data, path
        st = stat_json(cluster, path)
        # The chunk allocated with the open of an empty file is gone after close.
        assert st["size"] == len(data) and st["chunks"] == (len(data) + MIB - 1) // MIB, st
        for loc in locations(cluster, path):
            assert len(set(loc["replicas"])) == 3, loc
    # Replacing (put -f: a new file renamed over the old) drops the old chunks.
    cairn(cluster, "put", "-f", "-", "/s/f7", input=b"short")
    assert cairn(cluster, "cat", "/s/f7").stdout == b"short"
    assert stat_json(cluster, "/s/f7")["chunks"] == 1
    cairn(cluster, "put", "-f", "-", "/s/f7", input=b"")
    assert stat_json(cluster, "/s/f7")["chunks"] == 0
    wait_for("fsck HEALTHY", lambda: fsck_is(cluster, "HEALTHY"))


def test_second_writer_is_refused_while_the_first_holds_the_file(cluster):
    argv = [os.path.join(BIN, "cairn"), "--meta", cluster.meta.addr, "--timeout", "20s",
            "append", "-", "/busy"]
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    first = os.urandom(70000)
    p.stdin.write(first)
    p.stdin.flush()
    # The first writer's open (and its chunk 0) is done once the file exists.
    wait_for("the first writer's open", lambda: cairn(cluster, "stat", "/busy",
                                                      check=False).returncode == 0)
    r = cairn(cluster, "append", "-", "/busy", input=b"second", check=False)
    err = r.stderr.decode()
    assert r.returncode == 1 and "/busy" in err and "written by another client" in err, err
    p.stdin.close()
    assert p.wait(60) == 0, p.stderr.read().decode()
    assert cairn(cluster, "cat", "/busy").stdout == first
    cairn(cluster, "put", "-f", "-", "/busy", input=b"second")
    assert cairn(cluster, "cat", "/busy").stdout == b"second"


def test_metaserver_kill9_after_small_files_loses_nothing_acknowledged(cluster):
    files = {"/k/f%d" % i: os.urandom(i * 997 % 70000) for i in range(40)}
    cairn(cluster, "mkdir", "/k")
    for path, data in files.items():
        cairn(cluster, "put", "-", path, input=data)
    cluster.meta.kill()  # SIGKILL right after the last close was acknowledged
    cluster.meta.start()
    # Chunkservers re-register by themselves; then every byte is back.
    for path, data in files.items():
        got = wait_for("%s readable after the restart" % path,
                       lambda: (lambda r: r.returncode == 0 and r)(
                           cairn(cluster, "cat", path, check=False)))
        assert got.stdout == data, path
        assert stat_json(cluster, path)["size"] == len(data)
    wait_for("fsck HEALTHY", lambda: fsck_is(cluster, "HEALTHY"))
