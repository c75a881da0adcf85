// The FineTune cockpit's line chart: series drawn on a canvas from one float32 (N, 2) array of
// (x, y) points; `meta` lists each series' name, colour, dash, and its rows (offset, length).
// One quantity per chart (small multiples: the cockpit shows eval loss and accuracy apart), the legend
// under the plot (never over the lines), drawn at the device pixel ratio in the theme's colours;
// hovering the plot reads each series' value at the nearest step out in the legend.
import { arrayReader } from "./_arrays.js";
import { sizeCanvas } from "./_imagecanvas.js";

const WIDTH = 205 /* four in a row in a JupyterLab output */, TITLE_H = 18, PLOT_H = 130, XAXIS_H = 18, LEGEND_ROW = 14, FONT = "11px sans-serif";

// Data bounds over every finite point: {x0, x1, y0, y1, n}
function bounds(xy) {
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity, n = 0;
  for (let i = 0; i < xy.length; i += 2) {
    const x = xy[i], y = xy[i + 1];
    if (!isFinite(x) || !isFinite(y)) continue;
    x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); n++;
  }
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { const d = y0 === 0 ? 1 : Math.abs(y0) * 0.05; y0 -= d; y1 += d; } // a flat line, centred (at 0: -1..1)
  return { x0, x1, y0, y1, n };
}

// A y tick with as many digits as the axis' span needs, scientific for tiny or huge values
// ("9.63e-5", never "0.0000963"): neighbouring ticks differ, and the label stays short.
export function tick(v, span = Math.abs(v) || 1) {
  const a = Math.abs(v), mag = Math.floor(Math.log10(span));
  if (a !== 0 && (a < 1e-2 || a >= 1e4)) {
    return v.toExponential(Math.min(4, Math.max(1, Math.floor(Math.log10(a)) - mag + 1)));
  }
  return v.toFixed(Math.min(6, Math.max(0, 1 - mag)));
}

// Text and frame colours from JupyterLab's theme variables (readable in the dark theme), else the page's
function theme(el) {
  const css = getComputedStyle(el);
  const v = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  return { ink: v("--jp-ui-font-color1", css.color || "#222"), muted: v("--jp-ui-font-color2", "#666"),
           frame: v("--jp-border-color1", "#999") };
}

// The plot's rectangle (CSS pixels): a left margin as wide as the widest y tick, the legend below the x axis
function layout(ctx, b, rows) {
  const ticks = b.n ? [b.y0, (b.y0 + b.y1) / 2, b.y1] : [];
  const labels = ticks.map(v => tick(v, b.y1 - b.y0));
  ctx.font = FONT;
  const left = Math.ceil(Math.max(20, ...labels.map(t => ctx.measureText(t).width))) + 8;
  const top = TITLE_H, legendTop = top + PLOT_H + XAXIS_H;
  return { left, top, width: WIDTH - left - 8, height: PLOT_H, ticks, labels, legendTop,
           total: legendTop + rows * LEGEND_ROW + (rows ? 4 : 0) };
}

// The point of a series nearest to data x (its index), or -1
function nearest(xy, s, x) {
  let best = -1, gap = Infinity;
  for (let j = 0; j < s.length; j++) {
    const px = xy[2 * (s.offset + j)], py = xy[2 * (s.offset + j) + 1];
    if (!isFinite(px) || !isFinite(py)) continue;
    const d = Math.abs(px - x);
    if (d < gap) { gap = d; best = j; }
  }
  return best;
}

function render({ model, el }) {
  const c = document.createElement("canvas");
  c.className = "wb-finetune-chart";
  c.setAttribute("role", "img");
  el.appendChild(c);
  const get = arrayReader(model);
  let hover = null, last = null; // the data x under the pointer; the last layout drawn
  const draw = () => {
    const points = get("data");
    const xy = points ? points.data : new Float32Array(0);
    const series = model.get("meta") || [];
    const b = bounds(xy), L = layout(c.getContext("2d"), b, series.length);
    const ctx = sizeCanvas(c, WIDTH, L.total); // also clears the canvas
    c.style.height = L.total + "px";
    const t = theme(el), title = model.get("title");
    ctx.font = FONT; ctx.textBaseline = "alphabetic"; ctx.textAlign = "left";
    ctx.fillStyle = t.ink; ctx.fillText(title, L.left, 12);
    ctx.strokeStyle = t.frame; ctx.lineWidth = 1; ctx.setLineDash([]);
    ctx.strokeRect(L.left + 0.5, L.top + 0.5, L.width, L.height);
    c.dataset.points = String(b.n);
    c.dataset.ink = t.ink; // what tests read: the text colour, the plot box and where the legend starts
    c.dataset.plot = [L.left, L.top, L.width, L.height].join(",");
    c.dataset.legendTop = String(L.legendTop);
    c.setAttribute("aria-label", `${title}: ${series.map(s => s.name).join(", ") || "no data yet"}`);
    last = { L, b };
    if (!b.n) return;
    const X = x => L.left + (x - b.x0) / (b.x1 - b.x0) * L.width;
    const Y = y => L.top + L.height - (y - b.y0) / (b.y1 - b.y0) * L.height;
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    L.ticks.forEach((v, i) => ctx.fillText(L.labels[i], L.left - 4, Math.min(Math.max(Y(v), L.top + 5), L.top + L.height - 5)));
    ctx.textBaseline = "top";
    ctx.textAlign = "left"; ctx.fillText(String(Math.round(b.x0)), L.left, L.top + L.height + 3);
    ctx.textAlign = "right"; ctx.fillText(String(Math.round(b.x1)), L.left + L.width, L.top + L.height + 3);
    ctx.textAlign = "center"; ctx.fillStyle = t.muted; ctx.fillText("step", L.left + L.width / 2, L.top + L.height + 3);
    ctx.save();
    ctx.beginPath(); ctx.rect(L.left, L.top, L.width + 1, L.height + 1); ctx.clip();
    series.forEach(s => {
      ctx.strokeStyle = ctx.fillStyle = s.color; ctx.setLineDash(s.dash ? [4, 3] : []); ctx.lineWidth = 1.5;
      ctx.beginPath();
      for (let j = 0; j < s.length; j++) {
        const px = X(xy[2 * (s.offset + j)]), py = Y(xy[2 * (s.offset + j) + 1]);
        if (j === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
        if (s.length < 30) ctx.fillRect(px - 1.5, py - 1.5, 3, 3); // few points (evaluations): mark each
      }
      ctx.stroke();
    });
    if (hover !== null) {
      ctx.setLineDash([2, 2]); ctx.strokeStyle = t.muted; ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(X(hover), L.top); ctx.lineTo(X(hover), L.top + L.height); ctx.stroke();
    }
    ctx.restore();
    // the legend: a swatch of each line and its name (with its value at the hovered step)
    ctx.textAlign = "left"; ctx.textBaseline = "middle"; ctx.lineWidth = 2;
    const readout = [];
    series.forEach((s, k) => {
      const y = L.legendTop + k * LEGEND_ROW + 7;
      ctx.strokeStyle = s.color; ctx.setLineDash(s.dash ? [4, 3] : []);
      ctx.beginPath(); ctx.moveTo(L.left, y); ctx.lineTo(L.left + 18, y); ctx.stroke();
      let text = s.name;
      const j = hover === null ? -1 : nearest(xy, s, hover);
      if (j >= 0) {
        const x = xy[2 * (s.offset + j)], v = xy[2 * (s.offset + j) + 1];
        text += `  ${tick(v, b.y1 - b.y0)} @ step ${Math.round(x)}`;
        readout.push(text);
      }
      ctx.fillStyle = t.ink; ctx.fillText(text, L.left + 24, y, WIDTH - L.left - 28);
    });
    ctx.setLineDash([]);
    c.dataset.readout = readout.join("; "); // the hover read-out, for tests and c.title
    c.title = c.dataset.readout;
    c.dataset.version = String((+c.dataset.version || 0) + 1);
  };
  const move = (e) => {
    if (!last || !last.b.n) return;
    const { L, b } = last, r = c.getBoundingClientRect(), px = e.clientX - r.left;
    const inside = px >= L.left && px <= L.left + L.width;
    const x = inside ? b.x0 + (px - L.left) / L.width * (b.x1 - b.x0) : null;
    if (x !== hover) { hover = x; draw(); }
  };
  const leave = () => { if (hover !== null) { hover = null; draw(); } };
  c.addEventListener("mousemove", move);
  c.addEventListener("mouseleave", leave);
  // the theme's colours change with the theme: redraw then, once its style applies (drawn in the observer's
  // callback itself, the old theme's ink was read: dark text on the dark theme), and once more for a late sheet
  let late = 0;
  const themed = new MutationObserver(() => {
    requestAnimationFrame(draw);
    clearTimeout(late);
    late = setTimeout(draw, 400);
  });
  themed.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-name", "data-jp-theme-light"] });
  model.on("change:data", draw);
  model.on("change:meta", draw);
  model.on("change:title", draw);
  draw();
  return () => {
    themed.disconnect();
    clearTimeout(late);
    model.off("change:data", draw); model.off("change:meta", draw); model.off("change:title", draw);
  };
}

export default { render };
