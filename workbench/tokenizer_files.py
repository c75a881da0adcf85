"""A tokenizer folder on disk -> a Rust `tokenizers.Tokenizer` and the settings around it.

A hub folder holds either a `tokenizer.json` (the whole pipeline, ready to load) or the older
per-family vocabulary files: `vocab.txt` (BERT's WordPiece), `vocab.json` + `merges.txt`
(RoBERTa / GPT-2 / BART byte-level BPE) or T5's or SigLIP's `spiece.model` (a SentencePiece Unigram model, read
as protobuf data by the bounds-checked reader in `spm.py`, never unpickled), from which the
pipeline is rebuilt here as the reference's converters build it. Around either one,
`tokenizer_config.json`, `special_tokens_map.json` and `added_tokens.json` name the special
tokens and the tokenizer class.

The per-family facts (which class is which family, its special tokens, whether it feeds
`token_type_ids`) are the tables below: a new tokenizer class of a known family is one line in
`_FAMILY_BY_CLASS`. `workbench.tokenizer` builds on this module, never the other way round.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tokenizers
from tokenizers import AddedToken, Regex, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import BPE, Unigram, WordPiece

from .errors import CheckpointNotFoundError, InputError
from .files import checkpoint_file, read_json_object
from . import spm
from .spm import read_sentencepiece, unigram_backend

__all__ = [
    "ADDED_TOKENS_FILE",
    "SPECIAL_TOKENS_MAP_FILE",
    "SPECIAL_TOKEN_NAMES",
    "TOKENIZER_CONFIG_FILE",
    "TOKENIZER_FILE",
    "TOKENIZER_FILES",
    "TokenizerFiles",
    "build_backend",
    "default_input_names",
    "gguf_tokenizer_files",
    "family_options",
    "post_processor",
    "read_tokenizer_files",
    "token_content",
]

TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
ADDED_TOKENS_FILE = "added_tokens.json"
CHAT_TEMPLATE_FILE = "chat_template.jinja"  # where newer checkpoints keep the chat template
# Everything a tokenizer may need from a repository; config.json only names the model family.
TOKENIZER_FILES = [
    TOKENIZER_FILE,
    TOKENIZER_CONFIG_FILE,
    SPECIAL_TOKENS_MAP_FILE,
    ADDED_TOKENS_FILE,
    CHAT_TEMPLATE_FILE,
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "config.json",
]

# Order matters: it is the order of `all_special_tokens` in the reference library.
SPECIAL_TOKEN_NAMES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")

# ----------------------------------------------------------------------------------------------
# Family tables
# ----------------------------------------------------------------------------------------------
# Tokenizer families, keyed by `tokenizer_class` in tokenizer_config.json ("...Fast" stripped).
# The family picks the builder for legacy vocabulary files, the default special tokens and the
# template: "bert": WordPiece from vocab.txt, [CLS] ... [SEP]; "roberta": byte-level BPE with
# <s> ... </s>; "gpt2": byte-level BPE without added special tokens.
_FAMILY_BY_CLASS = {
    "BertTokenizer": "bert",
    "DistilBertTokenizer": "bert",
    "ElectraTokenizer": "bert",
    "ConvBertTokenizer": "bert",
    "MobileBertTokenizer": "bert",
    "SqueezeBertTokenizer": "bert",
    "LayoutLMTokenizer": "bert",
    "RobertaTokenizer": "roberta",
    "BartTokenizer": "roberta",
    "LongformerTokenizer": "roberta",
    "GPT2Tokenizer": "gpt2",
    "T5Tokenizer": "t5",
    "CLIPTokenizer": "clip",
    "SiglipTokenizer": "siglip",
}
# The tokenizer class of a checkpoint whose tokenizer_config.json does not name one, found
# through config.json's `model_type`.
_CLASS_BY_MODEL_TYPE = {
    "bert": "BertTokenizer",
    "distilbert": "DistilBertTokenizer",
    "electra": "ElectraTokenizer",
    "roberta": "RobertaTokenizer",
    "bart": "BartTokenizer",
    "gpt2": "GPT2Tokenizer",
    "t5": "T5Tokenizer",
    "clip": "CLIPTokenizer",
    "owlv2": "CLIPTokenizer",
    "clipseg": "CLIPTokenizer",
    "siglip": "SiglipTokenizer",
}
# A tokenizer.json of no known class still gets its family's special tokens when its vocabulary
# model says which family it is (WordPiece vocabularies come from BERT-style models).
_FAMILY_BY_BACKEND_MODEL = {"WordPiece": "bert"}
# Which classes feed `token_type_ids` to their model (the reference's `model_input_names`).
_WITHOUT_TOKEN_TYPES = {
    "DistilBertTokenizer",
    "RobertaTokenizer",
    "BartTokenizer",
    "LongformerTokenizer",
    "GPT2Tokenizer",
    "XLMRobertaTokenizer",
    "MPNetTokenizer",
    "CamembertTokenizer",
    "AlbertTokenizer",
    "T5Tokenizer",
    "PreTrainedTokenizerFast",
    "TokenizersBackend",
    "CLIPTokenizer",
    "SiglipTokenizer",
}
_WITH_TOKEN_TYPES = {"DebertaTokenizer", "DebertaV2Tokenizer"} | {
    name for name, family in _FAMILY_BY_CLASS.items() if family == "bert"
} - _WITHOUT_TOKEN_TYPES
# The special tokens each family's reference class names when the config files do not.
_DEFAULT_SPECIAL_TOKENS = {
    "bert": {
        "unk_token": "[UNK]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
    },
    "roberta": {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
    },
    "gpt2": {"unk_token": "<|endoftext|>", "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"},
    "t5": {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"},
    "clip": {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
             "pad_token": "<|endoftext|>"},
    "siglip": {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "</s>"},
}
# The class written to the config of a tokenizer rebuilt from vocabulary files of no named class.
_DEFAULT_CLASS_BY_FAMILY = {"bert": "BertTokenizer", "roberta": "RobertaTokenizer", "gpt2": "GPT2Tokenizer",
                            "t5": "T5Tokenizer", "clip": "CLIPTokenizer", "siglip": "SiglipTokenizer"}
# Families whose vocabulary is byte-level BPE from vocab.json + merges.txt.
_BYTE_LEVEL_FAMILIES = ("roberta", "gpt2")


# ----------------------------------------------------------------------------------------------
# Reading a folder
# ----------------------------------------------------------------------------------------------
@dataclass
class TokenizerFiles:
    """What a tokenizer folder says: the backend and the settings `Tokenizer` is built with."""

    backend: tokenizers.Tokenizer
    config: dict[str, Any]  # tokenizer_config.json + overrides, `tokenizer_class` resolved
    special: dict[str, Any]  # named special tokens, as written in the files (str or token dict)
    extras: list[Any]  # additional special tokens
    family: str | None
    # Built from vocab.txt / vocab.json: the special-token template is still to be attached.
    from_vocab_files: bool
    padding: dict[str, Any]  # the padding / truncation baked into tokenizer.json (empty if none)
    truncation: dict[str, Any]


def read_tokenizer_files(folder: Path, overrides: Mapping[str, Any]) -> TokenizerFiles:
    """Read a local tokenizer folder; `overrides` replace entries of tokenizer_config.json."""
    config_file = checkpoint_file(folder, TOKENIZER_CONFIG_FILE)
    file_config = read_json(config_file) if config_file else {}
    config = {**file_config, **overrides}
    template_file = checkpoint_file(folder, CHAT_TEMPLATE_FILE)
    if template_file and "chat_template" not in overrides:
        config["chat_template"] = template_file.read_text(encoding="utf-8")
    special, extras = _special_tokens(folder, file_config, config, overrides)

    tokenizer_class = _class_name(config.get("tokenizer_class"))
    model_config = checkpoint_file(folder, "config.json")
    if tokenizer_class is None and model_config:
        model_type = read_json(model_config).get("model_type")
        tokenizer_class = _CLASS_BY_MODEL_TYPE.get(model_type)
    if tokenizer_class is not None:
        config["tokenizer_class"] = tokenizer_class

    backend, family = build_backend(folder, config, special)
    from_vocab_files = checkpoint_file(folder, TOKENIZER_FILE) is None
    if from_vocab_files and family == "t5" and not extras:  # T5's sentinels, as its reference class names them
        extras = [f"<extra_id_{i}>" for i in range(int(config.get("extra_ids", 100)))]
    added_file = checkpoint_file(folder, ADDED_TOKENS_FILE)
    if from_vocab_files and added_file:
        # Legacy tokens added on top of vocab.txt / vocab.json, in id order.
        added = sorted(read_json(added_file).items(), key=lambda item: item[1])
        names = {token_content(v)[0] for v in special.values()}
        backend.add_tokens([AddedToken(t, special=t in names, normalized=t not in names) for t, _ in added])

    # The file's baked-in padding supplies defaults the config may lack (as in the reference).
    padding = backend.padding or {}
    if "pad_token" not in special and padding.get("pad_token"):
        special["pad_token"] = padding["pad_token"]
    return TokenizerFiles(
        backend=backend,
        config=config,
        special=special,
        extras=extras,
        family=family,
        from_vocab_files=from_vocab_files,
        padding=padding,
        truncation=backend.truncation or {},
    )


def _special_tokens(
    folder: Path, file_config: Mapping[str, Any], config: Mapping[str, Any], overrides: Mapping[str, Any]
) -> tuple[dict[str, Any], list[Any]]:
    """The named and the additional special tokens of tokenizer_config.json and special_tokens_map.json."""
    # The legacy special_tokens_map.json overrides the config, as in the reference, unless the
    # config is in the newer added_tokens_decoder form.
    special: dict[str, Any] = {name: config[name] for name in SPECIAL_TOKEN_NAMES if name in config}
    extras = list(config.get("additional_special_tokens") or [])
    if isinstance(config.get("extra_special_tokens"), list):  # the reference's newer name for the same list
        extras += [t for t in config["extra_special_tokens"] if t not in extras]
    map_file = checkpoint_file(folder, SPECIAL_TOKENS_MAP_FILE)
    if map_file and "added_tokens_decoder" not in file_config:
        for key, value in read_json(map_file).items():
            if key in SPECIAL_TOKEN_NAMES and key not in overrides:
                special[key] = value
            elif key in ("additional_special_tokens", "extra_special_tokens") and isinstance(value, list):
                extras += [v for v in value if v not in extras]
    return special, extras


def build_backend(
    folder: Path, config: dict[str, Any], special: dict[str, Any]
) -> tuple[tokenizers.Tokenizer, str | None]:
    """The Rust tokenizer from tokenizer.json, else from the legacy vocabulary files, and its family.

    Fills the family's default special tokens into `special` (for tokenizer.json only those the
    vocabulary really has: never invent new ids) and, for vocabulary files, a default
    `tokenizer_class` into `config`.
    """
    tokenizer_class = _class_name(config.get("tokenizer_class"))
    family = _FAMILY_BY_CLASS.get(tokenizer_class or "")
    tokenizer_file, vocab_txt = checkpoint_file(folder, TOKENIZER_FILE), checkpoint_file(folder, "vocab.txt")
    vocab_json, merges = checkpoint_file(folder, "vocab.json"), checkpoint_file(folder, "merges.txt")
    spiece = checkpoint_file(folder, "spiece.model")
    if tokenizer_file:
        try:
            backend = tokenizers.Tokenizer.from_file(str(tokenizer_file))
        except Exception as err:  # the Rust error names the bad field
            raise CheckpointNotFoundError(f"{tokenizer_file} could not be read: {err}") from err
        if family is None and tokenizer_class is None:
            family = _FAMILY_BY_BACKEND_MODEL.get(type(backend.model).__name__)
        for name, value in _DEFAULT_SPECIAL_TOKENS.get(family, {}).items():
            if name not in special and backend.token_to_id(value) is not None:
                special[name] = value
    elif vocab_txt:
        family = "bert"
        for name, value in _DEFAULT_SPECIAL_TOKENS[family].items():
            special.setdefault(name, value)
        backend = _build_wordpiece(vocab_txt, config, special)
        config.setdefault("tokenizer_class", _DEFAULT_CLASS_BY_FAMILY[family])
    elif vocab_json and merges:
        vocab, merges = BPE.read_file(str(vocab_json), str(merges))
        if family not in (*_BYTE_LEVEL_FAMILIES, "clip"):
            family = "roberta" if "<s>" in vocab and "</s>" in vocab else "gpt2"
        for name, value in _DEFAULT_SPECIAL_TOKENS[family].items():
            special.setdefault(name, value)
        if family == "clip":
            backend = _build_clip_bpe(vocab, merges, token_content(special["unk_token"])[0])
        else:
            backend = _build_byte_level_bpe(vocab, merges, config)
        config.setdefault("tokenizer_class", _DEFAULT_CLASS_BY_FAMILY[family])
    elif spiece and family == "siglip":
        for name, value in _DEFAULT_SPECIAL_TOKENS[family].items():
            special.setdefault(name, value)
        backend = _build_siglip(spiece, config)
    elif spiece:
        family = "t5"
        for name, value in _DEFAULT_SPECIAL_TOKENS[family].items():
            special.setdefault(name, value)
        backend = _build_t5_sentencepiece(spiece, config)
        config.setdefault("tokenizer_class", _DEFAULT_CLASS_BY_FAMILY[family])
    else:
        raise CheckpointNotFoundError(
            f"No tokenizer files in {folder} that can be read: looked for {TOKENIZER_FILE}, vocab.txt (WordPiece), "
            "vocab.json + merges.txt (byte-level BPE) or spiece.model (T5's or SigLIP's SentencePiece). Point at the "
            "model folder that holds them, or save a tokenizer there with `tokenizer.save_pretrained(folder)`."
        )
    check_vocabulary(backend, tokenizer_file or vocab_txt or vocab_json or spiece)
    return backend, family


def check_vocabulary(backend: tokenizers.Tokenizer, source: Path) -> None:
    """Fail at load, naming the file, when no text could be encoded: an empty vocabulary, or a model
    that maps unknown pieces to an unknown token its vocabulary lacks (WordPiece, WordLevel, non-byte BPE)."""
    vocab = backend.get_vocab(with_added_tokens=False)
    if not vocab:
        raise CheckpointNotFoundError(f"{source} has an empty vocabulary (no token at all); re-download or re-save "
                                      "the tokenizer.")
    unk = getattr(backend.model, "unk_token", None)
    if unk and unk not in vocab:
        raise CheckpointNotFoundError(
            f"{source} names {unk!r} as its unknown token, but its vocabulary ({len(vocab)} tokens) has no {unk!r}: "
            "every word it does not know would fail. Re-download the tokenizer, or set the right unk_token."
        )


# ----------------------------------------------------------------------------------------------
# Builders for legacy vocabulary files
# ----------------------------------------------------------------------------------------------
def _build_wordpiece(vocab_file: Path, config: Mapping[str, Any], special: Mapping[str, Any]) -> tokenizers.Tokenizer:
    """BERT's tokenizer from vocab.txt, switched by do_lower_case / strip_accents / tokenize_chinese_chars."""
    vocab = WordPiece.read_file(str(vocab_file))
    unk = token_content(special.get("unk_token"))[0] or "[UNK]"
    backend = tokenizers.Tokenizer(WordPiece(vocab, unk_token=unk, max_input_chars_per_word=100))
    backend.normalizer = normalizers.BertNormalizer(
        clean_text=True,
        handle_chinese_chars=config.get("tokenize_chinese_chars", True),
        strip_accents=config.get("strip_accents"),
        lowercase=config.get("do_lower_case", True),
    )
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece(prefix="##")
    return backend


def _build_byte_level_bpe(
    vocab: dict[str, int], merges: list[tuple[str, str]], config: Mapping[str, Any]
) -> tokenizers.Tokenizer:
    """RoBERTa/GPT-2 byte-level BPE from vocab.json + merges.txt."""
    backend = tokenizers.Tokenizer(
        BPE(vocab, merges, dropout=None, continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False)
    )
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=bool(config.get("add_prefix_space", False)))
    backend.decoder = decoders.ByteLevel()
    return backend


def _build_t5_sentencepiece(model_file: Path, config: Mapping[str, Any]) -> tokenizers.Tokenizer:
    """T5's tokenizer from spiece.model, as the reference converts it (its T5Converter): the Unigram pieces and
    scores, then `extra_ids` sentinel pieces (<extra_id_N> ... <extra_id_0>), the model's precompiled character
    map, runs of spaces to one, Metaspace splitting. The file is read by `spm`'s bounds-checked protobuf reader
    (the one SigLIP uses): nothing in it is executed or unpickled, and no sentencepiece package is needed."""
    model = read_sentencepiece(model_file)
    extra = int(config.get("extra_ids", 100))
    vocab = [(text, score) for text, score, _ in model.pieces] + [(f"<extra_id_{i}>", 0.0) for i in range(extra - 1, -1, -1)]
    backend = tokenizers.Tokenizer(Unigram(vocab, unk_id=model.unk_id, byte_fallback=False))
    # Control and user-defined pieces are added tokens; control ones are special.
    backend.add_tokens([AddedToken(text, normalized=False, special=kind == spm.CONTROL)
                        for text, _, kind in model.pieces if kind in (spm.CONTROL, spm.USER_DEFINED)])
    steps = [normalizers.Strip(left=False, right=True), normalizers.Replace(Regex(" {2,}"), "\u2581")]
    charsmap = model.precompiled_charsmap
    backend.normalizer = normalizers.Sequence([normalizers.Precompiled(charsmap), *steps] if charsmap else steps)
    # The reference's `legacy` T5 (the default) puts the word marker before every word; legacy=False only first.
    scheme = "always" if config.get("legacy", True) is not False else "first"
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme=scheme)
    backend.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme=scheme)
    return backend


# CLIP's split: its special tokens whole, English contractions, letters, single digits, other symbols; spaces dropped.
_CLIP_SPLIT = r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


def _build_clip_bpe(vocab: dict[str, int], merges: list[tuple[str, str]], unk: str | None) -> tokenizers.Tokenizer:
    """CLIP's tokenizer from vocab.json + merges.txt: lower-cased, byte-level BPE whose word ends carry `</w>`."""
    backend = tokenizers.Tokenizer(BPE(vocab, merges, dropout=None, continuing_subword_prefix="",
                                       end_of_word_suffix="</w>", fuse_unk=False, unk_token=unk))
    backend.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(tokenizers.Regex(r"\s+"), " "), normalizers.Lowercase()])
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(tokenizers.Regex(_CLIP_SPLIT), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False),
    ])
    backend.decoder = decoders.ByteLevel()
    return backend


# SigLIP's text canonicalisation (its reference tokenizer's `canonicalize_text`): Python's string.punctuation removed.
_PUNCTUATION = "[" + "".join("\\" + c for c in string.punctuation) + "]"


def _build_siglip(spiece: Path, config: Mapping[str, Any]) -> tokenizers.Tokenizer:
    """SigLIP's tokenizer from spiece.model: lower-cased (do_lower_case), punctuation removed, whitespace collapsed
    and stripped, then the model's own character map, and the unigram pieces of each word (each starts with "▁")."""
    model = read_sentencepiece(spiece)
    backend = unigram_backend(model)
    steps = [normalizers.Replace("\u2581", " ")] + ([normalizers.Lowercase()] if config.get("do_lower_case", True) else [])
    steps += [normalizers.Replace(tokenizers.Regex(_PUNCTUATION), ""),
              normalizers.Replace(tokenizers.Regex(r"\s+"), " "), normalizers.Strip()]
    if model.precompiled_charsmap:
        steps.append(normalizers.Precompiled(model.precompiled_charsmap))
    backend.normalizer = normalizers.Sequence(steps)
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    backend.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    return backend


def post_processor(
    family: str | None,
    config: Mapping[str, Any],
    special: Mapping[str, str | None],
    token_id: Callable[[str], Any],
) -> Any:
    """The special-token template for a tokenizer built from vocabulary files.

    It runs once the special tokens are registered, since only then are their ids known:
    `special` maps names to the token texts, `token_id` looks a text up (unknown -> unk id).
    """

    def id_of(name: str) -> Any:
        return None if special.get(name) is None else token_id(special[name])

    if family == "bert":
        cls, sep = special.get("cls_token"), special.get("sep_token")
        return processors.TemplateProcessing(
            single=f"{cls}:0 $A:0 {sep}:0",
            pair=f"{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1",
            special_tokens=[(cls, id_of("cls_token")), (sep, id_of("sep_token"))],
        )
    if family == "clip":  # <|startoftext|> text <|endoftext|>
        return processors.RobertaProcessing((special.get("eos_token"), id_of("eos_token")),
                                            (special.get("bos_token"), id_of("bos_token")), trim_offsets=False,
                                            add_prefix_space=False)
    if family == "siglip":  # text </s>
        eos = special.get("eos_token")
        return processors.TemplateProcessing(single=f"$A:0 {eos}:0", pair=f"$A:0 {eos}:0 $B:1 {eos}:1",
                                             special_tokens=[(eos, id_of("eos_token"))])
    if family == "roberta":
        return processors.RobertaProcessing(
            (special.get("sep_token"), id_of("sep_token")),
            (special.get("cls_token"), id_of("cls_token")),
            trim_offsets=bool(config.get("trim_offsets", True)),
            add_prefix_space=bool(config.get("add_prefix_space", False)),
        )
    if family == "t5":  # T5 appends its end token to each text
        eos = special.get("eos_token")
        return processors.TemplateProcessing(single=f"$A {eos}", pair=f"$A {eos} $B {eos}",
                                             special_tokens=[(eos, id_of("eos_token"))])
    # GPT-2 adds nothing unless the config asks for bos/eos.
    bos_token, eos_token = special.get("bos_token"), special.get("eos_token")
    bos = f"{bos_token}:0 " if config.get("add_bos_token") and bos_token else ""
    eos = f" {eos_token}:0" if config.get("add_eos_token") and eos_token else ""
    used = ([bos_token] if bos else []) + ([eos_token] if eos else [])
    return processors.TemplateProcessing(
        single=f"{bos}$A:0{eos}",
        pair=f"{bos}$A:0{eos} {bos.replace(':0', ':1')}$B:1{eos.replace(':0', ':1')}",
        special_tokens=[(t, token_id(t)) for t in dict.fromkeys(used)],
    )


# ----------------------------------------------------------------------------------------------
# Family facts the Tokenizer asks for
# ----------------------------------------------------------------------------------------------
def default_input_names(tokenizer_class: str | None, backend: tokenizers.Tokenizer) -> list[str]:
    """`model_input_names` when the config does not list them: by class, else by vocabulary model."""
    name = _class_name(tokenizer_class)
    if name in _WITH_TOKEN_TYPES:
        with_types = True
    elif name in _WITHOUT_TOKEN_TYPES:
        with_types = False
    else:  # unknown class: WordPiece vocabularies come from BERT-style models that use segments
        with_types = type(backend.model).__name__ == "WordPiece"
    return ["input_ids", "token_type_ids", "attention_mask"] if with_types else ["input_ids", "attention_mask"]


def family_options(tokenizer_class: str | None, state: Mapping[str, Any]) -> dict[str, Any]:
    """The config switches that describe a saved backend (`state`: its tokenizer.json) to its class.

    A reader that rebuilds the tokenizer from its class (the reference's BertTokenizer and
    RobertaTokenizer do) takes these switches from the config, so write what the backend does.
    """
    family = _FAMILY_BY_CLASS.get(tokenizer_class or "")
    normalizer = state.get("normalizer") or {}
    pre_tokenizer = state.get("pre_tokenizer") or {}
    post = state.get("post_processor") or {}
    if family == "bert" and normalizer.get("type") == "BertNormalizer":
        return {
            "do_lower_case": normalizer.get("lowercase", True),
            "strip_accents": normalizer.get("strip_accents"),
            "tokenize_chinese_chars": normalizer.get("handle_chinese_chars", True),
        }
    if family in _BYTE_LEVEL_FAMILIES and pre_tokenizer.get("type") == "ByteLevel":
        options = {"add_prefix_space": pre_tokenizer.get("add_prefix_space", False)}
        if post.get("type") in ("RobertaProcessing", "ByteLevel"):
            options["trim_offsets"] = post.get("trim_offsets", True)
        return options
    return {}


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------
def token_content(value: Any) -> tuple[str | None, dict[str, Any]]:
    """A special token as written in the config files -> (text, AddedToken options)."""
    if value is None:
        return None, {}
    if isinstance(value, str):
        return value, {}
    if isinstance(value, AddedToken):
        return value.content, {k: getattr(value, k) for k in ("single_word", "lstrip", "rstrip", "normalized")}
    if isinstance(value, Mapping) and isinstance(value.get("content"), str):
        options = {k: bool(value[k]) for k in ("single_word", "lstrip", "rstrip", "normalized") if k in value}
        return value["content"], options
    raise InputError(f"A special token must be a string or a token dict with 'content'; got {value!r}.")


def read_json(path: Path) -> dict[str, Any]:
    return read_json_object(path, fix="re-download or re-save the tokenizer")


def _class_name(name: Any) -> str | None:
    if not isinstance(name, str) or not name:
        return None
    # "BertTokenizerFast" and "BertTokenizer" name the same tokenizer for us; the generic
    # "PreTrainedTokenizerFast" must stay as it is (without "Fast" it is the reference's slow base class).
    if name.endswith("TokenizerFast") and name != "PreTrainedTokenizerFast":
        return name[: -len("Fast")]
    return name


# ----------------------------------------------------------------------------------------------
# Vocabularies stored in GGUF metadata (llama.cpp files)
# ----------------------------------------------------------------------------------------------
# `tokenizer.ggml.pre` names how llama.cpp splits text before BPE; the split decides which ids a
# text gets, so it must be the one the merges were learned with (as in the model's tokenizer.json).
_LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                 r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_GGUF_SPLITS = {name: _LLAMA3_SPLIT for name in ("llama3", "llama-v3", "llama-bpe", "smaug-bpe", "dbrx")}
_GGUF_DIGIT_SPLITS = ("smollm",)  # SmolLM's tokenizer.json: each digit alone, then GPT-2's byte-level split
_CONTROL, _USER_DEFINED = 3, 4  # llama.cpp token types


def _byte_alphabet() -> dict[int, str]:
    """GPT-2's byte -> printable character table (byte-level BPE spells every token with it)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {b: chr(b) for b in printable}, 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def gguf_tokenizer_files(metadata: Mapping[str, Any], overrides: Mapping[str, Any], source: Path) -> TokenizerFiles:
    """The tokenizer a GGUF file describes (`tokenizer.ggml.*` and `tokenizer.chat_template`): byte-level
    BPE ("gpt2" vocabularies: GPT-2, SmolLM, Llama 3, Qwen ...), its special tokens and chat template."""
    kind = metadata.get("tokenizer.ggml.model")
    tokens = metadata.get("tokenizer.ggml.tokens")
    if kind != "gpt2" or not tokens:
        raise CheckpointNotFoundError(
            f"{source} describes a {kind!r} tokenizer; tokenizers are built from GGUF metadata for byte-level BPE "
            "('gpt2') vocabularies only. Load the tokenizer from the model's hub folder (tokenizer.json) instead.")
    alphabet = _byte_alphabet()
    allowed = set(alphabet.values())
    # Tokens spelled outside the byte alphabet (a converter's slip) are respelled byte by byte, as the reference.
    spelled = [t if set(t) <= allowed else "".join(alphabet[b] for b in t.encode("utf-8")) for t in tokens]
    vocab = {token: i for i, token in enumerate(spelled)}
    merges = [tuple(m.split(" ", 1)) for m in metadata.get("tokenizer.ggml.merges", [])]
    backend = tokenizers.Tokenizer(BPE(vocab, merges, dropout=None, continuing_subword_prefix="", end_of_word_suffix="",
                                       fuse_unk=False))
    pre = metadata.get("tokenizer.ggml.pre")
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=bool(metadata.get("tokenizer.ggml.add_space_prefix", False)),
                                          use_regex=pre not in _GGUF_SPLITS)
    if pre in _GGUF_SPLITS:
        backend.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Split(tokenizers.Regex(_GGUF_SPLITS[pre]), behavior="isolated"), byte_level])
    elif pre in _GGUF_DIGIT_SPLITS:
        backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    else:
        backend.pre_tokenizer = byte_level
    backend.decoder = decoders.ByteLevel()
    types = list(metadata.get("tokenizer.ggml.token_type") or [])
    extras = [t for t, kind in zip(tokens, types) if kind == _CONTROL and set(t) <= allowed]
    user = [AddedToken(t, normalized=False, special=False) for t, kind in zip(tokens, types) if kind == _USER_DEFINED]
    if user:
        backend.add_tokens(user)

    special: dict[str, Any] = {}
    for name, key in (("bos_token", "bos_token_id"), ("eos_token", "eos_token_id"), ("unk_token", "unknown_token_id"),
                      ("pad_token", "padding_token_id")):
        index = metadata.get(f"tokenizer.ggml.{key}")
        if index is not None and 0 <= int(index) < len(tokens):
            special[name] = tokens[int(index)]
    config: dict[str, Any] = {"tokenizer_class": "GPT2Tokenizer", "add_prefix_space": byte_level.add_prefix_space}
    if metadata.get("tokenizer.chat_template"):
        config["chat_template"] = metadata["tokenizer.chat_template"]
    for flag in ("add_bos_token", "add_eos_token"):
        if f"tokenizer.ggml.{flag}" in metadata:
            config[flag] = bool(metadata[f"tokenizer.ggml.{flag}"])
    config.update(overrides)
    special.update({k: v for k, v in overrides.items() if k in SPECIAL_TOKEN_NAMES})
    # Only the named bos/eos of a GGUF need a template (add_bos_token); the ids are known already.
    backend.post_processor = post_processor("gpt2", config, {k: token_content(v)[0] for k, v in special.items()},
                                            backend.token_to_id)
    return TokenizerFiles(backend=backend, config=config, special=special, extras=extras, family="gpt2",
                          from_vocab_files=False, padding={}, truncation={})
