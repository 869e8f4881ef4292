"""The offline demo runs the real pipeline on the bundled samples."""

from __future__ import annotations

from pathlib import Path

from borderlinks.cli import main
from borderlinks.config import Home
from borderlinks.demo import DEMO_DATA, run_demo
from borderlinks.store import Store


def test_demo_fetches_every_sample_source_through_the_real_path(tmp_path: Path):
    results = run_demo(tmp_path / "demo", echo=lambda line: None)
    assert len(results) >= 9
    assert all(r.status == "ok" for r in results), [r for r in results if r.status != "ok"]
    home = Home(tmp_path / "demo")
    sources = {s.id: s for s in home.sources()}
    assert any(s.type == "page" for s in sources.values())
    assert {"en", "es"} <= {s.language for s in sources.values()}
    assert all(s.url.startswith("file:") for s in sources.values())
    with Store(home.database_url) as store:
        items = store.get_items()
    assert len(items) >= 80
    assert {i.source_id for i in items} == set(sources)


def test_demo_output_page_lists_items_by_source_and_neutralises_hostile_markup(tmp_path: Path):
    run_demo(tmp_path / "demo", echo=lambda line: None)
    page = (tmp_path / "demo" / "out" / "items.html").read_text(encoding="utf-8")
    assert page.count("<h2") >= 9
    assert "<script" not in page.lower()
    assert "javascript:" not in page.lower()
    assert "onclick" not in page.lower()


def test_running_the_demo_twice_stores_nothing_twice(tmp_path: Path):
    run_demo(tmp_path / "demo", echo=lambda line: None)
    second = run_demo(tmp_path / "demo", echo=lambda line: None)
    assert sum(r.new_items for r in second) == 0


def test_demo_command_prints_where_its_output_is(tmp_path: Path, capsys):
    assert main(["demo", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    assert f"Open {tmp_path / 'd' / 'out'}" in out


def test_demo_samples_carry_their_attribution():
    assert (DEMO_DATA / "ATTRIBUTION.md").is_file()
    assert "fictional" in (DEMO_DATA / "ATTRIBUTION.md").read_text(encoding="utf-8").lower()
