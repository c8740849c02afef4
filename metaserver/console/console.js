/*
 * The cairn console: polls the metaserver's /api/ and redraws in place.
 * Summary and nodes every second, events since the last one seen,
 * history and the current fsck page every few seconds. Everything is
 * drawn with textContent (never HTML from the server) and plain SVG.
 */
"use strict";

const PAGE = 50;          /* fsck problems per console page */
const FSCK_FETCHES = 40;  /* API pages one console page may walk */
const EVENTS_KEPT = 200;

const $ = (id) => document.getElementById(id);
let lastEvent = 0;
let fsckStack = [1];      /* cursors of the pages before, and of this one */
let fsckNext = 0;
let tick = 0;

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(Math.round(n))) + " " + units[i];
}

function duration(s) {
  if (s < 0 || !isFinite(s)) return "–";
  if (s < 60) return Math.round(s) + " s";
  if (s < 3600) return Math.round(s / 60) + " min";
  return (s / 3600).toFixed(1) + " h";
}

function ago(ms) {
  return ms < 1000 ? ms + " ms ago" : duration(ms / 1000) + " ago";
}

function set(id, text) {
  const e = $(id);
  if (e.textContent !== text) e.textContent = text;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function bar(used, cap) {
  const b = el("div", "bar"), f = el("div");
  const pct = cap > 0 ? Math.min(100, 100 * used / cap) : 0;
  f.style.width = pct.toFixed(1) + "%";
  if (pct > 95) f.className = "full"; else if (pct > 80) f.className = "high";
  b.appendChild(f);
  return b;
}

async function get(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}

function drawSummary(s) {
  set("listen", s.listen);
  const h = $("health");
  h.className = "badge " + s.health;
  set("health", s.health);
  set("capacity", bytes(s.capacity));
  set("used", bytes(s.used) + " used (" + (s.capacity ? (100 * s.used / s.capacity).toFixed(1) : "0") + "%)");
  $("used-bar").style.width = (s.capacity ? Math.min(100, 100 * s.used / s.capacity) : 0) + "%";
  set("inodes", String(s.inodes));
  set("leases", s.leases + " write leases, " + s.connections + " connections");
  set("chunks", String(s.chunks));
  set("replicas", s.replicas + " replicas, target " + s.replication);
  set("nodes-up", s.nodes.up + " up");
  const other = [];
  for (const k of ["dead", "decommissioning", "decommissioned"])
    if (s.nodes[k]) other.push(s.nodes[k] + " " + k);
  set("nodes-other", other.length ? other.join(", ") : "all " + s.nodes.total + " up");
  set("tput", bytes(s.throughput.read_bps) + "/s read");
  set("tput-write", bytes(s.throughput.write_bps) + "/s written (all replicas)");
  set("calls", s.throughput.calls_ps.toFixed(1) + " metaserver calls/s");

  const hl = s.healing, hr = s.healing_rate;
  const backlog = hl.under_replicated + hl.missing + hl.in_flight;
  const hs = $("healing-state");
  if (backlog > 0) {
    hs.className = "state-line active";
    set("healing-state", "Healing in progress: " + (hl.under_replicated + hl.missing) +
        " chunks below target, " + hl.in_flight + " copies in flight");
  } else {
    hs.className = "state-line idle";
    set("healing-state", hl.bad_replicas ? "Replacing " + hl.bad_replicas + " bad replicas"
                                         : "Every chunk at its target");
  }
  set("h-under", String(hl.under_replicated));
  set("h-missing", String(hl.missing));
  set("h-flight", hl.in_flight + " / " + hl.waiting);
  set("h-bad", String(hl.bad_replicas));
  set("h-rate", hr.chunks_ps.toFixed(2) + " chunks/s (" + bytes(hr.bytes_ps) + "/s)");
  set("h-eta", backlog ? duration(hr.eta_s) : "–");

  const rb = s.rebalance, rr = s.rebalance_rate;
  const rs = $("rebalance-state");
  if (rb.in_flight > 0) {
    rs.className = "state-line active";
    set("rebalance-state", "Rebalancing: " + rb.in_flight + " moves in flight");
  } else {
    rs.className = "state-line idle";
    set("rebalance-state", rb.balanced ? "Balanced" : "Idle");
  }
  set("r-spread", rb.spread.toFixed(1) + " / " + rb.threshold + " points");
  set("r-flight", String(rb.in_flight));
  set("r-moved", rb.moved + " chunks, " + bytes(rb.bytes_moved));
  set("r-rate", rr.chunks_ps.toFixed(2) + " chunks/s (" + bytes(rr.bytes_ps) + "/s)");
  set("r-eta", bytes(rr.bytes_left) + " / " + (rr.bytes_left ? duration(rr.eta_s) : "–"));
}

function drawNodes(nodes) {
  const body = $("nodes").tBodies[0];
  const rows = nodes.map((n) => {
    const tr = el("tr", n.state);
    tr.dataset.addr = n.addr;
    tr.appendChild(el("td", "addr", n.addr));
    tr.appendChild(el("td", "rack", n.rack || "–"));
    tr.appendChild(el("td", "state " + n.state, n.state));
    const space = el("td");
    space.appendChild(bar(n.used, n.capacity));
    space.appendChild(el("span", "dim", bytes(n.used) + " / " + bytes(n.capacity)));
    tr.appendChild(space);
    tr.appendChild(el("td", "num replicas", String(n.replicas)));
    tr.appendChild(el("td", "num", String(n.load)));
    tr.appendChild(el("td", "heard", ago(n.last_heard_ms)));
    let decom = "–";
    if (n.decommission) {
      const d = n.decommission, done = d.start_replicas - d.left;
      decom = d.start_replicas ? Math.round(100 * done / d.start_replicas) + "% (" + d.left + " left)"
                               : d.left + " left";
    }
    tr.appendChild(el("td", "decom", decom));
    return tr;
  });
  body.replaceChildren(...rows);
}

function drawEvents(ev) {
  const list = $("events");
  for (const e of ev.events) {
    const li = el("li", e.kind);
    li.appendChild(el("span", "when", new Date(e.time_ms).toLocaleTimeString()));
    li.appendChild(el("span", "text", e.text));
    list.insertBefore(li, list.firstChild);
  }
  while (list.children.length > EVENTS_KEPT) list.removeChild(list.lastChild);
  lastEvent = ev.last;
}

function polyline(svg, cls, values, max) {
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  const n = values.length;
  const pts = values.map((v, i) => {
    const x = n > 1 ? (400 * i) / (n - 1) : 0;
    const y = 118 - (max > 0 ? (114 * v) / max : 0);
    return x.toFixed(1) + "," + y.toFixed(1);
  });
  line.setAttribute("points", pts.join(" "));
  line.setAttribute("class", cls);
  svg.appendChild(line);
}

function drawHistory(h) {
  const s = h.samples;
  const read = s.map((x) => x.read_bps), write = s.map((x) => x.write_bps);
  const back = s.map((x) => x.backlog), flight = s.map((x) => x.in_flight);
  const tmax = Math.max(1, ...read, ...write), bmax = Math.max(1, ...back, ...flight);
  const t = $("chart-tput"), b = $("chart-backlog");
  t.replaceChildren();
  b.replaceChildren();
  polyline(t, "read", read, tmax);
  polyline(t, "write", write, tmax);
  polyline(b, "backlog", back, bmax);
  polyline(b, "flight", flight, bmax);
  set("tput-max", "peak " + bytes(tmax) + "/s, " + s.length + " samples");
  set("backlog-max", "peak " + bmax);
}

async function loadFsck() {
  const from = fsckStack[fsckStack.length - 1];
  let cursor = from, problems = [], done = false;
  for (let i = 0; i < FSCK_FETCHES && problems.length < PAGE && !done; i++) {
    const page = await get("/api/fsck?from=" + cursor + "&limit=" + (PAGE - problems.length));
    problems = problems.concat(page.problems);
    done = page.done;
    cursor = page.next;
  }
  fsckNext = done ? 0 : cursor;
  const rows = problems.map((p) => {
    const tr = el("tr", p.kind);
    tr.appendChild(el("td", "path", p.path));
    tr.appendChild(el("td", "num", String(p.chunk)));
    tr.appendChild(el("td", "num", String(p.index)));
    tr.appendChild(el("td", "kind", p.kind.replace("_", " ")));
    return tr;
  });
  if (!rows.length) {
    const tr = el("tr"), td = el("td", "dim", fsckStack.length > 1 ? "No more problems"
                                                                      : "No problems");
    td.colSpan = 4;
    tr.appendChild(td);
    rows.push(tr);
  }
  $("fsck").tBodies[0].replaceChildren(...rows);
  set("fsck-where", "page " + fsckStack.length + (fsckNext ? "" : " (last)"));
  $("fsck-prev").disabled = fsckStack.length < 2;
  $("fsck-first").disabled = fsckStack.length < 2;
  $("fsck-next").disabled = !fsckNext;
}

$("fsck-next").addEventListener("click", () => { if (fsckNext) { fsckStack.push(fsckNext); loadFsck().catch(offline); } });
$("fsck-prev").addEventListener("click", () => { if (fsckStack.length > 1) { fsckStack.pop(); loadFsck().catch(offline); } });
$("fsck-first").addEventListener("click", () => { fsckStack = [1]; loadFsck().catch(offline); });

function offline(err) {
  const h = $("health");
  h.className = "badge UNREACHABLE";
  set("health", "UNREACHABLE");
  set("conn", String(err.message || err));
}

async function refresh() {
  try {
    const [summary, nodes, events] = await Promise.all([
      get("/api/summary"), get("/api/nodes"), get("/api/events?since=" + lastEvent)]);
    drawSummary(summary);
    drawNodes(nodes);
    drawEvents(events);
    if (tick % 5 === 0) {
      drawHistory(await get("/api/history"));
      await loadFsck();
    }
    tick++;
    set("conn", "updated " + new Date().toLocaleTimeString());
  } catch (err) {
    offline(err);
  }
  setTimeout(refresh, 1000);
}

refresh();
