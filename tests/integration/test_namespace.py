"""The namespace through the cairn CLI and the C API, against a real
cairn-meta: every command of DESIGN §7 that exists so far, its errors, and
a directory too big for one readdir page."""
import os
import subprocess
import time

from conftest import Cli, cprog


def test_mkdir_ls_stat(cli):
    cli("mkdir", "/a")
    cli("mkdir", "-p", "/a/b/c", "/x/y")
    assert cli("ls", "/").split() == ["a", "x"]
    assert cli("ls", "/a").split() == ["b"]
    st = cli.json("stat", "/a/b")
    assert st["path"] == "/a/b" and st["type"] == "dir" and st["size"] == 0
    assert st["mode"] & 0o777 == 0o755
    assert abs(st["mtime"] - time.time()) < 60
    root = cli.json("stat", "/")
    assert root["type"] == "dir"


def test_ls_long_and_recursive(cli):
    cli("mkdir", "-p", "/r/one/two", "/r/three")
    long = cli("ls", "-l", "/r").splitlines()
    assert len(long) == 2 and long[0].startswith("d") and long[0].endswith("one")
    rec = cli("ls", "-R", "/r")
    for part in ["/r:", "/r/one:", "/r/one/two:", "/r/three:", "two", "three"]:
        assert part in rec


def test_mv_across_dirs_and_over_file_targets(cli):
    cli("mkdir", "-p", "/src/sub/deep", "/dst")
    cli("mv", "/src/sub", "/dst/moved")
    assert cli("ls", "/src").split() == []
    assert cli("ls", "/dst/moved").split() == ["deep"]
    # As with mv(1), an existing directory target receives the source.
    cli("mkdir", "/dst/empty")
    cli("mv", "/dst/moved", "/dst/empty")
    assert cli("ls", "/dst").split() == ["empty"]
    assert cli("ls", "/dst/empty/moved").split() == ["deep"]


def test_rm_and_recursive_rm(cli):
    cli("mkdir", "-p", "/t/a/b/c")
    err = cli.fails("rm", "/t/a")
    assert "/t/a" in err and "is a directory" in err.lower()
    cli("rm", "-r", "/t/a")
    assert cli("ls", "/t").split() == []
    cli("rm", "-r", "/t")
    assert "t" not in cli("ls", "/").split()


def test_setrep(cli):
    cli("mkdir", "/rep")
    cli("setrep", "2", "/rep")
    assert cli.json("stat", "/rep")["replication"] == 2
    err = cli.fails("setrep", "99", "/rep")
    assert "/rep" in err and "invalid" in err.lower()
    assert cli.run("setrep", "0", "/rep", check=False).returncode == 2


def test_errors_are_one_line_with_path_and_cause(cli):
    cli("mkdir", "/e")
    cases = [
        (("mkdir", "/e"), "exists"),
        (("mkdir", "/no/such/dir"), "no such file"),
        (("stat", "/nothing"), "no such file"),
        (("ls", "/nothing"), "no such file"),
        (("rm", "/nothing"), "no such file"),
        (("mv", "/nothing", "/x"), "no such file"),
        (("mv", "/e", "/e/inside"), "invalid"),
        (("mkdir", "/" + "n" * 300), "too long"),
        (("rm", "-r", "/"), "busy"),
    ]
    for args, cause in cases:
        err = cli.fails(*args)
        assert err.startswith("cairn: "), err
        assert cause in err.lower(), (args, err)
        assert args[1] in err or args[-1] in err, (args, err)
    assert cli("ls", "/").split() == ["e"], "failed commands must change nothing"


def test_usage_errors_exit_2(cli):
    r = cli.run("frobnicate", "/x", check=False)
    assert r.returncode == 2 and "frobnicate" in r.stderr
    r = cli.run("mkdir", check=False)
    assert r.returncode == 2
    r = cli.run("--timeout", "soon", "ls", "/", check=False)
    assert r.returncode == 2


def test_meta_from_environment(meta):
    env = dict(os.environ, CAIRN_META=meta.addr)
    r = subprocess.run([os.path.join(os.environ.get("CAIRN_BUILD", "build"), "bin", "cairn"),
                        "ls", "/"], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_metaserver_gone_fails_within_timeout(meta):
    cli = Cli(meta.addr)
    meta.kill()
    t0 = time.monotonic()
    err = cli.fails("stat", "/", timeout="1s")
    took = time.monotonic() - t0
    assert took < 10, "took %.1fs" % took
    assert meta.addr in err or "unavailable" in err.lower()


def test_big_directory_lists_completely(meta, cli):
    r = subprocess.run([cprog("ns_fill"), meta.addr, "/big", "100000", "8"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    names = cli("ls", "/big").split()
    assert len(names) == 100000
    assert names == sorted(names)
    assert len(set(names)) == 100000
    assert cli.json("stat", "/big")["type"] == "dir"


def test_c_api_program(meta):
    r = subprocess.run([cprog("ns_api"), meta.addr], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "ok" in r.stdout, r.stdout + r.stderr
