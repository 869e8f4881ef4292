"""Benchmark: a full build of every edition for a month of data (~30,000 stored items).

Prints, measured in the same run: the time to read the month's items (and
their tags) from the store alone, and the time to select, cluster, rank and
render every edition for every day of the month (daily editions 31 times,
monthly ones once) and write the emails and the whole web archive once.
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
from borderlinks.workflow import archived_digests, load_context, select_for_build

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

            from borderlinks.render import make_environment, write_email
            from borderlinks.site import write_site

            t0 = time.perf_counter()
            context = load_context(home)
            results = []
            for edition in context.editions.values():
                days = [MONTH[-1]] if edition.window == "month" else MONTH
                for day in days:
                    results.append(select_for_build(context, store, edition, day, force=True))
            select_seconds = time.perf_counter() - t0
            t1 = time.perf_counter()
            env = make_environment(home)
            settings = home.settings()
            out = home.root / "out"
            digests = [d for r in results for d in r.digests]
            emails = 0
            for digest in digests:
                emails += len(write_email(digest, out, env, site_url=settings.site_url))
            site = write_site(
                archived_digests(out / "site") + digests, out, env, site_url=settings.site_url, site_title=settings.site_title,
                theme_titles=context.theme_titles, edition_titles={e.slug: e.display_name for e in context.editions.values()},
            )
            render_seconds = time.perf_counter() - t1
        total = select_seconds + render_seconds
        items = sum(len(d.items) for d in digests)
        print(f"read the month's {len(month_items):,} items and tags from the store:  {read_seconds:6.2f} s  (baseline)")
        print(f"select, cluster, rank every edition for every day:        {select_seconds:6.2f} s  ({len(results)} edition-days)")
        print(f"render and write {emails} email files and {len(site)} site files:      {render_seconds:6.2f} s  ({len(digests)} posts, {items:,} printed items)")
        print(f"full build of the month:                                  {total:6.2f} s  = {total / read_seconds:.1f}x the store read (target < 10 s)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
