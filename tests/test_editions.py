"""Editions on the demo data: windows, clusters, sections, ranking, and the editor's review file."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from borderlinks.cli import main
from borderlinks.config import Home, packaged_defaults
from borderlinks.demo import run_demo
from borderlinks.editions import load_editions
from borderlinks.errors import ConfigError
from borderlinks.review import parse_review, read_review_file, write_review
from borderlinks.sources import fetch
from borderlinks.store import Store
from borderlinks.workflow import build, edition_date, load_context, ranked_candidates, review_path, update_review

DAY = date(2025, 3, 21)
MONTH_END = date(2025, 3, 31)


@pytest.fixture(scope="session")
def demo_once(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "home"
    run_demo(root, echo=lambda line: None)
    shutil.rmtree(root / "review")
    shutil.rmtree(root / "out")
    return root


@pytest.fixture
def demo(demo_once: Path, tmp_path: Path) -> Home:
    """A private copy of the demo home: fetched, classified, no review files, nothing built."""
    root = tmp_path / "home"
    shutil.copytree(demo_once, root)
    return Home(root)


def candidates_of(home: Home, slug: str, day: date = DAY):
    context = load_context(home)
    with Store(home.database_url) as store:
        return ranked_candidates(context, store, context.editions[slug], day)


def test_the_four_packaged_editions_load():
    editions = {e.slug: e for e in load_editions(packaged_defaults() / "scheduler")}
    assert set(editions) == {"daily-border-links", "monthly-roundups", "long-reads", "security-news"}
    assert [s.heading for s in editions["daily-border-links"].sections] == [
        "Border and Migration", "Analyses and Feature Stories", "On the Right",
    ]
    assert editions["daily-border-links"].needs_approval


def test_a_wrong_edition_file_names_file_line_and_fix(tmp_path: Path):
    (tmp_path / "editions.toml").write_text(
        '[[edition]]\nslug = "x"\ntitle = "X {date:%Y}"\nlayout = "weekly"\nwindw = "day"\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError) as caught:
        load_editions(tmp_path)
    text = str(caught.value)
    assert "editions.toml:4: 'layout' is 'weekly'. Use one of: daily, roundup, long-reads, by-country" in text
    assert "editions.toml:5: unknown key 'windw'. Did you mean 'window'?" in text


def test_daily_edition_places_stories_by_lean_kind_and_theme(demo: Home):
    found = candidates_of(demo, "daily-border-links")
    sources = {s.id: s for s in demo.sources()}
    by_section: dict[str, list] = {}
    for c in found:
        by_section.setdefault(c.section, []).append(c)
    assert set(by_section) == {"Border and Migration", "Analyses and Feature Stories", "On the Right"}
    assert all(sources[c.cluster.lead.source_id].lean == "right" for c in by_section["On the Right"])
    assert all(sources[c.cluster.lead.source_id].kind in ("analysis", "opinion") for c in by_section["Analyses and Feature Stories"])
    wanted = {"asylum", "border-enforcement", "deportation", "darien", "migration-flows", "us-politics"}
    assert all(wanted & {t.name for t in c.themes} for c in found)


def test_off_topic_items_stay_out(demo: Home):
    titles = " ".join(c.cluster.lead.title.lower() for c in candidates_of(demo, "daily-border-links"))
    assert "beer" not in titles and "hockey" not in titles and "connecticut" not in titles


def test_same_story_in_english_and_spanish_is_one_cluster_with_also(demo: Home):
    found = candidates_of(demo, "daily-border-links")
    reverse = next(c for c in found if "reverse-migration-panama-boats" in c.cluster.lead.url or any("reverse-migration" in i.url for i in c.cluster.items))
    urls = {i.url for i in reverse.cluster.items}
    assert "https://istmo-noticias.example/migracion/2025/03/20/flujo-inverso-lanchas-colon-colombia" in urls
    assert "https://frontera-daily.example/2025/03/20/reverse-migration-panama-boats" in urls
    assert {i.language for i in reverse.cluster.items} == {"en", "es"}


def test_stories_rank_by_score_within_each_section(demo: Home):
    found = candidates_of(demo, "daily-border-links")
    for heading in {c.section for c in found}:
        scores = [c.score.total for c in found if c.section == heading]
        assert scores == sorted(scores, reverse=True)
    top = found[0]
    assert top.score.total == pytest.approx(top.score.theme + top.score.outlets + top.score.priority + top.score.recency)


def test_security_news_groups_by_country_with_joint_and_regional_headings(demo: Home):
    headings = {c.section for c in candidates_of(demo, "security-news")}
    assert headings
    for heading in headings:
        assert heading == "Western Hemisphere Regional" or 1 <= len(heading.split(", ")) <= 2


def test_monthly_roundups_give_one_post_per_theme(demo: Home):
    results = build(demo, edition_slug="monthly-roundups", day=MONTH_END)
    (result,) = results
    titles = {d.title for d in result.digests}
    assert "Colombia's Peace Process: Some Links from the Past Month" in titles
    assert all(t.endswith(": Some Links from the Past Month") for t in titles)
    assert all(len(d.sections) == 1 for d in result.digests)


def test_long_reads_prints_five_entries_in_isacson_format(demo: Home):
    (result,) = build(demo, edition_slug="long-reads", day=MONTH_END)
    (digest,) = result.digests
    assert digest.title == "Five Latin America Security Long-Reads from March"
    assert len(digest.items) == 5
    text = (demo.root / "out" / "email" / "long-reads" / "2025-03-31.txt").read_text(encoding="utf-8")
    flat = " ".join(text.split())
    first = digest.items[0]
    weekday = first.published.strftime("%A, %B ") + str(first.published.day) + first.published.strftime(", %Y")
    assert f"{first.author}, {first.title} ({first.outlet} ({first.outlet_country}), {weekday})." in flat


def test_daily_edition_needing_approval_is_not_built_without_it(demo: Home, capsys):
    code = main(["--home", str(demo.root), "build", "--edition", "daily-border-links", "--date", "2025-03-21"])
    out = capsys.readouterr().out
    assert code == 1
    assert "needs an editor's approval" in out
    assert not (demo.root / "out" / "email" / "daily-border-links").exists()


def test_editions_without_approval_build_from_the_automatic_selection(demo: Home, capsys):
    code = main(["--home", str(demo.root), "build", "--edition", "security-news", "--date", "2025-03-21"])
    out = capsys.readouterr().out
    assert code == 0
    assert "from the automatic selection" in out
    assert (demo.root / "out" / "email" / "security-news" / "2025-03-21.html").is_file()
    assert (demo.root / "out" / "site" / "index.html").is_file()


def test_empty_edition_is_skipped_unless_allowed(demo: Home, capsys):
    assert main(["--home", str(demo.root), "build", "--edition", "security-news", "--date", "2024-01-10"]) == 1
    assert "no items in its window" in capsys.readouterr().out
    assert main(["--home", str(demo.root), "build", "--edition", "security-news", "--date", "2024-01-10", "--allow-empty"]) == 0
    text = (demo.root / "out" / "email" / "security-news" / "2024-01-10.txt").read_text(encoding="utf-8")
    assert "No news today" in text


# -- the editor's review file ---------------------------------------------------


def first_review(home: Home) -> Path:
    assert main(["--home", str(home.root), "review", "--edition", "daily-border-links", "--date", "2025-03-21"]) == 0
    return review_path(home, load_context(home).editions["daily-border-links"], DAY)


def edit(path: Path) -> dict[str, str]:
    """An editor's session: untick one, rewrite a blurb, move one to another section, paste a URL, write an intro, approve."""
    review = read_review_file(path)
    border = next(s for s in review.sections if s.heading == "Border and Migration")
    right = next(s for s in review.sections if s.heading == "On the Right")
    dropped, rewritten, moved = border.entries[0], border.entries[1], border.entries[2]
    pasted = replace(moved, id="", title="", outlet="", url="https://www.example.org/report/darien-2025", blurb="A report the feeds missed.", meta="", checked=True)
    sections = []
    for section in review.sections:
        entries = list(section.entries)
        if section is border:
            entries = [replace(dropped, checked=False), replace(rewritten, blurb="The editor's own sentence, with “quotes” and ñ."), *entries[3:], pasted]
        if section is right:
            entries = [moved, *entries]
        sections.append(replace(section, entries=tuple(entries)))
    edited = replace(review, sections=tuple(sections), intro="Good morning. Busy day at the border.", status="approved")
    text = write_review(edited)
    path.write_text(text, encoding="utf-8")
    return {"dropped": dropped.id, "rewritten": rewritten.id, "moved": moved.id, "text": text}


CANADA = ("Canada tightens asylum rules for claimants arriving from New York",
          "Ottawa said asylum claims made at the Quebec border after crossing from New York will face faster hearings.")
OAXACA = ("Mexican navy intercepts boat carrying 40 migrants off the coast of Oaxaca",
          "The migrants, most of them from Ecuador and Colombia, were taken to a shelter in Salina Cruz.")


def add_new_outlet(home: Home, story: tuple[str, str] = CANADA) -> None:
    """A new outlet with a new story arrives after the review file was written."""
    feed = home.root / "late.xml"
    title, summary = story
    feed.write_text(
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Late</title><link>https://late.example/</link>'
        f"<description>x</description><item><title>{title}</title>"
        "<link>https://late.example/2025/03/20/late-story</link><guid>late-1</guid><pubDate>Thu, 20 Mar 2025 23:00:00 GMT</pubDate>"
        f"<description>{summary}</description></item>"
        "</channel></rss>",
        encoding="utf-8",
    )
    (home.root / "sources" / "late.toml").write_text(
        f'[[source]]\nid = "late-wire"\nname = "Late Wire"\nurl = "{feed.as_uri()}"\n', encoding="utf-8"
    )
    fetch(home)


def test_review_rerun_keeps_every_edit_and_adds_new_items_marked_new(demo: Home):
    path = first_review(demo)
    edits = edit(path)
    add_new_outlet(demo)
    assert main(["--home", str(demo.root), "review", "--edition", "daily-border-links", "--date", "2025-03-21"]) == 0
    after = path.read_text(encoding="utf-8")
    review = parse_review(after)
    entries = {e.id: (s.heading, e) for s in review.sections for e in s.entries}
    assert review.status == "approved"
    assert review.intro == "Good morning. Busy day at the border."
    assert entries[edits["dropped"]][1].checked is False
    assert entries[edits["rewritten"]][1].blurb == "The editor's own sentence, with “quotes” and ñ."
    assert entries[edits["moved"]][0] == "On the Right"
    new = [e for _, e in entries.values() if e.new]
    assert [e.title for e in new] == [CANADA[0]]
    assert any(e.url == "https://www.example.org/report/darien-2025" for _, e in entries.values())
    # Everything the editor wrote is still there, in the same order.
    def editable(text: str) -> list[str]:
        body = text.split("<!-- known:")[0]  # the tool's record of offered ids grows; it is not the editor's
        return [line for line in body.splitlines() if line.strip() and not line.lstrip().startswith(("~", "<!--"))]

    old_lines, new_lines = editable(edits["text"]), editable(after)
    assert [line for line in new_lines if line in old_lines] == old_lines
    assert (path.parent / (path.name + ".bak")).is_file()


def test_a_different_boat_story_is_not_merged_into_the_panama_cluster(demo: Home):
    # Close call: the Oaxaca item scores 0.18 against the Panama boat-rides item alone,
    # above the threshold; the chaining guard (average against the whole cluster) keeps it out.
    add_new_outlet(demo, OAXACA)
    found = candidates_of(demo, "daily-border-links")
    oaxaca = next(c for c in found if any(i.url == "https://late.example/2025/03/20/late-story" for i in c.cluster.items))
    assert len(oaxaca.cluster.items) == 1


def test_built_edition_follows_the_approved_review(demo: Home):
    path = first_review(demo)
    edits = edit(path)
    (result,) = build(demo, edition_slug="daily-border-links", day=DAY)
    assert result.origin == "review"
    (digest,) = result.digests
    printed = {i.id: i for i in digest.items}
    assert edits["dropped"] not in printed
    assert printed[edits["rewritten"]].blurb == "The editor's own sentence, with “quotes” and ñ."
    assert digest.intro == "Good morning. Busy day at the border."
    right = next(s for s in digest.sections if s.heading == "On the Right")
    assert right.items[0].id == edits["moved"]
    assert any(i.url == "https://www.example.org/report/darien-2025" and i.outlet == "example.org" for i in digest.items)


def test_check_reports_each_mistake_by_line_and_changes_nothing(demo: Home, capsys):
    path = first_review(demo)
    lines = path.read_text(encoding="utf-8").splitlines()
    checkbox = next(n for n, line in enumerate(lines) if line.startswith("- [x]"))
    lines[checkbox] = lines[checkbox].replace("- [x]", "- [?]", 1)
    lines.insert(checkbox + 3, "this line is neither heading, checkbox nor text of an entry")
    broken = "\n".join(lines) + "\n"
    path.write_text(broken, encoding="utf-8")
    capsys.readouterr()
    code = main(["--home", str(demo.root), "review", "--edition", "daily-border-links", "--date", "2025-03-21", "--check"])
    out = capsys.readouterr().out
    assert code == 1
    assert f"{path}:{checkbox + 1}:" in out
    assert f"{path}:{checkbox + 4}:" in out
    assert path.read_text(encoding="utf-8") == broken


def test_a_corrupted_review_file_is_reported_and_never_overwritten(demo: Home, capsys):
    path = first_review(demo)
    corrupted = path.read_text(encoding="utf-8").replace("status: draft", "status: maybe")
    path.write_text(corrupted, encoding="utf-8")
    code = main(["--home", str(demo.root), "review", "--edition", "daily-border-links", "--date", "2025-03-21"])
    err = capsys.readouterr().err
    assert code == 1
    assert str(path) in err and ":2" in err
    assert path.read_text(encoding="utf-8") == corrupted


def test_update_review_twice_with_nothing_new_changes_nothing(demo: Home):
    context = load_context(demo)
    edition = context.editions["daily-border-links"]
    with Store(demo.database_url) as store:
        first = update_review(context, store, edition, DAY)
        text = first.path.read_text(encoding="utf-8")
        second = update_review(context, store, edition, DAY)
    assert second.new == 0
    assert second.path.read_text(encoding="utf-8") == text


def test_edition_date_defaults_to_today_in_its_time_zone():
    from datetime import datetime

    edition = next(e for e in load_editions(packaged_defaults() / "scheduler") if e.slug == "daily-border-links")
    late_evening_utc = datetime(2025, 3, 21, 2, 30, tzinfo=UTC)  # still March 20 in New York
    assert edition_date(edition, now=late_evening_utc) == date(2025, 3, 20)


def test_a_range_builds_daily_editions_each_day_and_monthly_ones_once_per_month(demo: Home):
    results = build(demo, day=date(2025, 3, 20), until=date(2025, 4, 1), force=True, allow_empty=True)
    days = {}
    for result in results:
        days.setdefault(result.edition.slug, []).append(result.day)
    assert days["daily-border-links"] == [date(2025, 3, 20) + timedelta(days=n) for n in range(13)]
    # 20-30 March cover February, the 31st closes March, 1 April covers March again: two roundups.
    assert days["monthly-roundups"] == [date(2025, 3, 20), date(2025, 3, 31)]
    # Shared work gives the same digests as building one date alone.
    alone = build(demo, edition_slug="security-news", day=DAY, force=True)
    in_range = next(r for r in results if r.edition.slug == "security-news" and r.day == DAY)
    assert [i.id for d in alone[0].digests for i in d.items] == [i.id for d in in_range.digests for i in d.items]


def test_a_range_that_ends_before_it_starts_is_refused(demo: Home):
    with pytest.raises(ConfigError, match="before it starts"):
        build(demo, day=date(2025, 3, 20), until=date(2025, 3, 1))


def test_build_command_takes_a_range(demo: Home, capsys):
    code = main(["--home", str(demo.root), "build", "--edition", "security-news", "--date", "2025-03-20", "--until", "2025-03-21"])
    out = capsys.readouterr().out
    assert code == 0
    assert "security-news 2025-03-20:" in out and "security-news 2025-03-21:" in out


def test_an_item_prints_the_date_it_was_published_where_the_edition_is_read():
    from borderlinks.digest import digest_item
    from borderlinks.model import Item
    from borderlinks.render import long_read_line

    # 21:30 in Bogotá on Monday 3 March is 02:30 UTC on Tuesday the 4th.
    late = Item(id="x", source_id="s", url="https://example.org/a", title="A long read", summary="",
                published=datetime(2025, 3, 4, 2, 30, tzinfo=UTC), language="es", author="Ana Pérez")
    printed = digest_item(late, {}, timezone="America/Bogota")
    assert printed.published.date() == date(2025, 3, 3)
    assert long_read_line(printed).endswith("(s, Monday, March 3, 2025).")
