// advlab playground, attack page: draw or pick a digit, attack a victim through POST /api/attack, show the result.
"use strict";
window.AttackPage = (() => {
  const $ = Playground.$;
  const SIZE = 8;  // the API takes drawings as 8x8 = 64 values in [0, 1]
  const state = { opened: false, source: null, shape: [1, 8, 8], result: null };

  function setStatus(text, isError) {
    const box = $("attack-status");
    box.textContent = text; box.className = isError ? "error" : "muted";
  }

  // ---------------------------------------------------------------- drawing canvas
  const draw = $("draw"), pen = draw.getContext("2d");
  function clearDrawing() { pen.fillStyle = "#000"; pen.fillRect(0, 0, draw.width, draw.height); }
  let down = false;
  function stroke(event) {
    const rect = draw.getBoundingClientRect();
    const x = (event.clientX - rect.left) * draw.width / rect.width;
    const y = (event.clientY - rect.top) * draw.height / rect.height;
    pen.fillStyle = "#fff"; pen.beginPath(); pen.arc(x, y, draw.width / 14, 0, 2 * Math.PI); pen.fill();
    state.source = { drawn: true };
  }
  draw.onmousedown = (event) => { down = true; stroke(event); };
  draw.onmousemove = (event) => { if (down) stroke(event); };
  window.addEventListener("mouseup", () => { down = false; });
  $("draw-reset").onclick = () => { clearDrawing(); state.source = null; };

  // The drawing averaged over 8x8 cells: 64 brightness values in [0, 1], row by row.
  function downsample() {
    const data = pen.getImageData(0, 0, draw.width, draw.height).data;
    const cell = draw.width / SIZE, values = new Array(SIZE * SIZE).fill(0);
    for (let y = 0; y < draw.height; y++) for (let x = 0; x < draw.width; x++) {
      const i = Math.min(SIZE - 1, Math.floor(y / cell)) * SIZE + Math.min(SIZE - 1, Math.floor(x / cell));
      values[i] += data[(y * draw.width + x) * 4] / 255;
    }
    return values.map((v) => Math.round(v / (cell * cell) * 1e4) / 1e4);
  }

  // ---------------------------------------------------------------- victims and test digits
  async function loadVictims() {
    const { victims } = await Playground.json("/api/attack/victims");
    $("victim").innerHTML = "";
    for (const v of victims) {
      const option = document.createElement("option");
      option.value = v.id; option.textContent = v.id === "builtin" ? "built-in digits classifier" : v.id;
      option.title = v.description || "";
      $("victim").appendChild(option);
    }
  }

  async function loadDigits(start) {
    setStatus("loading test digits…");
    const body = await Playground.json(
      `/api/attack/digits?victim=${encodeURIComponent($("victim").value)}&start=${start}&count=12`);
    state.shape = body.shape;
    $("digit").max = body.total - 1;
    const strip = $("digit-strip");
    strip.innerHTML = "";
    for (const d of body.digits) {
      const canvas = document.createElement("canvas");
      canvas.width = canvas.height = 32; canvas.title = `digit ${d.index} (label ${d.label})`;
      canvas.dataset.index = d.index;
      Playground.drawImage(canvas, d.pixels, body.shape[2], body.shape[1]);
      canvas.onclick = () => pickDigit(d, body.shape);
      strip.appendChild(canvas);
    }
    if (body.digits.length) pickDigit(body.digits[0], body.shape);
  }

  function pickDigit(d, shape) {
    state.source = { digit: d.index, label: d.label };
    $("digit").value = d.index;
    clearDrawing();
    Playground.drawImage(draw, d.pixels, shape[2], shape[1]);
    setStatus(`test digit ${d.index}, label ${d.label}`);
  }

  // ---------------------------------------------------------------- the attack
  async function runAttack() {
    const request = { victim: $("victim").value, attack: $("attack").value, eps: Number($("eps").value),
      targeted: $("targeted").checked };
    if (!state.source) { setStatus("draw a digit or pick a test digit first", true); return; }
    if (state.source.drawn) request.image = downsample(); else request.digit = state.source.digit;
    if (request.targeted) request.target = parseInt($("target").value, 10);
    if (["bim", "pgd"].includes(request.attack)) request.steps = parseInt($("steps").value, 10);
    if (request.attack === "square") request.queries = Math.max(2, parseInt($("steps").value, 10) * 10);
    setStatus(`running ${request.attack}…`);
    $("run-attack").disabled = true;
    try {
      show(await Playground.json("/api/attack", { method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify(request) }));
    } catch (error) {
      setStatus(error.message, true);
    } finally {
      $("run-attack").disabled = false;
    }
  }

  function show(result) {
    state.result = result;  // what the page shows comes from this one response (AttackPage.result)
    const [, h, w] = result.shape;
    Playground.drawImage($("clean-img"), result.clean.pixels, w, h);
    Playground.drawImage($("adv-img"), result.adversarial.pixels, w, h);
    Playground.drawImage($("pert-img"), result.perturbation.pixels, w, h);
    $("amp").textContent = result.perturbation.amplification.toFixed(1);
    const percent = (p) => `${(100 * p).toFixed(0)}%`;
    $("clean-pred").textContent = `${result.clean.prediction} (${percent(Math.max(...result.clean.probabilities))})`;
    $("adv-pred").textContent = `${result.adversarial.prediction} (${percent(Math.max(...result.adversarial
      .probabilities))})`;
    $("clean-pred").dataset.label = result.clean.prediction;
    $("adv-pred").dataset.label = result.adversarial.prediction;
    setStatus(`${result.attack}${result.targeted ? ` → ${result.target}` : ""}: ${result.success ? "success" :
      "failed"} · true label ${result.label} · L∞ ${result.perturbation.linf.toFixed(3)} · ` +
      `${result.evaluations} evaluations in ${result.seconds.toFixed(2)} s`);
    drawBars(result.clean.probabilities, result.adversarial.probabilities);
    const t = result.trace;
    if (t) Playground.lineChart($("trace"), [{ values: t.loss, color: "#2f6fdb" },
      { values: t.true_probability, color: "#d33", range: [0, 1] }], t.evaluation);
    else $("trace").getContext("2d").clearRect(0, 0, $("trace").width, $("trace").height);
  }

  function drawBars(clean, adversarial) {
    const canvas = $("probs"), ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
    ctx.clearRect(0, 0, W, H);
    const n = clean.length, slot = W / n, base = H - 16;
    ctx.font = "11px sans-serif"; ctx.textAlign = "center";
    for (let c = 0; c < n; c++) {
      const x = c * slot;
      ctx.fillStyle = "#aaa"; ctx.fillRect(x + slot * 0.15, base - clean[c] * (base - 4), slot * 0.33, clean[c] * (base - 4));
      ctx.fillStyle = "#d33";
      ctx.fillRect(x + slot * 0.52, base - adversarial[c] * (base - 4), slot * 0.33, adversarial[c] * (base - 4));
      ctx.fillStyle = "#333"; ctx.fillText(String(c), x + slot / 2, H - 3);
    }
  }

  $("run-attack").onclick = runAttack;
  $("digit-load").onclick = () => loadDigits(Math.max(0, parseInt($("digit").value, 10) || 0))
    .catch((e) => setStatus(e.message, true));
  $("victim").onchange = () => loadDigits(0).catch((e) => setStatus(e.message, true));
  clearDrawing();

  return {
    get result() { return state.result; },
    async open() {
      if (state.opened) return;
      state.opened = true;
      try { await loadVictims(); await loadDigits(0); } catch (error) { setStatus(error.message, true); }
    },
  };
})();
