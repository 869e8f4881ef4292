"""The editor's and operator's operations: draft a review file, check it, build an edition.

These are the edges of the review and build stages: they read the store, the
configuration and the review files, call the pure pipeline in
:mod:`borderlinks.digest`, and write files atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from .config import Home
from .digest import (
    SharedWork,
    candidates,
    digests_from_candidates,
    digests_from_review,
    edition_window,
    fresh_review,
    gather,
    select_automatic,
)
from .editions import Edition, load_editions
from .errors import ConfigError, ReviewFileError
from .model import Candidate, Digest, Review, Source
from .store import Store


@dataclass(frozen=True)
class Context:
    """What every edition operation needs, loaded once."""

    home: Home
    editions: dict[str, Edition]
    sources: dict[str, Source]
    theme_titles: dict[str, str]


def load_context(home: Home) -> Context:
    from .themes import load_themes

    editions = {e.slug: e for e in load_editions(home.content("scheduler"))}
    sources = {s.id: s for s in home.sources()}
    titles = {t.slug: t.title for t in load_themes(home.content("classifiers"))}
    return Context(home, editions, sources, titles)


def pick_editions(context: Context, slug: str | None) -> list[Edition]:
    if slug is None:
        return list(context.editions.values())
    if slug not in context.editions:
        known = ", ".join(context.editions) or "none"
        raise ConfigError(f"no edition '{slug}' (editions: {known})", context.home.content("scheduler"), fix="Check the slug in scheduler/editions.toml")
    return [context.editions[slug]]


def edition_date(edition: Edition, day: date | None = None, now: datetime | None = None) -> date:
    """The date of an edition: the given one, or today in the edition's time zone."""
    if day is not None:
        return day
    return (now or datetime.now(ZoneInfo("UTC"))).astimezone(ZoneInfo(edition.timezone)).date()


def edition_dates(edition: Edition, day: date | None, until: date | None) -> list[date]:
    """The dates to build an edition for: one, or each in a range, one per window (a monthly edition once a month)."""
    first = edition_date(edition, day)
    if until is None:
        return [first]
    if until < first:
        raise ConfigError(f"the range ends ({until}) before it starts ({first})", fix="Give --until a date on or after --date")
    dates, windows = [], set()
    for n in range((until - first).days + 1):
        when = first + timedelta(days=n)
        window = edition_window(edition, when)
        if window not in windows:
            windows.add(window)
            dates.append(when)
    return dates


def review_path(home: Home, edition: Edition, day: date) -> Path:
    return home.root / "review" / edition.slug / f"{day.isoformat()}.md"


def ranked_candidates(
    context: Context, store: Store, edition: Edition, day: date, shared: SharedWork | None = None
) -> list[Candidate]:
    found, tags = gather(store, edition, day, shared)
    return candidates(edition, day, found, tags, context.sources, context.theme_titles, shared)


@dataclass(frozen=True)
class ReviewUpdate:
    path: Path
    review: Review
    new: int  # candidates added by this run
    backup: Path | None


def update_review(context: Context, store: Store, edition: Edition, day: date) -> ReviewUpdate:
    """Write or refresh an edition's review file; the editor's edits always win.

    A first run writes every candidate with the automatic selection ticked. A
    later run keeps the file as the editor left it and appends the new
    candidates, marked new.
    """
    from .review import merge_review, read_review_file, write_review_file

    ranked = ranked_candidates(context, store, edition, day)
    fresh = fresh_review(edition, day, ranked, context.sources, context.theme_titles)
    path = review_path(context.home, edition, day)
    if path.exists():
        existing = read_review_file(path)
        merged = merge_review(existing, fresh)
        new = sum(1 for s in merged.sections for e in s.entries if e.new)
    else:
        merged = fresh
        new = sum(len(s.entries) for s in merged.sections)
    backup = write_review_file(path, merged)
    return ReviewUpdate(path, merged, new, backup)


def check_review_file(context: Context, store: Store, edition: Edition, day: date) -> tuple[Path, list]:
    """Problems of an edition's review file, each with its line; changes nothing."""
    from .review import check_review

    path = review_path(context.home, edition, day)
    if not path.exists():
        raise ReviewFileError("no review file yet; run 'borderlinks review' first to write it", path)
    ranked = ranked_candidates(context, store, edition, day)
    known = {c.cluster.id for c in ranked} | {i.id for c in ranked for i in c.cluster.items}
    text = path.read_text(encoding="utf-8")
    from .review import parse_review

    try:
        offered = set(parse_review(text, path).known)
    except ReviewFileError:
        offered = set()
    return path, check_review(text, known | offered, path)


@dataclass(frozen=True)
class Selection:
    """An edition's digests for a date and where they came from."""

    edition: Edition
    day: date
    digests: list[Digest]
    origin: str  # "review" (approved), "review-draft" (not approved), or "automatic"


def select_digests(
    context: Context, store: Store, edition: Edition, day: date, *, use_draft: bool = False, shared: SharedWork | None = None
) -> Selection:
    """The editor's approved review file if there is one, else the automatic selection.

    An unapproved review file is used only with ``use_draft`` (a preview).
    """
    from .review import read_review_file

    ranked = ranked_candidates(context, store, edition, day, shared)
    path = review_path(context.home, edition, day)
    if path.exists():
        review = read_review_file(path)
        if review.approved or use_draft:
            digests = digests_from_review(edition, day, review, ranked, store, context.sources)
            return Selection(edition, day, digests, "review" if review.approved else "review-draft")
    chosen = select_automatic(edition, ranked)
    return Selection(edition, day, digests_from_candidates(edition, day, chosen, context.sources, context.theme_titles), "automatic")


def parse_day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as e:
        raise ConfigError(f"the date {text!r} is not a date", fix="Write it as YYYY-MM-DD, e.g. 2025-03-21") from e


def all_items(digests: Sequence[Digest]) -> int:
    return sum(len(d.items) for d in digests)


@dataclass(frozen=True)
class BuildResult:
    """What one edition's build did: the digests it rendered and the files it wrote, or why not."""

    edition: Edition
    day: date
    origin: str = ""  # "review", "review-draft" or "automatic"
    digests: tuple[Digest, ...] = ()
    written: tuple[Path, ...] = ()
    skipped: str = ""  # the reason an edition was not built


def empty_digest(context: Context, edition: Edition, day: date) -> Digest:
    """The short "no news today" edition built with --allow-empty."""
    from .digest import edition_title

    return Digest(
        edition=edition.slug, slug=edition.slug, title=edition_title(edition, day, theme="Some Links"),
        date=day.isoformat(), layout=edition.layout, language=edition.language,
        intro="No news today." if edition.language != "es" else "Hoy no hay noticias.",
    )


def select_for_build(
    context: Context, store: Store, edition: Edition, day: date, *, draft: bool = False, allow_empty: bool = False,
    force: bool = False, shared: SharedWork | None = None,
) -> BuildResult:
    """An edition's digests for a build, or the reason it is not built.

    ``force`` builds an edition that needs approval from the automatic
    selection anyway (the scheduler, once the approval deadline has passed).
    """
    selection = select_digests(context, store, edition, day, use_draft=draft, shared=shared)
    if edition.needs_approval and selection.origin == "automatic" and not draft and not force:
        path = review_path(context.home, edition, day)
        hint = "edit it and write 'status: approved' at its top" if path.exists() else "run 'borderlinks review' and approve the file"
        return BuildResult(edition, day, skipped=f"needs an editor's approval: {hint} (or build with --draft for a preview)")
    digests = [d for d in selection.digests if d.items]
    if not digests:
        if not allow_empty:
            return BuildResult(edition, day, selection.origin, skipped="no items in its window (use --allow-empty for a 'no news today' edition)")
        digests = [empty_digest(context, edition, day)]
    return BuildResult(edition, day, selection.origin, tuple(digests))


def archived_digests(site: Path) -> list[Digest]:
    """The digests already published in the web archive, read back from their JSON files."""
    import json

    from .render import digest_from_json

    found = []
    for path in sorted(site.rglob("????-??-??.json")):
        try:
            found.append(digest_from_json(json.loads(path.read_text(encoding="utf-8"))))
        except (ValueError, KeyError, TypeError):
            continue  # not one of ours, or damaged: the page stays as it is
    return found


def build(
    home: Home,
    *,
    edition_slug: str | None = None,
    day: date | None = None,
    until: date | None = None,
    fetch_first: bool = False,
    allow_empty: bool = False,
    draft: bool = False,
    force: bool = False,
    store: Store | None = None,
) -> list[BuildResult]:
    """``borderlinks build``: render every edition's email, then the whole web archive, into ``out/``.

    Computes every digest first and writes last; an edition that cannot be
    built says why and the others go on. The writing holds the build-send
    lock (:mod:`borderlinks.lock`): a build never runs beside another build or
    a send, manual or scheduled. ``force``: see :func:`select_for_build`.

    With ``until``, every date from ``day`` to ``until`` (a month's archive, say):
    daily editions once a day, monthly ones once per month they cover, and
    the editions share the work of reading and clustering each window.
    """
    from .lock import hold_lock
    from .render import make_environment, write_email
    from .site import write_site

    if fetch_first:
        from .sources import fetch

        fetch(home)
    context = load_context(home)
    settings = home.settings()
    own_store = store is None
    lock_on = store or home.database_url
    store = store or Store(home.database_url)
    shared = SharedWork()
    editions = pick_editions(context, edition_slug)
    dates = {edition.slug: edition_dates(edition, day, until) for edition in editions}
    try:
        if until is not None:  # one read for every window of the range
            windows = [edition_window(edition, when) for edition in editions for when in dates[edition.slug]]
            shared.read_span(store, min(w[0] for w in windows), max(w[1] for w in windows))
        results = [
            select_for_build(context, store, edition, when, draft=draft, allow_empty=allow_empty, force=force, shared=shared)
            for edition in editions
            for when in dates[edition.slug]
        ]
    finally:
        if own_store:
            store.close()
    with hold_lock(lock_on, owner="borderlinks build"):
        out = home.root / "out"
        env = make_environment(home)
        built: list[BuildResult] = []
        new_digests = [d for r in results for d in r.digests]
        for result in results:
            written: list[Path] = []
            for digest in result.digests:
                written.extend(write_email(digest, out, env, site_url=settings.site_url))
            built.append(BuildResult(result.edition, result.day, result.origin, result.digests, tuple(written), result.skipped))
        if new_digests:
            fresh = {(d.slug, d.date) for d in new_digests}
            archive = [d for d in archived_digests(out / "site") if (d.slug, d.date) not in fresh] + new_digests
            site_written = write_site(
                archive, out, env, site_url=settings.site_url, site_title=settings.site_title,
                theme_titles=context.theme_titles, edition_titles={e.slug: e.display_name for e in context.editions.values()},
            )
            if built:
                first = next((i for i, b in enumerate(built) if b.digests), 0)
                built[first] = BuildResult(
                    built[first].edition, built[first].day, built[first].origin, built[first].digests,
                    built[first].written + tuple(site_written), built[first].skipped,
                )
        return built
