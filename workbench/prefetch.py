"""Download the classroom pack: every checkpoint of `workbench.classroom.MANIFEST`, at its pinned revision,
into the standard Hugging Face cache, with huggingface_hub's progress bars. Run it once while online:

    python -m workbench.prefetch                      # everything the notebooks and panels use
    python -m workbench.prefetch --only 09_vision     # what one notebook (or panel) needs
    python -m workbench.prefetch --list               # what would be fetched, and how much

Afterwards the notebooks find the real checkpoints offline (`python -m workbench.doctor` says so).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .classroom import ManifestEntry, entries_for
from .errors import WorkbenchError
from .hub import DEFAULT_ALLOW_PATTERNS, resolve_model_folder

__all__ = ["PrefetchResult", "prefetch", "main"]


@dataclass(frozen=True)
class PrefetchResult:
    entry: ManifestEntry
    folder: Path | None  # the snapshot in the cache, when it arrived
    problem: str | None  # why not, in the hub layer's words (names the fix)


def prefetch(names: list[str] | tuple[str, ...] = (), *, cache_dir: str | os.PathLike | None = None,
             token: str | bool | None = None, say=print) -> list[PrefetchResult]:
    """Download the manifest entries used by `names` (all when empty); one failure does not stop the rest."""
    results = []
    entries = entries_for(names)
    for number, entry in enumerate(entries, 1):
        say(f"[{number}/{len(entries)}] {entry.hub_id} @ {entry.revision} (about {entry.approx_mb} MB)")
        try:
            folder = resolve_model_folder(entry.hub_id, revision=entry.revision, cache_dir=cache_dir, token=token,
                                          allow_patterns=[*DEFAULT_ALLOW_PATTERNS, *entry.files])
        except WorkbenchError as error:
            say(f"    FAILED: {str(error).splitlines()[0]}")
            results.append(PrefetchResult(entry, None, str(error)))
            continue
        results.append(PrefetchResult(entry, folder, None))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbench.prefetch", description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME",
                        help="notebooks (e.g. 09_vision) or panels (e.g. Detect) whose checkpoints to fetch")
    parser.add_argument("--cache-dir", default=None, help="the hub cache (default: HF_HUB_CACHE)")
    parser.add_argument("--list", action="store_true", help="print what would be fetched and exit")
    args = parser.parse_args(argv)
    try:
        entries = entries_for(args.only)
    except ValueError as error:
        parser.error(str(error))
    if args.list:
        for e in entries:
            print(f"{e.hub_id:60} {e.revision:9} {e.approx_mb:6} MB  {', '.join(e.used_by)}")
        print(f"{len(entries)} checkpoints, about {sum(e.approx_mb for e in entries)} MB")
        return 0
    results = prefetch(args.only, cache_dir=args.cache_dir)
    failed = [r for r in results if r.folder is None]
    print(f"{len(results) - len(failed)} of {len(results)} checkpoints are in the cache.")
    if failed:
        print("Not fetched: " + ", ".join(r.entry.hub_id for r in failed) + ". Fix the cause above and run again "
              "(what arrived is kept).", file=sys.stderr)
        return 1
    print("Offline, `python -m workbench.doctor` now lists what runs on real weights.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
