"""The offline demo: the real pipeline on bundled sample sources.

The samples are copied into the demo folder and defined as ``file:``
sources, so the demo goes through the same fetch, parse, normalise and store
path as a real run, with no network.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from .config import Home
from .errors import BorderlinksError
from .model import FetchResult, Item, Source
from .render import make_environment, render_template
from .sources import fetch
from .store import Store

DEMO_DATA = Path(__file__).resolve().parent / "demo_data"
# The samples are dated March 2025: the daily editions are for the 21st (covering the 20th),
# the monthly ones close March on the 31st.
DEMO_DATES = {
    "daily-border-links": date(2025, 3, 21),
    "security-news": date(2025, 3, 21),
    "monthly-roundups": date(2025, 3, 31),
    "long-reads": date(2025, 3, 31),
}


@dataclass(frozen=True)
class SourceItems:
    source: Source
    items: list[Item]


def prepare_demo(directory: Path) -> Home:
    """Copy the samples into ``directory`` and write its source definitions."""
    directory = Path(directory).resolve()
    samples = directory / "samples"
    if samples.exists():
        shutil.rmtree(samples)
    shutil.copytree(DEMO_DATA, samples, ignore=shutil.ignore_patterns("sources.toml", "*.md", "__pycache__"))
    definitions = (DEMO_DATA / "sources.toml").read_text(encoding="utf-8")
    (directory / "sources").mkdir(parents=True, exist_ok=True)
    (directory / "sources" / "demo.toml").write_text(
        "# Written by 'borderlinks demo': sample outlets read from local files.\n"
        + definitions.replace("{samples}", samples.as_uri()),
        encoding="utf-8",
    )
    return Home(directory)


def write_items_page(home: Home, store: Store, path: Path) -> int:
    """A plain HTML page listing the stored items by source."""
    sources = home.sources()
    groups = []
    total = 0
    for source in sources:
        found = store.get_items(source_ids=[source.id])
        total += len(found)
        groups.append(SourceItems(source, found))
    html = render_template(make_environment(home), "items.html", title="borderlinks demo: stored items", groups=groups, total=total)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(html, encoding="utf-8")
    os.replace(temporary, path)
    return total


def run_demo(directory: Path, echo: Callable[[str], None] = print) -> list[FetchResult]:
    """``borderlinks demo``: fetch the samples, store them, write the output."""
    home = prepare_demo(directory)
    echo(f"Demo home: {home.root}")
    with Store(home.database_url) as store:
        results = fetch(home, store=store, force=True)
        for r in results:
            line = f"  {r.source_id:<28} {r.status:<13} {r.entries:>3} entries, {r.new_items:>3} new"
            echo(line + (f"  ({r.error})" if r.error else ""))
        failed = [r for r in results if r.status == "error"]
        if failed and len(failed) == len(results):
            raise BorderlinksError("every demo source failed; the installation may be broken")
        page = home.root / "out" / "items.html"
        total = write_items_page(home, store, page)
        echo(f"Stored and classified {total} items in {home.database_url.removeprefix('sqlite:///')}")
        build_demo_editions(home, store, echo)
    echo(f"Open {home.root / 'out' / 'site' / 'index.html'} (the web archive)")
    echo(f"  or {home.root / 'out' / 'email'} (the emails), {page} (every stored item)")
    return results


def build_demo_editions(home: Home, store: Store, echo: Callable[[str], None]) -> None:
    """Write the review files, approve them as an editor would, and build every edition."""
    from dataclasses import replace

    from .review import read_review_file, write_review_file
    from .workflow import build, load_context, update_review

    context = load_context(home)
    for slug, day in DEMO_DATES.items():
        edition = context.editions.get(slug)
        if edition is None or not edition.needs_approval:
            continue
        update = update_review(context, store, edition, day)
        ticked = sum(1 for s in update.review.sections for e in s.entries if e.checked)
        review = read_review_file(update.path)
        if not review.approved:
            write_review_file(update.path, replace(review, status="approved"))
        echo(f"Review file {update.path}: {ticked} items ticked; approved for the demo, as an editor would")
    for slug, day in DEMO_DATES.items():
        if slug not in context.editions:
            continue
        for result in build(home, edition_slug=slug, day=day, store=store):
            if result.skipped:
                echo(f"  {slug} {day}: not built: {result.skipped}")
            else:
                items = sum(len(d.items) for d in result.digests)
                echo(f"Built {slug} for {day}: {len(result.digests)} post(s), {items} items")
