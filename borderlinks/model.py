"""The data model, passed one way through the stages.

``Source`` (configured) → ``Entry`` (parsed from a feed or page) → ``Item``
(normalised and stored) → ``Classification`` (themes and countries with the
matches that explain them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

SOURCE_TYPES = ("feed", "page")
LANGUAGES = ("en", "es", "pt")
LEANS = ("left", "center", "right")
KINDS = ("news", "analysis", "official", "opinion")
IDENTITIES = ("guid", "link", "title")


@dataclass(frozen=True)
class PageSelectors:
    """CSS selectors that turn a page without a feed into entries."""

    items: str
    title: str
    link: str
    summary: str | None = None
    date: str | None = None
    date_format: str | None = None
    author: str | None = None


@dataclass(frozen=True)
class Source:
    """One configured outlet: where to fetch it and how readers see it."""

    id: str
    name: str
    url: str
    type: str = "feed"
    language: str = "en"
    country: str | None = None
    lean: str = "center"
    kind: str = "news"
    priority: int = 5
    every: int = 0
    enabled: bool = True
    tags: tuple[str, ...] = ()
    identity: str = "guid"
    selectors: PageSelectors | None = None
    path: Path | None = field(default=None, compare=False)
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Entry:
    """One entry as a feed or page gave it, before normalising."""

    title: str = ""
    link: str = ""
    guid: str = ""
    summary: str = ""
    author: str = ""
    published: datetime | None = None
    updated: datetime | None = None


@dataclass(frozen=True)
class Item:
    """One normalised news item, as stored."""

    id: str
    source_id: str
    url: str
    title: str
    summary: str
    published: datetime
    language: str
    author: str = ""
    guid: str = ""
    first_seen: datetime | None = None


@dataclass(frozen=True)
class Match:
    """One term found in an item: what matched, where, and what it weighed."""

    term: str
    field: str  # "title" or "summary"
    start: int  # offset in the folded text of that field
    end: int
    weight: float = 1.0


@dataclass(frozen=True)
class Tag:
    """A theme or a country given to an item, with the evidence for it."""

    name: str  # theme slug, or country English name
    score: float
    matches: tuple[Match, ...] = ()


@dataclass(frozen=True)
class Classification:
    """Everything the classifiers said about one item."""

    themes: tuple[Tag, ...] = ()
    countries: tuple[Tag, ...] = ()

    @property
    def theme_slugs(self) -> list[str]:
        return [t.name for t in self.themes]

    @property
    def country_names(self) -> list[str]:
        return [c.name for c in self.countries]


@dataclass(frozen=True)
class FetchResult:
    """What happened to one source in one fetch run; an error is a result too."""

    source_id: str
    status: str  # "ok", "not-modified", "skipped", "error"
    http_status: int | None = None
    entries: int = 0
    new_items: int = 0
    updated_items: int = 0
    error: str | None = None
    seconds: float = 0.0
