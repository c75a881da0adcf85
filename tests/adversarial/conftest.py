"""Small, fast pieces the adversarial suite shares: a tiny BERT checkpoint folder and tiny pipelines."""

from __future__ import annotations

import shutil

import pytest
import torch

from tests.support import minilm_folder

TINY = dict(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
            max_position_embeddings=64)


def tiny_model(auto, **fields):
    from workbench import AutoConfig

    torch.manual_seed(0)
    return auto.from_config(AutoConfig.for_model("bert", **TINY, **fields)).eval()


@pytest.fixture
def checkpoint(tmp_path):
    """A complete tiny BERT folder (config, weights, the MiniLM tokenizer files) that tests may damage."""
    from workbench import AutoModel

    folder = tmp_path / "ckpt"
    tiny_model(AutoModel).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (minilm_folder() / name).is_file():
            shutil.copy(minilm_folder() / name, folder / name)
    return folder


@pytest.fixture(scope="session")
def text_pipes():
    """One tiny pipeline per text task (random weights: the adversarial tests check errors and formats)."""
    from workbench import (AutoModel, AutoModelForMaskedLM, AutoModelForQuestionAnswering,
                           AutoModelForSequenceClassification, AutoModelForTokenClassification, pipeline)

    tok = str(minilm_folder())
    nli = dict(id2label={0: "entailment", 1: "neutral", 2: "contradiction"})
    return {
        "fill-mask": pipeline("fill-mask", model=tiny_model(AutoModelForMaskedLM), tokenizer=tok),
        "text-classification": pipeline("text-classification", model=tiny_model(AutoModelForSequenceClassification),
                                         tokenizer=tok),
        "token-classification": pipeline("ner", model=tiny_model(AutoModelForTokenClassification), tokenizer=tok),
        "question-answering": pipeline("question-answering", model=tiny_model(AutoModelForQuestionAnswering),
                                       tokenizer=tok),
        "zero-shot-classification": pipeline("zero-shot-classification",
                                             model=tiny_model(AutoModelForSequenceClassification, **nli), tokenizer=tok),
        "feature-extraction": pipeline("feature-extraction", model=tiny_model(AutoModel), tokenizer=tok),
    }


@pytest.fixture(scope="session")
def asr():
    from workbench import pipeline

    return pipeline("automatic-speech-recognition")
