// genzoo playground: shared helpers (API calls, jobs with progress and cancel, run pickers).
"use strict";
const G = (window.genzoo = { pages: {}, runs: [] });

G.$ = (id) => document.getElementById(id);

G.api = async function (path, body) {
  const init = body === undefined ? {} :
    { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const r = await fetch(path, init);
  let data;
  try { data = await r.json(); } catch (e) { data = { error: r.statusText }; }
  if (!r.ok && r.status !== 202) throw new Error(data.error || r.statusText);
  return data;
};

G.status = function (el, text, error) {
  el.textContent = text || "";
  el.classList.toggle("error", !!error);
};

// Start a job (POST returns its state), follow its server-sent events until it ends.
// ui: {status, progress, cancel, onUpdate(snapshot)}; resolves with the result.
G.runJob = function (path, body, ui) {
  return new Promise(async (resolve, reject) => {
    let job;
    try { job = await G.api(path, body); } catch (e) { reject(e); return; }
    G.activeJobs.add(job.id);
    const done = () => {
      G.activeJobs.delete(job.id);
      if (ui.cancel) { ui.cancel.disabled = true; ui.cancel.onclick = null; }
    };
    if (ui.cancel) {
      ui.cancel.disabled = false;
      ui.cancel.onclick = () => fetch(`/api/jobs/${job.id}/cancel`, { method: "POST" });
    }
    const es = new EventSource(`/api/jobs/${job.id}/events`);
    es.onmessage = (ev) => {
      const s = JSON.parse(ev.data);
      if (ui.progress) ui.progress.value = s.progress;
      if (ui.onUpdate) ui.onUpdate(s);
      if (s.status === "done") { es.close(); done(); resolve(s.result); }
      else if (s.status === "error") { es.close(); done(); reject(new Error(s.error)); }
      else if (s.status === "cancelled") { es.close(); done(); reject(new Error("cancelled")); }
      else if (ui.status) G.status(ui.status, `${s.status}… ${Math.round(100 * s.progress)}%`);
    };
    es.onerror = () => { /* the browser reconnects; the job state is kept on the server */ };
  });
};
G.activeJobs = new Set();
window.addEventListener("pagehide", () => {
  for (const id of G.activeJobs) navigator.sendBeacon(`/api/jobs/${id}/cancel`);
});

// Fill a <select> with the runs offering `view`; returns the runs listed.
G.runSelect = function (select, view) {
  const runs = G.runs.filter((r) => r.views.includes(view));
  select.innerHTML = "";
  for (const r of runs) {
    const o = document.createElement("option");
    o.value = r.index;
    o.textContent = `${r.name} (${r.model} on ${r.data})`;
    select.appendChild(o);
  }
  if (!runs.length) {
    const o = document.createElement("option");
    o.textContent = "no run served here can do this";
    o.disabled = true;
    select.appendChild(o);
  }
  return runs;
};
G.runOf = (select) => G.runs.find((r) => String(r.index) === select.value);

// Draw a data-URL image onto a canvas, scaled up without smoothing (pixels stay pixels).
G.drawUrl = function (canvas, url) {
  return new Promise((resolve) => {
    const img = new Image();
    img.onload = () => {
      const ctx = canvas.getContext("2d");
      ctx.imageSmoothingEnabled = false;
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      resolve(img);
    };
    img.src = url;
  });
};

G.num = (id) => Number(G.$(id).value);
G.readFile = (file) => new Promise((resolve, reject) => {
  const r = new FileReader();
  r.onload = () => resolve(r.result);
  r.onerror = () => reject(r.error);
  r.readAsDataURL(file);
});

// Hash routing: #runs, #sample, ...
G.show = function () {
  const name = (location.hash || "#runs").slice(1);
  for (const [k, p] of Object.entries(G.pages)) {
    const on = k === name;
    G.$(`page-${k}`).classList.toggle("active", on);
    if (!on && p.active && p.hide) p.hide();
    if (on && !p.active && p.show) p.show();
    p.active = on;
  }
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === name);
};
