// veil serve: review at scale (issue 25). The thumbnail grid, the confidence slider, bulk
// decisions and "more like this", on top of app.js (loaded before this file; its globals
// S, $, api, guard, say, loadThumb, trackList, timelineList and draw are used here).
// Everything goes through the REST API's /review routes, so a script can do the same.
"use strict";

const R = {
  open: false, stats: new Map(), list: [], sel: new Set(), cur: 0, anchor: 0, sugg: new Set(),
  seeds: [], kinds: [], likely: {}, want: null, busy: false, shown: null, cols: 1, lastReason: "",
  cells: new Map(),
};
const CELL_W = 108, CELL_H = 112;  // px, as review.css sets .gcell (with its margin)
const CONFIRM_SHOWN = 12;  // thumbnails in the "very likely a face" dialog

// ---------------------------------------------------------------- data
async function reviewLoad() {
  if (!S.job || !S.entry) return;
  const r = await api(`/jobs/${S.job}/review/tracks`);
  R.stats = new Map(r.tracks.map((t) => [t.id, t]));
  R.kinds = r.evidence_kinds; R.likely = r.likely_face;
  const note = R.kinds.length === 1 && R.kinds[0] === "detector score"
    ? "evidence: detector score (no learned confidence in this project)"
    : "evidence: " + R.kinds.join(" + ");
  $("gv-evidence").textContent = note;
  reviewFilter();
  reviewPreview();
}
function enabledOf(id) { const t = S.tracks.get(id); return t ? t.enabled : false; }
// The size filter: the median box height in px, from..to (both included; empty: no bound).
function sizeBand() {
  const bound = (id) => { const v = $(id).value.trim(); return v === "" || !(Number(v) >= 0) ? null : Number(v); };
  return { lo: bound("gv-min"), hi: bound("gv-max") };
}
// The band in words, as the CLI and the report say it ("" with no bound).
function bandText() {
  const { lo, hi } = sizeBand();
  if (lo === null && hi === null) return "";
  if (lo === null) return `at most ${hi} px high`;
  if (hi === null) return `at least ${lo} px high`;
  return `${lo} to ${hi} px high`;
}
function reviewFilter() {
  const cls = $("gv-class").value, state = $("gv-state").value, sort = $("gv-sort").value;
  const { lo, hi } = sizeBand();
  const rows = [];
  for (const s of R.stats.values()) {
    if (!S.tracks.has(s.id)) continue;
    const kind = s.source === "manual" ? "manual" : s.label;
    if (cls !== "all" && kind !== cls) continue;
    if ((lo !== null && s.size < lo) || (hi !== null && s.size > hi)) continue;
    const on = enabledOf(s.id);
    if (state === "on" && !on) continue;
    if (state === "off" && on) continue;
    rows.push(s);
  }
  const ev = (s) => (s.evidence === null ? 2 : s.evidence);
  const by = {
    "evidence": (a, b) => ev(a) - ev(b) || a.id - b.id,
    "-evidence": (a, b) => ev(b) - ev(a) || a.id - b.id,
    "size": (a, b) => a.size - b.size || a.id - b.id,
    "-size": (a, b) => b.size - a.size || a.id - b.id,
    "area": (a, b) => b.area * b.frames - a.area * a.frames || a.id - b.id,
    "id": (a, b) => a.id - b.id,
    "top": (a, b) => a.cy - b.cy || a.id - b.id,
    "bottom": (a, b) => b.cy - a.cy || a.id - b.id,
    "like": (a, b) => (R.sugg.has(b.id) - R.sugg.has(a.id)) || ev(a) - ev(b) || a.id - b.id,
  }[sort];
  rows.sort(by);
  R.list = rows.map((s) => s.id);
  orderSoon();
  for (const id of [...R.sel]) if (!S.tracks.has(id)) R.sel.delete(id);
  R.cur = Math.max(0, Math.min(R.cur, R.list.length - 1));
  $("gv-count").textContent = `${R.list.length} of ${S.tracks.size} tracks shown`;
  gridPaint(true);
  selInfo();
  mapPaint();
  peekSoon();
}

// The track list and the timeline follow the grid (J/K then walk the tracks in its order);
// app.js's orderIndex becomes a lookup, rebuilt when the order has moved under it.
let orderPos = new Map();
orderIndex = function (id) {  // eslint-disable-line no-global-assign
  let i = orderPos.get(id);
  if (i === undefined || S.order[i] !== id) {
    orderPos = new Map(S.order.map((x, k) => [x, k])); i = orderPos.get(id);
  }
  return i === undefined ? S.order.length : i;
};
// While the grid is open, its filters and sort also apply to the list and the timeline; the
// frame view still draws every track (sortedTracks is every track, by id).
sortedTracks = function () {  // eslint-disable-line no-global-assign
  return [...S.tracks.keys()].sort((a, b) => a - b).map((id) => S.tracks.get(id));
};
// The grid answers first; the list and the timeline follow in the next frame.
let orderQueued = false;
function orderSoon() {
  if (orderQueued) return;
  orderQueued = true;
  requestAnimationFrame(() => requestAnimationFrame(() => { orderQueued = false; orderTracks(); }));
}
function orderTracks() {
  const ids = R.open && R.stats.size ? R.list.slice() : [...S.tracks.keys()].sort((a, b) => a - b);
  if (ids.length === S.order.length && ids.every((x, k) => x === S.order[k])) return;
  S.order = ids; orderPos = new Map(ids.map((x, k) => [x, k]));
  if (trackList) trackList.reset();
  if (timelineList) timelineList.reset();
}

// ---------------------------------------------------------------- the slider
function sliderValue() { return Number($("gv-slider").value); }
// With the class filter on faces or plates, the slider acts on that class only: a face's
// learned confidence and a plate's detector score are not one scale. With the size filter
// set, it acts on that band only (a stricter threshold for, say, the crowd's tiny boxes).
function thresholdLabel() { const c = $("gv-class").value; return c === "face" || c === "plate" ? c : null; }
function scopeText() {
  const l = thresholdLabel(); const band = bandText();
  return `${l ? l + " " : ""}tracks${band ? " " + band : ""}`;
}
function scopeParams() {
  const l = thresholdLabel(); const { lo, hi } = sizeBand();
  $("gv-which").textContent = scopeText();
  return (l ? `&label=${l}` : "") + (lo !== null ? `&min_size=${lo}` : "") + (hi !== null ? `&max_size=${hi}` : "");
}
// Counts come from the server (one binary search there); only the newest value is asked for
// while a request is out, so dragging never queues a backlog.
async function reviewPreview() {
  const x = sliderValue();
  $("gv-x").textContent = x.toFixed(2);
  R.want = x;
  if (R.busy || !S.job) return;
  R.busy = true;
  try {
    while (R.want !== null) {
      const ask = R.want; R.want = null;
      const p = await api(`/jobs/${S.job}/review/preview?threshold=${ask}${scopeParams()}`);
      if (R.want !== null) continue;
      const likely = p.likely_faces_off ? `, ${p.likely_faces_off} rated very likely a face` : "";
      const band = bandText();
      $("gv-preview").textContent = `masks ${p.masked} of ${p.masked + p.turned_off + p.already_off} tracks · ` +
        `${(100 * p.area_share).toFixed(1)}% of the frame area · turns off ${p.turned_off}${likely}` +
        (band ? ` · only tracks ${band}` : "");
      $("gv-apply").disabled = p.turned_off === 0;
      R.shown = ask; $("gv-preview").dataset.threshold = String(ask);
    }
  } catch (e) {
    // a refused scope (a size band "from 80 to 70"): no figures left that are not its own
    $("gv-apply").disabled = true; $("gv-preview").textContent = e.message; say(e.message);
    R.shown = null; delete $("gv-preview").dataset.threshold;
  } finally { R.busy = false; }
}

// ---------------------------------------------------------------- edits
// The answer of a bulk edit (or an undo of one) may change hundreds of tracks: the list and
// the timeline are rebuilt once, not row by row.
function reviewApply(res) {
  S.version = Math.max(S.version, res.version);
  if (res.project_version !== undefined) S.pv = res.project_version;  // app.js: If-Match
  for (const c of res.changed || []) {
    if (c.track) S.tracks.set(c.id, c.track); else S.tracks.delete(c.id);
    S.ranges.delete(c.id);
  }
  S.order = [...S.tracks.keys()].sort((a, b) => a - b);
  if (S.selected !== null && !S.tracks.has(S.selected)) S.selected = null;
  trackList.reset(); timelineList.reset();
  $("undo").disabled = !res.can_undo; $("redo").disabled = !res.can_redo;
  $("review").dataset.version = S.version;
  S.shown = -1; seek(S.frame);
  if (R.open) { reviewFilter(); reviewPreview(); }
}
// app.js's own edits and undo/redo go through applyChange: a big change takes the path above,
// and the grid follows every change.
const appApplyChange = applyChange;
applyChange = function (res) {  // eslint-disable-line no-global-assign
  if ((res.changed || []).length > 20) { reviewApply(res); return; }
  appApplyChange(res);
  if (!R.open) return;
  if ((res.changed || []).some((c) => c.track && !R.stats.has(c.id))) guard(reviewLoad);
  else { reviewFilter(); reviewPreview(); }
};
const appLoadProject = loadProject;
loadProject = async function () {  // eslint-disable-line no-global-assign
  await appLoadProject();
  R.sel.clear(); R.sugg.clear();
  if (R.open) await reviewLoad(); else R.stats = new Map();
};

// A dialog as a promise: the reason (or null when cancelled).
function askReason(text, reason) {
  return new Promise((resolve) => {
    const dlg = $("bulk-dialog");
    $("bulk-text").textContent = text;
    $("bulk-reason").value = reason;
    dlg.onclose = () => resolve(dlg.returnValue === "ok" && $("bulk-reason").value.trim() ? $("bulk-reason").value.trim() : null);
    dlg.showModal();
    $("bulk-reason").select();
  });
}
// Shows the tracks it names, so the reviewer sees the faces before leaving them bare.
function askConfirm(n, ids) {
  return new Promise((resolve) => {
    const dlg = $("confirm-dialog");
    $("confirm-text").textContent = `This turns off ${n} track${n === 1 ? "" : "s"} rated very likely a face ` +
      `(learned confidence ≥ ${R.likely.confidence}, detector score ≥ ${R.likely["detector score"]}, or drawn by hand). ` +
      "They would be left unmasked in the output.";
    const strip = $("confirm-faces"); strip.textContent = "";
    const shown = (ids || []).filter((id) => S.tracks.has(id)).slice(0, CONFIRM_SHOWN);
    for (const id of shown) {
      const fig = document.createElement("span"); fig.className = "cface"; fig.dataset.track = id;
      const img = document.createElement("img"); img.alt = `track ${id}`; img.title = `#${id}`;
      fig.append(img, document.createTextNode(`#${id}`)); strip.append(fig);
      loadThumb(img, S.tracks.get(id));
    }
    if (n > shown.length) strip.append(document.createTextNode(`and ${n - shown.length} more`));
    dlg.onclose = () => resolve(dlg.returnValue === "ok");
    dlg.showModal();
    $("confirm-cancel").focus();  // the safe answer is the default
  });
}
// POST a bulk request; a 409 asks the reviewer, naming how many likely faces, and resends.
async function bulkPost(path, body) {
  const send = (b) => fetch("/api" + path, {
    method: "POST", headers: { "X-Veil-Token": S.token, "Content-Type": "application/json" },
    body: JSON.stringify(b),
  });
  let r = await send(body);
  if (r.status === 409) {
    const j = await r.json();
    if (j.confirm === undefined) throw new Error(j.detail);
    if (!(await askConfirm(j.confirm, j.ids))) { say("Nothing changed."); return null; }
    r = await send(Object.assign({}, body, { confirm: true }));
  }
  if (!r.ok) { let d = r.statusText; try { d = (await r.json()).detail; } catch (_) { /* */ } throw new Error(typeof d === "string" ? d : JSON.stringify(d)); }
  const res = await r.json();
  reviewApply(res);
  return res;
}

async function applyThreshold() {
  const x = sliderValue(); const { lo, hi } = sizeBand();
  const reason = await askReason(
    `Turn off the masked ${scopeText()} with evidence below ${x.toFixed(2)}; ` +
    "they stay in the report with this reason.",
    R.lastReason || `below ${x.toFixed(2)}: not a face or plate`);
  gridFocus();
  if (!reason) return;
  R.lastReason = reason;
  const res = await bulkPost(`/jobs/${S.job}/review/threshold`,
    { threshold: x, reason, label: thresholdLabel(), min_size: lo, max_size: hi });
  if (res) say(`${res.changed.length} track(s) turned off (one edit: Ctrl+Z undoes it).`);
}

function selectedIds() { return R.list.filter((id) => R.sel.has(id)); }
async function bulk(action, extra = {}) {
  const ids = selectedIds();
  if (!ids.length) { say("Select tracks first (click, Shift/Ctrl+click, or arrows and Space)."); return; }
  let reason = null;
  if (action === "disable") {
    reason = await askReason(`Turn off ${ids.length} track(s); they stay in the report with this reason.`,
      R.lastReason || "not a face or plate");
    gridFocus();
    if (!reason) return;
    R.lastReason = reason;
  }
  const res = await bulkPost(`/jobs/${S.job}/review/bulk`, Object.assign({ tracks: ids, action, reason }, extra));
  if (res) say(`${res.changed.length} track(s) changed (one edit: Ctrl+Z undoes it).`);
}

// More like this: from the selected tracks (or, with none, those turned off), suggest the
// tracks that look like them; they are marked and listed first. Accept turns them off.
async function moreLikeThis() {
  let seeds = selectedIds();
  if (!seeds.length) seeds = R.list.filter((id) => !enabledOf(id));
  if (!seeds.length) { say("Select or turn off a track first: suggestions are tracks like it."); return; }
  const n = Math.max(1, Number($("gv-n").value) || 20);
  const r = await api(`/jobs/${S.job}/review/similar`, { method: "POST", body: { seeds, limit: n } });
  R.seeds = seeds;
  R.sugg = new Set(r.suggestions.map((s) => s.id));
  $("gv-sort").value = "like"; R.cur = 0; R.anchor = 0;
  reviewFilter();
  say(`${R.sugg.size} suggestion(s) like ${seeds.length} track(s), first in the grid: ` +
    "Accept (Y) turns them off, Reject (N) clears them.");
}
async function acceptSuggestions() {
  if (!R.sugg.size) return;
  const ids = [...R.sugg].filter((id) => enabledOf(id));
  const seedReason = R.seeds.map((id) => S.tracks.get(id)).find((t) => t && !t.enabled);
  let reason = seedReason ? seedReason.reason : null;
  if (!reason) {
    reason = await askReason(`Turn off the ${ids.length} suggested track(s).`, R.lastReason || "not a face or plate");
    gridFocus();
    if (!reason) return;
  }
  const res = await bulkPost(`/jobs/${S.job}/review/bulk`, { tracks: ids, action: "disable", reason });
  if (res) { R.sugg.clear(); reviewFilter(); say(`${res.changed.length} suggested track(s) turned off.`); }
}
function rejectSuggestions() { R.sugg.clear(); reviewFilter(); say("Suggestions cleared."); }

// ---------------------------------------------------------------- the evidence map
// Every shown track as a dot: across, its size (median box height, on a log scale), up, its
// evidence. Street clutter gathers small and low, faces higher: a box dragged around a
// corner of the map selects those tracks in one gesture (Shift or Ctrl adds to the
// selection); X then turns them off, as from the grid. Tracks with no evidence (drawn by
// hand) sit on the top edge.
const MAP = { w: 480, h: 150, pad: 18, lo: Math.log(4), hi: Math.log(512), drag: null };
function mapXY(size, evidence) {  // canvas pixels of a track's dot (also used by scripts)
  const sx = (Math.log(Math.max(4, Math.min(512, size))) - MAP.lo) / (MAP.hi - MAP.lo);
  const e = evidence === null ? 1 : Math.max(0, Math.min(1, evidence));
  return { x: MAP.pad + sx * (MAP.w - 2 * MAP.pad), y: MAP.h - MAP.pad - e * (MAP.h - 2 * MAP.pad) };
}
function mapPaint() {
  const c = $("gv-map"); if (!c || !R.open) return;
  const g = c.getContext("2d");
  g.clearRect(0, 0, MAP.w, MAP.h);
  g.strokeStyle = "#444"; g.fillStyle = "#9aa0a6"; g.font = "10px sans-serif"; g.lineWidth = 1;
  for (const px of [8, 16, 32, 64, 128, 256]) {
    const { x } = mapXY(px, 0); g.beginPath(); g.moveTo(x, MAP.pad); g.lineTo(x, MAP.h - MAP.pad); g.stroke();
    g.fillText(`${px}`, x - 6, MAP.h - 4);
  }
  for (const e of [0, 0.5, 1]) {
    const { y } = mapXY(4, e); g.beginPath(); g.moveTo(MAP.pad, y); g.lineTo(MAP.w - MAP.pad, y); g.stroke();
    g.fillText(e.toFixed(1), 0, y + 3);
  }
  const cs = getComputedStyle(document.documentElement);
  const acc = cs.getPropertyValue("--acc").trim() || "#4fa3ff";
  const d = MAP.drag;  // while a box is dragged, the dots in it show as selected
  for (const id of R.list) {
    const s = R.stats.get(id); if (!s) continue;
    const { x, y } = mapXY(s.size, s.evidence);
    const sel = (d && inMapBox(d, x, y)) || ((!d || d.add) && R.sel.has(id));
    g.fillStyle = sel ? "#ffffff" : enabledOf(id) ? acc : "#5a5f66";
    g.fillRect(x - 1.5, y - 1.5, 3, 3);
  }
  if (d) { g.strokeStyle = "#ffffff"; g.strokeRect(Math.min(d.x0, d.x1), Math.min(d.y0, d.y1), Math.abs(d.x1 - d.x0), Math.abs(d.y1 - d.y0)); }
}
// Pointer events, not mouse events: their coordinates keep the fraction of a pixel, so a
// box's edge can pass between two dots a pixel apart.
function inMapBox(d, x, y) {  // the dragged box d holds the point (x, y), edges included
  return x >= Math.min(d.x0, d.x1) && x <= Math.max(d.x0, d.x1) &&
    y >= Math.min(d.y0, d.y1) && y <= Math.max(d.y0, d.y1);
}
function mapPos(ev) {
  const r = $("gv-map").getBoundingClientRect();
  return { x: (ev.clientX - r.left) * (MAP.w / r.width), y: (ev.clientY - r.top) * (MAP.h / r.height) };
}
function mapDown(ev) {
  if (ev.button !== 0) return;
  ev.preventDefault();
  try { $("gv-map").setPointerCapture(ev.pointerId); } catch (_) { /* a synthetic pointer */ }
  const p = mapPos(ev);
  MAP.drag = { x0: p.x, y0: p.y, x1: p.x, y1: p.y, add: ev.shiftKey || ev.ctrlKey || ev.metaKey };
}
function mapMove(ev) {
  if (!MAP.drag) return;
  const p = mapPos(ev); MAP.drag.x1 = p.x; MAP.drag.y1 = p.y; mapPaint();
}
function mapUp(ev) {
  const d = MAP.drag; MAP.drag = null;
  if (!d) return;
  const p = mapPos(ev); d.x1 = p.x; d.y1 = p.y;
  if (!d.add) R.sel.clear();
  let n = 0;
  for (const id of R.list) {
    const s = R.stats.get(id); if (!s) continue;
    const q = mapXY(s.size, s.evidence);
    if (inMapBox(d, q.x, q.y)) { R.sel.add(id); n++; }
  }
  R.anchor = R.cur;
  gridFocus(); gridRefresh();
  say(`${n} track(s) in the box on the map: X turns them off, Esc clears.`);
}

// ---------------------------------------------------------------- the grid (virtual)
function gridPaint(force) {
  const box = $("gv-grid"); const inner = $("gv-inner");
  const cols = Math.max(1, Math.floor(box.clientWidth / CELL_W));
  const rows = Math.ceil(R.list.length / cols);
  if (force || cols !== R.cols) { inner.textContent = ""; R.cells = new Map(); }
  R.cols = cols;
  inner.style.height = rows * CELL_H + "px";
  const top = box.scrollTop; const h = box.clientHeight || 400;
  const r0 = Math.max(0, Math.floor(top / CELL_H) - 2), r1 = Math.min(rows, Math.ceil((top + h) / CELL_H) + 2);
  const want = new Set();
  for (let i = r0 * cols; i < Math.min(R.list.length, r1 * cols); i++) want.add(i);
  for (const [i, el] of R.cells) if (!want.has(i) || Number(el.dataset.track) !== R.list[i]) { el.remove(); R.cells.delete(i); }
  for (const i of want) {
    let el = R.cells.get(i);
    if (!el) { el = gridCell(i); R.cells.set(i, el); inner.append(el); }
    cellState(el, i);
  }
}
function gridCell(i) {
  const id = R.list[i]; const s = R.stats.get(id); const t = S.tracks.get(id);
  const el = document.createElement("div"); el.className = "gcell"; el.dataset.track = id; el.dataset.index = i;
  el.setAttribute("role", "option");
  el.style.left = (i % R.cols) * CELL_W + "px"; el.style.top = Math.floor(i / R.cols) * CELL_H + "px";
  const img = document.createElement("img"); img.alt = ""; if (t) loadThumb(img, t);
  const cap = document.createElement("div"); cap.className = "gcap";
  const ev = s.evidence === null ? "drawn" : s.evidence.toFixed(2);
  cap.textContent = `#${id} ${s.source === "manual" ? "manual" : s.label} ${ev}`;
  cap.title = `evidence: ${s.evidence_kind}; ${s.frames} frames; ${Math.round(s.size)} px high`;
  el.append(img, cap);
  el.onmousedown = (ev2) => { ev2.preventDefault(); gridClick(i, ev2); };
  el.ondblclick = () => showOnFrame(id);
  return el;
}
function cellState(el, i) {
  const id = R.list[i];
  el.classList.toggle("sel", R.sel.has(id)); el.classList.toggle("cur", i === R.cur);
  el.classList.toggle("off", !enabledOf(id)); el.classList.toggle("sugg", R.sugg.has(id));
  const s = R.stats.get(id); el.classList.toggle("likely", !!(s && s.likely_face));
  el.setAttribute("aria-selected", R.sel.has(id) ? "true" : "false");
}
function gridRefresh() { for (const [i, el] of R.cells) cellState(el, i); selInfo(); mapPaint(); peekSoon(); }

// The grid cursor's track, larger and over its life: its first, middle and last placed boxes
// (the server picks the frames and names them), so a reviewer sees whether it stays on a face.
// Fetched a moment after the cursor stops, so holding an arrow key asks for nothing. Its place
// is kept while empty and no taller than the map: nothing moves under the reviewer's pointer.
const PEEK = { id: null, key: "", timer: 0, urls: [] };
function peekSoon() { clearTimeout(PEEK.timer); PEEK.timer = setTimeout(peekShow, 120); }
async function peekShow() {
  const box = $("gv-peek"); if (!box || !R.open) return;
  const id = R.list[R.cur]; const t = id === undefined ? null : S.tracks.get(id); const s = R.stats.get(id);
  if (!t || !s) { box.classList.remove("on"); PEEK.id = null; return; }
  const key = thumbKey(t);
  if (PEEK.id === id && PEEK.key === key) return;
  PEEK.id = id; PEEK.key = key; box.classList.add("on"); box.dataset.track = id;
  const ev = s.evidence === null ? "drawn by hand" : `${s.evidence_kind} ${s.evidence.toFixed(2)}`;
  $("gv-peek-cap").textContent = `#${id} ${s.source === "manual" ? "drawn" : s.label} · ${s.frames} frames · ` +
    `${Math.round(s.size)} px high · ${ev}`;
  const cells = box.querySelectorAll(".peeks > span"); const job = S.job;
  for (const c of cells) { c.querySelector("img").removeAttribute("src"); c.querySelector("small").textContent = ""; }
  await Promise.all(["first", "middle", "last"].map(async (at, k) => {
    try {
      const r = await api(`/jobs/${job}/tracks/${id}/thumbnail?at=${at}&side=160`, { raw: true });
      const url = URL.createObjectURL(await r.blob());
      if (PEEK.id !== id || job !== S.job) { URL.revokeObjectURL(url); return; }
      if (PEEK.urls[k]) URL.revokeObjectURL(PEEK.urls[k]);
      PEEK.urls[k] = url; cells[k].querySelector("img").src = url;
      cells[k].querySelector("small").textContent = `${at}: frame ${r.headers.get("X-Veil-Frame")}`;
    } catch (_) { /* a picture is optional */ }
  }));
}
function selInfo() {
  const n = R.sel.size;
  $("gv-sel").textContent = `${n} selected` + (R.sugg.size ? ` · ${R.sugg.size} suggested` : "");
  for (const id of ["gv-off", "gv-on", "gv-method"]) $(id).disabled = n === 0;
  for (const id of ["gv-accept", "gv-reject"]) $(id).disabled = R.sugg.size === 0;
  $("gv-grid").setAttribute("aria-activedescendant", "");
}
function rangeSel(a, b, add) {
  if (!add) R.sel.clear();
  const [lo, hi] = a < b ? [a, b] : [b, a];
  for (let k = lo; k <= hi; k++) R.sel.add(R.list[k]);
}
function gridClick(i, ev) {
  const id = R.list[i];
  if (ev.shiftKey) rangeSel(R.anchor, i, ev.ctrlKey || ev.metaKey);
  else if (ev.ctrlKey || ev.metaKey) { R.sel.has(id) ? R.sel.delete(id) : R.sel.add(id); R.anchor = i; }
  else { R.sel.clear(); R.sel.add(id); R.anchor = i; }
  R.cur = i; gridFocus(); gridRefresh();
}
// Enter or a double click: the track on the frame view, scrolled into sight (the open grid
// can push the frame below the window's fold); the grid keeps the keyboard.
function showOnFrame(id) {
  select(id); const t = S.tracks.get(id); if (t) jumpTo(t);
  $("view").scrollIntoView({ block: "nearest" });
}
function gridFocus() { if (R.open) $("gv-grid").focus({ preventScroll: true }); }
function reveal(i) {
  const box = $("gv-grid"); const top = Math.floor(i / R.cols) * CELL_H;
  if (top < box.scrollTop) box.scrollTop = top;
  else if (top + CELL_H > box.scrollTop + box.clientHeight) box.scrollTop = top + CELL_H - box.clientHeight;
  gridPaint(false);
}
function gridKey(ev) {
  const k = ev.key; const n = R.list.length;
  const ctrl = ev.ctrlKey || ev.metaKey;
  const moves = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -R.cols, ArrowDown: R.cols, Home: -n, End: n,
    PageUp: -R.cols * 4, PageDown: R.cols * 4 };
  if (k in moves && n) {
    const to = Math.max(0, Math.min(n - 1, R.cur + moves[k]));
    if (ev.shiftKey) rangeSel(R.anchor, to, ctrl); else if (!ctrl) R.anchor = to;
    R.cur = to; reveal(to); gridRefresh(); return true;
  }
  if (k === " " && n) {
    const id = R.list[R.cur]; R.sel.has(id) ? R.sel.delete(id) : R.sel.add(id); R.anchor = R.cur;
    gridRefresh(); return true;
  }
  if (ctrl && (k === "a" || k === "A")) { for (const id of R.list) R.sel.add(id); gridRefresh(); return true; }
  if (ctrl) return false;
  if (k === "Escape") { R.sel.clear(); gridRefresh(); return true; }
  if (k === "Enter" && n) { showOnFrame(R.list[R.cur]); return true; }
  return false;
}

// ---------------------------------------------------------------- open / close, keys
function toggleGrid(open) {
  R.open = open === undefined ? !R.open : open;
  $("grid-panel").hidden = !R.open;
  $("gv-toggle").setAttribute("aria-pressed", R.open ? "true" : "false");
  if (R.open) { guard(reviewLoad).then(() => $("gv-slider").focus()); } else orderTracks();
}
function build() {
  const tools = document.querySelector("#review .tools");
  const b = document.createElement("button"); b.id = "gv-toggle"; b.textContent = "Grid (G)";
  b.title = "All tracks as a grid: bulk decisions, the confidence slider, more like this (G)";
  b.onclick = () => toggleGrid();
  tools.append(b);
  const p = $("grid-panel");
  p.innerHTML = `
  <div class="gbar">
    <label for="gv-slider">Mask <span id="gv-which">tracks</span> at or above</label>
    <input type="range" id="gv-slider" min="0" max="1" step="0.01" value="0"
      aria-describedby="gv-preview" title="Arrows ±0.01, Page Up/Down ±0.1; Enter applies">
    <output id="gv-x">0.00</output>
    <button id="gv-apply" disabled title="Turn off the tracks below (Enter on the slider)">Turn off below…</button>
    <span id="gv-preview" aria-live="polite"></span>
  </div>
  <div class="gbar mut"><span id="gv-evidence"></span></div>
  <div class="gbar">
    <label>Class <select id="gv-class"><option value="all">all</option><option>face</option>
      <option>plate</option><option value="manual">drawn</option></select></label>
    <label>State <select id="gv-state"><option value="all">all</option><option value="on">masked</option>
      <option value="off">turned off</option></select></label>
    <label title="Median box height in pixels of the video; empty: no bound">Size
      <input type="number" id="gv-min" min="0" step="1" placeholder="from" aria-label="size from, px">
      – <input type="number" id="gv-max" min="0" step="1" placeholder="to" aria-label="size to, px"> px</label>
    <label>Sort <select id="gv-sort"><option value="evidence">evidence, lowest first</option>
      <option value="-evidence">evidence, highest first</option><option value="size">size, smallest first</option>
      <option value="-size">size, largest first</option><option value="area">masked area, largest first</option>
      <option value="top">place, top of the frame first</option><option value="bottom">place, bottom first</option>
      <option value="id">track id</option><option value="like">suggestions first</option></select></label>
    <span id="gv-count"></span>
  </div>
  <div class="gbar" role="toolbar" aria-label="Selected tracks">
    <span id="gv-sel"></span>
    <button id="gv-off" title="Turn the selected tracks off, with a reason (X)">Turn off… (X)</button>
    <button id="gv-on" title="Turn the selected tracks on (O)">Turn on (O)</button>
    <label>Method <select id="gv-method"><option value="">run's method</option><option>blur</option>
      <option>pixelate</option><option>fill</option><option>texture</option></select></label>
    <button id="gv-like" title="Suggest tracks like the selected (or turned-off) ones (L)">More like this (L)</button>
    <label>up to <input type="number" id="gv-n" min="1" max="500" value="20"></label>
    <button id="gv-accept" title="Turn the suggestions off (Y)">Accept suggestions (Y)</button>
    <button id="gv-reject" title="Clear the suggestions (N)">Reject (N)</button>
  </div>
  <div class="gbar gmaprow"><canvas id="gv-map" width="480" height="150"
    aria-label="Evidence map: each shown track by size (across, log scale) and evidence (up); drag a box to select tracks"></canvas>
    <span class="mut">Evidence map: size across, evidence up.<br>Drag a box to select the tracks in it
      (Shift or Ctrl adds), then X.</span>
    <figure id="gv-peek" aria-live="polite"><div class="peeks">
      <span><img alt="first placed box"><small></small></span><span><img alt="middle placed box"><small></small></span>
      <span><img alt="last placed box"><small></small></span></div><figcaption id="gv-peek-cap"></figcaption></figure></div>
  <div id="gv-grid" tabindex="0" role="listbox" aria-multiselectable="true"
    aria-label="Tracks; arrows move, Shift+arrows extend, Space selects, Ctrl+A all, X off, O on, L more like this">
    <div id="gv-inner"></div></div>
  <p class="keys">Grid keys: arrows move, Shift+arrows extend, Space select, Ctrl+A all, Esc none,
    X turn off, O turn on, L more like this, Y / N accept / reject suggestions, Enter show on the frame,
    G close. Slider: arrows, Page Up/Down, Enter applies. Map: drag a box (mouse, pen or touch; Shift
    or Ctrl adds), then X.</p>`;
  $("gv-slider").addEventListener("input", reviewPreview);
  $("gv-slider").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") { ev.preventDefault(); guard(applyThreshold); }
  });
  $("gv-apply").onclick = () => guard(applyThreshold);
  for (const id of ["gv-class", "gv-state", "gv-sort"]) $(id).onchange = () => { R.cur = 0; reviewFilter(); reviewPreview(); };
  for (const id of ["gv-min", "gv-max"]) $(id).oninput = () => { R.cur = 0; reviewFilter(); reviewPreview(); };
  $("gv-map").addEventListener("pointerdown", mapDown);
  $("gv-map").addEventListener("pointermove", mapMove);
  $("gv-map").addEventListener("pointerup", mapUp);
  $("gv-map").addEventListener("pointercancel", () => { MAP.drag = null; mapPaint(); });
  $("gv-off").onclick = () => guard(() => bulk("disable"));
  $("gv-on").onclick = () => guard(() => bulk("enable"));
  $("gv-method").onchange = () => guard(() => bulk("method", { method: $("gv-method").value || null }));
  $("gv-like").onclick = () => guard(moreLikeThis);
  $("gv-accept").onclick = () => guard(acceptSuggestions);
  $("gv-reject").onclick = rejectSuggestions;
  let queued = false;
  $("gv-grid").addEventListener("scroll", () => {
    if (queued) return; queued = true;
    requestAnimationFrame(() => { queued = false; gridPaint(false); });
  }, { passive: true });
  window.addEventListener("resize", () => { if (R.open) gridPaint(false); });
  // Captured before app.js's keys: in the grid, arrows move the selection, not the frame.
  document.addEventListener("keydown", (ev) => {
    if (!S.entry || $("review").hidden || ev.target.closest("dialog")) return;
    const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(ev.target.tagName) && ev.target.type !== "checkbox";
    if (typing) return;  // the slider and the selects keep their own keys
    const k = ev.key; const ctrl = ev.ctrlKey || ev.metaKey;
    let done = false;
    if ((k === "g" || k === "G") && !ctrl) { toggleGrid(); done = true; }
    else if (R.open && ev.target.id === "gv-grid") done = gridKey(ev);
    if (!done && R.open && !ctrl) {
      const act = { x: () => bulk("disable"), X: () => bulk("disable"), o: () => bulk("enable"),
        O: () => bulk("enable"), l: moreLikeThis, L: moreLikeThis, y: acceptSuggestions, Y: acceptSuggestions,
        n: rejectSuggestions, N: rejectSuggestions }[k];
      if (act) { guard(act); done = true; }
    }
    if (done) { ev.preventDefault(); ev.stopImmediatePropagation(); }
  }, true);
}
build();
