"""The Generate panel driven from Python on a tiny random GPT-2: streaming into the tree, forcing and walking
back to branches, Stop mid-generation, strategies, inside the model, errors, static picture, renderers."""

from __future__ import annotations

import time

import pytest

from tests.formats.gguf_fixtures import write_tiny_gpt2
from widgets._render.generation import lens_html, prob_color, strategies_html, tokens_html
from widgets.generate import ROOT, Generate
from workbench.pipelines import pipeline


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    return pipeline("text-generation", model=str(write_tiny_gpt2(tmp_path_factory.mktemp("gen-panel"))))


def test_renderers():
    assert prob_color(0.0) != prob_color(1.0)
    html = tokens_html("Hi", [{"text": " there<", "prob": 0.5, "top": [[1, " there<", 0.5], [2, "!", 0.2]]}])
    assert "there&lt;" in html and "50" in html and "Hi" in html
    assert html.count("wb-gen-token") == 1
    cols = strategies_html({"greedy": ["a"], "beam search": ["b", "c"]})
    assert cols.count("wb-gen-strategy") == 2 and "<li" in cols
    import numpy as np

    lens = lens_html(["a", "b"], [[["x"], ["y"]]] * 5, np.full((5, 2, 1), 0.5), every=2)
    assert lens.count("<tr>") == 1 + 3 and "output" in lens and "embed" in lens


def test_streams_into_the_tree_then_a_forced_branch_and_a_walk_back(pipe):
    panel = Generate(pipe, prompt="Hello", max_new_tokens=6)
    assert not panel.untrained and not panel.error
    panel.generate()
    panel.wait(30)
    assert panel.runs == 1 and panel.streamed == 6 and not panel.error, panel.error
    first = list(panel.view.path)
    nodes = panel.view.nodes
    assert len(first) == 6 and [n["parent"] for n in nodes[:6]] == [ROOT, 0, 1, 2, 3, 4]
    assert all(n["top"][0][0] == n["token"] for n in nodes)  # greedy: each token is its step's top candidate
    greedy_text = panel.text
    assert greedy_text == pipe("Hello", max_new_tokens=6, return_full_text=False)[0]["generated_text"]
    assert "wb-gen-token" in panel.static_html
    # force the second candidate of step 2: a new branch from node 0, decoded on to the same depth
    second = nodes[1]["top"][1][0]
    panel.view.force = {"parent": 0, "token": second, "seq": 1}  # what a click in the browser sends
    panel.wait(30)
    branch = list(panel.view.path)
    assert branch[0] == first[0] and panel.view.nodes[branch[1]]["token"] == second and len(branch) == 6
    assert len(panel.view.nodes) == 6 + 5  # the old branch is kept
    assert panel.text != greedy_text
    # walking back to the first branch regenerates nothing
    panel.force(0, nodes[1]["token"])
    assert panel.view.path == first and len(panel.view.nodes) == 11 and panel.text == greedy_text


def test_stop_mid_generation_and_one_run_at_a_time(pipe):
    panel = Generate(pipe, prompt="Once upon a time", max_new_tokens=120)
    slow = panel.pipe.generate_steps

    def paced(*args, on_step, **kwargs):  # slow each step down so Stop lands mid-generation
        def step(s):
            time.sleep(0.02)
            on_step(s)
        return slow(*args, on_step=step, **kwargs)

    panel.pipe.generate_steps = paced
    try:
        panel.generate()
        while panel.streamed < 3:
            time.sleep(0.01)
        panel._act(panel.generate)  # a second run while the first is going: refused, in the panel
        assert "still generating" in panel.error
        panel.stop()
        panel.wait(30)
        assert 3 <= panel.streamed < 120 and not panel.busy
    finally:
        del panel.pipe.generate_steps


def test_strategies_inside_and_errors(pipe):
    panel = Generate(pipe, prompt="The capital", max_new_tokens=4, do_sample=True, seed=3)
    panel.compare()
    panel.wait(60)
    assert set(panel.strategies) == {"greedy", "sampling (3)", "beam search (4 beams)"}
    assert len(panel.strategies["sampling (3)"]) == 3 and "wb-gen-strategies" in panel.static_html
    panel.generate()
    panel.wait(30)
    view = panel.inside()
    assert view.record.kind == "causal" and len(view.record.query_tokens) == len(pipe.encode("The capital")) + 4
    assert "wb-gen-lens" in panel.lens_view.value and "wb-gen-lens" in panel.static_html
    panel.temperature = -1.0  # refused from code, the panel says why and keeps the value
    assert panel.temperature == 1.0 and "temperature" in panel.error
    panel.prompt = "   "
    panel._act(panel.generate)
    assert "prompt" in panel.error
    broken = Generate(model="/no/such/folder")
    assert broken.pipe is None and "does not exist" in broken.error
