// advlab playground: tabs and small drawing helpers shared by the GAN and attack pages.
"use strict";
const Playground = {
  $: (id) => document.getElementById(id),
  async json(url, options) {
    const response = await fetch(url, options);
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    return body;
  },
  // Draw a grey image (row-major values in [0, 1]) of size w x h scaled to fill the canvas, one sharp block per
  // pixel (scaled without smoothing, so sizes that do not divide the canvas, such as 28, show no seams).
  drawImage(canvas, pixels, w, h) {
    const image = new ImageData(w, h);
    for (let i = 0; i < w * h; i++) {
      const v = Math.round(255 * Math.min(1, Math.max(0, pixels[i])));
      image.data.set([v, v, v, 255], 4 * i);
    }
    const small = document.createElement("canvas");
    small.width = w; small.height = h;
    small.getContext("2d").putImageData(image, 0, 0);
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
  },
  // Line chart of several series [{values, color, range?}] on a canvas; null values are skipped. Series without a
  // fixed range share one axis (labelled left); a series with `range: [lo, hi]` uses it (labelled right).
  lineChart(canvas, series, xs) {
    const ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height, pad = 22;
    ctx.clearRect(0, 0, W, H);
    const all = series.filter((s) => !s.range).flatMap((s) => s.values).filter((v) => v !== null && isFinite(v));
    if (!all.length) all.push(0, 1);
    let lo = Math.min(...all), hi = Math.max(...all);
    if (hi - lo < 1e-9) { hi += 0.5; lo -= 0.5; }
    ctx.strokeStyle = "#ccc"; ctx.strokeRect(pad, 4, W - pad - 4, H - pad - 4);
    ctx.fillStyle = "#666"; ctx.font = "10px sans-serif";
    ctx.fillText(hi.toFixed(2), 0, 12); ctx.fillText(lo.toFixed(2), 0, H - pad);
    if (xs && xs.length) ctx.fillText(String(xs[xs.length - 1]), W - 30, H - 6);
    for (const s of series) {
      const n = s.values.length;
      const [slo, shi] = s.range || [lo, hi];
      if (s.range) {
        ctx.fillStyle = s.color;
        ctx.fillText(shi.toFixed(1), W - 24, 14); ctx.fillText(slo.toFixed(1), W - 24, H - pad - 2);
      }
      ctx.strokeStyle = s.color; ctx.lineWidth = 1.5; ctx.beginPath();
      let started = false;
      s.values.forEach((v, i) => {
        if (v === null || !isFinite(v)) return;
        const x = pad + (W - pad - 4) * (n > 1 ? i / (n - 1) : 0);
        const y = 4 + (H - pad - 4) * (1 - (v - slo) / (shi - slo));
        if (started) ctx.lineTo(x, y); else { ctx.moveTo(x, y); started = true; }
      });
      ctx.stroke();
    }
  },
};

document.querySelectorAll("nav .tab").forEach((tab) => tab.addEventListener("click", () => {
  document.querySelectorAll("nav .tab").forEach((t) => t.classList.toggle("active", t === tab));
  document.querySelectorAll(".page").forEach((p) => p.classList.toggle("active", p.id === tab.dataset.page));
  if (tab.dataset.page === "attack-page" && window.AttackPage) window.AttackPage.open();
  if (tab.dataset.page === "audio-page" && window.AudioPage) window.AudioPage.open();
  if (tab.dataset.page === "backdoor-page" && window.BackdoorPage) window.BackdoorPage.open();
}));
