// Latent: a slider along the path between two codes; for a 2-D latent space a map to click.
"use strict";
(function (G) {
  const st = { run: null, frames: [], map: null };
  function showFrame() {
    const i = G.num("latent-slider");
    if (!st.frames.length) return;
    G.drawUrl(G.$("latent-canvas"), st.frames[i]);
    G.$("latent-canvas").dataset.frame = String(i);
    G.$("latent-t").textContent = `t = ${(i / (st.frames.length - 1)).toFixed(2)}`;
  }
  async function walk() {
    const r = st.run;
    if (!r) return;
    G.status(G.$("latent-status"), "decoding the path…");
    try {
      const res = await G.runJob(`/api/runs/${r.index}/interpolate`,
        { a: G.num("latent-a"), b: G.num("latent-b"), steps: 17, mode: G.$("latent-mode").value }, {});
      if (r !== st.run) return;  // another run was picked meanwhile
      st.frames = res.frames;
      G.$("latent-slider").max = res.frames.length - 1;
      G.$("latent-slider").value = 0;
      G.drawUrl(G.$("latent-a-img"), res.ends ? res.ends[0] : res.frames[0]);
      G.drawUrl(G.$("latent-b-img"), res.ends ? res.ends[1] : res.frames[res.frames.length - 1]);
      showFrame();
      G.status(G.$("latent-status"), `${res.frames.length} points on the path; move the slider`);
    } catch (e) { G.status(G.$("latent-status"), e.message, true); }
  }
  async function drawMap() {
    const box = G.$("latent-map-box");
    box.classList.toggle("hidden", !st.run || !st.run.views.includes("latent_map"));
    if (box.classList.contains("hidden")) return;
    try {
      const run = st.run, m = await G.api(`/api/runs/${st.run.index}/latent-map`);
      if (run !== st.run) return;
      const codes = m.result.codes;
      let lim = 1;
      for (const [x, y] of codes) lim = Math.max(lim, Math.abs(x), Math.abs(y));
      lim *= 1.1;
      const byClass = {};
      codes.forEach((z, i) => { const k = m.result.labels ? m.result.labels[i] : 0; (byClass[k] = byClass[k] || []).push(z); });
      st.map = { lim, layers: Object.entries(byClass).map(([k, pts], i) => ({ points: pts, color: G.COLORS[i % G.COLORS.length], size: 3 })) };
      G.scatter(G.$("latent-map"), st.map.layers, [-lim, lim]);
    } catch (e) { G.status(G.$("latent-status"), e.message, true); }
  }
  async function clickMap(ev) {
    if (!st.map) return;
    const c = G.$("latent-map"), rect = c.getBoundingClientRect(), lim = st.map.lim;
    const z = [((ev.clientX - rect.left) / rect.width * 2 - 1) * lim, (1 - (ev.clientY - rect.top) / rect.height * 2) * lim];
    try {
      const res = await G.runJob(`/api/runs/${st.run.index}/decode`, { z: [z] }, {});
      G.drawUrl(G.$("latent-map-img"), res.images[0]);
      G.$("latent-map-z").textContent = `z = (${z[0].toFixed(2)}, ${z[1].toFixed(2)})`;
      G.scatter(c, [...st.map.layers, { points: [z], color: "#000", size: 8 }], [-lim, lim]);
    } catch (e) { G.status(G.$("latent-status"), e.message, true); }
  }
  function pickRun() {
    const run = G.runOf(G.$("latent-run"));
    if (!run || run === st.run) return;
    st.run = run;
    st.frames = [];
    const enc = st.run && st.run.capabilities.includes("encode");
    G.$("latent-a-label").textContent = enc ? "From test image" : "From seed";
    G.$("latent-b-label").textContent = enc ? "to test image" : "to seed";
    drawMap();
    walk();
  }
  G.pages.latent = {
    init() {
      G.runSelect(G.$("latent-run"), "latent");
      G.$("latent-run").onchange = pickRun;
      G.$("latent-go").onclick = walk;
      G.$("latent-slider").oninput = showFrame;
      G.$("latent-map").addEventListener("click", clickMap);
    },
    show() { if (!st.run) pickRun(); },
  };
})(window.genzoo);
