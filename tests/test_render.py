"""Rendering: the HTML and text email, the web archive, its feeds, and what feed text cannot do to them.

The digests here are built by hand, one per layout, shaped like the posts they
imitate (Isacson's daily links, monthly roundups, long-reads, country news).
Tests that open pages in headless Chromium save their screenshots under
``tests/screenshots/`` and skip when Debian's ``chromium`` is not installed.
"""

from __future__ import annotations

import dataclasses
import html
import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import feedparser
import jinja2
import pytest

from borderlinks.config import Home
from borderlinks.errors import TemplateError
from borderlinks.model import Digest, DigestItem, DigestSection
from borderlinks.render import (
    UNSUBSCRIBE_PLACEHOLDER,
    digest_from_json,
    digest_to_json,
    fill_unsubscribe,
    format_date,
    long_read_line,
    make_environment,
    render_email_html,
    render_email_text,
    write_email,
)
from borderlinks.site import site_files, write_site

SITE_URL = "https://borderlinks.example.org/archive/"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# .ci/run installs chromium and sets BORDERLINKS_REQUIRE_CHROMIUM: in CI these tests must run, never skip.
if os.environ.get("BORDERLINKS_REQUIRE_CHROMIUM") and not Path(CHROMIUM).exists():
    raise RuntimeError("BORDERLINKS_REQUIRE_CHROMIUM is set but chromium is not installed")
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="headless Chromium is not installed (/usr/bin/chromium): apt-get install chromium",
)


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def item(n: str, title: str, outlet: str, blurb: str = "", *, also=(), themes=(), countries=(), **extra) -> DigestItem:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60]
    host = re.sub(r"[^a-z0-9]+", "", outlet.lower()) + ".example.com"
    return DigestItem(
        id=f"id-{n}",
        title=title,
        url=f"https://{host}/2024/{slug}",
        outlet=outlet,
        blurb=blurb,
        also=tuple((name, f"https://{re.sub(r'[^a-z0-9]+', '', name.lower())}.example.com/{slug}") for name in also),
        themes=tuple(themes),
        countries=tuple(countries),
        **extra,
    )


def daily_digest(language: str = "en", day: str = "2024-02-23") -> Digest:
    return Digest(
        edition="daily-border-links",
        slug="daily-border-links",
        title="Daily Border Links: February 23, 2024",
        date=day,
        layout="daily",
        language=language,
        intro="Senate negotiators resumed talks on border funding as Texas expanded its buoy barrier.",
        sections=(
            DigestSection(
                "Border and Migration",
                (
                    item(
                        "1",
                        "Texas adds 300 meters of buoys to Rio Grande barrier near Eagle Pass",
                        "Border Report",
                        "State crews extended the floating barrier on Thursday despite a pending appeal, Gov. Greg Abbott's office said.",
                        also=("Reuters", "The Texas Tribune"),
                        themes=("border-enforcement",),
                        countries=("United States", "Mexico"),
                        published=at("2024-02-22"),
                    ),
                    item(
                        "2",
                        "Migrant encounters at the southwest border fell 50% in January, CBP data show",
                        "Reuters",
                        "Border Patrol apprehensions dropped to about 124,000, the lowest monthly level since May 2023.",
                        themes=("migration-flows",),
                        countries=("United States",),
                        published=at("2024-02-22"),
                    ),
                    item(
                        "3",
                        "Darién Gap crossings near 40,000 in first seven weeks of 2024",
                        "Associated Press",
                        "Panamanian authorities say Venezuelans, Ecuadorians and Haitians make up most of those crossing the jungle.",
                        also=("La Prensa (Panamá)",),
                        themes=("darien", "migration-flows"),
                        countries=("Panama", "Colombia"),
                        published=at("2024-02-22"),
                    ),
                ),
            ),
            DigestSection(
                "Analyses and Feature Stories",
                (
                    item(
                        "4",
                        "Why asylum seekers wait months for a CBP One appointment",
                        "Migration Policy Institute",
                        "An analysis of appointment data finds demand outstrips the app's 1,450 daily slots by a factor of four.",
                        themes=("asylum",),
                        countries=("United States", "Mexico"),
                        published=at("2024-02-22"),
                    ),
                ),
            ),
            DigestSection(
                "On the Right",
                (
                    item(
                        "5",
                        "House Republicans renew push for impeachment-era border bill",
                        "Washington Examiner",
                        "H.R. 2 remains the conference's opening position, the Speaker's office said.",
                        themes=("us-politics",),
                        countries=("United States",),
                        published=at("2024-02-22"),
                    ),
                ),
            ),
        ),
    )


def roundup_digest() -> Digest:
    return Digest(
        edition="monthly-roundups",
        slug="monthly-roundups/colombia-peace",
        title="Colombia Peace: Some Links from the Past Month",
        date="2024-03-01",
        layout="roundup",
        sections=(
            DigestSection(
                "Colombia Peace",
                (
                    item(
                        "11",
                        "ELN and government extend ceasefire for six months",
                        "El Tiempo",
                        "The two sides announced the extension in Havana after a fifth round of talks.",
                        also=("El Espectador",),
                        themes=("colombia-peace",),
                        countries=("Colombia",),
                        published=at("2024-02-06"),
                    ),
                    item(
                        "12",
                        "Comunes party marks seven years since the 2016 accord",
                        "Verdad Abierta",
                        "Former FARC leaders say implementation of rural reform chapters is below 30 percent.",
                        themes=("colombia-peace",),
                        countries=("Colombia",),
                        published=at("2024-02-19"),
                    ),
                    item(
                        "13",
                        "UN Verification Mission warns of killings of former combatants in Cauca",
                        "UN News",
                        "Thirty-two signatories of the peace accord were killed in 2023, the mission's quarterly report said.",
                        themes=("colombia-peace", "human-rights"),
                        countries=("Colombia",),
                        published=at("2024-02-27"),
                    ),
                ),
            ),
        ),
    )


def long_reads_digest() -> Digest:
    entries = (
        (
            "21",
            "Steven Dudley",
            "The rise and fall of Ecuador's Los Choneros",
            "InSight Crime",
            "Colombia",
            "2024-01-08",
            "How a prison gang became the country's most powerful criminal group, and what its fragmentation means now.",
        ),
        (
            "22",
            "Parker Asmann",
            "Cocaine's new frontier in the Amazon",
            "InSight Crime",
            "Colombia",
            "2024-01-12",
            "Reporting from the tri-border area of Brazil, Colombia and Peru on the river routes traffickers favour.",
        ),
        (
            "23",
            "",
            "Inside Honduras's state of exception",
            "El Faro",
            "El Salvador",
            "2024-01-17",
            "A year of suspended rights, and the Bukele model spreading across Central America.",
        ),
        (
            "24",
            "Cecilia Farfán-Méndez",
            "Fentanyl, precursors and the limits of supply-side policy",
            "Lawfare",
            "",
            "2024-01-22",
            "A long essay on why chemical controls have not reduced the flow of synthetic opioids.",
        ),
        (
            "25",
            "María Teresa Ronderos",
            "The generals and the contracts",
            "CLIP",
            "Colombia",
            "2024-01-29",
            "An investigation into military procurement under three Colombian governments.",
        ),
    )
    items = tuple(
        item(
            n,
            title,
            outlet,
            blurb,
            author=author,
            outlet_country=country,
            published=at(day),
            themes=("organized-crime",),
            countries=("Ecuador",) if "Ecuador" in title else (),
        )
        for n, author, title, outlet, country, day, blurb in entries
    )
    return Digest(
        edition="long-reads",
        slug="long-reads",
        title="Five Latin America Security Long-Reads from January",
        date="2024-02-02",
        layout="long-reads",
        sections=(DigestSection("Long-Reads", items),),
    )


def by_country_digest() -> Digest:
    return Digest(
        edition="security-news",
        slug="security-news",
        title="Latin America Security News: February 23, 2024",
        date="2024-02-23",
        layout="by-country",
        sections=(
            DigestSection(
                "Colombia",
                (
                    item(
                        "31",
                        "Army reports clashes with FARC dissidents in Cauca",
                        "El Espectador",
                        "Three soldiers were wounded near Argelia, the army's Third Division said.",
                        themes=("civil-military",),
                        countries=("Colombia",),
                        published=at("2024-02-22"),
                    ),
                ),
            ),
            DigestSection(
                "Ecuador",
                (
                    item(
                        "32",
                        "Noboa extends the internal armed conflict decree by 30 days",
                        "Primicias",
                        "The military will keep control of prisons through March.",
                        also=("El Universo",),
                        themes=("civil-military", "organized-crime"),
                        countries=("Ecuador",),
                        published=at("2024-02-22"),
                    ),
                ),
            ),
            DigestSection(
                "Mexico",
                (
                    item(
                        "33",
                        "Sinaloa: a week of violence in Culiacán leaves 20 dead",
                        "Animal Político",
                        "State authorities attribute the killings to a split within the Sinaloa cartel.",
                        themes=("organized-crime",),
                        countries=("Mexico",),
                        published=at("2024-02-22"),
                    ),
                ),
            ),
            DigestSection(
                "Western Hemisphere Regional",
                (
                    item(
                        "34",
                        "U.S. Southern Command posture statement stresses China's reach",
                        "Defense News",
                        "Gen. Laura Richardson told the Senate Armed Services Committee that transnational crime is a top threat.",
                        themes=("civil-military",),
                        countries=("United States", "Colombia", "Ecuador"),
                        published=at("2024-02-22"),
                    ),
                ),
            ),
        ),
    )


LAYOUT_DIGESTS = {
    "daily": daily_digest,
    "roundup": roundup_digest,
    "long-reads": long_reads_digest,
    "by-country": by_country_digest,
}


def big_digest(count: int = 60) -> Digest:
    """A full daily edition: ``count`` items with long blurbs and two "also" outlets each."""
    outlets = [
        "Border Report",
        "Reuters",
        "The Washington Post",
        "El Paso Times",
        "Associated Press",
        "Los Angeles Times",
    ]
    sections = []
    per = count // 3
    for s, heading in enumerate(("Border and Migration", "Analyses and Feature Stories", "On the Right")):
        items = tuple(
            item(
                f"{s}-{i}",
                f"Officials in {['Arizona', 'Texas', 'New Mexico', 'California'][i % 4]} report shifts in crossings as "
                f"new asylum rules take effect, story {s * per + i}",
                outlets[i % len(outlets)],
                "Border Patrol agents in the Tucson and El Paso sectors said apprehensions of families fell for a third week, "
                "while shelters in Ciudad Juárez reported more arrivals from southern Mexico; advocates said the new rule "
                "leaves many with no realistic way to ask for protection at ports of entry.",
                also=(outlets[(i + 1) % len(outlets)], outlets[(i + 2) % len(outlets)]),
                themes=("asylum",),
                countries=("United States", "Mexico"),
                published=at("2024-02-22"),
            )
            for i in range(per)
        )
        sections.append(DigestSection(heading, items))
    return Digest(
        edition="daily-border-links",
        slug="daily-border-links",
        title="Daily Border Links: February 23, 2024",
        date="2024-02-23",
        layout="daily",
        sections=tuple(sections),
    )


HOSTILE_TITLE = '<script>alert("t")</script> "Quoted" & <b onmouseover="alert(1)">bold</b>'


def hostile_digest() -> Digest:
    evil = DigestItem(
        id="evil-1",
        title=HOSTILE_TITLE,
        url="javascript:alert(document.cookie)",
        outlet='"><img src=x onerror=alert(1)>',
        blurb='<iframe src="https://evil.example"></iframe><style>body{display:none}</style>',
        also=(
            ("Evil <svg onload=alert(1)>", "data:text/html,<script>alert(1)</script>"),
            ("Quoter", 'https://ok.example/a"onmouseover="alert(1)'),
        ),
        themes=("<script>x</script>",),
        countries=('"><script>alert(2)</script>',),
        published=at("2024-02-22"),
        author='<a href="javascript:x">Author</a>',
    )
    fine = item("ok-1", "Ordinary headline", "Border Report", "Ordinary blurb.", published=at("2024-02-22"))
    return Digest(
        edition="daily-border-links",
        slug="daily-border-links",
        title="Daily Border Links: <script>alert(3)</script>",
        date="2024-02-24",
        layout="daily",
        intro="<img src=x onerror=alert(4)>",
        sections=(DigestSection('<script>alert("heading")</script>', (evil, fine)),),
    )


@pytest.fixture
def env(tmp_path: Path) -> jinja2.Environment:
    return make_environment(Home(tmp_path / "home"))


def email_html(digest: Digest, env: jinja2.Environment) -> str:
    return render_email_html(digest, env, site_url=SITE_URL, archive_url=SITE_URL + "index.html")


def email_text(digest: Digest, env: jinja2.Environment) -> str:
    return render_email_text(digest, env, site_url=SITE_URL, archive_url=SITE_URL + "index.html")


def flat(output: str) -> str:
    """What a reader sees of an output, on one line: tags dropped, entities decoded, whitespace folded."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", output)).split())


class Elements(HTMLParser):
    """Every element of a page with its attributes, and the text outside tags."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {name: value or "" for name, value in attrs}))

    def handle_data(self, data):
        self.text.append(data)

    def tags(self, name: str) -> list[dict[str, str]]:
        return [attrs for tag, attrs in self.elements if tag == name]

    def hrefs(self) -> list[str]:
        return [attrs["href"] for tag, attrs in self.elements if "href" in attrs]


def assert_no_active_content(page: str, where: str) -> None:
    """Nothing a feed gave can run: no script, iframe, object or event handler; links only http(s)."""
    parsed = Elements(page)
    forbidden = {"script", "iframe", "object", "embed", "img", "svg", "form", "base", "meta"} - (
        {"meta"} if "<head" in page else set()
    )
    for tag, attrs in parsed.elements:
        assert tag not in forbidden, f"{where}: a <{tag}> element"
        for name, value in attrs.items():
            assert not name.startswith("on"), f"{where}: an event handler {name}={value!r} on <{tag}>"
            if name in ("href", "src", "action", "formaction"):
                assert (
                    value.startswith(("https://", "http://", "#", UNSUBSCRIBE_PLACEHOLDER))
                    or not urlsplit(value).scheme
                ), f"{where}: {name}={value!r}"
                assert "javascript:" not in value.lower() and "data:" not in value.lower(), f"{where}: {name}={value!r}"


# -- dates and the long-read line -----------------------------------------------------


def test_long_read_line_with_author_and_outlet_country():
    entry = item(
        "x",
        "The rise and fall of Ecuador's Los Choneros",
        "InSight Crime",
        author="Steven Dudley",
        outlet_country="Colombia",
        published=at("2024-01-08"),
    )
    assert long_read_line(entry) == (
        "Steven Dudley, The rise and fall of Ecuador's Los Choneros (InSight Crime (Colombia), Monday, January 8, 2024)."
    )


def test_long_read_line_without_author_starts_with_the_title():
    entry = item(
        "x", "Inside Honduras's state of exception", "El Faro", outlet_country="El Salvador", published=at("2024-01-17")
    )
    assert (
        long_read_line(entry)
        == "Inside Honduras's state of exception (El Faro (El Salvador), Wednesday, January 17, 2024)."
    )


def test_long_read_line_without_outlet_country_has_one_parenthesis():
    entry = item(
        "x",
        "Fentanyl and the limits of supply-side policy",
        "Lawfare",
        author="Cecilia Farfán-Méndez",
        published=at("2024-01-22"),
    )
    assert long_read_line(entry) == (
        "Cecilia Farfán-Méndez, Fentanyl and the limits of supply-side policy (Lawfare, Monday, January 22, 2024)."
    )


def test_long_read_line_in_spanish():
    entry = item(
        "x",
        "Los generales y los contratos",
        "CLIP",
        author="María Teresa Ronderos",
        outlet_country="Colombia",
        published=at("2025-03-21"),
    )
    assert long_read_line(entry, "es") == (
        "María Teresa Ronderos, Los generales y los contratos (CLIP (Colombia), viernes, 21 de marzo de 2025)."
    )


def test_format_date_in_english_and_spanish():
    assert format_date(date(2025, 3, 21), "en") == "Friday, March 21, 2025"
    assert format_date("2025-03-21", "es") == "viernes, 21 de marzo de 2025"
    assert format_date(at("2024-02-23"), "en", "long") == "February 23, 2024"


def test_spanish_edition_prints_spanish_dates_and_words(env):
    digest = daily_digest(language="es", day="2025-03-21")
    page, text = email_html(digest, env), email_text(digest, env)
    assert "viernes, 21 de marzo de 2025" in page and "viernes, 21 de marzo de 2025" in text
    assert 'lang="es"' in page and "Darse de baja" in page and "También:" in text


# -- every output of every layout ---------------------------------------------------------


@pytest.mark.parametrize("layout", sorted(LAYOUT_DIGESTS))
def test_every_layout_renders_every_output(layout, env, tmp_path):
    digest = LAYOUT_DIGESTS[layout]()
    assert digest.layout == layout
    page, text = email_html(digest, env), email_text(digest, env)
    files = site_files([digest], env, site_url=SITE_URL, site_title="Border Links")
    web = files[f"{digest.slug}/{digest.date}.html"]
    for output in (page, text, web):
        shown = flat(output)
        assert digest.title in shown
        for section in digest.sections:
            assert section.heading in shown
        for entry in digest.items:
            assert entry.title in shown and entry.outlet in shown and entry.blurb in shown
            for outlet, _ in entry.also:
                assert outlet in shown
    for entry in digest.items:
        assert f'href="{entry.url}"' in page and f'href="{entry.url}"' in web
        assert entry.url in text
    assert digest_from_json(json.loads(files[f"{digest.slug}/{digest.date}.json"])) == digest


def test_daily_layout_keeps_isacson_sections_in_order(env):
    page = email_html(daily_digest(), env)
    positions = [page.index(h) for h in ("Border and Migration", "Analyses and Feature Stories", "On the Right")]
    assert positions == sorted(positions)
    assert "Daily Border Links: February 23, 2024" in page


def test_long_reads_print_the_citation_then_the_description(env):
    digest = long_reads_digest()
    text = email_text(digest, env)
    joined = " ".join(text.split())
    for number, entry in enumerate(digest.items, 1):
        assert f"{number}. {long_read_line(entry)}" in joined
        line = long_read_line(entry)
        assert joined.index(line) < joined.index(entry.blurb)
    page = email_html(digest, env)
    text_of_page = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert (
        "Steven Dudley, The rise and fall of Ecuador's Los Choneros (InSight Crime (Colombia), Monday, January 8, 2024)."
        in text_of_page
    )
    assert "Inside Honduras's state of exception (El Faro (El Salvador), Wednesday, January 17, 2024)." in text_of_page
    assert "(Lawfare, Monday, January 22, 2024)." in text_of_page


def test_roundup_items_carry_their_dates(env):
    page, text = email_html(roundup_digest(), env), email_text(roundup_digest(), env)
    assert "(El Tiempo, February 6)" in flat(page) and "(El Tiempo, February 6) [1]" in flat(text)


def test_by_country_email_lists_the_countries_under_the_title(env):
    page = email_html(by_country_digest(), env)
    assert "Colombia · Ecuador · Mexico · Western Hemisphere Regional" in page


# -- the HTML email ---------------------------------------------------------------------


def test_email_html_has_inlined_styles_and_no_external_resources(env):
    page = email_html(daily_digest(), env)
    head, body = page.split("<body", 1)
    assert "<style" not in body and "<link" not in page and "<script" not in page
    assert "@import" not in page and "url(" not in page and "src=" not in page
    # The one <style> left holds only @media rules (dark mode, small screens), which cannot be inlined.
    styles = re.findall(r"<style>(.*?)</style>", head, re.S)
    assert len(styles) == 1 and "prefers-color-scheme: dark" in styles[0]
    assert re.sub(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}", "", styles[0]).strip() == ""
    parsed = Elements(body)
    assert all(attrs.get("style") for attrs in parsed.tags("td")), "every table cell carries its style"
    assert all("color" in attrs.get("style", "") for attrs in parsed.tags("a")), "every link carries its colour"
    assert parsed.tags("table") and all(attrs.get("role") == "presentation" for attrs in parsed.tags("table"))
    assert {attrs.get("width") for attrs in parsed.tags("table")} == {"100%", "600"}
    assert 'name="color-scheme" content="light dark"' in head


def test_email_html_has_a_preheader_headings_and_the_footer_links(env):
    page = email_html(daily_digest(), env)
    preheader = re.search(r'<div class="preheader"[^>]*>(.*?)</div>', page, re.S)
    assert preheader and "Senate negotiators resumed talks" in preheader.group(1)
    assert "display: none" in page[preheader.start() : preheader.end()]
    assert len(re.findall(r"<h2 class=\"section-heading\"", page)) == 3
    assert f'href="{SITE_URL}daily-border-links/2024-02-23.html"' in page
    assert f'href="{SITE_URL}index.html"' in page
    assert f'href="{UNSUBSCRIBE_PLACEHOLDER}"' in page
    assert "also: " in page


def test_unsubscribe_placeholder_is_filled_per_subscriber(env):
    page, text = email_html(daily_digest(), env), email_text(daily_digest(), env)
    url = "https://borderlinks.example.org/unsubscribe?token=a1&list=daily"
    filled = fill_unsubscribe(page, url, is_html=True)
    assert (
        UNSUBSCRIBE_PLACEHOLDER not in filled
        and 'href="https://borderlinks.example.org/unsubscribe?token=a1&amp;list=daily"' in filled
    )
    assert url in fill_unsubscribe(text, url, is_html=False)
    with pytest.raises(ValueError):
        fill_unsubscribe(page, "javascript:alert(1)", is_html=True)


def test_email_with_sixty_items_stays_under_gmail_clipping(env):
    digest = big_digest(60)
    assert len(digest.items) == 60
    size = len(email_html(digest, env).encode("utf-8"))
    print(f"60-item email after inlining: {size} bytes")
    assert size < 100_000


# -- the text email -----------------------------------------------------------------------


@pytest.mark.parametrize("layout", sorted(LAYOUT_DIGESTS))
def test_text_email_wraps_at_72_columns_without_entities(layout, env):
    digest = LAYOUT_DIGESTS[layout]()
    text = email_text(digest, env)
    for line in text.splitlines():
        assert len(line) <= 72 or re.fullmatch(r"(\[\d+\] )?\S+", line), f"too long: {line!r}"
    assert not re.search(r"&(#\d+|#x[0-9a-f]+|[a-z]+);", text, re.I)
    assert "<" not in text.replace("<b>", "")


def test_text_email_lists_numbered_links_at_the_end_of_each_section(env):
    digest = daily_digest()
    text = email_text(digest, env)
    chunks = text.split("\n\n\n") if "\n\n\n" in text else None
    assert chunks is None  # blank lines never pile up
    blocks = {}
    for section in digest.sections:
        start = text.index(section.heading)
        following = [text.index(s.heading) for s in digest.sections if text.index(s.heading) > start]
        blocks[section.heading] = text[start : min(following) if following else text.index("\n--\n")]
    number = 0
    for section in digest.sections:
        block = blocks[section.heading]
        references = re.findall(r"^\[(\d+)\] (\S+)$", block, re.M)
        urls = [u for entry in section.items for u in (entry.url, *(url for _, url in entry.also))]
        assert [url for _, url in references] == urls
        assert [int(n) for n, _ in references] == list(range(number + 1, number + 1 + len(urls)))
        assert block.rstrip().endswith(references[-1][1])
        number += len(urls)


def test_text_email_decodes_entities_a_feed_left_in(env):
    entry = item("e", "Asylum &amp; parole: what&#8217;s next", "Border Report", "A &quot;pause&quot; &mdash; for now.")
    digest = Digest(
        edition="d", slug="d", title="T", date="2024-02-23", layout="daily", sections=(DigestSection("News", (entry,)),)
    )
    text = email_text(digest, env)
    assert "Asylum & parole: what\u2019s next" in text and 'A "pause" \u2014 for now.' in text


# -- safety ---------------------------------------------------------------------------


def test_text_email_leaves_an_ampersand_before_a_word_as_the_html_email_does(env):
    # "&para" without its semicolon is text, not the entity ¶; "&amp;" a feed left in is still decoded.
    story = item("amp", "Fondos&para migrantes suben 5&deg; R&amp;D", "Diario del Río", "Pros&cons&copy")
    digest = Digest(
        edition="d",
        slug="d",
        title="Enlaces",
        date="2024-02-23",
        layout="daily",
        language="es",
        sections=(DigestSection("Noticias", (story,)),),
    )
    text = email_text(digest, env)
    assert "Fondos&para migrantes suben 5° R&D (Diario del Río)" in text and "Pros&cons&copy" in text
    assert "Fondos&para migrantes" in flat(email_html(digest, env))


def test_hostile_feed_text_is_escaped_in_every_output(env, tmp_path):
    digest = hostile_digest()
    page = email_html(digest, env)
    assert_no_active_content(page.split("<body", 1)[1], "email")
    assert (
        "&lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt;" in page or '&lt;script&gt;alert("t")&lt;/script&gt;' in page
    )
    assert 'href="#"' in page  # the javascript: link and the data: link
    assert "<b onmouseover" not in page and "&lt;b onmouseover" in page
    # A quote inside a real http link cannot close the attribute.
    assert re.search(r'href="https://ok\.example/a(&#34;|&quot;)onmouseover=(&#34;|&quot;)alert\(1\)"', page)
    written = write_site(
        [digest, daily_digest()], tmp_path / "out", env, site_url=SITE_URL, site_title='Links "&" <more>'
    )
    for path in written:
        if path.suffix == ".html":
            assert_no_active_content(path.read_text(encoding="utf-8"), str(path))
    for path in written:
        assert "javascript:" not in path.read_text(encoding="utf-8").lower() or path.suffix == ".json"
    data = json.loads((tmp_path / "out/site/daily-border-links/2024-02-24.json").read_text(encoding="utf-8"))
    assert data["sections"][0]["items"][0]["url"] == ""
    feed = feedparser.parse((tmp_path / "out/site/atom.xml").read_bytes())
    assert not feed.bozo
    for entry in feed.entries:
        assert_no_active_content(entry.content[0].value, "atom entry")
    assert all(p.resolve().is_relative_to((tmp_path / "out/site").resolve()) for p in written)


def test_control_characters_from_a_feed_do_not_break_the_atom_feed(env):
    bad = item("c", "Title with a vertical tab\x0b and a NUL\x00", "Border Report", "Blurb\x0c.")
    digest = Digest(
        edition="d",
        slug="d",
        title="Links\x0b",
        date="2024-02-23",
        layout="daily",
        sections=(DigestSection("News", (bad,)),),
    )
    files = site_files([digest], env, site_url=SITE_URL, site_title="Border Links")
    feed = feedparser.parse(files["atom.xml"])
    assert not feed.bozo and feed.entries[0].title == "Links"


def test_feed_text_cannot_place_a_subscribers_unsubscribe_link(env):
    # A feed link or title carrying the placeholder would get each reader's secret token at send time.
    bait = dataclasses.replace(
        item(
            "bait",
            "Claim your prize &#37;&#37;UNSUBSCRIBE_URL&#37;&#37;",
            "Evil Wire",
            "Go %%UNSUB%%UNSUBSCRIBE_URL%%SCRIBE_URL%% now.",
        ),
        url="https://evil.example/steal?t=" + UNSUBSCRIBE_PLACEHOLDER,
        also=(("Echo", "https://echo.example/?u=" + UNSUBSCRIBE_PLACEHOLDER),),
    )
    digest = Digest(
        edition="d",
        slug="d",
        title="Links",
        date="2024-02-23",
        layout="daily",
        sections=(DigestSection("News", (bait,)),),
    )
    link = "https://borderlinks.example.org/unsubscribe?token=S3cr3tT0kenS3cr3tT0ken"
    html_message = fill_unsubscribe(email_html(digest, env), link, is_html=True)
    text_message = fill_unsubscribe(email_text(digest, env), link, is_html=False)
    for message in (html_message, text_message):
        assert message.count("S3cr3tT0ken") == 2  # the footer's one link, and nowhere else
        assert "https://evil.example/steal?t=" in message and "Claim your prize" in message


def test_a_link_with_a_line_break_cannot_add_lines_to_any_output(env):
    sneaky = dataclasses.replace(
        item("nl", "Ordinary headline", "Border Report"),
        url="https://ok.example/a\r\nUnsubscribe here: https://evil.example/",
        also=(("Reuters", "https://reuters.example/b\nFake line"),),
    )
    digest = Digest(
        edition="d",
        slug="d",
        title="Links",
        date="2024-02-23",
        layout="daily",
        sections=(DigestSection("News", (sneaky,)),),
    )
    text = email_text(digest, env)
    assert not [line for line in text.splitlines() if line.startswith(("Unsubscribe here", "Fake line"))]
    assert "[1] https://ok.example/a%0D%0AUnsubscribe%20here:%20https://evil.example/" in text
    hrefs = Elements(email_html(digest, env)).hrefs()
    assert "https://reuters.example/b%0AFake%20line" in hrefs and not [h for h in hrefs if any(c.isspace() for c in h)]
    data = digest_to_json(digest)["sections"][0]["items"][0]
    assert "\n" not in data["url"] and data["also"][0]["url"] == "https://reuters.example/b%0AFake%20line"


# -- files ---------------------------------------------------------------------------


def test_write_email_writes_html_and_text_under_safe_paths(env, tmp_path):
    out = tmp_path / "out"
    written = write_email(roundup_digest(), out, env, site_url=SITE_URL, archive_url=SITE_URL)
    assert sorted(p.relative_to(out).as_posix() for p in written) == [
        "email/monthly-roundups/colombia-peace/2024-03-01.html",
        "email/monthly-roundups/colombia-peace/2024-03-01.txt",
    ]
    sneaky = Digest(edition="x", slug="../../Etc/Pass Wd", title="T", date="2024-02-23", layout="daily")
    written = write_email(sneaky, out, env, site_url=SITE_URL)
    assert [p.relative_to(out).as_posix() for p in written] == [
        "email/etc/pass-wd/2024-02-23.html",
        "email/etc/pass-wd/2024-02-23.txt",
    ]
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_a_broken_template_writes_nothing(tmp_path):
    home = tmp_path / "home"
    (home / "templates").mkdir(parents=True)
    (home / "templates" / "latest.html").write_text(
        "{% extends 'edition.html' %}{% block main %}{{ nope( }}{% endblock %}"
    )
    env = make_environment(Home(home))
    with pytest.raises(TemplateError) as raised:
        write_site([daily_digest()], tmp_path / "out", env, site_url=SITE_URL, site_title="Border Links")
    assert "latest.html" in str(raised.value) and isinstance(raised.value.__cause__, jinja2.TemplateSyntaxError)
    assert not (tmp_path / "out").exists()


def test_rewriting_the_site_replaces_files_in_place(env, tmp_path):
    out = tmp_path / "out"
    write_site([daily_digest()], out, env, site_url=SITE_URL, site_title="Border Links")
    first = (out / "site/index.html").read_text(encoding="utf-8")
    write_site([daily_digest(), long_reads_digest()], out, env, site_url=SITE_URL, site_title="Border Links")
    assert (out / "site/index.html").read_text(encoding="utf-8") != first
    assert not [p for p in out.rglob("*.tmp")]


# -- the web archive ---------------------------------------------------------------------


def all_digests() -> list[Digest]:
    earlier = Digest(
        edition="daily-border-links",
        slug="daily-border-links",
        title="Daily Border Links: February 22, 2024",
        date="2024-02-22",
        layout="daily",
        sections=(
            DigestSection(
                "Border and Migration",
                (
                    item(
                        "0",
                        "Judge blocks Texas law letting police arrest migrants",
                        "The Texas Tribune",
                        "A federal judge said SB4 likely violates the Constitution's supremacy clause.",
                        themes=("border-enforcement",),
                        countries=("United States",),
                        published=at("2024-02-21"),
                    ),
                ),
            ),
        ),
    )
    return [earlier, long_reads_digest(), roundup_digest(), daily_digest(), by_country_digest()]


@pytest.fixture
def site(env, tmp_path) -> Path:
    write_site(
        all_digests(),
        tmp_path / "out",
        env,
        site_url=SITE_URL,
        site_title="Border Links",
        theme_titles={"border-enforcement": "Border Enforcement", "colombia-peace": "Colombia Peace"},
    )
    return tmp_path / "out" / "site"


def test_site_has_every_page_and_feed(site):
    expected = [
        "index.html",
        "latest.html",
        "atom.xml",
        "site.css",
        "daily-border-links/index.html",
        "daily-border-links/atom.xml",
        "daily-border-links/2024-02-23.html",
        "daily-border-links/2024-02-23.json",
        "daily-border-links/2024-02-22.html",
        "long-reads/2024-02-02.html",
        "monthly-roundups/colombia-peace/2024-03-01.html",
        "monthly-roundups/colombia-peace/2024-03-01.json",
        "monthly-roundups/atom.xml",
        "security-news/2024-02-23.html",
        "security-news/atom.xml",
        "themes/border-enforcement.html",
        "themes/colombia-peace.html",
        "countries/mexico.html",
        "countries/colombia.html",
    ]
    missing = [name for name in expected if not (site / name).is_file()]
    assert not missing


def test_site_index_lists_editions_newest_first(site):
    page = (site / "index.html").read_text(encoding="utf-8")
    order = [
        page.index(f'href="{path}"')
        for path in (
            "monthly-roundups/colombia-peace/2024-03-01.html",
            "daily-border-links/2024-02-23.html",
            "security-news/2024-02-23.html",
            "daily-border-links/2024-02-22.html",
            "long-reads/2024-02-02.html",
        )
    ]
    assert order == sorted(order)
    assert 'href="themes/border-enforcement.html">Border Enforcement</a>' in page


def test_every_relative_link_of_the_site_points_at_a_file(site):
    checked = 0
    for page in site.rglob("*.html"):
        for href in Elements(page.read_text(encoding="utf-8")).hrefs():
            parts = urlsplit(href)
            if parts.scheme or href.startswith("#"):
                continue
            target = (page.parent / unquote(parts.path)).resolve()
            assert target.is_file(), f"{page.relative_to(site)} links to missing {href}"
            assert target.is_relative_to(site.resolve())
            checked += 1
    assert checked > 100


def test_theme_and_country_pages_list_items_across_dates(site):
    theme = (site / "themes/border-enforcement.html").read_text(encoding="utf-8")
    assert "Border Enforcement" in theme
    assert theme.index("Friday, February 23, 2024") < theme.index("Thursday, February 22, 2024")
    assert "Texas adds 300 meters of buoys" in theme and "Judge blocks Texas law" in theme
    assert 'href="../daily-border-links/2024-02-23.html"' in theme
    country = (site / "countries/ecuador.html").read_text(encoding="utf-8")
    assert "Country: Ecuador" in country and "Noboa extends" in country and "Los Choneros" in country


def test_latest_page_shows_the_newest_post_and_each_edition(site):
    latest = (site / "latest.html").read_text(encoding="utf-8")
    assert '<h1 class="post-title">Colombia Peace: Some Links from the Past Month</h1>' in latest
    for path in ("daily-border-links/2024-02-23.html", "long-reads/2024-02-02.html", "security-news/2024-02-23.html"):
        assert f'href="{path}"' in latest


def test_pages_are_semantic_and_responsive(site):
    page = (site / "daily-border-links/2024-02-23.html").read_text(encoding="utf-8")
    for tag in ("<main", "<article", "<header", "<nav", "<footer", "<section", '<time datetime="2024-02-23"'):
        assert tag in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert '<link rel="stylesheet" href="../site.css">' in page
    assert 'rel="next"' not in page and 'rel="prev" href="../daily-border-links/2024-02-22.html"' in page
    assert (site / "site.css").stat().st_size < 8000


def test_atom_feeds_parse_back_with_feedparser(site):
    whole = feedparser.parse((site / "atom.xml").read_bytes())
    assert not whole.bozo and whole.version == "atom10"
    assert [e.title for e in whole.entries][:2] == [
        "Colombia Peace: Some Links from the Past Month",
        "Daily Border Links: February 23, 2024",
    ]
    assert len(whole.entries) == 5
    first = whole.entries[0]
    assert first.link == SITE_URL + "monthly-roundups/colombia-peace/2024-03-01.html"
    assert "ELN and government extend ceasefire" in first.content[0].value
    assert any(link.rel == "self" and link.href == SITE_URL + "atom.xml" for link in whole.feed.links)
    daily = feedparser.parse((site / "daily-border-links/atom.xml").read_bytes())
    assert not daily.bozo
    assert [e.link for e in daily.entries] == [
        SITE_URL + "daily-border-links/2024-02-23.html",
        SITE_URL + "daily-border-links/2024-02-22.html",
    ]
    assert daily.entries[0].updated.startswith("2024-02-23")


def test_json_per_post_round_trips(site):
    for digest in all_digests():
        data = json.loads((site / f"{digest.slug}/{digest.date}.json").read_text(encoding="utf-8"))
        assert data["version"] == 1 and digest_from_json(data) == digest
        assert data == digest_to_json(digest)


# -- overriding templates ----------------------------------------------------------------


def test_a_home_template_wins_and_can_extend_the_default(tmp_path):
    home = tmp_path / "home"
    (home / "templates").mkdir(parents=True)
    (home / "templates" / "email.html").write_text(
        '{% extends "default:email.html" %}\n{% block masthead %}<h1 class="post-title">Our own masthead</h1>{% endblock %}\n',
        encoding="utf-8",
    )
    (home / "templates" / "site.css").write_text("body { color: #123456; }\n", encoding="utf-8")
    env = make_environment(Home(home))
    page = email_html(daily_digest(), env)
    assert "Our own masthead" in page and "Texas adds 300 meters of buoys" in page
    assert 'class="post-title" style="' in page  # the default stylesheet still inlines
    # email-by-country.html extends email.html, so it picks up the home's masthead too.
    assert "Our own masthead" in email_html(by_country_digest(), env)
    files = site_files([daily_digest()], env, site_url=SITE_URL, site_title="Border Links")
    assert files["site.css"] == "body { color: #123456; }\n"


def test_a_home_macro_changes_every_output(tmp_path):
    home = tmp_path / "home"
    (home / "templates").mkdir(parents=True)
    macros = (Path(__file__).resolve().parent.parent / "templates" / "_macros.html").read_text(encoding="utf-8")
    (home / "templates" / "_macros.html").write_text(macros.replace("{{ t.also }}: ", "See also: "), encoding="utf-8")
    env = make_environment(Home(home))
    files = site_files([daily_digest()], env, site_url=SITE_URL, site_title="Border Links")
    assert (
        "See also: " in email_html(daily_digest(), env) and "See also: " in files["daily-border-links/2024-02-23.html"]
    )


def test_a_missing_include_is_named_not_the_template_that_includes_it(tmp_path):
    home = tmp_path / "home"
    (home / "templates").mkdir(parents=True)
    (home / "templates" / "email.html").write_text(
        '{% extends "default:email.html" %}{% block footer %}{% include "our-footer.html" %}{% endblock %}',
        encoding="utf-8",
    )
    with pytest.raises(TemplateError) as raised:
        email_html(daily_digest(), make_environment(Home(home)))
    assert "uses our-footer.html, which is not found" in str(raised.value)
    assert isinstance(raised.value.__cause__, jinja2.TemplateNotFound)


# -- in a real browser ------------------------------------------------------------------


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


MEASURE = """
<script>
window.addEventListener("load", () => {
  const visible = (el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const report = {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    headings: [...document.querySelectorAll("h1, h2")].filter(visible).map((h) => h.textContent.trim()),
    links: [...document.querySelectorAll("a")].filter(visible).length,
    widest: Math.max(...[...document.querySelectorAll("body *")].map((el) => el.getBoundingClientRect().right)),
    container: document.querySelector(".container")?.getBoundingClientRect().width ?? null,
  };
  if (window.parent !== window) { window.parent.postMessage(JSON.stringify(report), "*"); return; }
  const out = document.createElement("pre");
  out.id = "measure";
  out.textContent = JSON.stringify(report);
  document.body.appendChild(out);
});
</script>
"""

# Headless Chromium's window is at least 500 px wide: a phone's width is an iframe in a frame page.
FRAME = """<!DOCTYPE html><html><body style="margin:0">
<iframe src="{src}" width="{width}" height="{height}" style="border:0;display:block"></iframe>
<script>
window.addEventListener("message", (event) => {{
  const out = document.createElement("pre");
  out.id = "measure";
  out.textContent = event.data;
  document.body.appendChild(out);
}});
</script></body></html>
"""
MIN_WINDOW = 500


def framed(page: Path, width: int, height: int) -> Path:
    """The page itself, or a frame page showing it ``width`` px wide when that is below the window's minimum."""
    if width >= MIN_WINDOW:
        return page
    frame = page.with_name(f".frame-{page.name}")
    frame.write_text(FRAME.format(src=page.name, width=width, height=height), encoding="utf-8")
    return frame


def measure(tmp_path: Path, page: Path, width: int) -> dict:
    """Open a copy of the page with a measuring script at ``width`` px; what the browser laid out."""
    probe = page.with_name(f".probe-{page.name}")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    opened = framed(probe, width, 1200)
    try:
        result = chromium(
            tmp_path,
            f"--window-size={max(width, MIN_WINDOW)},1200",
            "--virtual-time-budget=5000",
            "--dump-dom",
            opened.as_uri(),
        )
    finally:
        probe.unlink()
        opened.unlink(missing_ok=True)
    found = re.search(r'<pre id="measure">(.*?)</pre>', result.stdout, re.S)
    assert found, f"chromium printed no measurement: {result.stderr[-2000:]}"
    report = json.loads(html.unescape(found.group(1)))
    assert report["innerWidth"] == width
    return report


def screenshot(tmp_path: Path, page: Path, name: str, width: int, height: int, *extra: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    target = SCREENSHOTS / name
    target.unlink(missing_ok=True)
    opened = framed(page, width, height)
    try:
        result = chromium(
            tmp_path,
            f"--window-size={max(width, MIN_WINDOW)},{height}",
            f"--screenshot={target}",
            *extra,
            opened.as_uri(),
        )
    finally:
        if opened != page:
            opened.unlink()
    assert target.is_file(), f"no screenshot: {result.stderr[-2000:]}"
    return target


def read_png(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB rows of an 8-bit, non-interlaced PNG, as Chromium writes them."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat, header = 8, b"", b""
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        chunk = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0
    channels = 3 if colour == 2 else 4
    raw, stride, rows, previous = zlib.decompress(idat), width * channels, [], bytearray(width * channels)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up, corner = previous[x], previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[x] = (line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(bytes(line) if channels == 3 else bytes(b for i, b in enumerate(line) if i % 4 != 3))
        previous = line
    return width, height, rows


def colours(rows: list[bytes], top: int, bottom: int) -> set[tuple[int, int, int]]:
    found = set()
    for row in rows[top:bottom]:
        for x in range(0, len(row), 3 * 4):  # every fourth pixel is plenty
            found.add((row[x], row[x + 1], row[x + 2]))
    return found


def near(colour: tuple[int, int, int], target: tuple[int, int, int], slack: int = 12) -> bool:
    return all(abs(a - b) <= slack for a, b in zip(colour, target, strict=True))


@needs_chromium
def test_email_fits_600_pixels_in_chromium_and_shows_every_section(env, tmp_path):
    path = tmp_path / "email.html"
    path.write_text(email_html(big_digest(60), env), encoding="utf-8")
    report = measure(tmp_path, path, 600)
    assert report["scrollWidth"] <= 600 and report["widest"] <= 600
    assert report["headings"] == [
        "Daily Border Links: February 23, 2024",
        "Border and Migration",
        "Analyses and Feature Stories",
        "On the Right",
    ]
    assert report["links"] >= 60 * 3
    shot = screenshot(tmp_path, path, "email-daily-600.png", 600, 1400)
    width, height, rows = read_png(shot)
    assert (width, height) == (600, 1400)
    seen = colours(rows, 0, 400)
    assert any(near(c, (0x9C, 0x3D, 0x14)) for c in seen), "the masthead's rule is visible"
    assert any(near(c, (0x0B, 0x4F, 0x8A), 40) for c in seen), "linked headlines are visible"
    assert any(near(c, (255, 255, 255), 0) for c in seen), "the white paper"
    assert any(near(c, (0x1B, 0x1B, 0x1B), 8) for c in seen), "dark body text"


@needs_chromium
@pytest.mark.parametrize("layout", sorted(LAYOUT_DIGESTS))
def test_email_on_a_wide_screen_stays_a_600_pixel_column(layout, env, tmp_path):
    digest = LAYOUT_DIGESTS[layout]()
    path = tmp_path / "email.html"
    path.write_text(email_html(digest, env), encoding="utf-8")
    report = measure(tmp_path, path, 900)
    assert report["container"] <= 600 and report["scrollWidth"] <= 900
    assert report["headings"] == [digest.title, *(s.heading for s in digest.sections)]
    shot = screenshot(tmp_path, path, f"email-{layout}-900.png", 900, 1100)
    _, _, rows = read_png(shot)
    seen = colours(rows, 0, 300)
    assert any(near(c, (0xF2, 0xEF, 0xE9), 2) for c in seen), "the page colour shows around the column"


@needs_chromium
def test_email_with_hostile_text_stays_within_600_pixels(env, tmp_path):
    long_word = item("w", "Unbroken" + "x" * 300, "Border Report", "y" * 400, also=("Z" * 120,))
    digest = Digest(
        edition="d",
        slug="d",
        title="A" * 200,
        date="2024-02-23",
        layout="daily",
        sections=(DigestSection("S" * 150, (long_word, *hostile_digest().items)),),
    )
    path = tmp_path / "email.html"
    path.write_text(email_html(digest, env), encoding="utf-8")
    report = measure(tmp_path, path, 600)
    assert report["scrollWidth"] <= 600


@needs_chromium
def test_email_in_dark_mode_switches_to_dark_colours(env, tmp_path):
    path = tmp_path / "email.html"
    path.write_text(email_html(daily_digest(), env), encoding="utf-8")
    shot = screenshot(
        tmp_path, path, "email-daily-dark.png", 600, 900, "--force-dark-mode", "--blink-settings=preferredColorScheme=0"
    )
    _, _, rows = read_png(shot)
    seen = colours(rows, 0, 600)
    assert any(near(c, (0x1C, 0x1C, 0x1C), 3) for c in seen), "the container turns dark"
    assert not any(near(c, (255, 255, 255), 0) for c in seen), "no white box left"


@needs_chromium
@pytest.mark.parametrize(
    ("page", "width"),
    [
        ("index.html", 1280),
        ("daily-border-links/2024-02-23.html", 1280),
        ("daily-border-links/2024-02-23.html", 375),
        ("long-reads/2024-02-02.html", 1280),
        ("security-news/2024-02-23.html", 375),
        ("themes/border-enforcement.html", 1280),
    ],
)
def test_site_pages_render_in_chromium_without_horizontal_scrolling(site, tmp_path, page, width):
    path = site / page
    report = measure(tmp_path, path, width)
    assert report["scrollWidth"] <= width
    assert report["headings"], "the page shows its headings"
    name = page.replace("/", "_").removesuffix(".html") + f"-{width}.png"
    shot = screenshot(tmp_path, path, f"site-{name}", width, 1000)
    _, _, rows = read_png(shot)
    seen = colours(rows, 0, 200)
    assert any(near(c, (0x9C, 0x3D, 0x14)) for c in seen), "the stylesheet loaded from disk (the header's rule)"
    if page.startswith("daily"):
        assert report["headings"][1:4] == ["Border and Migration", "Analyses and Feature Stories", "On the Right"]
