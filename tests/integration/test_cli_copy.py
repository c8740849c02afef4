"""Whole datasets through the CLI (issue 11): put and get of directories and
of several sources, cp [-r] inside cairn, mv [-f], and globs expanded by
cairn against the namespace ('*', '?', '[...]', '{a,b}') for quoted
arguments; existing and new targets, trailing slashes; bytes compared;
put --chunk-size and cp keeping chunk sizes.
"""
import filecmp
import json
import os
import subprocess

import pytest

from cluster import cairn_run as cairn, module_cluster
from conftest import BIN

KIB, MIB = 1 << 10, 1 << 20


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    yield from module_cluster(tmp_path_factory, "copy")


def err_line(r, status=1):
    lines = r.stderr.decode().strip().splitlines()
    assert r.returncode == status, (r.returncode, lines)
    return "\n".join(lines)


def tree(cluster, top):
    """{relative path: bytes or None for a directory} of a remote tree, through ls -R --json."""
    out = {}
    for e in json.loads(cairn(cluster, "ls", "-R", "--json", top).stdout):
        rel = os.path.relpath(e["path"], top)
        out[rel] = None if e["type"] == "dir" else cairn(cluster, "cat", e["path"]).stdout
    return out


def local_tree(top):
    out = {}
    for d, dirs, files in os.walk(top):
        for n in dirs:
            out[os.path.relpath(os.path.join(d, n), top)] = None
        for n in files:
            with open(os.path.join(d, n), "rb") as f:
                out[os.path.relpath(os.path.join(d, n), top)] = f.read()
    return out


def make_dataset(top, nfiles=12):
    os.makedirs(top / "part" / "deep")
    (top / "empty").mkdir()
    for i in range(nfiles):
        sub = top if i % 3 == 0 else top / "part" if i % 3 == 1 else top / "part" / "deep"
        (sub / ("f%02d.csv" % i)).write_bytes(os.urandom(i * 7 * KIB + i))
    return local_tree(top)


def test_put_and_get_a_directory(cluster, tmp_path):
    src = tmp_path / "ds"
    want = make_dataset(src)
    cairn(cluster, "put", src, "/ds")  # a new target: the directory becomes /ds
    assert tree(cluster, "/ds") == want
    cairn(cluster, "mkdir", "/into")
    cairn(cluster, "put", str(src) + "/", "/into/")  # an existing one: into it, by name
    assert tree(cluster, "/into/ds") == want
    # Again without -f: every file is refused, nothing changes; with -f all are replaced.
    r = cairn(cluster, "put", src, "/into", check=False)
    assert "the file exists" in err_line(r) and "/into/ds/f00.csv" in err_line(r)
    cairn(cluster, "put", "-f", src, "/into")
    assert tree(cluster, "/into/ds") == want
    # get: into a new local directory, and into an existing one by name.
    cairn(cluster, "get", "/ds", tmp_path / "back")
    assert local_tree(tmp_path / "back") == want
    (tmp_path / "outdir").mkdir()
    cairn(cluster, "get", "/ds/", tmp_path / "outdir")
    assert local_tree(tmp_path / "outdir" / "ds") == want


def test_several_sources_into_a_directory(cluster, tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"A" * 1000)
    b.write_bytes(b"B" * 2000)
    r = cairn(cluster, "put", a, b, "/nodir", check=False)
    assert "several sources need a directory" in err_line(r)
    cairn(cluster, "mkdir", "/many")
    cairn(cluster, "put", a, b, "/many")
    assert tree(cluster, "/many") == {"a.bin": a.read_bytes(), "b.bin": b.read_bytes()}
    out = tmp_path / "many-out"
    out.mkdir()
    cairn(cluster, "get", "/many/a.bin", "/many/b.bin", out)
    assert filecmp.cmp(a, out / "a.bin", shallow=False)
    assert filecmp.cmp(b, out / "b.bin", shallow=False)
    r = cairn(cluster, "get", "/many/a.bin", "/many/b.bin", tmp_path / "nowhere", check=False)
    assert "several sources need an existing directory" in err_line(r)


def test_put_from_a_pipe_named_on_the_command_line(cluster, tmp_path):
    """A FIFO given as LOCAL is read as a stream (inside a directory it would be skipped)."""
    cairn_bin = os.path.join(BIN, "cairn")
    r = subprocess.run(["bash", "-c", '"$0" --meta "$1" put <(printf abc) /from-pipe',
                        cairn_bin, cluster.meta.addr], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert cairn(cluster, "cat", "/from-pipe").stdout == b"abc"
    (tmp_path / "fd").mkdir()
    os.mkfifo(tmp_path / "fd" / "fifo")
    (tmp_path / "fd" / "file").write_bytes(b"f")
    r = cairn(cluster, "put", tmp_path / "fd", "/fd", check=False)
    assert "skipped" in err_line(r) and cairn(cluster, "cat", "/fd/file").stdout == b"f"


def test_globs(cluster, tmp_path):
    cairn(cluster, "mkdir", "-p", "/g/x1", "/g/x2", "/g/y1")
    for d in ("x1", "x2", "y1"):
        for n in ("a.csv", "b.csv", "c.txt"):
            cairn(cluster, "put", "-", "/g/%s/%s" % (d, n), input=(d + n).encode())
    out = tmp_path / "globbed"
    out.mkdir()
    cairn(cluster, "get", "/g/x?/*.csv", out)  # both x1 and x2 hold a.csv: the last wins
    assert sorted(os.listdir(out)) == ["a.csv", "b.csv"]
    assert cairn(cluster, "cat", "/g/{x1,y1}/[ab].csv").stdout == b"x1a.csvx1b.csvy1a.csvy1b.csv"
    assert cairn(cluster, "cat", "/g/x[12]/c.txt").stdout == b"x1c.txtx2c.txt"
    assert cairn(cluster, "ls", "/g/x*").stdout.decode().split("\n\n") == [
        "/g/x1:\na.csv\nb.csv\nc.txt", "/g/x2:\na.csv\nb.csv\nc.txt\n"]
    assert cairn(cluster, "ls", "/g/x1/?.csv").stdout.decode() == "/g/x1/a.csv\n/g/x1/b.csv\n"
    r = cairn(cluster, "cat", "/g/z*", check=False)
    assert "/g/z*" in err_line(r) and "no match" in err_line(r)
    cairn(cluster, "rm", "/g/y1/*.csv")
    assert tree(cluster, "/g/y1") == {"c.txt": b"y1c.txt"}
    # A temporary of a copy in progress is hidden from '*'.
    cairn(cluster, "append", "-", "/g/x1/.a.csv.0123456789abcdef._COPYING_", input=b"partial")
    assert cairn(cluster, "cat", "/g/x1/*").stdout == b"x1a.csvx1b.csvx1c.txt"


def test_cp(cluster, tmp_path):
    src = tmp_path / "cpsrc"
    want = make_dataset(src, nfiles=6)
    cairn(cluster, "put", src, "/cpsrc")
    r = cairn(cluster, "cp", "/cpsrc", "/cpdst", check=False)
    assert "-r copies directories" in err_line(r)
    cairn(cluster, "cp", "-r", "/cpsrc", "/cpdst")
    assert tree(cluster, "/cpdst") == want
    r = cairn(cluster, "cp", "/cpsrc/f00.csv", "/cpdst", check=False)  # into it: exists
    assert "/cpdst/f00.csv: the file exists" in err_line(r)
    cairn(cluster, "cp", "-f", "/cpsrc/f03.csv", "/cpdst/f00.csv")
    assert cairn(cluster, "cat", "/cpdst/f00.csv").stdout == want["f03.csv"]
    r = cairn(cluster, "cp", "-r", "/cpsrc", "/cpsrc/part", check=False)
    assert "into itself" in err_line(r)
    cairn(cluster, "mkdir", "/cpglob")
    cairn(cluster, "cp", "/cpsrc/part/deep/*.csv", "/cpglob")
    assert tree(cluster, "/cpglob") == {k.split("/")[-1]: v for k, v in want.items()
                                        if k.startswith("part/deep/")}


def test_chunk_sizes_of_put_and_cp(cluster, tmp_path):
    """put --chunk-size gives every file of a tree that chunk size (stat %o shows it);
    cp keeps each source's unless --chunk-size; a bad size is a usage error that makes
    nothing."""
    src = tmp_path / "cssrc"
    want = make_dataset(src, nfiles=3)
    cairn(cluster, "put", "--chunk-size", "2M", src, "/cs")

    def sizes(top):
        return {e["path"]: int(cairn(cluster, "stat", "--format", "%o", e["path"]).stdout)
                for e in json.loads(cairn(cluster, "ls", "-R", "--json", top).stdout)
                if e["type"] == "file"}

    assert set(sizes("/cs").values()) == {2 * MIB} and tree(cluster, "/cs") == want
    cairn(cluster, "cp", "-r", "/cs", "/cs-kept")
    assert set(sizes("/cs-kept").values()) == {2 * MIB} and tree(cluster, "/cs-kept") == want
    cairn(cluster, "cp", "--chunk-size", "4M", "/cs/f00.csv", "/cs-4m")
    assert sizes("/cs-4m") == {"/cs-4m": 4 * MIB}
    assert "chunk_size:  4194304" in cairn(cluster, "stat", "/cs-4m").stdout.decode()
    assert cairn(cluster, "stat", "--format", "%o", "/cs").stdout == b"0\n"  # a directory
    for cmd in (["put", "--chunk-size", "3M", src / "f00.csv", "/cs-bad"],
                ["cp", "--chunk-size", "512K", "/cs/f00.csv", "/cs-bad"]):
        r = cairn(cluster, *cmd, check=False)
        assert "--chunk-size takes a power of two from 1M to 256M" in err_line(r, 2)
    assert cairn(cluster, "test", "-e", "/cs-bad", check=False).returncode == 1


def test_mv_refuses_an_existing_file_without_f(cluster):
    cairn(cluster, "mkdir", "/mv")
    cairn(cluster, "put", "-", "/mv/a", input=b"a")
    cairn(cluster, "put", "-", "/mv/b", input=b"b")
    r = cairn(cluster, "mv", "/mv/a", "/mv/b", check=False)
    assert "/mv/b" in err_line(r) and "-f" in err_line(r)
    assert cairn(cluster, "cat", "/mv/b").stdout == b"b"
    cairn(cluster, "mv", "-f", "/mv/a", "/mv/b")
    assert cairn(cluster, "cat", "/mv/b").stdout == b"a"
    cairn(cluster, "mkdir", "/mv/d")
    cairn(cluster, "put", "-", "/mv/c1", input=b"1")
    cairn(cluster, "put", "-", "/mv/c2", input=b"2")
    cairn(cluster, "mv", "/mv/c*", "/mv/d")
    assert tree(cluster, "/mv/d") == {"c1": b"1", "c2": b"2"}
