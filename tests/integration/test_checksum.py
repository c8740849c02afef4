"""cairn checksum (issue 11): a file's CRC32C combined from the CRCs the
chunkservers store, equal to `cairn checksum --local` over the same bytes,
for sizes around the 64 KiB block and the 1 MiB chunk (empty, a partial
block, several chunks), after a truncate that cuts a block in the middle,
and with a replica whose chunkserver is gone (the next one answers).
"""
import os

import pytest

from cluster import cairn_run, module_cluster

KIB, MIB = 1 << 10, 1 << 20
SIZES = [0, 1, 1000, 64 * KIB, 64 * KIB + 1, MIB - 1, MIB, 2 * MIB + 12345]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    yield from module_cluster(tmp_path_factory, "sum", nchunks=2, replication=2)


def cairn(cluster, *args, input=None):
    return cairn_run(cluster, *args, input=input).stdout.decode()

def crc(line):
    path, algo, value, size = line.rstrip("\n").split("\t")
    assert algo == "CRC32C"
    return value, int(size)


def test_checksum_equals_the_local_crc(cluster, tmp_path):
    cairn(cluster, "mkdir", "/sum")
    for n in SIZES:
        local = tmp_path / ("f%d" % n)
        local.write_bytes(os.urandom(n))
        cairn(cluster, "put", local, "/sum/f%d" % n)
        remote, rsize = crc(cairn(cluster, "checksum", "/sum/f%d" % n))
        mine, lsize = crc(cairn(cluster, "checksum", "--local", local))
        assert (remote, rsize) == (mine, lsize) == (remote, n), n
    assert crc(cairn(cluster, "checksum", "/sum/f0"))[0] == "00000000"
    # A glob: one line per file.
    assert [l.split("\t")[0] for l in cairn(cluster, "checksum", "/sum/f6*").splitlines()] == [
        "/sum/f65536", "/sum/f65537"]


def test_checksum_after_a_truncate_inside_a_block(cluster, tmp_path):
    data = os.urandom(MIB + 100 * KIB)
    cairn(cluster, "put", "-", "/cut", input=data)
    cairn(cluster, "truncate", str(MIB + 1000), "/cut")
    local = tmp_path / "cut"
    local.write_bytes(data[:MIB + 1000])
    assert crc(cairn(cluster, "checksum", "/cut")) == crc(cairn(cluster, "checksum", "--local",
                                                                local))


def test_checksum_differs_when_content_differs(cluster):
    cairn(cluster, "put", "-", "/one", input=b"a" * 70000)
    cairn(cluster, "put", "-", "/two", input=b"a" * 69999 + b"b")
    assert crc(cairn(cluster, "checksum", "/one")) != crc(cairn(cluster, "checksum", "/two"))


def test_checksum_with_a_chunkserver_gone(cluster, tmp_path):
    """Last in this module: it kills a chunkserver."""
    data = os.urandom(3 * MIB + 5)
    cairn(cluster, "put", "-", "/two-replicas", input=data)
    want = crc(cairn(cluster, "checksum", "/two-replicas"))
    cluster.chunks[0].kill()
    assert crc(cairn(cluster, "checksum", "/two-replicas")) == want
