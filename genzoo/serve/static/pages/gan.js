// GAN lab: the x*y game under five update rules, animated; a tiny GAN training live on 2-D data.
"use strict";
(function (G) {
  const game = { traj: null, frame: 0, raf: 0 };
  const lab = { job: null, es: null };

  function drawGame() {
    const c = G.$("game-canvas"), ctx = c.getContext("2d"), W = c.width, H = c.height;
    ctx.clearRect(0, 0, W, H);
    const lim = 4, s = (v) => (v + lim) / (2 * lim);
    ctx.strokeStyle = "#ddd"; ctx.beginPath(); ctx.moveTo(W / 2, 0); ctx.lineTo(W / 2, H); ctx.moveTo(0, H / 2); ctx.lineTo(W, H / 2); ctx.stroke();
    game.traj.methods.forEach((m, i) => {
      const pts = game.traj.trajectories[m].slice(0, game.frame + 1);
      ctx.strokeStyle = G.COLORS[i]; ctx.lineWidth = 1.5; ctx.beginPath();
      pts.forEach(([x, y], k) => {
        const px = s(Math.max(-lim, Math.min(lim, x))) * W, py = H - s(Math.max(-lim, Math.min(lim, y))) * H;
        k ? ctx.lineTo(px, py) : ctx.moveTo(px, py);
      });
      ctx.stroke();
      const [x, y] = pts[pts.length - 1];
      ctx.fillStyle = G.COLORS[i];
      ctx.beginPath(); ctx.arc(s(Math.max(-lim, Math.min(lim, x))) * W, H - s(Math.max(-lim, Math.min(lim, y))) * H, 4, 0, 7); ctx.fill();
    });
    const f = G.$("game-frame");
    f.dataset.frame = String(game.frame);
    f.textContent = `step ${game.frame} / ${game.traj.steps}`;
  }
  function animate() {
    if (!game.traj) return;
    game.frame = Math.min(game.traj.steps, game.frame + Math.max(1, Math.round(game.traj.steps / 240)));
    drawGame();
    if (game.frame < game.traj.steps) game.raf = requestAnimationFrame(animate);
  }
  async function playGame() {
    cancelAnimationFrame(game.raf);
    try {
      game.traj = await G.api(`/api/dynamics?steps=${G.num("game-steps")}&eta=${G.num("game-eta")}`);
    } catch (e) { G.status(G.$("lab-status"), e.message, true); return; }
    const ul = G.$("game-legend"); ul.innerHTML = "";
    game.traj.methods.forEach((m, i) => {
      const t = game.traj.trajectories[m], [x, y] = t[t.length - 1];
      const li = document.createElement("li"), b = document.createElement("b");
      b.style.background = G.COLORS[i];
      li.append(b, `${m}: distance to (0, 0) after ${game.traj.steps} steps ${Math.hypot(x, y).toPrecision(3)}`);
      ul.appendChild(li);
    });
    game.frame = 0;
    animate();
  }

  function stopLab() {
    if (lab.job) navigator.sendBeacon(`/api/jobs/${lab.job}/cancel`);
    if (lab.es) lab.es.close();
    lab.job = lab.es = null;
    G.$("lab-go").disabled = false; G.$("lab-stop").disabled = true;
  }
  function drawLab(s) {
    const p = s.partial;
    if (p.reference) lab.reference = p.reference;
    if (p.modes) lab.modes = p.modes;
    const lim = G.$("lab-shape").value === "grid" ? 1.6 : 1.5;
    G.scatter(G.$("lab-samples"), [
      { points: lab.reference || [], color: "#c8c8c8", size: 3 },
      { points: lab.modes || [], color: "#888", size: 6 },
      { points: p.samples || [], color: "#2f6fdb", size: 3 }], [-lim, lim]);
    const h = p.history || [];
    if (h.length) {
      G.lineChart(G.$("lab-stats"), { "D(x)": h.map((r) => [r.step, r.d_real]), "D(G(z))": h.map((r) => [r.step, r.d_fake]) },
        { colors: { "D(x)": "#2a9d55", "D(G(z))": "#d1495b" } });
      G.lineChart(G.$("lab-norms"), { D: h.map((r) => [r.step, r.discriminator_grad_norm]), G: h.map((r) => [r.step, r.generator_grad_norm]) },
        { log: true, colors: { D: "#e58e26", G: "#2f6fdb" } });
    }
    const el = G.$("lab-step");
    el.dataset.step = String(p.step || 0);
    el.textContent = `step ${p.step || 0} / ${G.num("lab-steps")}` + (p.seconds ? ` (${p.seconds} s)` : "");
  }
  async function startLab() {
    stopLab();
    const body = { shape: G.$("lab-shape").value, loss: G.$("lab-loss").value, steps: G.num("lab-steps"), lr: G.num("lab-lr") };
    let job;
    try { job = await G.api("/api/ganlab", body); } catch (e) { G.status(G.$("lab-status"), e.message, true); return; }
    lab.job = job.id;
    G.$("lab-step").dataset.job = job.id;
    G.$("lab-go").disabled = true; G.$("lab-stop").disabled = false;
    G.status(G.$("lab-status"), "training…");
    lab.es = new EventSource(`/api/jobs/${job.id}/events`);
    lab.es.onmessage = (ev) => {
      const s = JSON.parse(ev.data);
      drawLab(s);
      if (["done", "error", "cancelled"].includes(s.status)) {
        G.status(G.$("lab-status"), s.status === "error" ? s.error : s.status, s.status === "error");
        lab.es.close(); lab.es = null; lab.job = null;
        G.$("lab-go").disabled = false; G.$("lab-stop").disabled = true;
      }
    };
  }
  G.pages.gan = {
    init() {
      G.$("game-go").onclick = playGame;
      G.$("lab-go").onclick = startLab;
      G.$("lab-stop").onclick = stopLab;
      window.addEventListener("pagehide", stopLab);
    },
    show() { playGame(); },
    hide() { cancelAnimationFrame(game.raf); stopLab(); },
  };
})(window.genzoo);
