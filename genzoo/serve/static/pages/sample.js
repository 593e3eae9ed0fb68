// Sample: a grid of images, a scatter of 2-D points, texts or melodies; seed, count, class, decoding.
"use strict";
(function (G) {
  const sel = () => G.$("sample-run");
  function layout() {
    const r = G.runOf(sel());
    if (!r) return;
    document.querySelector("#page-sample .cond").classList.toggle("hidden", !r.conditional);
    document.querySelector("#page-sample .seq").classList.toggle("hidden", r.kind !== "sequence");
    if (r.conditional) G.$("sample-label").max = r.num_classes - 1;
    for (const k of ["steps", "sampler"]) {
      document.querySelector(`#page-sample .opt-${k}`).classList.toggle("hidden", !r.sample_options.includes(k));
    }
  }
  function shown(id) {
    for (const el of G.$("sample-out").children) el.classList.toggle("shown", el.id === id);
  }
  async function go() {
    const r = G.runOf(sel());
    if (!r) return;
    const body = { n: G.num("sample-n"), seed: G.num("sample-seed") };
    if (r.conditional) body.label = G.num("sample-label");
    if (r.sample_options.includes("steps")) body.steps = G.num("sample-steps");
    if (r.sample_options.includes("sampler") && G.$("sample-sampler").value) body.sampler = G.$("sample-sampler").value;
    if (r.kind === "sequence") {
      Object.assign(body, { temperature: G.num("sample-temp"), top_k: G.num("sample-topk") || null, top_p: G.num("sample-topp") || null });
      body.n = Math.min(body.n, 16);
    }
    G.$("sample-go").disabled = true;
    G.status(G.$("sample-status"), "sampling…");
    try {
      const res = await G.runJob(`/api/runs/${r.index}/sample`, body, {
        status: G.$("sample-status"), progress: G.$("sample-progress"), cancel: G.$("sample-cancel"),
        onUpdate: (s) => { if (s.partial.texts) { shown("sample-text"); G.$("sample-text").textContent = s.partial.texts.join("\n\n———\n\n"); } },
      });
      const dl = G.$("sample-download");
      dl.classList.add("hidden");
      if (res.kind === "image") {
        shown("sample-img");
        G.$("sample-img").src = res.grid;
        dl.href = res.grid; dl.download = `${r.name}-seed${res.seed}.png`; dl.classList.remove("hidden");
      } else if (res.kind === "points") {
        shown("sample-points");
        const lo = res.range[0], hi = res.range[1];
        G.scatter(G.$("sample-points"), [{ points: res.reference || [], color: "#bbb" }, { points: res.points, color: "#2f6fdb", size: 3 }], [lo, hi]);
      } else if (res.kind === "text") {
        shown("sample-text"); G.$("sample-text").textContent = res.texts.join("\n\n———\n\n");
      } else if (res.kind === "music") {
        shown("sample-music"); G.showMelodies(G.$("sample-music"), res);
      }
      G.status(G.$("sample-status"), `${body.n} samples, seed ${body.seed}`);
      G.$("sample-out").dataset.count = String(Number(G.$("sample-out").dataset.count || 0) + 1);
    } catch (e) {
      G.status(G.$("sample-status"), e.message, true);
    } finally {
      G.$("sample-go").disabled = false;
    }
  }
  G.pages.sample = {
    init() {
      G.runSelect(sel(), "sample");
      sel().onchange = layout;
      G.$("sample-go").onclick = go;
      G.$("sample-new").onclick = () => { G.$("sample-seed").value = Math.floor(Math.random() * 1e6); go(); };
      G.$("sample-download").classList.add("hidden");
      layout();
    },
  };
})(window.genzoo);
