// ImageClassifier's attention overlay: the photo with what [CLS] attends to stretched over it.
// The kernel sends every layer's maps once per image (maps: (L, H + 2, rows, cols): heads, mean,
// rollout); the layer, head / mean / rollout choice and the opacity are browser-only controls
// (no message to the kernel). Values set from the kernel move the controls.
import { arrayReader } from "./_arrays.js";
import { el_, bitmapOf, connect, heatCanvas, drawStatus } from "./_imagecanvas.js";

const MAX_W = 480;

function buildDom(el) {
  const root = el_("div", "wb-vis wb-imgattn", el);
  const errBox = el_("div", "wb-vis-error", root);
  const badge = el_("div", "wb-untrained", root);
  const bar = el_("div", "wb-vis-bar", root);
  const layerLabel = el_("label", "", bar, "layer ");
  const layer = el_("select", "wb-imgattn-layer", layerLabel);
  const viewLabel = el_("label", "", bar, "show ");
  const view = el_("select", "wb-imgattn-view", viewLabel);
  const opLabel = el_("label", "", bar, "opacity ");
  const op = el_("input", "wb-imgattn-opacity", opLabel);
  op.type = "range"; op.min = "0"; op.max = "1"; op.step = "0.01";
  const canvas = el_("canvas", "wb-vis-canvas wb-imgattn-canvas", root);
  const info = el_("div", "wb-vis-info", root);
  return { root, errBox, badge, layer, view, op, canvas, ctx: canvas.getContext("2d"), info };
}

// Options of the two selects, rebuilt when the model's shape changes
function fillSelects(ui, mt) {
  const key = JSON.stringify([mt.layers, mt.heads]);
  if (ui.selectKey === key) return;
  ui.selectKey = key;
  ui.layer.innerHTML = "";
  (mt.layers || []).forEach((l, i) => { const o = el_("option", "", ui.layer, String(l)); o.value = String(i); });
  ui.view.innerHTML = "";
  const views = ["rollout", "mean"].concat(Array.from({ length: mt.heads || 0 }, (_, h) => `head ${h}`));
  for (const v of views) { const o = el_("option", "", ui.view, v === "mean" ? "mean over heads" : v); o.value = v; }
}

function draw(s, ui, model, get) {
  drawStatus(model, ui.errBox, ui.badge);
  const mt = model.get("meta") || {};
  fillSelects(ui, mt);
  const maps = get("maps");
  const w = mt.width || 1, h = mt.height || 1;
  const cw = Math.min(w, MAX_W);
  ui.canvas.width = Math.round(cw); ui.canvas.height = Math.round((h * cw) / w);
  const ctx = ui.ctx;
  ctx.clearRect(0, 0, ui.canvas.width, ui.canvas.height);
  if (s.bitmap) ctx.drawImage(s.bitmap, 0, 0, ui.canvas.width, ui.canvas.height);
  const nLayers = (mt.layers || []).length;
  const layer = s.layer >= 0 && s.layer < nLayers ? s.layer : nLayers - 1;
  ui.layer.value = String(layer);
  ui.view.value = s.view;
  ui.op.value = String(s.opacity);
  let shown = "";
  if (maps && nLayers) {
    const [, k, rows, cols] = maps.shape;
    const heads = mt.heads || k - 2;
    const index = s.view === "mean" ? heads : s.view === "rollout" ? heads + 1 : parseInt(s.view.slice(5), 10);
    ctx.save();
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(heatCanvas(maps.data, (layer * k + index) * rows * cols, rows, cols, s.opacity), 0, 0,
      ui.canvas.width, ui.canvas.height);
    ctx.restore();
    shown = `${s.view} \u00b7 layer ${mt.layers[layer]}`;
  }
  ui.info.textContent = shown;
  ui.root.dataset.shown = shown;
  ui.root.dataset.ready = s.bitmap && maps ? "1" : "0";
}

function render({ model, el }) {
  const get = arrayReader(model);
  const ui = buildDom(el);
  const s = { layer: model.get("layer"), view: model.get("view"), opacity: model.get("opacity"), bitmap: null, frame: 0 };
  const schedule = () => {
    if (!s.frame) s.frame = requestAnimationFrame(() => { s.frame = 0; draw(s, ui, model, get); });
  };
  const loadImage = async () => { s.bitmap = await bitmapOf(model.get("image")); schedule(); };
  ui.layer.onchange = () => { s.layer = parseInt(ui.layer.value, 10); schedule(); };
  ui.view.onchange = () => { s.view = ui.view.value; schedule(); };
  ui.op.oninput = () => { s.opacity = parseFloat(ui.op.value); schedule(); };
  const handlers = [
    ["change:layer", () => { s.layer = model.get("layer"); schedule(); }],
    ["change:view", () => { s.view = model.get("view"); schedule(); }],
    ["change:opacity", () => { s.opacity = model.get("opacity"); schedule(); }],
    ["change:image", loadImage],
    ["change:maps", schedule], ["change:meta", schedule], ["change:error", schedule], ["change:untrained", schedule],
  ];
  return connect(model, el, s, handlers, () => { loadImage(); schedule(); });
}

export default { render };
