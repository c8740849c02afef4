"""The hdfs-dfs commands people reach for (issue 11), through the CLI on a
real one-chunkserver cluster: head, tail [-f], touch, test, count [-q]
[-h], truncate (shorter: the namespace cuts it; longer: zeros), append,
chmod/chown/chgrp [-R], find, getmerge, a truncate refused while
another client writes the file, and the terminal's notice while a call
waits for an unreachable metaserver.
"""
import json
import os
import re
import subprocess
import time

import pytest

from cluster import cairn_run as cairn, module_cluster, wait_for
from conftest import BIN, cprog

KIB, MIB = 1 << 10, 1 << 20


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    yield from module_cluster(tmp_path_factory, "cmds")


def out(cluster, *args):
    return cairn(cluster, *args).stdout


def test_head_tail_and_follow(cluster):
    data = os.urandom(3 * MIB + 100)
    cairn(cluster, "put", "-", "/ht", input=data)
    assert out(cluster, "head", "/ht") == data[:1024]
    assert out(cluster, "head", "-c", "2M", "/ht") == data[:2 * MIB]
    assert out(cluster, "tail", "/ht") == data[-1024:]
    assert out(cluster, "tail", "-c", "1000000", "/ht") == data[-1000000:]
    cairn(cluster, "put", "-", "/tiny", input=b"abc")
    assert out(cluster, "tail", "/tiny") == b"abc" and out(cluster, "head", "/tiny") == b"abc"
    # -f: what another client appends shows up; SIGINT ends it with exit 0.
    argv = [os.path.join(BIN, "cairn"), "--meta", cluster.meta.addr, "tail", "-f", "/tiny"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.5)
    cairn(cluster, "append", "-", "/tiny", input=b"-more")
    got = b""
    deadline = time.monotonic() + 30
    os.set_blocking(p.stdout.fileno(), False)
    while got != b"abc-more" and time.monotonic() < deadline:
        time.sleep(0.1)
        got += p.stdout.read() or b""
    p.send_signal(2)
    assert p.wait(30) == 0
    assert got == b"abc-more"


def test_touch_test_and_count(cluster):
    cairn(cluster, "mkdir", "-p", "/tt/sub")
    cairn(cluster, "touch", "/tt/empty", "/tt/sub/e2")
    assert json.loads(out(cluster, "stat", "--json", "/tt/empty"))["size"] == 0
    before = int(json.loads(out(cluster, "stat", "--json", "/tt/empty"))["mtime"] * 1e6)
    time.sleep(0.05)
    cairn(cluster, "touch", "/tt/empty")
    after = int(json.loads(out(cluster, "stat", "--json", "/tt/empty"))["mtime"] * 1e6)
    assert after > before
    cairn(cluster, "put", "-", "/tt/full", input=b"x" * 3000)
    expect = {("-e", "/tt"): 0, ("-d", "/tt"): 0, ("-f", "/tt"): 1, ("-e", "/none"): 1,
              ("-f", "/tt/full"): 0, ("-z", "/tt/full"): 1, ("-z", "/tt/empty"): 0,
              ("-s", "/tt/full"): 0, ("-d", "/tt/full"): 1, ("-e", "/tt/full/x"): 1}
    for (flag, path), status in expect.items():
        r = cairn(cluster, "test", flag, path, check=False)
        assert (r.returncode, r.stdout, r.stderr) == (status, b"", b""), (flag, path, r)
    assert cairn(cluster, "test", "/tt", check=False).returncode == 2
    assert out(cluster, "count", "/tt").split() == [b"2", b"3", b"3000", b"/tt"]
    assert out(cluster, "count", "-q", "-h", "/tt").split() == [
        b"none", b"inf", b"none", b"inf", b"2", b"3", b"2.9", b"K", b"/tt"]


def test_truncate(cluster, tmp_path):
    data = os.urandom(2 * MIB + 5000)
    cairn(cluster, "put", "-", "/tr", input=data)
    cairn(cluster, "truncate", "1M", "/tr")
    assert out(cluster, "cat", "/tr") == data[:MIB]
    cairn(cluster, "truncate", "10", "/tr")
    assert out(cluster, "cat", "/tr") == data[:10]
    cairn(cluster, "append", "-", "/tr", input=b"tail")  # over the cut-off bytes of chunk 0
    assert out(cluster, "cat", "/tr") == data[:10] + b"tail"
    cairn(cluster, "truncate", "100K", "/tr")  # grows: zeros
    assert out(cluster, "cat", "/tr") == data[:10] + b"tail" + bytes(100 * KIB - 14)
    cairn(cluster, "truncate", "0", "/tr")
    assert out(cluster, "cat", "/tr") == b""
    r = cairn(cluster, "truncate", "x", "/tr", check=False)
    assert r.returncode == 2
    r = cairn(cluster, "truncate", "0", "/", check=False)
    assert r.returncode == 1 and b"directory" in r.stderr.lower(), r.stderr
    # While another client writes the file (cprog/failover_io, paused mid-write): refused.
    local = tmp_path / "busy"
    local.write_bytes(os.urandom(3 * MIB))
    w = subprocess.Popen([cprog("failover_io"), "write", cluster.meta.addr, "/busy", str(local),
                          str(2 * MIB), "30000"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert any(line.startswith("paused") for line in w.stdout), w.stderr.read()
    r = cairn(cluster, "truncate", "5", "/busy", check=False)
    assert r.returncode == 1 and b"open for writing" in r.stderr, r.stderr
    _, err = w.communicate("go\n", timeout=120)
    assert w.returncode == 0, err
    assert out(cluster, "cat", "/busy") == local.read_bytes()


def test_chmod_chown_chgrp_find_getmerge(cluster, tmp_path):
    cairn(cluster, "mkdir", "-p", "/p/a/b")
    for name, data in (("/p/x.csv", b"1,2\n"), ("/p/a/y.csv", b"3,4\n"), ("/p/a/b/z.txt", b"z")):
        cairn(cluster, "put", "-", name, input=data)
    cairn(cluster, "chmod", "-R", "700", "/p/a")
    assert json.loads(out(cluster, "stat", "--json", "/p/a/b/z.txt"))["mode"] == 0o700
    assert json.loads(out(cluster, "stat", "--json", "/p/x.csv"))["mode"] == 0o644
    assert cairn(cluster, "chmod", "9x", "/p", check=False).returncode == 2
    r = cairn(cluster, "stat", "--format", "%Q", "/p", check=False)
    assert r.returncode == 2 and b"%Q" in r.stderr
    cairn(cluster, "chown", "-R", "1234:55", "/p")
    cairn(cluster, "chgrp", "77", "/p/x.csv")
    assert out(cluster, "stat", "--format", "%u:%g %a %F", "/p/a/y.csv") == b"1234:55 700 regular file\n"
    assert out(cluster, "stat", "--format", "%u %g %n", "/p/x.csv") == b"1234 77 x.csv\n"
    assert out(cluster, "find", "/p", "-name", "*.csv").split() == [b"/p/a/y.csv", b"/p/x.csv"]
    assert out(cluster, "find", "/p", "-type", "d").split() == [b"/p", b"/p/a", b"/p/a/b"]
    r = cairn(cluster, "find", "/p", "-type", "x", check=False)
    assert r.returncode == 2
    merged = tmp_path / "merged.csv"
    cairn(cluster, "getmerge", "/p/a", "/p/x.csv", merged)
    assert merged.read_bytes() == b"3,4\n1,2\n"
    cairn(cluster, "getmerge", "-nl", "/p/a/b", "/p/a/b", merged)
    assert merged.read_bytes() == b"z\nz\n"


def test_du_summary_and_human_sizes(cluster):
    cairn(cluster, "mkdir", "-p", "/du/a")
    cairn(cluster, "put", "-", "/du/a/f", input=b"x" * (3 * MIB // 2))
    cairn(cluster, "put", "-", "/du/g", input=b"y" * 100)
    assert out(cluster, "du", "-s", "/du") == b"%d\t/du\n" % (3 * MIB // 2 + 100)
    assert out(cluster, "du", "-h", "/du").decode().splitlines() == [
        "1.5 M\t/du/a", "100\t/du/g", "1.5 M\t/du"]
    assert out(cluster, "du", "-s", "/du/*").decode().splitlines() == [
        "%d\t/du/a" % (3 * MIB // 2), "100\t/du/g"]
    cairn(cluster, "chown", "7:8", "/du/a/f")
    assert out(cluster, "ls", "-l", "-h", "/du/a").decode().split()[:5] == [
        "-rw-r--r--", "1", "7", "8", "1.5"]
    df = out(cluster, "df", "-h").decode()
    assert "capacity:" in df and any(u in df for u in (" G ", " T ", " M ")), df


def read_tty(master):
    """All a finished program wrote to the terminal whose master side is master (closed)."""
    shown = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    return shown


def test_progress_only_on_a_terminal(cluster, tmp_path):
    import pty
    local = tmp_path / "p.bin"
    local.write_bytes(os.urandom(2 * MIB))
    argv = [os.path.join(BIN, "cairn"), "--meta", cluster.meta.addr]
    r = subprocess.run(argv + ["put", local, "/prog-pipe"], capture_output=True, timeout=60)
    assert r.returncode == 0 and r.stderr == b""  # not a terminal: nothing
    master, slave = pty.openpty()
    p = subprocess.Popen(argv + ["put", "-", "/prog-tty"], stderr=slave, stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL)
    os.close(slave)
    p.stdin.write(local.read_bytes())
    p.stdin.flush()
    time.sleep(0.5)  # a long copy: its line is drawn at least once
    p.stdin.write(local.read_bytes())
    p.stdin.close()
    assert p.wait(60) == 0
    shown = read_tty(master)
    assert b"put /prog-tty" in shown and b"MB/s" in shown, shown


def test_waiting_for_the_metaserver_is_shown_on_a_terminal():
    import pty
    from conftest import free_port
    addr = "127.0.0.1:%d" % free_port()  # nobody listens
    argv = [os.path.join(BIN, "cairn"), "--meta", addr, "--timeout", "4s", "stat", "/"]
    master, slave = pty.openpty()
    tty = subprocess.Popen(argv, stderr=slave, stdout=subprocess.DEVNULL)
    os.close(slave)
    piped = subprocess.run(argv, capture_output=True, timeout=60)  # meanwhile, not a terminal
    assert tty.wait(60) == 1
    shown = read_tty(master)
    assert re.search(rb"\rcairn: waiting for metaserver %s, [23]s of 4s" % addr.encode(), shown)
    # Cleared before the one line of giving up.
    assert b"\r\x1b[Kcairn: stat /: metaserver %s unavailable (gave up after 4s)" % addr.encode() \
        in shown, shown
    assert piped.returncode == 1 and b"waiting" not in piped.stderr
    assert piped.stderr.count(b"\n") == 1 and b"gave up after 4s" in piped.stderr


def test_man_pages_and_completion_install_and_work(cluster, tmp_path):
    from conftest import BUILD
    r = subprocess.run(["cmake", "--install", BUILD, "--prefix", str(tmp_path / "pfx")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    share = tmp_path / "pfx" / "share"
    for page in ("man1/cairn.1", "man8/cairn-meta.8", "man8/cairn-chunk.8"):
        text = (share / "man" / page).read_text()
        assert text.startswith(".TH") and ".SH NAME" in text, page
    assert "\\-\\-lease" in (share / "man" / "man8" / "cairn-meta.8").read_text()
    assert "\n.B checksum " in (share / "man" / "man1" / "cairn.1").read_text()
    completion = share / "bash-completion" / "completions" / "cairn"
    cairn(cluster, "mkdir", "-p", "/comp/dir")
    cairn(cluster, "put", "-", "/comp/file.csv", input=b"x")

    def complete(*words):
        script = ('source %s; COMP_WORDS=(%s); COMP_CWORD=%d; _cairn; printf "%%s\\n" '
                  '"${COMPREPLY[@]}"' % (completion, " ".join("'%s'" % w for w in words),
                                         len(words) - 1))
        env = dict(os.environ, PATH=os.path.join(BUILD, "bin") + os.pathsep + os.environ["PATH"],
                   CAIRN_META=cluster.meta.addr)
        return subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                              env=env, timeout=60).stdout.split()

    assert {"checksum", "chmod", "chown", "chgrp"} <= set(complete("cairn", "ch"))
    assert complete("cairn", "ls", "/comp/") == ["/comp/dir/", "/comp/file.csv"]
    assert "-f" in complete("cairn", "put", "-")
