"""The Debian packages: `cmake --build BUILD --target package` makes
cairn-server, cairn-client and python3-cairn (and cairn-s3 once the
gateway is built); each is unpacked into a scratch root with `dpkg -x`
and checked as an operator would: the files where Debian wants them,
the units and config files, the dependencies, and the unpacked programs
working together (a metaserver and a chunkserver from the package, the
packaged CLI putting and reading a file, the packaged Python package
loading the packaged libcairn).
"""
import glob
import os
import shutil
import subprocess

import pytest

from conftest import BUILD, free_port, wait_listening

ARCH = subprocess.run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"], capture_output=True,
                      text=True).stdout.strip() or "x86_64-linux-gnu"
SERVER = ["usr/bin/cairn-meta", "usr/bin/cairn-chunk", "lib/systemd/system/cairn-meta.service",
          "lib/systemd/system/cairn-chunk@.service", "etc/cairn/meta.conf",
          "etc/cairn/chunk-1.conf", "usr/share/man/man8/cairn-meta.8",
          "usr/share/man/man8/cairn-chunk.8"]
CLIENT = ["usr/bin/cairn", "usr/include/cairn.h", "usr/lib/%s/libcairn.so.0" % ARCH,
          "usr/lib/%s/libcairn.so" % ARCH, "usr/lib/%s/pkgconfig/cairn.pc" % ARCH,
          "usr/share/man/man1/cairn.1", "usr/share/bash-completion/completions/cairn"]
PYTHON = ["usr/lib/python3/dist-packages/cairn/__init__.py",
          "usr/lib/python3/dist-packages/cairn/libcairn.so",
          "usr/lib/python3/dist-packages/cairn_fs-0.1.0.dist-info/entry_points.txt"]


@pytest.fixture(scope="module")
def debs():
    for old in glob.glob(os.path.join(BUILD, "*.deb")):
        os.unlink(old)
    r = subprocess.run(["cmake", "--build", BUILD, "--target", "package"], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    found = {}
    for path in glob.glob(os.path.join(BUILD, "*.deb")):
        name = subprocess.run(["dpkg-deb", "-f", path, "Package"], capture_output=True,
                              text=True, check=True).stdout.strip()
        found[name] = path
    return found


@pytest.fixture(scope="module")
def root(debs, tmp_path_factory):
    top = tmp_path_factory.mktemp("root")
    for path in debs.values():
        subprocess.run(["dpkg", "-x", path, str(top)], check=True, timeout=60)
    return top


def field(deb, name):
    return subprocess.run(["dpkg-deb", "-f", deb, name], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_packages_and_their_files(debs, root):
    assert {"cairn-server", "cairn-client", "python3-cairn"} <= set(debs)
    for rel in SERVER + CLIENT + PYTHON:
        assert os.path.lexists(root / rel), rel
    assert os.access(root / "usr/bin/cairn-meta", os.X_OK)
    assert "libevent" in field(debs["cairn-server"], "Depends")
    assert "cairn-client" in field(debs["python3-cairn"], "Depends")
    assert field(debs["python3-cairn"], "Architecture") == "all"
    ctl = subprocess.run(["dpkg-deb", "-I", debs["cairn-server"], "conffiles"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert set(ctl) == {"/etc/cairn/meta.conf", "/etc/cairn/chunk-1.conf"}
    unit = (root / "lib/systemd/system/cairn-chunk@.service").read_text()
    assert "ExecStart=/usr/bin/cairn-chunk --config /etc/cairn/chunk-%i.conf" in unit
    assert "User=cairn" in unit and "WantedBy=multi-user.target" in unit
    meta_unit = (root / "lib/systemd/system/cairn-meta.service").read_text()
    assert "ExecStart=/usr/bin/cairn-meta --config /etc/cairn/meta.conf" in meta_unit
    pc = (root / ("usr/lib/%s/pkgconfig/cairn.pc" % ARCH)).read_text()
    assert "libdir=${prefix}/lib/%s" % ARCH in pc and "-lcairn" in pc
    # The Python package's libcairn is the client package's, by a relative link.
    link = root / "usr/lib/python3/dist-packages/cairn/libcairn.so"
    assert os.path.realpath(link) == os.path.realpath(root / ("usr/lib/%s/libcairn.so.0" % ARCH))
    if shutil.which("systemd-analyze"):
        r = subprocess.run(["systemd-analyze", "verify", "--man=no",
                            str(root / "lib/systemd/system/cairn-meta.service")],
                           capture_output=True, text=True, timeout=60)
        assert "Unknown key" not in r.stderr and "Invalid" not in r.stderr, r.stderr


def test_unpacked_programs_work_together(root, tmp_path):
    env = dict(os.environ, LD_LIBRARY_PATH=str(root / "usr/lib" / ARCH))
    meta_port, http_port, chunk_port = free_port(), free_port(), free_port()
    meta_addr = "127.0.0.1:%d" % meta_port
    log = open(tmp_path / "log", "wb")
    procs = []
    try:
        # The packaged config files, with this test's ports and dirs (flags win).
        meta = subprocess.Popen([str(root / "usr/bin/cairn-meta"), "--config",
                                 str(root / "etc/cairn/meta.conf"), "--data",
                                 str(tmp_path / "meta"), "--listen", meta_addr, "--http",
                                 "127.0.0.1:%d" % http_port, "--replication", "1"],
                                stdout=log, stderr=log, env=env)
        procs.append(meta)
        assert wait_listening(meta, meta_port)
        (tmp_path / "chunk").mkdir()  # systemd's StateDirectory= makes it for the unit
        chunk = subprocess.Popen([str(root / "usr/bin/cairn-chunk"), "--config",
                                  str(root / "etc/cairn/chunk-1.conf"), "--meta", meta_addr,
                                  "--listen", "127.0.0.1:%d" % chunk_port, "--data",
                                  str(tmp_path / "chunk")], stdout=log, stderr=log, env=env)
        procs.append(chunk)
        assert wait_listening(chunk, chunk_port)
        cli = [str(root / "usr/bin/cairn"), "--meta", meta_addr, "--timeout", "20s"]
        src = tmp_path / "src"
        src.write_bytes(os.urandom(100000))
        subprocess.run(cli + ["put", str(src), "/f"], check=True, env=env, timeout=60)
        subprocess.run(cli + ["get", "/f", str(tmp_path / "back")], check=True, env=env,
                       timeout=60)
        assert (tmp_path / "back").read_bytes() == src.read_bytes()
        py_env = dict(env, PYTHONPATH=str(root / "usr/lib/python3/dist-packages"))
        py_env.pop("CAIRN_LIBRARY", None)  # test_python sets it for this process
        if os.environ.get("CAIRN_SANITIZE"):
            # An ASan-built libcairn loads only into a python with libasan preloaded.
            ldd = subprocess.run(["ldd", str(root / "usr/lib" / ARCH / "libcairn.so.0")],
                                 capture_output=True, text=True, env=env).stdout
            asan = [l.split("=>")[1].split()[0] for l in ldd.splitlines()
                    if "libasan" in l and "=>" in l]
            py_env.update(LD_PRELOAD=asan[0], ASAN_OPTIONS="detect_leaks=0")
        py = subprocess.run(
            ["/usr/bin/python3", "-c",
             "import cairn, cairn._lib as l; fs = cairn.connect(%r); "
             "print(l.load()[1]); print(fs.stat('/f')['size'])" % meta_addr],
            capture_output=True, text=True, timeout=60, env=py_env)
        assert py.returncode == 0, py.stderr
        lib, size = py.stdout.split()
        assert lib.startswith(str(root)) and size == "100000"
    finally:
        for p in procs:
            p.kill()
            p.wait()
        log.close()
