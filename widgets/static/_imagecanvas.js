// Shared by the image panels (detect.js, imageattn.js, ...), the attention view and the line chart: the photo
// as a bitmap, heat maps as images, element and canvas helpers. The kernel side inlines this file into each panel's module (anywidget loads a blob: URL).

// Create an element (with a class and text), appended to `parent`
export function el_(tag, cls, parent, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

// JPEG/PNG bytes (a DataView or ArrayBuffer from the kernel) -> an ImageBitmap (null when empty)
export async function bitmapOf(bytes) {
  if (!bytes) return null;
  const view = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!view.length) return null;
  return await createImageBitmap(new Blob([view]));
}

// The "inferno"-like ramp: 0 -> transparent dark purple, 1 -> opaque yellow, as [r, g, b, a]
export function heatRGBA(t, alpha) {
  const v = Math.max(0, Math.min(1, t));
  const r = Math.round(255 * Math.min(1, 1.6 * v + 0.05));
  const g = Math.round(255 * Math.max(0, Math.min(1, 1.5 * v - 0.45)));
  const b = Math.round(255 * Math.max(0, 0.55 - 1.4 * Math.abs(v - 0.25)));
  return [r, g, b, Math.round(255 * alpha * Math.min(1, 0.25 + v))];
}

// (rows, cols) values starting at data[offset] -> a small canvas, normalised to their maximum
export function heatCanvas(data, offset, rows, cols, alpha) {
  const off = document.createElement("canvas");
  off.width = cols; off.height = rows;
  const ctx = off.getContext("2d");
  const img = ctx.createImageData(cols, rows);
  let max = 1e-9;
  for (let i = 0; i < rows * cols; i++) max = Math.max(max, data[offset + i]);
  for (let i = 0; i < rows * cols; i++) {
    const [r, g, b, a] = heatRGBA(data[offset + i] / max, alpha);
    img.data[4 * i] = r; img.data[4 * i + 1] = g; img.data[4 * i + 2] = b; img.data[4 * i + 3] = a;
  }
  ctx.putImageData(img, 0, 0);
  return off;
}

// Size a canvas to w x h CSS pixels backed by the screen's device pixels (sharp on a HiDPI screen); its
// context then draws in CSS pixels. Setting the size also clears it.
export function sizeCanvas(canvas, w, h) {
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
  canvas.dataset.cssWidth = String(w); canvas.dataset.cssHeight = String(h);
  canvas.style.width = w + "px";
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return ctx;
}

// Pointer position in the canvas's drawing units: its pixels, or the CSS pixels of a `sizeCanvas` one (the
// canvas may be scaled by CSS)
export function canvasPoint(canvas, ev) {
  const r = canvas.getBoundingClientRect();
  const w = +(canvas.dataset.cssWidth || canvas.width), h = +(canvas.dataset.cssHeight || canvas.height);
  return { x: (ev.clientX - r.left) * (w / r.width), y: (ev.clientY - r.top) * (h / r.height) };
}

// The error box and the untrained-weights badge every panel shows
export function drawStatus(model, errBox, badge) {
  const e = model.get("error") || "";
  errBox.textContent = e;
  errBox.style.display = e ? "block" : "none";
  const w = model.get("untrained") || [];
  badge.textContent = w.length
    ? `\u26a0 untrained weights: ${w.length > 4 ? w.length + " weights" : w.join(", ")} freshly initialised. ` +
      "The outputs are random until the model is trained."
    : "";
  badge.style.display = w.length ? "block" : "none";
}

// Listen to the widget model, draw once, and return the cleanup anywidget calls when the view goes away
export function connect(model, el, s, handlers, start) {
  for (const [ev, fn] of handlers) model.on(ev, fn);
  start();
  return () => {
    for (const [ev, fn] of handlers) model.off(ev, fn);
    if (s.frame) cancelAnimationFrame(s.frame);
    el.innerHTML = "";
  };
}
