// veil live page: the token stays in a header (never in a URL); the view shows the
// latest masked frame, fetched as a blob.
"use strict";
const L = { token: null, shown: null, url: null, busy: false };

function api(path, opts = {}) {
  const headers = Object.assign({ "X-Veil-Token": L.token }, opts.headers || {});
  return fetch(path, Object.assign({}, opts, { headers }));
}

function say(text) { document.getElementById("message").textContent = text; }

async function refresh() {
  const r = await api("/api/live");
  if (!r.ok) { say(r.status === 401 ? "Open the link veil serve printed (it carries the token)." : "Cannot list live jobs."); return; }
  const jobs = await r.json();
  const ul = document.getElementById("jobs");
  ul.replaceChildren();
  for (const j of jobs) {
    const li = document.createElement("li");
    const show = document.createElement("button");
    show.textContent = `${j.id}: ${j.source} (${j.state})`;
    show.onclick = () => { L.shown = j.id; };
    li.append(show);
    if (j.state === "running" || j.state === "starting") {
      const stop = document.createElement("button");
      stop.textContent = "Stop";
      stop.onclick = async () => { await api(`/api/live/${j.id}`, { method: "DELETE" }); refresh(); };
      li.append(" ", stop);
    }
    if (j.error) li.append(" ", j.error);
    ul.append(li);
    if (j.id === L.shown) document.getElementById("line").textContent = j.line;
  }
  if (L.shown === null && jobs.length) L.shown = jobs[jobs.length - 1].id;
}

async function view() {
  if (L.shown === null || L.busy) return;
  L.busy = true;
  try {
    const r = await api(`/api/live/${L.shown}/frame.jpg`);
    if (r.ok) {
      const url = URL.createObjectURL(await r.blob());
      document.getElementById("view").src = url;
      if (L.url) URL.revokeObjectURL(L.url);
      L.url = url;
    }
  } finally { L.busy = false; }
}

document.addEventListener("DOMContentLoaded", () => {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem("veil-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname);
  }
  L.token = sessionStorage.getItem("veil-token");
  document.getElementById("start").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {
      source: document.getElementById("source").value,
      sink: document.getElementById("sink").value || null,
      latency: Number(document.getElementById("latency").value),
      overload: document.getElementById("overload").value,
    };
    const r = await api("/api/live", { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
    const j = await r.json();
    if (r.ok) { L.shown = j.id; say(`Started ${j.id}.`); } else { say(j.detail || "Refused."); }
    refresh();
  });
  refresh();
  setInterval(refresh, 2000);
  setInterval(view, 250);
});
