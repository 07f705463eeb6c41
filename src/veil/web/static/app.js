// veil serve: the review page. Plain JavaScript, no framework, nothing loaded from outside.
// Frames come from the server as JPEGs (a seek-friendly proxy), one at a time, drawn on a
// canvas with the tracks' boxes on top; the frame number and time shown are those of the
// picture on screen, updated only when that picture is drawn.
"use strict";

const $ = (id) => document.getElementById(id);
const S = {
  token: null, job: null, entry: null, tracks: new Map(), frame: 0, shown: -1, want: 0,
  playing: false, masked: false, tool: "select", selected: null, drag: null, seq: 0,
  bitmap: null, events: null, version: -1, revision: -1, pv: -1, ranges: new Map(), maxUpload: null,
  thumbs: new Map(),  // track id -> {key, url}: a thumbnail is fetched once per first box
  order: [],  // the track ids, ascending: the list's and the timeline's order
};
const COLORS = { face: "#3f8ef0", plate: "#e0c020", text: "#30b070", manual: "#d040d0", off: "#888" };

// ---------------------------------------------------------------- API
async function api(path, opts = {}) {
  const headers = Object.assign({ "X-Veil-Token": S.token }, opts.headers || {});
  // optimistic concurrency: a write names the project_version this page last saw
  if (opts.method && S.pv >= 0 && /\/(edit|undo|redo|follow|project|review\/bulk|review\/threshold)$/.test(path)) headers["If-Match"] = `"${S.pv}"`;
  let body = opts.body;
  if (body && !(body instanceof Blob) && typeof body !== "string") {
    body = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  const r = await fetch("/api" + path, { method: opts.method || "GET", headers, body });
  if (!r.ok) {
    let detail = r.statusText;
    try { detail = (await r.json()).detail; } catch (_) { /* not JSON */ }
    if (r.status === 409 && String(detail).startsWith("project: changed")) {
      await loadProject();  // another tab or client edited it: show theirs, then say so
      detail = "another window changed this project; it was reloaded, please redo your last change";
    }
    throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  if (opts.raw) return r;
  return r.status === 204 ? null : r.json();
}
function say(text) { $("message").textContent = text || ""; }
async function guard(fn) { try { say(""); return await fn(); } catch (e) { say(e.message); } }

// ---------------------------------------------------------------- start: files and jobs
async function showStart() {
  closeEvents();
  S.job = null; S.entry = null;
  sessionStorage.removeItem("veil-job");
  $("job").hidden = true; $("start").hidden = false;
  const [files, jobs] = await Promise.all([api("/files"), api("/jobs")]);
  S.maxUpload = files.max_upload;
  const ul = $("files"); ul.textContent = "";
  for (const f of files.files) {
    const b = document.createElement("button");
    b.textContent = `${f.path} (${f.kind}, ${f.bytes ? mb(f.bytes) : "empty"})`;
    b.dataset.path = f.path;
    b.onclick = () => guard(async () => openJob((await api("/jobs", { method: "POST", body: { path: f.path } })).id));
    const li = document.createElement("li"); li.append(b); ul.append(li);
  }
  if (!files.files.length) ul.textContent = "No images or videos in the served folder.";
  const jl = $("jobs"); jl.textContent = "";
  for (const j of jobs.jobs) {
    const b = document.createElement("button");
    // two jobs on one file differ by when they were made
    const made = new Date(j.created * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    b.textContent = `${j.name} — ${j.state} — made ${made}`;
    b.onclick = () => guard(() => openJob(j.id));
    const li = document.createElement("li"); li.append(b); jl.append(li);
  }
}

$("upload").onchange = (ev) => guard(async () => {
  const file = ev.target.files[0];
  ev.target.value = "";
  if (!file) return;
  if (S.maxUpload !== null && file.size > S.maxUpload) {
    say(`Not uploaded: ${file.name} is ${mb(file.size)}; this server accepts files up to ` +
      `${mb(S.maxUpload)} (veil serve --max-upload-mb).`);
    return;
  }
  say("Uploading…");
  let job;
  try {
    job = await api("/jobs/upload?name=" + encodeURIComponent(file.name), { method: "POST", body: file });
  } catch (e) {
    throw new Error(`Not uploaded: ${e.message}`);
  }
  say("");
  await openJob(job.id);
});
function mb(n) { return n >= 1e6 ? (n / 1e6).toFixed(1) + " MB" : n >= 1e3 ? (n / 1e3).toFixed(0) + " kB" : n + " bytes"; }

// ---------------------------------------------------------------- a job
async function openJob(id) {
  S.job = id; S.version = -1; S.revision = -1; S.pv = -1; clearThumbs();
  sessionStorage.setItem("veil-job", id);
  const st = await api(`/jobs/${id}`);
  // The panel appears with its own name already in it, never with the last job's or none.
  $("job-name").textContent = st.name;
  $("start").hidden = true; $("job").hidden = false;
  applyStatus(st);
  if (st.state !== "new" && st.state !== "failed") await loadProject();
  else $("review").hidden = true;
  keepFocus();
  listen(id);
}

// A keyboard user keeps a place: when the control that had the focus went away (the file's
// button, a finished task's), it moves to the frame, or to Run detection before there is one.
function keepFocus() {
  const a = document.activeElement;
  if (a && a !== document.body && a.isConnected && a.offsetParent !== null) return;
  ($("review").hidden ? $("detect") : $("view")).focus({ preventScroll: true });
}

function applyStatus(st) {
  const busy = st.task !== null;
  $("detect").disabled = busy;
  $("detect").textContent = st.state === "new" || st.state === "failed" ? "Run detection" : "Detect again";
  $("render").disabled = busy || st.state === "new" || st.state === "failed";
  $("cancel").hidden = !busy;
  $("progress").hidden = !busy;
  if (busy) {
    $("progress").max = st.total || 1;
    $("progress").value = st.total ? Math.min(st.done, st.total) : 0;
    $("task").textContent = st.queued ? `${st.task}: waiting in queue` : `${st.task}: ${st.done}${st.total ? " / " + st.total : ""}`;
  } else {
    $("task").textContent = st.error ? `last task: ${st.error}` : "";
  }
  for (const id of ["download", "report-json", "report-md"]) $(id).hidden = !st.has_output || busy;
  S.stale = !!st.stale;  // the output misses edits made after its render
  $("download").textContent = S.stale ? "Download old output (without your latest edits)" : "Download output";
  $("undo").disabled = !st.can_undo || busy; $("redo").disabled = !st.can_redo || busy;
  $("job").dataset.state = st.state;
  $("job").dataset.busy = busy ? "1" : "0";
}

function closeEvents() { if (S.events) { S.events.abort(); S.events = null; } }

// Server-sent events, read with fetch so that the token travels in a header.
async function listen(id) {
  closeEvents();
  const ctl = new AbortController(); S.events = ctl;
  try {
    const r = await fetch(`/api/jobs/${id}/events`, { headers: { "X-Veil-Token": S.token }, signal: ctl.signal });
    const reader = r.body.getReader(); const dec = new TextDecoder(); let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const chunk = buf.slice(0, i); buf = buf.slice(i + 2);
        const line = chunk.split("\n").find((l) => l.startsWith("data: "));
        if (!line || chunk.startsWith("event: end")) continue;
        const st = JSON.parse(line.slice(6));
        applyStatus(st);
        // a task (detection, following) or a PUT replaced tracks since this page loaded them;
        // the page's own edits bump only the version, and their answers carry the change
        if (st.task === null && st.state !== "new" && st.state !== "failed" && st.revision !== S.revision) {
          await guard(loadProject);
          keepFocus();
        }
      }
    }
  } catch (e) { if (e.name !== "AbortError") say("lost contact with the server"); return; }
  // The stream ended without this page closing it: a deleted job ends it, a stopped server too.
  if (S.events === ctl) {
    try { await api(`/jobs/${id}`); } catch (_) { say("lost contact with the server: is veil serve still running?"); }
  }
}

// Detecting again replaces every track: a review's edits would be gone, with no undo.
$("detect").onclick = () => guard(async () => {
  const st = $("job").dataset.state;
  const edited = !$("undo").disabled || [...S.tracks.values()].some((t) => !t.enabled || t.source === "manual");
  if (st !== "new" && st !== "failed" && edited && !confirm("Detect again replaces every track, and "
      + "with them this review's edits (tracks left visible and their reasons, drawn regions). It cannot "
      + "be undone. Detect again?")) return;
  await api(`/jobs/${S.job}/detect`, { method: "POST" });
});
$("render").onclick = () => guard(() => api(`/jobs/${S.job}/render`, { method: "POST" }));
$("cancel").onclick = () => guard(() => api(`/jobs/${S.job}/cancel`, { method: "POST" }));
$("delete").onclick = () => guard(async () => {
  if (!confirm("Delete this job and every file veil made for it?")) return;
  closeEvents();
  await api(`/jobs/${S.job}`, { method: "DELETE" });
  await showStart();
});
$("back").onclick = () => guard(showStart);

async function download(path, name) {
  const r = await api(path, { raw: true });
  const url = URL.createObjectURL(await r.blob());
  const a = document.createElement("a"); a.href = url; a.download = name;
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
$("download").onclick = () => guard(() => {
  const n = $("job-name").textContent; const dot = n.lastIndexOf(".");
  if (S.stale && !confirm("This output was rendered before your latest edits and does not show them. Render again to include them. Download the old output anyway?")) return;
  return download(`/jobs/${S.job}/output${S.stale ? "?stale=true" : ""}`, n.slice(0, dot).split("/").pop() + "-masked" + n.slice(dot));
});
$("report-json").onclick = () => guard(() => download(`/jobs/${S.job}/report?format=json`, "report.json"));
$("report-md").onclick = () => guard(() => download(`/jobs/${S.job}/report?format=md`, "report.md"));

// ---------------------------------------------------------------- the project
async function loadProject() {
  const p = await api(`/jobs/${S.job}/project`);
  S.version = p.version; S.revision = p.revision; S.pv = p.project_version;
  S.entry = p.project.files[0];
  S.tracks = new Map(S.entry.tracks.map((t) => [t.id, t]));
  S.order = [...S.tracks.keys()].sort((a, b) => a - b);
  S.ranges = new Map();
  $("review").hidden = false;
  $("undo").disabled = !p.can_undo; $("redo").disabled = !p.can_redo;
  if (S.selected !== null && !S.tracks.has(S.selected)) S.selected = null;
  renderTracks(); renderTimeline();
  $("review").dataset.version = S.version;
  S.shown = -1;
  await seek(Math.min(S.frame, S.entry.frames - 1));
}

function applyChange(res) {
  S.version = Math.max(S.version, res.version);
  if (res.project_version !== undefined) S.pv = res.project_version;
  for (const c of res.changed || []) {
    if (c.track) S.tracks.set(c.id, c.track); else S.tracks.delete(c.id);
    const at = orderIndex(c.id);
    if (c.track && S.order[at] !== c.id) S.order.splice(at, 0, c.id);
    if (!c.track && S.order[at] === c.id) S.order.splice(at, 1);
    S.ranges.delete(c.id);
    if (!c.track && S.selected === c.id) S.selected = null;
    updateTrack(c.id);  // only the changed rows are rebuilt: edits stay quick with many tracks
  }
  $("undo").disabled = !res.can_undo; $("redo").disabled = !res.can_redo;
  $("review").dataset.version = S.version;
  S.shown = -1; seek(S.frame);
}
async function edit(body) { const res = await api(`/jobs/${S.job}/edit`, { method: "POST", body }); applyChange(res); return res; }
$("undo").onclick = () => guard(async () => applyChange(await api(`/jobs/${S.job}/undo`, { method: "POST" })));
$("redo").onclick = () => guard(async () => applyChange(await api(`/jobs/${S.job}/redo`, { method: "POST" })));

// A track's box on a frame: CVAT's keyframe model, as veil.project.model.Track.box_at.
function boxAt(t, f) {
  const k = t.keyframes; let lo = 0, hi = k.length - 1, i = -1;
  while (lo <= hi) { const m = (lo + hi) >> 1; if (k[m].frame <= f) { i = m; lo = m + 1; } else hi = m - 1; }
  if (i < 0 || k[i].outside) return null;
  const n = k[i + 1];
  if (!n || n.outside || f === k[i].frame) return k[i].box;
  const a = (f - k[i].frame) / (n.frame - k[i].frame);
  return k[i].box.map((v, j) => v + a * (n.box[j] - v));
}
function visibleRanges(t) {
  if (S.ranges.has(t.id)) return S.ranges.get(t.id);
  const out = []; const k = t.keyframes; const last = S.entry.frames;
  for (let i = 0; i < k.length; i++) {
    if (k[i].outside) continue;
    const stop = i + 1 < k.length ? k[i + 1].frame : last;
    const prev = out[out.length - 1];
    if (prev && prev[1] === k[i].frame - 1) prev[1] = stop - 1; else out.push([k[i].frame, stop - 1]);
  }
  S.ranges.set(t.id, out);
  return out;
}
function kindOf(t) { return t.source === "manual" ? "manual" : t.label; }
function sortedTracks() { return S.order.map((id) => S.tracks.get(id)); }
// Where id is, or would go, in S.order.
function orderIndex(id) {
  let lo = 0, hi = S.order.length;
  while (lo < hi) { const m = (lo + hi) >> 1; if (S.order[m] < id) lo = m + 1; else hi = m; }
  return lo;
}

// A virtual list: of S.order's rows, only those in and near the scroll window are in the
// page (a long video has thousands of tracks); padding above and below stands for the rest,
// so the scrollbar is true. Rows have a fixed height (app.css) and are built on demand.
function virtualList(box, scroller, rowH, make) {
  const v = { rows: new Map(), from: -1, to: -1 };
  v.window = () => {
    const off = box.getBoundingClientRect().top - scroller.getBoundingClientRect().top
      - scroller.clientTop + scroller.scrollTop;
    const h = scroller.clientHeight || window.innerHeight;
    const top = scroller.scrollTop - off; const over = 8;
    const n = S.order.length;
    return [Math.max(0, Math.min(n, Math.floor(top / rowH) - over)),
      Math.max(0, Math.min(n, Math.ceil((top + h) / rowH) + over)), off];
  };
  // the spacers change the scroller's height the first time: then the window is measured again
  v.paint = (force) => { v.fill(force); v.fill(false); };
  v.fill = (force) => {
    const [from, to] = v.window();
    if (!force && from === v.from && to === v.to) return;
    v.from = from; v.to = to;
    const want = S.order.slice(from, to); const keep = new Set(want);
    for (const [id, el] of v.rows) if (!keep.has(id)) { v.forget(el); v.rows.delete(id); }
    // the rows kept are in order; new ones go in between
    const kids = [...box.children].filter((e) => e.dataset.track !== undefined);
    let k = 0;
    for (const id of want) {
      if (v.rows.has(id)) { k++; continue; }
      const el = make(S.tracks.get(id)); v.rows.set(id, el);
      box.insertBefore(el, kids[k] || null);
    }
    box.style.paddingTop = from * rowH + "px";
    box.style.paddingBottom = (S.order.length - to) * rowH + "px";
  };
  v.forget = (el) => { const img = el.querySelector("img"); if (img) thumbSeen.unobserve(img); el.remove(); };
  v.drop = (id) => { const el = v.rows.get(id); if (el) { v.forget(el); v.rows.delete(id); } };
  v.reset = () => { for (const el of v.rows.values()) v.forget(el); v.rows.clear(); v.paint(true); };
  // scroll so that row id is in view, as scrollIntoView({block: "nearest"}) would
  v.reveal = (id) => {
    const i = orderIndex(id); if (S.order[i] !== id) return;
    const off = v.window()[2]; const top = off + i * rowH; const h = scroller.clientHeight;
    if (top < scroller.scrollTop) scroller.scrollTop = top;
    else if (top + rowH > scroller.scrollTop + h) scroller.scrollTop = top + rowH - h;
    v.paint(false);
  };
  let queued = false;
  scroller.addEventListener("scroll", () => {
    if (queued) return;
    queued = true; requestAnimationFrame(() => { queued = false; if (S.entry) v.paint(false); });
  }, { passive: true });
  window.addEventListener("resize", () => { if (S.entry) v.paint(false); });
  return v;
}
const TRACK_ROW = 84, TIMELINE_ROW = 14;  // px, as app.css sets them
let trackList = null, timelineList = null;

function renderTracks() {
  if (!trackList) trackList = virtualList($("tracks"), $("tracks").closest("aside"), TRACK_ROW, trackItem);
  trackList.reset();
}

// Rebuild, insert (in id order) or remove one track's row in the list and the timeline.
function updateTrack(id) {
  for (const v of [trackList, timelineList]) { v.drop(id); v.paint(true); }
}

function trackItem(t) {
  const li = document.createElement("li");
  li.dataset.track = t.id; li.tabIndex = 0; li.setAttribute("role", "option");
  li.classList.toggle("sel", t.id === S.selected); li.classList.toggle("off", !t.enabled);
  li.setAttribute("aria-selected", t.id === S.selected ? "true" : "false");
  const img = document.createElement("img"); img.alt = ""; loadThumb(img, t);
  const name = document.createElement("div"); name.className = "name";
  const r = visibleRanges(t);
  name.textContent = `${t.label} #${t.id} · ${t.source} · frames ${r.length ? r[0][0] : "-"}–${r.length ? r[r.length - 1][1] : "-"}`;
  const row = document.createElement("div");
  const cb = document.createElement("input"); cb.type = "checkbox"; cb.checked = t.enabled;
  cb.id = `toggle-${t.id}`; cb.title = "Masked (T)";
  cb.onchange = () => { cb.checked = t.enabled; toggleTrack(t.id); };
  const lab = document.createElement("label"); lab.append(cb, " masked");
  const sel = document.createElement("select"); sel.title = "Method for this track";
  for (const m of ["", "blur", "pixelate", "fill", "texture"]) {
    const o = document.createElement("option"); o.value = m; o.textContent = m || "run's method"; sel.append(o);
  }
  sel.value = (t.overrides && t.overrides.method) || "";
  sel.onchange = () => guard(() => edit({ op: "set_style", track: t.id, method: sel.value || null }));
  row.append(lab, " ", sel);
  let manual = [];
  if (t.source === "manual") {
    const f = document.createElement("button"); f.textContent = "Follow"; f.title = "Propagate the drawn boxes";
    f.onclick = () => guard(() => follow(t.id));
    const d = document.createElement("button"); d.textContent = "Delete";
    d.onclick = () => guard(() => edit({ op: "delete_track", track: t.id }));
    manual = [f, " ", d];
  }
  const why = document.createElement("div"); why.className = "why";
  if (manual.length) why.append(...manual, " ");  // the row above has no room for them
  if (!t.enabled) why.append("left visible: " + t.reason);  // after them: a region left
  // visible can still be followed or deleted
  if (t.enabled && t.margin_share !== undefined && t.margin_share < 1) {
    // the learned decision rated it an unlikely face: its mask takes part of the margin
    const um = document.createElement("button"); um.textContent = "Full margin";
    um.title = `Rated an unlikely face, so masked with ${Math.round(t.margin_share * 100)}% of the face margin. Give it the whole margin.`;
    um.onclick = (ev) => { ev.stopPropagation(); guard(() => edit({ op: "set_style", track: t.id, margin_share: 1 })); };
    why.append(" ", um);
  }
  if (t.review && t.review.length) {
    const rv = document.createElement("span"); rv.className = "rev"; rv.append(" needs review: ");
    for (const [a, b] of t.review.slice(0, 6)) {
      const b2 = document.createElement("button"); b2.textContent = `${a}–${b}`;
      b2.onclick = (ev) => { ev.stopPropagation(); select(t.id); seek(a); };
      rv.append(b2, " ");
    }
    why.append(rv);
  }
  li.append(img, name, row, why);
  li.onclick = (ev) => { if (ev.target === li || ev.target === name || ev.target === img) { select(t.id); jumpTo(t); } };
  return li;
}

// Thumbnails: fetched when their row scrolls into view, a few at a time, and kept per track
// while its boxes look unchanged (a long video can have thousands of tracks). The server
// picks the frame (the middle of the placed boxes), so the key is a cheap summary of them.
const thumbQueue = []; let thumbBusy = 0;
const thumbSeen = new IntersectionObserver((entries) => {
  for (const e of entries) {
    if (!e.isIntersecting) continue;
    thumbSeen.unobserve(e.target); thumbQueue.push(e.target); pumpThumbs();
  }
}, { rootMargin: "200px" });
function thumbKey(t) {
  const ks = t.keyframes, n = ks.length;
  const one = (k) => (k ? `${k.frame}:${k.outside ? "-" : k.box.join(",")}` : "");
  return `${n}|${one(ks[0])}|${one(ks[n >> 1])}|${one(ks[n - 1])}|${(t.filled || []).join(",")}`;
}
function clearThumbs() {
  for (const v of S.thumbs.values()) if (v.url) URL.revokeObjectURL(v.url);
  S.thumbs = new Map(); thumbQueue.length = 0;
}
function loadThumb(img, t) {
  img.dataset.key = thumbKey(t);
  const hit = S.thumbs.get(t.id);
  if (hit && hit.key === img.dataset.key) { img.src = hit.url; return; }
  thumbSeen.observe(img);
}
async function pumpThumbs() {
  while (thumbBusy < 4 && thumbQueue.length) {
    const img = thumbQueue.shift();
    if (!img.isConnected) continue;
    const id = Number(img.closest("[data-track]").dataset.track); const key = img.dataset.key; const job = S.job;
    thumbBusy++;
    (async () => {
      try {
        const r = await api(`/jobs/${job}/tracks/${id}/thumbnail`, { raw: true });
        const url = URL.createObjectURL(await r.blob());
        if (job !== S.job) { URL.revokeObjectURL(url); return; }
        const old = S.thumbs.get(id); if (old && old.url) URL.revokeObjectURL(old.url);
        S.thumbs.set(id, { key, url });
        if (img.isConnected) img.src = url;
      } catch (_) { /* a thumbnail is optional */ }
      finally { thumbBusy--; pumpThumbs(); }
    })();
  }
}

function renderTimeline() {
  const tl = $("timeline");
  if (!timelineList) {
    // the rows sit in a box of their own: padding on the scroller itself would defeat its max-height
    const rows = document.createElement("div"); rows.id = "timeline-rows";
    const ph = document.createElement("div"); ph.id = "playhead"; tl.append(rows, ph);
    timelineList = virtualList(rows, tl, TIMELINE_ROW, timelineRow);
  }
  timelineList.reset();
  placePlayhead();
}
function timelineRow(t) {
  const n = S.entry.frames;
  const row = document.createElement("div"); row.className = "trow"; row.dataset.track = t.id;
  row.classList.toggle("sel", t.id === S.selected); row.classList.toggle("off", !t.enabled);
  row.title = `${t.label} #${t.id}`;
  for (const [a, b] of visibleRanges(t)) row.append(seg(a, b, n, "seg " + kindOf(t)));
  for (const [a, b] of t.review || []) row.append(seg(a, b, n, "seg rev"));
  row.onclick = (ev) => {
    const rect = row.getBoundingClientRect();
    select(t.id); seek(Math.round(((ev.clientX - rect.left) / rect.width) * (n - 1)));
  };
  return row;
}
function seg(a, b, n, cls) {
  const d = document.createElement("div"); d.className = cls;
  d.style.left = (100 * a / n) + "%"; d.style.width = (100 * (b - a + 1) / n) + "%";
  return d;
}
function placePlayhead() {
  const ph = $("playhead"); if (!ph || !S.entry) return;
  ph.style.left = (100 * (S.shown < 0 ? S.frame : S.shown) / S.entry.frames) + "%";
}

function select(id) {
  S.selected = id;
  if (id !== null) trackList.reveal(id);
  for (const li of $("tracks").children) {
    const on = Number(li.dataset.track) === id;
    li.classList.toggle("sel", on); li.setAttribute("aria-selected", on ? "true" : "false");
  }
  for (const r of $("timeline").querySelectorAll(".trow")) r.classList.toggle("sel", Number(r.dataset.track) === id);
  draw();
}
function jumpTo(t) { const r = visibleRanges(t); if (r.length && boxAt(t, S.frame) === null) seek(r[0][0]); }

// The reasons the run's policy offers (veil serve --policy NAME), suggested in the dialog.
async function fillReasons() {
  if (!S.reasons) S.reasons = (await api("/files")).reasons || [];
  const list = $("reason-list"); list.textContent = "";
  for (const r of S.reasons) { const o = document.createElement("option"); o.value = r; list.append(o); }
}

// Turning a track off asks for a reason (it goes into the report); on needs none.
function toggleTrack(id) {
  const t = S.tracks.get(id); if (!t) return;
  if (!t.enabled) { guard(() => edit({ op: "enable", track: id })); return; }
  const dlg = $("reason-dialog"); $("reason-input").value = "";
  guard(fillReasons);
  dlg.onclose = () => {
    const reason = $("reason-input").value.trim();
    if (dlg.returnValue === "ok" && reason) guard(() => edit({ op: "disable", track: id, reason }));
    $("view").focus();
  };
  dlg.showModal();
}

async function follow(id) {
  await api(`/jobs/${S.job}/tracks/${id}/follow`, { method: "POST" });
}

// ---------------------------------------------------------------- frames
function timeOf(f) {
  const t = S.entry.times;
  if (t) return t[f] - t[0];
  return S.entry.kind === "image" ? 0 : null;
}
function fmtTime(s) {
  if (s === null) return "";
  const m = Math.floor(s / 60); const r = s - 60 * m;
  return `${m}:${r.toFixed(3).padStart(6, "0")}`;
}

// Ask for a frame; only the newest request is drawn, older answers are dropped.
async function seek(f) {
  if (!S.entry) return;
  f = Math.max(0, Math.min(S.entry.frames - 1, f | 0));
  S.frame = f;
  const seq = ++S.seq;
  try {
    const r = await api(`/jobs/${S.job}/frames/${f}?masked=${S.masked}`, { raw: true });
    const bmp = await createImageBitmap(await r.blob());
    if (seq !== S.seq) { bmp.close(); return; }
    if (S.bitmap) S.bitmap.close();
    S.bitmap = bmp; S.shown = f;
    const c = $("view");
    if (c.width !== bmp.width || c.height !== bmp.height) { c.width = bmp.width; c.height = bmp.height; }
    draw();
  } catch (e) { if (seq === S.seq) say(e.message); }
}

function scale() { return $("view").width / S.entry.width; }

function draw() {
  const c = $("view"); const g = c.getContext("2d");
  if (!S.bitmap || !S.entry) return;
  g.drawImage(S.bitmap, 0, 0);
  const f = S.shown; const s = scale();
  $("frame-label").textContent = `frame ${f} / ${S.entry.frames - 1}  ·  ${fmtTime(timeOf(f))}`;
  $("frame-label").dataset.frame = f;
  placePlayhead();
  for (const t of sortedTracks()) {
    let b = boxAt(t, f);
    if (S.drag && S.drag.track === t.id && S.drag.box) b = S.drag.box;
    if (!b) continue;
    const sel = t.id === S.selected;
    if (S.masked && !sel) continue;
    g.save();
    g.lineWidth = sel ? 3 : 1.5;
    g.strokeStyle = t.enabled ? COLORS[kindOf(t)] : COLORS.off;
    if (!t.enabled) g.setLineDash([6, 4]);
    const [x1, y1, x2, y2] = b.map((v) => v * s);
    const shape = (t.overrides && t.overrides.shape) || (t.label === "face" ? "ellipse" : "rect");
    if (shape === "ellipse") {
      g.beginPath(); g.ellipse((x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2, 0, 0, 2 * Math.PI); g.stroke();
    }
    g.strokeRect(x1, y1, x2 - x1, y2 - y1);
    if (sel) { g.fillStyle = "#fff"; for (const [x, y] of [[x1, y1], [x2, y1], [x1, y2], [x2, y2]]) g.fillRect(x - 4, y - 4, 8, 8); }
    g.restore();
  }
  if (S.drag && S.drag.kind === "new" && S.drag.box) {
    const [x1, y1, x2, y2] = S.drag.box.map((v) => v * s);
    g.save(); g.setLineDash([4, 3]); g.strokeStyle = "#fff"; g.lineWidth = 2;
    if (S.tool === "ellipse") { g.beginPath(); g.ellipse((x1 + x2) / 2, (y1 + y2) / 2, Math.abs(x2 - x1) / 2, Math.abs(y2 - y1) / 2, 0, 0, 2 * Math.PI); g.stroke(); }
    else g.strokeRect(x1, y1, x2 - x1, y2 - y1);
    g.restore();
  }
}

// Playback: the next frame is asked for when the last one is on screen (never a backlog).
async function play() {
  if (S.playing || !S.entry) return;
  S.playing = true; $("play").textContent = "Pause";
  const fps = S.entry.fps ? eval_fraction(S.entry.fps) : 25;
  while (S.playing && S.frame < S.entry.frames - 1) {
    const t0 = performance.now();
    await seek(S.frame + 1);
    const wait = 1000 / fps - (performance.now() - t0);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  pause();
}
function eval_fraction(s) { const [a, b] = s.split("/").map(Number); return b ? a / b : a; }
function pause() { S.playing = false; $("play").textContent = "Play"; }
$("play").onclick = () => (S.playing ? pause() : play());
$("back1").onclick = () => seek(S.frame - 1);
$("fwd1").onclick = () => seek(S.frame + 1);
$("back10").onclick = () => seek(S.frame - 10);
$("fwd10").onclick = () => seek(S.frame + 10);
$("masked").onchange = () => { S.masked = $("masked").checked; S.shown = -1; seek(S.frame); };

// ---------------------------------------------------------------- tools: select/drag, draw
function setTool(t) {
  S.tool = t;
  for (const id of ["select", "rect", "ellipse"]) $("tool-" + id).classList.toggle("on", id === t);
}
for (const id of ["select", "rect", "ellipse"]) $("tool-" + id).onclick = () => setTool(id);

function toImage(ev) {
  const c = $("view"); const r = c.getBoundingClientRect();
  const x = ((ev.clientX - r.left) / r.width) * c.width; const y = ((ev.clientY - r.top) / r.height) * c.height;
  const s = scale();
  return [x / s, y / s, (r.width / c.width) * s];  // image coordinates, and css px per image px
}
const view = $("view");
view.onmousedown = (ev) => {
  if (!S.entry || S.shown < 0) return;
  const [x, y, cssPer] = toImage(ev);
  if (S.tool !== "select") { S.drag = { kind: "new", x0: x, y0: y, box: null }; return; }
  const near = 10 / cssPer;
  const t = S.selected !== null ? S.tracks.get(S.selected) : null;
  const b = t ? boxAt(t, S.shown) : null;
  if (b) {
    const corners = [[0, 1], [2, 1], [0, 3], [2, 3]];
    for (const [ix, iy] of corners) {
      if (Math.abs(x - b[ix]) < near && Math.abs(y - b[iy]) < near) {
        S.drag = { kind: "corner", track: t.id, ix, iy, box: b.slice() }; return;
      }
    }
  }
  // otherwise select the smallest box under the pointer
  let best = null;
  for (const tr of S.tracks.values()) {
    const bb = boxAt(tr, S.shown);
    if (bb && x >= bb[0] && x <= bb[2] && y >= bb[1] && y <= bb[3]) {
      const area = (bb[2] - bb[0]) * (bb[3] - bb[1]);
      if (!best || area < best[0]) best = [area, tr.id];
    }
  }
  if (best) select(best[1]);
};
view.onmousemove = (ev) => {
  if (!S.drag) return;
  const [x, y] = toImage(ev);
  if (S.drag.kind === "new") S.drag.box = [Math.min(S.drag.x0, x), Math.min(S.drag.y0, y), Math.max(S.drag.x0, x), Math.max(S.drag.y0, y)];
  else { S.drag.box[S.drag.ix] = x; S.drag.box[S.drag.iy] = y; }
  draw();
};
window.addEventListener("mouseup", () => {
  const d = S.drag; S.drag = null;
  if (!d || !d.box) { draw(); return; }
  const [x1, y1, x2, y2] = d.box;
  const box = [Math.min(x1, x2), Math.min(y1, y2), Math.max(x1, x2), Math.max(y1, y2)].map((v) => Math.round(v * 10) / 10);
  if (box[2] - box[0] < 3 || box[3] - box[1] < 3) { draw(); return; }
  if (d.kind === "corner") { guard(() => edit({ op: "set_keyframe", track: d.track, frame: S.shown, box })); return; }
  const frame = S.shown; const shape = S.tool === "ellipse" ? "ellipse" : null;
  const dlg = $("region-dialog");
  dlg.onclose = () => {
    draw();
    if (dlg.returnValue !== "ok") return;
    guard(async () => {
      const res = await edit({ op: "add_track", label: $("region-label").value, frame, box, shape });
      const id = res.changed[0].id; select(id);
      if ($("region-follow").checked && S.entry.frames > 1) await follow(id);
    });
    setTool("select"); view.focus();
  };
  S.drag = { kind: "new", box: d.box }; draw(); S.drag = null;
  $("region-follow").closest("label").hidden = S.entry.frames <= 1;  // a photo: nothing to follow
  dlg.showModal();
});

// ---------------------------------------------------------------- keyboard
document.addEventListener("keydown", (ev) => {
  if (!S.entry || $("review").hidden) return;
  if (ev.target.closest("dialog") || ["INPUT", "SELECT", "TEXTAREA"].includes(ev.target.tagName) && ev.target.type !== "checkbox") return;
  const k = ev.key; const step = ev.shiftKey ? 10 : 1;
  const ctrl = ev.ctrlKey || ev.metaKey;
  let done = true;
  if (ctrl && (k === "z" || k === "Z")) ev.shiftKey ? $("redo").click() : $("undo").click();
  else if (ctrl && (k === "y" || k === "Y")) $("redo").click();
  else if (ctrl) done = false;
  else if (k === "ArrowLeft" || k === "d" || k === "D") seek(S.frame - step);
  else if (k === "ArrowRight" || k === "f" || k === "F") seek(S.frame + step);
  else if (k === " " && ev.target.tagName !== "BUTTON") S.playing ? pause() : play();
  else if (k === "j" || k === "k") {
    const ids = S.order;
    if (ids.length) {
      let i = ids.indexOf(S.selected);
      i = i < 0 ? 0 : (i + (k === "j" ? 1 : ids.length - 1)) % ids.length;
      select(ids[i]); jumpTo(S.tracks.get(ids[i]));
    }
  }
  else if ((k === "t" || k === "T") && S.selected !== null) toggleTrack(S.selected);
  else if (k === "r") setTool("rect");
  else if (k === "e") setTool("ellipse");
  else if (k === "s") setTool("select");
  else if (k === "m") { $("masked").checked = !$("masked").checked; $("masked").onchange(); }
  else if (k === "Escape") { S.drag = null; setTool("select"); draw(); }
  else done = false;
  if (done) ev.preventDefault();
});

// ---------------------------------------------------------------- start
(function init() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem("veil-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname);  // the token leaves the address bar
  }
  S.token = sessionStorage.getItem("veil-token");
  if (!S.token) { say("Open the URL that `veil serve` printed (it carries the access token)."); return; }
  const job = sessionStorage.getItem("veil-job");
  guard(async () => {
    if (job) { try { await openJob(job); return; } catch (_) { sessionStorage.removeItem("veil-job"); } }
    await showStart();
  });
})();
