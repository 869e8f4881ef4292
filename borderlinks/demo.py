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
from pathlib import Path

from .config import Home
from .errors import BorderlinksError
from .model import FetchResult, Item, Source
from .render import make_environment, render_template
from .sources import fetch
from .store import Store

DEMO_DATA = Path(__file__).resolve().parent / "demo_data"


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
    echo(f"Stored {total} items in {home.database_url.removeprefix('sqlite:///')}")
    echo(f"Open {page}")
    return results
