"""The console in a real browser (headless Chromium through Selenium),
against a real cluster: four chunkservers, files at replication 3.

An operator opens the metaserver's page and sees every chunkserver up
and the cluster HEALTHY; a chunkserver is killed: the page shows it dead
and healing in progress (live, or in the events list when the copies
were quicker than a refresh), then HEALTHY again with all four nodes
listed; the chunkserver comes back and is shown up. The page never
reloads (a marker set in the window survives), nothing is fetched from
outside the metaserver, and the browser's console log holds no errors.

Skipped when chromium, chromedriver or python3-selenium are missing.
"""
import json
import os
import shutil
import tempfile

import pytest

from cluster import Cluster, put_bytes, wait_for

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service as ChromeService  # noqa: E402

CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")
MIB = 1024 * 1024
TIMINGS = ("--replication", "4", "--dead-after", "2s", "--scan-interval", "500ms")

pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="chromium missing")


@pytest.fixture
def browser():
    profile = tempfile.mkdtemp(prefix="cairn-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--user-data-dir=" + profile):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    service = ChromeService(executable_path=DRIVER)
    drv = webdriver.Chrome(options=opts, service=service)
    drv.set_page_load_timeout(30)
    yield drv
    drv.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, nchunks=4, meta_extra=TIMINGS).start()
    yield c
    c.kill()


def text(drv, css):
    """What the element shows (read in one script: the page redraws every second)."""
    return drv.execute_script("return document.querySelector(arguments[0]).innerText;", css)


def node_states(drv):
    """{addr: state} as the nodes table shows them."""
    return drv.execute_script("""
        const out = {};
        for (const tr of document.querySelectorAll("#nodes tbody tr"))
            out[tr.dataset.addr] = tr.querySelector("td.state").innerText;
        return out;""")


def test_operator_sees_a_node_die_and_the_cluster_heal(cluster, browser, tmp_path):
    cluster.cli("mkdir", "/data")
    for i in range(12):
        put_bytes(cluster, tmp_path, "/data/%d" % i, os.urandom(2 * MIB + i), "-r", "3")
    url = "http://127.0.0.1:%d/" % cluster.meta.http_port
    browser.get(url)
    browser.execute_script("window.cairnMarker = 42;")
    want = set(cluster.addrs)
    wait_for("every node up on the page",
             lambda: node_states(browser) == {a: "up" for a in want})
    wait_for("HEALTHY on the page", lambda: text(browser, "#health") == "HEALTHY")
    assert text(browser, "#chunks") != "–"

    victim = cluster.chunks[2]
    victim.kill()
    saw = {"healing": False}

    def dead_and_healing():
        if "Healing in progress" in text(browser, "#healing-state"):
            saw["healing"] = True
        return node_states(browser).get(victim.addr) == "dead"
    wait_for("the killed node shown dead", dead_and_healing, every=0.05)

    def healed():
        if "Healing in progress" in text(browser, "#healing-state"):
            saw["healing"] = True
        return text(browser, "#health") == "HEALTHY"
    # HEALTHY again once every -r 3 file is back on three live nodes; until
    # then DEGRADED (the metaserver wants 4 replicas of nothing here).
    wait_for("HEALTHY again", healed, seconds=60, every=0.05)
    events = wait_for("the events of it all", lambda: (lambda t: t if "healing done" in t
                                                       else None)(text(browser, "#events")))
    assert victim.addr + " is dead" in events
    assert saw["healing"] or "healing:" in events, events
    states = node_states(browser)
    assert set(states) == want and states[victim.addr] == "dead"
    assert sorted(s for a, s in states.items() if a != victim.addr) == ["up"] * 3
    assert "No problems" in text(browser, "#fsck")

    victim.start()
    wait_for("the node up again", lambda: node_states(browser) == {a: "up" for a in want})
    wait_for("its return in the events", lambda: "%s is up again" % victim.addr in text(
        browser, "#events"))
    assert browser.execute_script("return window.cairnMarker;") == 42  # never reloaded

    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == [], errors
    # Every request the page made went to the metaserver.
    hosts = set()
    for entry in browser.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            u = msg["params"]["request"]["url"]
            if u.startswith(("http:", "https:", "ws:", "wss:")):
                hosts.add(u.split("/")[2])
    assert hosts == {"127.0.0.1:%d" % cluster.meta.http_port}, hosts
