"""A small real cluster on loopback for data-path tests: one cairn-meta
and N cairn-chunk processes, each with its own temp dir and free port.

Builds on conftest's Meta and Cli. The metaserver runs with test timings
(--chunk-size 1M, --heartbeat 200ms); Cluster.start() returns once a tiny
file can be written with one replica on every chunkserver, that is, once
the metaserver knows them all.
"""
import json
import os
import signal
import subprocess
import time

from conftest import BIN, Cli, Meta, free_port, wait_listening


class Chunk:
    """One cairn-chunk process with its own data dir and port."""

    def __init__(self, tmp, meta_addr, name, *extra, env=None):
        self.name = name
        self.env = dict(os.environ, **env) if env else None
        self.dir = os.path.join(str(tmp), name)
        self.port = free_port()
        self.addr = "127.0.0.1:%d" % self.port
        self.meta_addr = meta_addr
        self.extra = list(extra)
        self.log_path = os.path.join(str(tmp), name + ".log")
        self.proc = None

    def argv(self):
        return [os.path.join(BIN, "cairn-chunk"), "--meta", self.meta_addr, "--listen",
                self.addr, "--data", self.dir] + self.extra

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        first = self.proc is None
        for _ in range(3):
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL, env=self.env)
            log.close()
            if wait_listening(self.proc, self.port):
                return self
            self.kill()
            if not (first and "Address already in use" in self.log()):
                break
            self.port = free_port()  # taken by another process since free_port()
            self.addr = "127.0.0.1:%d" % self.port
        raise RuntimeError("cairn-chunk %s did not start:\n%s" % (self.name, self.log()))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("cairn-chunk %s ignored SIGTERM" % self.name)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def replica_files(self):
        """Paths of the replica files in the data dir, by chunk id."""
        out = {}
        for root, _, names in os.walk(self.dir):
            for n in names:
                if n.endswith(".chk"):
                    try:
                        out[int(n[:-4], 16)] = os.path.join(root, n)
                    except ValueError:
                        pass
        return out


class Cluster:
    def __init__(self, tmp, nchunks=3, chunk_size="1M", meta_extra=(), chunk_extra=(),
                 chunk_env=None):
        self.tmp = str(tmp)
        # --delete-grace shortened as the other timings: replicas unknown to
        # the namespace (a file removed while its node was away) go after 2 s.
        self.meta = Meta(tmp, "--chunk-size", chunk_size, "--heartbeat", "200ms",
                         "--delete-grace", "2s", *meta_extra)
        self.chunks = [Chunk(tmp, self.meta.addr, "chunk%d" % i, *chunk_extra, env=chunk_env)
                       for i in range(nchunks)]
        self.cli = Cli(self.meta.addr)

    @property
    def addrs(self):
        return sorted(c.addr for c in self.chunks)

    def start(self):
        try:
            self.meta.start()
            for c in self.chunks:
                c.start()
            self.wait_ready()
        except BaseException:
            self.kill()  # no daemons left behind by a cluster that never came up
            raise
        return self

    def wait_ready(self, seconds=30.0):
        """Waits until a file put now gets a replica on every chunkserver."""
        deadline = time.monotonic() + seconds
        want = len(self.chunks)
        last = ""
        while time.monotonic() < deadline:
            r = self.cli.run("put", "-f", "-", "/.cairn-ready", input="ready\n", timeout="2s",
                             check=False)
            if r.returncode == 0:
                locs = self.cli.run("locations", "--json", "/.cairn-ready", timeout="2s",
                                    check=False)
                if locs.returncode == 0:
                    got = json.loads(locs.stdout)
                    if got and len(set(got[0]["replicas"])) == want:
                        self.cli.run("rm", "/.cairn-ready", check=False)
                        return
                    last = locs.stdout
            else:
                last = r.stderr
            time.sleep(0.1)
        raise RuntimeError("the metaserver never saw %d chunkservers: %s\n%s" % (
            want, last.strip(), self.meta.log()[-3000:]))

    def stop(self):
        for c in self.chunks:
            c.stop()
        self.meta.stop()

    def kill(self):
        for c in self.chunks:
            c.kill()
        self.meta.kill()

    def restart(self):
        self.stop()
        self.meta.start()
        for c in self.chunks:
            c.start()
        self.wait_ready()


def pause(chunk):
    """SIGSTOP: the chunkserver hangs (its sockets stay open, nothing answers)."""
    chunk.proc.send_signal(signal.SIGSTOP)


def resume(chunk):
    chunk.proc.send_signal(signal.SIGCONT)


def by_addr(cluster, addr):
    """The Chunk of cluster listening on addr."""
    return next(c for c in cluster.chunks if c.addr == addr)


def locations(cluster, path, timeout="20s"):
    """`cairn locations --json PATH` as a list of dicts."""
    return json.loads(cluster.cli.run("locations", "--json", path, timeout=timeout).stdout)


def wait_for(what, pred, seconds=30.0, every=0.1):
    """Polls pred() until it returns something true; returns it, or fails naming what."""
    deadline = time.monotonic() + seconds
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() >= deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(every)


def put_bytes(cluster, tmp_path, remote, data, *opts):
    """Writes data to a local file under tmp_path and `cairn put`s it to remote."""
    local = tmp_path / ("local-" + remote.strip("/").replace("/", "-"))
    local.write_bytes(data)
    cluster.cli("put", *opts, local, remote)


def fsck(cluster, *args, timeout="20s"):
    """`cairn admin fsck --json [PATH]`: (exit status, the report or None)."""
    r = cluster.cli.run("admin", "fsck", "--json", *args, timeout=timeout, check=False)
    return r.returncode, (json.loads(r.stdout) if r.stdout.strip() else None)


def fsck_is(cluster, status, *path):
    """fsck's (exit status, report) when its status is status, else None."""
    rc, report = fsck(cluster, *path)
    return (rc, report) if report and report["status"] == status else None


class FirstReplicaFlip:
    """Keeps n bytes flipped in the replica of path's first chunk that
    readers try first. Readers take the least loaded replica first and
    loads change with heartbeats, so follow() moves the flip (putting the
    old replica's bytes back) whenever another replica is listed first.
    path and good are the flipped file and its good bytes."""

    def __init__(self, cluster, remote, offset=1000, n=4):
        self.cluster, self.remote, self.offset, self.n = cluster, remote, offset, n
        self.path = self.good = self.chunk = None

    def follow(self):
        first = locations(self.cluster, self.remote)[0]
        holder = by_addr(self.cluster, first["replicas"][0])
        path = holder.replica_files()[first["chunk"]]
        if path != self.path:
            if self.path and os.path.exists(self.path):
                with open(self.path, "r+b") as f:
                    f.seek(65536 + self.offset)
                    f.write(self.good)
            self.path, self.good = flip_replica(holder, first["chunk"], self.offset, self.n)
            self.chunk, self.holder = first["chunk"], holder

    def repaired(self):
        """Whether the flipped replica file is gone or holds good bytes again."""
        if not os.path.exists(self.path):
            return True
        with open(self.path, "rb") as f:
            f.seek(65536 + self.offset)
            return f.read(self.n) == self.good


def flip_replica(chunk, chunk_id, offset=1000, n=4):
    """Inverts n data bytes of chunk's replica of chunk_id (past the 64 KiB
    header); returns the file's path and the bytes it held there."""
    path = chunk.replica_files()[chunk_id]
    with open(path, "r+b") as f:
        f.seek(65536 + offset)
        good = f.read(n)
        f.seek(65536 + offset)
        f.write(bytes(x ^ 0xFF for x in good))
    return path, good


def module_cluster(tmp_path_factory, name, nchunks=1, replication=1):
    """For a module-scoped fixture (`yield from`): a started cluster of nchunks
    chunkservers keeping `replication` copies of a file, killed after the module."""
    c = Cluster(tmp_path_factory.mktemp(name), nchunks=nchunks,
                meta_extra=("--replication", str(replication))).start()
    yield c
    c.kill()


def cairn_run(cluster, *args, input=None, check=True, timeout="20s"):
    """Runs the CLI against cluster with bytes in and out; with check, a failure raises
    with its stderr. Returns the CompletedProcess."""
    argv = [os.path.join(BIN, "cairn"), "--meta", cluster.meta.addr, "--timeout", timeout]
    r = subprocess.run(argv + [str(a) for a in args], capture_output=True, input=input,
                       timeout=300)
    if check and r.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(argv + [str(a) for a in args]),
                                                     r.returncode,
                                                     r.stderr.decode(errors="replace")))
    return r
