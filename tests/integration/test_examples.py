"""The examples of client/python/examples, end to end against a real
cluster: upload_store.py as three app-server processes sharing it, and
batch_job.py with its locality plan checked against the chunk locations.
Shares test_python's set-up (see its text for the ASan arrangement).
"""
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest

from conftest import free_port, wait_port
from test_python import PYDIR, _in_process_only, cluster, fs, py_env  # noqa: F401 (fixtures)

EXAMPLES = os.path.join(PYDIR, "examples")
MIB = 1 << 20


@pytest.fixture
def stores(cluster, tmp_path):
    """Three upload_store processes on free ports; yields their base URLs."""
    procs, urls = [], []
    try:
        for i in range(3):
            port = free_port()
            log = open(tmp_path / ("store%d.log" % i), "wb")
            procs.append(subprocess.Popen(
                [sys.executable, os.path.join(EXAMPLES, "upload_store.py"), "--meta",
                 cluster.meta.addr, "--listen", "127.0.0.1:%d" % port, "--root", "/store"],
                stdout=log, stderr=subprocess.STDOUT, env=py_env()))
            log.close()
            urls.append("http://127.0.0.1:%d" % port)
            assert wait_port(port, 60) and procs[-1].poll() is None, (
                tmp_path / ("store%d.log" % i)).read_text()
        yield urls
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0, 0, 0]


def post(url, data):
    req = urllib.request.Request(url + "/upload", data=data, method="POST")
    with urllib.request.urlopen(req, timeout=60) as r:
        assert r.status == 201
        return json.load(r)


def fetch(url):
    with urllib.request.urlopen(url, timeout=60) as r:
        return r.read()


def test_upload_store_across_processes(stores, fs):
    rnd = random.Random(3)
    blobs = [rnd.randbytes(n) for n in (0, 1, 1000, MIB - 1, 3 * MIB + 7)] + [b"same" * 5000] * 4
    results = [None] * len(blobs)
    errors = []

    def upload(i):
        try:
            results[i] = post(stores[i % 3], blobs[i])
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(len(blobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for i, blob in enumerate(blobs):
        digest = hashlib.sha256(blob).hexdigest()
        assert results[i]["id"] == digest and results[i]["size"] == len(blob)
        # served back by another process than the one it was uploaded to
        assert fetch(stores[(i + 1) % 3] + results[i]["url"]) == blob
    stored = [p for _, _, files in fs.walk("/store") for p in files]
    assert sorted(stored) == sorted({hashlib.sha256(b).hexdigest() for b in blobs})
    assert fs.ls("/store/.incoming") == []  # no temporary file left
    again = post(stores[2], blobs[3])
    assert again["id"] == results[3]["id"] and again["new"] is False
    with pytest.raises(urllib.error.HTTPError) as e:
        fetch(stores[0] + "/files/" + "0" * 64)
    assert e.value.code == 404
    with pytest.raises(urllib.error.HTTPError) as e:
        fetch(stores[0] + "/files/../../etc")
    assert e.value.code == 404
    assert fetch(stores[1] + "/healthz") == b"ok\n"


def run_batch(cluster, *args):
    r = subprocess.run([sys.executable, os.path.join(EXAMPLES, "batch_job.py"), "--meta",
                        cluster.meta.addr] + list(args), capture_output=True, text=True,
                       env=py_env(), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_batch_job_reads_where_the_data_is(cluster, fs):
    rnd = random.Random(5)
    want = {}
    fs.mkdir("/dataset/sub", parents=True)
    for i in range(24):
        path = "/dataset/%spart-%02d.csv" % ("sub/" if i % 5 == 0 else "", i)
        data = b"".join(b"%d,%d,%s\n" % (i, r, b"y" * rnd.randrange(60))
                        for r in range(rnd.randrange(10, 40000)))
        with fs.open(path, "wb", replication=1) as f:  # one replica: spread over the nodes
            f.write(data)
        want[path] = data
    fs.write_bytes("/dataset/empty", b"")
    want["/dataset/empty"] = b""
    out = json.loads(run_batch(cluster, "--json", "/dataset"))
    # Every file once, to the worker of its first chunk's first replica.
    assigned = {p: key for key, paths in out["plan"].items() for p in paths}
    assert sorted(assigned) == sorted(want)
    for path in want:
        if want[path]:
            first = fs.locations(path)[0]["replicas"][0]
            assert assigned[path] == first == out["first_replica"][path]
    assert set(out["plan"]) <= set(cluster.addrs) and len(out["plan"]) >= 2
    # Each worker is its own process and read exactly its files, correctly.
    assert len({w["pid"] for w in out["workers"]}) == len(out["workers"])
    for w in out["workers"]:
        assert [f["path"] for f in w["files"]] == out["plan"][w["key"]]
        for f in w["files"]:
            data = want[f["path"]]
            assert f["bytes"] == len(data) and f["lines"] == data.count(b"\n")
            assert f["sha256"] == hashlib.sha256(data).hexdigest()
    assert out["bytes"] == sum(len(d) for d in want.values())
    text = run_batch(cluster, "/dataset")
    assert "25 files" in text and "worker for 127.0.0.1:" in text


def test_batch_job_makes_a_sample_dataset(cluster, fs):
    assert "wrote 5 files" in run_batch(cluster, "--make-dataset", "5", "/sample")
    assert len(fs.ls("/sample")) == 5
    out = json.loads(run_batch(cluster, "--json", "/sample"))
    assert sum(len(f["files"]) for f in out["workers"]) == 5
