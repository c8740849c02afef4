"""cairn's fsspec file system against fsspec's own MemoryFileSystem (issue
11): the same cases run on both, and the results (paths relative to each
one's root, contents, errors) must be equal. Writes that create parents,
copy/get/put of files, directories and globs, recursive and not, into new
and existing targets, with and without trailing slashes; file objects'
.size/.info(); read_block and tail; transactions; errors raised.
Then what only cairn can promise: ukey/checksum follow the content.

Shares test_python's set-up (see its text for the ASan arrangement).
"""
import os
import uuid

import pytest

from test_python import IN_PROCESS, _in_process_only, cluster  # noqa: F401 (fixtures)

fsspec = pytest.importorskip("fsspec", reason="python3-fsspec is not installed")
from fsspec.implementations.memory import MemoryFileSystem  # noqa: E402

if IN_PROCESS:
    import cairn.fsspec  # noqa: F401 (registers cairn://)

KINDS = ["memory", "cairn"]


def make(kind, cluster):
    """(fs, root): a fresh root directory on one of the two file systems."""
    root = "/ref-" + uuid.uuid4().hex[:8]
    fs = MemoryFileSystem() if kind == "memory" else \
        fsspec.filesystem("cairn", host=cluster.meta.addr)
    fs.mkdir(root)
    return fs, root


@pytest.fixture(params=KINDS)
def ref(request, cluster):
    fs, root = make(request.param, cluster)
    yield fs, root
    fs.rm(root, recursive=True)


def on_both(cluster, case):
    """Runs case(fs, root) on each file system; asserts the results are equal; returns one."""
    results = {}
    for kind in KINDS:
        fs, root = make(kind, cluster)
        try:
            results[kind] = case(fs, root)
        finally:
            fs.rm(root, recursive=True)
    assert results["cairn"] == results["memory"], results
    return results["cairn"]


def tree(fs, root, top=""):
    """{relative file path: bytes} under root + top."""
    return {p[len(root):]: fs.cat_file(p) for p in fs.find(root + top)}


def seed(fs, root):
    fs.pipe(root + "/src/a.csv", b"a")
    fs.pipe(root + "/src/b.txt", b"bb")
    fs.pipe(root + "/src/sub/c.csv", b"ccc")


def test_writes_make_parents(cluster):
    def case(fs, root):
        fs.pipe_file(root + "/p/q/r.bin", b"x")
        with fs.open(root + "/o/p/f", "wb") as f:
            f.write(b"y")
        fs.touch(root + "/t/u/v")
        return tree(fs, root), fs.isdir(root + "/p/q"), fs.isdir(root + "/t/u")

    assert on_both(cluster, case)[0] == {"/p/q/r.bin": b"x", "/o/p/f": b"y", "/t/u/v": b""}


@pytest.mark.parametrize("src,dst,existing,recursive", [
    ("/src", "/new", False, True), ("/src/", "/new/", False, True),
    ("/src", "/old", True, True), ("/src/", "/old/", True, True),
    ("/src/*.csv", "/new/", False, False), ("/src/*.csv", "/old/", True, False),
    ("/src/a.csv", "/old/", True, False),
    ("/src/a.csv", "/new.csv", False, False),
])
def test_copy(cluster, src, dst, existing, recursive):
    def case(fs, root):
        seed(fs, root)
        if existing:
            fs.mkdir(root + dst.rstrip("/"))
        fs.copy(root + src, root + dst, recursive=recursive)
        return tree(fs, root)

    assert len(on_both(cluster, case)) > 3


def test_copy_file_and_errors(cluster):
    def case(fs, root):
        seed(fs, root)
        fs.copy(root + "/src/a.csv", root + "/one.csv")
        fs.cp_file(root + "/src/b.txt", root + "/deep/er/b.txt")
        errors = []
        for bad in (lambda: fs.copy(root + "/missing", root + "/x"),
                    lambda: fs.cat(root + "/missing"),
                    lambda: fs.copy(root + "/missing/*", root + "/x")):
            try:
                bad()
                errors.append(None)
            except Exception as e:  # the same kind of error on both
                errors.append(type(e).__name__)
        return tree(fs, root), errors

    assert on_both(cluster, case)[1][:2] == ["FileNotFoundError", "FileNotFoundError"]


@pytest.mark.parametrize("src", ["/src", "/src/", "/src/*.csv"])
def test_get_and_put(cluster, tmp_path, src):
    def case(fs, root):
        local = tmp_path / (type(fs).__name__ + uuid.uuid4().hex[:6])
        local.mkdir()
        seed(fs, root)
        fs.get(root + src, str(local) + "/", recursive=True)
        got = {os.path.relpath(os.path.join(d, f), local): open(os.path.join(d, f), "rb").read()
               for d, _, files in os.walk(local) for f in files}
        fs.put(str(local), root + "/up", recursive=True)
        return got, tree(fs, root, "/up")

    got, put = on_both(cluster, case)
    assert got and put


def test_get_into_a_new_local_directory(cluster, tmp_path):
    """fsspec's own local target wants the directory to exist; cairn makes it."""
    fs, root = make("cairn", cluster)
    seed(fs, root)
    fs.get(root + "/src", str(tmp_path / "new" / "deeper"), recursive=True)
    assert (tmp_path / "new" / "deeper" / "sub" / "c.csv").read_bytes() == b"ccc"
    fs.rm(root, recursive=True)


def test_file_objects(ref):
    fs, root = ref
    data = b"line one\nline two\nline three\n"
    fs.pipe(root + "/f.txt", data)
    with fs.open(root + "/f.txt", "rb") as f:
        assert f.size == len(data)
        if hasattr(f, "info"):  # fsspec's memory files have none in this version
            assert f.info()["size"] == len(data) and f.info()["type"] == "file"
            assert f.details["size"] == len(data)
    assert fs.read_block(root + "/f.txt", 5, 10, delimiter=b"\n") == b"line two\n"
    assert fs.tail(root + "/f.txt", 6) == data[-6:]
    assert fs.head(root + "/f.txt", 4) == data[:4]


def test_transaction(ref):
    fs, root = ref
    with fs.transaction:
        with fs.open(root + "/tx", "wb") as f:
            f.write(b"later")
        assert not fs.exists(root + "/tx")
    assert fs.cat(root + "/tx") == b"later"
    with pytest.raises(RuntimeError):
        with fs.transaction:
            with fs.open(root + "/tx2", "wb") as f:
                f.write(b"never")
            raise RuntimeError("abort")
    assert not fs.exists(root + "/tx2")


def test_checksum_follows_content(cluster):
    fs = fsspec.filesystem("cairn", host=cluster.meta.addr)
    fs.pipe("/ck/a", b"same")
    first = (fs.checksum("/ck/a"), fs.ukey("/ck/a"))
    fs.pipe("/ck/a", b"same")  # rewritten, same bytes: a new file, same content
    assert (fs.checksum("/ck/a"), fs.ukey("/ck/a")) == first
    fs.pipe("/ck/a", b"diff")
    assert fs.checksum("/ck/a") != first[0] and fs.ukey("/ck/a") != first[1]
    fs.rm("/ck", recursive=True)


def test_listing_and_walking(cluster):
    def case(fs, root):
        seed(fs, root)
        fs.pipe(root + "/src/sub/deeper/d.csv", b"dddd")
        n = len(root)
        return (sorted(p[n:] for p in fs.find(root, withdirs=True)),
                sorted(p[n:] for p in fs.find(root, maxdepth=2)),
                sorted(p[n:] for p in fs.glob(root + "/src/*.csv")),
                sorted(p[n:] for p in fs.glob(root + "/src/**/*.csv")),
                fs.du(root), fs.du(root + "/src/sub"),
                sorted((p[n:], i["type"], i["size"]) for p, i in
                       fs.find(root + "/src", detail=True).items()),
                [(d[n:], sorted(ds), sorted(fs_)) for d, ds, fs_ in fs.walk(root + "/src")],
                fs.isfile(root + "/src/a.csv"), fs.isdir(root + "/src/a.csv"),
                fs.size(root + "/src/b.txt"), fs.exists(root + "/nope"))

    on_both(cluster, case)


def test_rm_and_mv(cluster):
    def case(fs, root):
        seed(fs, root)
        fs.rm(root + "/src/*.csv")
        after_glob = tree(fs, root)
        fs.mv(root + "/src", root + "/dst", recursive=True)
        fs.mv(root + "/dst/b.txt", root + "/moved/b.txt")  # a missing parent
        after_mv = tree(fs, root)
        fs.rm(root + "/dst", recursive=True)
        return after_glob, after_mv, tree(fs, root)

    on_both(cluster, case)
