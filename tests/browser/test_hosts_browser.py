"""Every panel in every host we can run here, offline: JupyterLab 4 (light and dark theme, axe-core), the
saved notebook's static pictures in `jupyter nbconvert --to html` output (no kernel, no network),
Notebook 7 and Voila (nothing requested beyond 127.0.0.1: no Font Awesome or MathJax from a CDN).

One notebook (tests/browser/panels.py) holds all the panels; each host runs it once.
Set WB_SHOTS=<folder> to keep screenshots of every panel (light, dark, Notebook 7, Voila).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import panels as P
from tests.browser.harness import (
    NetLog,
    assert_no_widget_errors,
    axe_violations,
    guarded_context,
    guarded_page,
    open_notebook,
    open_voila,
    run_in_kernel,
    wait_until,
)

SHOTS = os.environ.get("WB_SHOTS", "")
MAX_OUTPUT_BYTES = 200_000  # the limit for one saved output (its static picture)
# panels whose static view is HTML text (bars, highlighted tokens): a string it must show
TEXT_VIEWS = {"fill": "paris is the", "classify": "POSITIVE", "ner": "Berlin", "qa": "answer:"}

_WIDGETS_SHOWN = """(sels) => sels.every(s => { const n = document.querySelector(s);
  return n && n.getBoundingClientRect().width > 50 && n.getBoundingClientRect().height > 20; })
  && !document.body.innerText.includes('Loading widget')"""


def _panels_shown(page, timeout: float = 60.0) -> None:
    page.wait_for_function(_WIDGETS_SHOWN, arg=list(P.PANELS.values()), timeout=timeout * 1000)


_BARS = """(root) => [...root.querySelectorAll('.wb-bar-row')].map(r => {
  const bar = r.querySelector('.wb-bar'), label = r.querySelector('.wb-bar-label');
  return {label: r.dataset.label, score: +r.dataset.score, title: label.title,
          fill: bar.getBoundingClientRect().width / bar.parentElement.getBoundingClientRect().width,
          cut: label.scrollWidth > label.clientWidth + 1};
})"""


def _check_bars(page, panel: str, expected: list[tuple[str, float]]) -> None:
    """The panel's bars in the page: the kernel's labels and scores, in order, each bar as wide as its score,
    every label readable (shown whole, or ellipsised with the whole label as its tooltip)."""
    rows = page.locator(P.PANELS[panel]).first.evaluate(_BARS)
    assert [r["label"] for r in rows] == [label for label, _ in expected], (panel, rows)
    top = max(1.0, max(abs(s) for _, s in expected))
    for r, (label, score) in zip(rows, expected):
        assert r["score"] == pytest.approx(score, abs=1e-5), (panel, r)
        assert r["fill"] == pytest.approx(max(0.0, score) / top, abs=0.01), (panel, r)
        assert r["title"] == label, (panel, r)


def _check_text_panels(page) -> None:
    """TextClassifier, QuestionAnswering, NER and Similarity show the kernel's results: labels and bar widths."""
    got = json.loads(run_in_kernel(page, """import json
print(json.dumps({"classify": [(d["label"], d["score"]) for d in classify.result],
                  "qa": [(a["answer"] or "(no answer)", a["score"]) for a in qa.result],
                  "qa_best": qa.result[0]["answer"],
                  "ner": [(e["word"], e["entity"]) for e in ner.result],
                  "sim": [[float(x) for x in row] for row in sim.result], "sentences": list(sim.sentences)}))"""))
    assert len(got["classify"]) == 2 and len(got["qa"]) == 3, got
    _check_bars(page, "classify", got["classify"])
    _check_bars(page, "qa", got["qa"])
    from playwright.sync_api import expect

    expect(page.locator(".wb-qa-panel .wb-qa-best")).to_have_text(got["qa_best"])
    # NER: one mark per token entity, its type as the data attribute, in order
    marks = page.locator(".wb-ner-panel mark.wb-entity").evaluate_all(
        "ms => ms.map(m => [m.dataset.type, m.innerText])")
    assert [t for t, _ in marks] == [e.split("-")[-1] for _, e in got["ner"]], (marks, got["ner"])
    assert all(word.lstrip("#").lower() in text.lower() for (_, text), (word, _) in zip(marks, got["ner"])), (marks, got["ner"])
    # Similarity: each sentence's nearest neighbour is the kernel's argmax over the others
    rows = page.locator(".wb-similarity-panel tr.wb-nn-row").evaluate_all("rs => rs.map(r => r.innerText)")
    assert len(rows) == len(got["sentences"]) == 5, rows
    for i, (row, sims) in enumerate(zip(rows, got["sim"])):
        j = max((k for k in range(len(sims)) if k != i), key=lambda k: sims[k])
        assert got["sentences"][j] in row.split("→")[1] and f"({sims[j]:.3f})" in row, (i, row)
    heat = page.locator(".wb-similarity-panel img[alt='cosine similarity heatmap']")
    assert heat.evaluate("i => i.complete && i.naturalWidth > 100"), "the similarity heatmap is drawn"
    # shown at its own CSS size or smaller, never stretched past it, aspect kept, sharp at the page's pixel ratio
    img = heat.evaluate("""i => ({shown: i.getBoundingClientRect().width, tall: i.getBoundingClientRect().height,
      css: +i.getAttribute('width'), w: i.naturalWidth, h: i.naturalHeight, dpr: window.devicePixelRatio, tip: i.title})""")
    assert 0 < img["shown"] <= img["css"] + 0.5 and img["shown"] * img["dpr"] <= img["w"] + 1, img
    assert img["tall"] / img["shown"] == pytest.approx(img["h"] / img["w"], rel=0.01), img
    assert all(s in img["tip"] for s in got["sentences"]), img  # the full sentences, whatever the labels cut


def _check_layout(page) -> None:
    """Controls that used to wrap or cut: the speech panel's timestamp toggle sits on the beam row, its buttons
    on one line; no widget label of any panel is cut (a description wider than its box)."""
    rows = page.locator(".wb-transcribe-panel").first.evaluate("""p => {
      const span = e => { const r = e.getBoundingClientRect(); return [r.top, r.bottom]; };
      const buttons = [...p.querySelectorAll('.widget-toggle-buttons button')].map(span);
      return {beam: span(p.querySelector('.widget-dropdown select')), buttons};
    }""")
    (top, bottom), buttons = rows["beam"], rows["buttons"]
    # on one row: each button overlaps the dropdown vertically (wrapped, it would sit wholly below it)
    assert len(buttons) == 2 and all(t < bottom and b > top for t, b in buttons), rows
    cut = page.evaluate("""(sels) => sels.flatMap(s => [...document.querySelectorAll(s + ' .widget-label')])
        .filter(l => l.offsetWidth > 0 && l.scrollWidth > l.clientWidth + 1).map(l => l.textContent)""",
                        list(P.PANELS.values()))
    assert cut == [], f"widget labels cut: {cut}"
    cut = page.evaluate("""(sels) => sels.flatMap(s => [...document.querySelectorAll(s + ' button')])
        .filter(b => b.offsetWidth > 0 && b.scrollWidth > b.clientWidth + 1).map(b => b.textContent.trim())""",
                        list(P.PANELS.values()))
    assert cut == [], f"button labels cut: {cut}"


_CHARTS = """cs => cs.map(c => { const [l, t, w, h] = c.dataset.plot.split(',').map(Number);
  const x = document.createElement('canvas').getContext('2d'); x.fillStyle = c.dataset.ink; x.fillRect(0, 0, 1, 1);
  const ink = [...x.getImageData(0, 0, 1, 1).data.slice(0, 3)];  // any CSS colour -> [r, g, b]
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let inked = 0;
  for (let i = 0; i < d.length; i += 4)
    if (d[i + 3] > 200 && Math.abs(d[i] - ink[0]) < 40 && Math.abs(d[i + 1] - ink[1]) < 40 && Math.abs(d[i + 2] - ink[2]) < 40) inked++;
  return {label: c.getAttribute('aria-label'), plotBottom: t + h, legendTop: +c.dataset.legendTop, ink, inked,
          cssWidth: c.getBoundingClientRect().width, width: c.width, dpr: window.devicePixelRatio}; })"""


def _check_charts(page, dark: bool) -> None:
    """The cockpit's charts: one quantity each (loss, learning rate, eval loss, eval accuracy), the legend below
    the plot, drawn at the device pixel ratio, text in the theme's colour (light on the dark theme)."""
    charts = page.locator(".wb-finetune canvas.wb-finetune-chart").evaluate_all(_CHARTS)
    titles = [c["label"].split(":")[0] for c in charts]
    assert titles == ["loss", "learning rate", "eval loss", "eval accuracy"], charts
    for c in charts:
        assert c["legendTop"] >= c["plotBottom"], c  # the legend is outside the plot area
        assert c["width"] == round(c["cssWidth"] * c["dpr"]), c
        assert c["inked"] > 30, c  # the title, ticks and legend are drawn in the ink colour
        assert (sum(c["ink"]) / 3 > 160) == dark, c  # light text on the dark theme, dark text on the light one
    if not dark:  # hover the loss plot: the legend reads the run's loss at the nearest step out
        loss = page.locator(".wb-finetune canvas.wb-finetune-chart").first
        loss.scroll_into_view_if_needed()
        box, plot = loss.bounding_box(), [float(v) for v in loss.get_attribute("data-plot").split(",")]
        page.mouse.move(box["x"] + plot[0] + plot[2] - 2, box["y"] + plot[1] + plot[3] / 2)
        steps = json.loads(run_in_kernel(page, "import json; print(json.dumps(finetune.current_run.steps))"))
        from playwright.sync_api import expect

        expect(loss).to_have_attribute("data-readout", re.compile(rf"^run 1 .* @ step {steps[-1]}$"))
        page.mouse.move(box["x"] - 50, box["y"] - 50)
        expect(loss).to_have_attribute("data-readout", "")


def _shoot(page, prefix: str) -> None:
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    for name, sel in P.PANELS.items():
        loc = page.locator(sel).first
        loc.scroll_into_view_if_needed()
        loc.screenshot(path=f"{SHOTS}/{prefix}-{name}.png")


def _axe(page) -> dict[str, list[dict]]:
    return {name: axe_violations(page, sel) for name, sel in P.PANELS.items()}


def _set_theme(page, theme: str, light: bool) -> None:
    page.evaluate(f"window.jupyterapp.commands.execute('apputils:change-theme', {{theme: {theme!r}}})")
    page.wait_for_function(f"() => document.body.dataset.jpThemeLight === {'true' if light else 'false'!r}"
                           " && document.body.dataset.jpThemeName === " + repr(theme))


@pytest.mark.browser
def test_panels_in_jupyterlab_and_saved_html(lab, lab_page, lab_notebook, net, chromium, tmp_path):
    page = lab_page
    nb = lab_notebook(P.CELLS)
    open_notebook(page, lab, nb, P.MARKER, timeout=300)
    _panels_shown(page)
    assert_no_widget_errors(page)
    _check_text_panels(page)
    _check_layout(page)
    _check_charts(page, dark=False)

    # axe-core on every panel, in both themes: no critical violation
    light = _axe(page)
    _shoot(page, "lab-light")
    _set_theme(page, "JupyterLab Dark", light=False)
    _panels_shown(page)
    _check_charts(page, dark=True)
    dark = _axe(page)
    _shoot(page, "lab-dark")
    _set_theme(page, "JupyterLab Light", light=True)
    print("axe critical violations:", json.dumps({"light": light, "dark": dark}))
    assert not any(light.values()) and not any(dark.values()), {"light": light, "dark": dark}

    # save it as a user would; the file then holds every panel's static picture
    page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
    path = lab.root / nb

    def saved_outputs():
        cells = json.loads(path.read_text())["cells"]
        outs = [o for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])]
        return outs if any("PANELS-READY" in "".join(o.get("text", "")) for o in outs) else None

    wait_until(saved_outputs, timeout=30, what="the saved notebook with its outputs")
    _check_static_html(chromium, path, tmp_path)


def _check_static_html(chromium, ipynb: Path, tmp_path: Path) -> None:
    """`jupyter nbconvert --to html` of the saved notebook, opened in Chromium offline: every panel's output
    shows its picture (images decoded, canvases absent: nothing needs a kernel); each output ≤ 200 KB."""
    cells = json.loads(ipynb.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    sizes = {}
    for name, cell in zip(["setup", *P.PANELS, "done"], code):
        if name in P.PANELS:
            # the static picture: self-contained HTML, or a PNG (the attention view)
            (out,) = [o for o in cell["outputs"] if {"text/html", "image/png"} & set(o.get("data", {}))]
            sizes[name] = len(json.dumps(out).encode())
    print("saved output sizes (bytes):", sizes)
    assert set(sizes) == set(P.PANELS), "every panel leaves a static picture in the saved notebook"
    assert max(sizes.values()) <= MAX_OUTPUT_BYTES, sizes

    html = tmp_path / "saved.html"
    subprocess.run([sys.executable, "-m", "nbconvert", "--to", "html", str(ipynb), "--output", str(html)],
                   check=True, capture_output=True, timeout=120)
    net = NetLog()  # a file:// page: CDN scripts of nbconvert's template are blocked (no network), not a failure
    context = guarded_context(chromium, net, offline=True)
    try:
        page = guarded_page(context, net)
        page.goto(html.as_uri())
        page.wait_for_load_state("load")
        # each panel's output (cells 2..) draws: images decoded with a size, SVG or text present
        report = page.evaluate("""() => [...document.querySelectorAll('.jp-Cell.jp-CodeCell')].map(c => {
            const out = c.querySelector('.jp-OutputArea');
            if (!out) return null;
            const imgs = [...out.querySelectorAll('img')];
            return {imgs: imgs.length, broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length,
                    shown: imgs.filter(i => i.getBoundingClientRect().width > 20).length,
                    iframes: out.querySelectorAll('iframe').length, svg: out.querySelectorAll('svg').length,
                    text: out.innerText || '', widget: out.innerText.includes('Loading widget')};
        })""")
        if SHOTS:
            page.screenshot(path=f"{SHOTS}/nbconvert-html.png", full_page=True)
        panels = dict(zip(P.PANELS, report[1:1 + len(P.PANELS)]))
        print("static views:", panels)
        for name, r in panels.items():
            assert r is not None and not r["widget"] and r["broken"] == 0, (name, r)
            if name in TEXT_VIEWS:  # bars and highlighted text as HTML: their words are there
                assert TEXT_VIEWS[name] in r["text"], (name, r)
            else:  # a decoded picture, drawn at a visible size
                assert r["shown"] >= 1, (name, r)
        assert net.page_errors == [], net.page_errors
    finally:
        context.close()


@pytest.mark.browser
def test_panels_in_notebook7(lab, lab_page, lab_notebook, net):
    page = lab_page
    # Notebook 7.6's own bundle throws these two while it loads (whatever the notebook holds): kept apart
    net.allowed_errors += [("reading 'schema'", "static/notebook/"),
                           ("Command 'filebrowser:open-path' not registered", "static/notebook/")]
    nb = lab_notebook(P.CELLS)
    open_notebook(page, lab, nb, P.MARKER, timeout=300, ui="notebook")
    assert "/notebooks/" in page.url
    _panels_shown(page)
    assert_no_widget_errors(page)
    _shoot(page, "nb7")


@pytest.mark.browser
def test_panels_in_voila_request_nothing_offsite(lab, lab_page, lab_notebook, net):
    page = lab_page
    nb = lab_notebook(P.CELLS)
    open_voila(page, lab, nb, P.MARKER, timeout=300)
    _panels_shown(page)
    assert_no_widget_errors(page)
    _shoot(page, "voila")
    # the network log saw Voila's page and its assets, all from this machine: no Font Awesome / MathJax CDN
    assert any("/voila/" in u for u in net.requests), net.requests[:5]
    assert net.offsite == []
    assert not [u for u in net.requests if "font-awesome" in u.lower() or "cdn" in u.lower()], net.requests
    # the "Attention" buttons' icon is drawn from Voila's bundled Font Awesome, not a missing glyph
    icon = page.locator(".wb-fill-mask-panel i.fa-eye").first
    assert "fontawesome" in icon.evaluate("e => getComputedStyle(e, '::before').fontFamily").lower().replace(" ", "")
