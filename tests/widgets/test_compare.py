"""Compare: the diffs as pure functions on hand-made results, and the panel on tiny models whose differences are
known by construction (one model is a copy of the other with one bias pushed: a forced label, a forced token,
forced entities), so the markers it must draw are known before it runs."""
from __future__ import annotations

import copy

import pytest
import torch

from widgets import Compare
from widgets import _diff as D
from widgets._compare_rules import RULES
from workbench.auto import AutoConfig, AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoModelForTokenClassification
from workbench.pipelines import pipeline
from tests.support import minilm_folder

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37, max_position_embeddings=64)


@pytest.fixture(scope="module")
def tok():
    from workbench import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_folder())


def tiny(auto, tok, **fields):
    torch.manual_seed(0)
    return auto.from_config(AutoConfig.for_model("bert", vocab_size=tok.vocab_size, **TINY, **fields)).eval()


def pushed(model, name: str, index: int, value: float):
    """A copy of `model` with one entry of one bias set to `value` (the known difference)."""
    other = copy.deepcopy(model)
    with torch.no_grad():
        dict(other.named_parameters())[name][index] = value
    return other


# -- the diffs, on hand-made results ---------------------------------------------------------------------
def test_rank_changes_label_flips_entities_words_boxes():
    key = lambda d: d["token_str"]  # noqa: E731
    ref = [{"token_str": t, "score": s} for t, s in (("a", .5), ("b", .3), ("c", .2))]
    other = [{"token_str": t, "score": s} for t, s in (("b", .6), ("a", .3), ("d", .1))]
    r = D.rank_changes(ref, other, key)
    assert [(i["key"], i["move"], i["new"]) for i in r["items"]] == [("b", 1, False), ("a", -1, False), ("d", None, True)]
    assert r["dropped"] == ["c"] and not r["agrees"] and "top answer 'b'" in r["note"]

    flip = D.label_changes([{"label": "pos", "score": .9}, {"label": "neg", "score": .1}],
                           [{"label": "neg", "score": .7}, {"label": "pos", "score": .3}])
    assert flip["flip"] and flip["note"] == "label flip: pos → neg" and flip["deltas"]["pos"] == pytest.approx(-.6)

    ref_ents = [{"entity_group": "PER", "start": 0, "end": 4}, {"entity_group": "LOC", "start": 10, "end": 15}]
    got = [{"entity_group": "ORG", "start": 0, "end": 4}, {"entity_group": "LOC", "start": 10, "end": 13},
           {"entity_group": "PER", "start": 20, "end": 24}]
    e = D.entity_changes(ref_ents, got)
    assert [m["change"] for m in e["marks"]] == ["type", "boundary", "extra"] and e["missing"] == []
    assert e["marks"][0]["ref_type"] == "PER"
    assert D.entity_changes(got[:1], [])["missing"][0]["type"] == "ORG"

    w = D.word_diff("the cat sat on the mat", "The cat sat on a red mat.")
    assert w["ops"][1] == ("replace", ["the"], ["a", "red"]) and w["edits"] == 2 and w["wer"] == pytest.approx(2 / 6)
    assert D.word_diff("Hello, world", "hello world")["agrees"]  # case and punctuation are not word edits

    box = lambda label, x0, y0, x1, y1: {"label": label, "score": 1.0,  # noqa: E731
                                         "box": {"xmin": x0, "ymin": y0, "xmax": x1, "ymax": y1}}
    ref_boxes = [box("cat", 0, 0, 10, 10), box("dog", 50, 50, 60, 60), box("cup", 80, 80, 90, 90)]
    mine = [box("dog", 51, 50, 61, 60), box("cat", 0, 0, 10, 8), box("car", 200, 200, 210, 210)]
    m = D.match_boxes(ref_boxes, mine)
    assert [(p["index"], p["ref_index"], p["same_label"]) for p in m["pairs"]] == [(0, 1, True), (1, 0, True)]
    assert m["pairs"][1]["iou"] == pytest.approx(0.8) and m["pairs"][0]["iou"] == pytest.approx(90 / 110)
    assert m["extra"] == [2] and m["missing"] == [2] and not m["agrees"]


# -- the panel, on models with known differences -------------------------------------------------------------
def test_label_flip_and_score_delta(tok):
    base = tiny(AutoModelForSequenceClassification, tok, id2label={0: "negative", 1: "positive"})
    a = pushed(pushed(base, "classifier.bias", 0, -1.0), "classifier.bias", 1, 1.0)  # always positive
    b = pushed(pushed(a, "classifier.bias", 0, 1.0), "classifier.bias", 1, -1.0)  # always negative
    c = pushed(a, "classifier.bias", 1, 2.0)  # positive, more sure
    pipes = [pipeline("text-classification", model=m, tokenizer=tok) for m in (a, b, c)]
    panel = Compare("sentiment-analysis", pipes, names=["base", "flipped", "surer"], text="A fine film.")
    assert panel.error == ""
    ref, flipped, surer = panel.columns
    assert ref["answer"] == "positive" and flipped["answer"] == "negative" and surer["answer"] == "positive"
    assert flipped["marks"]["flip"] and not flipped["agrees"] and flipped["note"] == "label flip: positive → negative"
    assert surer["agrees"] and surer["marks"]["deltas"]["positive"] > 0.05
    assert all(c["parameters"] == sum(p.numel() for p in a.parameters()) and c["latency_ms"] > 0 for c in panel.columns)
    page = panel.static_html
    assert page.count('class="wb-cmp-col wb-cmp-differs"') == 1 and 'data-model="flipped" data-agrees="false"' in page
    assert "label flip: positive → negative" in page and 'data-label="positive">positive +' in page

    rows = panel.batch([{"text": t, "label": y} for t, y in (("good", "positive"), ("bad", "negative"),
                                                              ("great", "positive"), ("awful", "negative"))])
    assert panel.error == ""
    assert [s["metric"] for s in panel.summary] == [0.5, 0.5, 0.5]  # each model says one label for everything
    assert [r["index"] for r in rows] == [0, 1, 2, 3] and all(r["differs_from_reference"] == 1 for r in rows)
    assert rows[0]["answers"] == {"base": "positive", "flipped": "negative", "surer": "positive"}
    assert [r["label"] for r in panel.sorted_disagreements("label")] == ["negative", "negative", "positive", "positive"]
    assert "4 of 4 examples answered differently" in panel.static_html and "wb-cmp-summary-row" in panel.static_html
    with pytest.raises(ValueError, match="sort by one of"):
        panel.sorted_disagreements("nope")


def test_fill_mask_rank_moves(tok):
    a = tiny(AutoModelForMaskedLM, tok)
    paris = tok.convert_tokens_to_ids("paris")
    b = pushed(a, "cls.predictions.bias", paris, 60.0)  # "paris" first, everything else one rank lower
    pipes = [pipeline("fill-mask", model=m, tokenizer=tok) for m in (a, b)]
    panel = Compare("fill-mask", pipes, names=["a", "b"], text=f"The capital of France is {tok.mask_token}.")
    ref, other = panel.columns
    ref_keys = [item["token_str"].strip() for item in ref["result"]]
    items = other["marks"]["groups"][0]["items"]
    assert items[0]["key"] == "paris" and items[0]["new"] == ("paris" not in ref_keys)
    assert [(i["key"], i["move"]) for i in items[1:]] == [(k, -1) for k in ref_keys[:4]]
    assert other["marks"]["groups"][0]["dropped"] == ref_keys[4:] and not other["agrees"]
    assert panel.static_html.count("▼1") == 4


def test_entities_extra_and_missing(tok):
    labels = {0: "O", 1: "B-PER", 2: "I-PER"}
    base = tiny(AutoModelForTokenClassification, tok, id2label=labels)
    none = pushed(base, "classifier.bias", 0, 50.0)  # every token O: no entity
    people = pushed(base, "classifier.bias", 1, 50.0)  # every token B-PER
    pipes = [pipeline("ner", model=m, tokenizer=tok) for m in (none, people)]
    panel = Compare("ner", pipes, names=["none", "people"], text="Ada met Grace")
    found = panel.columns[1]
    assert panel.columns[0]["result"] == [] and len(found["result"]) == 3
    assert [m["change"] for m in found["marks"]["marks"]] == ["extra"] * 3 and found["note"] == "entities differ: 3 extra"
    reverse = Compare("ner", pipes[::-1], names=["people", "none"], text="Ada met Grace")
    assert [m["type"] for m in reverse.columns[1]["marks"]["missing"]] == ["PER"] * 3
    assert reverse.static_html.count('data-change="missing"') == 3


def test_refusals(tok):
    with pytest.raises(ValueError, match="Compare has no rule for task 'feature-extraction'"):
        Compare("feature-extraction", ["a", "b"])
    model = tiny(AutoModelForSequenceClassification, tok)
    pipe = pipeline("text-classification", model=model, tokenizer=tok)
    with pytest.raises(ValueError, match="at least two models"):
        Compare("text-classification", [pipe])
    panel = Compare("text-classification", [pipe, pipe])
    assert panel.run() is None and "type an input first" in panel.error
    assert set(RULES) >= {"fill-mask", "text-classification", "token-classification", "question-answering",
                          "automatic-speech-recognition", "text-generation", "image-classification", "object-detection",
                          "summarization", "translation", "text2text-generation"}


def test_attention_side_by_side_is_linked(tok):
    a = tiny(AutoModelForSequenceClassification, tok)
    b = pushed(a, "classifier.bias", 0, 3.0)
    panel = Compare("text-classification", [pipeline("text-classification", model=m, tokenizer=tok) for m in (a, b)],
                    names=["a", "b"], text="Ada met Grace")
    views = panel.show_attention(layer=1, heads=[0])
    assert panel.error == "" and len(views) == 2 and len(panel.attention_box.children) == 2
    assert all(v.layer == 1 and v.heads == [0] for v in views)
    views[0].layer = 0  # one view's layer moves, the other follows
    assert views[1].layer == 0
    assert views[0].record.query_tokens == views[1].record.query_tokens and views[0].status == views[1].status


def test_disagreement_table_widget_gets_rows_and_wrong_cells(tok):
    base = tiny(AutoModelForSequenceClassification, tok, id2label={0: "negative", 1: "positive"})
    a = pushed(pushed(base, "classifier.bias", 0, -1.0), "classifier.bias", 1, 1.0)  # always positive
    b = pushed(pushed(a, "classifier.bias", 0, 1.0), "classifier.bias", 1, -1.0)  # always negative
    panel = Compare("text-classification", [pipeline("text-classification", model=m, tokenizer=tok) for m in (a, b)],
                    names=["pos", "neg"])
    panel.batch([{"text": "good", "label": "positive"}, {"text": "bad", "label": "negative"}])
    table = panel.table
    assert table.columns == ["#", "input", "label", "pos", "neg"]
    assert table.rows == [[0, "good", "positive", "positive", "negative"], [1, "bad", "negative", "positive", "negative"]]
    assert table.wrong == [[4], [3]]  # the cells whose answer is not the label
    assert 'class="wb-cmp-table-static"' in panel.static_html and 'class="wb-cmp-table-static"' not in panel._batch_view.value


def test_question_answering_from_folders_with_a_word_diff():
    from pathlib import Path

    folder = Path(__file__).parents[1] / "fixtures" / "reference_pipelines" / "tiny_bert_qa"
    panel = Compare("question-answering", [folder, str(folder)], names=["one", "same"])
    qa = {"question": "Who met Grace?", "context": "Ada met Grace in London."}
    ref, same = panel.run(qa)
    assert panel.error == "" and ref["answer"] == same["answer"] and same["agrees"] and same["note"] == "same words"
    marks = RULES["question-answering"].diff(ref["result"], {**ref["result"], "answer": ref["answer"] + " today"})
    assert marks["ops"][-1] == ("insert", [], ["today"]) and not marks["agrees"]


def test_detection_columns_draw_matches_with_iou():
    import numpy as np

    box = lambda label, x0, x1: {"label": label, "score": 0.9, "box": {"xmin": x0, "ymin": 2, "xmax": x1, "ymax": 20}}  # noqa: E731
    ref, mine = [box("cat", 2, 20), box("dog", 30, 40)], [box("cat", 3, 20), box("cup", 50, 60)]
    marks = RULES["object-detection"].diff(ref, mine)
    photo = np.zeros((32, 64, 3), np.uint8)
    page = RULES["object-detection"].render(photo, mine, marks, ref)
    assert page.startswith('<img class="wb-cmp-image"') and "data:image/png;base64," in page
    assert "<td>cat</td><td>cat</td><td>0.94</td>" in page and marks["missing"] == [1] and marks["extra"] == [1]


def test_audio_classification_from_a_folder(tmp_path):
    import warnings

    import numpy as np

    from tests import audio_models

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folder = audio_models.keyword_spotter(tmp_path / "ks")
    clip = np.sin(np.arange(16000) / 16000 * 2 * np.pi * 440).astype(np.float32)
    panel = Compare("audio-classification", [str(folder), folder], names=["one", "same"], options={"top_k": 3})
    ref, same = panel.run(clip)
    assert panel.error == "" and len(ref["result"]) == 3 and same["agrees"] and not same["marks"]["flip"]
    assert ref["answer"] in audio_models.KEYWORDS


def test_summaries_and_translations_side_by_side_with_a_word_diff_and_scores():
    from pathlib import Path

    fixtures = Path(__file__).parents[1] / "fixtures" / "reference_pipelines"
    text = "The town council voted on Tuesday to reopen the old stone bridge over the river."
    opts = {"max_new_tokens": 6, "num_beams": 2}  # short outputs, few beams: a fast test
    bart, t5 = (pipeline("summarization", model=fixtures / name) for name in ("tiny_bart_cnn", "tiny_t5"))
    panel = Compare("summarization", [bart, t5], names=["bart", "t5"], text=text, options=opts)
    ref, other = panel.columns
    expected = [p(text, **opts)[0]["summary_text"] for p in (bart, t5)]  # the pipelines' own answers, called directly
    assert panel.error == "" and [ref["answer"], other["answer"]] == expected and expected[0] != expected[1]
    marks = D.word_diff(*expected)
    assert other["marks"]["ops"] == marks["ops"] and not other["agrees"]
    scores = [c["result"][0]["score"] for c in (ref, other)]
    assert scores == [p.explain(text, **opts).alternatives[0]["score"] for p in (bart, t5)] and all(s < 0 for s in scores)
    assert other["marks"]["score_delta"] == pytest.approx(scores[1] - scores[0])
    assert f"score {scores[1] - scores[0]:+.3f} vs reference" in other["note"]
    assert f"score {scores[0]:.3f}" in ref["html"] and ('class="wb-cmp-ins"' in other["html"]
                                                        or 'class="wb-cmp-del"' in other["html"])
    # a language pair picks the translation rule; the same model twice agrees word for word; a batch with
    # reference translations scores each model's word error rate
    de = pipeline("translation_en_to_de", model=fixtures / "tiny_t5")
    same = Compare("translation_en_to_de", [de, de], names=["a", "b"], text="the old bridge", options=opts)
    assert same.error == "" and same.columns[1]["agrees"] and same.columns[1]["note"].startswith("same words; score +0.000")
    answer = de("the old bridge", **opts)[0]["translation_text"]
    same.batch([{"text": "the old bridge", "label": answer}, {"text": "a river", "label": "ein Fluss"}])
    wer = D.wer("ein Fluss", de("a river", **opts)[0]["translation_text"])
    assert [s["metric"] for s in same.summary] == [pytest.approx((0 + wer) / 2)] * 2 and same.disagreements == []
    assert "0 of 2 examples answered differently" in same.static_html and 'class="wb-cmp-table-static"' not in same.static_html
