"""Every real-world feed in ../shared/corpus yields items or a recorded, clear error."""

from __future__ import annotations

import csv

import pytest

from borderlinks.sources import fetch
from conftest import CORPUS, SiteHome

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not beside this clone")


def corpus_rows() -> list[dict[str, str]]:
    with (CORPUS / "index.tsv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_every_corpus_file_yields_items_or_a_clear_error(site: SiteHome):
    rows = corpus_rows()
    lines = []
    for n, row in enumerate(rows):
        url = (CORPUS / row["path"]).as_uri()
        lines.append(f'[[source]]\nid = "c{n}"\nname = "Corpus {n}"\nurl = "{url}"\n')
    site.write_sources("\n".join(lines))
    results = fetch(site.home)
    assert len(results) == len(rows)
    by_status: dict[str, int] = {}
    for row, result in zip(rows, results, strict=True):
        by_status[result.status] = by_status.get(result.status, 0) + 1
        assert result.status in ("ok", "error"), (row["path"], result)
        if result.status == "error":
            assert result.error and len(result.error) > 15, (row["path"], result.error)
            assert "Traceback" not in result.error
    with site.store() as store:
        states = store.source_states()
    assert len(states) == len(rows)
    # Files their own projects parse with items must give us items too.
    expected_items = [
        (row, r) for row, r in zip(rows, results, strict=True)
        if row["path"].startswith("feeds/") and row["expected"] == "parse" and int(row["fp6_entries"] or 0) > 0
    ]
    missing = [row["path"] for row, r in expected_items if r.status != "ok"]
    assert len(missing) <= len(expected_items) // 50, missing[:20]


def test_json_feeds_in_the_corpus_are_read(site: SiteHome):
    rows = [r for r in corpus_rows() if r["format"] == "json" and r["path"].startswith("feeds/")]
    assert rows
    for n, row in enumerate(rows):
        site.add_feed(f"j{n}", (CORPUS / row["path"]).as_uri())
    results = fetch(site.home)
    with_items = [r for r in results if r.status == "ok" and r.entries > 0]
    assert len(with_items) >= len(rows) * 2 // 3
