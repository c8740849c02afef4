"""Protected mode (Redis's model): a daemon without TLS refuses to listen
beyond loopback unless --insecure is given; it says why, exits 2 and
changes nothing. Loopback names and --insecure still start."""
import os
import subprocess

import pytest

from conftest import BIN, Cli, Meta, free_port


def run(prog, *args):
    return subprocess.run([os.path.join(BIN, prog)] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("prog", ["cairn-meta", "cairn-chunk"])
@pytest.mark.parametrize("host", ["0.0.0.0", "[::]"])
def test_non_loopback_without_tls_is_refused(tmp_path, prog, host):
    data = tmp_path / "d"
    r = run(prog, "--data", data, "--listen", "%s:%d" % (host, free_port()))
    assert r.returncode == 2, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "protected mode" in lines[0] and "--insecure" in lines[0], lines[0]
    assert not data.exists(), "a refused start must change nothing"


def test_insecure_flag_and_config_file(tmp_path):
    r = run("cairn-chunk", "--data", tmp_path / "d", "--listen", "0.0.0.0:1", "--insecure=maybe")
    assert r.returncode == 2 and "--insecure" in r.stderr, r
    conf = tmp_path / "meta.conf"
    conf.write_text("insecure = yes\n")
    m = Meta(tmp_path, "--config", str(conf))
    m.addr = "0.0.0.0:%d" % m.port
    m.start()
    try:
        Cli("127.0.0.1:%d" % m.port)("mkdir", "/open")
        assert "open" in Cli("127.0.0.1:%d" % m.port)("ls", "/")
    finally:
        m.stop()


def test_insecure_listens_everywhere_and_loopback_names_need_nothing(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    m = Meta(tmp_path / "a", "--insecure")
    m.addr = "0.0.0.0:%d" % m.port
    m.start()
    try:
        Cli("127.0.0.1:%d" % m.port)("mkdir", "/x")
    finally:
        m.stop()
    m = Meta(tmp_path / "b")
    m.addr = "localhost:%d" % m.port
    m.start()
    m.stop()
