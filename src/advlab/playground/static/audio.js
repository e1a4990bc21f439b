// advlab playground, audio tab: pick a speech model run and an utterance (or upload a WAV), make the model hear a
// target phrase (Carlini & Wagner 2018; no target: untargeted PGD) through POST /api/audio/attack, and listen to the
// clean, adversarial and (amplified) perturbation audio.
"use strict";
window.AudioPage = (() => {
  const $ = Playground.$;
  const MAX_WAV_BYTES = 2 * 1024 * 1024;  // advlab.playground.audio_lab.MAX_WAV_BYTES
  const state = { opened: false, victims: {}, upload: null, result: null };

  function setStatus(text, isError) {
    const box = $("audio-status");
    box.textContent = text; box.className = (isError ? "error" : "muted") + " status-line";
  }
  const quoted = (words) => (words ? `“${words}”` : "(nothing)");

  // ---------------------------------------------------------------- victims and utterances
  async function loadVictims() {
    const body = await Playground.json("/api/audio/victims");
    const select = $("audio-victim");
    select.innerHTML = "";
    state.victims = {};
    for (const v of body.victims) {
      state.victims[v.id] = v;
      const option = document.createElement("option");
      option.value = v.id; option.textContent = v.id; option.title = v.description || "";
      option.disabled = Boolean(v.unusable);
      select.appendChild(option);
    }
    const usable = body.victims.filter((v) => !v.unusable);
    $("audio-run").disabled = !usable.length;
    if (!usable.length) {
      setStatus(body.help || (body.victims[0] && body.victims[0].note) || "no speech model run", !body.help);
      return false;
    }
    select.value = usable[0].id;
    return true;
  }

  async function loadUtterances() {
    const victim = state.victims[$("audio-victim").value];
    if (!victim) return;
    $("audio-vocabulary").textContent = `${victim.kind === "keyword" ? "keywords" : "words"}: ` +
      `${victim.vocabulary.join(" ")} · ${victim.sample_rate} Hz`;
    const select = $("audio-utterance");
    select.innerHTML = "";
    const body = await Playground.json(`/api/audio/utterances?victim=${encodeURIComponent(victim.id)}&count=50`);
    for (const u of body.utterances) {
      const option = document.createElement("option");
      option.value = `u:${u.index}`;
      option.textContent = `${u.name} · ${quoted(u.truth)}`;
      option.title = `says ${quoted(u.truth)}, the model hears ${quoted(u.heard)} (${u.seconds} s)`;
      option.dataset.heard = u.heard; option.dataset.truth = u.truth;
      select.appendChild(option);
    }
    if (state.upload) {
      state.upload.heard = (await hearUpload(state.upload.wav)).heard;  // this victim's hearing of it
      addUploadOption();
    }
    if (!select.options.length) {
      const option = document.createElement("option");
      option.value = ""; option.textContent = "(upload a WAV)"; option.disabled = true;
      select.appendChild(option);
    }
    showHeard();
    setStatus(body.note || `${body.total} held-out utterances; pick one or upload a WAV, type a target and run`);
  }

  function addUploadOption() {
    const select = $("audio-utterance");
    let option = select.querySelector('option[value="upload"]');
    if (!option) {
      option = document.createElement("option");
      option.value = "upload";
      select.insertBefore(option, select.firstChild);
    }
    option.disabled = false;
    option.textContent = `uploaded: ${state.upload.name}`;
    option.dataset.heard = state.upload.heard || ""; option.dataset.truth = "";
    select.value = "upload";
  }

  function showHeard() {
    const option = $("audio-utterance").selectedOptions[0];
    if (!option || !option.value) { $("audio-heard").textContent = "–"; return; }
    $("audio-heard").textContent = option.value === "upload" ?
      `the model hears ${quoted(option.dataset.heard)}` :
      `says ${quoted(option.dataset.truth)}; the model hears ${quoted(option.dataset.heard)}`;
  }

  function readAsDataURL(file) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.onerror = () => reject(new Error(`cannot read ${file.name}`));
      reader.readAsDataURL(file);
    });
  }

  // What the chosen victim hears in an uploaded file (the server decodes and checks it first).
  function hearUpload(wav) {
    return Playground.json("/api/audio/hear", { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ victim: $("audio-victim").value, wav }) });
  }

  async function upload(file) {
    if (file.size > MAX_WAV_BYTES) {
      setStatus(`${file.name} has ${file.size} bytes; the playground takes WAV files of at most ${MAX_WAV_BYTES}`,
        true);
      return;
    }
    setStatus(`reading ${file.name}…`);
    const wav = await readAsDataURL(file);
    const body = await hearUpload(wav);
    state.upload = { name: file.name, wav, heard: body.heard };
    addUploadOption();
    showHeard();
    setStatus(`${file.name}: ${body.seconds} s (recorded at ${body.recorded_rate} Hz, heard at ${body.sample_rate} Hz)`);
  }

  // ---------------------------------------------------------------- the attack
  async function runAttack() {
    const source = $("audio-utterance").value;
    if (!source) { setStatus("pick an utterance or upload a WAV first", true); return; }
    const request = { victim: $("audio-victim").value, db: Number($("audio-db").value),
      iterations: parseInt($("audio-iterations").value, 10) };
    const target = $("audio-target").value.trim();
    if (target) request.target = target;
    if (source === "upload") request.wav = state.upload.wav;
    else request.utterance = parseInt(source.slice(2), 10);
    if (!Number.isFinite(request.db) || !Number.isInteger(request.iterations)) {
      setStatus("the bound and the iterations must be numbers", true); return;
    }
    setStatus(target ? `making the model hear ${quoted(target)} (${request.iterations} iterations)…` :
      `untargeted PGD (${request.iterations} steps)…`);
    $("audio-run").disabled = true;
    try {
      show(await Playground.json("/api/audio/attack", { method: "POST",
        headers: { "content-type": "application/json" }, body: JSON.stringify(request) }));
    } catch (error) {
      setStatus(error.message, true);
    } finally {
      $("audio-run").disabled = false;
    }
  }

  const dB = (value) => (value === null ? "none" : `${value.toFixed(1)} dB`);

  function show(result) {
    state.result = result;  // the page shows this one response (AudioPage.result)
    $("audio-clean").src = result.clean.wav;
    $("audio-adversarial").src = result.adversarial.wav;
    $("audio-perturbation").src = result.perturbation.wav;
    $("audio-before").textContent = quoted(result.before);
    $("audio-after").textContent = quoted(result.after);
    $("audio-gain").textContent = result.perturbation.gain.toFixed(1);
    $("audio-attack-name").textContent = result.attack;
    $("audio-success").textContent = result.success ? "yes" : "no";
    $("audio-db-value").textContent = dB(result.db);
    $("audio-bound").textContent = dB(result.bound_db);
    $("audio-first").textContent = result.first_success >= 0 ? `iteration ${result.first_success}` : "–";
    $("audio-seconds").textContent = result.seconds.toFixed(2);
    const goal = result.target ? `target ${quoted(result.target)}` : `away from ${quoted(result.truth)}`;
    setStatus(`${result.attack} on ${result.name} (${result.duration} s), ${goal}: ` +
      `${result.success ? "success" : "failed"}; heard ${quoted(result.before)} → ${quoted(result.after)}; ` +
      `perturbation ${dB(result.db)} relative to the audio (bound ${dB(result.bound_db)})`, false);
    drawWaves(result.waveform);
    const s = result.spectrogram;
    for (const key of ["clean", "adversarial", "perturbation"]) drawSpectrogram($(`audio-spec-${key}`), s[key], s);
    $("audio-spec-scale").textContent = `${(s.db_top - s.db_range).toFixed(0)} to ${s.db_top.toFixed(0)} dB`;
  }

  function drawWaves(w) {
    const canvas = $("audio-wave"), ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
    ctx.clearRect(0, 0, W, H);
    const mid = H / 2, scale = H / 2 - 4;
    const peak = Math.max(1e-6, ...w.clean.max, ...w.clean.min.map((v) => -v), ...w.adversarial.max,
      ...w.adversarial.min.map((v) => -v));
    const column = W / w.columns;
    const layers = [["clean", "#aaa"], ["adversarial", "#2f6fdb"], ["perturbation", "#d33"]];
    for (const [key, colour] of layers) {
      ctx.fillStyle = colour;
      w[key].max.forEach((hi, i) => {
        const lo = w[key].min[i];
        const top = mid - (hi / peak) * scale, bottom = mid - (lo / peak) * scale;
        ctx.fillRect(i * column, top, Math.max(1, column), Math.max(1, bottom - top));
      });
    }
    ctx.strokeStyle = "#ccc"; ctx.beginPath(); ctx.moveTo(0, mid); ctx.lineTo(W, mid); ctx.stroke();
  }

  // Greyscale-to-colour map (dark blue -> yellow) of a spectrogram: values row r = frequency bin r from the bottom.
  function drawSpectrogram(canvas, values, s) {
    const image = new ImageData(s.frames, s.bins);
    for (let r = 0; r < s.bins; r++) {
      for (let f = 0; f < s.frames; f++) {
        const v = values[r * s.frames + f] / 255, at = 4 * ((s.bins - 1 - r) * s.frames + f);
        image.data.set([Math.round(255 * Math.min(1, 1.8 * v)), Math.round(230 * v * v), Math.round(120 * (1 - v)
          + 40), 255], at);
      }
    }
    const small = document.createElement("canvas");
    small.width = s.frames; small.height = s.bins;
    small.getContext("2d").putImageData(image, 0, 0);
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
  }

  $("audio-run").onclick = runAttack;
  $("audio-victim").onchange = () => loadUtterances().catch((e) => setStatus(e.message, true));
  $("audio-utterance").onchange = showHeard;
  $("audio-file").onchange = () => {
    const file = $("audio-file").files[0];
    if (file) upload(file).catch((e) => setStatus(e.message, true));
  };

  return {
    get result() { return state.result; },
    async open() {
      if (state.opened) return;
      state.opened = true;
      try { if (await loadVictims()) await loadUtterances(); } catch (error) { setStatus(error.message, true); }
    },
  };
})();
