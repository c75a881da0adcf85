// AttentionView front end: head, model and matrix views on canvas, plus a summaries panel.
// Shipped inside the widgets package; no network. Each array trait arrives as one
// {dtype, shape, buffer} object from the kernel (or from the page, in save_html).
import { arrayReader } from "./_arrays.js";

const HEAD_W = 640;
const MAX_H = 720;
const MATRIX_PX = 600;

function headColor(h, n, alpha) {
  return `hsla(${Math.round((h * 360) / Math.max(n, 1))}, 75%, 42%, ${alpha})`;
}

function heatColor(v) {
  // 0 -> white, 1 -> deep blue
  const t = Math.max(0, Math.min(1, v));
  return [Math.round(255 - 222 * t), Math.round(255 - 180 * t), Math.round(255 - 75 * t)];
}

function el_(tag, cls, parent, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
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

function render({ model, el }) {
  const root = el_("div", "wb-attn", el);
  const bar = el_("div", "wb-attn-bar", root);
  const viewBtns = {};
  for (const v of ["head", "model", "matrix"]) {
    const b = el_("button", "wb-attn-view-btn", bar, v === "head" ? "Head view" : v === "model" ? "Model view" : "Matrix view");
    b.dataset.view = v;
    b.onclick = () => { model.set("view", v); model.save_changes(); };
    viewBtns[v] = b;
  }
  el_("span", "wb-attn-label", bar, "Layer");
  const layerSel = el_("select", "wb-attn-layer", bar);
  layerSel.onchange = () => { model.set("layer", parseInt(layerSel.value, 10)); model.save_changes(); };
  const headBox = el_("span", "wb-attn-heads", bar);
  const errBox = el_("div", "wb-attn-error", root);
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
    c.width = 128; c.height = 128;
    sumCanvases.push(c);
  }
  el_("div", "wb-attn-cap", side, "entropy per head (nats; dark = focused) — click to open");
  const entCanvas = el_("canvas", "wb-attn-entropy", side);
  const info = el_("div", "wb-attn-info", root);

  let hover = null; // {side: "q"|"k", i}
  let zoom = null; // matrix view window [q0,q1,k0,k1] being shown
  let pending = null;
  let cache = {};
  const ctx = canvas.getContext("2d");

  const meta = () => model.get("meta") || {};
  const selectedHeads = () => {
    const n = meta().num_heads || 0;
    const hs = (model.get("heads") || []).filter((h) => h >= 0 && h < n);
    return hs.length ? hs : Array.from({ length: n }, (_, i) => i);
  };
  const get = arrayReader(model); // decodes each array trait once per value

  function setError() {
    const e = model.get("error") || "";
    errBox.textContent = e;
    errBox.style.display = e ? "block" : "none";
  }

  function controls() {
    const mt = meta();
    const layers = mt.layers || [];
    if (layerSel.options.length !== layers.length) {
      layerSel.innerHTML = "";
      for (const l of layers) { const o = el_("option", "", layerSel, String(l)); o.value = String(l); }
    }
    layerSel.value = String(model.get("layer"));
    const v = model.get("view");
    for (const k in viewBtns) viewBtns[k].classList.toggle("wb-active", k === v);
    const n = mt.num_heads || 0;
    if (headBox.childElementCount !== n) {
      headBox.innerHTML = "";
      for (let h = 0; h < n; h++) {
        const b = el_("button", "wb-attn-head", headBox, String(h));
        b.style.borderColor = headColor(h, n, 1);
        b.title = `head ${h} (shift-click: add/remove)`;
        b.onclick = (ev) => {
          const cur = model.get("heads") || [];
          let next;
          if (ev.shiftKey) next = cur.includes(h) ? cur.filter((x) => x !== h) : [...cur, h].sort((a, b) => a - b);
          else next = cur.length === 1 && cur[0] === h ? [] : [h];
          model.set("heads", next); model.save_changes();
        };
      }
    }
    const sel = new Set(selectedHeads());
    [...headBox.children].forEach((b, h) => {
      b.classList.toggle("wb-active", sel.has(h));
      b.style.background = sel.has(h) ? headColor(h, n, 0.85) : "transparent";
      b.style.color = sel.has(h) ? "white" : "inherit";
    });
  }

  // ---------------------------------------------------------------- head view
  function headGeometry() {
    const mt = meta();
    const tq = (mt.query_tokens || []).length, tk = (mt.key_tokens || []).length;
    const t = Math.max(tq, tk, 1);
    const rh = Math.max(2, Math.min(18, Math.floor((MAX_H - 30) / t)));
    return { tq, tk, rh, top: 24, xl: 180, xr: HEAD_W - 180, h: 30 + t * rh };
  }

  function drawHead() {
    const mt = meta();
    const g = headGeometry();
    canvas.width = HEAD_W; canvas.height = g.h;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const idx = get("edge_index"), w = get("edge_weight");
    const em = model.get("edge_meta") || {};
    if (!idx || !w) return false;
    const [H, TQ, K] = w.shape;
    const heads = selectedHeads();
    const yq = (i) => g.top + i * g.rh + g.rh / 2;
    // segment backgrounds (sentence pairs)
    const segq = mt.segment_ids, segk = mt.key_segment_ids;
    if (segq) for (let i = 0; i < g.tq; i++) if (segq[i] === 1) { ctx.fillStyle = "rgba(255,170,0,0.12)"; ctx.fillRect(0, g.top + i * g.rh, g.xl, g.rh); }
    if (segk) for (let j = 0; j < g.tk; j++) if (segk[j] === 1) { ctx.fillStyle = "rgba(255,170,0,0.12)"; ctx.fillRect(g.xr, g.top + j * g.rh, HEAD_W - g.xr, g.rh); }
    // lines: per head, bucket by opacity so one stroke() draws many lines
    const BUCKETS = 16;
    const minW = hover ? 0.003 : 0.02;
    ctx.lineWidth = g.rh >= 8 ? 1.5 : 1;
    for (const h of heads) {
      if (h >= H) continue;
      const paths = Array.from({ length: BUCKETS }, () => new Path2D());
      const used = new Uint8Array(BUCKETS);
      const qs = hover && hover.side === "q" ? [hover.i] : null;
      const rows = qs || Array.from({ length: TQ }, (_, i) => i);
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
        ctx.strokeStyle = headColor(h, meta().num_heads, Math.min(1, (b + 1) / BUCKETS) * (heads.length > 1 ? 0.8 : 1));
        ctx.stroke(paths[b]);
      }
    }
    // labels
    ctx.fillStyle = "#222";
    ctx.font = `${Math.min(13, Math.max(8, g.rh - 3))}px sans-serif`;
    ctx.textBaseline = "middle";
    const labels = g.rh >= 8;
    const qt = mt.query_tokens || [], kt = mt.key_tokens || [];
    for (let i = 0; i < g.tq; i++) {
      const on = hover && hover.side === "q" && hover.i === i;
      if (!labels && !on) continue;
      ctx.textAlign = "right";
      ctx.fillStyle = on ? "#c00" : "#222";
      ctx.fillText(qt[i], g.xl, yq(i));
    }
    for (let j = 0; j < g.tk; j++) {
      const on = hover && hover.side === "k" && hover.i === j;
      if (!labels && !on) continue;
      ctx.textAlign = "left";
      ctx.fillStyle = on ? "#c00" : "#222";
      ctx.fillText(kt[j], g.xr, yq(j));
    }
    if (!labels) { // thin token ticks so long inputs still show their extent
      ctx.fillStyle = "#888";
      for (let i = 0; i < g.tq; i++) ctx.fillRect(g.xl - 6, g.top + i * g.rh, 6, Math.max(1, g.rh - 1));
      for (let j = 0; j < g.tk; j++) ctx.fillRect(g.xr, g.top + j * g.rh, 6, Math.max(1, g.rh - 1));
    }
    ctx.fillStyle = "#555"; ctx.textAlign = "left"; ctx.font = "11px sans-serif";
    ctx.fillText(`layer ${model.get("layer")} · ${em.complete ? "all edges" : "top " + K + " keys per query"} · hover a token to isolate it`, 4, 10);
    return em.layer === model.get("layer");
  }

  function headHover(ev) {
    const r = canvas.getBoundingClientRect();
    const x = (ev.clientX - r.left) * (canvas.width / r.width), y = (ev.clientY - r.top) * (canvas.height / r.height);
    const g = headGeometry();
    const i = Math.floor((y - g.top) / g.rh);
    let next = null;
    if (x < HEAD_W / 2 && i >= 0 && i < g.tq) next = { side: "q", i };
    else if (x >= HEAD_W / 2 && i >= 0 && i < g.tk) next = { side: "k", i };
    if (JSON.stringify(next) !== JSON.stringify(hover)) {
      hover = next;
      root.dataset.hover = hover ? `${hover.side}${hover.i}` : "";
      const mt = meta();
      info.textContent = hover ? `${hover.side === "q" ? "query" : "key"} ${hover.i}: ${(hover.side === "q" ? mt.query_tokens : mt.key_tokens)[hover.i]}` : "";
      draw();
    }
  }

  // ---------------------------------------------------------------- matrix view
  function fullWindow() {
    const mt = meta();
    return [0, (mt.query_tokens || []).length, 0, (mt.key_tokens || []).length];
  }

  function drawMatrix() {
    const mt = meta();
    const m = get("matrix");
    const mm = model.get("matrix_meta") || {};
    canvas.width = MATRIX_PX + 110; canvas.height = MATRIX_PX + 110;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!m) { ctx.fillStyle = "#555"; ctx.fillText("loading…", 20, 20); return false; }
    const have = mm.window || fullWindow();
    const win = zoom || have;
    const img = matrixImage(m);
    // source rectangle of the buffer that covers `win` (client-side zoom until sharper data arrives)
    const sy = ((win[0] - have[0]) / (have[1] - have[0])) * img.rows, sh = ((win[1] - win[0]) / (have[1] - have[0])) * img.rows;
    const sx = ((win[2] - have[2]) / (have[3] - have[2])) * img.cols, sw = ((win[3] - win[2]) / (have[3] - have[2])) * img.cols;
    const ox = 105, oy = 105, W = MATRIX_PX, Hh = MATRIX_PX;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(img.canvas, sx, sy, Math.max(sw, 1e-3), Math.max(sh, 1e-3), ox, oy, W, Hh);
    ctx.strokeStyle = "#999"; ctx.strokeRect(ox, oy, W, Hh);
    const nq = win[1] - win[0], nk = win[3] - win[2];
    const qt = mt.query_tokens || [], kt = mt.key_tokens || [];
    ctx.fillStyle = "#222"; ctx.font = "10px sans-serif"; ctx.textBaseline = "middle";
    if (W / nq >= 9) {
      ctx.textAlign = "right";
      for (let i = 0; i < nq; i++) ctx.fillText(qt[win[0] + i], ox - 3, oy + (i + 0.5) * (Hh / nq));
    } else {
      ctx.textAlign = "right";
      for (let t = 0; t <= 4; t++) ctx.fillText(String(Math.round(win[0] + (nq * t) / 4)), ox - 3, oy + (Hh * t) / 4);
    }
    ctx.save();
    ctx.translate(ox, oy - 3); ctx.rotate(-Math.PI / 2); ctx.textAlign = "left";
    if (W / nk >= 9) for (let j = 0; j < nk; j++) ctx.fillText(kt[win[2] + j], 0, (j + 0.5) * (W / nk));
    else for (let t = 0; t <= 4; t++) ctx.fillText(String(Math.round(win[2] + (nk * t) / 4)), 0, (W * t) / 4);
    ctx.restore();
    ctx.fillStyle = "#555"; ctx.textAlign = "left"; ctx.font = "11px sans-serif";
    ctx.fillText(`layer ${model.get("layer")} · heads ${selectedHeads().join(",")} · queries ${win[0]}–${win[1]} × keys ${win[2]}–${win[3]} · wheel to zoom, double-click to reset`, 4, 10);
    return mm.layer === model.get("layer");
  }

  function matrixWheel(ev) {
    ev.preventDefault();
    const r = canvas.getBoundingClientRect();
    const x = (ev.clientX - r.left) * (canvas.width / r.width) - 105, y = (ev.clientY - r.top) * (canvas.height / r.height) - 105;
    const full = fullWindow();
    const win = zoom || (model.get("matrix_meta") || {}).window || full;
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
    zoom = [q0, q1, k0, k1];
    draw();
    clearTimeout(pending);
    pending = setTimeout(() => { model.set("window", zoom); model.save_changes(); }, 150);
  }

  // ---------------------------------------------------------------- model view
  function modelGeometry() {
    const mt = meta();
    const L = (mt.layers || []).length, H = mt.num_heads || 0;
    const cell = Math.max(28, Math.min(64, Math.floor(700 / Math.max(H, 1))));
    return { L, H, cell, ox: 36, oy: 30 };
  }

  function drawModel() {
    const g = modelGeometry();
    canvas.width = g.ox + g.H * g.cell + 4; canvas.height = g.oy + g.L * g.cell + 4;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const t = get("thumbs");
    ctx.fillStyle = "#555"; ctx.font = "11px sans-serif"; ctx.textBaseline = "middle";
    ctx.fillText("layers × heads · click a thumbnail to open it in the head view", 4, 9);
    if (!t) return false;
    const [L, H, s1, s2] = t.shape;
    const layers = meta().layers || [];
    for (let l = 0; l < L; l++) {
      ctx.fillStyle = "#333"; ctx.textAlign = "right";
      ctx.fillText(`L${layers[l]}`, g.ox - 4, g.oy + (l + 0.5) * g.cell);
      for (let h = 0; h < H; h++) {
        if (l === 0) { ctx.textAlign = "center"; ctx.fillText(`H${h}`, g.ox + (h + 0.5) * g.cell, g.oy - 8); }
        const sub = { data: t.data.subarray(((l * H + h) * s1) * s2, ((l * H + h + 1) * s1) * s2), shape: [1, s1, s2] };
        const img = matrixImage(sub, 0.5);
        ctx.imageSmoothingEnabled = false;
        ctx.drawImage(img.canvas, g.ox + h * g.cell + 1, g.oy + l * g.cell + 1, g.cell - 2, g.cell - 2);
        if (layers[l] === model.get("layer") && selectedHeads().length === 1 && selectedHeads()[0] === h) {
          ctx.strokeStyle = "#c00"; ctx.strokeRect(g.ox + h * g.cell + 0.5, g.oy + l * g.cell + 0.5, g.cell - 1, g.cell - 1);
        }
      }
    }
    return true;
  }

  function modelClick(ev) {
    const r = canvas.getBoundingClientRect();
    const g = modelGeometry();
    const x = (ev.clientX - r.left) * (canvas.width / r.width) - g.ox, y = (ev.clientY - r.top) * (canvas.height / r.height) - g.oy;
    const h = Math.floor(x / g.cell), l = Math.floor(y / g.cell);
    if (h < 0 || h >= g.H || l < 0 || l >= g.L) return;
    openHead((meta().layers || [])[l], h);
  }

  function openHead(layer, h) {
    model.set("layer", layer);
    model.set("heads", [h]);
    model.set("view", "head");
    model.save_changes();
  }

  // ---------------------------------------------------------------- summaries
  function drawSummary() {
    const s = get("summary");
    const sm = model.get("summary_meta") || {};
    sumCaps[0].textContent = `mean over heads · layer ${model.get("layer")}`;
    sumCaps[1].textContent = sm.rollout === false ? "rollout: not defined for this attention kind" : `rollout through layer ${model.get("layer")}`;
    for (let z = 0; z < 2; z++) {
      const c = sumCanvases[z], cx = c.getContext("2d");
      cx.clearRect(0, 0, c.width, c.height);
      if (!s || (z === 1 && sm.rollout === false)) continue;
      const [, r, k] = s.shape;
      const img = matrixImage({ data: s.data.subarray(z * r * k, (z + 1) * r * k), shape: [1, r, k] });
      cx.imageSmoothingEnabled = false;
      cx.drawImage(img.canvas, 0, 0, c.width, c.height);
    }
    const e = get("entropy");
    const mt = meta();
    if (!e) return;
    const [L, H] = e.shape;
    const cell = 16, ox = 28, oy = 14;
    entCanvas.width = ox + H * cell + 2; entCanvas.height = oy + L * cell + 2;
    const ex = entCanvas.getContext("2d");
    ex.clearRect(0, 0, entCanvas.width, entCanvas.height);
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
    entCanvas.onmousemove = (ev) => {
      const r = entCanvas.getBoundingClientRect();
      const h = Math.floor((ev.clientX - r.left - ox) / cell), l = Math.floor((ev.clientY - r.top - oy) / cell);
      entCanvas.title = h >= 0 && h < H && l >= 0 && l < L ? `layer ${mt.layers[l]} head ${h}: ${e.data[l * H + h].toFixed(2)} nats (uniform: ${maxE.toFixed(2)})` : "";
    };
    entCanvas.onclick = (ev) => {
      const r = entCanvas.getBoundingClientRect();
      const h = Math.floor((ev.clientX - r.left - ox) / cell), l = Math.floor((ev.clientY - r.top - oy) / cell);
      if (h >= 0 && h < H && l >= 0 && l < L) openHead(mt.layers[l], h);
    };
  }

  // ---------------------------------------------------------------- wiring
  function draw() {
    const t0 = performance.now();
    setError();
    controls();
    const v = model.get("view");
    canvas.onmousemove = v === "head" ? headHover : null;
    canvas.onmouseleave = v === "head" ? () => { if (hover) { hover = null; root.dataset.hover = ""; info.textContent = ""; draw(); } } : null;
    canvas.onwheel = v === "matrix" ? matrixWheel : null;
    canvas.ondblclick = v === "matrix" ? () => { zoom = null; model.set("window", []); model.save_changes(); draw(); } : null;
    canvas.onclick = v === "model" ? modelClick : null;
    if (!meta().layers) { canvas.width = 10; canvas.height = 10; return; }
    const ready = v === "head" ? drawHead() : v === "matrix" ? drawMatrix() : drawModel();
    root.dataset.ready = ready ? "1" : "0";
    drawSummary();
    const ms = performance.now() - t0;
    root.dataset.drawMs = ms.toFixed(1);
    root.dataset.layer = String(model.get("layer"));
    root.dataset.edgeLayer = String((model.get("edge_meta") || {}).layer);
    root.dataset.view = v;
    root.dataset.frames = String(parseInt(root.dataset.frames || "0", 10) + 1);
  }

  let raf = 0;
  const schedule = () => { if (!raf) raf = requestAnimationFrame(() => { raf = 0; draw(); }); };
  const onMatrix = () => {
    const mm = model.get("matrix_meta") || {};
    if (zoom && mm.window && mm.window.join() === zoom.join()) zoom = null; // sharper data for the zoom arrived
    schedule();
  };
  // An array and its *_meta arrive in one message, as separate change events: the redraw is coalesced.
  const names = ["meta", "view", "layer", "heads", "edge_index", "edge_weight", "edge_meta", "thumbs",
    "summary", "summary_meta", "entropy", "error"];
  for (const n of names) model.on(`change:${n}`, schedule);
  model.on("change:matrix", onMatrix);
  model.on("change:matrix_meta", onMatrix);
  model.on("change:view", () => { hover = null; });
  draw();
  return () => {
    for (const n of names) model.off(`change:${n}`, schedule);
    model.off("change:matrix", onMatrix);
    model.off("change:matrix_meta", onMatrix);
    if (raf) cancelAnimationFrame(raf);
    clearTimeout(pending);
  };
}

export default { render };
