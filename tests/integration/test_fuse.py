"""cairn-fuse: a real cluster, a real mount, real programs.

The POSIX conformance check runs the same list of calls on the mount and
on a local temp directory and expects the same outcome (errno by errno).
Then unmodified programs (tar, cp -a, rsync, git, sqlite, zipfile, find,
du), two mounts of one cluster (close-to-open both ways), and faults
through the mount (a chunkserver killed mid-read, the metaserver
restarted mid-copy, the metaserver gone: EIO after --timeout, never a
hung mount). Skipped when /dev/fuse or fusermount3 is missing.
"""
import ctypes
import errno
import hashlib
import mmap
import os
import shutil
import signal
import sqlite3
import subprocess
import time

import pytest

from cluster import Cluster, by_addr, flip_replica, locations
from conftest import BIN

FUSE = os.path.join(BIN, "cairn-fuse")

pytestmark = pytest.mark.skipif(
    not os.path.exists("/dev/fuse") or shutil.which("fusermount3") is None
    or not os.path.exists(FUSE),
    reason="needs /dev/fuse, fusermount3 and build/bin/cairn-fuse")


class Mount:
    """One cairn-fuse process in the foreground, mounted at tmp/name."""

    def __init__(self, tmp, meta_addr, name="mnt", *extra):
        self.dir = os.path.join(str(tmp), name)
        self.log_path = os.path.join(str(tmp), name + ".log")
        self.argv = [FUSE, "--meta", meta_addr, *extra, self.dir, "-f"]
        self.proc = None

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + 20
        while not os.path.ismount(self.dir):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("cairn-fuse did not mount:\n" + self.log())
            time.sleep(0.02)
        return self

    def stop(self):
        """fusermount3 -u; returns cairn-fuse's exit status."""
        if self.proc and self.proc.poll() is None:
            subprocess.run(["fusermount3", "-u", self.dir], capture_output=True)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if os.path.ismount(self.dir):
            subprocess.run(["fusermount3", "-uz", self.dir], capture_output=True)
        return self.proc.returncode

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def path(self, *names):
        return os.path.join(self.dir, *names)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuse")
    c = Cluster(tmp, nchunks=3).start()
    m = Mount(tmp, c.meta.addr, "mnt", "--timeout", "10s").start()
    yield c, m, tmp
    m.stop()
    c.kill()


@pytest.fixture
def mnt(world, request):
    """A fresh directory on the shared mount for one test."""
    d = world[1].path(request.node.name.replace("[", "_").replace("]", ""))
    os.mkdir(d)
    return d


def run(cmd, cwd, timeout=60, **kw):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                       shell=isinstance(cmd, str), **kw)
    assert r.returncode == 0, "%s failed (%d): %s" % (cmd, r.returncode, r.stderr[-2000:])
    return r.stdout


# ---- POSIX conformance: the same calls on the mount and on a local dir ------

_libc = ctypes.CDLL(None, use_errno=True)
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2


def renameat2(a, b, flags):
    if _libc.renameat2(-100, a.encode(), -100, b.encode(), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def slurp(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def conformance(root):
    """Runs every case under root; returns [(name, outcome)]: 0, an errno name,
    or a value the case reads back."""
    p = lambda *n: os.path.join(root, *n)  # noqa: E731
    os.mkdir(p("d"))
    os.mkdir(p("full"))
    with open(p("full", "x"), "w") as f:
        f.write("x")
    with open(p("f"), "w") as f:
        f.write("hello")
    long = "n" * 256

    def wopen(path, flags=os.O_WRONLY):
        os.close(os.open(path, flags, 0o644))

    def wr_rdonly():
        fd = os.open(p("f"), os.O_RDONLY)
        try:
            os.write(fd, b"x")
        finally:
            os.close(fd)

    def read_dir():
        fd = os.open(p("d"), os.O_RDONLY)
        try:
            os.read(fd, 10)
        finally:
            os.close(fd)

    def lseek_neg():
        fd = os.open(p("f"), os.O_RDONLY)
        try:
            os.lseek(fd, -10, os.SEEK_SET)
        finally:
            os.close(fd)

    def append():
        with open(p("ap"), "a") as f:
            f.write("one\n")
        with open(p("ap"), "a") as f:
            f.write("two\n")
        with open(p("ap")) as f:
            return f.read()

    def truncate_grow_cut():
        with open(p("t"), "wb") as f:
            f.write(b"abc")
        os.truncate(p("t"), 10)
        grown = slurp(p("t"), "rb")
        with open(p("t"), "r+b") as f:
            f.truncate(0)
            f.write(b"zz")
        return grown, slurp(p("t"), "rb")

    def shrink():
        with open(p("s"), "wb") as f:
            f.write(b"abcdefgh" * 100000)
        os.truncate(p("s"), 3)
        cut = slurp(p("s"), "rb")
        with open(p("s"), "r+b") as f:
            f.seek(0, 2)
            f.write(b"XYZ")
            f.flush()
            f.truncate(4)
            f.write(b"!")
        return cut, slurp(p("s"), "rb"), os.stat(p("s")).st_size

    def pwrite_read():
        fd = os.open(p("rw"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.pwrite(fd, b"0123456789", 0)
            os.pwrite(fd, b"AB", 4)
            return os.pread(fd, 20, 0), os.fstat(fd).st_size
        finally:
            os.close(fd)

    def modes_times():
        os.chmod(p("f"), 0o640)
        os.utime(p("f"), ns=(1_000_000_123_456_000, 1_500_000_000_654_000))
        st = os.stat(p("f"))
        return oct(st.st_mode & 0o7777), st.st_atime_ns, st.st_mtime_ns

    def rename_replace():
        with open(p("r1"), "w") as f:
            f.write("new")
        with open(p("r2"), "w") as f:
            f.write("old")
        os.rename(p("r1"), p("r2"))
        return slurp(p("r2")), os.path.exists(p("r1"))

    def unlinked_open():
        fd = os.open(p("u"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.write(fd, b"still here")
            os.unlink(p("u"))
            gone = os.path.exists(p("u")), "u" in os.listdir(root)
            os.pwrite(fd, b"S", 0)
            return gone, os.pread(fd, 100, 0)
        finally:
            os.close(fd)

    def rename_over_open():
        with open(p("o1"), "w") as f:
            f.write("old")
        with open(p("o2"), "w") as f:
            f.write("new")
        fd = os.open(p("o1"), os.O_RDONLY)
        try:
            os.rename(p("o2"), p("o1"))
            hidden = [n for n in os.listdir(root) if n.startswith(".")]
            return os.pread(fd, 10, 0), slurp(p("o1")), hidden
        finally:
            os.close(fd)

    def mmap_read():
        with open(p("m"), "wb") as f:
            f.write(b"mapped bytes" * 1000)
        with open(p("m"), "rb") as f:
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                return mm[12000 - 5:]

    def symlinks():
        os.symlink("f", p("lf"))
        os.symlink("d", p("ld"))
        os.symlink("/nowhere/at/all", p("dangling"))
        with open(p("lf")) as f:
            via = f.read()
        st = os.lstat(p("lf"))
        return (os.readlink(p("lf")), os.readlink(p("dangling")), via, os.path.islink(p("lf")),
                st.st_size, os.path.isdir(p("ld")), os.path.exists(p("dangling")))

    def loop():
        os.symlink("loop2", p("loop1"))
        os.symlink("loop1", p("loop2"))
        open(p("loop1")).close()

    def xattrs():
        os.setxattr(p("f"), "user.a", b"one")
        os.setxattr(p("f"), "user.b", b"x" * 1000)
        os.setxattr(p("d"), "user.dir", b"")
        os.setxattr(p("f"), "user.a", b"two")
        got = (os.getxattr(p("f"), "user.a"), len(os.getxattr(p("f"), "user.b")),
               sorted(os.listxattr(p("f"))), os.listxattr(p("d")))
        os.removexattr(p("f"), "user.b")
        return got + (os.listxattr(p("f")),)

    def listing():
        return sorted(os.listdir(p("full"))), sorted(os.listdir(p("d")))

    cases = [
        ("mkdir existing: EEXIST", lambda: os.mkdir(p("d"))),
        ("O_EXCL existing: EEXIST", lambda: wopen(p("f"), os.O_WRONLY | os.O_CREAT | os.O_EXCL)),
        ("O_EXCL new", lambda: wopen(p("new"), os.O_WRONLY | os.O_CREAT | os.O_EXCL)),
        ("stat missing: ENOENT", lambda: os.stat(p("nope"))),
        ("open missing: ENOENT", lambda: wopen(p("nope"), os.O_RDONLY)),
        ("mkdir missing parent: ENOENT", lambda: os.mkdir(p("nope", "x"))),
        ("unlink missing: ENOENT", lambda: os.unlink(p("nope"))),
        ("rename missing: ENOENT", lambda: os.rename(p("nope"), p("nope2"))),
        ("open under a file: ENOTDIR", lambda: wopen(p("f", "x"), os.O_RDONLY)),
        ("mkdir under a file: ENOTDIR", lambda: os.mkdir(p("f", "x"))),
        ("rmdir a file: ENOTDIR", lambda: os.rmdir(p("f"))),
        ("listdir a file: ENOTDIR", lambda: os.listdir(p("f"))),
        ("rename dir over file: ENOTDIR", lambda: os.rename(p("d"), p("f"))),
        ("open dir for writing: EISDIR", lambda: wopen(p("d"), os.O_WRONLY)),
        ("unlink a dir: EISDIR", lambda: os.unlink(p("d"))),
        ("rename file over dir: EISDIR", lambda: os.rename(p("f"), p("d"))),
        ("read a dir: EISDIR", read_dir),
        ("rmdir non-empty: ENOTEMPTY", lambda: os.rmdir(p("full"))),
        ("rename dir over non-empty: ENOTEMPTY", lambda: os.rename(p("d"), p("full"))),
        ("create long name: ENAMETOOLONG", lambda: wopen(p(long), os.O_WRONLY | os.O_CREAT)),
        ("mkdir long name: ENAMETOOLONG", lambda: os.mkdir(p(long))),
        ("stat long name: ENAMETOOLONG", lambda: os.stat(p(long))),
        ("rename dir under itself: EINVAL", lambda: os.rename(p("full"), p("full", "sub"))),
        ("lseek before 0: EINVAL", lseek_neg),
        ("truncate to -1: EINVAL", lambda: os.truncate(p("f"), -1)),
        ("rmdir dot: EINVAL", lambda: os.rmdir(p("d", "."))),
        ("write read-only fd: EBADF", wr_rdonly),
        ("NOREPLACE onto existing: EEXIST",
         lambda: renameat2(p("new"), p("f"), RENAME_NOREPLACE)),
        ("NOREPLACE onto missing", lambda: renameat2(p("new"), p("new2"), RENAME_NOREPLACE)),
        ("O_APPEND", append),
        ("truncate grow, ftruncate 0", truncate_grow_cut),
        ("truncate and ftruncate shorter", shrink),
        ("pwrite/pread", pwrite_read),
        ("chmod, utime (ns)", modes_times),
        ("rename replaces a file", rename_replace),
        ("unlinked while open", unlinked_open),
        ("rename over an open file", rename_over_open),
        ("mmap read", mmap_read),
        ("symlink, readlink, follow", symlinks),
        ("symlink onto existing: EEXIST", lambda: os.symlink("x", p("f"))),
        ("symlink empty target: ENOENT", lambda: os.symlink("", p("empty"))),
        ("open a link loop: ELOOP", loop),
        ("readlink a file: EINVAL", lambda: os.readlink(p("f"))),
        ("rename a link", lambda: (os.rename(p("lf"), p("lf2")), os.readlink(p("lf2")))),
        ("unlink a link", lambda: (os.unlink(p("lf2")), os.path.exists(p("f")))),
        ("xattrs set/get/list/remove", xattrs),
        ("getxattr missing: ENODATA", lambda: os.getxattr(p("f"), "user.nope")),
        ("removexattr missing: ENODATA", lambda: os.removexattr(p("f"), "user.nope")),
        ("XATTR_CREATE existing: EEXIST",
         lambda: os.setxattr(p("f"), "user.a", b"3", os.XATTR_CREATE)),
        ("XATTR_REPLACE missing: ENODATA",
         lambda: os.setxattr(p("f"), "user.new", b"3", os.XATTR_REPLACE)),
        ("getxattr missing file: ENOENT", lambda: os.getxattr(p("nope"), "user.a")),
        ("readdir", listing),
    ]
    out = []
    for name, fn in cases:
        try:
            got = fn()
            out.append((name, 0 if got is None else got))
        except OSError as e:
            out.append((name, errno.errorcode.get(e.errno, e.errno)))
    return out


def test_posix_conformance_same_as_local(mnt, tmp_path):
    local = tmp_path / "local"
    local.mkdir()
    want = conformance(str(local))
    got = conformance(mnt)
    diff = [(w[0], w[1], g[1]) for w, g in zip(want, got) if w != g]
    assert not diff, "differs from a local dir (case, local, cairn): %r" % diff
    # the expectations themselves, so that a wrong local run cannot hide one
    for name, outcome in want:
        if ": " in name:
            assert outcome == name.split(": ")[1], (name, outcome)


def test_statfs_and_inode_numbers(world, mnt):
    c, m, _ = world
    sv = os.statvfs(mnt)
    assert sv.f_blocks > 0 and sv.f_namemax == 255
    with open(os.path.join(mnt, "f"), "w") as f:
        f.write("x")
    ino = os.stat(os.path.join(mnt, "f")).st_ino
    remote = "/" + os.path.basename(mnt) + "/f"
    assert "id:          %d" % ino in c.cli("stat", remote).splitlines()


# ---- real programs -----------------------------------------------------------

def tree(root):
    """{relative path: bytes or 'dir'} under root."""
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs:
            out[os.path.relpath(os.path.join(d, n), root)] = "dir"
        for n in files:
            with open(os.path.join(d, n), "rb") as f:
                out[os.path.relpath(os.path.join(d, n), root)] = f.read()
    return out


def make_source(root):
    os.makedirs(os.path.join(root, "a", "b"))
    for i in range(20):
        with open(os.path.join(root, "a", "f%d.txt" % i), "w") as f:
            f.write("line %d\n" % i * (i + 1))
    with open(os.path.join(root, "a", "b", "big.bin"), "wb") as f:
        f.write(os.urandom(3 << 20))
    os.chmod(os.path.join(root, "a", "f1.txt"), 0o600)
    os.utime(os.path.join(root, "a", "f2.txt"), (1_600_000_000, 1_600_000_000))


def test_tar_cp_rsync_find_du_zip(mnt, tmp_path):
    src = str(tmp_path / "src")
    make_source(src)
    want = tree(src)
    run(["tar", "-C", src, "-cf", os.path.join(mnt, "t.tar"), "a"], mnt)
    os.mkdir(os.path.join(mnt, "untar"))
    run(["tar", "-C", os.path.join(mnt, "untar"), "-xf", os.path.join(mnt, "t.tar")], mnt)
    assert tree(os.path.join(mnt, "untar")) == want
    run(["cp", "-a", src, os.path.join(mnt, "cpa")], mnt)
    assert tree(os.path.join(mnt, "cpa")) == want
    st = os.stat(os.path.join(mnt, "cpa", "a", "f2.txt"))
    assert st.st_mtime == 1_600_000_000
    assert os.stat(os.path.join(mnt, "cpa", "a", "f1.txt")).st_mode & 0o777 == 0o600
    if shutil.which("rsync"):
        run(["rsync", "-a", src + "/", os.path.join(mnt, "rs")], mnt)
        assert tree(os.path.join(mnt, "rs")) == want
    found = run(["find", ".", "-name", "*.bin"], os.path.join(mnt, "cpa"))
    assert found.split() == ["./a/b/big.bin"]
    du = int(run(["du", "-sk", "cpa"], mnt).split()[0])
    assert du >= 3 << 10
    back = str(tmp_path / "back")
    run(["tar", "-C", os.path.join(mnt, "cpa"), "-cf", str(tmp_path / "back.tar"), "a"], mnt)
    os.mkdir(back)
    run(["tar", "-C", back, "-xf", str(tmp_path / "back.tar")], mnt)
    assert tree(back) == want
    run(["/usr/bin/python3", "-m", "zipfile", "-c", "z.zip", "cpa/a"], mnt)
    os.mkdir(os.path.join(mnt, "unz"))
    run(["/usr/bin/python3", "-m", "zipfile", "-e", "z.zip", "unz"], mnt)
    assert tree(os.path.join(mnt, "unz")) == want


def test_git_and_sqlite(mnt, tmp_path):
    origin = str(tmp_path / "origin")
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@e", HOME=str(tmp_path))
    os.mkdir(origin)
    run("git init -q && echo one > a.txt && git add a.txt && git commit -qm one", origin,
        env=env)
    run(["git", "clone", "-q", origin, "clone"], mnt, env=env)
    repo = os.path.join(mnt, "clone")
    assert run(["git", "status", "--porcelain"], repo, env=env) == ""
    with open(os.path.join(repo, "b.txt"), "w") as f:
        f.write("two\n")
    run("git add b.txt && git commit -qm two", repo, env=env)
    assert run(["git", "log", "--oneline"], repo, env=env).count("\n") == 2
    run(["git", "fsck", "--no-progress"], repo, env=env)

    db = sqlite3.connect(os.path.join(mnt, "db.sqlite"))
    db.execute("create table t (k integer primary key, v text)")
    with db:
        db.executemany("insert into t (v) values (?)", [("v%d" % i,) for i in range(2000)])
    db.close()
    db = sqlite3.connect(os.path.join(mnt, "db.sqlite"))
    assert db.execute("select count(*), max(v) from t").fetchone() == (2000, "v999")
    assert db.execute("pragma integrity_check").fetchone() == ("ok",)
    db.close()


# ---- two mounts -------------------------------------------------------------

def test_two_mounts_close_to_open(world, mnt):
    c, a, tmp = world
    b = Mount(tmp, c.meta.addr, "mnt-b", "--timeout", "10s").start()
    try:
        name = os.path.basename(mnt)
        pa, pb = os.path.join(mnt, "f"), b.path(name, "f")
        with open(pa, "wb") as f:
            f.write(b"from A" * 1000)
        with open(pb, "rb") as f:  # an open after the close returned
            assert f.read() == b"from A" * 1000
        with open(pb, "ab") as f:
            f.write(b"+B")
        with open(pa, "rb") as f:
            assert f.read() == b"from A" * 1000 + b"+B"
        # a writer on A, fsync, a reader on B
        with open(pa, "wb") as f:
            f.write(b"x" * 100000)
            f.flush()
            os.fsync(f.fileno())
            with open(pb, "rb") as g:
                assert g.read() == b"x" * 100000
        # names made on A show on B within the attribute timeout (1 s)
        os.mkdir(os.path.join(mnt, "newdir"))
        deadline = time.monotonic() + 10
        while "newdir" not in os.listdir(b.path(name)):
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        assert b.stop() == 0


# ---- faults ---------------------------------------------------------------

def sha(data):
    return hashlib.sha256(data).hexdigest()


def test_chunkserver_killed_while_cat_reads(tmp_path):
    c = Cluster(tmp_path, nchunks=3).start()
    m = Mount(tmp_path, c.meta.addr, "mnt", "--timeout", "20s").start()
    try:
        data = os.urandom(12 << 20)
        with open(m.path("big"), "wb") as f:
            f.write(data)
        subprocess.run(["sh", "-c", "echo 3 > /proc/sys/vm/drop_caches"], check=False)
        cat = subprocess.Popen(["cat", m.path("big")], stdout=subprocess.PIPE)
        got = cat.stdout.read(1 << 20)
        c.chunks[0].kill()
        got += cat.stdout.read()
        cat.stdout.close()
        assert cat.wait(60) == 0
        assert sha(got) == sha(data)
    finally:
        m.stop()
        c.kill()


def test_corrupt_replicas_read_correctly(world, mnt):
    c, m, _ = world
    data = os.urandom(2 << 20)
    with open(os.path.join(mnt, "f"), "wb") as f:
        f.write(data)
    first = locations(c, "/%s/f" % os.path.basename(mnt))[0]
    for addr in first["replicas"][:2]:  # two of three replicas bad; one good
        flip_replica(by_addr(c, addr), first["chunk"], offset=5000)
    subprocess.run(["sh", "-c", "echo 3 > /proc/sys/vm/drop_caches"], check=False)
    with open(os.path.join(mnt, "f"), "rb") as f:
        assert sha(f.read()) == sha(data)


def test_hard_links_refused_clearly(mnt):
    with open(os.path.join(mnt, "f"), "w") as f:
        f.write("x")
    with pytest.raises(OSError) as e:
        os.link(os.path.join(mnt, "f"), os.path.join(mnt, "g"))
    assert e.value.errno == errno.EPERM
    assert not os.path.exists(os.path.join(mnt, "g"))


def test_metaserver_restart_mid_cp_and_gone(tmp_path):
    c = Cluster(tmp_path, nchunks=2).start()
    m = Mount(tmp_path, c.meta.addr, "mnt", "--timeout", "3s").start()
    try:
        src = str(tmp_path / "src.bin")
        data = os.urandom(24 << 20)
        with open(src, "wb") as f:
            f.write(data)
        # The copy's writer survives the restart (its lease is reclaimed).
        cp = subprocess.Popen(["dd", "if=" + src, "of=" + m.path("copy"), "bs=64k"],
                              stderr=subprocess.PIPE)
        time.sleep(0.3)
        c.meta.restart()
        _, err = cp.communicate(timeout=120)
        assert cp.returncode == 0, err
        with open(m.path("copy"), "rb") as f:
            assert sha(f.read()) == sha(data)
        # The metaserver gone: EIO after --timeout, not a hung mount.
        c.meta.kill()
        t0 = time.monotonic()
        r = subprocess.run(["ls", m.path()], capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and "Input/output error" in r.stderr, r.stderr
        with pytest.raises(OSError) as e:
            os.stat(m.path("copy2"))
        assert e.value.errno == errno.EIO
        assert time.monotonic() - t0 < 50
        # Back: the same mount works again.
        c.meta.start()
        deadline = time.monotonic() + 30
        while True:
            r = subprocess.run(["ls", m.path()], capture_output=True, text=True, timeout=60)
            if r.returncode == 0:
                break
            assert time.monotonic() < deadline, r.stderr
            time.sleep(0.2)
        assert "copy" in r.stdout.split()
    finally:
        m.stop()
        c.kill()


def test_symlinks_and_xattrs_survive_restarts_and_checkpoints(tmp_path):
    c = Cluster(tmp_path, nchunks=1, meta_extra=("--checkpoint-records", "20")).start()
    m = Mount(tmp_path, c.meta.addr, "mnt", "--timeout", "20s").start()
    try:
        os.mkdir(m.path("x"))
        os.setxattr(m.path("x"), "user.early", b"before the checkpoint")
        for i in range(40):
            os.symlink("target/%d" % i, m.path("l%d" % i))
        deadline = time.monotonic() + 20
        while not any(n.startswith("checkpoint.") for n in os.listdir(c.meta.dir)):
            assert time.monotonic() < deadline, "no checkpoint"
            time.sleep(0.1)
        c.meta.restart()
        os.symlink("after", m.path("late"))
        os.setxattr(m.path("x"), "user.late", b"\0binary\xff")
        c.meta.restart()
        assert os.getxattr(m.path("x"), "user.early") == b"before the checkpoint"
        assert os.getxattr(m.path("x"), "user.late") == b"\0binary\xff"
        assert [os.readlink(m.path("l%d" % i)) for i in range(40)] == [
            "target/%d" % i for i in range(40)]
        assert os.readlink(m.path("late")) == "after"
        assert "l7" in c.cli("ls", "/")
    finally:
        m.stop()
        c.kill()


def test_sigterm_flushes_open_files_and_unmounts(tmp_path):
    c = Cluster(tmp_path, nchunks=1).start()
    m = Mount(tmp_path, c.meta.addr, "mnt").start()
    try:
        f = open(m.path("open"), "wb")
        f.write(b"kept" * 1000)
        f.flush()  # into the mount; not closed
        m.proc.send_signal(signal.SIGTERM)
        assert m.proc.wait(30) == 0
        assert not os.path.ismount(m.dir)
        try:
            f.close()
        except OSError:
            pass
        assert c.cli("cat", "/open").encode() == b"kept" * 1000
    finally:
        m.stop()
        c.kill()


def test_bad_flags_and_unreachable_metaserver(tmp_path):
    r = subprocess.run([FUSE, "--timeout", "soon", str(tmp_path)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2 and "not a duration" in r.stderr
    r = subprocess.run([FUSE, "-o", "bogus", str(tmp_path)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2 and "unknown option" in r.stderr
    r = subprocess.run([FUSE, "--meta", "127.0.0.1:1", "--timeout", "1s", str(tmp_path), "-f"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "unavailable" in r.stderr, r.stderr
    assert not os.path.ismount(str(tmp_path))


# ---- locks, and the use case: uploads on two app servers, served from a third mount

LOCKER = r"""
import fcntl, sys
f = open(sys.argv[1], "r+")
try:
    if sys.argv[2] == "flock":
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    else:
        fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
    print("got")
except OSError:
    print("busy")
"""


def test_locks_between_processes_on_one_mount(mnt):
    import fcntl
    path = os.path.join(mnt, "lock")
    with open(path, "w") as f:
        f.write("x" * 100)
    try_lock = lambda kind: subprocess.run(  # noqa: E731
        ["/usr/bin/python3", "-c", LOCKER, path, kind], capture_output=True, text=True,
        timeout=30).stdout.strip()
    with open(path, "r+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        assert try_lock("flock") == "busy"
        fcntl.flock(f, fcntl.LOCK_UN)
        assert try_lock("flock") == "got"
        fcntl.lockf(f, fcntl.LOCK_EX, 10, 0)
        assert try_lock("posix") == "busy"
        fcntl.lockf(f, fcntl.LOCK_UN, 10, 0)
        assert try_lock("posix") == "got"


@pytest.mark.skipif(shutil.which("lighttpd") is None, reason="needs lighttpd")
def test_uploads_on_two_mounts_served_by_lighttpd(tmp_path):
    import urllib.request
    from conftest import free_port
    c = Cluster(tmp_path, nchunks=2).start()
    app1 = Mount(tmp_path, c.meta.addr, "app1").start()
    app2 = Mount(tmp_path, c.meta.addr, "app2").start()
    web = Mount(tmp_path, c.meta.addr, "web", "-o", "ro").start()
    port = free_port()
    conf = tmp_path / "lighttpd.conf"
    conf.write_text('server.document-root = "%s"\nserver.port = %d\nserver.bind = "127.0.0.1"\n'
                    'server.stat-cache-engine = "disable"\nserver.errorlog = "%s"\n'
                    % (web.path("uploads"), port, tmp_path / "lighttpd.err"))
    os.mkdir(app1.path("uploads"))
    httpd = None
    try:
        httpd = subprocess.Popen(["lighttpd", "-D", "-f", str(conf)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        uploads = {}
        for i, app in enumerate([app1, app2] * 5):
            name = "u%d.bin" % i
            data = os.urandom(1000 + i * 70000)
            tmp = app.path("uploads", ".%s.part" % name)  # an upload lands, then is renamed
            with open(tmp, "wb") as f:
                f.write(data)
            os.rename(tmp, app.path("uploads", name))
            uploads[name] = data
        for name, data in uploads.items():
            deadline = time.monotonic() + 20
            while True:
                try:
                    url = "http://127.0.0.1:%d/%s" % (port, name)
                    with urllib.request.urlopen(url, timeout=10) as r:
                        assert r.read() == data
                    break
                except OSError:
                    assert time.monotonic() < deadline, name
                    time.sleep(0.2)
        with pytest.raises(OSError) as e:
            open(web.path("uploads", "nope"), "w")
        assert e.value.errno == errno.EROFS
    finally:
        if httpd:
            httpd.terminate()
            httpd.wait(10)
        for m in (web, app2, app1):
            m.stop()
        c.kill()


@pytest.mark.skipif(bool(os.environ.get("CAIRN_SANITIZE")),
                    reason="ASan build: test_python covers the package under ASan")
def test_python_and_cli_see_links_and_xattrs(world, mnt):
    from conftest import TOP
    c, m, _ = world
    remote = "/" + os.path.basename(mnt)
    os.symlink("../elsewhere", os.path.join(mnt, "link"))
    with open(os.path.join(mnt, "f"), "w") as f:
        f.write("x")
    os.setxattr(os.path.join(mnt, "f"), "user.k", b"from the mount")
    prog = r"""
import cairn, os, sys
fs = cairn.connect(sys.argv[1])
d = sys.argv[2]
print(fs.readlink(d + "/link"), fs.stat(d + "/link")["type"])
print(fs.getxattr(d + "/f", "user.k").decode(), fs.listxattr(d + "/f"))
fs.symlink("/abs/target", d + "/link2")
fs.setxattr(d + "/f", "user.py", b"\x00\x01")
try:
    fs.getxattr(d + "/f", "user.nope")
except OSError as e:
    print("missing", e.errno == 61)
"""
    env = dict(os.environ, PYTHONPATH=os.path.join(TOP, "client", "python"),
               CAIRN_LIBRARY=os.path.join(BIN, "..", "lib", "libcairn.so"))
    out = subprocess.run(["/usr/bin/python3", "-c", prog, c.meta.addr, remote], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "../elsewhere link", "from the mount ['user.k']", "missing True"]
    assert os.readlink(os.path.join(mnt, "link2")) == "/abs/target"
    assert os.getxattr(os.path.join(mnt, "f"), "user.py") == b"\x00\x01"
    assert c.cli("ls", "-l", remote + "/link").startswith("l")


def test_orphans_go_at_last_close(world, mnt):
    c, m, _ = world
    remote = "/" + os.path.basename(mnt)
    for name in ("a", "b"):
        with open(os.path.join(mnt, name), "w") as f:
            f.write(name)
    fa = open(os.path.join(mnt, "a"))
    fb = open(os.path.join(mnt, "b"), "r+")
    os.unlink(os.path.join(mnt, "a"))
    os.rename(os.path.join(mnt, "b"), os.path.join(mnt, "c"))
    with open(os.path.join(mnt, "d"), "w") as f:
        f.write("d")
    os.rename(os.path.join(mnt, "d"), os.path.join(mnt, "c"))  # over b, still open
    assert sorted(c.cli("ls", remote).split()) == sorted(
        ["c", ".cairn-fuse-orphan.%d._COPYING_" % os.fstat(fa.fileno()).st_ino,
         ".cairn-fuse-orphan.%d._COPYING_" % os.fstat(fb.fileno()).st_ino])
    assert fa.read() == "a" and fb.read() == "b"
    fa.close()
    fb.close()
    deadline = time.monotonic() + 10  # release reaches cairn-fuse after close returns
    while c.cli("ls", remote).split() != ["c"]:
        assert time.monotonic() < deadline, c.cli("ls", remote)
        time.sleep(0.05)


def test_orphans_of_a_dead_mount_go_when_its_lease_ends(tmp_path):
    c = Cluster(tmp_path, nchunks=1, meta_extra=("--lease", "2s")).start()
    m = Mount(tmp_path, c.meta.addr, "mnt").start()
    try:
        with open(m.path("f"), "w") as f:
            f.write("data")
        fd = os.open(m.path("f"), os.O_RDONLY)
        os.unlink(m.path("f"))
        assert len(c.cli("ls", "/").split()) == 1  # the orphan, held by this mount
        m.proc.kill()
        m.proc.wait()
        subprocess.run(["fusermount3", "-uz", m.dir], capture_output=True)
        try:
            os.close(fd)
        except OSError:
            pass
        deadline = time.monotonic() + 30
        while c.cli("ls", "/").split():
            assert time.monotonic() < deadline, c.cli("ls", "/")
            time.sleep(0.2)
    finally:
        m.stop()
        c.kill()
