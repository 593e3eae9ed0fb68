// Drawing on canvases: line charts, scatter plots, piano rolls; a small Web Audio synthesizer.
"use strict";
(function (G) {
  const COLORS = ["#2f6fdb", "#d1495b", "#2a9d55", "#e58e26", "#7b4fc9", "#00798c", "#8a6d3b", "#555"];
  G.COLORS = COLORS;

  // series: {name: [[x, y], ...]}; opts: {log, title, colors}
  G.lineChart = function (canvas, series, opts = {}) {
    const ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height, pad = 34;
    ctx.clearRect(0, 0, W, H);
    const tr = (v) => (opts.log ? Math.log10(Math.max(v, 1e-8)) : v);
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const pts of Object.values(series)) for (const [x, y] of pts) {
      x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, tr(y)); y1 = Math.max(y1, tr(y));
    }
    if (opts.yRange) [y0, y1] = opts.yRange;
    if (!isFinite(x0)) return;
    if (x1 === x0) x1 = x0 + 1;
    if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
    const sx = (x) => pad + (x - x0) / (x1 - x0) * (W - pad - 8), sy = (y) => H - 18 - (tr(y) - y0) / (y1 - y0) * (H - 28);
    ctx.strokeStyle = "#ccc"; ctx.strokeRect(pad, 10, W - pad - 8, H - 28);
    ctx.fillStyle = "#666"; ctx.font = "10px sans-serif";
    const fmt = (v) => (opts.log ? (10 ** v).toPrecision(2) : Math.abs(v) >= 1000 ? v.toExponential(1) : v.toPrecision(3));
    ctx.fillText(fmt(y1), 2, 16); ctx.fillText(fmt(y0), 2, H - 18); ctx.fillText(String(x1), W - 40, H - 4);
    let i = 0, ly = 22;
    for (const [name, pts] of Object.entries(series)) {
      const c = (opts.colors && opts.colors[name]) || COLORS[i++ % COLORS.length];
      ctx.strokeStyle = c; ctx.lineWidth = 1.5; ctx.beginPath();
      pts.forEach(([x, y], k) => (k ? ctx.lineTo(sx(x), sy(y)) : ctx.moveTo(sx(x), sy(y))));
      ctx.stroke();
      if (!opts.noLegend) { ctx.fillStyle = c; ctx.fillText(name, pad + 6, ly); ly += 12; }
    }
  };

  // layers: [{points: [[x, y]...], color, size}], range [lo, hi] on both axes
  G.scatter = function (canvas, layers, range) {
    const ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
    const [lo, hi] = range;
    ctx.clearRect(0, 0, W, H);
    const sx = (x) => (x - lo) / (hi - lo) * W, sy = (y) => H - (y - lo) / (hi - lo) * H;
    for (const l of layers) {
      ctx.fillStyle = l.color;
      const s = l.size || 2;
      for (const [x, y] of l.points) ctx.fillRect(sx(x) - s / 2, sy(y) - s / 2, s, s);
    }
  };

  // Melody tokens ("p60", "d0.5", "rest", "end") -> notes [{pitch|null, start, dur}] in quarter notes
  G.notes = function (tokens) {
    const out = []; let t = 0, pitch;
    for (const tok of tokens) {
      if (tok === "end") break;
      if (tok === "rest") pitch = null;
      else if (tok[0] === "p") pitch = Number(tok.slice(1));
      else if (tok[0] === "d" && pitch !== undefined) {
        const v = tok.slice(1), [a, b] = v.split("/");
        const dur = b ? Number(a) / Number(b) : Number(a);
        if (pitch !== null) out.push({ pitch, start: t, dur });
        t += dur; pitch = undefined;
      }
    }
    return out;
  };

  G.pianoRoll = function (canvas, notes, primerNotes) {
    const ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
    ctx.clearRect(0, 0, W, H);
    if (!notes.length) return;
    const lo = Math.min(...notes.map((n) => n.pitch)) - 2, hi = Math.max(...notes.map((n) => n.pitch)) + 2;
    const end = Math.max(...notes.map((n) => n.start + n.dur));
    const sx = (t) => 4 + t / end * (W - 8), h = (H - 8) / (hi - lo + 1);
    ctx.strokeStyle = "#eee";
    for (let p = lo; p <= hi; p++) if (p % 12 === 0) { const y = H - 4 - (p - lo + 1) * h; ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(W, y); ctx.stroke(); }
    notes.forEach((n, i) => {
      ctx.fillStyle = i < primerNotes ? "#999" : "#2f6fdb";
      ctx.fillRect(sx(n.start), H - 4 - (n.pitch - lo + 1) * h, Math.max(2, sx(n.start + n.dur) - sx(n.start) - 1), Math.max(2, h - 1));
    });
  };

  let audio = null;
  G.play = function (notes, bpm = 120) {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    const q = 60 / bpm, t0 = audio.currentTime + 0.05;
    for (const n of notes) {
      const osc = audio.createOscillator(), gain = audio.createGain();
      osc.type = "triangle";
      osc.frequency.value = 440 * 2 ** ((n.pitch - 69) / 12);
      const a = t0 + n.start * q, b = a + Math.max(0.05, n.dur * q * 0.95);
      gain.gain.setValueAtTime(0, a);
      gain.gain.linearRampToValueAtTime(0.2, a + 0.01);
      gain.gain.exponentialRampToValueAtTime(0.001, b);
      osc.connect(gain).connect(audio.destination);
      osc.start(a); osc.stop(b + 0.02);
    }
  };

  // A melody result -> piano roll, Play button and MIDI download, in `box`
  G.showMelodies = function (box, result) {
    box.innerHTML = "";
    result.melodies.forEach((m, i) => {
      const fig = document.createElement("figure");
      const c = document.createElement("canvas"); c.width = 640; c.height = 160; c.className = "pianoroll";
      const notes = G.notes(m.tokens), primer = G.notes(m.tokens.slice(0, result.primer_length)).length;
      G.pianoRoll(c, notes, primer);
      const play = document.createElement("button"); play.textContent = "Play"; play.onclick = () => G.play(notes);
      const dl = document.createElement("a"); dl.className = "button"; dl.textContent = "Download MIDI";
      dl.href = m.midi; dl.download = `melody-${i}.mid`;
      const cap = document.createElement("figcaption");
      cap.textContent = `melody ${i}: ${notes.length} notes (primer in grey) `;
      cap.append(play, " ", dl);
      fig.append(c, cap); box.appendChild(fig);
    });
  };
})(window.genzoo);
