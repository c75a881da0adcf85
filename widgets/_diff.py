"""How two models' answers to one input differ: pure functions on pipeline results (plain data in, plain data out).

Each function compares a model's result with the reference model's (the first column in `Compare`) and
returns a dict with `agrees` (the short answers are the same) and `note` (one line for a reader), plus what
its renderer marks: rank moves in a ranking, label flips and score deltas, entity changes, word edits, box
matches with their IoU. Tested without a kernel.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from typing import Any

# -- rankings (fill-mask) ---------------------------------------------------------------------------


def rank_changes(ref: Sequence[dict[str, Any]], other: Sequence[dict[str, Any]],
                 key: Callable[[dict[str, Any]], str]) -> dict[str, Any]:
    """Each of `other`'s items with its rank here and in `ref` (`move` > 0: ranked higher than in ref; `new`: not
    in ref's list); `dropped`: ref's items missing here. Agrees when the first items are the same."""
    ref_rank = {key(item): i for i, item in enumerate(ref)}
    items = []
    for i, item in enumerate(other):
        before = ref_rank.get(key(item))
        items.append({"key": key(item), "score": float(item["score"]), "rank": i, "ref_rank": before,
                      "move": None if before is None else before - i, "new": before is None})
    here = {key(item) for item in other}
    dropped = [key(item) for item in ref if key(item) not in here]
    agrees = bool(ref) and bool(other) and key(ref[0]) == key(other[0])
    moved = sum(1 for it in items if it["move"])
    note = ("same top answer" if agrees else f"top answer {key(other[0])!r} (reference: {key(ref[0])!r})") + \
        (f"; {moved} moved" if moved else "") + (f"; {len(dropped)} dropped" if dropped else "")
    return {"agrees": agrees, "note": note, "items": items, "dropped": dropped}


# -- labels (text and image classification) ----------------------------------------------------------
def label_changes(ref: Sequence[dict[str, Any]], other: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The top label here vs ref's (`flip` when they differ) and each label's score change (labels in both)."""
    ref_scores = {d["label"]: float(d["score"]) for d in ref}
    top_ref = max(ref, key=lambda d: d["score"])["label"] if ref else None
    top = max(other, key=lambda d: d["score"])["label"] if other else None
    deltas = {d["label"]: float(d["score"]) - ref_scores[d["label"]] for d in other if d["label"] in ref_scores}
    flip = top != top_ref
    if flip:
        note = f"label flip: {top_ref} → {top}"
    else:
        delta = deltas.get(top, 0.0)
        note = f"same label {top}, score {delta:+.3f}"
    return {"agrees": not flip, "flip": flip, "top": top, "ref_top": top_ref, "deltas": deltas, "note": note}


# -- entities (token classification) -----------------------------------------------------------------
def entity_kind(e: dict[str, Any]) -> str:
    return str(e.get("entity_group") or str(e.get("entity", "")).split("-", 1)[-1])


def entity_changes(ref: Sequence[dict[str, Any]], other: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Each entity here as "same" (span and type as in ref), "type" (same span, other type: `ref_type`),
    "boundary" (overlaps a ref entity of its type with other bounds) or "extra" (nothing there in ref);
    `missing`: ref entities nothing here overlaps."""
    def overlaps(a: dict[str, Any], b: dict[str, Any]) -> bool:
        return int(a["start"]) < int(b["end"]) and int(b["start"]) < int(a["end"])

    marks, seen = [], set()
    for e in other:
        span = (int(e["start"]), int(e["end"]))
        exact = [i for i, r in enumerate(ref) if (int(r["start"]), int(r["end"])) == span]
        near = [i for i, r in enumerate(ref) if overlaps(r, e)]
        if exact:
            r = ref[exact[0]]
            seen.update(exact)
            same = entity_kind(r) == entity_kind(e)
            marks.append({"start": span[0], "end": span[1], "type": entity_kind(e), "change": "same" if same else "type",
                          "ref_type": entity_kind(r)})
        elif near:
            seen.update(near)
            kinds = {entity_kind(ref[i]) for i in near}
            marks.append({"start": span[0], "end": span[1], "type": entity_kind(e),
                          "change": "boundary" if entity_kind(e) in kinds else "type", "ref_type": sorted(kinds)[0]})
        else:
            marks.append({"start": span[0], "end": span[1], "type": entity_kind(e), "change": "extra", "ref_type": None})
    missing = [{"start": int(r["start"]), "end": int(r["end"]), "type": entity_kind(r), "word": r.get("word", "")}
               for i, r in enumerate(ref) if i not in seen]
    counts = {c: sum(1 for m in marks if m["change"] == c) for c in ("type", "boundary", "extra")}
    agrees = not missing and not any(counts.values())
    parts = [f"{n} {name}" for name, n in (("type changed", counts["type"]), ("boundary", counts["boundary"]),
                                            ("extra", counts["extra"]), ("missing", len(missing))) if n]
    return {"agrees": agrees, "marks": marks, "missing": missing,
            "note": "same entities" if agrees else "entities differ: " + ", ".join(parts)}


# -- words (transcripts, generated text, answers) ----------------------------------------------------
_WORD = re.compile(r"\S+")


def _norm(word: str) -> str:
    return re.sub(r"[^\w']", "", word.lower()) or word


def word_diff(ref: str, other: str) -> dict[str, Any]:
    """Word-level edits from `ref` to `other` (words compared lower-cased without punctuation): `ops` is a list of
    (tag, ref words, other words) with tag equal / replace / delete / insert; `wer` = edits / ref words."""
    a, b = _WORD.findall(ref), _WORD.findall(other)
    matcher = difflib.SequenceMatcher(a=[_norm(w) for w in a], b=[_norm(w) for w in b], autojunk=False)
    ops, edits = [], 0
    for tag, i0, i1, j0, j1 in matcher.get_opcodes():
        ops.append((tag, a[i0:i1], b[j0:j1]))
        if tag != "equal":
            edits += max(i1 - i0, j1 - j0)
    wer = edits / len(a) if a else float(bool(b))
    agrees = edits == 0
    return {"agrees": agrees, "ops": ops, "wer": wer, "edits": edits,
            "note": "same words" if agrees else f"{edits} word edit{'s' if edits != 1 else ''} (WER {wer:.2f} vs reference)"}


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of `hypothesis` against `reference` (same normalisation as `word_diff`)."""
    return word_diff(reference, hypothesis)["wer"]


# -- boxes (object detection) ------------------------------------------------------------------------
def _box(d: dict[str, Any]) -> tuple[float, float, float, float]:
    b = d["box"]
    return float(b["xmin"]), float(b["ymin"]), float(b["xmax"]), float(b["ymax"])


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two (xmin, ymin, xmax, ymax) boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match_boxes(ref: Sequence[dict[str, Any]], other: Sequence[dict[str, Any]], threshold: float = 0.5) -> dict[str, Any]:
    """Greedy one-to-one matching of `other`'s boxes to ref's by IoU (highest first, at least `threshold`):
    `pairs` (other index, ref index, IoU, same label), `extra` (other's unmatched), `missing` (ref's unmatched)."""
    candidates = sorted(((iou(_box(o), _box(r)), i, j) for i, o in enumerate(other) for j, r in enumerate(ref)),
                        reverse=True)
    pairs, used_o, used_r = [], set(), set()
    for value, i, j in candidates:
        if value < threshold:
            break
        if i in used_o or j in used_r:
            continue
        used_o.add(i)
        used_r.add(j)
        pairs.append({"index": i, "ref_index": j, "iou": value, "same_label": other[i]["label"] == ref[j]["label"]})
    pairs.sort(key=lambda p: p["index"])
    extra = [i for i in range(len(other)) if i not in used_o]
    missing = [j for j in range(len(ref)) if j not in used_r]
    relabelled = sum(1 for p in pairs if not p["same_label"])
    agrees = not extra and not missing and not relabelled
    mean_iou = sum(p["iou"] for p in pairs) / len(pairs) if pairs else 0.0
    note = (f"{len(pairs)} matched (mean IoU {mean_iou:.2f})" + (f", {relabelled} relabelled" if relabelled else "")
            + (f", {len(extra)} extra" if extra else "") + (f", {len(missing)} missing" if missing else ""))
    return {"agrees": agrees, "pairs": pairs, "extra": extra, "missing": missing, "note": note}
