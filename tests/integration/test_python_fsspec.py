"""cairn as an fsspec file system (cairn.fsspec), and what runs on it:
fsspec.open, pandas.read_csv / to_csv and dask.dataframe.read_csv / to_csv
on cairn://HOST:PORT/... URLs, against a real cluster. Also
tools/install-python into a temporary directory: with it on the path,
fsspec finds the protocol through the entry point, without `import cairn`,
and the package loads the libcairn.so copied next to it.

Uses Debian's python3-fsspec, python3-pandas and python3-dask
(tools/bootstrap.sh installs them). Shares test_python's set-up (see its
text for the ASan arrangement).
"""
import os
import pickle
import subprocess
import sys

import pytest

from conftest import BUILD, TOP
from test_python import (IN_PROCESS, SANITIZE, _in_process_only, cluster,  # noqa: F401
                         py_env)

MIB = 1 << 20

fsspec = pytest.importorskip("fsspec", reason="python3-fsspec is not installed "
                             "(tools/bootstrap.sh installs it)")
if IN_PROCESS:
    from cairn.fsspec import CairnFileSystem, split_url


@pytest.fixture(scope="module")
def url(cluster):
    return "cairn://%s" % cluster.meta.addr if cluster else None


@pytest.fixture(scope="module")
def cfs(cluster):
    return fsspec.filesystem("cairn", host=cluster.meta.addr) if cluster else None


def test_url_forms(monkeypatch):
    assert split_url("cairn://h:1/a/b/") == ("h:1", "/a/b")
    assert split_url("cairn:///a") == (None, "/a")
    assert split_url("cairn://h:1") == ("h:1", "/")
    assert split_url("/x//y") == (None, "/x//y")
    assert CairnFileSystem._strip_protocol("cairn://h:1/a/b/") == "/a/b"
    assert CairnFileSystem._strip_protocol(["cairn://h:1/a", "b"]) == ["/a", "/b"]
    assert CairnFileSystem._get_kwargs_from_urls("cairn://h:1/a") == {"host": "h:1"}
    assert CairnFileSystem._get_kwargs_from_urls("cairn:///a") == {}
    fs = CairnFileSystem(host="somehost", skip_instance_cache=True)
    assert fs.host == "somehost:20000"
    assert fs.unstrip_protocol("/a/b") == "cairn://somehost:20000/a/b"
    assert pickle.loads(pickle.dumps(fs)).host == "somehost:20000"  # as dask ships it
    monkeypatch.setenv("CAIRN_META", "10.1.2.3:555")
    assert CairnFileSystem(skip_instance_cache=True).host == "10.1.2.3:555"
    got, _, paths = fsspec.core.get_fs_token_paths("cairn://h:7/d/x.csv")
    assert isinstance(got, CairnFileSystem) and got.host == "h:7" and paths == ["/d/x.csv"]
    assert fsspec.get_filesystem_class("cairn") is CairnFileSystem


def test_fsspec_open_and_file_system_calls(url, cfs, tmp_path):
    data = os.urandom(3 * MIB + 11)
    with fsspec.open(url + "/f/a.bin", "wb") as f:  # makes /f
        f.write(data)
    with fsspec.open(url + "/f/a.bin", "rb") as f:
        assert f.read() == data
    with cfs.open("/f/big-chunks.bin", "wb", chunk_size=2 * MIB) as f:
        f.write(data)
    assert [c["offset"] for c in cfs.client.locations("/f/big-chunks.bin")] == [0, 2 * MIB]
    cfs.rm("/f/big-chunks.bin")
    with fsspec.open(url + "/f/t.txt", "w") as f:
        f.write("one\ntwo\n")
    with fsspec.open(url + "/f/t.txt", "ab") as f:
        f.write(b"three\n")
    with fsspec.open(url + "/f/t.txt", "r") as f:
        assert list(f) == ["one\n", "two\n", "three\n"]
    assert cfs.cat_file("/f/t.txt") == b"one\ntwo\nthree\n"
    assert cfs.cat_file(url + "/f/a.bin", start=MIB - 2, end=MIB + 2) == data[MIB - 2:MIB + 2]
    assert cfs.cat_file("/f/a.bin", start=-5) == data[-5:]
    assert cfs.head("/f/t.txt", 3) == b"one"
    assert cfs.ls(url + "/f", detail=False) == ["/f/a.bin", "/f/t.txt"]
    info = cfs.info("/f/a.bin")
    assert info["type"] == "file" and info["size"] == len(data)
    assert cfs.size("/f/a.bin") == len(data)
    assert cfs.isdir("/f") and cfs.isfile("/f/a.bin") and not cfs.exists("/f/none")
    cfs.makedirs("/f/deep/er", exist_ok=False)
    cfs.makedirs("/f/deep/er", exist_ok=True)
    with pytest.raises(FileExistsError):
        cfs.makedirs("/f/deep/er")
    cfs.touch("/f/deep/er/z")
    assert cfs.find("/f") == ["/f/a.bin", "/f/deep/er/z", "/f/t.txt"]
    assert cfs.glob(url + "/f/*.txt") == ["/f/t.txt"]
    assert cfs.du("/f") == len(data) + len("one\ntwo\nthree\n")
    cfs.cp_file("/f/a.bin", "/f/copy.bin")
    assert cfs.cat_file("/f/copy.bin") == data
    cfs.mv(url + "/f/copy.bin", url + "/f/moved.bin")
    assert not cfs.exists("/f/copy.bin") and cfs.size("/f/moved.bin") == len(data)
    assert cfs.modified("/f/moved.bin").tzinfo is not None
    assert cfs.ukey("/f/moved.bin") == cfs.ukey("/f/a.bin")  # same content, same key
    local = tmp_path / "up.bin"
    local.write_bytes(data[:1000])
    cfs.put(str(local), url + "/f/up/one.bin")  # makes /f/up
    assert cfs.cat_file("/f/up/one.bin") == data[:1000]
    cfs.get(url + "/f/up/one.bin", str(tmp_path / "down.bin"))
    assert (tmp_path / "down.bin").read_bytes() == data[:1000]
    cfs.get("/f/up", str(tmp_path / "tree"), recursive=True)
    assert (tmp_path / "tree" / "one.bin").read_bytes() == data[:1000]
    with pytest.raises(NotADirectoryError):
        cfs.rmdir("/f/a.bin")
    cfs.rm("/f/deep", recursive=True)
    cfs.rm(url + "/f/*.bin")
    assert cfs.ls("/f", detail=False) == ["/f/t.txt", "/f/up"]
    with pytest.raises(FileNotFoundError):
        cfs.info("/f/a.bin")
    with cfs.open("/f/x", "wb", autocommit=False) as f:  # a transaction's file
        f.write(b"x")
    assert not cfs.exists("/f/x")
    f.commit()
    assert cfs.cat_file("/f/x") == b"x"


def test_pandas_round_trip(url):
    pd = pytest.importorskip("pandas", reason="python3-pandas is not installed "
                             "(tools/bootstrap.sh installs it)")
    df = pd.DataFrame({"n": range(50000), "word": ["w%d" % (i % 977) for i in range(50000)],
                       "x": [i * 0.5 for i in range(50000)]})
    df.to_csv(url + "/pd/frame.csv", index=False)
    back = pd.read_csv(url + "/pd/frame.csv")
    pd.testing.assert_frame_equal(back, df)
    with fsspec.open(url + "/pd/frame.csv", "rb") as f:
        assert f.read(9) == b"n,word,x\n"
    df.to_csv(url + "/pd/frame.csv.gz", index=False, compression="gzip")
    pd.testing.assert_frame_equal(pd.read_csv(url + "/pd/frame.csv.gz"), df)


def test_dask_read_csv_and_to_csv(url, cfs):
    pd = pytest.importorskip("pandas", reason="python3-pandas is not installed "
                             "(tools/bootstrap.sh installs it)")
    dd = pytest.importorskip("dask.dataframe", reason="python3-dask is not installed "
                             "(tools/bootstrap.sh installs it)")
    parts = []
    for i in range(4):
        part = pd.DataFrame({"id": range(i * 80000, (i + 1) * 80000),
                             "name": ["name-%d" % j for j in range(80000)]})
        part.to_csv(url + "/dk/in/part%d.csv" % i, index=False)
        parts.append(part)
    want = pd.concat(parts, ignore_index=True)
    assert cfs.size("/dk/in/part0.csv") > MIB  # each part spans chunks
    got = dd.read_csv(url + "/dk/in/*.csv").compute().reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    # Blocks smaller than a file: dask splits each at line ends (seek + read).
    ddf = dd.read_csv(url + "/dk/in/*.csv", blocksize=400000)
    assert ddf.npartitions > 8
    pd.testing.assert_frame_equal(ddf.compute().reset_index(drop=True), want)
    if not SANITIZE:  # worker processes cannot load an ASan-built libcairn
        # The processes scheduler: the file system is pickled to each worker process.
        pd.testing.assert_frame_equal(
            ddf.compute(scheduler="processes", num_workers=2).reset_index(drop=True), want)
    ddf.to_csv(url + "/dk/out/part-*.csv", index=False)
    assert len(cfs.ls("/dk/out")) == ddf.npartitions
    again = dd.read_csv(url + "/dk/out/part-*.csv").compute().reset_index(drop=True)
    pd.testing.assert_frame_equal(again.sort_values("id").reset_index(drop=True), want)


def test_install_python_registers_the_entry_point(url, tmp_path):
    target = tmp_path / "site"
    env = py_env(CAIRN_BUILD=BUILD)  # its check imports the (maybe ASan-built) copy
    for _ in range(2):  # idempotent
        r = subprocess.run([os.path.join(TOP, "tools", "install-python"), "--no-build",
                            "--target", str(target)], capture_output=True, text=True, env=env,
                           timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
    assert (target / "cairn" / "libcairn.so").exists()
    assert (target / "cairn_fs-0.1.dist-info" / "entry_points.txt").exists()
    # A fresh python that never imports cairn itself, with the installed copy only.
    script = ("import fsspec, sys\n"
              "with fsspec.open(sys.argv[1] + '/inst/x.txt', 'w') as f:\n"
              "    f.write('installed')\n"
              "print(fsspec.open(sys.argv[1] + '/inst/x.txt', 'r').open().read())\n"
              "import cairn\n"
              "print(cairn.__file__, cairn.library_path)\n")
    env = py_env(PYTHONPATH=str(target))
    env.pop("CAIRN_LIBRARY")
    r = subprocess.run([sys.executable, "-c", script, url], capture_output=True, text=True,
                       env=env, cwd=str(tmp_path), timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "installed"
    pkg = target / "cairn"
    assert lines[1] == "%s %s" % (pkg / "__init__.py", pkg / "libcairn.so")
