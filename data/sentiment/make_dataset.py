"""Write data/sentiment/{train,validation}.csv: short English sentences with a positive or
negative label, composed from hand-written templates and word lists (no external source).

Run: python data/sentiment/make_dataset.py   (deterministic: seed 1234)
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

SUBJECTS = [
    "The movie", "This film", "The book", "The restaurant", "Our hotel room", "The new phone", "This laptop",
    "The concert", "The service", "The coffee", "The soup", "The museum tour", "The game", "This album",
    "The staff", "The train ride", "The app", "The lecture", "The play", "The bakery", "The headphones",
    "The camera", "The garden", "The course", "This novel", "The sequel", "The pizza", "The flight",
]
POSITIVE_ADJ = [
    "wonderful", "delightful", "excellent", "fantastic", "charming", "brilliant", "superb", "lovely",
    "impressive", "enjoyable", "great", "amazing", "fun", "pleasant", "outstanding", "heartwarming",
]
NEGATIVE_ADJ = [
    "terrible", "awful", "boring", "disappointing", "dreadful", "horrible", "dull", "poor",
    "frustrating", "mediocre", "bad", "annoying", "unpleasant", "lousy", "tedious", "painful",
]
POSITIVE_TAIL = [
    "and I would gladly go back", "and I recommend it to everyone", "and it made my day",
    "and I loved every minute", "and it was worth every penny", "and I left smiling",
    "and everyone was happy", "and I want more of it",
]
NEGATIVE_TAIL = [
    "and I want my money back", "and I will never return", "and it ruined my evening",
    "and I regret going", "and it was a waste of time", "and I left annoyed",
    "and nobody enjoyed it", "and I would not recommend it",
]
POSITIVE_VERBS = ["I loved", "We enjoyed", "I really liked", "My friends adored", "I was impressed by", "We appreciated"]
NEGATIVE_VERBS = ["I hated", "We disliked", "I could not stand", "My friends complained about", "I was let down by", "We regretted"]
INTENSIFIERS = ["", "really ", "truly ", "quite ", "very ", "absolutely "]


def sentence(rng: random.Random, positive: bool) -> str:
    adj = rng.choice(POSITIVE_ADJ if positive else NEGATIVE_ADJ)
    subject = rng.choice(SUBJECTS)
    form = rng.randrange(4)
    if form == 0:
        return f"{subject} was {rng.choice(INTENSIFIERS)}{adj}."
    if form == 1:
        return f"{subject} was {adj} {rng.choice(POSITIVE_TAIL if positive else NEGATIVE_TAIL)}."
    if form == 2:
        verb = rng.choice(POSITIVE_VERBS if positive else NEGATIVE_VERBS)
        return f"{verb} {subject[0].lower() + subject[1:]}, it was {adj}."
    # a negated opposite word, so the label does not follow from one adjective alone
    other = rng.choice(NEGATIVE_ADJ if positive else POSITIVE_ADJ)
    return f"{subject} was not {other} at all, it was {adj}."


def build(n_per_class: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows: set[tuple[str, str]] = set()
    while len(rows) < 2 * n_per_class:
        positive = len([r for r in rows if r[1] == "positive"]) < n_per_class
        if not positive and len(rows) - n_per_class >= n_per_class:
            break
        rows.add((sentence(rng, positive), "positive" if positive else "negative"))
    out = sorted(rows)
    rng.shuffle(out)
    return out


def main() -> None:
    here = Path(__file__).resolve().parent
    rows = build(200, seed=1234)  # 400 unique sentences, 200 per class
    pos = [r for r in rows if r[1] == "positive"]
    neg = [r for r in rows if r[1] == "negative"]
    validation = pos[:40] + neg[:40]
    train = pos[40:] + neg[40:]
    rng = random.Random(7)
    rng.shuffle(train)
    rng.shuffle(validation)
    for name, part in (("train.csv", train), ("validation.csv", validation)):
        with open(here / name, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows(part)
        print(f"{name}: {len(part)} rows")


if __name__ == "__main__":
    main()
