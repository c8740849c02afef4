"""Atomic put (issue 10, item 5): `cairn put` writes a hidden temporary
(.NAME.<hex>._COPYING_) next to its target and renames it over the target
only once closed, so a put that fails, is interrupted or is killed never
touches an existing file; an existing target is refused unless -f; the
metaserver removes a dead put's temporary once its write lease expires
(1 s here), also across a metaserver restart. The lease holders of files
written in place are tested with `append`, which writes under the final
name.
"""
import os
import signal
import subprocess

import pytest

from cluster import Cluster, cairn_run, wait_for
from conftest import BIN

MIB = 1 << 20


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, nchunks=2, meta_extra=("--lease", "1s", "--replication", "2")).start()
    yield c
    c.kill()


def cairn(cluster, *args, input=None, check=True):
    return cairn_run(cluster, *args, input=input, check=check)

def names(cluster, d):
    return cairn(cluster, "ls", d).stdout.decode().split()


def temps(cluster, d):
    return [n for n in names(cluster, d) if n.startswith(".") and n.endswith("._COPYING_")]


def start_put(cluster, *args):
    """A put from a pipe, held open: it has written its first 3 MiB once its temporary shows."""
    argv = [os.path.join(BIN, "cairn"), "--meta", cluster.meta.addr, "--timeout", "20s",
            "put"] + list(args)
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(os.urandom(3 * MIB))
    p.stdin.flush()
    return p


def test_existing_target_is_refused_without_f(cluster, tmp_path):
    cairn(cluster, "mkdir", "/d")
    cairn(cluster, "put", "-", "/d/f", input=b"old")
    r = cairn(cluster, "put", "-", "/d/f", input=b"new", check=False)
    lines = r.stderr.decode().strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1, r.stderr
    assert "/d/f" in lines[0] and "exists" in lines[0] and "-f" in lines[0], lines
    local = tmp_path / "f"
    local.write_bytes(b"local")
    r = cairn(cluster, "put", local, "/d", check=False)  # into /d, as /d/f
    assert r.returncode == 1 and "/d/f" in r.stderr.decode(), r.stderr
    assert cairn(cluster, "cat", "/d/f").stdout == b"old"
    assert names(cluster, "/d") == ["f"]  # no temporary left behind
    cairn(cluster, "put", "-f", local, "/d")
    assert cairn(cluster, "cat", "/d/f").stdout == b"local"
    cairn(cluster, "put", "-f", "-", "/d/f", input=b"")
    assert cairn(cluster, "cat", "/d/f").stdout == b""
    assert names(cluster, "/d") == ["f"]


def test_put_killed_midway_leaves_the_old_file_and_its_temporary_goes(cluster):
    cairn(cluster, "mkdir", "/k")
    old = os.urandom(2 * MIB + 7)
    cairn(cluster, "put", "-", "/k/data", input=old)
    p = start_put(cluster, "-f", "-", "/k/data")
    tmp = wait_for("the put's temporary", lambda: temps(cluster, "/k"))
    assert tmp[0].startswith(".data."), tmp
    p.kill()  # SIGKILL: no clean-up by the client
    p.wait()
    assert cairn(cluster, "cat", "/k/data").stdout == old
    assert "data" in names(cluster, "/k")
    wait_for("the temporary removed after its lease", lambda: not temps(cluster, "/k"))
    assert names(cluster, "/k") == ["data"]
    assert "the temporary of a copy whose writer is gone" in cluster.meta.log()
    # A put of a new file killed midway leaves nothing under the final name.
    p = start_put(cluster, "-", "/k/new")
    wait_for("the put's temporary", lambda: temps(cluster, "/k"))
    p.kill()
    p.wait()
    assert cairn(cluster, "stat", "/k/new", check=False).returncode == 1
    wait_for("the temporary removed after its lease", lambda: not temps(cluster, "/k"))


def test_temporary_of_a_put_killed_with_the_metaserver_goes_after_the_grace(cluster):
    cairn(cluster, "mkdir", "/r")
    cairn(cluster, "put", "-", "/r/data", input=b"acknowledged")
    p = start_put(cluster, "-f", "-", "/r/data")
    wait_for("the put's temporary", lambda: temps(cluster, "/r"))
    p.kill()
    p.wait()
    cluster.meta.kill()
    cluster.meta.start()
    assert cairn(cluster, "cat", "/r/data").stdout == b"acknowledged"
    wait_for("the temporary removed after the grace", lambda: not temps(cluster, "/r"))
    assert "not reclaimed after a metaserver restart" in cluster.meta.log()
    assert cairn(cluster, "cat", "/r/data").stdout == b"acknowledged"


def test_interrupted_put_removes_its_temporary_at_once(cluster):
    cairn(cluster, "mkdir", "/i")
    cairn(cluster, "put", "-", "/i/data", input=b"keep me")
    p = start_put(cluster, "-f", "-", "/i/data")
    wait_for("the put's temporary", lambda: temps(cluster, "/i"))
    p.send_signal(signal.SIGINT)
    assert p.wait(60) == 1
    err = p.stderr.read().decode()
    assert "/i/data" in err and "interrupted" in err, err
    assert names(cluster, "/i") == ["data"]
    assert cairn(cluster, "cat", "/i/data").stdout == b"keep me"


def test_a_failed_put_leaves_the_target(cluster):
    """A put whose source fails to read (/proc/self/mem: EIO at offset 0): nothing
    changes, no temporary stays."""
    cairn(cluster, "mkdir", "/e")
    cairn(cluster, "put", "-", "/e/data", input=b"intact")
    r = cairn(cluster, "put", "-f", "/proc/self/mem", "/e/data", check=False)
    err = r.stderr.decode()
    assert r.returncode == 1 and "reading /proc/self/mem" in err, err
    assert names(cluster, "/e") == ["data"]
    assert cairn(cluster, "cat", "/e/data").stdout == b"intact"
