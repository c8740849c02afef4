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

from cluster import Cluster, by_addr, fsck, locations, wait_for
from wire import crc32c


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


def held_report(cluster, at_least, nodes=1):
    """fsck's report once it counts at least that many held replicas, on at
    least that many nodes (each node's report is held whole), else None."""
    rc, report = fsck(cluster)
    if not report or report["held"] < at_least:
        return None
    held_on = {p["node"] for p in report["problems"] if p["kind"] == "held"}
    return report if len(held_on) >= nodes else None


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
            if name.endswith("._COPYING_"):
                continue  # put writes .fN.<hex>._COPYING_ first: the one cut short
            got = cli.run("cat", "/" + name).stdout
            assert got in ("", "file %d\n" % int(name[1:]) * 1000)
            whole += got != ""
        assert whole >= len(kept) - 1 and whole > 0
        # Every chunkserver reports again: the lost files' chunks are held, not deleted.
        report = wait_for("the lost files' chunks held on every node",
                          lambda: held_report(cluster, 3, nodes=3))
        assert chunk_files(cluster) == files
        held = [p for p in report["problems"] if p["kind"] == "held"]
        assert len(held) == report["held"]
        assert all(p["path"] == "" and p["node"] in cluster.addrs and
                   p["why"] == "chunk unknown to the namespace" for p in held)
        status = meta.status()
        assert status["held_count"] == report["held"] == len(status["held_replicas"])
        assert {(h["chunk"], h["node"]) for h in status["held_replicas"]} == {
            (p["chunk"], p["node"]) for p in held}
        plain = cli.run("admin", "fsck").stdout
        assert "held (chunk unknown to the namespace)" in plain and "held: " in plain

        # A restart with the flag still set does not cut again.
        cli.run("mkdir", "/after")
        meta.restart()
        assert "already carried out" in meta.log()
        assert "after" in cli.run("ls", "/").stdout.split()
        wait_for("held again after the restart",
                 lambda: held_report(cluster, report["held"], nodes=3))
        assert chunk_files(cluster) == files

        # The operator's explicit choice deletes them.
        out = cli.run("admin", "release-held").stdout
        assert re.match(r"%d held replicas released" % report["held"], out), out
        wait_for("the held replicas deleted",
                 lambda: len(chunk_files(cluster)) == len(files) - report["held"])
        assert fsck(cluster)[1]["held"] == 0
        for name in kept:
            if name.endswith("._COPYING_"):
                continue  # a cut-short put's temporary: the metaserver may reclaim it
            got = cli.run("cat", "/" + name).stdout
            assert got in ("", "file %d\n" % int(name[1:]) * 1000)
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


def forge_version(path, more):
    """Adds more to the version in both header slots of a replica file, fixing
    their self-CRCs (the chunkfile codec's layout, chunkserver/chunkfile.h)."""
    with open(path, "r+b") as f:
        for slot in (0, 32768):
            f.seek(slot)
            head = bytearray(f.read(16516))
            if head[:8] != b"CAIRNCHK":
                continue
            version = struct.unpack_from("<Q", head, 40)[0]
            struct.pack_into("<Q", head, 40, version + more)
            struct.pack_into("<I", head, 16512, crc32c(bytes(head[:16512])))
            f.seek(slot)
            f.write(head)


def test_a_forged_newer_version_deletes_nothing(tmp_path):
    """One chunkserver claims a version the namespace never granted: its
    replica is held and not served; the good replicas stay and the file
    reads back; release-held deletes only the forged one."""
    cluster = Cluster(tmp_path, meta_extra=("--delete-grace", "10m")).start()
    try:
        cli = cluster.cli
        data = "forged %d\n" * 1 % 0 * 3000
        cli.run("put", "-", "/f", input=data)
        loc = locations(cluster, "/f")[0]
        liar = by_addr(cluster, loc["replicas"][0])
        liar.stop()
        forge_version(liar.replica_files()[loc["chunk"]], 5)
        liar.start()
        report = wait_for("the forged replica held", lambda: held_report(cluster, 1))
        held = [p for p in report["problems"] if p["kind"] == "held" and p["path"]]
        assert held == [{"path": "/f", "chunk": loc["chunk"], "kind": "held",
                         "node": liar.addr, "version": loc["version"] + 5,
                         "why": "newer version than the namespace granted"}]
        assert "newer than the namespace ever granted" in cluster.meta.log()
        assert cli.run("cat", "/f").stdout == data
        others = [by_addr(cluster, a) for a in loc["replicas"][1:]]
        assert all(loc["chunk"] in o.replica_files() for o in others)
        # The good replicas are still the ones served, and no grace ends this hold.
        assert set(locations(cluster, "/f")[0]["replicas"]) == set(loc["replicas"][1:])

        out = cli.run("admin", "release-held").stdout
        assert out.startswith("%d held replicas" % report["held"]), out
        wait_for("the forged replica deleted",
                 lambda: loc["chunk"] not in liar.replica_files())
        assert all(loc["chunk"] in o.replica_files() for o in others)
        assert cli.run("cat", "/f").stdout == data
    finally:
        cluster.kill()
