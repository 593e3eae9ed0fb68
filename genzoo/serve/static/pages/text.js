// Text and music: a prompt streamed character by character; a melody primer continued as a piano roll.
"use strict";
(function (G) {
  const sel = () => G.$("text-run");
  function layout() {
    const r = G.runOf(sel());
    const music = !!r && r.views.includes("music");
    for (const el of document.querySelectorAll("#page-text .textonly")) el.classList.toggle("hidden", music);
    for (const el of document.querySelectorAll("#page-text .musiconly")) el.classList.toggle("hidden", !music);
    G.$("text-out").classList.toggle("hidden", music);
  }
  async function go() {
    const r = G.runOf(sel());
    if (!r) return;
    const music = r.views.includes("music");
    const body = { length: G.num("text-length"), temperature: G.num("text-temp"), seed: G.num("text-seed"),
      top_k: G.num("text-topk") || null, top_p: G.num("text-topp") || null };
    if (music) {
      const f = G.$("text-primer").files[0];
      if (f) { body.primer = await G.readFile(f); body.filename = f.name; }
    } else body.prompt = G.$("text-prompt").value;
    G.$("text-prompt-echo").textContent = music ? "" : body.prompt;
    G.$("text-stream").textContent = "";
    G.$("text-music").innerHTML = "";
    G.$("text-go").disabled = true;
    try {
      const res = await G.runJob(`/api/runs/${r.index}/generate`, body, {
        status: G.$("text-status"), progress: G.$("text-progress"), cancel: G.$("text-cancel"),
        onUpdate: (s) => { if (s.partial.texts) G.$("text-stream").textContent = s.partial.texts[0]; },
      });
      if (res.kind === "text") G.$("text-stream").textContent = res.texts[0];
      else G.showMelodies(G.$("text-music"), res);
      G.status(G.$("text-status"), "done");
    } catch (e) {
      G.status(G.$("text-status"), e.message, true);
    } finally {
      G.$("text-go").disabled = false;
    }
  }
  G.pages.text = {
    init() {
      const runs = G.runSelect(sel(), "text");
      const music = G.runs.filter((r) => r.views.includes("music"));
      for (const r of music) {
        const o = document.createElement("option"); o.value = r.index; o.textContent = `${r.name} (${r.model}, music)`;
        sel().appendChild(o);
      }
      if (!runs.length && music.length) { for (const o of [...sel().options]) if (o.disabled) o.remove(); }
      sel().onchange = layout;
      G.$("text-go").onclick = go;
      layout();
    },
  };
})(window.genzoo);
