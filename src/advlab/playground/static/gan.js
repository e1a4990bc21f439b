// advlab playground, GAN page: one WebSocket session (/ws/gan) per tab; draws each frame the server streams.
"use strict";
(() => {
  const $ = Playground.$;
  const state = { socket: null, frame: null, frames: 0, drawn: [], download: null, speed: 10 };
  const LIVE = ["lr_g", "lr_d", "k"];
  const RESET = ["loss", "optimizer", "noise_dim", "noise", "g_layers", "g_width", "d_layers", "d_width"];
  const STRINGS = ["loss", "optimizer", "noise"];
  const INTEGER = ["k", "noise_dim", "g_layers", "g_width", "d_layers", "d_width"];

  // An error shown answers the last request: it stays up while frames go on (and on Pause, to be read) until
  // the page sends another request.
  function send(message) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      if (message.type !== "pause") showError("");
      state.socket.send(JSON.stringify(message));
    }
  }
  function showError(text) {
    const box = $("gan-error");
    box.hidden = !text; box.textContent = text || "";
  }
  function optionValue(name) {
    const raw = $(name).value;
    return INTEGER.includes(name) ? parseInt(raw, 10) : Number(raw);
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/gan`);
    state.socket = socket;
    socket.onopen = () => { $("connection").textContent = "connected"; };
    socket.onclose = () => { $("connection").textContent = "disconnected (reload to start again)"; };
    socket.onmessage = (event) => receive(JSON.parse(event.data));
  }

  function receive(message) {
    if (message.type === "hello") {
      state.download = message.download;
      $("download").href = message.download;
      if (message.options.fps > 2) state.speed = message.options.steps_per_frame;
      syncOptions(message.options);
    } else if (message.type === "frame") {
      if (message.diverged) showError("training diverged (a loss is not finite): reset or lower the rates");
      drawFrame(message);
    } else if (message.type === "options") {
      syncOptions(message.options);
    } else if (message.type === "status") {
      $("step-count").textContent = message.step;
    } else if (message.type === "error") {
      showError(message.message);
    } else if (message.type === "closing") {
      showError(message.message);
    }
  }

  function syncOptions(options) {
    for (const [name, value] of Object.entries(options)) {
      const element = $(name);
      if (element && element.tagName !== "CANVAS" && name !== "data") element.value = String(value);
    }
    if (options.steps_per_frame) { $("speed").value = options.steps_per_frame; $("speed-value").textContent =
      options.steps_per_frame; }
    if (options.fps !== undefined) $("slow").checked = options.fps <= 2;
    if (options.data && options.data !== "points" && options.data !== "csv") $("data").value = options.data;
  }

  // ---------------------------------------------------------------- drawing
  function toCanvas(bounds, canvas) {
    const [x0, x1, y0, y1] = bounds;
    return ([x, y]) => [(x - x0) / (x1 - x0) * canvas.width, (1 - (y - y0) / (y1 - y0)) * canvas.height];
  }
  function fromCanvas(bounds, canvas, px, py) {
    const [x0, x1, y0, y1] = bounds;
    return [x0 + px / canvas.width * (x1 - x0), y0 + (1 - py / canvas.height) * (y1 - y0)];
  }

  function heatColor(t) {  // 0 -> orange (fake), 1 -> green (real), through white
    t = Math.min(1, Math.max(0, t));
    const a = t < 0.5 ? [245, 160, 90] : [110, 190, 120];
    const s = Math.abs(t - 0.5) * 2 * 0.7;
    return a.map((c) => Math.round(255 + (c - 255) * s));
  }

  function drawHeatmap(ctx, canvas, d) {
    const [rows, cols] = d.size;
    const span = d.probability ? 1 : (d.max - d.min) || 1;
    const cw = canvas.width / cols, ch = canvas.height / rows;
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) {
      const v = d.values[i * cols + j];
      const t = v === null ? 0.5 : d.probability ? v : (v - d.min) / span;
      const [r, g, b] = heatColor(t);
      ctx.fillStyle = `rgb(${r},${g},${b})`;
      ctx.fillRect(j * cw, canvas.height - (i + 1) * ch, Math.ceil(cw), Math.ceil(ch));
    }
  }

  function dots(ctx, points, map, color, radius) {
    ctx.fillStyle = color;
    for (const p of points) {
      if (p[0] === null || p[1] === null) continue;
      const [x, y] = map(p);
      ctx.beginPath(); ctx.arc(x, y, radius, 0, 2 * Math.PI); ctx.fill();
    }
  }

  function drawPoints(frame) {
    const canvas = $("points"), ctx = canvas.getContext("2d");
    const map = toCanvas(frame.bounds, canvas);
    drawHeatmap(ctx, canvas, frame.discriminator);
    dots(ctx, frame.real, map, "#1b8a3a", 2.5);
    ctx.strokeStyle = "#6a3d9a99"; ctx.lineWidth = 1;
    frame.generated.forEach((p, i) => {
      const g = frame.gradients[i];
      if (!g || p[0] === null || g[0] === null) return;
      const [x, y] = map(p), [x2, y2] = map([p[0] + g[0], p[1] + g[1]]);
      ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x2, y2); ctx.stroke();
    });
    dots(ctx, frame.generated, map, "#6a3d9a", 2.5);
    if ($("data").value === "points") dots(ctx, state.drawn, map, "#000", 3);
  }

  function drawManifold(frame) {
    const canvas = $("manifold"), ctx = canvas.getContext("2d");
    const map = toCanvas(frame.bounds, canvas);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    dots(ctx, frame.real, map, "#1b8a3a55", 1.5);
    ctx.strokeStyle = "#6a3d9a"; ctx.lineWidth = 0.8;
    for (const line of frame.manifold) {
      ctx.beginPath();
      line.forEach((p, i) => { const [x, y] = map(p); if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
      ctx.stroke();
    }
  }

  function number(value, digits) { return value === null || value === undefined ? "–" : value.toFixed(digits); }

  function drawFrame(frame) {
    state.frame = frame;
    state.frames += 1;
    drawPoints(frame);
    drawManifold(frame);
    const h = frame.history;
    Playground.lineChart($("loss-curve"), [{ values: h.d_loss, color: "#2f6fdb" },
      { values: h.g_loss, color: "#e8871e" }], h.step);
    const m = frame.metrics;
    $("step-count").textContent = frame.step;
    $("frame-count").textContent = state.frames;
    $("rate").textContent = number(frame.steps_per_second, 0);
    $("modes").textContent = m.modes === undefined || m.modes === null ? "–" : `${m.modes} / ${m.total_modes}`;
    $("high-quality").textContent = m.high_quality === undefined ? "–" : number(m.high_quality, 3);
    $("kl").textContent = number(m.kl, 3);
    $("js").textContent = number(m.js, 3);
    $("d-loss").textContent = number(h.d_loss[h.d_loss.length - 1], 4);
    $("g-loss").textContent = number(h.g_loss[h.g_loss.length - 1], 4);
    document.body.dataset.ganStep = frame.step;
  }

  // ---------------------------------------------------------------- controls
  $("play").onclick = () => send({ type: "play" });
  $("pause").onclick = () => send({ type: "pause" });
  $("step").onclick = () => send({ type: "step" });
  $("reset").onclick = () => send({ type: "reset" });
  $("speed").oninput = () => { $("speed-value").textContent = $("speed").value; };
  // state.speed is the user's steps/frame: slow motion shows 1 on the slider, and leaving it gives the speed back.
  $("speed").onchange = () => {
    state.speed = parseInt($("speed").value, 10);
    send({ type: "set", options: { steps_per_frame: state.speed } });
  };
  $("slow").onchange = () => send({ type: "set", options: $("slow").checked ? { fps: 2, steps_per_frame: 1 }
    : { fps: 30, steps_per_frame: state.speed } });
  // lr_g, lr_d and k change live on the server; the other options rebuild the game from its seed.
  for (const name of [...LIVE, ...RESET]) {
    $(name).addEventListener("change", () => {
      const value = STRINGS.includes(name) ? $(name).value : optionValue(name);
      if (!STRINGS.includes(name) && !isFinite(value)) { showError(`${name}: not a number`); return; }
      send({ type: "set", options: { [name]: value } });
    });
  }

  $("data").onchange = () => {
    const data = $("data").value;
    $("csv-box").hidden = data !== "csv";
    $("draw-box").hidden = data !== "points";
    if (data !== "csv" && data !== "points") send({ type: "set", options: { data } });
  };
  $("csv-file").onchange = async () => {
    const file = $("csv-file").files[0];
    if (file) $("csv-text").value = await file.text();
  };
  $("csv-apply").onclick = () => send({ type: "set", options: { data: "csv", csv: $("csv-text").value } });
  $("draw-apply").onclick = () => {
    if (state.drawn.length < 2) { showError("draw at least 2 points first"); return; }
    send({ type: "set", options: { data: "points", points: state.drawn } });
  };
  $("draw-clear").onclick = () => { state.drawn = []; if (state.frame) drawPoints(state.frame); };

  let drawing = false;
  function addPoint(event) {
    if ($("data").value !== "points" || !state.frame) return;
    const canvas = $("points"), rect = canvas.getBoundingClientRect();
    const [x, y] = fromCanvas(state.frame.bounds, canvas, (event.clientX - rect.left) * canvas.width / rect.width,
      (event.clientY - rect.top) * canvas.height / rect.height);
    const clamp = (v) => Math.round(Math.min(1, Math.max(-1, v)) * 1e4) / 1e4;
    if (state.drawn.length < 500) state.drawn.push([clamp(x), clamp(y)]);
    drawPoints(state.frame);
  }
  $("points").onmousedown = (event) => { drawing = true; addPoint(event); };
  $("points").onmousemove = (event) => { if (drawing) addPoint(event); };
  window.addEventListener("mouseup", () => { drawing = false; });

  connect();
})();
