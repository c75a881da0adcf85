// Depth front end: the photo and its relative depth, side by side or blended, and a 3-D point cloud. Shipped inside
// the widgets package; no network, no WebGL. The kernel sends the photo (JPEG) and the depth once per image
// (depth: float16 (h, w) 0..1, 1 = nearest; raw: the model's values; measured: an optional measured map, NaN where
// unknown) with the colour table in meta. Everything after that happens here with no message to the kernel: the
// arrangement, the blend slider, hover (relative depth at the pointer), the 3-D view (drag to rotate, wheel to zoom,
// double-click to reset).
//
// Layout of this file: helpers; buildDom; images (the colour-mapped depth as an offscreen canvas, built once per
// image); the 2-D views; the point cloud (points from the depth grid, projected with a z-buffer into an ImageData);
// pointer; render() with its cleanup function.
import { arrayReader } from "./_arrays.js";
import { el_, bitmapOf, canvasPoint, drawStatus } from "./_imagecanvas.js";

const MAX_W = 760, SIDE_W = 380, CLOUD_W = 640, CLOUD_H = 440;
const MAX_POINTS = 90000; // the point cloud samples the depth grid with a stride to stay under this

function meta(model) {
  return model.get("meta") || {};
}

// ---------------------------------------------------------------- the elements

function buildDom(el) {
  const root = el_("div", "wb-vis wb-depth", el);
  const errBox = el_("div", "wb-vis-error", root);
  const badge = el_("div", "wb-untrained", root);
  const bar = el_("div", "wb-vis-bar", root);
  const viewBtn = el_("button", "wb-depth-view", bar, "3-D point cloud");
  const layoutBtn = el_("button", "wb-depth-layout", bar, "blend over the photo");
  const blendLabel = el_("label", "wb-depth-blend-label", bar, "blend ");
  const blend = el_("input", "wb-depth-blend", blendLabel);
  blend.type = "range"; blend.min = "0"; blend.max = "1"; blend.step = "0.01";
  const resetBtn = el_("button", "wb-depth-reset", bar, "reset view");
  const canvases = el_("div", "wb-vis-canvases wb-depth-canvases", root);
  const legend = el_("div", "wb-depth-legend", root);
  const tip = el_("div", "wb-vis-tip", root);
  const info = el_("div", "wb-vis-info", root);
  return { root, errBox, badge, viewBtn, layoutBtn, blendLabel, blend, resetBtn, canvases, legend, tip, info, panels: [] };
}

// ---------------------------------------------------------------- images

// A (h, w) 0..1 map through the colour table -> an offscreen canvas (NaN: transparent)
function colourCanvas(map, table) {
  const [h, w] = map.shape, d = map.data;
  const off = document.createElement("canvas");
  off.width = w; off.height = h;
  const ctx = off.getContext("2d");
  const img = ctx.createImageData(w, h);
  const px = img.data;
  for (let p = 0; p < h * w; p++) {
    const v = d[p];
    if (!(v === v)) continue; // NaN: no value
    const k = 3 * Math.max(0, Math.min(255, Math.round(v * 255)));
    px[4 * p] = table[k]; px[4 * p + 1] = table[k + 1]; px[4 * p + 2] = table[k + 2]; px[4 * p + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return off;
}

// The photo's colours at the depth grid's size (for the point cloud)
function photoColours(bitmap, w, h) {
  const off = document.createElement("canvas");
  off.width = w; off.height = h;
  const ctx = off.getContext("2d");
  ctx.drawImage(bitmap, 0, 0, w, h);
  return ctx.getImageData(0, 0, w, h).data;
}

function legendBar(ui, table) {
  if (ui.legendBuilt === table) return;
  ui.legendBuilt = table;
  ui.legend.innerHTML = "";
  el_("span", "wb-depth-legend-end", ui.legend, "far");
  const bar = el_("canvas", "wb-depth-legend-bar", ui.legend);
  bar.width = 256; bar.height = 10;
  const ctx = bar.getContext("2d");
  for (let i = 0; i < 256; i++) {
    ctx.fillStyle = `rgb(${table[3 * i]},${table[3 * i + 1]},${table[3 * i + 2]})`;
    ctx.fillRect(i, 0, 1, 10);
  }
  el_("span", "wb-depth-legend-end", ui.legend, "near");
}

// ---------------------------------------------------------------- 2-D views

function layoutPanels(s, ui, model, get) {
  const mt = meta(model);
  const names = s.view === "3d" ? ["cloud"]
    : s.arrangement === "overlay" ? ["blend"] : ["photo", "depth"];
  if (s.view !== "3d" && get("measured")) names.push("measured");
  const key = JSON.stringify([names, mt.width, mt.height]);
  if (ui.panelsKey === key) return;
  ui.panelsKey = key;
  ui.canvases.innerHTML = "";
  const w = mt.width || 1, h = mt.height || 1;
  const room = ui.root.clientWidth || MAX_W; // side by side: every map fits the output's width
  const each = names.length > 1 ? Math.min(SIDE_W, Math.floor((room - 12 * (names.length - 1)) / names.length)) : MAX_W;
  const cw = names[0] === "cloud" ? Math.min(CLOUD_W, room) : Math.min(w, Math.max(160, each));
  const ch = names[0] === "cloud" ? CLOUD_H : Math.round((h * cw) / w);
  ui.panels = names.map((name) => {
    const box = el_("div", "wb-vis-panel", ui.canvases);
    const canvas = el_("canvas", `wb-vis-canvas wb-depth-canvas wb-depth-${name}`, box);
    canvas.width = Math.round(cw); canvas.height = ch;
    canvas.dataset.panel = name;
    const caption = { photo: "photo", depth: "predicted depth (bright: near)", blend: "predicted depth over the photo",
      measured: `${mt.measured_name || "measured"} (bright: near)`, cloud: "drag to rotate \u00b7 wheel to zoom \u00b7 double-click to reset" }[name];
    el_("div", "wb-vis-cap", box, caption);
    return { name, canvas, ctx: canvas.getContext("2d") };
  });
}

function draw2d(s, p) {
  const { ctx, canvas } = p;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.imageSmoothingEnabled = true;
  if (p.name === "photo" || p.name === "blend") { if (s.bitmap) ctx.drawImage(s.bitmap, 0, 0, canvas.width, canvas.height); }
  if (p.name === "depth" && s.depthImg) ctx.drawImage(s.depthImg, 0, 0, canvas.width, canvas.height);
  if (p.name === "measured" && s.measuredImg) ctx.drawImage(s.measuredImg, 0, 0, canvas.width, canvas.height);
  if (p.name === "blend" && s.depthImg) {
    ctx.save(); ctx.globalAlpha = s.blend; ctx.drawImage(s.depthImg, 0, 0, canvas.width, canvas.height); ctx.restore();
  }
}

// ---------------------------------------------------------------- the point cloud

// Points (x, y, z in -0.5..0.5, colour) from the depth grid: near points come toward the viewer
function buildCloud(s, get) {
  const depth = get("depth");
  if (!depth || !s.bitmap) return null;
  const [h, w] = depth.shape;
  const stride = Math.max(1, Math.ceil(Math.sqrt((h * w) / MAX_POINTS)));
  const colours = photoColours(s.bitmap, w, h);
  const n = Math.ceil(h / stride) * Math.ceil(w / stride);
  const xyz = new Float32Array(3 * n), rgb = new Uint32Array(n);
  const aspect = h / w;
  let k = 0;
  for (let y = 0; y < h; y += stride) {
    for (let x = 0; x < w; x += stride) {
      const p = y * w + x;
      xyz[3 * k] = x / w - 0.5; xyz[3 * k + 1] = (y / h - 0.5) * aspect; xyz[3 * k + 2] = (depth.data[p] - 0.5) * 0.6;
      rgb[k] = ((255 << 24) | (colours[4 * p + 2] << 16) | (colours[4 * p + 1] << 8) | colours[4 * p]) >>> 0;
      k++;
    }
  }
  return { xyz, rgb, n: k };
}

function drawCloud(s, p) {
  const { ctx, canvas } = p;
  const W = canvas.width, H = canvas.height;
  if (!s.cloudImg || s.cloudImg.width !== W) { s.cloudImg = ctx.createImageData(W, H); s.zbuf = new Float32Array(W * H); }
  const out = new Uint32Array(s.cloudImg.data.buffer);
  out.fill(0);
  s.zbuf.fill(-Infinity);
  const c = s.cloud;
  if (!c) { ctx.putImageData(s.cloudImg, 0, 0); return 0; }
  const cy = Math.cos(s.yaw), sy = Math.sin(s.yaw), cp = Math.cos(s.pitch), sp = Math.sin(s.pitch);
  const f = Math.min(W, H) * 1.25 * s.zoom, camera = 1.6;
  let drawn = 0;
  for (let i = 0; i < c.n; i++) {
    const x0 = c.xyz[3 * i], y0 = c.xyz[3 * i + 1], z0 = c.xyz[3 * i + 2];
    const x1 = cy * x0 + sy * z0, z1 = -sy * x0 + cy * z0; // yaw (around y)
    const y2 = cp * y0 - sp * z1, z2 = sp * y0 + cp * z1; // pitch (around x)
    const scale = f / (camera - z2); // perspective: z toward the viewer
    const px = Math.round(W / 2 + x1 * scale), py = Math.round(H / 2 + y2 * scale);
    if (px < 0 || py < 0 || px >= W - 1 || py >= H - 1) continue;
    for (let dy = 0; dy < 2; dy++) {
      for (let dx = 0; dx < 2; dx++) {
        const q = (py + dy) * W + px + dx;
        if (z2 > s.zbuf[q]) { s.zbuf[q] = z2; out[q] = c.rgb[i]; }
      }
    }
    drawn++;
  }
  ctx.putImageData(s.cloudImg, 0, 0);
  return drawn;
}

// ---------------------------------------------------------------- drawing

function draw(s, ui, model, get) {
  const t0 = performance.now();
  drawStatus(model, ui.errBox, ui.badge);
  ui.root.classList.toggle("wb-vis-busy", !!model.get("busy"));
  const mt = meta(model);
  const table = mt.colormap || [];
  if (s.dirty) {
    const depth = get("depth"), measured = get("measured");
    s.depthImg = depth && table.length ? colourCanvas(depth, table) : null;
    s.measuredImg = measured && table.length ? colourCanvas(measured, table) : null;
    s.cloud = null;
    s.dirty = false;
  }
  if (s.view === "3d" && !s.cloud) s.cloud = buildCloud(s, get);
  if (table.length) legendBar(ui, table);
  layoutPanels(s, ui, model, get);
  let points = 0;
  for (const p of ui.panels) {
    if (p.name === "cloud") points = drawCloud(s, p); else draw2d(s, p);
  }
  ui.viewBtn.textContent = s.view === "3d" ? "2-D maps" : "3-D point cloud";
  ui.layoutBtn.textContent = s.arrangement === "overlay" ? "side by side" : "blend over the photo";
  ui.layoutBtn.style.display = s.view === "3d" ? "none" : "";
  ui.blendLabel.style.display = s.view !== "3d" && s.arrangement === "overlay" ? "" : "none";
  ui.resetBtn.style.display = s.view === "3d" ? "" : "none";
  ui.blend.value = String(s.blend);
  const d = ui.root.dataset;
  d.view = s.view;
  d.arrangement = s.arrangement;
  d.blend = s.blend.toFixed(2);
  d.points = String(points);
  d.yaw = s.yaw.toFixed(3);
  d.ready = s.bitmap && get("depth") ? "1" : "0";
  d.drawMs = (performance.now() - t0).toFixed(3);
  ui.info.textContent = [mt.name, mt.note].filter(Boolean).join(" \u00b7 ");
}

// ---------------------------------------------------------------- pointer

// The map cell under a point given as fractions of the canvas: [x, y]
function cellAt(map, fx, fy) {
  const [h, w] = map.shape;
  return [Math.min(w - 1, Math.max(0, Math.floor(fx * w))), Math.min(h - 1, Math.max(0, Math.floor(fy * h)))];
}

function readAt(get, name, fx, fy) {
  const map = get(name);
  if (!map) return NaN;
  const [x, y] = cellAt(map, fx, fy);
  return map.data[y * map.shape[1] + x];
}

function onMove(s, ui, model, get, p, ev) {
  if (p.name === "cloud") {
    if (s.drag) {
      s.yaw = s.drag.yaw + (ev.clientX - s.drag.x) * 0.01;
      s.pitch = Math.max(-1.5, Math.min(1.5, s.drag.pitch + (ev.clientY - s.drag.y) * 0.01));
      s.schedule();
    }
    return;
  }
  const pt = canvasPoint(p.canvas, ev);
  const fx = pt.x / p.canvas.width, fy = pt.y / p.canvas.height;
  const rel = readAt(get, "depth", fx, fy), raw = readAt(get, "raw", fx, fy), meas = readAt(get, "measured", fx, fy);
  let text = `relative depth ${rel.toFixed(3)} (${rel > 0.66 ? "near" : rel < 0.33 ? "far" : "middle"}) \u00b7 model output ${raw.toPrecision(4)}`;
  if (get("measured")) text += meas === meas ? ` \u00b7 measured ${meas.toFixed(3)}` : " \u00b7 not measured here";
  ui.tip.textContent = text;
  const r = ui.root.getBoundingClientRect();
  ui.tip.style.left = `${ev.clientX - r.left + 12}px`;
  ui.tip.style.top = `${ev.clientY - r.top + 12}px`;
  ui.tip.style.display = "block";
  ui.root.dataset.hover = rel.toFixed(3);
  ui.root.dataset.hoverCell = cellAt(get("depth"), fx, fy).join(",");
}

// ---------------------------------------------------------------- wiring

function render({ model, el }) {
  const get = arrayReader(model);
  const ui = buildDom(el);
  const s = {
    view: model.get("view"), arrangement: model.get("arrangement"), blend: model.get("blend"),
    yaw: 0.5, pitch: -0.25, zoom: 1, drag: null, bitmap: null, dirty: true, frame: 0, cloud: null,
  };
  s.schedule = () => {
    if (!s.frame) s.frame = requestAnimationFrame(() => { s.frame = 0; draw(s, ui, model, get); });
  };
  const loadImage = async () => { s.bitmap = await bitmapOf(model.get("image")); s.cloud = null; s.schedule(); };
  // browser-only controls: no save_changes, so nothing goes to the kernel
  ui.viewBtn.onclick = () => { s.view = s.view === "3d" ? "2d" : "3d"; s.schedule(); };
  ui.layoutBtn.onclick = () => { s.arrangement = s.arrangement === "overlay" ? "side" : "overlay"; s.schedule(); };
  ui.blend.oninput = () => { s.blend = parseFloat(ui.blend.value); s.schedule(); };
  const reset = () => { s.yaw = 0.5; s.pitch = -0.25; s.zoom = 1; s.schedule(); };
  ui.resetBtn.onclick = reset;
  const panelOf = (ev) => ui.panels.find((q) => q.canvas === ev.target);
  const move = (ev) => { const p = panelOf(ev) || (s.drag && ui.panels[0]); if (p) onMove(s, ui, model, get, p, ev); };
  const down = (ev) => { const p = panelOf(ev); if (p && p.name === "cloud") { s.drag = { x: ev.clientX, y: ev.clientY, yaw: s.yaw, pitch: s.pitch }; ev.preventDefault(); } };
  const up = () => { s.drag = null; };
  const leave = () => { ui.tip.style.display = "none"; };
  const wheel = (ev) => {
    const p = panelOf(ev);
    if (p && p.name === "cloud") { s.zoom = Math.max(0.3, Math.min(5, s.zoom * Math.exp(-ev.deltaY * 0.001))); ev.preventDefault(); s.schedule(); }
  };
  const dbl = (ev) => { const p = panelOf(ev); if (p && p.name === "cloud") reset(); };
  ui.canvases.addEventListener("mousemove", move);
  ui.canvases.addEventListener("mousedown", down);
  window.addEventListener("mouseup", up);
  ui.canvases.addEventListener("mouseleave", leave);
  ui.canvases.addEventListener("wheel", wheel, { passive: false });
  ui.canvases.addEventListener("dblclick", dbl);
  // values set from the kernel move the browser's controls
  const handlers = {
    "change:view": () => { s.view = model.get("view"); s.schedule(); },
    "change:arrangement": () => { s.arrangement = model.get("arrangement"); s.schedule(); },
    "change:blend": () => { s.blend = model.get("blend"); s.schedule(); },
    "change:image": loadImage,
    "change:depth change:measured change:meta change:raw": () => { s.dirty = true; ui.panelsKey = ""; s.schedule(); },
    "change:error change:untrained change:busy": () => s.schedule(),
  };
  const each = (f) => { for (const [evs, fn] of Object.entries(handlers)) for (const ev of evs.split(" ")) f(ev, fn); };
  each((ev, fn) => model.on(ev, fn));
  ui.root.__wbRedraw = () => { draw(s, ui, model, get); return parseFloat(ui.root.dataset.drawMs); };
  loadImage();
  s.schedule();
  return () => {
    each((ev, fn) => model.off(ev, fn));
    ui.canvases.removeEventListener("mousemove", move);
    ui.canvases.removeEventListener("mousedown", down);
    window.removeEventListener("mouseup", up);
    ui.canvases.removeEventListener("mouseleave", leave);
    ui.canvases.removeEventListener("wheel", wheel);
    ui.canvases.removeEventListener("dblclick", dbl);
    if (s.frame) cancelAnimationFrame(s.frame);
    el.innerHTML = "";
  };
}

export default { render };
