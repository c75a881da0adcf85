// Alignment view of the Summarize / Translate panels: the source text as tokens, the output as tokens (or
// the text streaming in while it is generated), linked by the decoder's cross-attention. Hover an output
// token: each source token is shaded by how much the decoder looked at it while producing that token (mean
// over heads, one head, or every head as rows of a small heatmap). Hover a source token: each output token
// is shaded by how much it looked there. Everything here runs in the browser; only a layer change asks the
// kernel for that layer's heads. Shipped inside the widgets package; no network.
import { arrayReader } from "./_arrays.js";

const SRC_RGB = "232, 119, 34"; // source shading (orange)
const OUT_RGB = "44, 110, 200"; // output shading (blue)
const HEAD_ROW = 10; // "all heads" heatmap: pixels per head row

function el_(tag, cls, parent, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

// Row j of a (rows, cols) slice z of an (n, rows, cols) array, as a Float32Array view
function row(a, z, j) {
  const [, rows, cols] = a.shape;
  const base = (z * rows + j) * cols;
  return a.data.subarray(base, base + cols);
}

function column(a, z, i) {
  const [, rows, cols] = a.shape;
  const out = new Float32Array(rows);
  for (let j = 0; j < rows; j++) out[j] = a.data[(z * rows + j) * cols + i];
  return out;
}

function shade(span, rgb, w) {
  span.style.backgroundColor = w > 0.02 ? `rgba(${rgb}, ${Math.min(1, w).toFixed(3)})` : "";
  span.dataset.weight = w.toFixed(3);
}

function normalised(v) {
  let max = 1e-9;
  for (const x of v) if (x > max) max = x;
  return Array.from(v, (x) => x / max);
}

function buildDom(el) {
  const root = el_("div", "wb-s2s", el);
  const ui = { root };
  ui.error = el_("div", "wb-s2s-error", root);
  const bar = el_("div", "wb-s2s-bar", root);
  el_("span", "wb-s2s-caption", bar, "cross-attention: layer");
  ui.layer = el_("select", "wb-s2s-layer", bar);
  el_("span", "wb-s2s-caption", bar, "heads");
  ui.heads = el_("select", "wb-s2s-heads", bar);
  ui.status = el_("span", "wb-s2s-status", bar);
  el_("div", "wb-s2s-label", root, "Source");
  ui.source = el_("div", "wb-s2s-source", root);
  ui.note = el_("div", "wb-s2s-note", root);
  el_("div", "wb-s2s-label", root, "Output");
  ui.output = el_("div", "wb-s2s-output", root);
  ui.headsCanvas = el_("canvas", "wb-s2s-heads-map", root);
  ui.headsCaption = el_("div", "wb-s2s-caption wb-s2s-heads-caption", root);
  ui.beams = el_("div", "wb-s2s-beams", root);
  return ui;
}

function render({ model, el }) {
  const get = arrayReader(model);
  const ui = buildDom(el);
  let hover = null; // {kind: "s" | "o", index}
  let frame = 0;

  const state = () => model.get("state") || {};

  // The (n, T_out, T_src) array and slice the current mode reads, or null while it is on its way.
  const current = () => {
    const mode = model.get("head_mode");
    const layers = state().layers || [];
    const z = layers.indexOf(model.get("layer"));
    if (mode === "mean" || mode === "all") {
      const m = get("mean");
      return m && z >= 0 ? { a: m, z } : null;
    }
    const h = get("heads");
    if (!h || model.get("heads_layer") !== model.get("layer")) return null;
    const k = parseInt(mode, 10);
    return k >= 0 && k < h.shape[0] ? { a: h, z: k } : null;
  };

  const drawControls = () => {
    const s = state();
    const layers = s.layers || [];
    ui.layer.innerHTML = "";
    for (const l of layers) {
      const o = el_("option", null, ui.layer, String(l));
      o.value = String(l);
    }
    ui.layer.value = String(model.get("layer"));
    const h = get("heads");
    const n = h ? h.shape[0] : 0;
    ui.heads.innerHTML = "";
    for (const [v, label] of [["mean", "mean over heads"], ["all", "all heads"]]) {
      const o = el_("option", null, ui.heads, label);
      o.value = v;
    }
    for (let k = 0; k < n; k++) {
      const o = el_("option", null, ui.heads, `head ${k}`);
      o.value = String(k);
    }
    ui.heads.value = model.get("head_mode");
    ui.layer.disabled = ui.heads.disabled = !layers.length;
  };

  const drawTokens = () => {
    const s = state();
    ui.source.innerHTML = "";
    ui.output.innerHTML = "";
    ui.note.textContent = "";
    const streaming = model.get("streaming");
    (s.source_tokens || []).forEach((t, i) => {
      const span = el_("span", "wb-s2s-tok wb-s2s-src" + (s.source_is_text[i] ? "" : " wb-s2s-special"), ui.source, t);
      span.dataset.i = String(i);
    });
    if (s.cut_text) {
      el_("span", "wb-s2s-cut", ui.source, s.cut_text);
      ui.note.textContent = `The model read ${s.read_tokens} of ${s.total_tokens} source tokens; the struck-out ` +
        "text was cut off and never seen.";
    }
    if (streaming || !(s.output_tokens || []).length) {
      el_("span", "wb-s2s-stream", ui.output, streaming || "");
    } else {
      s.output_tokens.forEach((t, j) => {
        const span = el_("span", "wb-s2s-tok wb-s2s-out", ui.output, t);
        span.dataset.j = String(j);
      });
    }
    ui.beams.innerHTML = "";
    const beams = s.alternatives || [];
    if (beams.length > 1) {
      el_("div", "wb-s2s-label", ui.beams, "Beams (score = log-probability / length^penalty)");
      const table = el_("table", "wb-s2s-beam-table", ui.beams);
      beams.forEach((b, k) => {
        const tr = el_("tr", k === 0 ? "wb-s2s-best" : "", table);
        el_("td", "wb-s2s-beam-rank", tr, String(k + 1));
        el_("td", "wb-s2s-beam-score", tr, b.score.toFixed(3));
        el_("td", "wb-s2s-beam-text", tr, b.text);
      });
    }
  };

  // Shade for the hovered token; draw the heads heatmap in "all heads" mode.
  const drawHover = () => {
    frame = 0;
    const srcSpans = ui.source.querySelectorAll(".wb-s2s-src");
    const outSpans = ui.output.querySelectorAll(".wb-s2s-out");
    srcSpans.forEach((s) => shade(s, SRC_RGB, 0));
    outSpans.forEach((s) => shade(s, OUT_RGB, 0));
    ui.root.dataset.hover = hover ? hover.kind + hover.index : "";
    ui.headsCanvas.style.display = "none";
    ui.headsCaption.textContent = "";
    const cur = current();
    if (!hover || !cur) return;
    if (hover.kind === "o") {
      normalised(row(cur.a, cur.z, hover.index)).forEach((w, i) => srcSpans[i] && shade(srcSpans[i], SRC_RGB, w));
      outSpans[hover.index] && outSpans[hover.index].classList.add("wb-s2s-focus");
      if (model.get("head_mode") === "all") drawHeads(hover.index);
    } else {
      normalised(column(cur.a, cur.z, hover.index)).forEach((w, j) => outSpans[j] && shade(outSpans[j], OUT_RGB, w));
      srcSpans[hover.index] && srcSpans[hover.index].classList.add("wb-s2s-focus");
    }
  };

  // Every head of the layer for output token j: one row per head, one column per source token.
  const drawHeads = (j) => {
    const h = get("heads");
    if (!h || model.get("heads_layer") !== model.get("layer")) {
      ui.headsCaption.textContent = "loading this layer's heads…";
      return;
    }
    const [n, , cols] = h.shape;
    const c = ui.headsCanvas;
    c.width = cols;
    c.height = n;
    c.style.width = Math.min(900, Math.max(200, cols * 6)) + "px";
    c.style.height = n * HEAD_ROW + "px";
    c.style.display = "block";
    const ctx = c.getContext("2d");
    const img = ctx.createImageData(cols, n);
    for (let k = 0; k < n; k++) {
      const v = normalised(row(h, k, j));
      for (let i = 0; i < cols; i++) {
        const p = 4 * (k * cols + i);
        img.data[p] = 232; img.data[p + 1] = 119; img.data[p + 2] = 34;
        img.data[p + 3] = Math.round(255 * v[i]);
      }
    }
    ctx.putImageData(img, 0, 0);
    ui.headsCaption.textContent = `every head of layer ${model.get("layer")} (rows) over the source tokens (columns), ` +
      `for output token ${j}`;
  };

  const redraw = () => { if (!frame) frame = requestAnimationFrame(drawHover); };
  const drawAll = () => {
    ui.error.textContent = model.get("error") || "";
    ui.error.style.display = model.get("error") ? "block" : "none";
    ui.status.textContent = model.get("status") || "";
    drawControls();
    drawTokens();
    hover = null;
    redraw();
  };

  const onOver = (ev) => {
    const t = ev.target.closest(".wb-s2s-tok");
    if (!t || t.classList.contains("wb-s2s-special") && !t.dataset.i) return;
    const next = t.dataset.j !== undefined ? { kind: "o", index: +t.dataset.j } : { kind: "s", index: +t.dataset.i };
    if (hover && hover.kind === next.kind && hover.index === next.index) return;
    ui.root.querySelectorAll(".wb-s2s-focus").forEach((x) => x.classList.remove("wb-s2s-focus"));
    hover = next;
    redraw();
  };
  const onLeave = () => {
    ui.root.querySelectorAll(".wb-s2s-focus").forEach((x) => x.classList.remove("wb-s2s-focus"));
    hover = null;
    redraw();
  };
  const onLayer = () => { model.set("layer", parseInt(ui.layer.value, 10)); model.save_changes(); redraw(); };
  const onHeads = () => { model.set("head_mode", ui.heads.value); model.save_changes(); redraw(); };
  const onStream = () => {
    const span = ui.output.querySelector(".wb-s2s-stream");
    if (span && model.get("streaming")) span.textContent = model.get("streaming");
    else drawAll();
  };
  const onStatus = () => {
    ui.status.textContent = model.get("status") || "";
    ui.error.textContent = model.get("error") || "";
    ui.error.style.display = model.get("error") ? "block" : "none";
  };

  const domListeners = [[ui.source, "mouseover", onOver], [ui.output, "mouseover", onOver],
    [ui.source, "mouseleave", onLeave], [ui.output, "mouseleave", onLeave], [ui.layer, "change", onLayer],
    [ui.heads, "change", onHeads]];
  for (const [target, event, fn] of domListeners) target.addEventListener(event, fn);
  const onHeadsArray = () => { drawControls(); redraw(); };
  const onLayerTrait = () => { ui.layer.value = String(model.get("layer")); redraw(); };
  const onModeTrait = () => { ui.heads.value = model.get("head_mode"); redraw(); };
  const listeners = [["change:state", drawAll], ["change:heads", onHeadsArray], ["change:mean", redraw],
    ["change:heads_layer", redraw], ["change:layer", onLayerTrait], ["change:head_mode", onModeTrait],
    ["change:streaming", onStream], ["change:status", onStatus], ["change:error", onStatus]];
  for (const [event, fn] of listeners) model.on(event, fn);
  drawAll();
  return () => {
    if (frame) cancelAnimationFrame(frame);
    for (const [event, fn] of listeners) model.off(event, fn);
    for (const [target, event, fn] of domListeners) target.removeEventListener(event, fn);
  };
}
export default { render };
