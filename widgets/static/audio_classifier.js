// AudioClassifier front end: waveform, log-mel spectrogram (with the AST patch attention over it) and the
// label-by-time timeline on one time axis, an <audio> player and a microphone recorder. Clicking the drawing
// plays from that time; hovering the timeline shows the window's best labels; the overlay's opacity is a
// trait the page changes by itself. Nothing here needs the kernel except a new recording. No network.
import { arrayReader } from "./_arrays.js";
import { attachRecorder, wavSource } from "./_audio.js";

const LEFT = 124; // room for the timeline's label names
const RIGHT = 14;
const WAVE_H = 54;
const SPEC_H = 132;
const ROW_H = 16;
const AXIS_H = 22;
const GAP = 6;
const TOP = 6;

// ---------------------------------------------------------------- colours
const MAGMA = [[0, 0, 4], [59, 15, 112], [140, 41, 129], [222, 73, 104], [254, 159, 109], [252, 253, 191]];
function ramp(stops, v) {
  const t = Math.max(0, Math.min(1, v)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(t));
  const f = t - i;
  return stops[i].map((a, k) => Math.round(a + (stops[i + 1][k] - a) * f));
}
const heatGreen = (v) => ramp([[255, 255, 255], [199, 233, 192], [116, 196, 118], [35, 139, 69], [0, 68, 27]], v);
const hot = (v) => ramp([[255, 255, 178], [254, 204, 92], [253, 141, 60], [240, 59, 32], [189, 0, 38]], v);

// An (rows, cols) array -> an offscreen canvas, row 0 at the bottom (frequency grows upwards)
function imageOf(arr, colour, alphaOf) {
  const [rows, cols] = arr.shape;
  const off = document.createElement("canvas");
  off.width = cols;
  off.height = rows;
  const ctx = off.getContext("2d");
  const img = ctx.createImageData(cols, rows);
  const scale = arr.data instanceof Uint8Array ? 1 / 255 : 1;
  for (let r = 0; r < rows; r++) {
    const y = rows - 1 - r;
    for (let c = 0; c < cols; c++) {
      const v = arr.data[r * cols + c] * scale;
      const [R, G, B] = colour(v);
      const i = 4 * (y * cols + c);
      img.data[i] = R; img.data[i + 1] = G; img.data[i + 2] = B; img.data[i + 3] = alphaOf ? alphaOf(v) : 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  return off;
}

function el_(tag, cls, parent, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

// ---------------------------------------------------------------- geometry
function layout(state, meta, rows) {
  const width = Math.max(520, Math.min(1400, state.root.clientWidth || 900));
  const wave = TOP;
  const spec = wave + WAVE_H + GAP;
  const line = spec + SPEC_H + GAP;
  const axis = line + rows * ROW_H + (rows ? GAP : 0);
  const duration = Math.max(1e-3, meta.duration || 1);
  const span = width - LEFT - RIGHT;
  return {
    width, height: axis + AXIS_H, wave, spec, line, axis, rows, duration,
    x: (t) => LEFT + (t / duration) * span,
    t: (x) => Math.max(0, Math.min(duration, ((x - LEFT) / span) * duration)),
  };
}

// The timeline window whose centre is nearest to time t, and the cell edges of window w
function windowCells(meta) {
  const starts = meta.starts || [];
  const win = Math.min(meta.window_s || 1, meta.duration || 1);
  const centres = starts.map((s) => s + win / 2);
  const edges = centres.map((c, i) => [
    i === 0 ? Math.max(0, c - win / 2) : (centres[i - 1] + c) / 2,
    i === centres.length - 1 ? Math.min(meta.duration || c, c + win / 2) : (c + centres[i + 1]) / 2,
  ]);
  return { starts, win, centres, edges };
}

function nearestWindow(cells, t) {
  let best = -1, dist = Infinity;
  cells.centres.forEach((c, i) => { const d = Math.abs(c - t); if (d < dist) { dist = d; best = i; } });
  return best;
}

// ---------------------------------------------------------------- drawing

// The drawing's paper, text and frame colours from JupyterLab's theme variables (dark theme: a dark card), else white
function theme(el) {
  const css = getComputedStyle(el);
  const v = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  return { paper: v("--jp-layout-color0", "#ffffff"), ink: v("--jp-ui-font-color1", "#333"),
           muted: v("--jp-ui-font-color2", "#555"), frame: v("--jp-border-color1", "#ccc") };
}

function draw(view) {
  const { model, get, ui, state } = view;
  const meta = model.get("meta") || {};
  const tl = get("timeline");
  const rows = tl ? tl.shape[0] : 0;
  const g = layout(state, meta, rows);
  const dpr = window.devicePixelRatio || 1;
  const c = ui.canvas;
  if (c.width !== Math.round(g.width * dpr) || c.height !== Math.round(g.height * dpr)) {
    c.width = Math.round(g.width * dpr); c.height = Math.round(g.height * dpr);
    // as wide as the output area, never wider (pointer positions are scaled back to the drawing's units)
    c.style.width = "100%"; c.style.maxWidth = `${g.width}px`; c.style.height = "auto";
  }
  const ctx = c.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.globalAlpha = 1;
  const th = theme(ui.root);
  ctx.fillStyle = th.paper;
  ctx.fillRect(0, 0, g.width, g.height);
  ctx.globalAlpha = meta.stale ? 0.35 : 1;
  ctx.font = "11px system-ui, sans-serif";
  ctx.textBaseline = "middle";
  state.geometry = g;

  // waveform: one min..max stroke per column
  const env = get("waveform");
  ctx.fillStyle = th.muted; ctx.textAlign = "right";
  ctx.fillText("waveform", LEFT - 8, g.wave + WAVE_H / 2);
  if (env) {
    const n = env.shape[0], mid = g.wave + WAVE_H / 2, amp = WAVE_H / 2 - 2;
    ctx.strokeStyle = "#1f77b4"; ctx.lineWidth = 1; ctx.beginPath();
    for (let i = 0; i < n; i++) {
      const x = g.x(((i + 0.5) / n) * g.duration);
      ctx.moveTo(x, mid - env.data[2 * i + 1] * amp);
      ctx.lineTo(x, mid - env.data[2 * i] * amp + 0.5);
    }
    ctx.stroke();
  }

  // spectrogram, then the attention over the window the model heard
  ctx.fillStyle = th.muted;
  ctx.fillText("spectrogram", LEFT - 8, g.spec + SPEC_H / 2);
  const spec = get("spectrogram");
  if (spec) {
    if (state.specWire !== model.get("spectrogram")) {
      state.specWire = model.get("spectrogram");
      state.specImage = imageOf(spec, (v) => ramp(MAGMA, v));
    }
    ctx.imageSmoothingEnabled = true;
    const x1 = g.x(Math.min(meta.spec_seconds || g.duration, g.duration));
    ctx.drawImage(state.specImage, g.x(0), g.spec, x1 - g.x(0), SPEC_H);
  }
  const att = get("attention");
  ui.root.dataset.attention = att ? "1" : "0";
  if (att && meta.attention_span) {
    if (state.attWire !== model.get("attention")) {
      state.attWire = model.get("attention");
      state.attImage = imageOf(att, hot, (v) => Math.round(255 * Math.min(1, 0.15 + v)));
    }
    const [a0, a1] = meta.attention_span;
    const xa = g.x(a0), xb = g.x(a1); // the window may run past the clip's end (padding): clipped below
    ctx.save();
    ctx.beginPath(); ctx.rect(g.x(0), g.spec, g.x(g.duration) - g.x(0), SPEC_H); ctx.clip();
    ctx.globalAlpha = (meta.stale ? 0.35 : 1) * (model.get("opacity") ?? 0.5);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(state.attImage, xa, g.spec, xb - xa, SPEC_H);
    ctx.restore();
    ctx.strokeStyle = "#ffcc00"; ctx.lineWidth = 1;
    ctx.strokeRect(xa + 0.5, g.spec + 0.5, Math.min(xb, g.x(g.duration)) - xa - 1, SPEC_H - 1);
  }

  // timeline: one row per label, one cell per window, greener = higher score
  const cells = windowCells(meta);
  const labels = meta.labels || [];
  const vmin = meta.vmin || 0;
  const vmax = Math.max(meta.vmax ?? 1, vmin + 1e-6);
  if (tl) {
    const windows = tl.shape[1];
    for (let r = 0; r < rows; r++) {
      const y = g.line + r * ROW_H;
      ctx.fillStyle = th.ink; ctx.textAlign = "right";
      ctx.fillText(String(labels[r] ?? r).slice(0, 17), LEFT - 8, y + ROW_H / 2);
      for (let w = 0; w < windows; w++) {
        const [t0, t1] = cells.edges[w] || [0, 0];
        const [R, G, B] = heatGreen((tl.data[r * windows + w] - vmin) / (vmax - vmin));
        ctx.fillStyle = `rgb(${R},${G},${B})`;
        ctx.fillRect(g.x(t0), y + 1, Math.max(1, g.x(t1) - g.x(t0)), ROW_H - 2);
      }
    }
    ctx.strokeStyle = th.frame; ctx.strokeRect(g.x(0) + 0.5, g.line + 0.5, g.x(g.duration) - g.x(0) - 1, rows * ROW_H - 1);
    ctx.fillStyle = th.muted; ctx.textAlign = "right"; // the colour scale, under the label names
    ctx.fillText(`darkest = ${vmax.toPrecision(3)}`, LEFT - 16, g.axis + 13);
  }
  ui.root.dataset.windows = tl ? String(tl.shape[1]) : "0";
  ui.root.dataset.rows = String(rows);

  // the hovered window, outlined across spectrogram and timeline
  if (state.hover >= 0 && cells.starts[state.hover] !== undefined) {
    const s = cells.starts[state.hover];
    ctx.strokeStyle = "#0b5ed7"; ctx.lineWidth = 2; ctx.globalAlpha = 1;
    ctx.strokeRect(g.x(s), g.spec, g.x(Math.min(s + cells.win, g.duration)) - g.x(s), g.axis - g.spec - GAP);
  }

  // time axis
  ctx.globalAlpha = 1; ctx.fillStyle = th.muted; ctx.strokeStyle = th.frame; ctx.lineWidth = 1; ctx.textAlign = "center";
  const step = [0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60].find((s) => g.duration / s <= 12) || 120;
  for (let t = 0; t <= g.duration + 1e-9; t += step) {
    const x = g.x(t);
    ctx.beginPath(); ctx.moveTo(x, g.axis); ctx.lineTo(x, g.axis + 4); ctx.stroke();
    ctx.fillText(`${+t.toFixed(2)} s`, x, g.axis + 13);
  }

  // playhead
  const now = ui.audio.currentTime || 0;
  if (now > 0 || !ui.audio.paused) {
    ctx.strokeStyle = "#d62728"; ctx.lineWidth = 1.5;
    ctx.beginPath(); ctx.moveTo(g.x(now), TOP); ctx.lineTo(g.x(now), g.axis); ctx.stroke();
  }
  ui.root.dataset.ready = spec && tl ? "1" : "0";
}

// The window under the pointer: its time span and best labels (browser-side, from the timeline already here)
function tooltip(view, w) {
  const meta = view.model.get("meta") || {};
  const tl = view.get("timeline");
  if (!tl || w < 0) return "";
  const [rows, windows] = tl.shape;
  const s = (meta.starts || [])[w] || 0;
  const scores = Array.from({ length: rows }, (_, r) => [tl.data[r * windows + w], (meta.labels || [])[r]]);
  scores.sort((a, b) => b[0] - a[0]);
  const best = scores.slice(0, 3).map(([v, l]) => `${l} ${v.toFixed(3)}`).join(" · ");
  return `${s.toFixed(2)}–${(s + Math.min(meta.window_s || 0, meta.duration || 0)).toFixed(2)} s: ${best}`;
}

// ---------------------------------------------------------------- the widget
function render({ model, el }) {
  const root = el_("div", "wb-aud", el);
  const bar = el_("div", "wb-aud-bar", root);
  const audio = el_("audio", "wb-aud-audio", bar);
  audio.controls = true;
  const rec = el_("button", "wb-aud-record", bar, "● Record");
  const note = el_("span", "wb-aud-note", bar);
  const scroll = el_("div", "wb-aud-scroll", root);
  const canvas = el_("canvas", "wb-aud-canvas", scroll);
  const info = el_("div", "wb-aud-info", root, "click to play from a time · hover the timeline for a window's labels");
  const ui = { root, audio, canvas, info };
  const state = { root, hover: -1, geometry: null };
  const view = { model, get: arrayReader(model), ui, state };

  let frame = 0;
  const redraw = () => {
    if (frame) return;
    frame = requestAnimationFrame(() => { frame = 0; draw(view); });
  };

  const source = wavSource(model, audio);
  const playFrom = (t) => {
    audio.currentTime = t;
    root.dataset.position = t.toFixed(3);
    model.set("position", t);
    model.save_changes();
    const p = audio.play();
    if (p && p.catch) p.catch(() => {}); // autoplay policy: the seek still happened
    redraw();
  };

  // pointer position in the drawing's own units (the page may show the canvas scaled, e.g. max-width: 100%)
  const pointer = (ev) => {
    const r = canvas.getBoundingClientRect();
    const g = state.geometry;
    return { x: (ev.clientX - r.left) * (g.width / r.width), y: (ev.clientY - r.top) * (g.height / r.height) };
  };
  const onMove = (ev) => {
    const g = state.geometry;
    if (!g) return;
    const p = pointer(ev);
    const meta = model.get("meta") || {};
    const inside = p.x >= LEFT && p.y >= g.spec && p.y < g.axis;
    const w = inside ? nearestWindow(windowCells(meta), g.t(p.x)) : -1;
    if (w !== state.hover) {
      state.hover = w;
      root.dataset.hover = w >= 0 ? `w${w}` : "";
      info.textContent = w >= 0 ? tooltip(view, w) : "click to play from a time · hover the timeline for a window's labels";
      redraw();
    }
  };
  const onLeave = () => {
    if (state.hover !== -1) { state.hover = -1; root.dataset.hover = ""; redraw(); }
  };
  const onClick = (ev) => {
    const g = state.geometry;
    if (!g) return;
    const p = pointer(ev);
    if (p.x >= LEFT - 2) playFrom(g.t(p.x));
  };
  canvas.addEventListener("mousemove", onMove);
  canvas.addEventListener("mouseleave", onLeave);
  canvas.addEventListener("click", onClick);

  // the playhead follows the audio while it plays
  let ticking = 0;
  const tick = () => { draw(view); ticking = audio.paused ? 0 : requestAnimationFrame(tick); };
  const onPlay = () => { if (!ticking) ticking = requestAnimationFrame(tick); };
  audio.addEventListener("play", onPlay);
  audio.addEventListener("seeked", redraw);
  audio.addEventListener("pause", redraw);

  attachRecorder(model, rec, note, "classifying…",
                 " recording needs https or localhost and a microphone; upload a file or pick a sample");

  const onWav = () => { source.reload(); redraw(); };
  const onSeek = () => { const t = model.get("seek_request"); if (t >= 0) playFrom(t); };
  model.on("change:wav", onWav);
  model.on("change:seek_request", onSeek);
  for (const name of ["waveform", "spectrogram", "timeline", "attention", "meta", "opacity"]) model.on(`change:${name}`, redraw);
  // the drawing is as wide as the output area: redraw when that changes (also once it is first laid out)
  const resize = new ResizeObserver(() => redraw());
  resize.observe(root);
  // the paper and ink follow the theme: redraw when it changes
  const themed = new MutationObserver(() => redraw());
  themed.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-name", "data-jp-theme-light"] });
  draw(view);
  return () => {
    themed.disconnect();
    cancelAnimationFrame(frame);
    cancelAnimationFrame(ticking);
    resize.disconnect();
    canvas.removeEventListener("mousemove", onMove);
    canvas.removeEventListener("mouseleave", onLeave);
    canvas.removeEventListener("click", onClick);
    audio.removeEventListener("play", onPlay);
    audio.removeEventListener("seeked", redraw);
    audio.removeEventListener("pause", redraw);
    model.off("change:wav", onWav);
    model.off("change:seek_request", onSeek);
    for (const name of ["waveform", "spectrogram", "timeline", "attention", "meta", "opacity"]) model.off(`change:${name}`, redraw);
    source.cleanup();
  };
}
export default { render };
