// SegmentAnything's canvas: the photo, the prompts and SAM's masks over it.
// A click adds a point (shift-click or right-click: "not the object"); a drag draws a box. Prompts go to the
// kernel (points / box traits, in the photo's pixels), which runs only the prompt encoder and mask decoder on
// the cached image embedding and sends the candidate masks back. Choosing the candidate and the opacity happens
// here alone (no message to the kernel).
import { arrayReader } from "./_arrays.js";
import { el_, bitmapOf, canvasPoint, connect, drawStatus } from "./_imagecanvas.js";

const MAX_W = 560;
const TINTS = [[255, 40, 160], [40, 200, 255], [255, 200, 0], [120, 255, 80], [170, 90, 255], [255, 120, 40]];
const DRAG_PX = 5; // a pointer moved less than this is a click, not a box

function buildDom(el) {
  const root = el_("div", "wb-vis wb-sam", el);
  const errBox = el_("div", "wb-vis-error", root);
  const badge = el_("div", "wb-untrained", root);
  const bar = el_("div", "wb-vis-bar", root);
  const cands = el_("span", "wb-sam-candidates", bar);
  const opLabel = el_("label", "", bar, "opacity ");
  const op = el_("input", "wb-sam-opacity", opLabel);
  op.type = "range"; op.min = "0"; op.max = "1"; op.step = "0.01";
  const canvas = el_("canvas", "wb-vis-canvas wb-sam-canvas", root);
  const info = el_("div", "wb-vis-info", root,
    "click the object \u00b7 shift-click or right-click: not the object \u00b7 drag: a box");
  return { root, errBox, badge, cands, op, canvas, ctx: canvas.getContext("2d"), info };
}

// A (h, w) slice of 0/1 or label values -> a canvas tinted per value (0 transparent)
function maskCanvas(data, offset, h, w, alpha, single) {
  const off = document.createElement("canvas");
  off.width = w; off.height = h;
  const ctx = off.getContext("2d");
  const img = ctx.createImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    const v = data[offset + i];
    if (!v) continue;
    const [r, g, b] = TINTS[single ? 0 : (v - 1) % TINTS.length];
    img.data[4 * i] = r; img.data[4 * i + 1] = g; img.data[4 * i + 2] = b; img.data[4 * i + 3] = Math.round(255 * alpha);
  }
  ctx.putImageData(img, 0, 0);
  return off;
}

function fillCandidates(s, ui, model, schedule) {
  const scores = model.get("scores") || [];
  const key = JSON.stringify(scores);
  if (ui.candKey !== key) {
    ui.candKey = key;
    ui.cands.innerHTML = "";
    scores.forEach((sc, i) => {
      const b = el_("button", "wb-sam-cand", ui.cands, `mask ${i + 1} \u00b7 IoU ${sc.toFixed(2)}`);
      b.onclick = () => { s.selected = i; schedule(); };
    });
  }
  Array.from(ui.cands.children).forEach((b, i) => b.classList.toggle("wb-active", i === s.selected));
}

function draw(s, ui, model, get) {
  drawStatus(model, ui.errBox, ui.badge);
  ui.errBox.style.display = "none"; // the panel around the canvas shows the error in its status line (once)
  const mt = model.get("meta") || {};
  const w = mt.width || 1, h = mt.height || 1;
  const cw = Math.min(w, MAX_W);
  ui.canvas.width = Math.round(cw); ui.canvas.height = Math.round((h * cw) / w);
  const sx = ui.canvas.width / w, sy = ui.canvas.height / h;
  const ctx = ui.ctx;
  ctx.clearRect(0, 0, ui.canvas.width, ui.canvas.height);
  if (s.bitmap) ctx.drawImage(s.bitmap, 0, 0, ui.canvas.width, ui.canvas.height);
  const masks = get("masks"), every = get("everything");
  const schedule = s.schedule;
  fillCandidates(s, ui, model, schedule);
  ui.op.value = String(s.opacity);
  let drawn = 0;
  if (every && every.shape[0] > 1) {
    ctx.drawImage(maskCanvas(every.data, 0, every.shape[0], every.shape[1], s.opacity * 0.8, false), 0, 0,
      ui.canvas.width, ui.canvas.height);
  }
  if (masks && masks.shape[0] > 0) {
    const [m, mh, mw] = masks.shape;
    const k = Math.min(Math.max(s.selected, 0), m - 1);
    ctx.drawImage(maskCanvas(masks.data, k * mh * mw, mh, mw, s.opacity, true), 0, 0, ui.canvas.width, ui.canvas.height);
    for (let i = k * mh * mw; i < (k + 1) * mh * mw; i++) drawn += masks.data[i];
  }
  const box = s.drag || model.get("box") || [];
  if (box.length === 4) {
    ctx.strokeStyle = "#00e0ff"; ctx.lineWidth = 2;
    ctx.strokeRect(box[0] * sx, box[1] * sy, (box[2] - box[0]) * sx, (box[3] - box[1]) * sy);
  }
  for (const [x, y, label] of model.get("points") || []) {
    ctx.beginPath();
    ctx.arc(x * sx, y * sy, 6, 0, 2 * Math.PI);
    ctx.fillStyle = label ? "#22c55e" : "#ef4444";
    ctx.fill();
    ctx.lineWidth = 2; ctx.strokeStyle = "#ffffff"; ctx.stroke();
  }
  const busy = model.get("busy");
  ui.root.classList.toggle("wb-vis-busy", !!busy);
  const lat = model.get("latency_ms");
  if (masks && masks.shape[0] > 0) ui.info.textContent = `mask ${s.selected + 1}: ${drawn} pixels \u00b7 kernel ${lat.toFixed(0)} ms`;
  ui.root.dataset.ready = s.bitmap ? "1" : "0";
  ui.root.dataset.maskPixels = String(drawn);
  ui.root.dataset.candidates = String(masks ? masks.shape[0] : 0);
}

function render({ model, el }) {
  const get = arrayReader(model);
  const ui = buildDom(el);
  const s = { selected: model.get("selected"), opacity: model.get("opacity"), bitmap: null, frame: 0, drag: null, start: null };
  const schedule = () => {
    if (!s.frame) s.frame = requestAnimationFrame(() => { s.frame = 0; draw(s, ui, model, get); });
  };
  s.schedule = schedule;
  const toPhoto = (ev) => {
    const p = canvasPoint(ui.canvas, ev);
    const mt = model.get("meta") || {};
    const f = (mt.width || 1) / ui.canvas.width;
    return { x: Math.max(0, Math.min(mt.width || 0, p.x * f)), y: Math.max(0, Math.min(mt.height || 0, p.y * f)), cx: p.x, cy: p.y };
  };
  ui.canvas.oncontextmenu = (ev) => ev.preventDefault();
  ui.canvas.onpointerdown = (ev) => { s.start = toPhoto(ev); s.negative = ev.shiftKey || ev.button === 2; };
  ui.canvas.onpointermove = (ev) => {
    if (!s.start) return;
    const p = toPhoto(ev);
    if (Math.hypot(p.cx - s.start.cx, p.cy - s.start.cy) >= DRAG_PX) {
      s.drag = [Math.min(s.start.x, p.x), Math.min(s.start.y, p.y), Math.max(s.start.x, p.x), Math.max(s.start.y, p.y)];
      schedule();
    }
  };
  ui.canvas.onpointerup = (ev) => {
    if (!s.start) return;
    const p = s.start;
    s.start = null;
    if (s.drag) {
      const box = s.drag.map((v) => Math.round(v * 10) / 10);
      s.drag = null;
      if (box[2] > box[0] && box[3] > box[1]) { model.set("box", box); model.save_changes(); }
    } else {
      const points = (model.get("points") || []).concat([[Math.round(p.x * 10) / 10, Math.round(p.y * 10) / 10, s.negative ? 0 : 1]]);
      model.set("points", points);
      model.save_changes();
    }
    schedule();
  };
  ui.op.oninput = () => { s.opacity = parseFloat(ui.op.value); schedule(); };
  const loadImage = async () => { s.bitmap = await bitmapOf(model.get("image")); schedule(); };
  const handlers = [
    ["change:selected", () => { s.selected = model.get("selected"); schedule(); }],
    ["change:opacity", () => { s.opacity = model.get("opacity"); schedule(); }],
    ["change:image", loadImage],
    ["change:masks", schedule], ["change:everything", schedule], ["change:scores", schedule], ["change:points", schedule],
    ["change:box", schedule], ["change:meta", schedule], ["change:error", schedule], ["change:untrained", schedule],
    ["change:busy", schedule],
  ];
  return connect(model, el, s, handlers, () => { loadImage(); schedule(); });
}

export default { render };
