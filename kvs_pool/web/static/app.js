// kvs-pool status page: polls /api/status every second and /api/events every 2 s, refreshes
// each camera's thumbnail when its ring has a newer frame, opens a live MJPEG view on click.
// Plain browser JavaScript, no build step, no library, nothing fetched from another origin.
"use strict";

const THUMB_WIDTH = 480;
const STATUS_EVERY_MS = 1000;
const EVENTS_EVERY_MS = 2000;
const $ = (id) => document.getElementById(id);
const tiles = new Map();          // camera id -> {el, img, seq, loading}
let lastOk = 0;                   // Date.now() of the last good status
let liveCamera = null;
const pageStart = performance.now();
window.kvsPool = { firstThumbnailMs: null, firstStatusMs: null, statusCount: 0 };  // for tests, benchmarks

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function age(s) {
  if (s === null || s === undefined) return "never";
  if (s < 120) return s.toFixed(1) + " s";
  if (s < 7200) return Math.round(s / 60) + " min";
  return Math.round(s / 3600) + " h";
}

function bytes(n) {
  if (n === null || n === undefined) return "–";
  return n >= 1 << 30 ? (n / (1 << 30)).toFixed(1) + " GiB" : (n / (1 << 20)).toFixed(0) + " MiB";
}

function cores(c) { return c === null || c === undefined ? "–" : (c * 100).toFixed(0) + " %"; }

function camUrl(id, what) { return "/api/cameras/" + encodeURIComponent(id) + "/" + what; }

function makeTile(cam) {
  const img = el("img", { alt: "latest frame of " + cam.camera_id });
  const tile = el("article", { class: "tile", tabindex: "0", "data-camera": cam.camera_id },
    el("div", { class: "thumb" }, img, el("span", { class: "placeholder" }, "waiting for a frame…")),
    el("div", { class: "meta" },
      el("div", { class: "title" }, el("span", { class: "id" }), el("span", { class: "state" })),
      el("div", { class: "kv" }), el("div", { class: "reason" })));
  tile.addEventListener("click", () => openLive(cam.camera_id));
  tile.addEventListener("keydown", (e) => { if (e.key === "Enter") openLive(cam.camera_id); });
  const t = { el: tile, img, seq: 0, loading: false, fps: 0 };
  tiles.set(cam.camera_id, t);
  $("cameras").append(tile);
  const opt = el("option", { value: cam.camera_id }, cam.camera_id);
  $("event-camera").append(opt);
  return t;
}

function refreshThumb(t, cam) {
  if (!cam.seq || cam.seq === t.seq || t.loading) return;
  t.loading = true;
  const next = new Image();
  next.onload = () => {
    t.img.src = next.src; t.img.dataset.seq = String(cam.seq); t.seq = cam.seq; t.loading = false;
    if (window.kvsPool.firstThumbnailMs === null) {
      window.kvsPool.firstThumbnailMs = performance.now() - pageStart;
    }
  };
  next.onerror = () => { t.loading = false; };
  next.src = camUrl(cam.camera_id, "latest.jpg") + "?width=" + THUMB_WIDTH + "&seq=" + cam.seq;
}

function renderCamera(cam) {
  const t = tiles.get(cam.camera_id) || makeTile(cam);
  t.fps = cam.fps || 0;
  const healthy = cam.health === null || cam.health === undefined;
  t.el.className = "tile" + (healthy ? " healthy" : "") + (cam.running && cam.up !== false ? "" : " down");
  t.el.querySelector(".id").textContent = cam.camera_id;
  t.el.querySelector(".state").textContent = cam.running ? cam.state : "no ring";
  const kv = [["fps", cam.running ? cam.fps.toFixed(1) : "–"],
              ["size", cam.width ? cam.width + "×" + cam.height : "–"],
              ["frames", cam.running ? cam.frames : "–"],
              ["restarts", cam.restarts ?? 0],
              ["last frame", cam.running ? age(cam.last_frame_age) : "–"],
              ["decoder", cam.up === false ? "down" : (cam.pid ? "pid " + cam.pid : "–")]];
  t.el.querySelector(".kv").replaceChildren(...kv.map(([k, v]) => el("span", {}, k, el("b", {}, String(v)))));
  t.el.querySelector(".reason").textContent = healthy ? "healthy" : cam.health;
  refreshThumb(t, cam);
}

function renderTotals(doc) {
  const s = doc.totals;
  const parts = [["cameras", s.healthy + "/" + s.cameras + " healthy"], ["fps", s.fps.toFixed(1)],
                 ["workers", s.workers_up + "/" + s.workers + " up"], ["restarts", s.restarts],
                 ["CPU", cores(s.cpu)], ["memory", bytes(s.rss_bytes)]];
  $("totals").replaceChildren(...parts.map(([k, v]) => el("span", {}, k + " ", el("b", {}, String(v)))));
  $("pool").textContent = "kvs-pool · " + doc.pool;
  document.title = "kvs-pool · " + doc.pool + " (" + s.healthy + "/" + s.cameras + ")";
}

function renderWorkers(doc) {
  const rows = doc.workers.map((w) => el("tr", {},
    el("td", {}, w.name), el("td", {}, w.kind), el("td", {}, w.pid ? String(w.pid) : "–"),
    el("td", {}, w.up ? "up" : "down, retry in " + w.backoff_s.toFixed(0) + " s (" + (w.last_exit || "starting") + ")"),
    el("td", {}, String(w.restarts)), el("td", {}, cores(w.cpu)), el("td", {}, bytes(w.rss_bytes))));
  const sup = doc.supervisor;
  rows.push(el("tr", {}, el("td", {}, "supervisor"), el("td", {}, "supervisor"), el("td", {}, String(sup.pid)),
    el("td", {}, "up"), el("td", {}, "–"), el("td", {}, cores(sup.cpu)), el("td", {}, bytes(sup.rss_bytes))));
  document.querySelector("#workers tbody").replaceChildren(...rows);
}

function setOnline(ok, why) {
  document.body.classList.toggle("is-offline", !ok);
  $("offline").hidden = ok;
  $("link").className = "link " + (ok ? "ok" : "bad");
  $("link").textContent = ok ? "live" : "unreachable";
  if (!ok) {
    $("offline-why").textContent = why;
    $("offline-age").textContent = lastOk ? "(" + age((Date.now() - lastOk) / 1000) + " old)" : "(none yet)";
  }
}

async function getJson(url) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 5000);
  try {
    const resp = await fetch(url, { cache: "no-store", signal: ctl.signal });
    if (!resp.ok) throw new Error("HTTP " + resp.status + " from " + url);
    return await resp.json();
  } finally { clearTimeout(timer); }
}

async function pollStatus() {
  try {
    const doc = await getJson("/api/status");
    lastOk = Date.now();
    setOnline(true);
    renderTotals(doc);
    doc.cameras.forEach(renderCamera);
    renderWorkers(doc);
    window.kvsPool.statusCount += 1;
    if (window.kvsPool.firstStatusMs === null) window.kvsPool.firstStatusMs = performance.now() - pageStart;
  } catch (err) {
    setOnline(false, err.name === "AbortError" ? "no answer within 5 s" : String(err.message || err));
  }
  setTimeout(pollStatus, STATUS_EVERY_MS);
}

function renderEvent(e) {
  const when = new Date((e.detected_ts || e.frame_ts || 0) * 1000);
  const snap = e.snapshot_url ? el("img", { src: e.snapshot_url, alt: "snapshot of " + (e.camera_id || "?"),
                                            loading: "lazy" }) : null;
  const score = typeof e.score === "number" ? " " + (e.score * 100).toFixed(0) + " %" : "";
  const li = el("li", { "data-event": e.event_id || "" },
    el("span", { class: "when" }, when.toLocaleTimeString()),
    el("span", { class: "badge " + (e.type || "") }, e.type || "event"),
    el("span", {}, el("b", {}, e.camera_id || "?"), " " + (e.class || "") + score +
       (e.roi ? " in " + e.roi : "") + (e.pipeline ? " · " + e.pipeline : "")));
  if (snap) li.prepend(snap);
  return li;
}

async function loadEvents() {
  try {
    const cam = $("event-camera").value;
    const doc = await getJson("/api/events?limit=30" + (cam ? "&camera=" + encodeURIComponent(cam) : ""));
    $("events").replaceChildren(...doc.events.map(renderEvent));
    $("events-empty").hidden = doc.events.length > 0;
  } catch (err) { /* the status poll reports the outage */ }
}

async function pollEvents() {
  await loadEvents();
  setTimeout(pollEvents, EVENTS_EVERY_MS);
}

function openLive(id) {
  const t = tiles.get(id);
  const fps = Math.min(30, Math.max(1, Math.round((t && t.fps) || 5)));
  liveCamera = id;
  $("live-title").textContent = id;
  $("live-info").textContent = "live, up to " + fps + " frames/s";
  $("live-img").src = camUrl(id, "live.mjpeg") + "?fps=" + fps;
  $("live").hidden = false;
  $("live-close").focus();
}

function closeLive() {
  $("live-img").removeAttribute("src");   // ends the stream
  $("live").hidden = true;
  if (liveCamera && tiles.get(liveCamera)) tiles.get(liveCamera).el.focus();
  liveCamera = null;
}

$("live-close").addEventListener("click", closeLive);
$("live").addEventListener("click", (e) => { if (e.target === $("live")) closeLive(); });
document.addEventListener("keydown", (e) => { if (e.key === "Escape" && liveCamera) closeLive(); });
$("event-camera").addEventListener("change", loadEvents);
pollStatus();
pollEvents();
