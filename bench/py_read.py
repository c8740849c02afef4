#!/usr/bin/python3
"""py_read: sequential read of one big cairn file from Python vs `cairn get`.

    bench/py_read.py [--meta HOST:PORT] [--size 1G] [--runs 5] [--path /bench/py_read]
                     [--threads 2] [--keep]

Against a running cluster (tools/cairn-cluster up). Writes the file once
(reused while its size matches), then for each run, side by side:
`cairn get PATH -` into /dev/null, then Python reading the whole file
with RawFile.readinto() into one reused 4 MiB buffer (the CLI's read
size), with BufferedReader.read(4 MiB) (a new bytes object per call) and
with --threads threads each reading its own range with pread. Prints MB/s
per run and the medians, and the ratio Python / CLI. Nothing is asserted.
The package comes from the source tree (client/python) unless installed;
libcairn as cairn loads it ($CAIRN_LIBRARY, ...), the CLI from
$CAIRN_BUILD/bin (default build/bin).
"""
import argparse
import os
import statistics
import subprocess
import sys
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
try:
    import cairn
except ImportError:
    sys.path.insert(0, os.path.join(TOP, "client", "python"))
    import cairn

MIB = 1 << 20
PIECE = 4 * MIB


def size_arg(s):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(s[:-1]) * units[s[-1].upper()]) if s[-1].upper() in units else int(s)


def ensure_file(fs, path, size):
    try:
        if fs.stat(path)["size"] == size:
            return
    except FileNotFoundError:
        pass
    fs.mkdir(os.path.dirname(path), parents=True, exist_ok=True)
    block = bytearray(os.urandom(PIECE))
    t = time.perf_counter()
    with fs.open(path, "wb", buffering=0) as f:
        left = size
        while left:
            n = min(left, PIECE)
            block[:8] = left.to_bytes(8, "little")  # no two pieces alike
            f.write(memoryview(block)[:n])
            left -= n
    print("wrote %s: %d MiB in %.1f s" % (path, size // MIB, time.perf_counter() - t))


def read_cli(cli, meta, path):
    t = time.perf_counter()
    with open(os.devnull, "wb") as null:
        subprocess.run([cli, "--meta", meta, "get", path, "-"], stdout=null, check=True)
    return time.perf_counter() - t


def read_readinto(fs, path):
    buf = bytearray(PIECE)
    t = time.perf_counter()
    total = 0
    with fs.open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            total += n
    return time.perf_counter() - t, total


def read_buffered(fs, path):
    t = time.perf_counter()
    total = 0
    with fs.open(path, "rb") as f:
        while True:
            data = f.read(PIECE)
            if not data:
                break
            total += len(data)
    return time.perf_counter() - t, total


def read_threads(fs, path, size, nthreads):
    part = (size + nthreads - 1) // nthreads
    counts = [0] * nthreads

    def one(i):
        buf = bytearray(PIECE)
        off, end = i * part, min(size, (i + 1) * part)
        with fs.open(path, "rb", buffering=0) as f, memoryview(buf) as view:
            f.seek(off)
            while off < end:
                n = f.readinto(view[:min(PIECE, end - off)])
                if not n:
                    break
                off += n
                counts[i] += n

    threads = [threading.Thread(target=one, args=(i,)) for i in range(nthreads)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return time.perf_counter() - t, sum(counts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--meta", default=os.environ.get("CAIRN_META", "127.0.0.1:20000"))
    ap.add_argument("--size", type=size_arg, default=1 << 30)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--path", default="/bench/py_read")
    ap.add_argument("--keep", action="store_true", help="leave the file for the next run")
    args = ap.parse_args()
    cli = os.path.join(os.environ.get("CAIRN_BUILD", os.path.join(TOP, "build")), "bin", "cairn")
    fs = cairn.connect(args.meta, timeout=120)
    print("libcairn: %s; cli: %s; %d MiB, %d runs" % (cairn.library_path, cli,
                                                      args.size // MIB, args.runs))
    ensure_file(fs, args.path, args.size)
    mbs = {"cli": [], "readinto": [], "buffered": [], "threads": []}

    def rate(seconds):
        return args.size / seconds / 1e6

    for run in range(args.runs):
        mbs["cli"].append(rate(read_cli(cli, args.meta, args.path)))
        for name, fn in [("readinto", lambda: read_readinto(fs, args.path)),
                         ("buffered", lambda: read_buffered(fs, args.path)),
                         ("threads", lambda: read_threads(fs, args.path, args.size,
                                                          args.threads))]:
            seconds, total = fn()
            if total != args.size:
                sys.exit("py_read: %s read %d bytes, not %d" % (name, total, args.size))
            mbs[name].append(rate(seconds))
        print("run %d: cli %.0f MB/s, python readinto %.0f MB/s, buffered read %.0f MB/s, "
              "%d threads %.0f MB/s" % (run + 1, mbs["cli"][-1], mbs["readinto"][-1],
                                        mbs["buffered"][-1], args.threads, mbs["threads"][-1]))
    med = {k: statistics.median(v) for k, v in mbs.items()}
    print("median: cairn get %.0f MB/s; python readinto %.0f MB/s (%.2f of the CLI); "
          "buffered read(4M) %.0f MB/s (%.2f); %d threads %.0f MB/s (%.2f)" % (
              med["cli"], med["readinto"], med["readinto"] / med["cli"], med["buffered"],
              med["buffered"] / med["cli"], args.threads, med["threads"],
              med["threads"] / med["cli"]))
    if not args.keep:
        fs.rm(args.path)
    fs.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
