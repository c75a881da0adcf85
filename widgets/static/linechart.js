// The FineTune cockpit's line chart: series drawn on a canvas from one float32 (N, 2) array of
// (x, y) points; `meta` lists each series' name, colour, dash, and its rows (offset, length).
import { arrayReader } from "./_arrays.js";

const PAD = { left: 48, right: 8, top: 18, bottom: 22 };

// Data bounds over every finite point: {x0, x1, y0, y1, n}
function bounds(xy) {
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity, n = 0;
  for (let i = 0; i < xy.length; i += 2) {
    const x = xy[i], y = xy[i + 1];
    if (!isFinite(x) || !isFinite(y)) continue;
    x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); n++;
  }
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) y1 = y0 + Math.abs(y0) * 0.1 + 1e-12;
  return { x0, x1, y0, y1, n };
}

// A y tick that fits the 48 px margin: scientific for tiny or huge values ("1.0e-3", not "0.00100")
export function tick(v) {
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-2 || a >= 1e4) ? v.toExponential(1) : v.toPrecision(3);
}

// Frame, title and the axis extremes (text in the page's colour: readable in the dark theme too)
function drawFrame(ctx, c, title, b) {
  const W = c.width - PAD.left - PAD.right, H = c.height - PAD.top - PAD.bottom;
  ctx.fillStyle = getComputedStyle(c).color || "#333"; ctx.font = "11px sans-serif";
  ctx.fillText(title, PAD.left, 12);
  ctx.strokeStyle = "#999"; ctx.strokeRect(PAD.left, PAD.top, W, H);
  if (!b.n) return;
  ctx.fillText(tick(b.y1), 2, PAD.top + 8); ctx.fillText(tick(b.y0), 2, PAD.top + H);
  ctx.fillText(String(Math.round(b.x0)), PAD.left, c.height - 6);
  ctx.fillText(String(Math.round(b.x1)), PAD.left + W - 24, c.height - 6);
}

// One polyline per series, with its name as a legend line
function drawSeries(ctx, c, xy, series, b) {
  const W = c.width - PAD.left - PAD.right, H = c.height - PAD.top - PAD.bottom;
  series.forEach((s, k) => {
    ctx.strokeStyle = s.color; ctx.setLineDash(s.dash ? [4, 3] : []); ctx.lineWidth = 1.5;
    ctx.beginPath();
    for (let j = 0; j < s.length; j++) {
      const x = xy[2 * (s.offset + j)], y = xy[2 * (s.offset + j) + 1];
      const px = PAD.left + (x - b.x0) / (b.x1 - b.x0) * W, py = PAD.top + H - (y - b.y0) / (b.y1 - b.y0) * H;
      if (j === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
    }
    ctx.stroke();
    ctx.setLineDash([]); ctx.fillStyle = s.color; ctx.fillText(s.name, PAD.left + 6, PAD.top + 12 + 12 * k);
  });
}

function render({ model, el }) {
  const c = document.createElement("canvas");
  c.className = "wb-finetune-chart";
  c.width = 280; c.height = 190;
  el.appendChild(c);
  const get = arrayReader(model);
  const draw = () => {
    const ctx = c.getContext("2d");
    ctx.clearRect(0, 0, c.width, c.height);
    const points = get("data");
    const xy = points ? points.data : new Float32Array(0);
    const b = bounds(xy);
    drawFrame(ctx, c, model.get("title"), b);
    c.dataset.points = String(b.n);
    if (!b.n) return;
    drawSeries(ctx, c, xy, model.get("meta") || [], b);
    c.dataset.version = String((+c.dataset.version || 0) + 1);
  };
  model.on("change:data", draw);
  model.on("change:meta", draw);
  draw();
  return () => { model.off("change:data", draw); model.off("change:meta", draw); };
}

export default { render };
