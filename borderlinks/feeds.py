"""Parsing feeds (RSS 0.9x/1.0/2.0, Atom, RDF, JSON Feed) into entries.

The common case goes through fastfeedparser, about 80 times faster than
feedparser; anything it rejects (odd encodings, broken markup, CDF, unusual
namespaces) falls back to feedparser, whose loose parser reads almost
anything. JSON Feed is read here, since feedparser 6 does not know it.
"""

from __future__ import annotations

import codecs
import json
import re
from calendar import timegm
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from .model import Entry
from .text import clean_text, parse_date

# Registry: parsers are tried in this order; the first that yields entries wins.
FeedParser = Callable[[bytes, dict[str, str]], list[Entry]]


class NotAFeed(ValueError):
    """Raised by a parser that cannot read the body at all."""


_XML_DECLARATION = re.compile(rb"^(\s*<\?xml[^>]*?encoding\s*=\s*[\"'])([A-Za-z0-9._:-]+)([\"'])")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.I)
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)


def repair_encoding(body: bytes, headers: dict[str, str] | None = None) -> bytes:
    """Re-encode a body whose bytes are not what it declares, as UTF-8 with a truthful declaration.

    The common lie is a Latin-1/Windows-1252 feed that declares UTF-8 (or
    nothing): its accents would come out as replacement characters. A body
    that is mostly good UTF-8 with a few bad bytes is left alone.
    """
    if body.startswith(_BOMS):
        return body
    declared = _XML_DECLARATION.match(body)
    encoding = declared.group(2).decode("ascii").lower() if declared else None
    if encoding is None and headers:
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        found = _CHARSET.search(content_type)
        if found:
            encoding = found.group(1).lower()
    if encoding not in (None, "utf-8", "utf8"):
        if declared:
            return body
        try:
            text = body.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            return body
        return text.encode("utf-8")
    try:
        body.decode("utf-8")
        return body
    except UnicodeDecodeError:
        pass
    text = body.decode("utf-8", errors="replace")
    replaced = text.count("\ufffd")
    good = sum(1 for ch in text if ord(ch) > 0x7F) - replaced
    if good > 0:  # real UTF-8 sequences beside the bad bytes: UTF-8 with damage, not Latin-1
        return body
    fixed = body.decode("cp1252", errors="replace").encode("utf-8")
    if declared:
        fixed = _XML_DECLARATION.sub(rb"\1utf-8\3", fixed, count=1)
    return fixed


def parse_feed(body: bytes, url: str = "", headers: dict[str, str] | None = None) -> list[Entry]:
    """Entries of a feed body; raises :class:`NotAFeed` with a reason a user can act on."""
    headers = headers or {}
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise NotAFeed("the response is empty")
    if stripped[:2] == b"\x1f\x8b":
        raise NotAFeed("the response is still gzip-compressed (the server sent a .gz file, not a feed)")
    if stripped[:1] in (b"{", b"["):
        return _parse_json_feed(stripped, url)
    body = repair_encoding(body, headers)
    # Entity declarations are rare in real feeds and the vector of "billion laughs":
    # leave them to expat, which caps entity amplification. fastfeedparser also
    # loses Atom's type="xhtml" text constructs, which feedparser reads.
    if b"<!ENTITY" not in body[:65536] and b'type="xhtml"' not in body and b"type='xhtml'" not in body:
        try:
            entries = _parse_fast(body, url)
            if any(e.title or e.link for e in entries):
                return entries
        except Exception:  # noqa: BLE001 - fastfeedparser raises ValueError, KeyError, lxml errors...
            pass
    return _parse_loose(body, url, headers)


def import_parsers() -> None:
    """Import the fast parser ahead of the first feed: it brings lxml and dateutil, a tenth of a second."""
    import fastfeedparser  # noqa: F401


def looks_like_html(body: bytes) -> bool:
    head = body[:2048].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head[:512]


def _parse_fast(body: bytes, url: str) -> list[Entry]:
    import fastfeedparser

    data = fastfeedparser.parse(body, include_media=False, include_enclosures=False, include_tags=False)
    return [_entry_from_dict(e, url, iso_dates=True) for e in data.get("entries", [])]


def _parse_loose(body: bytes, url: str, headers: dict[str, str]) -> list[Entry]:
    import feedparser

    # feedparser only reads the headers we pass; never let it fetch anything itself.
    response_headers = {k.lower(): v for k, v in headers.items() if k.lower() in ("content-type", "content-location")}
    data = feedparser.parse(body, response_headers=response_headers, sanitize_html=False, resolve_relative_uris=False)
    problem = str(data.get("bozo_exception") or "")
    if "amplification" in problem or "entity" in problem.lower() and "limit" in problem.lower():
        raise NotAFeed("refused: the feed defines XML entities that expand explosively (a \"billion laughs\" attack)")
    entries = [_entry_from_dict(e, url, iso_dates=False) for e in data.get("entries", [])]
    entries = [e for e in entries if e.title or e.link or e.summary]
    if entries:
        return entries
    if looks_like_html(body):
        raise NotAFeed("the URL returned an HTML page, not a feed; find the page's feed link (often /feed/ or /rss) or make it a type = \"page\" source")
    if data.get("bozo") and not data.get("feed"):
        reason = str(data.get("bozo_exception") or "unreadable XML")
        raise NotAFeed(f"not a readable feed ({reason})")
    if data.get("version") or data.get("feed"):
        return []
    raise NotAFeed("not a feed (no RSS, Atom, RDF or JSON Feed root element)")


def _parse_json_feed(body: bytes, url: str) -> list[Entry]:
    try:
        data = json.loads(body.decode("utf-8-sig", errors="replace"))
    except ValueError as e:
        raise NotAFeed(f"invalid JSON ({e})") from e
    if not isinstance(data, dict) or "items" not in data:
        raise NotAFeed("JSON without an 'items' list is not a JSON Feed")
    items = data.get("items")
    if not isinstance(items, list):
        raise NotAFeed("the JSON Feed's 'items' is not a list")
    feed_author = _json_author(data)
    entries = []
    for item in items:
        if not isinstance(item, dict):
            continue
        link = _str(item.get("url")) or _str(item.get("external_url"))
        summary = _str(item.get("summary")) or _str(item.get("content_html")) or _str(item.get("content_text"))
        entries.append(
            Entry(
                title=clean_text(_str(item.get("title"))),
                link=_absolute(url, link),
                guid=_str(item.get("id")),
                summary=summary,
                author=_json_author(item) or feed_author,
                published=parse_date(_str(item.get("date_published"))),
                updated=parse_date(_str(item.get("date_modified"))),
            )
        )
    return [e for e in entries if e.title or e.link or e.summary]


def _json_author(obj: dict[str, Any]) -> str:
    authors = obj.get("authors")
    if isinstance(authors, list):
        names = [a.get("name") for a in authors if isinstance(a, dict) and isinstance(a.get("name"), str)]
        if names:
            return ", ".join(names)
    author = obj.get("author")
    if isinstance(author, dict) and isinstance(author.get("name"), str):
        return author["name"]
    return ""


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return ""


def _entry_from_dict(e: Any, url: str, iso_dates: bool) -> Entry:
    link = _str(e.get("link"))
    if not link:
        for candidate in e.get("links") or []:
            href = _str(candidate.get("href")) if isinstance(candidate, dict) else ""
            if href and candidate.get("rel", "alternate") == "alternate":
                link = href
                break
    summary = _str(e.get("summary")) or _str(e.get("description"))
    if not summary:
        for content in e.get("content") or []:
            if isinstance(content, dict) and _str(content.get("value")):
                summary = content["value"]
                break
    author = _str(e.get("author"))
    if not author:
        authors = e.get("authors") or []
        names = [_str(a.get("name")) for a in authors if isinstance(a, dict)]
        author = ", ".join(n for n in names if n)
    if iso_dates:
        published = parse_date(_str(e.get("published")))
        updated = parse_date(_str(e.get("updated")))
    else:
        published = _struct_time(e.get("published_parsed")) or parse_date(_str(e.get("published")))
        updated = _struct_time(e.get("updated_parsed")) or parse_date(_str(e.get("updated")))
    return Entry(
        title=clean_text(_str(e.get("title"))),
        link=_absolute(url, link),
        guid=_str(e.get("id")),
        summary=summary,
        author=clean_text(author),
        published=published,
        updated=updated,
    )


def _absolute(base: str, link: str) -> str:
    link = link.strip()
    if not link or link.startswith(("https://", "http://")):
        return link
    return urljoin(base, link)


def _struct_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(timegm(value), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None
