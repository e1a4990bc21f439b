// advlab playground, attack page: draw or pick a digit, attack a victim through POST /api/attack, show the result.
"use strict";
window.AttackPage = (() => {
  const $ = Playground.$;
  // The API takes a drawing at the victim's own size, H*W values in [0, 1] (784 for the built-in 28x28 MNIST one).
  // MNIST's digits were fitted into a 20x20 box and centred by their centre of mass in 28x28 (LeCun et al. 1998);
  // a drawing for a 28x28 victim is prepared the same way, for other sizes its ink is fitted to the whole side.
  const MNIST_SIDE = 28, MNIST_BOX = 20;
  const state = { opened: false, source: null, shape: [1, 28, 28], shapes: {}, result: null, takes: {} };

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
    pen.fillStyle = "#fff"; pen.beginPath(); pen.arc(x, y, draw.width / 20, 0, 2 * Math.PI); pen.fill();
    state.source = { drawn: true };
  }
  draw.onmousedown = (event) => { down = true; stroke(event); };
  draw.onmousemove = (event) => { if (down) stroke(event); };
  window.addEventListener("mouseup", () => { down = false; });
  $("draw-reset").onclick = () => { clearDrawing(); state.source = null; };

  // Brightness in [0, 1] of each pixel of a canvas, row by row.
  function brightness(canvas) {
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    return Float32Array.from({ length: canvas.width * canvas.height }, (_, i) => data[4 * i] / 255);
  }

  function blankCanvas(from) {
    const canvas = document.createElement("canvas");
    canvas.width = from.width; canvas.height = from.height;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#000"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    return [canvas, ctx];
  }

  // The drawing with its ink's bounding box fitted into a box of `fraction` of the side, then moved so that its
  // centre of mass is the canvas's centre; the drawing itself when nothing is drawn.
  function centred(fraction) {
    const W = draw.width, H = draw.height, ink = brightness(draw);
    let x0 = W, y0 = H, x1 = -1, y1 = -1;
    ink.forEach((v, i) => {
      if (v <= 0) return;
      const x = i % W, y = Math.floor(i / W);
      x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    });
    if (x1 < 0) return draw;
    const scale = fraction * Math.min(W, H) / Math.max(x1 - x0 + 1, y1 - y0 + 1);
    const w = (x1 - x0 + 1) * scale, h = (y1 - y0 + 1) * scale;
    const [fitted, fit] = blankCanvas(draw);
    fit.drawImage(draw, x0, y0, x1 - x0 + 1, y1 - y0 + 1, (W - w) / 2, (H - h) / 2, w, h);
    let mass = 0, mx = 0, my = 0;
    brightness(fitted).forEach((v, i) => { mass += v; mx += v * (i % W); my += v * Math.floor(i / W); });
    const [moved, move] = blankCanvas(draw);
    move.drawImage(fitted, Math.round((W - 1) / 2 - mx / mass), Math.round((H - 1) / 2 - my / mass));
    return moved;
  }

  // The drawing, prepared for the victim, averaged over h x w cells: h*w values in [0, 1], row by row.
  function downsample(h, w) {
    const source = centred(h === MNIST_SIDE && w === MNIST_SIDE ? MNIST_BOX / MNIST_SIDE : 1);
    const ink = brightness(source), W = source.width, H = source.height;
    const sums = new Array(h * w).fill(0), counts = new Array(h * w).fill(0);
    ink.forEach((v, i) => {
      const row = Math.min(h - 1, Math.floor(Math.floor(i / W) * h / H));
      const cell = row * w + Math.min(w - 1, Math.floor((i % W) * w / W));
      sums[cell] += v; counts[cell] += 1;
    });
    return sums.map((v, i) => Math.round(Math.min(1, v / counts[i]) * 1e4) / 1e4);
  }

  // ---------------------------------------------------------------- victims and test digits
  async function loadVictims() {
    const { victims } = await Playground.json("/api/attack/victims");
    $("victim").innerHTML = "";
    const names = { builtin: "MNIST (28x28)", "builtin-digits": "digits (8x8)" };
    for (const v of victims) {
      const option = document.createElement("option");
      option.value = v.id; option.textContent = names[v.id] || v.id;
      option.title = v.description || "";
      if (v.shape) state.shapes[v.id] = v.shape;
      $("victim").appendChild(option);
    }
  }

  // The attacks the server offers (GET /api/attack/attacks): the select's options, and the fields each one takes.
  async function loadAttacks() {
    const { attacks } = await Playground.json("/api/attack/attacks");
    const select = $("attack"), chosen = select.value || "pgd";
    select.innerHTML = "";
    for (const a of attacks) {
      const option = document.createElement("option");
      option.value = a.name; option.textContent = a.name;
      option.title = `${a.paper} · ${a.threat} · ${a.access}`;
      state.takes[a.name] = a.takes;
      select.appendChild(option);
    }
    select.value = attacks.some((a) => a.name === chosen) ? chosen : "pgd";
  }

  async function loadDigits(start) {
    setStatus("loading test digits…");
    const victim = $("victim").value;
    if (state.shapes[victim]) state.shape = state.shapes[victim];
    const body = await Playground.json(
      `/api/attack/digits?victim=${encodeURIComponent(victim)}&start=${start}&count=12`);
    state.shape = state.shapes[victim] = body.shape;
    $("digit").max = Math.max(0, body.total - 1);
    const strip = $("digit-strip");
    strip.innerHTML = "";
    if (!body.digits.length) {
      if (!state.source || !state.source.drawn) { state.source = null; clearDrawing(); }
      setStatus(body.note || "no test digits here; draw a digit");
      return;
    }
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
    if (state.source.drawn) request.image = downsample(state.shape[1], state.shape[2]);
    else request.digit = state.source.digit;
    if (request.targeted) request.target = parseInt($("target").value, 10);
    const takes = state.takes[request.attack] || [];
    if (takes.includes("steps") && request.attack !== "cw") request.steps = parseInt($("steps").value, 10);
    if (takes.includes("queries")) request.queries = Math.max(2, parseInt($("steps").value, 10) * 10);
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
      try { await loadAttacks(); await loadVictims(); await loadDigits(0); } catch (error) {
        setStatus(error.message, true);
      }
    },
  };
})();
