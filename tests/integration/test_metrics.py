"""The daemons' HTTP faces through real processes: the metaserver's
/api/... JSON and /metrics, the chunkservers' --http /metrics.

Both /metrics pages pass `promtool check metrics`; counters move when a
file is put and read back through the CLI (calls, commit latency, bytes
written and read on the chunkservers and, through heartbeats, on the
metaserver); a corrupt replica shows as checksum failures on both sides;
a dead chunkserver shows in /api/nodes, /api/events and the paged
/api/fsck; unknown paths are 404.
"""
import json
import os
import subprocess
import urllib.error
import urllib.request

import pytest

from cluster import Cluster, FirstReplicaFlip, put_bytes, wait_for
from conftest import BIN, free_port

MIB = 1024 * 1024
TIMINGS = ("--dead-after", "2s", "--scan-interval", "500ms")


def http(port, path, method="GET"):
    """(status, body text) of an HTTP request to 127.0.0.1:port."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def api(cluster, path):
    status, body = http(cluster.meta.http_port, path)
    assert status == 200, (path, status, body)
    return json.loads(body)


def parse_metrics(text):
    """{'name{labels}': value} of a Prometheus text page."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def promtool_ok(text):
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def with_http(cluster):
    """Gives every chunkserver of cluster (not started yet) a --http port."""
    for c in cluster.chunks:
        c.http_port = free_port()
        c.extra += ["--http", "127.0.0.1:%d" % c.http_port]
    return cluster


@pytest.fixture
def cluster(tmp_path):
    c = with_http(Cluster(tmp_path, nchunks=3, meta_extra=TIMINGS)).start()
    yield c
    c.kill()


def chunk_metrics(c):
    status, body = http(c.http_port, "/metrics")
    assert status == 200
    return body


def total(cluster, key):
    return sum(parse_metrics(chunk_metrics(c)).get(key, 0) for c in cluster.chunks)


def test_pages_and_404(cluster):
    meta = cluster.meta
    assert http(meta.http_port, "/nope")[0] == 404
    assert http(meta.http_port, "/status")[0] == 404
    assert http(meta.http_port, "/api/nope")[0] == 404
    assert http(meta.http_port, "/api/status", method="POST")[0] == 405
    assert meta.status()["service"] == "cairn-meta"
    nodes = api(cluster, "/api/nodes")
    assert sorted(n["addr"] for n in nodes) == cluster.addrs
    assert all(n["state"] == "up" and n["capacity"] > 0 for n in nodes)
    summary = wait_for("a first scan", lambda: (lambda s: s if s["health"] != "STARTING"
                                                else None)(api(cluster, "/api/summary")))
    assert summary["health"] == "HEALTHY" and summary["nodes"]["up"] == 3
    events = api(cluster, "/api/events")["events"]
    joined = {e["text"].split()[1] for e in events if e["kind"] == "node_joined"}
    assert joined == set(cluster.addrs)
    assert "samples" in api(cluster, "/api/history")
    c = cluster.chunks[0]
    assert http(c.http_port, "/")[0] == 404
    assert http(c.http_port, "/metrics", method="POST")[0] == 405


def test_counters_move_with_work(cluster, tmp_path):
    before_meta = parse_metrics(http(cluster.meta.http_port, "/metrics")[1])
    data = os.urandom(3 * MIB + 123)
    put_bytes(cluster, tmp_path, "/f", data)
    written = total(cluster, "cairn_chunk_written_bytes_total")
    assert written >= 3 * len(data)  # every replica of every chunk
    cluster.cli("get", "/f", tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == data
    assert total(cluster, "cairn_chunk_read_bytes_total") >= len(data)
    assert total(cluster, 'cairn_chunk_calls_total{op="write"}') >= 4
    assert total(cluster, 'cairn_chunk_call_seconds_count{op="read"}') >= 4

    text = http(cluster.meta.http_port, "/metrics")[1]
    promtool_ok(text)
    after = parse_metrics(text)
    assert after['cairn_meta_calls_total{op="open"}'] >= 1
    assert after['cairn_meta_call_seconds_count{op="allocate"}'] >= 1
    assert (after["cairn_meta_oplog_commit_seconds_count"] >
            before_meta.get("cairn_meta_oplog_commit_seconds_count", 0))
    assert after['cairn_meta_nodes{state="up"}'] == 3
    assert after["cairn_meta_chunks"] == 4
    # Heartbeats bring the chunkservers' byte counts to the metaserver.
    wait_for("cluster bytes in the metaserver's metrics", lambda: parse_metrics(
        http(cluster.meta.http_port, "/metrics")[1]).get(
            "cairn_meta_cluster_written_bytes_total", 0) >= 3 * len(data))
    for c in cluster.chunks:
        text = chunk_metrics(c)
        promtool_ok(text)
        m = parse_metrics(text)
        assert m["cairn_chunk_connections"] >= 0
        dirs = [k for k in m if k.startswith("cairn_chunk_dir_used_bytes{")]
        assert dirs == ['cairn_chunk_dir_used_bytes{dir="%s"}' % c.dir]
        assert m[dirs[0]] > 0


def test_checksum_failures_counted(cluster, tmp_path):
    data = os.urandom(MIB // 2)
    put_bytes(cluster, tmp_path, "/bad", data)
    flip = FirstReplicaFlip(cluster, "/bad")

    def read_and_counted():
        # Readers pick the least loaded replica first: follow it until one meets the flip.
        if not (flip.path and flip.repaired()):
            flip.follow()
        cluster.cli("get", "/bad", tmp_path / "back")
        assert (tmp_path / "back").read_bytes() == data  # from another replica
        return total(cluster, "cairn_chunk_checksum_failures_total") >= 1
    wait_for("a reader to meet the bad replica", read_and_counted)
    wait_for("the metaserver counting the corrupt replica", lambda: parse_metrics(
        http(cluster.meta.http_port, "/metrics")[1])["cairn_meta_checksum_failures_total"] >= 1)
    wait_for("a corruption event", lambda: any(
        e["kind"] == "corruption" for e in api(cluster, "/api/events")["events"]))


def test_dead_node_in_nodes_events_and_paged_fsck(tmp_path):
    # Replication 3 on 3 nodes: once one dies, nothing can heal and every chunk stays short.
    cluster = with_http(Cluster(tmp_path, nchunks=3, meta_extra=TIMINGS)).start()
    try:
        cluster.cli("mkdir", "/d")
        for i in range(5):
            cluster.cli("put", "-", "/d/%d" % i, input="x" * (100 + i))
        victim = cluster.chunks[1]
        victim.kill()
        wait_for("the node shown dead", lambda: any(
            n["addr"] == victim.addr and n["state"] == "dead"
            for n in api(cluster, "/api/nodes")))
        wait_for("a node_dead event", lambda: any(
            e["kind"] == "node_dead" and victim.addr in e["text"]
            for e in api(cluster, "/api/events")["events"]))
        # Pages of at most 2 problems, walked to the end, list each file once.
        def walk():
            seen, cursor = [], 1
            for _ in range(100):
                page = api(cluster, "/api/fsck?from=%d&limit=2" % cursor)
                assert len(page["problems"]) <= 2
                seen += [p["path"] for p in page["problems"]]
                if page["done"]:
                    return seen
                cursor = page["next"]
            raise AssertionError("fsck pages never ended")
        paths = wait_for("5 under-replicated files", lambda: (lambda s: s if len(s) == 5
                                                              else None)(walk()))
        assert sorted(paths) == ["/d/%d" % i for i in range(5)]
        assert api(cluster, "/api/summary")["health"] == "DEGRADED"
        assert api(cluster, "/api/fsck?from=abc")["from"] == 1  # a bad cursor: the start
    finally:
        cluster.kill()


def test_chunk_http_flag(tmp_path):
    r = subprocess.run([os.path.join(BIN, "cairn-chunk"), "--data", str(tmp_path / "d"),
                        "--http", "nonsense"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--http" in r.stderr
    r = subprocess.run([os.path.join(BIN, "cairn-chunk"), "--help"], capture_output=True,
                       text=True, timeout=30)
    assert "--http" in r.stdout and "/metrics" in r.stdout


def test_decommission_progress_and_events(tmp_path):
    # Three nodes, files at -r 2: the decommissioned node's replicas find room on the others.
    cluster = Cluster(tmp_path, nchunks=3, meta_extra=TIMINGS).start()
    try:
        cluster.cli("mkdir", "/d")
        for i in range(4):
            put_bytes(cluster, tmp_path, "/d/%d" % i, os.urandom(MIB + i), "-r", "2")
        victim = cluster.chunks[0]
        held = next(n for n in api(cluster, "/api/nodes") if n["addr"] == victim.addr)
        assert held["decommission"] is None and held["replicas"] > 0
        cluster.cli("admin", "decommission", "--wait", victim.addr, timeout="30s")
        node = next(n for n in api(cluster, "/api/nodes") if n["addr"] == victim.addr)
        assert node["state"] == "decommissioned"
        assert node["decommission"] == {"start_replicas": held["replicas"], "left": 0}
        texts = lambda: [e["text"] for e in api(cluster, "/api/events")["events"]
                         if e["kind"] == "decommission"]
        wait_for("the decommission events", lambda: texts()[-1:] == [
            "chunkserver %s is decommissioned" % victim.addr])
        assert texts()[0] == "chunkserver %s: decommission started, %d replicas to move" % (
            victim.addr, held["replicas"])
        m = parse_metrics(http(cluster.meta.http_port, "/metrics")[1])
        assert m['cairn_meta_nodes{state="decommissioned"}'] == 1
        assert m["cairn_meta_replication_copies_total"] >= 1
    finally:
        cluster.kill()


def test_garbage_on_http_ports(cluster):
    import socket
    ports = [cluster.meta.http_port] + [c.http_port for c in cluster.chunks[:1]]
    for port in ports:
        for junk in (os.urandom(4096), b"GET /" + b"x" * 100000 + b" HTTP/1.1\r\n\r\n",
                     b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"X-A: " + b"b" * 40000 + b"\r\n\r\n",
                     b"POST /api/status HTTP/1.1\r\nContent-Length: 999999999\r\n\r\nabc"):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                try:
                    s.sendall(junk)
                    s.recv(4096)
                except OSError:
                    pass  # the server may close first
        assert http(port, "/metrics")[0] == 200
    assert cluster.meta.proc.poll() is None and cluster.chunks[0].proc.poll() is None


def test_rebalance_events_and_counters(tmp_path):
    from balance import add_chunk, wait_nodes_up
    cap = ("--capacity", "40M")
    cluster = Cluster(tmp_path, nchunks=3, meta_extra=TIMINGS, chunk_extra=cap).start()
    try:
        cluster.cli("mkdir", "/d")
        for i in range(6):
            put_bytes(cluster, tmp_path, "/d/%d" % i, os.urandom(MIB + MIB // 2 + i))
        for _ in range(2):
            add_chunk(cluster, *cap)
        wait_nodes_up(cluster, 5)
        cluster.cli("admin", "rebalance", "--wait", timeout="60s")
        kinds = lambda: [e["kind"] for e in api(cluster, "/api/events")["events"]]
        wait_for("rebalancing started and finished", lambda: kinds().count(
            "rebalance_finished") >= 1 and "rebalance_started" in kinds())
        assert kinds().index("rebalance_started") < kinds().index("rebalance_finished")
        m = parse_metrics(http(cluster.meta.http_port, "/metrics")[1])
        assert m["cairn_meta_rebalance_moved_chunks_total"] >= 1
        assert m["cairn_meta_rebalance_moved_bytes_total"] >= MIB // 2
        s = api(cluster, "/api/summary")
        assert s["rebalance"]["moved"] >= 1 and s["rebalance_rate"]["chunks_ps"] > 0
        # Moves are not healing.
        assert "healing_started" not in kinds()
    finally:
        cluster.kill()
