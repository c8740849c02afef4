"""Durability of the namespace through real restarts: clean SIGTERM, kill -9
in the middle of a stream of mutations from several clients, checkpoints
written while clients keep going."""
import os
import threading
import time

from conftest import Cli, Meta


def listing(cli, path):
    return set(cli("ls", path).split())


def test_clean_restart_keeps_everything(meta, cli):
    cli("mkdir", "-p", "/a/b/c")
    cli("mkdir", "/a/x")
    cli("mv", "/a/x", "/a/b/y")
    cli("setrep", "2", "/a/b")
    cli("rm", "-r", "/a/b/c")
    before = cli("ls", "-l", "-R", "/")
    assert meta.stop() == 0
    assert "checkpoint" in meta.log()
    meta.start()
    assert cli("ls", "-l", "-R", "/") == before
    # A second restart, this time from the checkpoint alone.
    meta.restart()
    assert cli("ls", "-l", "-R", "/") == before


class Client(threading.Thread):
    """Mutates its own directory through the CLI until told to stop or the
    server dies; remembers what was acknowledged."""

    def __init__(self, cli, k):
        super().__init__(daemon=True)
        self.cli, self.dir = cli, "/c%d" % k
        self.acked = set()    # names present after every acknowledged call
        self.maybe = set()    # the name of the call in flight when the server died
        self.stop = threading.Event()
        self.calls = 0  # mutations acknowledged
        self.cli("mkdir", self.dir)

    def call(self, *args):
        ok = self.cli.run(*args, timeout="2s", check=False).returncode == 0
        self.calls += ok
        return ok

    def run(self):
        i = 0
        while not self.stop.is_set():
            i += 1
            name = "d%d" % i
            if not self.call("mkdir", "%s/%s" % (self.dir, name)):
                self.maybe.add(name)
                return
            self.acked.add(name)
            if i % 5 == 0:
                new = "m%d" % i
                if not self.call("mv", "%s/%s" % (self.dir, name), "%s/%s" % (self.dir, new)):
                    self.maybe |= {name, new}
                    self.acked.discard(name)
                    return
                self.acked.discard(name)
                self.acked.add(new)
            if i % 7 == 0:
                victim = "d%d" % (i - 1)
                if victim in self.acked:
                    if not self.call("rm", "-r", "%s/%s" % (self.dir, victim)):
                        self.maybe.add(victim)
                        self.acked.discard(victim)
                        return
                    self.acked.discard(victim)

    def check(self, cli):
        got = listing(cli, self.dir)
        missing = self.acked - got
        extra = got - self.acked - self.maybe
        assert not missing, "%s lost acknowledged entries %s" % (self.dir, sorted(missing))
        assert not extra, "%s has entries never created %s" % (self.dir, sorted(extra))


def test_kill9_during_mutations_loses_nothing_acknowledged(tmp_path):
    meta = Meta(tmp_path, "--checkpoint-records", "150").start()
    try:
        cli = Cli(meta.addr)
        clients = [Client(cli, k) for k in range(4)]
        for c in clients:
            c.start()
        # enough acknowledged mutations for a checkpoint (150 records) and more
        deadline = time.monotonic() + 60
        while sum(c.calls for c in clients) < 300 and time.monotonic() < deadline:
            time.sleep(0.1)
        meta.kill()  # SIGKILL while every client is mid-stream
        for c in clients:
            c.join(30)
            assert not c.is_alive()
        assert sum(c.calls for c in clients) >= 300
        assert any(n.startswith("checkpoint.") for n in os.listdir(meta.dir))
        meta.start()
        for c in clients:
            c.check(cli)
        meta.kill()
        meta.start()
        for c in clients:
            c.check(cli)
    finally:
        meta.kill()


def segments(meta):
    return sorted(n for n in os.listdir(meta.dir) if n.startswith("oplog.")
                  and "corrupt" not in n)


def test_checkpoint_removes_covered_log_segments(tmp_path):
    meta = Meta(tmp_path, "--checkpoint-records", "20").start()
    try:
        cli = Cli(meta.addr)
        for r in range(3):  # each start after a kill -9 opens a new segment
            for i in range(5):
                cli("mkdir", "/r%d-%d" % (r, i))
            meta.kill()
            meta.start()
        assert len(segments(meta)) >= 3
        for i in range(40):
            cli("mkdir", "/d%d" % i)
        deadline = time.monotonic() + 10
        # The second checkpoint removes what the first no longer needs: the
        # log behind the older of the two checkpoints kept is kept too.
        while meta.status()["checkpoint_seq"] < 40 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert meta.status()["checkpoint_seq"] >= 40
        assert len(segments(meta)) == 1, segments(meta)
        meta.kill()
        meta.start()
        assert len(listing(cli, "/")) == 55
        assert meta.status()["inodes"] == 56
    finally:
        meta.kill()
