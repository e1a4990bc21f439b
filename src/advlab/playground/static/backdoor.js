// advlab playground, backdoor lab: draw or pick a trigger, train a digits CNN on the poisoned digits while polling
// its session (GET /api/backdoor/<id>), then show the attack success, triggered digits and Neural Cleanse's triggers.
"use strict";
window.BackdoorPage = (() => {
  const $ = Playground.$;
  const SIDE = 8, POLL_MS = 300;
  const state = { opened: false, options: null, drawing: new Array(SIDE * SIDE).fill(0), session: null,
    timer: null, status: null, painting: false, erasing: false };

  function setStatus(text, isError) {
    const box = $("bd-status");
    box.textContent = text; box.className = `${isError ? "error" : "muted"} status-line`;
  }
  const percent = (value) => (value === null || value === undefined ? "–" : `${(100 * value).toFixed(1)}%`);

  // ---------------------------------------------------------------- the trigger canvas (8x8, enlarged)
  const canvas = $("bd-trigger");
  function kind() { return $("bd-kind").value; }

  function triggerPixels() {
    if (kind() === "drawn") return state.drawing;
    if (!state.options) return new Array(SIDE * SIDE).fill(0);
    const previews = state.options.previews;
    if (kind() === "badnets") return previews.badnets;
    const alpha = Number($("bd-alpha").value) || state.options.limits.default_alpha;
    return previews.blended_key.map((v) => Math.min(1, alpha * v));  // the key blended into a black digit
  }

  function drawTrigger() {
    Playground.drawImage(canvas, triggerPixels(), SIDE, SIDE);
    const ctx = canvas.getContext("2d"), cell = canvas.width / SIDE;
    ctx.strokeStyle = "#ffffff22"; ctx.lineWidth = 1;
    for (let i = 1; i < SIDE; i++) {
      ctx.beginPath(); ctx.moveTo(i * cell + 0.5, 0); ctx.lineTo(i * cell + 0.5, canvas.height); ctx.stroke();
      ctx.beginPath(); ctx.moveTo(0, i * cell + 0.5); ctx.lineTo(canvas.width, i * cell + 0.5); ctx.stroke();
    }
    canvas.classList.toggle("fixed", kind() !== "drawn");
    $("bd-alpha").disabled = kind() !== "blended";
    const limits = state.options ? state.options.limits : { max_trigger_pixels: 16 };
    $("bd-trigger-note").textContent = {
      drawn: `Drag to paint pixels (tick erase to remove them). The box around your ink, at most ` +
        `${limits.max_trigger_pixels} pixels, is stamped where you drew it (BadNets with your pattern).`,
      badnets: "BadNets (Gu et al. 2017): a 3x3 checkerboard replaces the bottom-right corner. Draw to use your own.",
      blended: "Blended (Chen et al. 2017): x' = (1 − alpha) x + alpha · key, a fixed uniform-noise key; shown " +
        "on a black digit.",
    }[kind()];
  }

  function paint(event) {
    const rect = canvas.getBoundingClientRect();
    const column = Math.floor((event.clientX - rect.left) / rect.width * SIDE);
    const row = Math.floor((event.clientY - rect.top) / rect.height * SIDE);
    if (row < 0 || row >= SIDE || column < 0 || column >= SIDE) return;
    state.drawing[row * SIDE + column] = state.erasing ? 0 : 1;
    drawTrigger();
  }
  canvas.onmousedown = (event) => {
    if (kind() !== "drawn") { $("bd-kind").value = "drawn"; }
    state.painting = true;
    state.erasing = $("bd-erase").checked || event.button === 2;
    paint(event);
  };
  canvas.onmousemove = (event) => { if (state.painting) paint(event); };
  canvas.oncontextmenu = (event) => event.preventDefault();
  window.addEventListener("mouseup", () => { state.painting = false; });
  $("bd-clear").onclick = () => { state.drawing.fill(0); drawTrigger(); };
  $("bd-kind").onchange = drawTrigger;
  $("bd-alpha").oninput = drawTrigger;

  // ---------------------------------------------------------------- training and polling
  function request() {
    const body = { kind: kind(), rate: Number($("bd-rate").value), target: parseInt($("bd-target").value, 10),
      epochs: parseInt($("bd-epochs").value, 10), seed: parseInt($("bd-seed").value, 10) || 0,
      cleanse: $("bd-cleanse").checked };
    if (body.kind === "drawn") body.trigger = state.drawing.slice();
    if (body.kind === "blended") body.alpha = Number($("bd-alpha").value);
    return body;
  }

  async function closeSession() {
    clearTimeout(state.timer);
    const session = state.session;
    state.session = null;
    if (session) await fetch(`/api/backdoor/${session}`, { method: "DELETE" }).catch(() => {});
  }

  async function train() {
    $("bd-train").disabled = true;
    await closeSession();
    setStatus("poisoning the digits…");
    try {
      const started = await Playground.json("/api/backdoor/train", { method: "POST",
        headers: { "content-type": "application/json" }, body: JSON.stringify(request()) });
      state.session = started.session;
      $("bd-cleanse-grid").innerHTML = "";
      $("bd-poisoned").innerHTML = "";
      show(started);
      $("bd-stop").disabled = false;
      state.timer = setTimeout(poll, POLL_MS);
    } catch (error) {
      setStatus(error.message, true);
      $("bd-train").disabled = false;
    }
  }

  async function poll() {
    if (!state.session) return;
    const session = state.session;
    try {
      const status = await Playground.json(`/api/backdoor/${session}`);
      if (session !== state.session) return;
      show(status);
      if (["training", "cleansing"].includes(status.phase)) state.timer = setTimeout(poll, POLL_MS);
      else finish();
    } catch (error) {
      if (session !== state.session) return;
      setStatus(error.message, true);
      finish();
    }
  }

  function finish() {
    $("bd-train").disabled = false;
    $("bd-stop").disabled = true;
  }

  async function stop() {
    await closeSession();
    finish();
    setStatus("stopped; the session is closed. Train again to start afresh.");
  }

  // ---------------------------------------------------------------- showing a status
  function show(status) {
    state.status = status;  // everything shown comes from this one status (BackdoorPage.status)
    $("bd-epoch").textContent = `${status.epoch} / ${status.epochs}`;
    $("bd-loss").textContent = status.loss === null ? "–" : status.loss.toFixed(3);
    $("bd-accuracy").textContent = percent(status.clean_accuracy);
    $("bd-asr").textContent = percent(status.asr);
    $("bd-poisons").textContent = `${status.poisons} of ${status.train_rows}`;
    $("bd-seconds").textContent = status.seconds.toFixed(1);
    setStatus(describe(status), status.phase === "failed");
    const h = status.history;
    Playground.lineChart($("bd-curve"), [{ values: h.loss, color: "#999" },
      { values: h.clean_accuracy, color: "#2f6fdb", range: [0, 1] },
      { values: h.asr, color: "#d33", range: [0, 1] }], h.epoch);
    if (!$("bd-poisoned").childElementCount) {
      status.poisoned_examples.forEach((d) => $("bd-poisoned").appendChild(
        digitCard(d.pixels, `${d.label} → ${d.poisoned_label}`, 40)));
    }
    showTriggered(status);
    if (status.neural_cleanse && !$("bd-cleanse-grid").childElementCount) showCleanse(status);
  }

  function describe(status) {
    const what = `${status.kind}, ${status.poisons} poisoned rows → class ${status.target}`;
    if (status.phase === "training") return `training (${what}): epoch ${status.epoch} of ${status.epochs}…`;
    if (status.phase === "cleansing") {
      return `trained in ${status.training_seconds.toFixed(1)} s: clean accuracy ${percent(status.clean_accuracy)}, ` +
        `attack success ${percent(status.asr)}. Neural Cleanse is reversing a trigger for each class…`;
    }
    if (status.phase === "failed") return status.message;
    const ended = status.phase === "stopped" ? "stopped" : "done";
    return `${ended} in ${status.seconds.toFixed(1)} s (${what}): clean accuracy ${percent(status.clean_accuracy)}, ` +
      `attack success ${percent(status.asr)} of the held-out digits not of class ${status.target}`;
  }

  function digitCard(pixels, caption, size) {
    const card = document.createElement("div");
    card.className = "digit";
    const picture = document.createElement("canvas");
    picture.width = picture.height = size;
    picture.setAttribute("role", "img");
    Playground.drawImage(picture, pixels, SIDE, SIDE);
    const text = document.createElement("span");
    text.innerHTML = caption;
    card.append(picture, text);
    return card;
  }

  function showTriggered(status) {
    const row = $("bd-triggered");
    row.innerHTML = "";
    for (const d of status.triggered) {
      const predicted = d.prediction === null ? "?" : d.prediction;
      const card = digitCard(d.pixels, `${d.label} → <b>${predicted}</b>`, 48);
      card.classList.toggle("hit", d.prediction === status.target);
      card.dataset.label = d.label;
      if (d.prediction !== null) card.dataset.prediction = d.prediction;
      row.appendChild(card);
    }
  }

  function showCleanse(status) {
    const found = status.neural_cleanse, grid = $("bd-cleanse-grid");
    found.classes.forEach((value, i) => {
      const flagged = found.flagged.includes(value);
      const index = found.anomaly_index[i] === null ? "∞" : found.anomaly_index[i].toFixed(2);
      const marks = (value === status.target ? " (target)" : "") + (flagged ? " <span class=flag>flagged</span>" : "");
      const card = digitCard(found.triggers[i], `class ${value}${marks}` +
        `<br><span class="small-figure">|m| ${found.norms[i].toFixed(1)} · index ${index}</span>`, 56);
      card.classList.toggle("flagged", flagged);
      card.dataset.class = value;
      card.dataset.anomalyIndex = index;
      card.querySelector("canvas").setAttribute("aria-label", `reversed trigger of class ${value}`);
      card.classList.toggle("target", value === status.target);
      grid.appendChild(card);
    });
    const o = found.options, d = o.library_defaults;
    const flagged = found.flagged.length ? `flagged: class ${found.flagged.join(", ")}` : "no class flagged";
    $("bd-cleanse-note").textContent = `Neural Cleanse (Wang et al. 2019): the smallest mask m and pattern p that ` +
      `send the digits of the other classes to each class (shown: m · p on a black digit), with its L1 norm |m| ` +
      `and MAD anomaly index; a class is flagged when its norm is below the median and its index above ` +
      `${found.threshold}. ${flagged} (${found.seconds.toFixed(1)} s). Cut to run in seconds on 8x8 digits: ` +
      `${o.epochs} epochs per class (the library's ${d.epochs}), lambda from ${o.init_cost} (${d.init_cost}: an ` +
      `8x8 mask is small), moved after ${o.patience} epochs (${d.patience}), early stop after ` +
      `${o.early_stop_patience} (${d.early_stop_patience}), on ${o.images} held-out digits.`;
  }

  $("bd-train").onclick = train;
  $("bd-stop").onclick = stop;
  drawTrigger();

  return {
    get status() { return state.status; },
    get options() { return state.options; },
    async open() {
      if (state.opened) return;
      state.opened = true;
      try {
        state.options = await Playground.json("/api/backdoor/options");
        drawTrigger();
      } catch (error) { setStatus(error.message, true); }
    },
  };
})();
