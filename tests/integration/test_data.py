"""The data path end to end: a real cairn-meta (--chunk-size 1M) and three
real cairn-chunk processes, driven through the CLI (put, get, cat,
locations, du, df, stat) and the C API (cprog/data_api). Bytes must come
back exactly, through restarts, a dead chunkserver and a corrupt replica.

Set CAIRN_BENCH=1 (and optionally CAIRN_BENCH_MB, default 512) to also
run test_bench_put_get, which prints put/get throughput; it asserts only
that the bytes came back.
"""
import json
import os
import re
import subprocess
import time

import pytest

from cluster import Cluster, fsck_is, wait_for
from conftest import BIN, cprog

MIB = 1 << 20
SIZES = [0, 1, 65535, 65536, 65537, MIB - 1, MIB, MIB + 1, 3 * MIB + 12345]


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path).start()
    yield c
    c.kill()


def cairn(cluster, *args, input=None, timeout="20s", check=True):
    """Runs the CLI with bytes in and out."""
    argv = [os.path.join(BIN, "cairn"), "--meta", cluster.meta.addr, "--timeout", timeout]
    argv += [str(a) for a in args]
    r = subprocess.run(argv, capture_output=True, input=input, timeout=300)
    if check and r.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(argv), r.returncode,
                                                     r.stderr.decode(errors="replace")))
    return r


def one_error_line(r):
    assert r.returncode == 1, (r.returncode, r.stderr)
    lines = r.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def put_file(cluster, tmp_path, remote, data, *opts):
    local = tmp_path / ("src-" + remote.strip("/").replace("/", "_"))
    local.write_bytes(data)
    cairn(cluster, "put", *opts, local, remote)
    return local


def get_bytes(cluster, tmp_path, remote):
    local = tmp_path / ("dst-" + remote.strip("/").replace("/", "_"))
    cairn(cluster, "get", remote, local)
    return local.read_bytes()


def test_put_get_cat_sizes(cluster, tmp_path):
    cluster.cli("mkdir", "/s")
    for n in SIZES:
        data = os.urandom(n)
        put_file(cluster, tmp_path, "/s/f%d" % n, data)
        assert get_bytes(cluster, tmp_path, "/s/f%d" % n) == data, n
        assert cairn(cluster, "cat", "/s/f%d" % n).stdout == data, n
        st = cluster.cli.json("stat", "/s/f%d" % n)
        assert st["size"] == n and st["chunks"] == (n + MIB - 1) // MIB, (n, st)


def test_put_get_5mib_through_pipes(cluster, tmp_path):
    data = os.urandom(5 * MIB)
    cairn(cluster, "put", "-", "/five", input=data)
    assert cairn(cluster, "get", "/five", "-").stdout == data
    assert get_bytes(cluster, tmp_path, "/five") == data
    # Into a directory, under the source's name, as cp(1).
    cluster.cli("mkdir", "/into")
    local = put_file(cluster, tmp_path, "/five-again", data)
    cairn(cluster, "put", local, "/into")
    assert cairn(cluster, "cat", "/into/" + local.name).stdout == data
    # Overwrite (-f): shorter content replaces longer.
    cairn(cluster, "put", "-f", "-", "/five", input=b"short")
    assert cairn(cluster, "cat", "/five").stdout == b"short"


def test_locations_three_distinct_replicas(cluster, tmp_path):
    data = os.urandom(4 * MIB + 100)
    put_file(cluster, tmp_path, "/loc", data)
    locs = json.loads(cairn(cluster, "locations", "/loc", "--json").stdout)
    assert [l["index"] for l in locs] == [0, 1, 2, 3, 4]
    assert len({l["chunk"] for l in locs}) == 5
    for l in locs:
        assert set(l) == {"index", "offset", "length", "chunk", "version", "replicas"}
        assert l["offset"] == l["index"] * MIB
        assert l["length"] == (MIB if l["index"] < 4 else 100)
        assert l["version"] >= 1
        assert len(l["replicas"]) == 3 and sorted(l["replicas"]) == cluster.addrs, l
    plain = cairn(cluster, "locations", "/loc").stdout.decode().splitlines()
    assert plain[0].split()[:3] == ["INDEX", "OFFSET", "LENGTH"] and len(plain) == 6


def test_put_replication_option(cluster, tmp_path):
    put_file(cluster, tmp_path, "/two", os.urandom(2 * MIB + 1), "-r", "2")
    assert cluster.cli.json("stat", "/two")["replication"] == 2
    locs = json.loads(cairn(cluster, "locations", "--json", "/two").stdout)
    assert locs and all(len(set(l["replicas"])) == 2 for l in locs), locs
    assert cairn(cluster, "put", "-r", "0", "/x", "/y", check=False).returncode == 2


def test_data_api(cluster):
    r = subprocess.run([cprog("data_api"), cluster.meta.addr, str(MIB)], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr


def test_restart_everything_reads_back(cluster, tmp_path):
    files = {}
    for i, n in enumerate([1, MIB, 3 * MIB + 7, 5 * MIB]):
        files["/r%d" % i] = os.urandom(n)
        put_file(cluster, tmp_path, "/r%d" % i, files["/r%d" % i])
    cluster.restart()
    for path, data in files.items():
        assert get_bytes(cluster, tmp_path, path) == data, path
    # And after kill -9 of every process: nothing acknowledged is lost.
    cluster.kill()
    cluster.meta.start()
    for c in cluster.chunks:
        c.start()
    cluster.wait_ready()
    for path, data in files.items():
        assert cairn(cluster, "cat", path).stdout == data, path


def test_chunk_reports_in_pages(tmp_path):
    """Chunkservers whose reports take several pages (3 replicas each here,
    20,000 as shipped) re-register with a restarted metaserver: every
    replica is counted again, fsck is HEALTHY and the file reads back."""
    c = Cluster(tmp_path, chunk_env={"CAIRN_CHUNK_REPORT_PAGE": "3"}).start()
    try:
        data = os.urandom(12 * MIB + 5)
        put_file(c, tmp_path, "/paged", data)
        c.meta.kill()
        c.meta.start()
        c.wait_ready()
        wait_for("fsck HEALTHY", lambda: fsck_is(c, "HEALTHY", "/paged"))
        for ch in c.chunks:
            got = re.findall(r"\((\d+) replicas in (\d+) pages\)", ch.log())
            assert len(got) >= 2, ch.log()
            n, pages = (int(x) for x in got[-1])
            assert n >= 13 and pages == (n + 2) // 3, got
        assert get_bytes(c, tmp_path, "/paged") == data
    finally:
        c.kill()


def test_read_survives_a_dead_chunkserver(cluster, tmp_path):
    data = os.urandom(6 * MIB + 5)
    put_file(cluster, tmp_path, "/dead-read", data)
    cluster.chunks[0].kill()
    t = time.monotonic()
    assert get_bytes(cluster, tmp_path, "/dead-read") == data
    assert time.monotonic() - t < 10


def test_write_survives_a_chunkserver_dying_mid_put(cluster, tmp_path):
    """The library asks for a new chain and resends what was not acknowledged."""
    data = os.urandom(24 * MIB)
    argv = [os.path.join(BIN, "cairn"), "--meta", cluster.meta.addr, "--timeout", "30s",
            "put", "-", "/dead-write"]
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(data[:8 * MIB])
    p.stdin.flush()
    time.sleep(0.5)
    cluster.chunks[1].kill()
    p.stdin.write(data[8 * MIB:])
    p.stdin.close()
    assert p.wait(120) == 0, p.stderr.read().decode()
    assert get_bytes(cluster, tmp_path, "/dead-write") == data


def test_read_survives_a_corrupt_replica(cluster, tmp_path):
    data = os.urandom(2 * MIB)
    put_file(cluster, tmp_path, "/corrupt", data)
    locs = json.loads(cairn(cluster, "locations", "--json", "/corrupt").stdout)
    # Flip bytes in the first replica the metaserver names for each chunk.
    flipped = 0
    for l in locs:
        node = next(c for c in cluster.chunks if c.addr == l["replicas"][0])
        path = node.replica_files()[l["chunk"]]
        with open(path, "r+b") as f:
            f.seek(65536 + 1000)  # past the replica file's 64 KiB header
            b = f.read(4)
            f.seek(65536 + 1000)
            f.write(bytes(x ^ 0xFF for x in b))
        flipped += 1
    assert flipped == 2
    assert get_bytes(cluster, tmp_path, "/corrupt") == data
    assert cairn(cluster, "cat", "/corrupt").stdout == data


def test_get_leaves_no_partial_file(cluster, tmp_path):
    target = tmp_path / "keep"
    target.write_bytes(b"old content")
    err = one_error_line(cairn(cluster, "get", "/missing", target, check=False))
    assert "/missing" in err and "no such file" in err.lower()
    assert target.read_bytes() == b"old content"
    assert not [n for n in os.listdir(tmp_path) if "cairn-get" in n]
    # Every replica gone: the get fails, the old file stays, no temp is left.
    put_file(cluster, tmp_path, "/gone", os.urandom(MIB + 3))
    for c in cluster.chunks:
        c.kill()
    err = one_error_line(cairn(cluster, "get", "/gone", target, timeout="3s", check=False))
    assert "/gone" in err
    assert target.read_bytes() == b"old content"
    assert not [n for n in os.listdir(tmp_path) if "cairn-get" in n]


def test_errors_are_one_line(cluster, tmp_path):
    cluster.cli("mkdir", "/d")
    cases = [
        (("put", tmp_path / "no-such-local", "/x"), "no such file"),
        (("get", "/d", "-"), "is a directory"),  # a directory copies to a directory only
        (("cat", "/nothing"), "no such file"),
        (("locations", "/nothing"), "no such file"),
        (("du", "/nothing"), "no such file"),
        (("put", "-", "/no/such/dir/f"), "no such file"),
    ]
    for args, cause in cases:
        err = one_error_line(cairn(cluster, *args, input=b"x", check=False))
        assert err.startswith("cairn: ") and cause in err.lower(), (args, err)


def test_du_df_stat(cluster, tmp_path):
    cluster.cli("mkdir", "-p", "/u/sub/deeper")
    put_file(cluster, tmp_path, "/u/a", b"x" * 1000)
    put_file(cluster, tmp_path, "/u/sub/b", b"y" * (MIB + 1))
    put_file(cluster, tmp_path, "/u/sub/deeper/c", b"z" * 10)
    lines = cluster.cli("du", "/u").splitlines()
    assert lines == ["1000\t/u/a", "%d\t/u/sub" % (MIB + 11), "%d\t/u" % (MIB + 1011)]
    du = cluster.cli.json("du", "/u")
    assert du["bytes"] == MIB + 1011 and du["files"] == 3 and du["dirs"] == 3
    assert {e["path"]: e["bytes"] for e in du["entries"]} == {"/u/a": 1000,
                                                                "/u/sub": MIB + 11}
    assert cluster.cli("du", "/u/a").strip() == "1000\t/u/a"
    df = cluster.cli.json("df")
    assert df["files"] == 3 and df["bytes"] == MIB + 1011
    assert df["nodes"] == 3 and df["capacity"] > 0 and 0 <= df["used"] <= df["capacity"]
    assert "on 3 chunkservers up" in cluster.cli("df")
    st = cluster.cli("stat", "/u/sub/b")
    assert "size:        %d" % (MIB + 1) in st and "chunks:      2" in st


def test_lease_is_renewed_while_writing(tmp_path):
    """With a 1 s lease, a writer open for 3 s keeps it (renewed every
    lease/3); another writer is refused meanwhile; close releases it."""
    c = Cluster(tmp_path, meta_extra=("--lease", "1s")).start()
    try:
        argv = [os.path.join(BIN, "cairn"), "--meta", c.meta.addr, "--timeout", "20s",
                "append", "-", "/slow"]
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        first, second = os.urandom(3 * MIB), os.urandom(2 * MIB + 3)
        p.stdin.write(first)
        p.stdin.flush()
        for _ in range(3):
            time.sleep(1)
            err = one_error_line(cairn(c, "append", "-", "/slow", input=b"x", check=False))
            assert "/slow" in err and "written by another client" in err, err
        p.stdin.write(second)
        p.stdin.close()
        assert p.wait(60) == 0, p.stderr.read().decode()
        assert cairn(c, "cat", "/slow").stdout == first + second
        cairn(c, "put", "-f", "-", "/slow", input=b"mine now")
        assert cairn(c, "cat", "/slow").stdout == b"mine now"
    finally:
        c.kill()
