/* serkit web page: upload or record audio, show the emotion and the timeline.
 *
 * Recording uses the Web Audio API (an AudioWorklet, or a ScriptProcessor where
 * worklets are missing) to collect raw samples and encodes a 16-bit WAV here,
 * because the server's decoder (libsndfile) does not read MediaRecorder's WebM.
 * No external resources: everything is served by serkit.
 */
"use strict";

(function () {
  const LONG_SECONDS = 8; // longer recordings get a timeline
  const MAX_RECORD_SECONDS = 300;
  const KEY_STORAGE = "serkit-api-key";
  const COLORS = {
    angry: "#d7263d",
    calm: "#2e86ab",
    disgust: "#6a994e",
    fearful: "#7b2cbf",
    happy: "#f4a300",
    neutral: "#8d99ae",
    sad: "#1d3557",
    surprised: "#ff6f91",
    bored: "#a47148",
  };
  const NO_SPEECH = "#e3e7ee";
  const SVG_NS = "http://www.w3.org/2000/svg";

  const $ = (id) => document.getElementById(id);
  const els = {
    modelLine: $("model-line"),
    drop: $("drop-zone"),
    file: $("file-input"),
    record: $("record-button"),
    recordLabel: $("record-label"),
    recordTime: $("record-time"),
    toggle: $("timeline-toggle"),
    player: $("player"),
    auth: $("auth-card"),
    authForm: $("auth-form"),
    authMessage: $("auth-message"),
    keyInput: $("api-key-input"),
    status: $("status"),
    error: $("error"),
    errorTitle: $("error-title"),
    errorMessage: $("error-message"),
    result: $("result"),
    resultTitle: $("result-title"),
    topEmotion: $("top-emotion"),
    topConfidence: $("top-confidence"),
    topUncertain: $("top-uncertain"),
    fourRow: $("four-row"),
    fourToggle: $("four-toggle"),
    resultMeta: $("result-meta"),
    bars: $("bars"),
    timeline: $("timeline"),
    timelineMeta: $("timeline-meta"),
    chart: $("timeline-chart"),
    legend: $("legend"),
    segmentRows: $("segment-rows"),
  };

  let classes = [];
  let busy = false;
  const FOUR = ["angry", "happy", "neutral", "sad"];
  let recorder = null; // the recording in progress
  let memoryKey = ""; // the API key when localStorage is unavailable
  let pending = null; // the action to retry once an API key is given
  let lastTimeline = null;
  let playerUrl = null;

  // ------------------------------------------------------------------ helpers
  function colorOf(emotion) {
    if (emotion && COLORS[emotion]) return COLORS[emotion];
    let hash = 0;
    for (const ch of String(emotion)) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
    return `hsl(${hash % 360}, 55%, 50%)`;
  }

  function percent(p) {
    return `${Math.round(100 * p)} %`;
  }

  // m:ss.d (decimals = 1) or m:ss (decimals = 0)
  function clock(seconds, decimals = 1) {
    const scale = 10 ** decimals;
    const t = Math.round(Math.max(0, seconds) * scale) / scale;
    const m = Math.floor(t / 60);
    const rest = (t - 60 * m).toFixed(decimals);
    return `${m}:${rest.padStart(decimals ? 3 + decimals : 2, "0")}`;
  }

  function apiKey() {
    try {
      return window.localStorage.getItem(KEY_STORAGE) || memoryKey;
    } catch (e) {
      return memoryKey;
    }
  }

  function authHeaders() {
    const key = apiKey();
    return key ? { "X-API-Key": key } : {};
  }

  function setStatus(text, isBusy) {
    els.status.textContent = text || "";
    els.status.classList.toggle("busy", Boolean(isBusy));
  }

  function setBusy(value) {
    busy = value;
    els.file.disabled = value;
    els.drop.setAttribute("aria-disabled", String(value));
    if (!recorder) els.record.disabled = value;
  }

  function showError(code, message) {
    els.errorTitle.textContent = code ? `Error (${code})` : "Error";
    els.errorMessage.textContent = message || "Something went wrong.";
    els.error.hidden = false;
  }

  function clearError() {
    els.error.hidden = true;
    els.errorMessage.textContent = "";
  }

  function hideResults() {
    els.result.hidden = true;
    els.timeline.hidden = true;
    lastTimeline = null;
  }

  // Read an error body {"error": {"code", "message"}}; fall back to the status line.
  async function errorOf(response) {
    try {
      const body = await response.json();
      if (body && body.error) return { code: body.error.code, message: body.error.message };
    } catch (e) {
      /* not JSON */
    }
    return { code: `http_${response.status}`, message: response.statusText || "request failed" };
  }

  function needKey(retry, message) {
    pending = retry;
    els.authMessage.textContent =
      message || (apiKey() ? "The API key was not accepted." : "This server asks for an API key.");
    els.auth.hidden = false;
    els.keyInput.focus();
  }

  // -------------------------------------------------------------------- model
  async function loadModel() {
    let response;
    try {
      response = await fetch("/v1/models", { headers: authHeaders() });
    } catch (e) {
      els.modelLine.textContent = "The server cannot be reached.";
      return;
    }
    if (response.status === 401) {
      els.modelLine.textContent = "Model details need an API key.";
      needKey(loadModel);
      return;
    }
    if (!response.ok) {
      const err = await errorOf(response);
      els.modelLine.textContent = `Model unavailable: ${err.message}`;
      return;
    }
    const info = await response.json();
    classes = info.classes || [];
    const sets = Array.isArray(info.features) ? info.features : info.features ? [info.features] : [];
    const names = sets.map((spec) => spec && spec.name).filter(Boolean);
    const features = names.length ? `${names.join(" + ")} features, ` : "";
    els.modelLine.textContent =
      `Model ${info.id} (${features}${classes.length} emotions: ${classes.join(", ")})`;
    const answers = new Set(classes.map((c) => (c === "calm" ? "neutral" : c)));
    els.fourRow.hidden = !FOUR.every((c) => answers.has(c));
  }

  // ------------------------------------------------------------------ analyse
  async function analyse(blob, filename, duration) {
    if (busy) return;
    clearError();
    hideResults();
    showPlayer(blob);
    const wantTimeline = els.toggle.checked || (duration !== null && duration > LONG_SECONDS);
    await send(blob, filename, duration, wantTimeline ? "timeline" : "predict");
  }

  async function send(blob, filename, duration, kind) {
    setBusy(true);
    const what = duration !== null ? `${filename} (${duration.toFixed(1)} s)` : filename;
    setStatus(`Analysing ${what}…`, true);
    const form = new FormData();
    form.append("file", blob, filename);
    let response;
    try {
      const query = els.fourToggle.checked ? `?emotions=${FOUR.join(",")}` : "";
      response = await fetch(`/v1/${kind}${query}`, {
        method: "POST", body: form, headers: authHeaders(),
      });
    } catch (e) {
      setBusy(false);
      setStatus("");
      showError("network_error", `The server could not be reached (${e.message}).`);
      return;
    }
    setBusy(false);
    if (response.ok) {
      setStatus("");
      const body = await response.json();
      if (kind === "timeline") showTimeline(body);
      else showPrediction(body);
      return;
    }
    const err = await errorOf(response);
    setStatus("");
    if (response.status === 401) {
      needKey(() => send(blob, filename, duration, kind));
      return;
    }
    if (kind === "predict" && err.code === "audio_too_long") {
      await send(blob, filename, duration, "timeline"); // too long for one prediction
      return;
    }
    showError(err.code, err.message);
  }

  function showPlayer(blob) {
    if (playerUrl) URL.revokeObjectURL(playerUrl);
    playerUrl = URL.createObjectURL(blob);
    els.player.src = playerUrl;
    els.player.hidden = false;
  }

  // ------------------------------------------------------------------ results
  function renderBars(probabilities, title, meta, uncertain) {
    const ranked = Object.entries(probabilities).sort((a, b) => b[1] - a[1]);
    if (!ranked.length) return;
    const [topName, topP] = ranked[0];
    els.resultTitle.textContent = title;
    els.topEmotion.textContent = topName;
    els.topEmotion.style.color = colorOf(topName);
    els.topConfidence.textContent = percent(topP);
    els.topUncertain.hidden = uncertain !== true;
    els.resultMeta.textContent = meta;
    els.bars.replaceChildren();
    ranked.forEach(([name, p], i) => {
      const row = document.createElement("li");
      row.className = i === 0 ? "bar-row is-top" : "bar-row";
      row.dataset.emotion = name;
      const label = document.createElement("span");
      label.className = "bar-label";
      label.textContent = name;
      const track = document.createElement("span");
      track.className = "bar-track";
      const fill = document.createElement("span");
      fill.className = "bar-fill";
      fill.style.background = colorOf(name);
      track.appendChild(fill);
      const value = document.createElement("span");
      value.className = "bar-value";
      value.textContent = percent(p);
      row.append(label, track, value);
      row.setAttribute("aria-label", `${name} ${percent(p)}`);
      els.bars.appendChild(row);
      requestAnimationFrame(() => {
        fill.style.width = `${(100 * Math.max(0, Math.min(1, p))).toFixed(1)}%`;
      });
    });
    els.result.hidden = false;
  }

  function showPrediction(body) {
    const name = body.filename ? `${body.filename} · ` : "";
    renderBars(
      body.probabilities, "Emotion", `${name}${body.duration.toFixed(2)} s · model ${body.model_id}`,
      body.uncertain,
    );
  }

  // Duration-weighted mean of the speech segments' probabilities (windows if no speech).
  function overall(timeline) {
    const parts = timeline.speech.length ? timeline.speech : timeline.windows;
    const sums = {};
    let total = 0;
    for (const seg of parts) {
      const weight = Math.max(1e-3, seg.end - seg.start);
      for (const [name, p] of Object.entries(seg.probabilities || {})) {
        sums[name] = (sums[name] || 0) + weight * p;
      }
      total += weight;
    }
    if (!total) return {};
    for (const name of Object.keys(sums)) sums[name] /= total;
    return sums;
  }

  function showTimeline(body) {
    lastTimeline = body;
    const probs = overall(body);
    const speechSeconds = body.speech.reduce((s, seg) => s + (seg.end - seg.start), 0);
    const name = body.source ? `${body.source} · ` : "";
    const meta =
      `${name}${clock(body.duration, 0)} · ${body.speech.length} speech segments ` +
      `(${clock(speechSeconds, 0)} of speech) · model ${body.model_id}`;
    if (Object.keys(probs).length) {
      renderBars(probs, "Overall emotion", meta);
    } else {
      els.result.hidden = true;
    }
    els.timelineMeta.textContent = body.speech.length ? meta : `${meta} · no speech found`;
    els.timeline.hidden = false;
    drawTimeline(body);
    renderLegend(body);
    renderSegments(body);
  }

  function svgEl(name, attrs, parent) {
    const node = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (parent) parent.appendChild(node);
    return node;
  }

  function tickStep(duration, width) {
    const maxTicks = Math.max(2, Math.floor(width / 70));
    const steps = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
    for (const step of steps) if (duration / step <= maxTicks) return step;
    return 7200;
  }

  function drawTimeline(body) {
    const width = Math.max(240, Math.floor(els.chart.clientWidth || 600));
    const pad = 8;
    const rows = { speechY: 22, speechH: 34, windowY: 74, windowH: 12, axisY: 96 };
    const height = 116;
    const duration = Math.max(body.duration, 1e-3);
    const x = (t) => pad + ((width - 2 * pad) * Math.max(0, Math.min(t, duration))) / duration;
    const svg = svgEl("svg", {
      viewBox: `0 0 ${width} ${height}`,
      width,
      height,
      role: "img",
      "aria-label": `Emotion timeline of ${clock(body.duration)}`,
    });
    svgEl("text", { x: pad, y: 14 }, svg).textContent = "speech";
    svgEl("text", { x: pad, y: rows.windowY - 4 }, svg).textContent = "windows";
    svgEl("rect", {
      x: pad, y: rows.speechY, width: width - 2 * pad, height: rows.speechH, fill: NO_SPEECH, rx: 4,
    }, svg);
    const band = (seg, y, h, cls) => {
      const rect = svgEl("rect", {
        x: x(seg.start),
        y,
        width: Math.max(1, x(seg.end) - x(seg.start)),
        height: h,
        fill: seg.emotion ? colorOf(seg.emotion) : NO_SPEECH,
        "fill-opacity": seg.confidence == null ? 1 : (0.45 + 0.55 * seg.confidence).toFixed(2),
        class: cls,
        "data-emotion": seg.emotion || "",
      }, svg);
      const conf = seg.confidence == null ? "" : ` ${percent(seg.confidence)}`;
      svgEl("title", {}, rect).textContent =
        `${clock(seg.start)}–${clock(seg.end)} ${seg.emotion || "no decision"}${conf}`;
    };
    for (const seg of body.windows) band(seg, rows.windowY, rows.windowH, "window");
    for (const seg of body.speech) band(seg, rows.speechY, rows.speechH, "segment");
    svgEl("line", {
      x1: pad, x2: width - pad, y1: rows.axisY, y2: rows.axisY, stroke: "#b7c0ce",
    }, svg);
    const step = tickStep(duration, width);
    for (let t = 0; t <= duration + 1e-9; t += step) {
      svgEl("line", { x1: x(t), x2: x(t), y1: rows.axisY, y2: rows.axisY + 5, stroke: "#b7c0ce" }, svg);
      const anchor = t === 0 ? "start" : x(t) > width - 30 ? "end" : "middle";
      svgEl("text", { x: x(t), y: rows.axisY + 17, "text-anchor": anchor }, svg).textContent =
        step < 1 ? t.toFixed(1) : clock(t, 0);
    }
    els.chart.replaceChildren(svg);
  }

  function renderLegend(body) {
    const seen = new Set();
    for (const seg of body.speech.concat(body.windows)) if (seg.emotion) seen.add(seg.emotion);
    const order = (body.classes || classes).filter((c) => seen.has(c));
    for (const c of seen) if (!order.includes(c)) order.push(c);
    els.legend.replaceChildren();
    const add = (label, color, isEmotion = true) => {
      const item = document.createElement("li");
      if (isEmotion) item.className = "emotion";
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = color;
      item.append(swatch, document.createTextNode(label));
      els.legend.appendChild(item);
    };
    for (const name of order) add(name, colorOf(name));
    add("no speech", NO_SPEECH, false);
  }

  function renderSegments(body) {
    els.segmentRows.replaceChildren();
    for (const seg of body.speech) {
      const row = document.createElement("tr");
      for (const text of [
        clock(seg.start), clock(seg.end), seg.emotion || "–",
        seg.confidence == null ? "–" : percent(seg.confidence) + (seg.uncertain ? " · uncertain" : ""),
      ]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.appendChild(cell);
      }
      els.segmentRows.appendChild(row);
    }
  }

  // -------------------------------------------------------------------- files
  function probeDuration(blob) {
    return new Promise((resolve) => {
      const url = URL.createObjectURL(blob);
      const probe = new Audio();
      const done = (value) => {
        clearTimeout(timer);
        probe.removeAttribute("src");
        URL.revokeObjectURL(url);
        resolve(Number.isFinite(value) ? value : null);
      };
      const timer = setTimeout(() => done(null), 3000);
      probe.preload = "metadata";
      probe.onloadedmetadata = () => done(probe.duration);
      probe.onerror = () => done(null);
      probe.src = url;
    });
  }

  async function handleFile(file) {
    if (!file || busy || recorder) return;
    const duration = await probeDuration(file);
    await analyse(file, file.name || "upload", duration);
  }

  els.file.addEventListener("change", () => {
    const file = els.file.files && els.file.files[0];
    els.file.value = "";
    handleFile(file);
  });
  els.drop.addEventListener("click", (event) => {
    if (event.target === els.drop || event.target.tagName === "P") els.file.click();
  });
  els.drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      els.file.click();
    }
  });
  for (const type of ["dragenter", "dragover"]) {
    els.drop.addEventListener(type, (event) => {
      event.preventDefault();
      els.drop.classList.add("dragging");
    });
  }
  for (const type of ["dragleave", "dragend"]) {
    els.drop.addEventListener(type, () => els.drop.classList.remove("dragging"));
  }
  els.drop.addEventListener("drop", (event) => {
    event.preventDefault();
    els.drop.classList.remove("dragging");
    const file = event.dataTransfer && event.dataTransfer.files[0];
    handleFile(file);
  });
  // A file dropped next to the zone must not navigate away from the page.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());

  // ---------------------------------------------------------------- recording
  const WORKLET = `
    class SerkitCapture extends AudioWorkletProcessor {
      constructor() { super(); this.buffer = new Float32Array(4096); this.filled = 0; this.port.onmessage = () => this.flush(); }
      flush() { if (this.filled) { this.port.postMessage(this.buffer.slice(0, this.filled)); this.filled = 0; } }
      process(inputs) {
        const channel = inputs[0] && inputs[0][0];
        if (channel) {
          let i = 0;
          while (i < channel.length) {
            const n = Math.min(channel.length - i, this.buffer.length - this.filled);
            this.buffer.set(channel.subarray(i, i + n), this.filled);
            this.filled += n; i += n;
            if (this.filled === this.buffer.length) this.flush();
          }
        }
        return true;
      }
    }
    registerProcessor("serkit-capture", SerkitCapture);`;

  async function captureNode(context, onSamples) {
    if (context.audioWorklet && typeof AudioWorkletNode === "function") {
      const url = URL.createObjectURL(new Blob([WORKLET], { type: "application/javascript" }));
      try {
        await context.audioWorklet.addModule(url);
        const node = new AudioWorkletNode(context, "serkit-capture");
        node.port.onmessage = (event) => onSamples(event.data);
        return { node, flush: () => node.port.postMessage("flush") };
      } catch (e) {
        /* fall back to a ScriptProcessor below */
      } finally {
        URL.revokeObjectURL(url);
      }
    }
    const node = context.createScriptProcessor(4096, 1, 1);
    node.onaudioprocess = (event) => onSamples(event.inputBuffer.getChannelData(0).slice(0));
    return { node, flush: () => {} };
  }

  async function startRecording() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      showError("no_microphone", "This browser cannot record here (a microphone needs https or localhost).");
      return;
    }
    clearError();
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
    } catch (e) {
      showError("no_microphone", `The microphone is not available (${e.message || e.name}).`);
      return;
    }
    const context = new AudioContext();
    const chunks = [];
    const source = context.createMediaStreamSource(stream);
    const capture = await captureNode(context, (samples) => chunks.push(samples));
    const mute = context.createGain();
    mute.gain.value = 0; // keep the graph running without playing the microphone back
    source.connect(capture.node);
    capture.node.connect(mute);
    mute.connect(context.destination);
    if (context.state === "suspended") await context.resume();
    const started = performance.now();
    recorder = { stream, context, source, capture, mute, chunks, started, timer: null };
    recorder.timer = setInterval(() => {
      const seconds = (performance.now() - started) / 1000;
      els.recordTime.textContent = `${clock(seconds)} / ${clock(MAX_RECORD_SECONDS, 0)}`;
      if (seconds >= MAX_RECORD_SECONDS) stopRecording();
    }, 200);
    els.record.classList.add("recording");
    els.record.setAttribute("aria-pressed", "true");
    els.recordLabel.textContent = "Stop";
    els.recordTime.textContent = "0:00.0";
    hideResults();
    setStatus("Recording… press Stop when you are done.");
  }

  async function stopRecording() {
    if (!recorder) return;
    const rec = recorder;
    recorder = null;
    clearInterval(rec.timer);
    rec.capture.flush();
    await new Promise((resolve) => setTimeout(resolve, 60)); // let the last block arrive
    rec.source.disconnect();
    rec.capture.node.disconnect();
    rec.mute.disconnect();
    for (const track of rec.stream.getTracks()) track.stop();
    const rate = rec.context.sampleRate;
    await rec.context.close();
    els.record.classList.remove("recording");
    els.record.setAttribute("aria-pressed", "false");
    els.recordLabel.textContent = "Record";
    const length = rec.chunks.reduce((n, c) => n + c.length, 0);
    els.recordTime.textContent = `${(length / rate).toFixed(1)} s recorded`;
    setStatus("");
    if (!length) {
      showError("empty_recording", "Nothing was recorded; check the microphone.");
      return;
    }
    const samples = new Float32Array(length);
    let offset = 0;
    for (const chunk of rec.chunks) {
      samples.set(chunk, offset);
      offset += chunk.length;
    }
    await analyse(encodeWav(samples, rate), "recording.wav", length / rate);
  }

  // 16-bit PCM mono WAV of float samples in [-1, 1].
  function encodeWav(samples, rate) {
    const buffer = new ArrayBuffer(44 + 2 * samples.length);
    const view = new DataView(buffer);
    const text = (offset, s) => {
      for (let i = 0; i < s.length; i++) view.setUint8(offset + i, s.charCodeAt(i));
    };
    text(0, "RIFF");
    view.setUint32(4, 36 + 2 * samples.length, true);
    text(8, "WAVE");
    text(12, "fmt ");
    view.setUint32(16, 16, true);
    view.setUint16(20, 1, true); // PCM
    view.setUint16(22, 1, true); // mono
    view.setUint32(24, rate, true);
    view.setUint32(28, 2 * rate, true);
    view.setUint16(32, 2, true);
    view.setUint16(34, 16, true);
    text(36, "data");
    view.setUint32(40, 2 * samples.length, true);
    for (let i = 0; i < samples.length; i++) {
      const s = Math.max(-1, Math.min(1, samples[i]));
      view.setInt16(44 + 2 * i, s < 0 ? s * 0x8000 : s * 0x7fff, true);
    }
    return new Blob([buffer], { type: "audio/wav" });
  }

  els.record.addEventListener("click", () => {
    if (recorder) stopRecording();
    else if (!busy) startRecording();
  });

  // ------------------------------------------------------------------ API key
  els.authForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = els.keyInput.value.trim();
    if (!key) return;
    memoryKey = key;
    try {
      window.localStorage.setItem(KEY_STORAGE, key);
    } catch (e) {
      /* private mode: the key lasts for this page only */
    }
    els.keyInput.value = "";
    els.auth.hidden = true;
    const retry = pending;
    pending = null;
    if (classes.length === 0 && retry !== loadModel) loadModel();
    if (retry) retry();
  });

  // ------------------------------------------------------------------- resize
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      if (lastTimeline && !els.timeline.hidden) drawTimeline(lastTimeline);
    }, 150);
  });

  loadModel();
})();
