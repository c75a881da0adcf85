// Arrays from the kernel, shared by every panel's ES module: one trait per array, as
// {dtype, shape, buffer} (widgets/_serialize.py). ipywidgets hands the buffer over as a DataView
// (save_html pages do the same). Panels `import { ... } from "./_arrays.js"`; the kernel side
// inlines this file there, since anywidget loads a module from a blob: URL.

// IEEE half (as uint16 bits) -> number
export function halfToFloat(h) {
  const s = (h & 0x8000) ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e === 0) return s * f * 5.960464477539063e-8;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * Math.pow(2, e - 15);
}

// {dtype, shape, buffer} -> {data: TypedArray, shape} (float16 widened to Float32Array); null when empty
export function fromWire(w) {
  if (!w || !w.shape || !w.buffer) return null;
  const v = w.buffer;
  const bytes = v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (!bytes.length) return null;
  const copy = bytes.slice().buffer; // aligned for the typed array
  let data;
  if (w.dtype === "float16") {
    const u = new Uint16Array(copy);
    data = new Float32Array(u.length);
    for (let i = 0; i < u.length; i++) data[i] = halfToFloat(u[i]);
  } else if (w.dtype === "float32") data = new Float32Array(copy);
  else if (w.dtype === "uint16") data = new Uint16Array(copy);
  else if (w.dtype === "uint8") data = new Uint8Array(copy);
  else if (w.dtype === "int32") data = new Int32Array(copy);
  else throw new Error("unknown dtype " + w.dtype);
  return { data, shape: w.shape };
}

// model -> (name -> decoded array trait), decoding each value once (until the trait changes)
export function arrayReader(model) {
  const cache = new Map();
  return (name) => {
    const wire = model.get(name);
    const hit = cache.get(name);
    if (hit && hit.wire === wire) return hit.val;
    const val = fromWire(wire);
    cache.set(name, { wire, val });
    return val;
  };
}
