"""Scraping pages without feeds (press-release lists, outlets with no RSS).

A ``page`` source names CSS selectors; BeautifulSoup applies them. Pure:
bytes in, entries out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urljoin

from bs4 import BeautifulSoup, Tag

from .model import Entry, PageSelectors
from .text import clean_text, parse_date


class NothingScraped(ValueError):
    """The page's selectors matched nothing: the page changed or the selectors are wrong."""


def scrape_page(body: bytes, url: str, selectors: PageSelectors) -> list[Entry]:
    """Entries found on an HTML page by the source's selectors."""
    soup = BeautifulSoup(body, "lxml")
    base = soup.find("base", href=True)
    base_url = urljoin(url, base["href"]) if isinstance(base, Tag) else url
    blocks = soup.select(selectors.items)
    if not blocks:
        raise NothingScraped(
            f"the selector items = {selectors.items!r} matched nothing on the page; "
            "the site may have changed: open the page and update the selectors"
        )
    entries = []
    for block in blocks:
        title_el = block.select_one(selectors.title)
        link_el = block if selectors.link in ("&", ":scope") else block.select_one(selectors.link)
        title = clean_text(title_el.get_text(" ")) if title_el else ""
        href = ""
        if link_el is not None:
            anchor = link_el if link_el.has_attr("href") else link_el.find("a", href=True)
            if isinstance(anchor, Tag):
                href = str(anchor.get("href") or "").strip()
        if not title and not href:
            continue
        summary = ""
        if selectors.summary:
            summary_el = block.select_one(selectors.summary)
            summary = summary_el.decode_contents() if summary_el else ""
        author = ""
        if selectors.author:
            author_el = block.select_one(selectors.author)
            author = clean_text(author_el.get_text(" ")) if author_el else ""
        published = None
        if selectors.date:
            date_el = block.select_one(selectors.date)
            if date_el is not None:
                published = _read_date(date_el, selectors.date_format)
        link = urljoin(base_url, href) if href else ""
        entries.append(Entry(title=title, link=link, guid=link, summary=summary, author=author, published=published))
    return entries


def _read_date(element: Tag, date_format: str | None) -> datetime | None:
    raw = str(element.get("datetime") or element.get("content") or element.get_text(" ")).strip()
    if date_format:
        try:
            value = datetime.strptime(raw, date_format)
        except ValueError:
            return parse_date(raw)
        return value.replace(tzinfo=value.tzinfo or UTC).astimezone(UTC)
    return parse_date(raw)
