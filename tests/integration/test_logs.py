"""--log-file on both daemons and the metaserver's --audit-log, through
real processes.

Log lines go to the file instead of stderr, and after logrotate moves
the file, SIGHUP makes the daemon write to a new one under the name. The
audit log holds one JSON line per namespace change and admin call (who:
the peer address; what: the call and its arguments; when), and nothing
for reads. A log or audit file that cannot be opened stops the start
with one line naming the flag.
"""
import json
import os
import signal
import subprocess
import time

from cluster import Cluster, wait_for
from conftest import BIN, free_port


def lines(path):
    with open(path) as f:
        return f.read().splitlines()


def test_log_files_and_sighup(tmp_path):
    meta_log, chunk_log = tmp_path / "meta.out", tmp_path / "chunk.out"
    cluster = Cluster(tmp_path, nchunks=1, meta_extra=("--replication", "1", "--log-file",
                                                         str(meta_log)),
                      chunk_extra=("--log-file", str(chunk_log)))
    cluster.start()
    try:
        assert any("cairn-meta serving on" in l for l in lines(meta_log))
        assert any("cairn-chunk serving on" in l for l in lines(chunk_log))
        assert "serving on" not in cluster.meta.log()  # stderr stays quiet
        assert "serving on" not in cluster.chunks[0].log()
        # logrotate: move the files away, SIGHUP, and the next lines go to new files.
        os.rename(meta_log, tmp_path / "meta.out.1")
        os.rename(chunk_log, tmp_path / "chunk.out.1")
        cluster.meta.proc.send_signal(signal.SIGHUP)
        cluster.chunks[0].proc.send_signal(signal.SIGHUP)
        wait_for("new log files", lambda: meta_log.exists() and chunk_log.exists())
        cluster.stop()
        assert any("shutting down" in l for l in lines(meta_log))
        assert any("shutting down" in l for l in lines(chunk_log))
        assert not any("shutting down" in l for l in lines(tmp_path / "meta.out.1"))
    finally:
        cluster.kill()


def test_audit_log(tmp_path):
    audit = tmp_path / "audit.jsonl"
    cluster = Cluster(tmp_path, nchunks=1,
                      meta_extra=("--replication", "1", "--audit-log", str(audit))).start()
    try:
        cli = cluster.cli
        start = len(lines(audit))
        cli("mkdir", "/a")
        cli("put", "-", "/a/f", input="hello")
        cli("mv", "/a/f", "/a/g")
        cli("setrep", "1", "/a/g")
        cli("truncate", "2", "/a/g")
        cli("cat", "/a/g")
        cli("ls", "/a")
        cli("stat", "/a/g")
        cli("rm", "-r", "/a")
        cli("admin", "nodes")
        cli("admin", "fsck")
        cli.run("admin", "decommission", "127.0.0.1:1", check=False)
        got = [json.loads(l) for l in lines(audit)[start:]]
        ops = [g["op"] for g in got]
        # put writes a hidden temporary and renames it over /a/f (refusing an existing one);
        # setrep asks for the nodes in service (to warn when there are too few).
        assert ops == ["mkdir", "open", "rename", "rename", "setattr", "admin_nodes",
                       "truncate", "remove", "admin_nodes", "fsck", "decommission"], ops
        assert got[0]["args"]["path"] == "/a"
        tmp = got[1]["args"]["path"]
        assert tmp.startswith("/a/.f.") and tmp.endswith("._COPYING_")
        assert got[1]["args"]["write"] is True
        assert got[2]["args"] == {"src": tmp, "dst": "/a/f", "noreplace": True}
        assert got[3]["args"] == {"src": "/a/f", "dst": "/a/g", "noreplace": True}  # mv without -f
        assert got[6]["args"] == {"path": "/a/g", "size": 2}
        assert got[7]["args"] == {"path": "/a", "recursive": True}
        assert got[10]["args"]["addr"] == "127.0.0.1:1"
        for g in got:
            host, port = g["peer"].rsplit(":", 1)
            assert host == "127.0.0.1" and int(port) > 0
            assert time.strptime(g["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    finally:
        cluster.kill()


def test_unopenable_files_stop_the_start(tmp_path):
    nowhere = str(tmp_path / "no" / "such" / "file")
    r = subprocess.run([os.path.join(BIN, "cairn-meta"), "--data", str(tmp_path / "m"),
                        "--listen", "127.0.0.1:%d" % free_port(), "--http",
                        "127.0.0.1:%d" % free_port(), "--audit-log",
                        nowhere], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "--audit-log" in r.stderr and nowhere in r.stderr
    assert not (tmp_path / "m").exists()  # nothing else happened
    for prog, args in (("cairn-meta", ["--data", str(tmp_path / "m")]),
                       ("cairn-chunk", ["--data", str(tmp_path / "c")])):
        r = subprocess.run([os.path.join(BIN, prog), "--log-file", nowhere] + args,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1, (prog, r.stderr)
        assert r.stderr.strip().splitlines() == [
            "%s: --log-file %s: No such file or directory" % (prog, nowhere)]
