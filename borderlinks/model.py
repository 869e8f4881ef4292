"""The data model, passed one way through the stages.

``Source`` (configured) → ``Entry`` (parsed from a feed or page) → ``Item``
(normalised and stored) → ``Classification`` (themes and countries with the
matches that explain them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
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


@dataclass(frozen=True)
class Cluster:
    """One story as several outlets reported it.

    ``id`` is the id of the earliest item, so it stays the same as later
    reports join; ``lead`` is the item shown, ``others`` are "also:" outlets.
    """

    id: str
    lead: Item
    others: tuple[Item, ...] = ()

    @property
    def items(self) -> tuple[Item, ...]:
        return (self.lead, *self.others)


@dataclass(frozen=True)
class ReviewEntry:
    """One candidate line of a review file, as an editor sees and edits it."""

    id: str  # the cluster id; "" for an item an editor added by pasting a URL
    checked: bool
    title: str
    url: str
    outlet: str = ""
    blurb: str = ""
    meta: str = ""  # themes, score and its parts, "also:" outlets: written by the tool, informative
    new: bool = False  # added by the latest run of `borderlinks review`
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ReviewSection:
    heading: str
    entries: tuple[ReviewEntry, ...] = ()


@dataclass(frozen=True)
class Review:
    """A review file: an edition's candidates, as the editor left them."""

    edition: str
    date: str  # ISO date of the edition
    title: str = ""  # the edition's title, as the file's first heading
    status: str = "draft"  # "draft" or "approved"
    intro: str = ""
    sections: tuple[ReviewSection, ...] = ()
    known: tuple[str, ...] = ()  # every id ever offered, so an entry the editor deleted is not offered again

    @property
    def approved(self) -> bool:
        return self.status == "approved"


@dataclass(frozen=True)
class Score:
    """Why a story ranks where it does: the parts add up to the total."""

    theme: float = 0.0
    outlets: float = 0.0
    priority: float = 0.0
    recency: float = 0.0

    @property
    def total(self) -> float:
        return round(self.theme + self.outlets + self.priority + self.recency, 2)

    def describe(self) -> str:
        return (
            f"score {self.total:.1f} = theme {self.theme:.1f} + outlets {self.outlets:.1f}"
            f" + priority {self.priority:+.1f} + recency {self.recency:.1f}"
        )


@dataclass(frozen=True)
class Candidate:
    """A story offered to an edition: its cluster, its section and its rank."""

    cluster: Cluster
    section: str
    score: Score
    themes: tuple[Tag, ...] = ()
    countries: tuple[str, ...] = ()
    blurb: str = ""
    long: bool = False


@dataclass(frozen=True)
class DigestItem:
    """One printed item of a digest, ready for any template."""

    id: str
    title: str
    url: str
    outlet: str
    blurb: str = ""
    also: tuple[tuple[str, str], ...] = ()  # (outlet, url) of other reports of the same story
    author: str = ""
    published: datetime | None = None
    outlet_country: str = ""
    language: str = "en"
    themes: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()


@dataclass(frozen=True)
class DigestSection:
    heading: str
    items: tuple[DigestItem, ...] = ()


@dataclass(frozen=True)
class Digest:
    """One post of an edition for a date, computed before anything is rendered."""

    edition: str
    slug: str  # the post's own slug: the edition's, or edition/theme for one-post-per-theme editions
    title: str
    date: str  # ISO date
    layout: str
    language: str = "en"
    intro: str = ""
    sections: tuple[DigestSection, ...] = ()
    approved: bool = False

    @property
    def items(self) -> list[DigestItem]:
        return [item for section in self.sections for item in section.items]


SUBSCRIBER_STATUSES = ("active", "unsubscribed")


@dataclass(frozen=True)
class Subscriber:
    """One reader of the mailing list: which editions and themes they get."""

    email: str  # normalised: the domain in lower case, ASCII (IDNA)
    name: str = ""
    editions: tuple[str, ...] = ()  # edition slugs; empty: every edition
    themes: tuple[str, ...] = ()  # theme slugs; empty: every theme
    language: str = ""  # the reader's language, kept for the operator; editions choose their own
    status: str = "active"  # "active" or "unsubscribed"
    token: str = field(default="", repr=False, compare=False)  # their secret unsubscribe token

    @property
    def key(self) -> str:
        """The address as the list knows it: one subscriber per address, whatever its case."""
        return self.email.lower()

    @property
    def active(self) -> bool:
        return self.status == "active"

    def wants(self, edition: str) -> bool:
        return self.active and (not self.editions or edition in self.editions)


@dataclass(frozen=True)
class SendResult:
    """What one send run did with one post for one date; a held edition is a result too."""

    edition: str
    post: str  # the digest's slug: the edition's, or edition/theme
    date: str  # ISO date
    status: str  # "done", "held" (needs approval), "nothing" (no items), "stopped" (the server failed us)
    subscribers: int = 0  # active subscribers of the edition
    sent: int = 0
    resumed: int = 0  # of those sent, left half-sent by an interrupted run (sent again with the same Message-ID)
    already: int = 0  # sent by an earlier run
    empty: int = 0  # their themes left nothing of this post
    deferred: int = 0  # temporary failures after every retry: the next run tries again
    failed: tuple[tuple[str, str], ...] = ()  # (address, server's answer) of permanent failures in this run
    failed_before: int = 0  # failed permanently in an earlier run; not retried without --retry-failed
    files: tuple[Path, ...] = ()  # the .eml files of a dry run
    seconds: float = 0.0
    note: str = ""  # why held or stopped, or the warning of a forced send

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


JOB_OUTCOMES = ("ok", "waiting", "skipped", "missed", "failed")


@dataclass(frozen=True)
class JobRun:
    """One run of a scheduled job, as `borderlinks status` shows it.

    ``outcome``: "ok"; "waiting" (an edition waits for its review file's
    approval); "skipped" (nothing to send, or no approval by the deadline and
    the edition says skip); "missed" (too late to run: reported, not run);
    "failed".
    """

    job_id: str  # "fetch", "review:SLUG", "edition:SLUG" or "approval:SLUG"
    started: datetime
    finished: datetime
    outcome: str
    message: str = ""
    next_check: datetime | None = None  # "waiting": when the review file is looked at again
    day: date | None = None  # an edition's date, for edition and approval runs

    @property
    def seconds(self) -> float:
        return (self.finished - self.started).total_seconds()
