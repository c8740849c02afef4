"""The Python package `cairn` (client/python) against a real cluster: one
cairn-meta (--chunk-size 1M) and three cairn-chunk processes per module.
Every call of the FileSystem, the io objects it opens (binary, text,
append, read-write; checked against a local file driven the same way),
each error mapping, threads reading at once (and proof that the GIL is
released inside libcairn), fork.

The package is imported from the source tree (client/python) and loads
libcairn from $CAIRN_BUILD/lib through CAIRN_LIBRARY. Under ASan
(CAIRN_SANITIZE=1) libcairn is ASan-built and can only be loaded into a
python started with libasan preloaded: then the tests here, in
test_python_fsspec.py and in test_examples.py run in such a child pytest
(test_python_under_asan), with leak checking off for that python (its own
allocations at exit are not libcairn's), and skip in the parent.

This module also holds what those modules share (PYDIR, py_env, the
cluster fixtures).
"""
import array
import errno
import io
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from cluster import Cluster, wait_for
from conftest import BUILD, TOP

PYDIR = os.path.join(TOP, "client", "python")
LIBCAIRN = os.path.join(BUILD, "lib", "libcairn.so")
SANITIZE = bool(os.environ.get("CAIRN_SANITIZE"))
ASAN_CHILD = os.environ.get("CAIRN_PY_ASAN_CHILD") == "1"
IN_PROCESS = not SANITIZE or ASAN_CHILD
NOT_IN_PROCESS = ("ASan build: libcairn runs in a child python with libasan preloaded "
                  "(test_python_under_asan)")
MIB = 1 << 20

if ASAN_CHILD:
    # This python has libasan preloaded and leak checks off; the daemons and
    # CLI runs it starts get the parent's settings back.
    os.environ.pop("LD_PRELOAD", None)
    os.environ["ASAN_OPTIONS"] = os.environ.pop("CAIRN_PY_PARENT_ASAN_OPTIONS", "")
if IN_PROCESS:
    sys.path.insert(0, PYDIR)
    os.environ["CAIRN_LIBRARY"] = LIBCAIRN
    import cairn


def libasan():
    """The libasan libcairn links against (from ldd)."""
    out = subprocess.run(["ldd", LIBCAIRN], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if "libasan" in line and "=>" in line:
            return line.split("=>")[1].split()[0]
    raise RuntimeError("libcairn is not linked against libasan:\n" + out)


def py_env(**extra):
    """The environment for a python program that imports cairn from the source tree."""
    env = dict(os.environ)
    env["PYTHONPATH"] = PYDIR + os.pathsep + env.get("PYTHONPATH", "")
    env["CAIRN_LIBRARY"] = LIBCAIRN
    if SANITIZE:
        env["LD_PRELOAD"] = libasan()
        env["ASAN_OPTIONS"] = "detect_leaks=0"
    env.update(extra)
    return env


@pytest.fixture(autouse=True)
def _in_process_only(request):
    if not IN_PROCESS and request.node.name != "test_python_under_asan":
        pytest.skip(NOT_IN_PROCESS)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("pycluster")).start() if IN_PROCESS else None
    yield c
    if c:
        c.kill()


@pytest.fixture(scope="module")
def fs(cluster):
    if not IN_PROCESS:
        yield None
        return
    f = cairn.connect(cluster.meta.addr, timeout=60)
    yield f
    f.close()


@pytest.fixture
def d(fs, request):
    """A fresh directory for this test."""
    path = "/" + request.node.name.replace("[", "-").replace("]", "")
    fs.mkdir(path)
    return path


def test_python_under_asan(tmp_path):
    if not SANITIZE or ASAN_CHILD:
        pytest.skip("runs the Python tests in a child python only in the ASan build")
    here = os.path.dirname(os.path.abspath(__file__))
    env = py_env(CAIRN_PY_ASAN_CHILD="1",
                 CAIRN_PY_PARENT_ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", ""))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "--basetemp", str(tmp_path / "t"),
                        os.path.join(here, "test_python.py"),
                        os.path.join(here, "test_python_fsspec.py"),
                        os.path.join(here, "test_fsspec_reference.py"),
                        os.path.join(here, "test_examples.py")],
                       capture_output=True, text=True, env=env, cwd=here, timeout=800)
    assert r.returncode == 0, (r.stdout + r.stderr)[-20000:]


# ---- connecting ----

def test_connect_address_defaults(cluster, monkeypatch):
    monkeypatch.setenv("CAIRN_META", cluster.meta.addr)
    with cairn.connect() as fs:
        assert fs.addr == cluster.meta.addr
        fs.ping()
    monkeypatch.delenv("CAIRN_META")
    with cairn.connect() as fs:
        assert fs.addr == "127.0.0.1:20000"
    with pytest.raises(cairn.Error) as e:
        cairn.connect("no-port-here")
    assert e.value.errno == errno.EINVAL and "no-port-here" in str(e.value)
    assert os.path.exists(cairn.library_path)


# ---- binary files ----

def test_large_write_and_read_many_chunks(fs, d):
    data = os.urandom(24 * MIB + 4321)  # 25 chunks of 1M
    path = d + "/big"
    with fs.open(path, "wb") as f:
        assert isinstance(f, io.BufferedWriter)
        pos = 0
        rnd = random.Random(1)
        while pos < len(data):  # uneven pieces, some larger than the buffer
            n = rnd.choice([1, 100, 65536, MIB - 1, 3 * MIB])
            assert f.write(data[pos:pos + n]) == len(data[pos:pos + n])
            pos += n
        assert f.tell() == len(data)
    st = fs.stat(path)
    assert st["size"] == len(data) and st["chunks"] == 25 and st["type"] == "file"
    with fs.open(path, "rb") as f:
        assert isinstance(f, io.BufferedReader)
        assert f.read() == data
        assert f.read() == b"" and f.read(10) == b""
    with fs.open(path, "rb") as f:  # read(n) in pieces
        got = []
        while True:
            piece = f.read(777777)
            if not piece:
                break
            got.append(piece)
        assert b"".join(got) == data
    with fs.open(path, "rb", buffering=0) as f:
        assert isinstance(f, cairn.RawFile)
        assert f.readall() == data
    assert fs.cat(path) == data


def test_readinto_bytearray_and_memoryview(fs, d):
    data = os.urandom(5 * MIB + 17)
    fs.write_bytes(d + "/f", data)
    with fs.open(d + "/f", "rb") as f:
        buf = bytearray(2 * MIB)
        assert f.readinto(buf) == len(buf) and buf == data[:2 * MIB]
        view = memoryview(buf)
        assert f.readinto(view[100:100 + MIB]) == MIB
        assert buf[100:100 + MIB] == data[2 * MIB:3 * MIB]
        arr = array.array("B", bytes(3 * MIB))  # any writable buffer
        assert f.readinto(arr) == 2 * MIB + 17  # short only at the end
        assert arr.tobytes()[:2 * MIB + 17] == data[3 * MIB:]
        assert f.readinto(bytearray(10)) == 0
        with pytest.raises(TypeError):
            f.readinto(b"read-only buffer")
    with fs.open(d + "/f", "rb", buffering=0) as raw:  # raw: straight into the buffer
        buf = bytearray(len(data) + 10)
        n = 0
        with memoryview(buf) as view:
            while True:
                got = raw.readinto(view[n:])
                if not got:
                    break
                n += got
        assert n == len(data) and buf[:n] == data
        assert raw.preadinto(memoryview(buf)[:3], MIB - 1) == 3 and buf[:3] == data[MIB - 1:MIB + 2]


def test_seek_and_read_across_chunk_boundaries(fs, d):
    data = os.urandom(4 * MIB + 999)
    fs.write_bytes(d + "/f", data)
    rnd = random.Random(7)
    offsets = [k * MIB + delta for k in range(5) for delta in (-3, -1, 0, 1, 65535)]
    for buffering in (-1, 0):
        with fs.open(d + "/f", "rb", buffering=buffering) as f:
            assert f.seekable()
            for off in offsets:
                off = max(0, off)
                n = rnd.choice([1, 2, 5000, MIB + 3])
                assert f.seek(off) == off
                got = f.read(n)
                assert got == data[off:off + n], (off, n)
                assert f.tell() == off + len(got)
            assert f.seek(-10, os.SEEK_END) == len(data) - 10
            assert f.read() == data[-10:]
            f.seek(MIB - 5)
            assert f.seek(10, os.SEEK_CUR) == MIB + 5
            assert f.read(3) == data[MIB + 5:MIB + 8]
            assert f.seek(len(data) + 100) == len(data) + 100 and f.read(5) == b""
            with pytest.raises(OSError) as e:
                f.seek(-1)
            assert e.value.errno == errno.EINVAL
    with fs.open(d + "/f", "rb", buffering=0) as raw:
        raw.seek(123)
        assert raw.pread(2 * MIB, 2 * MIB - 7) == data[2 * MIB - 7:4 * MIB - 7]
        assert raw.tell() == 123  # pread leaves the position
        assert raw.pread(100, len(data) - 3) == data[-3:]


def run_model(ops, fobjs):
    """Applies ops to each file object; returns what each returned, per op."""
    out = []
    for op in ops:
        results = []
        for f in fobjs:
            if op[0] == "write":
                results.append(f.write(op[1]))
            elif op[0] == "seek":
                results.append(f.seek(op[1], op[2]))
            elif op[0] == "read":
                results.append(f.read(op[1]))
            elif op[0] == "tell":
                results.append(f.tell())
            else:
                results.append(f.flush())
        out.append((op, results))
    return out


def random_ops(rnd, mode, n):
    kinds = ["write", "seek", "tell", "flush"] + (["read"] * 2 if "+" in mode else [])
    ops = []
    for _ in range(n):
        k = rnd.choice(kinds)
        if k == "write":
            ops.append(("write", rnd.randbytes(rnd.choice([1, 10, 4096, 300000, MIB + 1]))))
        elif k == "seek":
            ops.append(("seek", rnd.randrange(0, 3 * MIB), os.SEEK_SET) if rnd.random() < 0.7
                       else ("seek", -rnd.randrange(0, 1000), os.SEEK_END))
        elif k == "read":
            ops.append(("read", rnd.choice([1, 100, 70000, MIB + 5])))
        else:
            ops.append((k,))
    return ops


@pytest.mark.parametrize("mode", ["ab", "r+b", "a+b", "w+b"])
def test_modes_against_a_local_file(fs, d, tmp_path, mode):
    rnd = random.Random(mode)
    initial = rnd.randbytes(MIB + MIB // 2)
    local = tmp_path / "model"
    local.write_bytes(initial)
    fs.write_bytes(d + "/f", initial)
    ops = random_ops(rnd, mode, 40)
    # The same buffer size: what BufferedRandom returns in "a+" depends on it.
    with open(local, mode, buffering=cairn.DEFAULT_BUFFER_SIZE) as lf, \
            fs.open(d + "/f", mode) as cf:
        assert type(cf) is type(lf)
        assert cf.tell() == lf.tell()
        for (op, (want, got)) in run_model(ops, [lf, cf]):
            assert got == want, (op[0], op[1:2] if op[0] != "write" else len(op[1]))
    assert fs.cat(d + "/f") == local.read_bytes()


def test_write_only_and_exclusive_modes(fs, d):
    fs.write_bytes(d + "/f", b"old contents")
    with fs.open(d + "/f", "wb") as f:  # truncates
        f.write(b"new")
    assert fs.cat(d + "/f") == b"new"
    with fs.open(d + "/f", "ab") as f:
        assert f.tell() == 3
        f.seek(0)
        f.write(b"+more")  # appends wherever the position is
    assert fs.cat(d + "/f") == b"new+more"
    with fs.open(d + "/x", "xb") as f:
        f.write(b"x")
    with pytest.raises(FileExistsError):
        fs.open(d + "/x", "xb")
    with fs.open(d + "/f", "rb") as f:
        with pytest.raises(io.UnsupportedOperation):
            f.write(b"no")
    with fs.open(d + "/f", "wb") as f:
        with pytest.raises(io.UnsupportedOperation):
            f.read()
        with pytest.raises(io.UnsupportedOperation):
            f.truncate(0)
    for bad in ["", "rw", "rbt", "z", "rr", "b"]:
        with pytest.raises(ValueError):
            fs.open(d + "/f", bad)
    with pytest.raises(ValueError):
        fs.open(d + "/f", "r", buffering=0)


def test_text_modes(fs, d):
    lines = ["first line\n", "zweite Zeile: grüße\n", "третья\n", "no newline at end"]
    with fs.open(d + "/t.txt", "w") as f:
        assert isinstance(f, io.TextIOWrapper) and f.mode == "w"
        f.writelines(lines)
    with fs.open(d + "/t.txt", "r") as f:
        assert list(f) == lines
    with fs.open(d + "/t.txt", "a") as f:
        f.write("\nappended\n")
    with fs.open(d + "/t.txt") as f:
        assert isinstance(f, io.BufferedReader)  # the default mode is "rb", as fsspec's
    with fs.open(d + "/t.txt", "rt", encoding="utf-8") as f:
        assert f.readline() == lines[0]
        assert f.readlines()[-1] == "appended\n"
    with fs.open(d + "/t.txt", "rb") as f:
        assert f.read().decode() == "".join(lines) + "\nappended\n"
    # newline translation as the built-in open() does it
    with fs.open(d + "/crlf.txt", "w", newline="\r\n") as f:
        f.write("a\nb\n")
    assert fs.cat(d + "/crlf.txt") == b"a\r\nb\r\n"
    with fs.open(d + "/crlf.txt", "r") as f:
        assert f.read() == "a\nb\n"
    with fs.open(d + "/crlf.txt", "r", newline="") as f:
        assert list(f) == ["a\r\n", "b\r\n"]
    with fs.open(d + "/l1.txt", "w", encoding="latin-1") as f:
        f.write("café")
    assert fs.cat(d + "/l1.txt") == "café".encode("latin-1")
    with fs.open(d + "/l1.txt", "r", encoding="latin-1") as f:
        assert f.read() == "café"
    # many lines across chunk boundaries
    many = ["line %07d %s\n" % (i, "x" * (i % 50)) for i in range(60000)]
    with fs.open(d + "/many.txt", "w") as f:
        f.writelines(many)
    assert fs.stat(d + "/many.txt")["chunks"] > 2
    with fs.open(d + "/many.txt", "r") as f:
        for i, line in enumerate(f):
            assert line == many[i]
        assert i == len(many) - 1


def test_close_flush_fsync_and_close_to_open(fs, d):
    f = fs.open(d + "/f", "wb")
    f.write(b"a" * 1000)
    f.flush()
    f.raw.fsync()
    assert fs.stat(d + "/f")["size"] == 1000  # fsync commits the size
    with fs.open(d + "/f", "rb") as r:
        assert r.read() == b"a" * 1000
    early = fs.open(d + "/f", "rb")
    f.write(b"b" * 10)
    f.close()
    assert f.closed
    with pytest.raises(ValueError):
        f.write(b"x")
    assert early.read() == b"a" * 1000  # close-to-open: the size at its open
    early.close()
    assert fs.cat(d + "/f") == b"a" * 1000 + b"b" * 10
    f.close()  # twice is fine


def test_one_writer_per_file(fs, d):
    with fs.open(d + "/f", "wb") as w:
        w.write(b"1")
        with pytest.raises(cairn.Error) as e:
            fs.open(d + "/f", "ab")
        assert e.value.errno == cairn.ELEASE and d + "/f" in str(e.value)
        with fs.open(d + "/f", "rb") as r:  # readers are not affected
            assert r.read() == b""


# ---- namespace ----

def test_ls_stat_exists_walk(fs, d):
    fs.mkdir(d + "/a/b/c", parents=True)
    fs.write_bytes(d + "/a/one", b"1")
    fs.write_bytes(d + "/a/b/two", b"22")
    fs.write_bytes(d + "/top", b"333")
    assert fs.ls(d) == [d + "/a", d + "/top"]
    det = fs.ls(d, detail=True)
    assert [(x["name"], x["type"], x["size"]) for x in det] == [
        (d + "/a", "directory", 0), (d + "/top", "file", 3)]
    assert fs.ls(d + "/top") == [d + "/top"]
    assert fs.ls(d + "/top", detail=True)[0]["size"] == 3
    assert fs.ls(d + "/a/b/c") == []
    st = fs.stat(d + "/a/b/two")
    assert st["name"] == d + "/a/b/two" and st["size"] == 2 and st["replication"] == 3
    assert st["mode"] == 0o644 and st["chunks"] == 1 and abs(st["mtime"] - time.time()) < 120
    assert fs.stat(d + "/a")["entries"] == 2
    assert fs.stat("/")["type"] == "directory"
    assert fs.exists(d + "/a") and fs.exists(d + "/top")
    assert not fs.exists(d + "/nope") and not fs.exists(d + "/top/under-a-file")
    assert fs.isdir(d + "/a") and not fs.isdir(d + "/top") and fs.isfile(d + "/top")
    assert list(fs.walk(d)) == [
        (d, ["a"], ["top"]),
        (d + "/a", ["b"], ["one"]),
        (d + "/a/b", ["c"], ["two"]),
        (d + "/a/b/c", [], []),
    ]
    assert list(fs.walk(d + "/top")) == [] and list(fs.walk(d + "/missing")) == []
    fs.touch(d + "/empty")
    assert fs.stat(d + "/empty")["size"] == 0
    fs.touch(d + "/top", mtime=1000000)
    assert fs.stat(d + "/top")["mtime"] == 1000000 and fs.cat(d + "/top") == b"333"
    fs.chmod(d + "/top", 0o600)
    assert fs.stat(d + "/top")["mode"] == 0o600


def test_large_directory_listing(fs, d):
    names = ["f%04d" % i for i in range(1100)]  # more than one readdir page (1000)
    for n in names:
        fs.touch(d + "/" + n)
    assert fs.ls(d) == [d + "/" + n for n in names]


def test_mkdir_rm_mv(fs, d):
    fs.mkdir(d + "/x")
    with pytest.raises(FileExistsError):
        fs.mkdir(d + "/x")
    fs.mkdir(d + "/x", exist_ok=True)
    with pytest.raises(FileNotFoundError):
        fs.mkdir(d + "/p/q")
    fs.mkdir(d + "/p/q/r", parents=True)
    with pytest.raises(FileExistsError):
        fs.mkdir(d + "/p/q/r", parents=True)
    fs.mkdir(d + "/p/q/r", parents=True, exist_ok=True)
    fs.write_bytes(d + "/file", b"f")
    with pytest.raises(FileExistsError):
        fs.mkdir(d + "/file", exist_ok=True)  # exists, but not as a directory
    with pytest.raises(cairn.Error) as e:
        fs.rm(d + "/p")
    assert e.value.errno == errno.ENOTEMPTY and d + "/p" in str(e.value)
    fs.rm(d + "/p", recursive=True)
    fs.rm(d + "/x")  # an empty directory
    assert fs.ls(d) == [d + "/file"]
    fs.mv(d + "/file", d + "/renamed")
    fs.mkdir(d + "/sub")
    fs.mv(d + "/renamed", d + "/sub/moved")
    assert fs.ls(d + "/sub") == [d + "/sub/moved"]
    fs.write_bytes(d + "/other", b"other")
    fs.mv(d + "/other", d + "/sub/moved")  # replaces a file
    assert fs.cat(d + "/sub/moved") == b"other"
    fs.mv(d + "/sub", d + "/sub2")
    assert fs.ls(d) == [d + "/sub2"]
    with pytest.raises(FileNotFoundError) as e:
        fs.mv(d + "/gone", d + "/x")
    assert d + "/gone" in str(e.value) and d + "/x" in str(e.value)


def test_put_get(fs, d, tmp_path):
    data = os.urandom(3 * MIB + 5)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    src.chmod(0o640)
    assert fs.put(src, d + "/a.bin") == d + "/a.bin"
    assert fs.cat(d + "/a.bin") == data and fs.stat(d + "/a.bin")["mode"] == 0o640
    fs.mkdir(d + "/into")
    assert fs.put(str(src), d + "/into") == d + "/into/src.bin"
    assert fs.put(src, d + "/rep1", replication=1) == d + "/rep1"
    assert all(len(c["replicas"]) == 1 for c in fs.locations(d + "/rep1"))
    out = tmp_path / "out.bin"
    assert fs.get(d + "/a.bin", out) == str(out)
    assert out.read_bytes() == data and (out.stat().st_mode & 0o777) == 0o640
    outdir = tmp_path / "dir"
    outdir.mkdir()
    fs.get(d + "/into/src.bin", outdir)
    assert (outdir / "src.bin").read_bytes() == data
    with pytest.raises(FileNotFoundError):
        fs.get(d + "/missing", tmp_path / "never")
    with pytest.raises(IsADirectoryError):
        fs.get(d + "/into", tmp_path / "never")
    assert sorted(os.listdir(tmp_path)) == ["dir", "out.bin", "src.bin"]  # no temp left
    with pytest.raises(FileNotFoundError):
        fs.put(tmp_path / "no-such-local", d + "/z")
    assert not fs.exists(d + "/z")


def test_put_is_atomic_and_refuses_an_existing_target(fs, d, tmp_path):
    src = tmp_path / "new.bin"
    src.write_bytes(b"new")
    with fs.open(d + "/t", "wb") as f:
        f.write(b"old")
    with pytest.raises(FileExistsError) as e:
        fs.put(src, d + "/t")
    assert d + "/t" in str(e.value)
    assert fs.cat(d + "/t") == b"old"
    assert fs.put(src, d + "/t", overwrite=True) == d + "/t"
    assert fs.cat(d + "/t") == b"new"
    # A copy that fails midway (the source cannot be read) leaves the target as it was.
    with pytest.raises(OSError):
        fs.put("/proc/self/mem", d + "/t", overwrite=True)
    assert fs.cat(d + "/t") == b"new"
    assert fs.ls(d) == [d + "/t"]  # no temporary left behind
    tmp = fs.temp_path(d + "/t")
    assert tmp.startswith(d + "/.t.") and tmp.endswith("._COPYING_")
    # mv(overwrite=False) refuses an existing target, atomically.
    fs.put(src, d + "/t2")
    with pytest.raises(FileExistsError):
        fs.mv(d + "/t", d + "/t2", overwrite=False)
    assert fs.ls(d) == [d + "/t", d + "/t2"]


def crc32c(data):
    """CRC-32C, bit by bit (a reference for small inputs)."""
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def test_datasets_native(fs, d, tmp_path):
    """Directories in and out, globs, find, du, copy, tail, truncate, chown, checksum and
    relative paths (issue 11)."""
    src = tmp_path / "ds"
    (src / "part" / "deep").mkdir(parents=True)
    files = {"a.csv": os.urandom(1000), "part/b.csv": os.urandom(70000),
             "part/deep/c.txt": os.urandom(MIB + 3)}
    for rel, data in files.items():
        (src / rel).write_bytes(data)
    with pytest.raises(IsADirectoryError):
        fs.put(src, d + "/ds")
    assert fs.put(src, d + "/ds", recursive=True) == d + "/ds"
    assert {p[len(d + "/ds/"):]: fs.cat(p) for p in fs.find(d + "/ds", type="file")} == files
    assert fs.find(d + "/ds", name="*.csv") == [d + "/ds/a.csv", d + "/ds/part/b.csv"]
    assert fs.find(d + "/ds", type="directory") == [d + "/ds", d + "/ds/part",
                                                    d + "/ds/part/deep"]
    assert fs.glob(d + "/ds/*/*.csv") == [d + "/ds/part/b.csv"]
    assert fs.glob(d + "/ds/{a.csv,part/deep/c.?xt}") == [d + "/ds/a.csv",
                                                           d + "/ds/part/deep/c.txt"]
    assert fs.glob(d + "/ds/nothing*") == []
    assert fs.du(d + "/ds") == sum(len(v) for v in files.values())
    assert fs.du(d + "/ds", total=False)[d + "/ds/a.csv"] == 1000
    out = tmp_path / "back"
    with pytest.raises(IsADirectoryError):
        fs.get(d + "/ds", out)
    fs.get(d + "/ds", out, recursive=True)
    assert {rel: (out / rel).read_bytes() for rel in files} == files
    # copy, with and without recursive, into a new and an existing target
    assert fs.copy(d + "/ds", d + "/copy", recursive=True) == d + "/copy"
    assert fs.cat(d + "/copy/part/deep/c.txt") == files["part/deep/c.txt"]
    with pytest.raises(FileExistsError):
        fs.copy(d + "/ds/a.csv", d + "/copy")
    with pytest.raises(OSError):
        fs.copy(d + "/ds", d + "/ds/part", recursive=True)
    # relative paths
    fs.chdir(d + "/ds")
    try:
        assert fs.getcwd() == d + "/ds"
        assert fs.cat("a.csv") == files["a.csv"]
        assert fs.ls("part/deep") == [d + "/ds/part/deep/c.txt"]
        assert fs.tail("part/b.csv", 10) == files["part/b.csv"][-10:]
        fs.truncate("part/b.csv", 5)
        assert fs.cat("part/b.csv") == files["part/b.csv"][:5]
        fs.truncate("part/b.csv", 8)
        assert fs.cat("part/b.csv") == files["part/b.csv"][:5] + bytes(3)
        fs.chown("a.csv", uid=42)
        fs.chmod("a.csv", 0o600)
        st = fs.stat("a.csv")
        assert (st["uid"], st["mode"]) == (42, 0o600)
        with pytest.raises(NotADirectoryError):
            fs.chdir("a.csv")
    finally:
        fs.chdir("/")
    # checksum: the CRC32C of the bytes, from the stored CRCs
    assert fs.checksum(d + "/ds/a.csv") == crc32c(files["a.csv"])
    fs.write_bytes(d + "/same", files["part/deep/c.txt"])
    assert fs.checksum(d + "/same") == fs.checksum(d + "/copy/part/deep/c.txt")
    assert fs.checksum(d + "/same") != fs.checksum(d + "/ds/a.csv")
    with pytest.raises(IsADirectoryError):
        fs.checksum(d)


def test_setrep_and_locations(fs, d, cluster):
    data = os.urandom(3 * MIB + MIB // 2)
    with fs.open(d + "/f", "wb", replication=2) as f:
        f.write(data)
    assert fs.stat(d + "/f")["replication"] == 2
    locs = fs.locations(d + "/f")
    assert [(c["index"], c["offset"], c["length"]) for c in locs] == [
        (0, 0, MIB), (1, MIB, MIB), (2, 2 * MIB, MIB), (3, 3 * MIB, MIB // 2)]
    for c in locs:
        assert len(c["replicas"]) == 2 and set(c["replicas"]) <= set(cluster.addrs)
        assert c["chunk"] > 0 and c["version"] >= 1
    norm = [dict(c, replicas=sorted(c["replicas"])) for c in locs]  # order: by load
    assert norm == [dict(c, replicas=sorted(c["replicas"]))
                    for c in cluster.cli.json("locations", d + "/f")]
    part = fs.locations(d + "/f", offset=MIB + 10, length=MIB)
    assert [c["index"] for c in part] == [1, 2]
    fs.setrep(d + "/f", 3)
    assert fs.stat(d + "/f")["replication"] == 3
    with pytest.raises(cairn.Error) as e:
        fs.setrep(d + "/f", 99)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(IsADirectoryError):
        fs.locations(d)
    assert fs.locations(d + "/f", offset=10 * MIB) == []


def test_open_with_a_chunk_size(fs, d, tmp_path):
    """fs.open(..., chunk_size=) gives a new file its own chunk size (the cluster's
    default is 1M); an existing file keeps its own; a bad size is a ValueError;
    stat() shows it, copy() keeps it, put(chunk_size=) sets it."""
    data = os.urandom(5 * MIB + 7)
    with fs.open(d + "/f", "wb", chunk_size=2 * MIB, replication=2) as f:
        f.write(data)
    assert fs.cat(d + "/f") == data and fs.stat(d + "/f")["replication"] == 2
    assert [(c["offset"], c["length"]) for c in fs.locations(d + "/f")] == [
        (0, 2 * MIB), (2 * MIB, 2 * MIB), (4 * MIB, MIB + 7)]
    with fs.open(d + "/f", "ab", chunk_size=4 * MIB) as f:  # exists: stays 2M
        f.write(b"x" * MIB)
    assert [c["offset"] for c in fs.locations(d + "/f")] == [0, 2 * MIB, 4 * MIB, 6 * MIB]
    for bad in (3 * MIB, MIB // 2, 512 * MIB):
        with pytest.raises(ValueError):
            fs.open(d + "/g", "wb", chunk_size=bad)
    assert not fs.exists(d + "/g")
    assert fs.stat(d + "/f")["chunk_size"] == 2 * MIB
    fs.copy(d + "/f", d + "/copy")  # keeps its source's
    assert fs.stat(d + "/copy")["chunk_size"] == 2 * MIB and fs.cat(d + "/copy") == fs.cat(d + "/f")
    fs.write_bytes(d + "/small", b"s")
    assert fs.stat(d + "/small")["chunk_size"] == MIB  # the cluster's default
    local = tmp_path / "put.bin"
    local.write_bytes(data)
    fs.put(str(local), d + "/put", chunk_size=4 * MIB)
    assert fs.stat(d + "/put")["chunk_size"] == 4 * MIB and fs.cat(d + "/put") == data


def test_admin_reports(tmp_path):
    """nodes(), fsck(), rebalance() and decommission() say what `cairn admin
    ... --json` says; a dead node shows in both."""
    c = Cluster(tmp_path, meta_extra=("--dead-after", "2s", "--scan-interval", "500ms")).start()
    try:
        fs = cairn.connect(c.meta.addr, timeout=20)
        nodes = fs.nodes()
        assert sorted(n["addr"] for n in nodes) == c.addrs
        assert all(n["state"] == "up" and n["capacity"] > 0 for n in nodes)
        keys = ("addr", "rack", "state")  # capacity follows the disk's free space
        assert sorted(tuple(n[k] for k in keys) for n in nodes) == sorted(
            tuple(n[k] for k in keys) for n in c.cli.json("admin", "nodes"))
        data = os.urandom(2 * MIB + 1)
        fs.mkdir("/adm")
        with fs.open("/adm/f", "wb") as f:
            f.write(data)
        rep = fs.fsck("/adm")
        assert rep == dict(c.cli.json("admin", "fsck", "/adm"), more=False)
        assert rep["status"] == "HEALTHY" and rep["files"] == 1 and rep["chunks"] == 3
        assert rep["held"] == 0 and fs.release_held() == 0
        with pytest.raises(FileNotFoundError) as e:
            fs.fsck("/adm/nope")
        assert "/adm/nope" in str(e.value)
        rb = wait_for("a planner scan", lambda: (lambda r: r if r["scan"] > 0 else None)(
            fs.rebalance(query=True)))
        assert rb["nodes"] == 3 and rb["threshold"] == 10 and not rb["blocked"]
        with pytest.raises(cairn.Error):
            fs.rebalance(threshold=101)
        # decommission and cancel: nowhere to drain to with 3 nodes and 3 replicas
        addr = c.addrs[0]
        fs.decommission(addr)
        assert {n["addr"]: n["state"] for n in fs.nodes()}[addr] == "decommissioning"
        fs.decommission(addr, cancel=True)
        assert {n["addr"]: n["state"] for n in fs.nodes()}[addr] == "up"
        with pytest.raises(FileNotFoundError) as e:
            fs.decommission("127.0.0.1:1")
        assert "127.0.0.1:1" in str(e.value)
        # a node dies: DEGRADED, each chunk named as under-replicated
        c.chunks[0].kill()
        wait_for("the node dead", lambda: {n["addr"]: n["state"] for n in fs.nodes()}[
            c.chunks[0].addr] == "dead")
        rep = wait_for("fsck DEGRADED", lambda: (lambda r: r if r["status"] == "DEGRADED"
                                                  else None)(fs.fsck("/adm")))
        assert sorted((p["path"], p["index"], p["kind"]) for p in rep["problems"]) == [
            ("/adm/f", i, "under_replicated") for i in range(3)]
        fs.close()
    finally:
        c.kill()


# ---- errors ----

def test_error_mapping(fs, d):
    fs.write_bytes(d + "/file", b"x")
    cases = [
        (FileNotFoundError, errno.ENOENT, lambda: fs.stat(d + "/missing"), d + "/missing"),
        (FileNotFoundError, errno.ENOENT, lambda: fs.open(d + "/missing"), d + "/missing"),
        (FileNotFoundError, errno.ENOENT, lambda: fs.ls(d + "/missing"), d + "/missing"),
        (FileNotFoundError, errno.ENOENT, lambda: fs.rm(d + "/missing"), d + "/missing"),
        (FileExistsError, errno.EEXIST, lambda: fs.mkdir(d + "/file"), d + "/file"),
        (IsADirectoryError, errno.EISDIR, lambda: fs.open(d, "rb"), d),
        (IsADirectoryError, errno.EISDIR, lambda: fs.open(d, "wb"), d),
        (NotADirectoryError, errno.ENOTDIR, lambda: fs.stat(d + "/file/x"), d + "/file/x"),
        (NotADirectoryError, errno.ENOTDIR, lambda: fs.ls(d + "/file/x"), d + "/file/x"),
        (NotADirectoryError, errno.ENOTDIR, lambda: fs.mkdir(d + "/file/x"), d + "/file/x"),
        (cairn.Error, errno.EINVAL, lambda: fs.stat(d + "/../etc"), d + "/../etc"),
        (cairn.Error, errno.EBUSY, lambda: fs.rm("/", recursive=True), "/"),
    ]
    for cls, num, call, path in cases:
        with pytest.raises(cls) as e:
            call()
        assert e.value.errno == num, (path, e.value)
        assert e.value.filename == path and repr(path) in str(e.value), str(e.value)
        assert isinstance(e.value, OSError)
    # Codes no call of this cluster returns map through the same table.
    from cairn import errors
    assert type(errors.exception(-errno.EACCES, "Permission denied", "", "/p")) is PermissionError
    assert type(errors.exception(-errno.EPERM, "Not permitted", "", "/p")) is PermissionError
    e = errors.exception(-cairn.ECHECKSUM, "checksum mismatch", "chunk 7 on a:1", "/p")
    assert type(e) is cairn.Error and e.errno == 1000
    assert str(e) == "[Errno 1000] checksum mismatch (chunk 7 on a:1): '/p'"
    assert issubclass(cairn.Unavailable, cairn.Error) and issubclass(cairn.Error, OSError)


def test_timeout_and_unavailable(tmp_path):
    from conftest import Meta, free_port
    with cairn.connect("127.0.0.1:%d" % free_port(), timeout=1) as fs:
        with pytest.raises(cairn.Unavailable) as e:
            fs.stat("/x")
        assert isinstance(e.value, ConnectionError) and e.value.errno == cairn.EUNAVAIL
        assert "/x" in str(e.value)
        assert "unavailable (gave up after 1s)" in str(e.value)  # libcairn's words
    meta = Meta(tmp_path).start()
    try:
        with cairn.connect(meta.addr, timeout=1.5) as fs:
            fs.ping()
            meta.proc.send_signal(signal.SIGSTOP)
            try:
                with pytest.raises(TimeoutError) as e:
                    fs.mkdir("/late")
            finally:
                meta.proc.send_signal(signal.SIGCONT)
            assert e.value.errno == errno.ETIMEDOUT and "/late" in str(e.value)
    finally:
        meta.kill()


def test_defaults_and_address_lists(cluster):
    """None is libcairn's default; a list of addresses passes over a dead member."""
    from conftest import free_port
    with cairn.connect("127.0.0.1:%d,%s" % (free_port(), cluster.meta.addr)) as fs:
        fs.ping()
        assert fs.timeout == 60.0  # libcairn's default, read back from the handle
        assert cluster.meta.addr in fs.addr


# ---- threads and processes ----

def test_threads_read_in_parallel(fs, d):
    files = {d + "/t%d" % i: os.urandom(3 * MIB + i * 1000) for i in range(4)}
    for path, data in files.items():
        fs.write_bytes(path, data)
    errs = []

    def whole(path):
        try:
            with fs.open(path, "rb") as f:
                buf = bytearray(len(files[path]))
                assert f.readinto(buf) == len(buf) and buf == files[path]
        except BaseException as e:  # reported below
            errs.append(e)

    def ranges(path, seed):
        try:
            rnd = random.Random(seed)
            data = files[path]
            with fs.open(path, "rb", buffering=0) as f:
                for _ in range(20):
                    off = rnd.randrange(len(data))
                    n = rnd.randrange(1, 2 * MIB)
                    assert f.pread(n, off) == data[off:off + n]
        except BaseException as e:
            errs.append(e)

    threads = [threading.Thread(target=whole, args=(p,)) for p in files]
    threads += [threading.Thread(target=ranges, args=(p, i)) for i, p in enumerate(files)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errs, errs
    assert not any(t.is_alive() for t in threads)


def rx_queued(port):
    """Bytes waiting unread in sockets accepted on this local port (from /proc/net/tcp)."""
    total = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":
                total += int(fields[4].split(":")[1], 16)
    return total


def test_gil_released_inside_libcairn(fs, d, cluster):
    """A thread blocked inside cairn_read (its chunkserver is stopped) does not stop
    another thread from reading a whole file meanwhile."""
    by_addr = {c.addr: c for c in cluster.chunks}
    slow_data, fast_data = os.urandom(MIB), os.urandom(2 * MIB)
    with fs.open(d + "/slow", "wb", replication=1) as f:
        f.write(slow_data)
    slow = by_addr[fs.locations(d + "/slow")[0]["replicas"][0]]
    for i in range(50):  # a file with its one replica elsewhere
        fast = d + "/fast%d" % i
        with fs.open(fast, "wb", replication=1) as f:
            f.write(fast_data)
        if slow.addr not in {a for c in fs.locations(fast) for a in c["replicas"]}:
            break
    else:
        pytest.fail("every file landed on %s" % slow.addr)
    result = {}

    def blocked():
        try:
            with fs.open(d + "/slow", "rb", buffering=0) as f:
                result["data"] = f.readall()
        except BaseException as e:
            result["error"] = e

    slow.proc.send_signal(signal.SIGSTOP)
    t = threading.Thread(target=blocked)
    try:
        t.start()
        deadline = time.monotonic() + 30
        while rx_queued(slow.port) == 0:  # its read request waits at the stopped server
            assert time.monotonic() < deadline and t.is_alive(), result
            time.sleep(0.01)
        with fs.open(fast, "rb") as f:
            assert f.read() == fast_data
        assert t.is_alive() and not result  # still inside cairn_read
    finally:
        slow.proc.send_signal(signal.SIGCONT)
    t.join(60)
    assert result.get("data") == slow_data, result


def test_fork_child_gets_its_own_handle(fs, d):
    fs.write_bytes(d + "/f", b"from the parent")
    held = fs.open(d + "/f", "rb")
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running any cleanup
        code = 1
        signal.alarm(120)  # never outlive a hang
        try:
            ok = fs.cat(d + "/f") == b"from the parent"
            fs.write_bytes(d + "/child", b"from the child")
            try:
                held.read()
                stale = False
            except ValueError:
                stale = True
            code = 0 if ok and stale else 2
        finally:
            os.write(wfd, bytes([code]))
            os._exit(code)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as r:
        got = r.read()
    _, status = os.waitpid(pid, 0)
    assert got == b"\0" and os.waitstatus_to_exitcode(status) == 0
    assert fs.cat(d + "/child") == b"from the child"
    assert held.read() == b"from the parent"
    held.close()


def test_filesystem_close_closes_files(cluster):
    fs = cairn.connect(cluster.meta.addr, timeout=20)
    f = fs.open("/closed-by-fs", "wb")
    f.write(b"kept")
    fs.close()
    assert f.closed
    with pytest.raises(ValueError):
        fs.stat("/")
    with cairn.connect(cluster.meta.addr, timeout=20) as again:
        assert again.cat("/closed-by-fs") == b"kept"
