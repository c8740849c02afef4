"""Fixtures for the integration suite: real cairn processes on loopback.

Every test gets its own temp dir and free ports; daemons are started from
the build tree ($CAIRN_BUILD, else ./build) and driven through the CLI, the
C test programs in build/tests and (later) the Python package.
"""
import json
import os
import signal
import socket
import subprocess
import time

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("CAIRN_BUILD", os.path.join(TOP, "build"))
BIN = os.path.join(BUILD, "bin")


_given_ports = set()


def free_port():
    """A loopback port free now and never handed out before in this run (the
    kernel may offer a just-released port again)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _given_ports:
            _given_ports.add(port)
            return port
    raise RuntimeError("no fresh free port after 100 tries")


def listens(pid, port):
    """Whether process pid has a socket listening on port (another process
    may hold it: a port can be taken between free_port() and our bind)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            col = row.split()
            if col[3] == "0A" and int(col[1].rsplit(":", 1)[1], 16) == port:
                inodes.add("socket:[%s]" % col[9])
    fd_dir = "/proc/%d/fd" % pid
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(os.path.join(fd_dir, fd)) in inodes:
                return True
        except OSError:
            pass
    return False


def wait_listening(proc, port, seconds=30.0):
    """Waits until proc listens on port; False if it exits or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if listens(proc.pid, port):
            return True
        time.sleep(0.02)
    return False


def wait_port(port, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Meta:
    """One cairn-meta process with its own data dir and ports."""

    def __init__(self, tmp, *extra):
        self.dir = os.path.join(str(tmp), "meta")
        self.port = free_port()
        self.http_port = free_port()
        self.addr = "127.0.0.1:%d" % self.port
        self.extra = list(extra)
        self.log_path = os.path.join(str(tmp), "meta.log")
        self.proc = None

    def argv(self):
        return [os.path.join(BIN, "cairn-meta"), "--data", self.dir, "--listen", self.addr,
                "--http", "127.0.0.1:%d" % self.http_port] + self.extra

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL)
        log.close()
        if not wait_listening(self.proc, self.port):
            raise RuntimeError("cairn-meta did not start:\n" + self.log())
        return self

    def stop(self):
        """SIGTERM and wait; returns the exit status."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("cairn-meta ignored SIGTERM")
        return self.proc.returncode if self.proc else None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self):
        self.stop()
        return self.start()

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def status(self):
        import urllib.request
        with urllib.request.urlopen("http://127.0.0.1:%d/api/status" % self.http_port,
                                    timeout=5) as r:
            return json.load(r)


class Cli:
    """Runs build/bin/cairn against one metaserver."""

    def __init__(self, addr):
        self.addr = addr

    def run(self, *args, timeout="10s", check=True, input=None):
        argv = [os.path.join(BIN, "cairn"), "--meta", self.addr, "--timeout", timeout]
        argv += [str(a) for a in args]
        r = subprocess.run(argv, capture_output=True, text=True, input=input, timeout=120)
        if check and r.returncode != 0:
            raise AssertionError("%s failed (%d): %s" % (" ".join(argv), r.returncode,
                                                         r.stderr.strip()))
        return r

    def __call__(self, *args, **kw):
        return self.run(*args, **kw).stdout

    def json(self, *args):
        return json.loads(self.run(*args, "--json").stdout)

    def fails(self, *args, timeout="10s"):
        """Runs a command that must fail; returns its one-line stderr."""
        r = self.run(*args, timeout=timeout, check=False)
        assert r.returncode == 1, "expected exit 1 from %s, got %d (%s)" % (
            args, r.returncode, r.stdout + r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, "expected one error line, got: %r" % r.stderr
        return lines[0]


def cprog(name):
    return os.path.join(BUILD, "tests", name)


@pytest.fixture
def meta(tmp_path):
    m = Meta(tmp_path).start()
    yield m
    m.kill()


@pytest.fixture
def cli(meta):
    return Cli(meta.addr)
