// Runs: one card per run with its facts, last metrics and loss curves drawn from metrics.jsonl.
"use strict";
(function (G) {
  const fmt = (v) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : String(v));
  G.pages.runs = {
    async show() {
      const box = G.$("runs-list");
      if (box.dataset.loaded) return;
      box.dataset.loaded = "1";
      for (const r of G.runs) {
        const card = document.createElement("div");
        card.className = "card run-card";
        card.dataset.run = r.name;
        const h = document.createElement("h3"); h.textContent = `${r.index}. ${r.name}`;
        const facts = [["model", `${r.model} (${r.family || "?"})`], ["data", r.spec], ["likelihood", r.likelihood],
          ["parameters", r.parameters.toLocaleString()], ["weights", r.weights], ["steps", r.steps]];
        for (const [k, v] of Object.entries(r.summary)) if (k !== "step" && k !== "time" && k !== "lr") facts.push([k, fmt(v)]);
        // what `genzoo eval` kept in RUN/eval.json, as its own summary lines
        for (const [k, lines] of Object.entries(r.eval || {})) facts.push([`eval ${k}`, lines.join("; ")]);
        const t = document.createElement("table");
        for (const [k, v] of facts) {
          const tr = t.insertRow(); tr.insertCell().textContent = k; tr.insertCell().textContent = v;
        }
        const tags = document.createElement("div");
        for (const v of r.views) { const s = document.createElement("span"); s.className = "tag"; s.textContent = v; tags.appendChild(s); }
        const c = document.createElement("canvas"); c.width = 320; c.height = 170; c.className = "curves";
        card.append(h, tags, t, c);
        box.appendChild(card);
        G.api(`/api/runs/${r.index}/metrics`).then((m) => {
          const keep = {};
          for (const [k, pts] of Object.entries(m.curves)) if (/loss|nll|bits/.test(k) && !/grad_norm/.test(k)) keep[k] = pts;
          if (Object.keys(keep).length) G.lineChart(c, keep);
          else { const ctx = c.getContext("2d"); ctx.fillStyle = "#888"; ctx.fillText("no loss logged", 10, 20); }
          c.dataset.drawn = Object.keys(keep).length;
        }).catch((e) => { c.dataset.error = e.message; });
      }
      if (!G.runs.length) box.textContent = "No runs.";
    },
  };
})(window.genzoo);
