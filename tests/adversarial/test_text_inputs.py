"""Text pipelines under bad input: one clear error for every wrong type, the caller's index of the bad
item, the reference's keyword names, and plain JSON-serialisable results."""

from __future__ import annotations

import json

import pytest

from workbench.errors import InputError

TEXT_TASKS = ["fill-mask", "text-classification", "token-classification", "feature-extraction"]
GOOD = {"fill-mask": "Paris is the [MASK] of France.", "text-classification": "A fine day.",
        "token-classification": "Ada Lovelace lived in London.", "feature-extraction": "A fine day."}


@pytest.mark.parametrize("task", TEXT_TASKS + ["question-answering", "zero-shot-classification"])
@pytest.mark.parametrize("bad", [42, 3.5, None, b"bytes", ["nested", ["list"]], object()], ids=repr)
def test_every_pipeline_refuses_a_wrong_type_the_same_way(text_pipes, task, bad):
    pipe = text_pipes[task]
    with pytest.raises(InputError, match=rf"the '{task}' pipeline expects"):
        if task == "question-answering":
            pipe(question=bad, context="Paris is in France.")
        elif task == "zero-shot-classification":
            pipe(bad, candidate_labels=["a", "b"])
        else:
            pipe(bad)


@pytest.mark.parametrize("task", TEXT_TASKS)
def test_a_bad_item_in_a_batch_is_named_by_the_callers_index(text_pipes, task):
    good = GOOD[task]
    items = [good * 3, good, good * 2, 7, good]  # lengths differ, so the batch is reordered internally
    with pytest.raises(InputError, match=r"input 3\b"):
        text_pipes[task](items)


@pytest.mark.parametrize("task", TEXT_TASKS)
def test_an_overlong_item_in_a_batch_is_named_by_the_callers_index(text_pipes, task):
    good = GOOD[task]
    long = " ".join(["word"] * 300) + (" [MASK]" if task == "fill-mask" else "")
    with pytest.raises(InputError, match=r"input 2\b.*at most 64"):
        text_pipes[task]([good, good + " " + good, long, good], truncation=False) if task == "feature-extraction" \
            else text_pipes[task]([good, good + " " + good, long, good])


def test_empty_text_in_a_batch_is_named(text_pipes):
    with pytest.raises(InputError, match=r"input 1\b.*empty"):
        text_pipes["text-classification"](["fine", "   ", "also fine"])


def test_question_answering_keyword_forms_and_bad_parts(text_pipes):
    qa = text_pipes["question-answering"]
    out = qa(question="Where is Paris?", context="Paris is in France.")
    assert set(out) == {"score", "start", "end", "answer"}
    assert qa({"question": "Where is Paris?", "context": "Paris is in France."}) == out
    assert qa(inputs={"question": "Where is Paris?", "context": "Paris is in France."}) == out
    with pytest.raises(InputError, match="context"):
        qa(question="Where?", context=None)
    with pytest.raises(InputError, match="question"):
        qa({"context": "Paris is in France."})
    with pytest.raises(InputError, match=r"input 1\b"):
        qa([{"question": "Where?", "context": "Here."}, {"question": 5, "context": "There."}])


def test_zero_shot_reference_keywords_and_bad_labels(text_pipes):
    zs = text_pipes["zero-shot-classification"]
    out = zs(sequences="I love this film", candidate_labels=["cinema", "food"])
    assert set(out) == {"sequence", "labels", "scores"} and sorted(out["labels"]) == ["cinema", "food"]
    assert zs("I love this film", candidate_labels="cinema, food")["labels"]
    for bad in ([], "", [""], [3], None):
        with pytest.raises(InputError, match="candidate_labels"):
            zs("I love this film", candidate_labels=bad)
    with pytest.raises(InputError, match="hypothesis_template"):
        zs("I love this film", candidate_labels=["a"], hypothesis_template="no placeholder")


@pytest.mark.parametrize("task", TEXT_TASKS)
def test_inputs_keyword_works_everywhere(text_pipes, task):
    assert text_pipes[task](inputs=GOOD[task]) == text_pipes[task](GOOD[task])


def test_text_pair_dict_missing_text(text_pipes):
    with pytest.raises(InputError, match="'text'"):
        text_pipes["text-classification"]({"text_pair": "only the second part"})


@pytest.mark.parametrize("task", TEXT_TASKS + ["question-answering", "zero-shot-classification"])
def test_results_are_plain_json(text_pipes, task):
    pipe = text_pipes[task]
    if task == "question-answering":
        out = pipe(question="Where is Paris?", context="Paris is in France.", top_k=2)
    elif task == "zero-shot-classification":
        out = pipe("I love this film", candidate_labels=["cinema", "food"])
    else:
        out = pipe([GOOD[task], GOOD[task] + " again"])
    assert json.loads(json.dumps(out)) == out


def test_fill_mask_without_a_mask_token_says_where_it_goes(text_pipes):
    with pytest.raises(InputError, match=r"input 0 has no mask token '\[MASK\]'"):
        text_pipes["fill-mask"]("no mask here")


@pytest.mark.parametrize("top_k", [0, -1, 2.5, "3"])
def test_bad_top_k_is_refused(text_pipes, top_k):
    with pytest.raises(InputError, match="top_k"):
        text_pipes["fill-mask"](GOOD["fill-mask"], top_k=top_k)
