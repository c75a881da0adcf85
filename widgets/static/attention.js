// AttentionView front end: head, model and matrix views on canvas, plus a summaries panel.
// Shipped inside the widgets package; no network. Each array trait arrives as one
// {dtype, shape, buffer} object from the kernel (or from the page, in save_html).
//
// Layout of this file: small shared helpers; buildDom (the elements, made once); one drawing
// function per view (drawHeadView, drawModelView, drawMatrixView) and for the side panel
// (drawSummaries, drawEntropy), each taking a `view` context {model, ui, get, state}; the
// pointer handlers of each view; and render(), which wires events to one coalesced redraw
// (requestAnimationFrame) and returns the cleanup function.
import { arrayReader } from "./_arrays.js";
import { el_, canvasPoint, sizeCanvas } from "./_imagecanvas.js";

const HEAD_W = 640;
const MAX_H = 720;
const MATRIX_PX = 600;
const SUMMARY_PX = 128; // the two summary heatmaps
const MATRIX_OFFSET = 105; // matrix view: room for the token labels left of and above the heatmap
const ENTROPY = { cell: 16, ox: 28, oy: 14 }; // entropy table geometry
const VIEW_NAMES = { head: "Head view", model: "Model view", matrix: "Matrix view" };

// ---------------------------------------------------------------- shared helpers

// A head's colour: hues spread evenly over the heads
function headColor(h, n, alpha) {
  return `hsla(${Math.round((h * 360) / Math.max(n, 1))}, 75%, 42%, ${alpha})`;
}

// 0 -> white, 1 -> deep blue, as [r, g, b]
function heatColor(v) {
  const t = Math.max(0, Math.min(1, v));
  return [Math.round(255 - 222 * t), Math.round(255 - 180 * t), Math.round(255 - 75 * t)];
}

// Draw a (rows, cols) matrix (mean over axis 0 of an (n, rows, cols) array) into an offscreen canvas.
function matrixImage(m, gamma) {
  const [n, rows, cols] = m.shape.length === 3 ? m.shape : [1, ...m.shape];
  const vals = new Float32Array(rows * cols);
  for (let z = 0; z < n; z++) for (let i = 0; i < rows * cols; i++) vals[i] += m.data[z * rows * cols + i] / n;
  let max = 1e-9;
  for (let i = 0; i < vals.length; i++) if (vals[i] > max) max = vals[i];
  const off = document.createElement("canvas");
  off.width = cols; off.height = rows;
  const ctx = off.getContext("2d");
  const img = ctx.createImageData(cols, rows);
  for (let i = 0; i < vals.length; i++) {
    const [r, g, b] = heatColor(Math.pow(vals[i] / max, gamma || 0.6));
    img.data[4 * i] = r; img.data[4 * i + 1] = g; img.data[4 * i + 2] = b; img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return { canvas: off, vals, rows, cols, max };
}

// Slice z of an (n, rows, cols) decoded array, as a (1, rows, cols) one
function slice3(a, z) {
  const [, r, c] = a.shape;
  return { data: a.data.subarray(z * r * c, (z + 1) * r * c), shape: [1, r, c] };
}

function meta(model) {
  return model.get("meta") || {};
}

// The heads drawn: the selected ones, or all when none is selected
function selectedHeads(model) {
  const n = meta(model).num_heads || 0;
  const hs = (model.get("heads") || []).filter((h) => h >= 0 && h < n);
  return hs.length ? hs : Array.from({ length: n }, (_, i) => i);
}

// Set traits from the browser and send them to the kernel in one message
function save(model, values) {
  for (const k in values) model.set(k, values[k]);
  model.save_changes();
}

// Show one head of one layer in the head view (model view and entropy table clicks)
function openHead(model, layer, h) {
  save(model, { layer, heads: [h], view: "head" });
}

// ---------------------------------------------------------------- the elements

// Toolbar (views, layer, heads), error box, main canvas, summaries side panel, info line
function buildDom(el, model) {
  const root = el_("div", "wb-attn", el);
  const bar = el_("div", "wb-attn-bar", root);
  const viewBtns = {};
  for (const v of Object.keys(VIEW_NAMES)) {
    const b = el_("button", "wb-attn-view-btn", bar, VIEW_NAMES[v]);
    b.dataset.view = v;
    b.onclick = () => save(model, { view: v });
    viewBtns[v] = b;
  }
  el_("span", "wb-attn-label", bar, "Layer");
  const layerSel = el_("select", "wb-attn-layer", bar);
  layerSel.setAttribute("aria-label", "Layer");  // the span beside it is not a <label>
  layerSel.onchange = () => save(model, { layer: parseInt(layerSel.value, 10) });
  const headBox = el_("span", "wb-attn-heads", bar);
  const errBox = el_("div", "wb-attn-error", root);
  const badge = el_("div", "wb-untrained", root);
  const body = el_("div", "wb-attn-body", root);
  const scroller = el_("div", "wb-attn-scroll", body);
  const canvas = el_("canvas", "wb-attn-main", scroller);
  const side = el_("div", "wb-attn-side", body);
  el_("div", "wb-attn-side-title", side, "Summaries");
  const sumCaps = [];
  const sumCanvases = [];
  for (const name of ["mean over heads", "rollout through this layer"]) {
    const box = el_("div", "wb-attn-sum", side);
    sumCaps.push(el_("div", "wb-attn-cap", box, name));
    const c = el_("canvas", "wb-attn-sum-canvas", box);
    sizeCanvas(c, SUMMARY_PX, SUMMARY_PX);
    sumCanvases.push(c);
  }
  el_("div", "wb-attn-cap", side, "entropy per head (nats; dark = focused) — click to open");
  const entCanvas = el_("canvas", "wb-attn-entropy", side);
  const info = el_("div", "wb-attn-info", root);
  return { root, viewBtns, layerSel, headBox, errBox, badge, body, side, canvas, ctx: canvas.getContext("2d"), sumCaps, sumCanvases,
    entCanvas, info };
}

// The error box shows the kernel's `error` trait (the panel's one error mechanism)
function drawError({ model, ui }) {
  const e = model.get("error") || "";
  ui.errBox.textContent = e;
  ui.errBox.style.display = e ? "block" : "none";
}

// The untrained-weights badge: random weights' attention must never look meaningful
function drawBadge({ model, ui }) {
  const w = model.get("untrained") || [];
  ui.badge.textContent = w.length
    ? `\u26a0 untrained weights: ${w.length > 4 ? w.length + " weights" : w.join(", ")} freshly initialised. ` +
      "The attention is random until the model is trained."
    : "";
  ui.badge.style.display = w.length ? "block" : "none";
}

// Layer options, the active view button, one toggle button per head
function drawControls({ model, ui }) {
  const mt = meta(model);
  const layers = mt.layers || [];
  if (ui.layerSel.options.length !== layers.length) {
    ui.layerSel.innerHTML = "";
    for (const l of layers) { const o = el_("option", "", ui.layerSel, String(l)); o.value = String(l); }
  }
  ui.layerSel.value = String(model.get("layer"));
  const v = model.get("view");
  for (const k in ui.viewBtns) ui.viewBtns[k].classList.toggle("wb-active", k === v);
  const n = mt.num_heads || 0;
  if (ui.headBox.childElementCount !== n) {
    ui.headBox.innerHTML = "";
    for (let h = 0; h < n; h++) {
      const b = el_("button", "wb-attn-head", ui.headBox, String(h));
      b.style.borderColor = headColor(h, n, 1);
      b.title = `head ${h} (shift-click: add/remove)`;
      b.onclick = (ev) => {
        const cur = model.get("heads") || [];
        let next;
        if (ev.shiftKey) next = cur.includes(h) ? cur.filter((x) => x !== h) : [...cur, h].sort((a, b) => a - b);
        else next = cur.length === 1 && cur[0] === h ? [] : [h];
        save(model, { heads: next });
      };
    }
  }
  const sel = new Set(selectedHeads(model));
  [...ui.headBox.children].forEach((b, h) => {
    b.classList.toggle("wb-active", sel.has(h));
    b.style.background = sel.has(h) ? headColor(h, n, 0.85) : "transparent";
    b.style.color = sel.has(h) ? "white" : "inherit";
  });
}

// ---------------------------------------------------------------- head view

// Rows: one per token, queries on the left, keys on the right
function headGeometry(model) {
  const mt = meta(model);
  const tq = (mt.query_tokens || []).length, tk = (mt.key_tokens || []).length;
  const t = Math.max(tq, tk, 1);
  const rh = Math.max(2, Math.min(18, Math.floor((MAX_H - 30) / t)));
  return { tq, tk, rh, top: 24, xl: 180, xr: HEAD_W - 180, h: 30 + t * rh };
}

// Sentence-pair backgrounds behind the second segment's tokens
function drawSegments(ctx, mt, g) {
  const segq = mt.segment_ids, segk = mt.key_segment_ids;
  ctx.fillStyle = "rgba(255,170,0,0.12)";
  if (segq) for (let i = 0; i < g.tq; i++) if (segq[i] === 1) ctx.fillRect(0, g.top + i * g.rh, g.xl, g.rh);
  if (segk) for (let j = 0; j < g.tk; j++) if (segk[j] === 1) ctx.fillRect(g.xr, g.top + j * g.rh, HEAD_W - g.xr, g.rh);
}

// Query -> key lines of each selected head, bucketed by opacity so one stroke() draws many lines
function drawEdges(ctx, model, g, idx, w, hover) {
  const [H, TQ, K] = w.shape;
  const heads = selectedHeads(model);
  const n = meta(model).num_heads;
  const yq = (i) => g.top + i * g.rh + g.rh / 2;
  const BUCKETS = 16;
  const minW = hover ? 0.003 : 0.02;
  ctx.lineWidth = g.rh >= 8 ? 1.5 : 1;
  for (const h of heads) {
    if (h >= H) continue;
    const paths = Array.from({ length: BUCKETS }, () => new Path2D());
    const used = new Uint8Array(BUCKETS);
    const rows = hover && hover.side === "q" ? [hover.i] : Array.from({ length: TQ }, (_, i) => i);
    for (const q of rows) {
      const base = (h * TQ + q) * K;
      for (let r = 0; r < K; r++) {
        const wt = w.data[base + r];
        if (wt < minW) break; // sorted strongest first
        const k = idx.data[base + r];
        if (hover && hover.side === "k" && k !== hover.i) continue;
        const b = Math.min(BUCKETS - 1, Math.floor(wt * BUCKETS));
        paths[b].moveTo(g.xl + 4, yq(q)); paths[b].lineTo(g.xr - 4, yq(k));
        used[b] = 1;
      }
    }
    for (let b = 0; b < BUCKETS; b++) {
      if (!used[b]) continue;
      ctx.strokeStyle = headColor(h, n, Math.min(1, (b + 1) / BUCKETS) * (heads.length > 1 ? 0.8 : 1));
      ctx.stroke(paths[b]);
    }
  }
}

// Token labels on both sides (the hovered one in red); thin ticks instead when rows are too small
function drawTokenLabels(ctx, mt, g, hover) {
  const yq = (i) => g.top + i * g.rh + g.rh / 2;
  ctx.fillStyle = "#222";
  ctx.font = `${Math.min(13, Math.max(8, g.rh - 3))}px sans-serif`;
  ctx.textBaseline = "middle";
  const labels = g.rh >= 8;
  const sides = [["q", mt.query_tokens || [], g.tq, "right", g.xl], ["k", mt.key_tokens || [], g.tk, "left", g.xr]];
  for (const [side, tokens, n, align, x] of sides) {
    for (let i = 0; i < n; i++) {
      const on = hover && hover.side === side && hover.i === i;
      if (!labels && !on) continue;
      ctx.textAlign = align;
      ctx.fillStyle = on ? "#c00" : "#222";
      ctx.fillText(tokens[i], x, yq(i));
    }
  }
  if (!labels) { // thin token ticks so long inputs still show their extent
    ctx.fillStyle = "#888";
    for (let i = 0; i < g.tq; i++) ctx.fillRect(g.xl - 6, g.top + i * g.rh, 6, Math.max(1, g.rh - 1));
    for (let j = 0; j < g.tk; j++) ctx.fillRect(g.xr, g.top + j * g.rh, 6, Math.max(1, g.rh - 1));
  }
}

// Head view: lines from each query token to the keys it attends to. Ready when the edges are this layer's
function drawHeadView({ model, ui, get, state }) {
  const { canvas, ctx } = ui;
  const mt = meta(model);
  const g = headGeometry(model);
  sizeCanvas(canvas, HEAD_W, g.h);
  const idx = get("edge_index"), w = get("edge_weight");
  const em = model.get("edge_meta") || {};
  if (!idx || !w) return false;
  drawSegments(ctx, mt, g);
  drawEdges(ctx, model, g, idx, w, state.hover);
  drawTokenLabels(ctx, mt, g, state.hover);
  ctx.fillStyle = "#555"; ctx.textAlign = "left"; ctx.font = "11px sans-serif";
  const shown = em.complete ? "all edges" : "top " + w.shape[2] + " keys per query";
  ctx.fillText(`layer ${model.get("layer")} · ${shown} · hover a token to isolate it`, 4, 10);
  return em.layer === model.get("layer");
}

// The token under the pointer: {side: "q"|"k", i} or null
function headHoverTarget({ model, ui }, ev) {
  const { x, y } = canvasPoint(ui.canvas, ev);
  const g = headGeometry(model);
  const i = Math.floor((y - g.top) / g.rh);
  if (x < HEAD_W / 2 && i >= 0 && i < g.tq) return { side: "q", i };
  if (x >= HEAD_W / 2 && i >= 0 && i < g.tk) return { side: "k", i };
  return null;
}

// ---------------------------------------------------------------- matrix view

function fullWindow(model) {
  const mt = meta(model);
  return [0, (mt.query_tokens || []).length, 0, (mt.key_tokens || []).length];
}

// Row labels (tokens when they fit, else token positions) and rotated column labels
function drawMatrixLabels(ctx, mt, win) {
  const ox = MATRIX_OFFSET, oy = MATRIX_OFFSET, W = MATRIX_PX, Hh = MATRIX_PX;
  const nq = win[1] - win[0], nk = win[3] - win[2];
  const qt = mt.query_tokens || [], kt = mt.key_tokens || [];
  ctx.fillStyle = "#222"; ctx.font = "10px sans-serif"; ctx.textBaseline = "middle";
  ctx.textAlign = "right";
  if (W / nq >= 9) for (let i = 0; i < nq; i++) ctx.fillText(qt[win[0] + i], ox - 3, oy + (i + 0.5) * (Hh / nq));
  else for (let t = 0; t <= 4; t++) ctx.fillText(String(Math.round(win[0] + (nq * t) / 4)), ox - 3, oy + (Hh * t) / 4);
  ctx.save();
  ctx.translate(ox, oy - 3); ctx.rotate(-Math.PI / 2); ctx.textAlign = "left";
  if (W / nk >= 9) for (let j = 0; j < nk; j++) ctx.fillText(kt[win[2] + j], 0, (j + 0.5) * (W / nk));
  else for (let t = 0; t <= 4; t++) ctx.fillText(String(Math.round(win[2] + (nk * t) / 4)), 0, (W * t) / 4);
  ctx.restore();
}

// Matrix view: the head-mean heatmap of the window; zooms first in the browser (from the data it
// has), then sharper once the kernel sends the window. Ready when the matrix is this layer's
function drawMatrixView({ model, ui, get, state }) {
  const { canvas, ctx } = ui;
  const m = get("matrix");
  const mm = model.get("matrix_meta") || {};
  sizeCanvas(canvas, MATRIX_PX + 110, MATRIX_PX + 110);
  if (!m) { ctx.fillStyle = "#555"; ctx.fillText("loading…", 20, 20); return false; }
  const have = mm.window || fullWindow(model);
  const win = state.zoom || have;
  const img = matrixImage(m);
  // source rectangle of the buffer that covers `win` (client-side zoom until sharper data arrives)
  const sy = ((win[0] - have[0]) / (have[1] - have[0])) * img.rows, sh = ((win[1] - win[0]) / (have[1] - have[0])) * img.rows;
  const sx = ((win[2] - have[2]) / (have[3] - have[2])) * img.cols, sw = ((win[3] - win[2]) / (have[3] - have[2])) * img.cols;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(img.canvas, sx, sy, Math.max(sw, 1e-3), Math.max(sh, 1e-3), MATRIX_OFFSET, MATRIX_OFFSET, MATRIX_PX, MATRIX_PX);
  ctx.strokeStyle = "#999"; ctx.strokeRect(MATRIX_OFFSET, MATRIX_OFFSET, MATRIX_PX, MATRIX_PX);
  drawMatrixLabels(ctx, meta(model), win);
  ctx.fillStyle = "#555"; ctx.textAlign = "left"; ctx.font = "11px sans-serif";
  ctx.fillText(`layer ${model.get("layer")} · heads ${selectedHeads(model).join(",")} · queries ${win[0]}–${win[1]} × keys ${win[2]}–${win[3]} · wheel to zoom, double-click to reset`, 4, 10);
  return mm.layer === model.get("layer");
}

// The window after one wheel step around the pointer: [q0, q1, k0, k1]
function zoomedWindow({ model, ui, state }, ev) {
  const p = canvasPoint(ui.canvas, ev);
  const x = p.x - MATRIX_OFFSET, y = p.y - MATRIX_OFFSET;
  const full = fullWindow(model);
  const win = state.zoom || (model.get("matrix_meta") || {}).window || full;
  const f = ev.deltaY < 0 ? 0.7 : 1 / 0.7;
  const fx = Math.max(0, Math.min(1, x / MATRIX_PX)), fy = Math.max(0, Math.min(1, y / MATRIX_PX));
  const span = (a, b, frac, n0, n1) => {
    const n = Math.max(4, Math.min(n1 - n0, Math.round((b - a) * f)));
    let s = Math.round(a + (b - a) * frac - n * frac);
    s = Math.max(n0, Math.min(n1 - n, s));
    return [s, s + n];
  };
  const [q0, q1] = span(win[0], win[1], fy, full[0], full[1]);
  const [k0, k1] = span(win[2], win[3], fx, full[2], full[3]);
  return [q0, q1, k0, k1];
}

// ---------------------------------------------------------------- model view

// One thumbnail cell per (layer, head), sized so every column fits the room the panel has beside its
// summaries (the last column was cut when the output was narrower than 12 heads x 64 px); 16 px at least,
// below that the view scrolls.
function modelGeometry(model, ui) {
  const mt = meta(model);
  const L = (mt.layers || []).length, H = mt.num_heads || 0, ox = 36, oy = 30;
  const room = ui ? ui.body.clientWidth - ui.side.offsetWidth - 12 - 2 : 0; // the flex gap, the scroller's border
  const width = room > 100 ? room : 740;
  const cell = Math.max(16, Math.min(64, Math.floor((width - ox - 4) / Math.max(H, 1))));
  return { L, H, cell, ox, oy };
}

// Model view: a thumbnail of every head of every layer; the open head framed in red
function drawModelView({ model, ui, get }) {
  const { canvas, ctx } = ui;
  const g = modelGeometry(model, ui);
  ui.modelGeometry = g; // clicks map through the geometry drawn
  ui.root.dataset.modelCell = String(g.cell);
  canvas.style.maxWidth = "100%"; // and never wider than its box: where the output is not laid out yet (no width
  canvas.style.height = "auto";   // to measure), the canvas scales down instead of hiding its last column
  sizeCanvas(canvas, g.ox + g.H * g.cell + 4, g.oy + g.L * g.cell + 4);
  const t = get("thumbs");
  ctx.fillStyle = "#555"; ctx.font = "11px sans-serif"; ctx.textBaseline = "middle";
  ctx.fillText("layers × heads · click a thumbnail to open it in the head view", 4, 9);
  if (!t) return false;
  const [L, H, s1, s2] = t.shape;
  const layers = meta(model).layers || [];
  const open = selectedHeads(model);
  for (let l = 0; l < L; l++) {
    ctx.fillStyle = "#333"; ctx.textAlign = "right";
    ctx.fillText(`L${layers[l]}`, g.ox - 4, g.oy + (l + 0.5) * g.cell);
    for (let h = 0; h < H; h++) {
      if (l === 0) { ctx.textAlign = "center"; ctx.fillText(`H${h}`, g.ox + (h + 0.5) * g.cell, g.oy - 8); }
      const sub = { data: t.data.subarray((l * H + h) * s1 * s2, (l * H + h + 1) * s1 * s2), shape: [1, s1, s2] };
      const img = matrixImage(sub, 0.5);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(img.canvas, g.ox + h * g.cell + 1, g.oy + l * g.cell + 1, g.cell - 2, g.cell - 2);
      if (layers[l] === model.get("layer") && open.length === 1 && open[0] === h) {
        ctx.strokeStyle = "#c00"; ctx.strokeRect(g.ox + h * g.cell + 0.5, g.oy + l * g.cell + 0.5, g.cell - 1, g.cell - 1);
      }
    }
  }
  return true;
}

// The (layer, head) of the thumbnail under the pointer, or null
function modelCellAt({ model, ui }, ev) {
  const g = ui.modelGeometry || modelGeometry(model, ui);
  const p = canvasPoint(ui.canvas, ev);
  const h = Math.floor((p.x - g.ox) / g.cell), l = Math.floor((p.y - g.oy) / g.cell);
  if (h < 0 || h >= g.H || l < 0 || l >= g.L) return null;
  return { layer: (meta(model).layers || [])[l], head: h };
}

// ---------------------------------------------------------------- summaries

// Head-mean and rollout heatmaps of the layer (rollout blank where it is not defined)
function drawSummaries({ model, ui, get }) {
  const s = get("summary");
  const sm = model.get("summary_meta") || {};
  ui.sumCaps[0].textContent = `mean over heads · layer ${model.get("layer")}`;
  ui.sumCaps[1].textContent = sm.rollout === false ? "rollout: not defined for this attention kind" : `rollout through layer ${model.get("layer")}`;
  for (let z = 0; z < 2; z++) {
    const c = ui.sumCanvases[z], cx = sizeCanvas(c, SUMMARY_PX, SUMMARY_PX);
    if (!s || (z === 1 && sm.rollout === false)) continue;
    const img = matrixImage(slice3(s, z));
    cx.imageSmoothingEnabled = false;
    cx.drawImage(img.canvas, 0, 0, SUMMARY_PX, SUMMARY_PX);
  }
}

// Entropy table: one cell per (layer, head), darker = more focused
function drawEntropy({ model, ui, get }) {
  const e = get("entropy");
  const mt = meta(model);
  if (!e) return;
  const [L, H] = e.shape;
  const { cell, ox, oy } = ENTROPY;
  const c = ui.entCanvas;
  const ex = sizeCanvas(c, ox + H * cell + 2, oy + L * cell + 2);
  const maxE = Math.log(Math.max(2, (mt.key_tokens || []).length));
  ex.font = "9px sans-serif"; ex.textBaseline = "middle"; ex.textAlign = "center"; ex.fillStyle = "#333";
  for (let h = 0; h < H; h++) ex.fillText(String(h), ox + (h + 0.5) * cell, 6);
  for (let l = 0; l < L; l++) {
    ex.textAlign = "right"; ex.fillStyle = "#333";
    ex.fillText(`L${mt.layers[l]}`, ox - 3, oy + (l + 0.5) * cell);
    for (let h = 0; h < H; h++) {
      const [r, g, b] = heatColor(1 - e.data[l * H + h] / maxE);
      ex.fillStyle = `rgb(${r},${g},${b})`;
      ex.fillRect(ox + h * cell + 1, oy + l * cell + 1, cell - 2, cell - 2);
    }
  }
}

// The entropy cell under the pointer: {l, h, nats, uniform} or null
function entropyCellAt({ model, ui, get }, ev) {
  const e = get("entropy");
  if (!e) return null;
  const [L, H] = e.shape;
  const r = ui.entCanvas.getBoundingClientRect();
  const h = Math.floor((ev.clientX - r.left - ENTROPY.ox) / ENTROPY.cell);
  const l = Math.floor((ev.clientY - r.top - ENTROPY.oy) / ENTROPY.cell);
  if (h < 0 || h >= H || l < 0 || l >= L) return null;
  const mt = meta(model);
  return { layer: mt.layers[l], h, nats: e.data[l * H + h], uniform: Math.log(Math.max(2, (mt.key_tokens || []).length)) };
}

// ---------------------------------------------------------------- wiring

function render({ model, el }) {
  const ui = buildDom(el, model);
  const state = { hover: null, zoom: null }; // hover: {side: "q"|"k", i}; zoom: matrix window being shown
  const view = { model, ui, get: arrayReader(model), state };
  const { root, canvas } = ui;
  let pending = null; // the zoom request waiting to go to the kernel
  let raf = 0;

  // Redraw everything from the traits (called through schedule(), at most once per frame)
  function draw() {
    const t0 = performance.now();
    drawError(view);
    drawBadge(view);
    drawControls(view);
    const v = model.get("view");
    canvas.onmousemove = v === "head" ? onHeadHover : null;
    canvas.onmouseleave = v === "head" ? onHeadLeave : null;
    canvas.onwheel = v === "matrix" ? onMatrixWheel : null;
    canvas.ondblclick = v === "matrix" ? onMatrixReset : null;
    canvas.onclick = v === "model" ? onModelClick : null;
    if (v !== "model") { canvas.style.maxWidth = ""; canvas.style.height = ""; } // head and matrix views scroll
    if (!meta(model).layers) { sizeCanvas(canvas, 10, 10); return; }
    const ready = v === "head" ? drawHeadView(view) : v === "matrix" ? drawMatrixView(view) : drawModelView(view);
    root.dataset.ready = ready ? "1" : "0";
    drawSummaries(view);
    drawEntropy(view);
    root.dataset.drawMs = (performance.now() - t0).toFixed(1);
    root.dataset.layer = String(model.get("layer"));
    root.dataset.edgeLayer = String((model.get("edge_meta") || {}).layer);
    root.dataset.view = v;
    root.dataset.frames = String(parseInt(root.dataset.frames || "0", 10) + 1);
  }
  const schedule = () => { if (!raf) raf = requestAnimationFrame(() => { raf = 0; draw(); }); };

  function setHover(next) {
    if (JSON.stringify(next) === JSON.stringify(state.hover)) return;
    state.hover = next;
    root.dataset.hover = next ? `${next.side}${next.i}` : "";
    const mt = meta(model);
    ui.info.textContent = next ? `${next.side === "q" ? "query" : "key"} ${next.i}: ${(next.side === "q" ? mt.query_tokens : mt.key_tokens)[next.i]}` : "";
    draw();
  }
  function onHeadHover(ev) { setHover(headHoverTarget(view, ev)); }
  function onHeadLeave() { setHover(null); }
  function onMatrixWheel(ev) {
    ev.preventDefault();
    state.zoom = zoomedWindow(view, ev);
    draw();
    clearTimeout(pending);
    pending = setTimeout(() => save(model, { window: state.zoom }), 150);
  }
  function onMatrixReset() { state.zoom = null; save(model, { window: [] }); draw(); }
  function onModelClick(ev) {
    const hit = modelCellAt(view, ev);
    if (hit) openHead(model, hit.layer, hit.head);
  }
  ui.entCanvas.onmousemove = (ev) => {
    const hit = entropyCellAt(view, ev);
    ui.entCanvas.title = hit ? `layer ${hit.layer} head ${hit.h}: ${hit.nats.toFixed(2)} nats (uniform: ${hit.uniform.toFixed(2)})` : "";
  };
  ui.entCanvas.onclick = (ev) => {
    const hit = entropyCellAt(view, ev);
    if (hit) openHead(model, hit.layer, hit.h);
  };

  const onMatrix = () => {
    const mm = model.get("matrix_meta") || {};
    if (state.zoom && mm.window && mm.window.join() === state.zoom.join()) state.zoom = null; // sharper data for the zoom arrived
    schedule();
  };
  const onView = () => { state.hover = null; };
  // An array and its *_meta arrive in one message, as separate change events: the redraw is coalesced.
  const names = ["meta", "view", "layer", "heads", "edge_index", "edge_weight", "edge_meta", "thumbs",
    "summary", "summary_meta", "entropy", "error", "untrained"];
  for (const n of names) model.on(`change:${n}`, schedule);
  model.on("change:matrix", onMatrix);
  model.on("change:matrix_meta", onMatrix);
  model.on("change:view", onView);
  // the model view sizes its cells to the output's width: redraw it when that changes
  let lastWidth = 0;
  const resized = new ResizeObserver(() => {
    const w = ui.body.clientWidth;
    if (w !== lastWidth) { lastWidth = w; if (model.get("view") === "model") schedule(); }
  });
  resized.observe(ui.body);
  // a page zoom changes the pixel density and resizes the window (CSS pixels): redraw at the new density
  let density = window.devicePixelRatio || 1;
  const onDensity = () => {
    if ((window.devicePixelRatio || 1) !== density) { density = window.devicePixelRatio || 1; schedule(); }
  };
  window.addEventListener("resize", onDensity);
  draw();
  return () => {
    resized.disconnect();
    window.removeEventListener("resize", onDensity);
    for (const n of names) model.off(`change:${n}`, schedule);
    model.off("change:matrix", onMatrix);
    model.off("change:matrix_meta", onMatrix);
    model.off("change:view", onView);
    if (raf) cancelAnimationFrame(raf);
    clearTimeout(pending);
  };
}

export default { render };
