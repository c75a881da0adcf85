// Generation view: the prompt, then the generated tokens along the current path, each coloured by
// its probability (hover: the alternatives the model weighed); below, the decoding tree: one column
// per step with the top candidates. A click on a candidate asks Python to force that branch (or, when
// the branch exists already, to walk over to it). Drawing and hover need no kernel round trip.
function probColor(p) {
  // low probability: warm red, high: green; light enough for dark text in either theme
  const hue = Math.round(120 * Math.max(0, Math.min(1, p)));
  return `hsl(${hue}, 70%, 80%)`;
}

function pct(p) {
  return `${(100 * p).toFixed(p < 0.1 ? 1 : 0)}%`;
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "wb-generate";
  const stream = document.createElement("div");
  stream.className = "wb-gen-stream";
  const tip = document.createElement("div");
  tip.className = "wb-gen-tip";
  tip.hidden = true;
  const treeTitle = document.createElement("div");
  treeTitle.className = "wb-gen-tree-title";
  treeTitle.textContent = "Decoding tree: the top candidates at each step (click one to force that branch)";
  const tree = document.createElement("div");
  tree.className = "wb-gen-tree";
  root.append(stream, tip, treeTitle, tree);
  el.appendChild(root);

  let frame = 0;
  const schedule = () => {
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; draw(); });
  };

  const showTip = (ev, node) => {
    const rows = node.top.map(([id, text, p]) =>
      `<div class="wb-gen-tip-row${id === node.token ? " wb-chosen" : ""}"><code>${escapeHtml(visible(text))}</code>` +
      `<span>${pct(p)}</span></div>`).join("");
    tip.innerHTML = `<div class="wb-gen-tip-head">p = ${pct(node.prob)}</div>${rows}`;
    tip.hidden = false;
    const box = root.getBoundingClientRect();
    tip.style.left = `${ev.clientX - box.left + 12}px`;
    tip.style.top = `${ev.clientY - box.top + 12}px`;
  };

  const force = (parent, token) => {
    const seq = (model.get("force") || {}).seq || 0;
    model.set("force", { parent, token, seq: seq + 1 });
    model.save_changes();
  };

  const draw = () => {
    const nodes = model.get("nodes") || [];
    const path = model.get("path") || [];
    const byId = new Map(nodes.map((n) => [n.id, n]));
    stream.innerHTML = "";
    const prompt = document.createElement("span");
    prompt.className = "wb-gen-prompt";
    prompt.textContent = model.get("prompt_text");
    stream.appendChild(prompt);
    for (const id of path) {
      const node = byId.get(id);
      if (!node) continue;
      const span = document.createElement("span");
      span.className = "wb-gen-token";
      span.dataset.prob = node.prob.toFixed(4);
      span.dataset.node = node.id;
      span.style.background = probColor(node.prob);
      span.textContent = node.text;
      span.onmousemove = (ev) => showTip(ev, node);
      span.onmouseleave = () => { tip.hidden = true; };
      stream.appendChild(span);
    }
    tree.innerHTML = "";
    let parent = -1;
    path.forEach((id, step) => {
      const node = byId.get(id);
      if (!node) return;
      const from = parent; // this step's parent, fixed for the click handlers below
      const children = new Map(nodes.filter((n) => n.parent === from).map((n) => [n.token, n]));
      const col = document.createElement("div");
      col.className = "wb-gen-step";
      const head = document.createElement("div");
      head.className = "wb-gen-step-head";
      head.textContent = `${step + 1}`;
      col.appendChild(head);
      for (const [token, text, p] of node.top) {
        const cand = document.createElement("button");
        cand.className = "wb-gen-cand";
        if (token === node.token) cand.classList.add("wb-chosen");
        if (children.has(token)) cand.classList.add("wb-explored");
        cand.dataset.token = token;
        cand.dataset.parent = from;
        cand.title = `${pct(p)}${children.has(token) ? " (explored: click to walk there)" : " (click to force)"}`;
        cand.innerHTML = `<code>${escapeHtml(visible(text))}</code><span class="wb-gen-bar" style="width:${Math.max(2, 100 * p)}%"></span>`;
        cand.onclick = () => force(from, token);
        col.appendChild(cand);
      }
      tree.appendChild(col);
      parent = id;
    });
    tree.scrollLeft = tree.scrollWidth;
  };

  model.on("change:nodes", schedule);
  model.on("change:path", schedule);
  model.on("change:prompt_text", schedule);
  draw();
  return () => { if (frame) cancelAnimationFrame(frame); };
}

function visible(text) {
  return text.replace(/\n/g, "\u21b5").replace(/\t/g, "\u21e5").replace(/^ /, "\u2423");
}

function escapeHtml(s) {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

export default { render };
