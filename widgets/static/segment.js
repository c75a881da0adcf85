// Segment front end: the photo with its segments drawn over it, on canvas. Shipped inside the widgets package;
// no network. The kernel sends one label map per image (segmentation: uint16 (h, w), 0 = none, i + 1 = segment i)
// and/or soft masks (soft: uint8 (N, h, w), one heat map per prompt), with the segments' labels, scores, areas and
// colours in `meta`. Everything after that happens here with no message to the kernel: the legend (click a class
// or a prompt to hide or show it), the opacity slider, the heat maps' threshold slider (values below it are not
// drawn; each prompt's share of the photo at or above it is counted here), hover (label, score, area %; for heat
// maps every prompt's probability), a click that isolates a segment. Only the subtask menu (semantic / instance /
// panoptic) goes back to the kernel: it needs the model.
//
// Drawing: the overlay is built once per change of what is visible (a lookup table per segment, one pass over the
// label map into an ImageData at the map's size) and stretched over the photo with the opacity as globalAlpha, so
// moving the opacity slider only redraws two images. Layout of this file: constants and helpers; buildDom;
// overlays (labelOverlay, softOverlay); legend; draw; pointer; render() with its cleanup function.
import { arrayReader } from "./_arrays.js";
import { el_, bitmapOf, canvasPoint, drawStatus } from "./_imagecanvas.js";

const MAX_W = 760;
const FILL_ALPHA = 190; // a segment's fill before the opacity slider; edges and the hovered segment are opaque

function meta(model) {
  return model.get("meta") || {};
}

function rgbOf(hex) {
  return [parseInt(hex.slice(1, 3), 16), parseInt(hex.slice(3, 5), 16), parseInt(hex.slice(5, 7), 16)];
}

// little-endian RGBA packed in a Uint32 (what an ImageData's buffer holds)
function packed(r, g, b, a) {
  return ((a << 24) | (b << 16) | (g << 8) | r) >>> 0;
}

function pct(area) {
  if (area > 0 && area < 0.0001) return "<0.01%";
  return `${(100 * area).toFixed(area < 0.001 ? 2 : 1)}%`;
}

// ---------------------------------------------------------------- the elements

function buildDom(el) {
  const root = el_("div", "wb-vis wb-segment", el);
  const errBox = el_("div", "wb-vis-error", root);
  const badge = el_("div", "wb-untrained", root);
  const bar = el_("div", "wb-vis-bar", root);
  const opLabel = el_("label", "", bar, "opacity ");
  const op = el_("input", "wb-segment-opacity", opLabel);
  op.type = "range"; op.min = "0"; op.max = "1"; op.step = "0.01";
  const opOut = el_("span", "wb-segment-opacity-value", opLabel, "");
  const thrLabel = el_("label", "wb-segment-threshold-label", bar, "threshold ");
  const thr = el_("input", "wb-segment-threshold", thrLabel);
  thr.type = "range"; thr.min = "0"; thr.max = "1"; thr.step = "0.01";
  const thrOut = el_("span", "wb-segment-opacity-value", thrLabel, "");
  const subLabel = el_("label", "wb-segment-subtask-label", bar, "segments ");
  const subtask = el_("select", "wb-segment-subtask", subLabel);
  const allBtn = el_("button", "wb-segment-all", bar, "show all");
  const body = el_("div", "wb-segment-body", root);
  const canvasBox = el_("div", "wb-segment-canvasbox", body);
  const canvas = el_("canvas", "wb-vis-canvas wb-segment-canvas", canvasBox);
  const legendBox = el_("div", "wb-segment-legend", body);
  const tip = el_("div", "wb-vis-tip", root);
  const info = el_("div", "wb-vis-info", root);
  return { root, errBox, badge, op, opOut, thrLabel, thr, thrOut, subLabel, subtask, allBtn, canvas, ctx: canvas.getContext("2d"),
    legendBox, tip, info };
}

// ---------------------------------------------------------------- overlays

// The label map with boundary pixels coded apart (v + n + 1 for label v on an edge between two segments),
// computed once per label map, so a redraw is one lookup per pixel with no branch
function edgeCoded(seg, n) {
  const [h, w] = seg.shape, d = seg.data;
  const e = new Uint16Array(h * w);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      const p = row + x, v = d[p];
      e[p] = (x + 1 < w && d[p + 1] !== v) || (y + 1 < h && d[p + w] !== v) ? v + n + 1 : v;
    }
  }
  return e;
}

function offscreen(s, w, h) {
  if (!s.off || s.off.width !== w || s.off.height !== h) {
    s.off = document.createElement("canvas");
    s.off.width = w; s.off.height = h;
    s.offCtx = s.off.getContext("2d");
    s.img = s.offCtx.createImageData(w, h);
  }
  return s.img;
}

// Visible segments: class not hidden, and only the isolated one when a click isolated one
function segmentVisible(s, segs, i) {
  if (s.isolated >= 0 && i !== s.isolated) return false;
  return !s.hidden.has(segs[i].label_id);
}

function labelOverlay(s, model, get) {
  const seg = get("segmentation");
  const segs = meta(model).segments || [];
  const [h, w] = seg.shape;
  const img = offscreen(s, w, h);
  const out = new Uint32Array(img.data.buffer);
  const n = segs.length;
  const lut = new Uint32Array(2 * (n + 1)); // [0, n]: fills by label, [n + 1, 2n + 1]: edges by label
  let visible = 0;
  for (let i = 0; i < n; i++) {
    if (!segmentVisible(s, segs, i)) continue;
    visible++;
    const [r, g, b] = rgbOf(segs[i].color || "#888888");
    lut[i + 1] = packed(r, g, b, i === s.hover ? 255 : FILL_ALPHA);
    lut[i + n + 2] = packed(Math.round(r * 0.45), Math.round(g * 0.45), Math.round(b * 0.45), 255);
  }
  if (!s.coded || s.codedOf !== seg || s.codedN !== n) { s.coded = edgeCoded(seg, n); s.codedOf = seg; s.codedN = n; }
  const e = s.coded;
  for (let p = 0; p < e.length; p++) out[p] = lut[e[p]];
  s.offCtx.putImageData(img, 0, 0);
  return visible;
}

function softOverlay(s, model, get) {
  const soft = get("soft");
  const mt = meta(model);
  const [n, h, w] = soft.shape, d = soft.data;
  const img = offscreen(s, w, h);
  const out = new Uint32Array(img.data.buffer);
  const colors = (mt.soft_colors || []).map(rgbOf);
  const shown = [];
  for (let k = 0; k < n; k++) if (!s.hidden.has(k) && (s.isolated < 0 || s.isolated === k)) shown.push(k);
  const plane = h * w;
  const cut = s.threshold * 255; // a value v (0..255) is drawn when v / 255 >= threshold
  if (s.areasOf !== soft || s.areasCut !== cut) { // each prompt's share at or above the threshold
    s.areas = [];
    for (let k = 0; k < n; k++) {
      let c = 0;
      for (let p = k * plane, end = p + plane; p < end; p++) if (d[p] >= cut) c++;
      s.areas.push(c / plane);
    }
    s.areasOf = soft; s.areasCut = cut;
  }
  for (let p = 0; p < plane; p++) {
    let best = -1, val = 0;
    for (const k of shown) { const v = d[k * plane + p]; if (v > val) { val = v; best = k; } }
    if (best < 0 || val < cut) { out[p] = 0; continue; }
    const [r, g, b] = colors[best] || [255, 128, 0];
    out[p] = packed(r, g, b, best === s.hover ? Math.min(255, val + 40) : val);
  }
  s.offCtx.putImageData(img, 0, 0);
  return shown.length;
}

// ---------------------------------------------------------------- legend

// Rows: one per class present (label maps) or one per prompt (soft masks)
function legendRows(s, model, get) {
  const mt = meta(model);
  if (get("soft")) {
    const scores = mt.soft_scores || [], areas = s.areas || [];
    return (mt.soft_labels || []).map((label, k) => ({
      key: k, label, color: (mt.soft_colors || [])[k],
      note: `max ${(scores[k] || 0).toFixed(2)} \u00b7 ${pct(areas[k] || 0)}` }));
  }
  const rows = new Map();
  for (const sg of mt.segments || []) {
    const r = rows.get(sg.label_id) || { key: sg.label_id, label: sg.label, color: sg.color, count: 0, area: 0 };
    r.count++; r.area += sg.area || 0;
    rows.set(sg.label_id, r);
  }
  return [...rows.values()].sort((a, b) => b.area - a.area || a.key - b.key)
    .map((r) => ({ ...r, note: `${pct(r.area)}${r.count > 1 ? ` \u00b7 ${r.count}` : ""}` }));
}

function drawLegend(s, ui, model, get) {
  const rows = legendRows(s, model, get);
  const key = JSON.stringify(rows.map((r) => [r.key, r.label, r.note]));
  if (ui.legendKey !== key) { // new segments: rebuild the rows; a toggle only restyles them (below)
    ui.legendKey = key;
    ui.legendBox.innerHTML = "";
    for (const r of rows) {
      const row = el_("button", "wb-segment-class", ui.legendBox);
      row.dataset.key = String(r.key);
      const sw = el_("span", "wb-segment-swatch", row);
      sw.style.background = r.color || "#888";
      el_("span", "wb-segment-name", row, r.label);
      if (r.note) el_("span", "wb-segment-note", row, r.note);
      row.onclick = () => {
        if (s.hidden.has(r.key)) s.hidden.delete(r.key); else s.hidden.add(r.key);
        s.dirty = true; s.schedule();
      };
    }
  }
  for (const row of ui.legendBox.children) {
    const off = s.hidden.has(Number(row.dataset.key));
    if (row.classList.contains("wb-off") !== off) row.classList.toggle("wb-off", off);
    row.title = off ? "click to show" : "click to hide";
  }
}

// ---------------------------------------------------------------- drawing

function fillSubtasks(ui, mt) {
  const options = mt.subtasks || [];
  const key = options.join(",");
  if (ui.subKey !== key) {
    ui.subKey = key;
    ui.subtask.innerHTML = "";
    for (const o of options) { const opt = el_("option", "", ui.subtask, o); opt.value = o; }
  }
  ui.subLabel.style.display = options.length > 1 ? "" : "none";
  if (mt.subtask) ui.subtask.value = mt.subtask;
}

function layoutCanvas(ui, mt) {
  const w = mt.width || 1, h = mt.height || 1;
  const cw = Math.round(Math.min(w, MAX_W)), ch = Math.round((h * cw) / w);
  if (ui.canvas.width !== cw || ui.canvas.height !== ch) { ui.canvas.width = cw; ui.canvas.height = ch; }
}

// Redraw now; returns the milliseconds it took (also kept in data-draw-ms)
function draw(s, ui, model, get) {
  const t0 = performance.now();
  drawStatus(model, ui.errBox, ui.badge);
  ui.root.classList.toggle("wb-vis-busy", !!model.get("busy"));
  const mt = meta(model);
  fillSubtasks(ui, mt);
  layoutCanvas(ui, mt);
  const hasSoft = !!get("soft"), hasSeg = !!get("segmentation");
  if (s.dirty) {
    s.visible = hasSoft ? softOverlay(s, model, get) : hasSeg ? labelOverlay(s, model, get) : 0;
    s.dirty = false;
  }
  const ctx = ui.ctx, cw = ui.canvas.width, ch = ui.canvas.height;
  ctx.clearRect(0, 0, cw, ch);
  if (s.bitmap) ctx.drawImage(s.bitmap, 0, 0, cw, ch);
  if ((hasSoft || hasSeg) && s.off) {
    ctx.save();
    ctx.globalAlpha = s.opacity;
    ctx.imageSmoothingEnabled = hasSoft; // label maps stay crisp; heat maps blend
    ctx.drawImage(s.off, 0, 0, cw, ch);
    ctx.restore();
  }
  drawLegend(s, ui, model, get);
  ui.op.value = String(s.opacity);
  ui.opOut.textContent = s.opacity.toFixed(2);
  ui.thrLabel.style.display = hasSoft ? "" : "none";
  ui.thr.value = String(s.threshold);
  ui.thrOut.textContent = s.threshold.toFixed(2);
  ui.allBtn.style.display = s.hidden.size || s.isolated >= 0 ? "" : "none";
  const ms = performance.now() - t0;
  const d = ui.root.dataset;
  d.visible = String(s.visible || 0);
  d.hover = String(s.hover);
  d.isolated = String(s.isolated);
  d.hidden = [...s.hidden].sort((a, b) => a - b).join(",");
  d.opacity = s.opacity.toFixed(2);
  d.threshold = s.threshold.toFixed(2);
  d.areas = hasSoft ? (s.areas || []).map((a) => a.toFixed(4)).join(",") : "";
  d.drawMs = ms.toFixed(3);
  d.ready = s.bitmap && (hasSoft || hasSeg) ? "1" : "0";
  const n = (mt.segments || []).length;
  ui.info.textContent = mt.name ? `${s.visible || 0} of ${hasSoft ? (mt.soft_labels || []).length : n} shown \u00b7 ${mt.name}` : "";
  return ms;
}

// ---------------------------------------------------------------- pointer

// The segment (or strongest prompt) under a canvas point; -1 for none
function pick(s, ui, model, get, ev) {
  const pt = canvasPoint(ui.canvas, ev);
  const soft = get("soft"), seg = get("segmentation");
  const map = soft || seg;
  if (!map) return { index: -1 };
  const h = map.shape[map.shape.length - 2], w = map.shape[map.shape.length - 1];
  const x = Math.min(w - 1, Math.max(0, Math.floor((pt.x / ui.canvas.width) * w)));
  const y = Math.min(h - 1, Math.max(0, Math.floor((pt.y / ui.canvas.height) * h)));
  if (soft) {
    const plane = h * w, values = [];
    for (let k = 0; k < soft.shape[0]; k++) values.push([k, soft.data[k * plane + y * w + x] / 255]);
    values.sort((a, b) => b[1] - a[1]);
    const top = values.find(([k]) => !s.hidden.has(k));
    return { index: top && top[1] > 0.02 ? top[0] : -1, values };
  }
  const i = seg.data[y * w + x] - 1;
  const segs = meta(model).segments || [];
  return { index: i >= 0 && segmentVisible(s, segs, i) ? i : -1 };
}

function tipText(model, found) {
  const mt = meta(model);
  if (found.values) {
    const names = mt.soft_labels || [];
    return found.values.slice(0, 3).map(([k, v]) => `${names[k]} ${v.toFixed(2)}`).join(" \u00b7 ");
  }
  const sg = (mt.segments || [])[found.index];
  const score = sg.score === null || sg.score === undefined ? "" : ` \u00b7 score ${sg.score.toFixed(3)}`;
  return `${sg.label}${score} \u00b7 ${pct(sg.area || 0)} of the image`;
}

function onMove(s, ui, model, get, ev) {
  const found = pick(s, ui, model, get, ev);
  if (found.index >= 0) {
    ui.tip.textContent = tipText(model, found);
    const r = ui.root.getBoundingClientRect();
    ui.tip.style.left = `${ev.clientX - r.left + 12}px`;
    ui.tip.style.top = `${ev.clientY - r.top + 12}px`;
    ui.tip.style.display = "block";
  } else {
    ui.tip.style.display = "none";
  }
  if (found.index !== s.hover) { s.hover = found.index; s.dirty = true; s.schedule(); }
}

function onClick(s, ui, model, get, ev) {
  const found = pick(s, ui, model, get, ev);
  s.isolated = found.index < 0 || found.index === s.isolated ? -1 : found.index;
  s.dirty = true; s.schedule();
}

// ---------------------------------------------------------------- wiring

function render({ model, el }) {
  const get = arrayReader(model);
  const ui = buildDom(el);
  const s = {
    opacity: model.get("opacity"), threshold: model.get("threshold") || 0, areas: [], hidden: new Set(model.get("hidden") || []), isolated: model.get("isolated"),
    hover: -1, bitmap: null, dirty: true, frame: 0, visible: 0,
  };
  s.schedule = () => {
    if (!s.frame) s.frame = requestAnimationFrame(() => { s.frame = 0; draw(s, ui, model, get); });
  };
  const loadImage = async () => { s.bitmap = await bitmapOf(model.get("image")); s.schedule(); };
  // browser-only controls: no save_changes, so nothing goes to the kernel
  ui.op.oninput = () => { s.opacity = parseFloat(ui.op.value); s.schedule(); };
  ui.thr.oninput = () => { s.threshold = parseFloat(ui.thr.value); s.dirty = true; s.schedule(); };
  ui.allBtn.onclick = () => { s.hidden.clear(); s.isolated = -1; s.dirty = true; s.schedule(); };
  // the subtask needs the model: this one goes to the kernel
  ui.subtask.onchange = () => { model.set("subtask", ui.subtask.value); model.save_changes(); };
  const move = (ev) => onMove(s, ui, model, get, ev);
  const click = (ev) => onClick(s, ui, model, get, ev);
  const leave = () => { ui.tip.style.display = "none"; if (s.hover !== -1) { s.hover = -1; s.dirty = true; s.schedule(); } };
  ui.canvas.addEventListener("mousemove", move);
  ui.canvas.addEventListener("click", click);
  ui.canvas.addEventListener("mouseleave", leave);
  // values set from the kernel move the browser's controls
  const handlers = {
    "change:opacity": () => { s.opacity = model.get("opacity"); s.schedule(); },
    "change:threshold": () => { s.threshold = model.get("threshold") || 0; s.dirty = true; s.schedule(); },
    "change:hidden": () => { s.hidden = new Set(model.get("hidden") || []); s.dirty = true; s.schedule(); },
    "change:isolated": () => { s.isolated = model.get("isolated"); s.dirty = true; s.schedule(); },
    "change:image": loadImage,
    "change:segmentation change:soft change:meta": () => { s.hover = -1; s.dirty = true; s.schedule(); },
    "change:error change:untrained change:busy": () => s.schedule(),
  };
  const each = (f) => { for (const [evs, fn] of Object.entries(handlers)) for (const ev of evs.split(" ")) f(ev, fn); };
  each((ev, fn) => model.on(ev, fn));
  // benchmarks time a synchronous redraw: after a class toggle (overlay rebuilt) or an opacity change (not rebuilt)
  ui.root.__wbRedraw = (rebuild) => { s.dirty = s.dirty || !!rebuild; return draw(s, ui, model, get); };
  ui.root.__wbState = s;
  loadImage();
  s.schedule();
  return () => {
    each((ev, fn) => model.off(ev, fn));
    ui.canvas.removeEventListener("mousemove", move);
    ui.canvas.removeEventListener("click", click);
    ui.canvas.removeEventListener("mouseleave", leave);
    if (s.frame) cancelAnimationFrame(s.frame);
    el.innerHTML = "";
  };
}

export default { render };
