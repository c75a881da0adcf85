// Compare's disagreement table: sorted in the browser (click a header; again to reverse), no kernel round trip.
// Rows arrive as a list of lists (`rows`) with `columns` names; `wrong` marks cells whose answer is not the label.
function cmp(a, b) {
  const na = typeof a === "number", nb = typeof b === "number";
  if (na && nb) return a - b;
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  return String(a).localeCompare(String(b));
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "wb-cmp-table-root";
  const style = document.createElement("style");
  style.textContent = model.get("css");
  el.appendChild(style);
  el.appendChild(root);
  let by = -1, desc = false;

  function draw() {
    const columns = model.get("columns") || [];
    const rows = (model.get("rows") || []).map((r, i) => ({ r, i }));
    const wrong = model.get("wrong") || [];
    if (by >= 0) rows.sort((x, y) => (desc ? -1 : 1) * cmp(x.r[by], y.r[by]) || x.i - y.i);
    root.innerHTML = "";
    if (!rows.length) return; // every model agreed: the summary above says so, no empty header
    const wrap = document.createElement("div");
    wrap.className = "wb-cmp-table-wrap";
    const table = document.createElement("table");
    table.className = "wb-cmp-table";
    const head = table.createTHead().insertRow();
    columns.forEach((name, c) => {
      const th = document.createElement("th");
      th.textContent = name;
      th.title = "sort by " + name;
      if (c === by) th.setAttribute("aria-sort", desc ? "descending" : "ascending");
      th.addEventListener("click", () => {
        desc = c === by ? !desc : false;
        by = c;
        root.dataset.sortBy = name;
        root.dataset.sortDesc = desc ? "1" : "0";
        draw();
      });
      head.appendChild(th);
    });
    const body = table.createTBody();
    for (const { r, i } of rows) {
      const tr = body.insertRow();
      tr.dataset.index = String(i);
      r.forEach((value, c) => {
        const td = tr.insertCell();
        td.textContent = value === null || value === undefined ? "" : String(value);
        if ((wrong[i] || []).includes(c)) td.className = "wb-cmp-wrong";
      });
    }
    wrap.appendChild(table);
    root.appendChild(wrap);
  }
  model.on("change:rows", draw);
  model.on("change:columns", draw);
  draw();
}

export default { render };
