"""Classification from the command line: on every stored item, explained, re-tagged, tried."""

from __future__ import annotations

import io
import json

import pytest
from pytest_httpserver import HTTPServer

from borderlinks.cli import main
from borderlinks.sources import fetch
from conftest import SiteHome, read_data

DARIEN = """slug = "darien"
title = "The Darién Gap"
threshold = 2.0

[terms]
en = ["Darien Gap"]
es = ["Tapón del Darién", "Darién"]
"""
BORDER = """slug = "border-enforcement"
title = "Border Enforcement"
threshold = 1.0

[terms]
en = ["Border Patrol", "buoys"]
es = ["Patrulla Fronteriza"]
"""


@pytest.fixture
def tagged_site(site: SiteHome, httpserver: HTTPServer) -> SiteHome:
    (site.root / "classifiers").mkdir()
    (site.root / "classifiers" / "darien.toml").write_text(DARIEN, encoding="utf-8")
    (site.root / "classifiers" / "border-enforcement.toml").write_text(BORDER, encoding="utf-8")
    httpserver.expect_request("/feed").respond_with_data(read_data("feeds/border-rss2.xml"), content_type="application/rss+xml")
    httpserver.expect_request("/rdf").respond_with_data(read_data("feeds/border-rdf.xml"), content_type="application/rdf+xml")
    site.add_feed("frontera", httpserver.url_for("/feed"))
    site.add_feed("istmo", httpserver.url_for("/rdf"), language="es")
    return site


def run(capsys, monkeypatch, *args: str, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_new_item_is_tagged_as_it_is_stored(tagged_site: SiteHome):
    fetch(tagged_site.home)
    with tagged_site.store() as store:
        items = {i.title: i for i in store.get_items()}
        tags = store.get_tags(i.id for i in items.values())
    assert tags[items["Texas installs more buoys in the Río Grande near Eagle Pass"].id].theme_slugs == ["border-enforcement"]
    assert tags[items["Panamá registra menos cruces por el Darién"].id].theme_slugs == ["darien"]
    assert items["Migrantes venezolanos esperan en Ciudad Juárez “sin citas” de CBP One"].id not in tags


def test_jsonl_needs_no_store_and_reports_bad_lines(tagged_site: SiteHome, capsys, monkeypatch):
    lines = "\n".join([
        json.dumps({"id": "a", "title": "", "text": "Crece el paso de migrantes por el Tapón del Darién", "language": "es"}),
        "{not json",
        json.dumps({"id": "c", "title": "Border Patrol agents", "text": ""}),
    ])
    code, out, _ = run(capsys, monkeypatch, "--home", str(tagged_site.root), "classify", "--jsonl", stdin=lines)
    results = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert results[0]["id"] == "a" and results[0]["themes"] == ["darien"]
    assert results[0]["matches"]["darien"] == ["Tapón del Darién", "Darién"]
    assert "error" in results[1]
    assert results[2]["themes"] == ["border-enforcement"]
    assert not (tagged_site.root / "var").exists()


def test_explain_text_from_standard_input_names_the_terms(tagged_site: SiteHome, capsys, monkeypatch):
    code, out, _ = run(
        capsys, monkeypatch, "--home", str(tagged_site.root), "classify", "--explain",
        stdin="Migrants stranded in the Darien Gap\nPanama says crossings fell.",
    )
    assert code == 0
    assert "darien" in out and "'Darien Gap' in title" in out


def test_explain_a_stored_item(tagged_site: SiteHome, capsys, monkeypatch):
    fetch(tagged_site.home)
    with tagged_site.store() as store:
        item = next(i for i in store.get_items() if "buoys" in i.title)
    code, out, _ = run(capsys, monkeypatch, "--home", str(tagged_site.root), "classify", "--explain", item.id)
    assert code == 0
    assert "'buoys' in title" in out


def test_all_retags_stored_items_after_a_theme_changes(tagged_site: SiteHome, capsys, monkeypatch):
    fetch(tagged_site.home)
    (tagged_site.root / "classifiers" / "border-enforcement.toml").write_text(BORDER.replace('"buoys"', '"CBP One"'), encoding="utf-8")
    code, out, _ = run(capsys, monkeypatch, "--home", str(tagged_site.root), "classify", "--all")
    assert code == 0 and "Re-tagged 4 stored items" in out
    with tagged_site.store() as store:
        items = {i.title: i for i in store.get_items()}
        tags = store.get_tags(i.id for i in items.values())
    assert items["Texas installs more buoys in the Río Grande near Eagle Pass"].id not in tags
    assert tags[items["Migrantes venezolanos esperan en Ciudad Juárez “sin citas” de CBP One"].id].theme_slugs == ["border-enforcement"]


def test_themes_test_shows_gains_and_losses_and_changes_nothing(tagged_site: SiteHome, capsys, monkeypatch, tmp_path):
    fetch(tagged_site.home, source_ids=["frontera", "istmo"])
    edited = tmp_path / "border-enforcement.toml"
    edited.write_text(BORDER.replace('"buoys"', '"CBP One"'), encoding="utf-8")
    with tagged_site.store() as store:
        before = store.get_tags(i.id for i in store.get_items())
    code, out, _ = run(
        capsys, monkeypatch, "--home", str(tagged_site.root), "themes", "test", "border-enforcement",
        "--file", str(edited), "--days", "100000",
    )
    assert code == 0
    assert "would gain 1 and lose 1" in out
    assert "+ Migrantes venezolanos esperan en Ciudad Juárez" in out
    assert "- Texas installs more buoys" in out
    with tagged_site.store() as store:
        assert store.get_tags(i.id for i in store.get_items()) == before


def test_a_broken_theme_file_stops_with_file_and_line(tagged_site: SiteHome, capsys, monkeypatch):
    (tagged_site.root / "classifiers" / "darien.toml").write_text(DARIEN.replace('threshold = 2.0', 'treshold = 2.0'), encoding="utf-8")
    code, _, err = run(capsys, monkeypatch, "--home", str(tagged_site.root), "fetch")
    assert code == 1
    assert "darien.toml:3: unknown key 'treshold'" in err
    assert "Did you mean 'threshold'?" in err
