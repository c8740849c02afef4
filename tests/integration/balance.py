"""Helpers for the rebalance, decommission and rack tests: adding
chunkservers to a running Cluster, reading `admin nodes`, utilisation
spread, and a thread that polls fsck while something runs.
"""
import json
import threading
import time

from cluster import Chunk, fsck, locations, wait_for


def add_chunk(cluster, *extra):
    """Starts one more chunkserver (with extra flags) and returns it."""
    c = Chunk(cluster.tmp, cluster.meta.addr, "chunk%d" % len(cluster.chunks), *extra)
    cluster.chunks.append(c)
    return c.start()


def nodes(cluster):
    """`cairn admin nodes --json` as a dict addr -> node."""
    r = cluster.cli.run("admin", "nodes", "--json", timeout="20s")
    return {n["addr"]: n for n in json.loads(r.stdout)}


def wait_nodes_up(cluster, n, seconds=30):
    return wait_for("%d chunkservers up" % n,
                    lambda: sum(x["state"] == "up" for x in nodes(cluster).values()) >= n,
                    seconds)


def spread(cluster):
    """(mean, largest distance from it) of the up nodes' used/capacity, in points."""
    up = [x for x in nodes(cluster).values() if x["state"] == "up" and x["capacity"]]
    mean = 100.0 * sum(x["used"] for x in up) / sum(x["capacity"] for x in up)
    return mean, max(abs(100.0 * x["used"] / x["capacity"] - mean) for x in up)


def replica_counts(cluster, paths):
    """Every chunk's replica list over paths."""
    return [l["replicas"] for p in paths for l in locations(cluster, p)]


class FsckWatch:
    """Polls `admin fsck` in a thread until stopped; keeps every status seen."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.seen = []
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop_ev.is_set():
            rc, report = fsck(self.cluster)
            self.seen.append(report["status"] if report else "rc=%d" % rc)
            time.sleep(0.2)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        self.thread.join(30)

    def bad(self):
        return [s for s in self.seen if s != "HEALTHY"]
