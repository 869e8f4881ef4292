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
from borderlinks.model import Item
from borderlinks.store import Store
from borderlinks.tagging import classify_item, make_classifier
from borderlinks.text import stable_id
from borderlinks.workflow import build

MONTH = [date(2025, 3, 1) + timedelta(days=n) for n in range(31)]


def variants_of_demo_items(store: Store, count: int) -> list[Item]:
    """The demo's 122 items, each repeated some 250 times over the month with its words shuffled: a worst case for clustering."""
    rng = random.Random(3)
    seeds = store.get_items()
    made = []
    for n in range(count):
        base = rng.choice(seeds)
        when = datetime(2025, 3, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(31 * 86400))
        words = base.title.split()
        rng.shuffle(words)
        title = " ".join(words[: max(4, len(words) - 2)]) + f" ({n})"
        url = f"{base.url.rstrip('/')}/v{n}"
        made.append(replace(base, id=stable_id(url), url=url, title=title, published=when, first_seen=when, guid=url))
    return made


def generated_month(home: Home, count: int) -> list[Item]:
    """A month of distinct stories, 15% of them told again by another outlet (benchmarks/cluster.py's generator).

    Each generated outlet is mapped to one of the demo's sources of the same
    language, so that sections by kind and lean fill as they would.
    """
    from cluster import Generator, read_pairs

    items, _ = Generator(read_pairs()).items(count, days=31, rewrites=0.15)
    by_language: dict[str, list[str]] = {}
    for source in home.sources():
        by_language.setdefault(source.language, []).append(source.id)
    outlets = sorted({i.source_id for i in items})
    mapped = {o: by_language.get(o[:2], by_language["en"])[n % len(by_language.get(o[:2], by_language["en"]))] for n, o in enumerate(outlets)}
    return [replace(i, source_id=mapped[i.source_id], first_seen=i.published, guid=i.url) for i in items]


def fill_store(home: Home, count: int, data: str) -> int:
    """Store ``count`` items over March 2025, tagged by the real classifier."""
    classifier = make_classifier(home)
    with Store(home.database_url) as store:
        made = variants_of_demo_items(store, count) if data == "variants" else generated_month(home, count)
        identities = [i.url for i in made]
        tags = [classify_item(classifier, i) for i in made]
        from borderlinks.store import Fetched, SourceState

        for start in range(0, count, 2000):
            batch = slice(start, start + 2000)
            store.save_fetches([Fetched(SourceState("bench"), made[batch], identities[batch], tags[batch])])
        return len(store.get_items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=30_000)
    parser.add_argument(
        "--data", choices=("generated", "variants"), default="generated",
        help="generated: distinct stories, 15%% retold (as a month of news); variants: the demo's items repeated ~250 times each",
    )
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="borderlinks-build-"))
    try:
        run_demo(work / "home", echo=lambda line: None)
        shutil.rmtree(work / "home" / "out")
        home = Home(work / "home")
        started = time.perf_counter()
        stored = fill_store(home, options.items, options.data)
        print(f"prepared {stored:,} stored items over March 2025 ({options.data}) in {time.perf_counter() - started:.1f} s (not measured)")

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
