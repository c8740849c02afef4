#!/usr/bin/python3
"""dataset: a dataset folder in and out with one `cairn put` / `cairn get`,
against one `cairn put` per file.

    bench/dataset.py [--meta HOST:PORT] [--files 1000] [--size 100M] [--runs 1]

Against a running cluster (tools/cairn-cluster up). Makes a local folder
of --files files (--size in all, in ten subfolders), then per run: one
`cairn put DIR /bench/dataset-N`, one `cairn get` of it back (compared
byte for byte), and one `cairn put FILE REMOTE` process per file. Prints
the seconds and MB/s of each; nothing is asserted but the bytes. The CLI
comes from $CAIRN_BUILD/bin (default build/bin).
"""
import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAIRN = os.path.join(os.environ.get("CAIRN_BUILD", os.path.join(TOP, "build")), "bin", "cairn")


def size_arg(s):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(s[:-1]) * units[s[-1].upper()]) if s[-1].upper() in units else int(s)


def make_folder(top, files, size):
    each = size // files
    for i in range(files):
        sub = os.path.join(top, "part%02d" % (i % 10))
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, "f%05d.bin" % i), "wb") as f:
            f.write(os.urandom(each))
    return each * files


def cairn(meta, *args):
    subprocess.run([CAIRN, "--meta", meta] + list(args), check=True)


def timed(what, nbytes, fn):
    t = time.perf_counter()
    fn()
    s = time.perf_counter() - t
    print("%-34s %7.2f s  %7.1f MB/s" % (what, s, nbytes / s / 1e6), flush=True)
    return s


def same_tree(a, b):
    c = filecmp.dircmp(a, b)
    if c.left_only or c.right_only or c.diff_files or c.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, c.common_files, shallow=False)
    return not mismatch and not errors and all(same_tree(os.path.join(a, d), os.path.join(b, d))
                                               for d in c.common_dirs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--meta", default=os.environ.get("CAIRN_META", "127.0.0.1:20000"))
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--size", type=size_arg, default=100 << 20)
    ap.add_argument("--runs", type=int, default=1)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="cairn-dataset-")
    try:
        src = os.path.join(work, "ds")
        nbytes = make_folder(src, a.files, a.size)
        print("%d files, %d bytes" % (a.files, nbytes))
        for run in range(a.runs):
            remote = "/bench/dataset-%d-%d" % (os.getpid(), run)
            cairn(a.meta, "mkdir", "-p", "/bench")
            timed("one put of the folder", nbytes, lambda: cairn(a.meta, "put", src, remote))
            back = os.path.join(work, "back%d" % run)
            timed("one get of the folder", nbytes, lambda: cairn(a.meta, "get", remote, back))
            print("byte-identical:", same_tree(src, back))
            singles = remote + "-singles"

            def one_by_one():
                for d in sorted(os.listdir(src)):
                    cairn(a.meta, "mkdir", "-p", singles + "/" + d)
                    for f in sorted(os.listdir(os.path.join(src, d))):
                        cairn(a.meta, "put", os.path.join(src, d, f), "%s/%s/%s" % (singles, d, f))

            timed("%d single puts" % a.files, nbytes, one_by_one)
            cairn(a.meta, "rm", "-r", remote, singles)
            shutil.rmtree(back)
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    sys.exit(main())
