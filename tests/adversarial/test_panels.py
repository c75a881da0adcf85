"""Panels given bad values from code: the error shows in the panel, the trait and its control agree,
and the next good input works."""

from __future__ import annotations

import pytest

from widgets import NER, AttentionView, FillMask, QuestionAnswering, TextClassifier


@pytest.fixture(scope="module")
def panels(text_pipes):
    return {
        "ner": NER(text_pipes["token-classification"], debounce_ms=0),
        "fill": FillMask(text_pipes["fill-mask"], debounce_ms=0),
        "qa": QuestionAnswering(text_pipes["question-answering"], debounce_ms=0),
        "cls": TextClassifier(text_pipes["text-classification"], debounce_ms=0),
    }


def test_unknown_aggregation_strategy_from_code(panels):
    ner = panels["ner"]
    ner.text = "Ada Lovelace lived in London."
    assert not ner.error
    ner.aggregation_strategy = "bogus"
    assert "aggregation_strategy" in ner.error and "bogus" in ner.error
    assert ner.aggregation_strategy == ner._strategy.value != "bogus"  # trait and control agree
    ner.aggregation_strategy = "first"
    assert not ner.error and ner._strategy.value == "first"


@pytest.mark.parametrize("bad", [0, -3, 1000])
def test_top_k_out_of_range_from_code(panels, bad):
    fill = panels["fill"]
    fill.text = "Paris is the [MASK] of France."
    fill.top_k = bad
    assert "top_k" in fill.error
    assert fill.top_k == fill._slider.value and 1 <= fill.top_k <= fill._slider.max
    fill.top_k = 3
    assert not fill.error and len(fill.result) == 3


def test_stale_result_is_cleared_when_an_error_shows(panels):
    fill = panels["fill"]
    fill.text = "Paris is the [MASK] of France."
    assert fill.result and fill.html
    fill.text = "no mask token here"
    assert fill.error and not fill.result and "wb-stale" in fill._view.value or not fill._view.value


def test_question_answering_top_k_from_code(panels):
    qa = panels["qa"]
    qa.context, qa.question = "Paris is in France.", "Where is Paris?"
    qa.top_k = -1
    assert "top_k" in qa.error and qa.top_k == qa._k.value >= 1
    qa.top_k = 2
    assert not qa.error and len(qa.result) == 2


def test_attention_view_bad_layer_and_heads_from_code(text_pipes):
    view = AttentionView(model=text_pipes["feature-extraction"], text="a short sentence")
    assert not view.error
    view.layer = 99
    assert "layer" in view.error and view.layer in view.record.layers
    view.heads = [0, 77]
    assert "heads" in view.error and all(0 <= h < view.record.num_heads for h in view.heads)
    view.layer = 1
    assert not view.error


def test_classifier_with_text_pair_only(panels):
    cls = panels["cls"]
    cls.text, cls.text_pair = "", "only the pair"
    assert not cls.error and cls.result == []
    cls.text = "now a text"
    assert not cls.error and cls.result


def test_untrained_weights_show_a_badge_in_every_panel(panels, text_pipes):
    """Random weights' output must never look meaningful: the load report reaches the panel."""
    for panel in panels.values():
        assert panel.untrained and "untrained weights" in panel._badge.value
    view = AttentionView(model=text_pipes["feature-extraction"], text="a sentence")
    assert view.untrained  # drawn by the ES module as a badge


def test_a_complete_checkpoint_shows_no_badge():
    from tests.support import minilm_folder
    from widgets import Similarity

    panel = Similarity(str(minilm_folder()), sentences=["a", "b"], debounce_ms=0)
    assert panel.untrained == [] and panel._badge.value == ""
