"""Derive a human-labelled English sentiment dataset from the VADER source archive (MIT licence).

    python data/vader_sentiment/make_dataset.py            # downloads vaderSentiment-3.3.2.tar.gz with pip

The archive's `additional_resources/hutto_ICWSM_2014.tar.gz` holds the ground truth of Hutto & Gilbert
(ICWSM 2014): short texts with the mean of about 20 human valence ratings in [-4, 4]. This script keeps
  - tweets and Amazon product-review snippets -> train.csv / validation.csv (85/15 by a hash of the text),
  - movie-review snippets -> test_movies.csv ONLY: a held-out test of how well a fine-tuned model transfers
    to another domain; they never enter training or validation,
with label `positive` (mean >= 0.5) or `negative` (mean <= -0.5); texts rated in between are dropped as
neutral, HTML entities are unescaped, duplicates removed. Deterministic: the same archive gives the same files.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARCHIVE = "vaderSentiment-3.3.2.tar.gz"
ARCHIVE_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
MARGIN = 0.5  # |mean rating| below this is neutral: dropped
MOVIE_SAMPLE = 2000  # movie snippets kept as the transfer test (a seeded sample, to keep the repo small)


def fetch(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                    "vadersentiment==3.3.2", "-d", str(folder)], check=True)
    path = folder / ARCHIVE
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != ARCHIVE_SHA256:
        sys.exit(f"{path} has SHA-256 {digest}, expected {ARCHIVE_SHA256}: not the archive this dataset was made from")
    return path


def ground_truth(archive: Path) -> dict[str, list[tuple[str, float]]]:
    """{source: [(text, mean rating)]} from the inner ICWSM 2014 tarball."""
    with tarfile.open(archive) as outer:
        inner_bytes = outer.extractfile("vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz").read()
    out: dict[str, list[tuple[str, float]]] = {}
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        for source in ("tweets", "amazonReviewSnippets", "movieReviewSnippets"):
            raw = inner.extractfile(f"hutto_ICWSM_2014/{source}_GroundTruth.txt").read().decode("utf-8", "replace")
            rows = []
            for line in raw.splitlines():
                parts = line.split("\t")
                if len(parts) >= 3:
                    rows.append((html.unescape(parts[2]).strip(), float(parts[1])))
            out[source] = rows
    return out


def labelled(rows: list[tuple[str, float]]) -> list[tuple[str, str]]:
    seen, out = set(), []
    for text, score in rows:
        if abs(score) < MARGIN or not text or text in seen:
            continue
        seen.add(text)
        out.append((text, "positive" if score > 0 else "negative"))
    return out


def bucket(text: str) -> int:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16) % 100


def write(path: Path, rows: list[tuple[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label", "source"])
        writer.writerows(rows)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = ground_truth(fetch(Path(tmp)))
    train, validation = [], []
    for source in ("tweets", "amazonReviewSnippets"):
        for text, label in labelled(data[source]):
            (validation if bucket(text) < 15 else train).append((text, label, source))
    movies = sorted(labelled(data["movieReviewSnippets"]), key=lambda r: hashlib.sha256(r[0].encode()).hexdigest())
    write(HERE / "train.csv", train)
    write(HERE / "validation.csv", validation)
    write(HERE / "test_movies.csv", [(t, l, "movieReviewSnippets") for t, l in movies[:MOVIE_SAMPLE]])
    for name, rows in (("train", train), ("validation", validation), ("test_movies", movies[:MOVIE_SAMPLE])):
        pos = sum(1 for r in rows if r[1] == "positive")
        print(f"{name}: {len(rows)} rows, {pos} positive, {len(rows) - pos} negative")


if __name__ == "__main__":
    main()
