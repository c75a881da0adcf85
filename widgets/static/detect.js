// Detect front end: the photo, every object query's box, and where each query looked, on canvas.
// Shipped inside the widgets package; no network. The kernel sends the detections once per image
// (WireArray traits: boxes, scores, label_ids, source, query, heat); everything after that happens
// here with no message to the kernel: the threshold and opacity sliders, the class chips, the
// overlay / side-by-side switch, hover (tooltip; the smallest box under the pointer wins), click
// (pins the box and cycles through overlapping ones) and the query's cross-attention heat map.
//
// Layout of this file: constants; the view state and its filters (visibleRows, hits); buildDom;
// drawing (drawPanel, drawBoxes, draw); pointer handling; render(), which wires trait changes to one
// coalesced redraw (requestAnimationFrame) and returns the cleanup function.
// Open-vocabulary models (meta has guided): "find similar" turns the next drag on the photo into an example box,
// sent to the kernel (example_box) which runs image-guided detection; the example stays drawn dashed.
import { arrayReader } from "./_arrays.js";
import { el_, bitmapOf, heatCanvas, canvasPoint, drawStatus } from "./_imagecanvas.js";

const MAX_W = 760; // one canvas (overlay)
const SIDE_W = 470; // each canvas side by side
const PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324", "#800000",
  "#469990", "#000075", "#808000", "#bfef45", "#fabed4", "#dcbeff", "#ffd8b1"];
const MODEL_COLORS = ["#ff7f0e", "#1f77b4", "#2ca02c", "#d62728"];
const LABELS_UP_TO = 400; // more visible boxes than this: outlines only, labels on hover

// ---------------------------------------------------------------- state and filters

function meta(model) {
  return model.get("meta") || {};
}

// Rows drawn: score at least the threshold, class not hidden (cached until an input changes)
function visibleRows(s, get) {
  const scores = get("scores"), labels = get("label_ids");
  const key = `${s.threshold}|${[...s.hidden].join(",")}|${s.version}`;
  if (s.visibleKey === key) return s.visible;
  const out = [];
  if (scores) {
    for (let i = 0; i < scores.data.length; i++) {
      if (scores.data[i] >= s.threshold && !s.hidden.has(labels.data[i])) out.push(i);
    }
  }
  s.visible = out;
  s.visibleKey = key;
  return out;
}

// Visible boxes of `models` under image point (x, y), smallest area first
function hits(s, get, models, x, y) {
  const b = get("boxes"), src = get("source");
  const found = [];
  for (const i of visibleRows(s, get)) {
    if (!models.includes(src.data[i])) continue;
    const x0 = b.data[4 * i], y0 = b.data[4 * i + 1], x1 = b.data[4 * i + 2], y1 = b.data[4 * i + 3];
    if (x >= x0 && x <= x1 && y >= y0 && y <= y1) found.push([i, (x1 - x0) * (y1 - y0)]);
  }
  found.sort((a, c) => a[1] - c[1] || a[0] - c[0]);
  return found.map((f) => f[0]);
}

function rowColor(model, get, i) {
  const nModels = (meta(model).models || []).length;
  return nModels > 1 ? MODEL_COLORS[get("source").data[i] % MODEL_COLORS.length]
    : PALETTE[get("label_ids").data[i] % PALETTE.length];
}

function rowText(model, get, i) {
  const mt = meta(model);
  const label = (mt.labels || [])[get("label_ids").data[i]] || "?";
  return `${label} ${get("scores").data[i].toFixed(2)}`;
}

// ---------------------------------------------------------------- the elements

function slider(bar, cls, text, value) {
  const label = el_("label", "", bar, text);
  const input = el_("input", cls, label);
  input.type = "range"; input.min = "0"; input.max = "1"; input.step = "0.001"; input.value = String(value);
  const out = el_("span", cls + "-value", label, Number(value).toFixed(3));
  return { input, out };
}

function buildDom(el, model) {
  const root = el_("div", "wb-vis wb-detect", el);
  const errBox = el_("div", "wb-vis-error", root);
  const badge = el_("div", "wb-untrained", root);
  const bar = el_("div", "wb-vis-bar", root);
  const thr = slider(bar, "wb-detect-threshold", "score \u2265 ", model.get("threshold"));
  const op = slider(bar, "wb-detect-opacity", "opacity ", model.get("opacity"));
  const layoutBtn = el_("button", "wb-detect-layout", bar, "side by side");
  const clearBtn = el_("button", "wb-detect-all", bar, "all classes");
  const similarBtn = el_("button", "wb-detect-similar", bar, "find similar");
  similarBtn.title = "drag a box around an example on the photo: the model finds objects like it";
  const chips = el_("div", "wb-vis-classes", root);
  const canvases = el_("div", "wb-vis-canvases", root);
  const tip = el_("div", "wb-vis-tip", root);
  const info = el_("div", "wb-vis-info", root);
  return { root, errBox, badge, thr, op, layoutBtn, clearBtn, similarBtn, chips, canvases, tip, info, panels: [] };
}

// One canvas per group of models: all together (overlay) or one each (side by side)
function layoutPanels(s, ui, model) {
  const mt = meta(model);
  const n = (mt.models || []).length || 1;
  const groups = s.layout === "side" && n > 1 ? Array.from({ length: n }, (_, m) => [m]) : [Array.from({ length: n }, (_, m) => m)];
  const key = JSON.stringify([groups, mt.width, mt.height]);
  if (ui.panelsKey === key) return;
  ui.panelsKey = key;
  ui.canvases.innerHTML = "";
  const w = mt.width || 1, h = mt.height || 1;
  const cw = Math.min(w, groups.length > 1 ? SIDE_W : MAX_W);
  ui.panels = groups.map((models) => {
    const box = el_("div", "wb-vis-panel", ui.canvases);
    const canvas = el_("canvas", "wb-vis-canvas wb-detect-canvas", box);
    canvas.width = Math.round(cw); canvas.height = Math.round((h * cw) / w);
    canvas.dataset.models = models.join(",");
    const cap = el_("div", "wb-vis-cap", box, groups.length > 1 ? (mt.models || [])[models[0]] || "" : "");
    return { models, canvas, ctx: canvas.getContext("2d"), scale: cw / w, cap };
  });
}

// Class chips: one per label that has a box over the threshold (click: hide/show that class)
function drawChips(s, ui, model, get) {
  const mt = meta(model);
  const labels = mt.labels || [];
  const present = new Map();
  const scores = get("scores"), ids = get("label_ids");
  if (scores) {
    for (let i = 0; i < scores.data.length; i++) {
      if (scores.data[i] >= s.threshold) present.set(ids.data[i], (present.get(ids.data[i]) || 0) + 1);
    }
  }
  const key = [...present.entries()].sort((a, b) => a[0] - b[0]).map((e) => e.join(":")).join(",") + "|" + [...s.hidden].join(",");
  if (ui.chipsKey === key) return;
  ui.chipsKey = key;
  ui.chips.innerHTML = "";
  const ordered = [...present.keys()].sort((a, b) => present.get(b) - present.get(a) || a - b).slice(0, 40);
  for (const id of ordered) {
    const chip = el_("button", "wb-vis-chip", ui.chips, `${labels[id] || id} (${present.get(id)})`);
    chip.style.borderColor = PALETTE[id % PALETTE.length];
    chip.dataset.label = String(id);
    chip.classList.toggle("wb-off", s.hidden.has(id));
    chip.onclick = () => {
      if (s.hidden.has(id)) s.hidden.delete(id); else s.hidden.add(id);
      s.schedule();
    };
  }
}

// ---------------------------------------------------------------- drawing

function drawBoxes(s, model, get, p, rows) {
  const { ctx, scale } = p;
  const b = get("boxes");
  const withLabels = rows.length <= LABELS_UP_TO;
  ctx.save();
  ctx.globalAlpha = s.opacity;
  ctx.lineWidth = 2;
  ctx.font = "11px system-ui, sans-serif";
  ctx.textBaseline = "bottom";
  for (const i of rows) {
    const x0 = b.data[4 * i] * scale, y0 = b.data[4 * i + 1] * scale;
    const w = (b.data[4 * i + 2] - b.data[4 * i]) * scale, h = (b.data[4 * i + 3] - b.data[4 * i + 1]) * scale;
    const color = rowColor(model, get, i);
    ctx.strokeStyle = color;
    ctx.strokeRect(x0, y0, w, h);
    if (withLabels) {
      const text = rowText(model, get, i);
      const tw = ctx.measureText(text).width + 6;
      ctx.fillStyle = color;
      ctx.fillRect(x0, Math.max(0, y0 - 14), tw, 14);
      ctx.fillStyle = "#fff";
      ctx.fillText(text, x0 + 3, Math.max(14, y0));
    }
  }
  ctx.restore();
}

function drawPanel(s, model, get, p) {
  const { ctx, canvas, scale } = p;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (s.bitmap) ctx.drawImage(s.bitmap, 0, 0, canvas.width, canvas.height);
  const src = get("source");
  const rows = visibleRows(s, get).filter((i) => p.models.includes(src.data[i]));
  const focus = s.pinned >= 0 ? s.pinned : s.hover;
  let heatShown = false;
  const heat = get("heat");
  if (focus >= 0 && heat && p.models.includes(src.data[focus])) {
    const [, gr, gc] = heat.shape;
    ctx.save();
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(heatCanvas(heat.data, focus * gr * gc, gr, gc, 0.75), 0, 0, canvas.width, canvas.height);
    ctx.restore();
    heatShown = true;
  }
  drawBoxes(s, model, get, p, rows);
  if (focus >= 0 && p.models.includes(src.data[focus])) { // the focused box on top, thick, with its label
    const b = get("boxes");
    const x0 = b.data[4 * focus] * scale, y0 = b.data[4 * focus + 1] * scale;
    const w = (b.data[4 * focus + 2] - b.data[4 * focus]) * scale, h = (b.data[4 * focus + 3] - b.data[4 * focus + 1]) * scale;
    ctx.save();
    ctx.lineWidth = 5; ctx.strokeStyle = "#fff"; ctx.strokeRect(x0, y0, w, h);
    ctx.lineWidth = 3; ctx.strokeStyle = rowColor(model, get, focus); ctx.strokeRect(x0, y0, w, h);
    ctx.restore();
  }
  drawExample(s, model, p);
  return { drawn: rows.length, heatShown };
}

// The example box: being dragged (s.drag) or the one the current boxes were found from (meta.example), dashed
function drawExample(s, model, p) {
  const box = s.drag ? [s.drag.x0, s.drag.y0, s.drag.x1, s.drag.y1] : meta(model).example;
  if (!box || box.length !== 4) return;
  const { ctx, scale } = p;
  const x0 = Math.min(box[0], box[2]) * scale, y0 = Math.min(box[1], box[3]) * scale;
  const w = Math.abs(box[2] - box[0]) * scale, h = Math.abs(box[3] - box[1]) * scale;
  ctx.save();
  ctx.lineWidth = 4; ctx.strokeStyle = "#000"; ctx.setLineDash([]); ctx.strokeRect(x0, y0, w, h);
  ctx.lineWidth = 2; ctx.strokeStyle = "#fff"; ctx.setLineDash([6, 4]); ctx.strokeRect(x0, y0, w, h);
  ctx.restore();
}

// Redraw every canvas now; returns the milliseconds it took (also kept in data-draw-ms)
function draw(s, ui, model, get) {
  const t0 = performance.now();
  drawStatus(model, ui.errBox, ui.badge);
  ui.root.classList.toggle("wb-vis-busy", !!model.get("busy"));
  layoutPanels(s, ui, model);
  const nModels = (meta(model).models || []).length;
  ui.layoutBtn.style.display = nModels > 1 ? "" : "none";
  ui.layoutBtn.classList.toggle("wb-active", s.layout === "side");
  ui.clearBtn.style.display = s.hidden.size ? "" : "none";
  ui.similarBtn.style.display = model.get("guided") ? "" : "none";
  ui.similarBtn.classList.toggle("wb-active", s.drawMode);
  ui.root.classList.toggle("wb-detect-drawing", s.drawMode);
  ui.thr.out.textContent = s.threshold.toFixed(3);
  ui.op.out.textContent = s.opacity.toFixed(2);
  drawChips(s, ui, model, get);
  let drawn = 0, heatShown = false;
  for (const p of ui.panels) {
    const r = drawPanel(s, model, get, p);
    drawn += r.drawn; heatShown = heatShown || r.heatShown;
  }
  const ms = performance.now() - t0;
  const d = ui.root.dataset;
  d.drawn = String(drawn);
  d.heat = heatShown ? "1" : "0";
  d.hover = String(s.pinned >= 0 ? s.pinned : s.hover);
  d.threshold = s.threshold.toFixed(3);
  d.layout = s.layout;
  d.drawMs = ms.toFixed(3);
  d.ready = s.bitmap ? "1" : "0";
  d.drawMode = s.drawMode ? "1" : "0";
  const mt = meta(model);
  ui.info.textContent = mt.name ? `${drawn} box${drawn === 1 ? "" : "es"} shown \u00b7 ${mt.name}` : "";
  return ms;
}

// ---------------------------------------------------------------- pointer

function onMove(s, ui, model, get, p, ev) {
  const pt = canvasPoint(p.canvas, ev);
  const list = hits(s, get, p.models, pt.x / p.scale, pt.y / p.scale);
  const same = list.length === s.stack.length && list.every((v, k) => v === s.stack[k]);
  if (!same) { s.stack = list; s.stackIndex = 0; }
  const row = list.length ? list[s.stackIndex % list.length] : -1;
  if (row >= 0) {
    const mt = meta(model);
    const models = mt.models || [];
    let text = `${rowText(model, get, row)} \u00b7 query ${get("query").data[row]}`;
    if (models.length > 1) text += ` \u00b7 ${models[get("source").data[row]]}`;
    if (list.length > 1) text += ` \u00b7 ${(s.stackIndex % list.length) + 1}/${list.length}, click for the next`;
    ui.tip.textContent = text;
    const r = ui.root.getBoundingClientRect();
    ui.tip.style.left = `${ev.clientX - r.left + 12}px`;
    ui.tip.style.top = `${ev.clientY - r.top + 12}px`;
    ui.tip.style.display = "block";
  } else {
    ui.tip.style.display = "none";
  }
  if (row !== s.hover) { s.hover = row; s.schedule(); }
}

function onClick(s, ui, model, get, p, ev) {
  if (s.stack.length > 1 && s.pinned >= 0 && s.stack.includes(s.pinned)) s.stackIndex = (s.stackIndex + 1) % s.stack.length;
  onMove(s, ui, model, get, p, ev);
  s.pinned = s.hover;
  s.schedule();
}

// ---------------------------------------------------------------- wiring

function render({ model, el }) {
  const get = arrayReader(model);
  const ui = buildDom(el, model);
  const s = {
    threshold: model.get("threshold"), opacity: model.get("opacity"), layout: model.get("arrangement"),
    hidden: new Set(), hover: -1, pinned: -1, stack: [], stackIndex: 0, bitmap: null, version: 0, frame: 0,
    drawMode: false, drag: null,
  };
  const classesFromKernel = () => {
    const shown = model.get("classes") || [];
    s.hidden = new Set(shown.length ? (meta(model).labels || []).map((_, i) => i).filter((i) => !shown.includes(i)) : []);
  };
  classesFromKernel();
  s.schedule = () => {
    if (!s.frame) s.frame = requestAnimationFrame(() => { s.frame = 0; draw(s, ui, model, get); });
  };
  const loadImage = async () => {
    s.bitmap = await bitmapOf(model.get("image"));
    s.schedule();
  };
  // browser-only controls: no save_changes, so nothing goes to the kernel
  ui.thr.input.oninput = () => { s.threshold = parseFloat(ui.thr.input.value); s.schedule(); };
  ui.op.input.oninput = () => { s.opacity = parseFloat(ui.op.input.value); s.schedule(); };
  ui.layoutBtn.onclick = () => { s.layout = s.layout === "side" ? "overlay" : "side"; s.schedule(); };
  ui.clearBtn.onclick = () => { s.hidden.clear(); s.schedule(); };
  ui.similarBtn.onclick = () => { s.drawMode = !s.drawMode; s.drag = null; s.schedule(); };
  const imagePoint = (p, ev) => { const pt = canvasPoint(p.canvas, ev); return { x: pt.x / p.scale, y: pt.y / p.scale }; };
  ui.canvases.addEventListener("mousedown", (ev) => {
    const p = ui.panels.find((q) => q.canvas === ev.target);
    if (!p || !s.drawMode) return;
    const pt = imagePoint(p, ev);
    s.drag = { p, x0: pt.x, y0: pt.y, x1: pt.x, y1: pt.y };
    ev.preventDefault();
  });
  ui.canvases.addEventListener("mousemove", (ev) => {
    const p = ui.panels.find((q) => q.canvas === ev.target);
    if (s.drag) {
      const pt = imagePoint(s.drag.p, ev);
      s.drag.x1 = pt.x; s.drag.y1 = pt.y; s.schedule();
      return;
    }
    if (p) onMove(s, ui, model, get, p, ev);
  });
  ui.canvases.addEventListener("mouseup", () => {
    if (!s.drag) return;
    const { x0, y0, x1, y1 } = s.drag;
    s.drag = null; s.drawMode = false;
    if (Math.abs(x1 - x0) >= 4 && Math.abs(y1 - y0) >= 4) { // an example: the kernel finds objects like it
      model.set("example_box", [Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)]);
      model.save_changes();
    }
    s.justDragged = true;
    s.schedule();
  });
  ui.canvases.addEventListener("click", (ev) => {
    if (s.justDragged) { s.justDragged = false; return; } // the click that ends a drag pins nothing
    const p = ui.panels.find((q) => q.canvas === ev.target);
    if (p) onClick(s, ui, model, get, p, ev);
  });
  ui.canvases.addEventListener("mouseleave", () => {
    ui.tip.style.display = "none"; s.stack = []; s.hover = -1; s.schedule();
  });
  // values set from the kernel move the browser's controls
  const handlers = {
    "change:threshold": () => { s.threshold = model.get("threshold"); ui.thr.input.value = String(s.threshold); s.schedule(); },
    "change:opacity": () => { s.opacity = model.get("opacity"); ui.op.input.value = String(s.opacity); s.schedule(); },
    "change:arrangement": () => { s.layout = model.get("arrangement"); s.schedule(); },
    "change:classes": () => { classesFromKernel(); s.schedule(); },
    "change:image": loadImage,
    "change:boxes change:scores change:label_ids change:source change:heat change:meta": () => {
      s.version++; s.hover = -1; s.pinned = -1; s.stack = []; classesFromKernel(); s.schedule();
    },
    "change:error change:untrained change:busy change:guided": () => s.schedule(),
  };
  const each = (f) => { for (const [evs, fn] of Object.entries(handlers)) for (const ev of evs.split(" ")) f(ev, fn); };
  each((ev, fn) => model.on(ev, fn));
  ui.root.__wbRedraw = () => draw(s, ui, model, get); // benchmarks time a synchronous redraw
  loadImage();
  s.schedule();
  return () => {
    each((ev, fn) => model.off(ev, fn));
    if (s.frame) cancelAnimationFrame(s.frame);
    el.innerHTML = "";
  };
}

export default { render };
