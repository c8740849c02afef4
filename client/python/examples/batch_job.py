#!/usr/bin/python3
"""batch_job: read a dataset of many cairn files with worker processes,
each taking the files whose data its host holds.

    batch_job.py [--meta HOST:PORT] [--json] DIR
    batch_job.py [--meta HOST:PORT] --make-dataset N DIR    (sample input)

The job (per file: bytes, lines and SHA-256) stands for any per-file
work. Scheduling is by locality, as a MapReduce-style scheduler does it:
the parent lists DIR, asks where each file's first chunk lives
(FileSystem.locations) and gives the file to the worker standing for that
chunk's first (best) replica. On a real cluster a worker runs on each
chunkserver's host and the key is the host; on one machine, where every
chunkserver is 127.0.0.1, each chunkserver address gets its own worker
process. Empty files (no chunks) go to the least loaded worker. The
assignment is printed before the work starts.
"""
import argparse
import collections
import hashlib
import json
import multiprocessing
import os
import queue
import sys

try:
    import cairn
except ImportError:  # not installed: the source tree this example lives in
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import cairn

PIECE = 4 << 20


def dataset_files(fs, top):
    """Every file under top, in name order."""
    out = []
    for d, _, files in fs.walk(top):
        out.extend(d.rstrip("/") + "/" + f for f in files)
    return sorted(out)


def host_of(addr, by_host):
    return addr.rpartition(":")[0] if by_host else addr


def assign(fs, files):
    """{worker key: [files]}: each file to the holder of its first chunk's first replica."""
    first = {}
    for path in files:
        locs = fs.locations(path, 0, 1)
        first[path] = locs[0]["replicas"][0] if locs and locs[0]["replicas"] else None
    addrs = {a for a in first.values() if a}
    by_host = len({host_of(a, True) for a in addrs}) > 1  # several hosts: key by host
    plan = collections.OrderedDict((k, []) for k in sorted({host_of(a, by_host) for a in addrs}))
    for path in files:
        if first[path]:
            plan[host_of(first[path], by_host)].append(path)
    for path in files:
        if not first[path]:
            if not plan:
                plan["any"] = []
            min(plan.values(), key=len).append(path)
    return plan, first


def work(args):
    """One worker: reads its files; returns (key, pid, [(path, bytes, lines, sha256)])."""
    meta, timeout, key, paths = args
    fs = cairn.connect(meta, timeout=timeout)
    buf = bytearray(PIECE)
    out = []
    with fs, memoryview(buf) as view:
        for path in paths:
            h = hashlib.sha256()
            size = lines = 0
            with fs.open(path, "rb", buffering=0) as f:
                while True:
                    n = f.readinto(buf)
                    if not n:
                        break
                    h.update(view[:n])
                    lines += buf.count(b"\n", 0, n)
                    size += n
            out.append((path, size, lines, h.hexdigest()))
    return key, os.getpid(), out


def worker_main(job, results):
    try:
        results.put(work(job))
    except BaseException as e:
        results.put((job[2], os.getpid(), "%s: %s" % (type(e).__name__, e)))
        raise


def run_workers(jobs):
    """One process per job, all at once; their results (in job order)."""
    ctx = multiprocessing.get_context("spawn")  # workers start clean and connect themselves
    results = ctx.Queue()
    procs = [ctx.Process(target=worker_main, args=(job, results)) for job in jobs]
    for p in procs:
        p.start()
    got = {}
    while len(got) < len(procs):
        try:
            key, pid, rows = results.get(timeout=1)
            got[key] = (key, pid, rows)
        except queue.Empty:
            if not any(p.is_alive() for p in procs) and results.empty():
                break
    for p in procs:
        p.join()
    failed = [(key, r[2]) for key, r in got.items() if isinstance(r[2], str)]
    lost = [job[2] for job in jobs if job[2] not in got]
    if failed or lost:
        raise SystemExit("batch_job: workers failed: %s" % (failed + [(k, "died") for k in lost]))
    return [got[job[2]] for job in jobs]


def make_dataset(fs, top, n):
    """n sample text files of 10 KB to 3 MB under top."""
    fs.mkdir(top, parents=True, exist_ok=True)
    for i in range(n):
        rows = 200 + (i * 7919) % 60000
        with fs.open("%s/part-%05d.txt" % (top.rstrip("/"), i), "w") as f:
            for r in range(rows):
                f.write("%d,%d,%s\n" % (i, r, "x" * (r % 40)))
    print("batch_job: wrote %d files under %s" % (n, top))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="cairn directory of the dataset")
    ap.add_argument("--meta", default=None, help="metaserver (default $CAIRN_META)")
    ap.add_argument("--timeout", type=float, default=60, help="seconds per cairn call")
    ap.add_argument("--json", action="store_true", help="print the plan and results as JSON")
    ap.add_argument("--make-dataset", type=int, metavar="N", help="write N sample files to DIR")
    args = ap.parse_args()
    fs = cairn.connect(args.meta, timeout=args.timeout)
    if args.make_dataset:
        make_dataset(fs, args.dir, args.make_dataset)
        return 0
    files = dataset_files(fs, args.dir)
    plan, first = assign(fs, files)
    fs.close()  # the parent's handle is not needed by the workers
    if not args.json:
        print("batch_job: %d files, %d workers" % (len(files), len(plan)))
        for key, paths in plan.items():
            print("  worker for %-21s %4d files: %s" % (key, len(paths), " ".join(
                os.path.basename(p) for p in paths[:4]) + (" ..." if len(paths) > 4 else "")))
    results = run_workers([(args.meta, args.timeout, key, paths) for key, paths in plan.items()])
    total = sum(size for _, _, rows in results for _, size, _, _ in rows)
    lines = sum(n for _, _, rows in results for _, _, n, _ in rows)
    if args.json:
        json.dump({"plan": plan, "first_replica": first, "workers": [
            {"key": key, "pid": pid, "files": [
                {"path": p, "bytes": b, "lines": n, "sha256": s} for p, b, n, s in rows]}
            for key, pid, rows in results], "bytes": total, "lines": lines}, sys.stdout)
        print()
    else:
        for key, pid, rows in results:
            print("  worker for %-21s pid %-7d read %4d files, %d bytes" % (
                key, pid, len(rows), sum(r[1] for r in rows)))
        print("batch_job: read %d bytes, %d lines in %d files" % (total, lines, len(files)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
