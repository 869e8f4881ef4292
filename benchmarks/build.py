"""Benchmark: a full build of every edition for a month of data (~30,000 stored items).

Prints, measured in the same run: the time to read the month's items (and
their tags) from the store alone, and the time of ``borderlinks build --date
2025-03-01 --until 2025-03-31`` as a library call: select, cluster, rank and
render every edition for every day of the month (daily editions 31 times,
monthly ones once per month covered), write the emails and the web archive.
Target: under 10 s for the month.

Usage: python benchmarks/build.py [--items 30000]
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from borderlinks.config import Home
from borderlinks.demo import run_demo
from borderlinks.store import Store
from borderlinks.tagging import classify_item, make_classifier
from borderlinks.text import stable_id
from borderlinks.workflow import build

MONTH = [date(2025, 3, 1) + timedelta(days=n) for n in range(31)]


def fill_store(home: Home, count: int) -> int:
    """Spread variants of the demo's real-looking items over March 2025, tagged by the real classifier."""
    rng = random.Random(3)
    classifier = make_classifier(home)
    with Store(home.database_url) as store:
        seeds = store.get_items()
        made, identities, tags = [], [], []
        for n in range(count):
            base = rng.choice(seeds)
            when = datetime(2025, 3, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(31 * 86400))
            words = base.title.split()
            rng.shuffle(words)
            title = " ".join(words[: max(4, len(words) - 2)]) + f" ({n})"
            url = f"{base.url.rstrip('/')}/v{n}"
            item = replace(base, id=stable_id(url), url=url, title=title, published=when, first_seen=when, guid=url)
            made.append(item)
            identities.append(url)
            tags.append(classify_item(classifier, item))
        from borderlinks.store import Fetched, SourceState

        for start in range(0, count, 2000):
            batch = slice(start, start + 2000)
            store.save_fetches([Fetched(SourceState("bench"), made[batch], identities[batch], tags[batch])])
        return len(store.get_items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=30_000)
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="borderlinks-build-"))
    try:
        run_demo(work / "home", echo=lambda line: None)
        shutil.rmtree(work / "home" / "out")
        home = Home(work / "home")
        started = time.perf_counter()
        stored = fill_store(home, options.items)
        print(f"prepared {stored:,} stored items over March 2025 in {time.perf_counter() - started:.1f} s (not measured)")

        with Store(home.database_url) as store:
            t0 = time.perf_counter()
            month_items = store.get_items(since=datetime(2025, 2, 28, tzinfo=UTC), until=datetime(2025, 4, 1, 6, tzinfo=UTC))
            store.get_tags(i.id for i in month_items)
            read_seconds = time.perf_counter() - t0

        t0 = time.perf_counter()
        results = build(home, day=MONTH[0], until=MONTH[-1], force=True)
        total = time.perf_counter() - t0
        built = [r for r in results if not r.skipped]
        digests = [d for r in built for d in r.digests]
        written = [p for r in built for p in r.written]
        emails = sum(1 for p in written if "email" in p.parts)
        items = sum(len(d.items) for d in digests)
        print(f"read the month's {len(month_items):,} items and tags from the store:  {read_seconds:6.2f} s  (baseline)")
        print(
            f"build --date {MONTH[0]} --until {MONTH[-1]}: {len(results)} edition-dates ({len(built)} with news), "
            f"{len(digests)} posts, {items:,} printed items, {emails} email files, {len(written) - emails} site files"
        )
        print(f"full build of the month:                                  {total:6.2f} s  = {total / read_seconds:.1f}x the store read (target < 10 s)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
