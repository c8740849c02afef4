"""A damaged op log never rolls the namespace back on its own (issue 10, item 3).

A flipped byte in a middle record of a real metaserver's op log: the restart
refuses with a message naming the file, the offset and the seqs at stake, and
nothing changes, in the data dir or on the chunkservers. `--recover-to SEQ`
is the operator's explicit way out: it starts from the state at SEQ and keeps
the rest aside. A torn last record (a crash in the middle of a write) is still
cut with a warning, as before.
"""
import os
import re
import struct
import subprocess

from cluster import Cluster


def segments(meta):
    return sorted(n for n in os.listdir(meta.dir)
                  if n.startswith("oplog.") and len(n) == len("oplog.") + 20)


def records(path):
    """(offset, length) of each record of an op-log segment (stops at the zeros)."""
    data = open(path, "rb").read()
    out, off = [], 0
    while off + 8 <= len(data):
        length = struct.unpack(">I", data[off:off + 4])[0]
        if length == 0:
            break
        out.append((off, length))
        off += 8 + length
    return out


def chunk_files(cluster):
    return sorted(os.path.join(r, f) for c in cluster.chunks
                  for r, _, fs in os.walk(c.dir) for f in fs)


def run_meta(meta, *extra):
    """Runs cairn-meta to see it refuse: (exit status, its output)."""
    r = subprocess.run(meta.argv() + list(extra), capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def test_damaged_record_refuses_then_recover_to(tmp_path):
    cluster = Cluster(tmp_path, meta_extra=("--delete-grace", "10m")).start()
    try:
        cli, meta = cluster.cli, cluster.meta
        for i in range(8):
            cli.run("put", "-", "/f%d" % i, input="file %d\n" % i * 1000)
        meta.kill()  # no final checkpoint: everything is in the log
        seg = os.path.join(meta.dir, segments(meta)[-1])
        recs = records(seg)
        assert len(recs) > 20
        off, length = recs[len(recs) // 2]
        before_log = open(seg, "rb").read()
        damaged = bytearray(before_log)
        damaged[off + 8 + length // 2] ^= 0x40
        open(seg, "wb").write(damaged)
        files = chunk_files(cluster)
        listing = sorted(os.listdir(meta.dir))

        rc, out = run_meta(meta)
        assert rc != 0
        m = re.search(r"op log (\S+) is damaged at offset (\d+) .*intact up to seq (\d+).*"
                      r"--recover-to (\d+)", out)
        assert m, out
        assert m.group(1).endswith(os.path.basename(seg)) and int(m.group(2)) == off
        good = int(m.group(3))
        assert int(m.group(4)) == good
        # Nothing changed: the log, the data dir, the chunkservers' files.
        assert open(seg, "rb").read() == bytes(damaged)
        assert sorted(os.listdir(meta.dir)) == listing
        assert chunk_files(cluster) == files

        # The operator's choice: the state at the last good seq.
        meta.extra += ["--recover-to", str(good)]
        meta.start()
        assert "--recover-to %d" % good in meta.log()
        assert any(".corrupt-%d" % off in n for n in os.listdir(meta.dir))
        kept = cli.run("ls", "/").stdout.split()
        assert 0 < len(kept) < 8
        whole = 0
        for name in kept:  # the file being written at seq `good` may not have its size yet
            got = cli.run("cat", "/" + name).stdout
            assert got in ("", "file %d\n" % int(name[1:]) * 1000)
            whole += got != ""
        assert whole >= len(kept) - 1 and whole > 0
        assert chunk_files(cluster) == files  # the lost files' chunks are held
        # A restart with the flag still set does not cut again.
        cli.run("mkdir", "/after")
        meta.restart()
        assert "already carried out" in meta.log()
        assert "after" in cli.run("ls", "/").stdout.split()
    finally:
        cluster.kill()


def test_torn_last_record_is_cut_with_a_warning(tmp_path):
    cluster = Cluster(tmp_path, nchunks=1).start()
    try:
        cli, meta = cluster.cli, cluster.meta
        for i in range(5):
            cli.run("mkdir", "/d%d" % i)
        meta.kill()
        seg = os.path.join(meta.dir, segments(meta)[-1])
        off, length = records(seg)[-1]
        data = bytearray(open(seg, "rb").read())
        data[off + 8 + length - 3:off + 8 + length] = b"\0\0\0"  # its last bytes never made it
        open(seg, "wb").write(data)
        meta.start()
        assert "cut at offset %d" % off in meta.log()
        names = cli.run("ls", "/").stdout.split()
        assert "d3" in names and "d4" not in names
    finally:
        cluster.kill()
