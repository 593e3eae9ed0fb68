// Complete (iGAN-style): paint the part to hide on a test image or an upload; the model fills it in.
"use strict";
(function (G) {
  const st = { run: null, h: 8, w: 8, mask: null, img: null, upload: null, painting: false, erase: false };
  const canvas = () => G.$("complete-canvas");

  function draw() {
    const c = canvas(), ctx = c.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.clearRect(0, 0, c.width, c.height);
    if (st.img) ctx.drawImage(st.img, 0, 0, c.width, c.height);
    const cw = c.width / st.w, ch = c.height / st.h;
    ctx.fillStyle = "rgba(220, 40, 40, 0.6)";
    for (let y = 0; y < st.h; y++) for (let x = 0; x < st.w; x++) if (st.mask[y * st.w + x]) ctx.fillRect(x * cw, y * ch, cw, ch);
    c.dataset.covered = String(st.mask.reduce((a, b) => a + b, 0));
  }
  function paint(ev) {
    const c = canvas(), rect = c.getBoundingClientRect();
    const x = Math.floor((ev.clientX - rect.left) / rect.width * st.w), y = Math.floor((ev.clientY - rect.top) / rect.height * st.h);
    const r = G.num("complete-brush");
    for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) {
      const yy = y + dy, xx = x + dx;
      if (dx * dx + dy * dy <= r * r + r && yy >= 0 && yy < st.h && xx >= 0 && xx < st.w) st.mask[yy * st.w + xx] = st.erase ? 0 : 1;
    }
    draw();
  }
  function loadImage(url) {
    const img = new Image();
    img.onload = () => { st.img = img; draw(); };
    img.src = url;
  }
  async function pickRun() {
    const run = G.runOf(G.$("complete-run"));
    if (!run || run === st.run) return;
    st.run = run;
    [, st.h, st.w] = st.run.shape;
    st.mask = new Uint8Array(st.h * st.w);
    st.upload = null;
    G.$("complete-results").innerHTML = "";
    const thumbs = G.$("complete-thumbs");
    thumbs.innerHTML = "";
    try {
      const ex = await G.api(`/api/runs/${st.run.index}/examples?start=0&count=16`);
      if (run !== st.run) return;  // another run was picked meanwhile
      thumbs.innerHTML = "";
      G.$("complete-example").max = ex.total - 1;
      for (const e of ex.examples) {
        const im = document.createElement("img");
        im.src = e.png; im.title = `test image ${e.index}` + (e.label === null ? "" : ` (class ${e.label})`);
        im.onclick = () => { G.$("complete-example").value = e.index; pickExample(); };
        im.dataset.index = e.index;
        thumbs.appendChild(im);
      }
      pickExample();
    } catch (e) {
      G.status(G.$("complete-status"), e.message, true);
    }
  }
  async function pickExample() {
    st.upload = null;
    const i = G.num("complete-example");
    for (const im of G.$("complete-thumbs").children) im.classList.toggle("sel", Number(im.dataset.index) === i);
    try {
      const ex = await G.api(`/api/runs/${st.run.index}/examples?start=${i}&count=1`);
      if (ex.examples.length) loadImage(ex.examples[0].png);
    } catch (e) { G.status(G.$("complete-status"), e.message, true); }
  }
  async function go() {
    if (!st.run) return;
    const rows = [];
    for (let y = 0; y < st.h; y++) rows.push(Array.from(st.mask.slice(y * st.w, (y + 1) * st.w)).join(""));
    const body = { mask: rows, k: G.num("complete-k"), seed: G.num("complete-seed") };
    if (st.upload) body.image = st.upload; else body.example = G.num("complete-example");
    G.$("complete-go").disabled = true;
    try {
      const res = await G.runJob(`/api/runs/${st.run.index}/complete`, body, {
        status: G.$("complete-status"), progress: G.$("complete-progress"), cancel: G.$("complete-cancel") });
      G.lastCompletion = res;
      const box = G.$("complete-results");
      box.innerHTML = "";
      const add = (url, caption, cls) => {
        const f = document.createElement("figure"), c = document.createElement("canvas");
        c.width = c.height = 128; c.className = cls;
        const cap = document.createElement("figcaption"); cap.textContent = caption;
        f.append(c, cap); box.appendChild(f); G.drawUrl(c, url);
      };
      add(res.shaded, "hidden part", "shaded");
      res.completions.forEach((c, j) => add(c.png, `completion ${j + 1}`, "completion"));
      add(res.original.png, "original", "original");
      G.status(G.$("complete-status"), `${res.completions.length} completions; visible pixels kept as they were`);
    } catch (e) {
      G.status(G.$("complete-status"), e.message, true);
    } finally {
      G.$("complete-go").disabled = false;
    }
  }
  G.pages.complete = {
    init() {
      G.runSelect(G.$("complete-run"), "complete");
      G.$("complete-run").onchange = pickRun;
      G.$("complete-example").onchange = pickExample;
      const c = canvas();
      c.addEventListener("mousedown", (ev) => { st.painting = true; st.erase = ev.shiftKey; paint(ev); });
      c.addEventListener("mousemove", (ev) => { if (st.painting) paint(ev); });
      window.addEventListener("mouseup", () => { st.painting = false; });
      c.addEventListener("contextmenu", (ev) => ev.preventDefault());
      G.$("complete-clear").onclick = () => { st.mask.fill(0); draw(); };
      G.$("complete-invert").onclick = () => { st.mask = st.mask.map((v) => 1 - v); draw(); };
      G.$("complete-go").onclick = go;
      G.$("complete-upload").onchange = async (ev) => {
        const f = ev.target.files[0];
        if (!f) return;
        if (f.size > 5 * 1024 * 1024) { G.status(G.$("complete-status"), "uploads are limited to 5 MB", true); return; }
        st.upload = await G.readFile(f);
        loadImage(st.upload);
      };
    },
    show() { if (!st.run) pickRun(); },
  };
})(window.genzoo);
