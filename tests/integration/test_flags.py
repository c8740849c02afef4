"""Flags and config files of cairn-meta: bad values exit 2 with one readable
line; good ones (flags or a --config file) are taken."""
import os
import subprocess

import pytest

from conftest import BIN, Meta, free_port


def run_meta(*args):
    return subprocess.run([os.path.join(BIN, "cairn-meta")] + list(args), capture_output=True,
                          text=True, timeout=30)


@pytest.mark.parametrize("args,words", [
    (["--data", "D", "--listen", "nonsense"], "--listen"),
    (["--data", "D", "--listen", "127.0.0.1:99999"], "--listen"),
    (["--data", "D", "--chunk-size", "12Q"], "--chunk-size"),
    (["--data", "D", "--chunk-size", "1K"], "out of range"),
    (["--data", "D", "--chunk-size", "3M"], "power of two"),
    (["--data", "D", "--chunk-size", "512M"], "out of range"),
    (["--data", "D", "--replication", "0"], "--replication"),
    (["--data", "D", "--replication", "three"], "--replication"),
    (["--data", "D", "--heartbeat", "fast"], "--heartbeat"),
    (["--data", "D", "--lease"], "needs a value"),
    (["--data", "D", "--no-such-flag", "1"], "--no-such-flag"),
    (["--data", "D", "stray"], "stray"),
    (["--data", "D", "--log-level", "loud"], "--log-level"),
    ([], "--data is required"),
    (["--data", "D", "--config", "/nonexistent/cairn.conf"], "/nonexistent/cairn.conf"),
])
def test_bad_flags_exit_2_with_one_line(tmp_path, args, words):
    args = [str(tmp_path / "d") if a == "D" else a for a in args]
    r = run_meta(*args)
    assert r.returncode == 2, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], r.stderr
    assert not (tmp_path / "d").exists(), "a refused start must change nothing"


def test_help_lists_every_flag():
    r = run_meta("--help")
    assert r.returncode == 0
    for flag in ["--listen", "--data", "--http", "--chunk-size", "--replication", "--heartbeat",
                 "--dead-after", "--lease", "--scan-interval", "--rebalance-threshold",
                 "--config", "--log-level"]:
        assert flag in r.stdout


def test_bad_config_file_value(tmp_path):
    conf = tmp_path / "meta.conf"
    conf.write_text("# comment\nreplication = 2\ndead-after = soon\n")
    r = run_meta("--data", str(tmp_path / "d"), "--config", str(conf))
    assert r.returncode == 2
    assert "meta.conf:3" in r.stderr and "--dead-after" in r.stderr
    conf.write_text("no-such-setting = 1\n")
    r = run_meta("--data", str(tmp_path / "d"), "--config", str(conf))
    assert r.returncode == 2 and "no-such-setting" in r.stderr


def test_config_file_is_used_and_flags_win(tmp_path):
    m = Meta(tmp_path)
    conf = tmp_path / "meta.conf"
    conf.write_text("listen = 127.0.0.1:%d\nreplication = 2\nchunk-size = 1M\n" % free_port())
    m.extra = ["--config", str(conf), "--replication", "5"]
    m.start()
    try:
        st = m.status()
        assert st["listen"] == m.addr  # the flag after the file won
        assert st["replication"] == 5 and st["chunk_size"] == 1 << 20
    finally:
        m.kill()


def test_second_metaserver_on_same_data_dir_refused(meta, tmp_path):
    r = run_meta("--data", meta.dir, "--listen", "127.0.0.1:%d" % free_port(),
                 "--http", "127.0.0.1:%d" % free_port())
    assert r.returncode == 1 and "in use" in r.stderr
