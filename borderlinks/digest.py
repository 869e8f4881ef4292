"""From stored items to an edition's digests: window, filter, cluster, rank, place, select.

Pure functions over data, except :func:`gather` which reads the store. The
order of work: items in the edition's window → those carrying its themes →
story clusters → a transparent score → a section → the editor's review file
or the automatic selection → :class:`Digest` objects that templates render.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .cluster import ClusterMemo
from .editions import Edition, Section
from .model import (
    Candidate,
    Classification,
    Cluster,
    Digest,
    DigestItem,
    DigestSection,
    Item,
    Review,
    ReviewEntry,
    ReviewSection,
    Score,
    Source,
    Tag,
)
from .store import Store
from .text import canonical_url, truncate_words

REGIONAL = "Western Hemisphere Regional"
BLURB_LIMIT = 320
MONTHS_ES = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre")


# -- the window ---------------------------------------------------------------


def edition_window(edition: Edition, day: date) -> tuple[datetime, datetime]:
    """The span of publication times an edition dated ``day`` covers, in UTC.

    "day": the whole previous day in the edition's time zone; "month": the
    previous calendar month, or the current month up to ``day`` when ``day``
    is its last day; "since-last": the previous 24 hours up to the edition's time.
    """
    zone = ZoneInfo(edition.timezone)
    if edition.window == "month":
        if (day + timedelta(days=1)).month != day.month:  # the last day of a month closes that month
            first = day.replace(day=1)
            end_day = day + timedelta(days=1)
        else:
            end_day = day.replace(day=1)
            first = (end_day - timedelta(days=1)).replace(day=1)
        start = datetime.combine(first, time(0), zone)
        end = datetime.combine(end_day, time(0), zone)
    else:
        start = datetime.combine(day - timedelta(days=1), time(0), zone)
        end = datetime.combine(day, time(0), zone)
    return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


def edition_title(edition: Edition, day: date, theme: str = "") -> str:
    start, _ = edition_window(edition, day)
    month_date = start.astimezone(ZoneInfo(edition.timezone)).date()
    if edition.language == "es":
        month = MONTHS_ES[month_date.month - 1]
        text = edition.title.replace("{date:%B %-d, %Y}", f"{day.day} de {MONTHS_ES[day.month - 1]} de {day.year}")
    else:
        month = month_date.strftime("%B")
        text = edition.title
    return text.format(date=day, month=month, year=month_date.year, theme=theme)


# -- gathering ----------------------------------------------------------------


@dataclass
class SharedWork:
    """Work that editions built together share: each window's items and tags, cluster keys and pair scores.

    Made for one build and dropped after it; items do not change meanwhile.
    """

    windows: dict[tuple[datetime, datetime], tuple[list[Item], dict[str, Classification]]] = field(default_factory=dict)
    clustering: ClusterMemo = field(default_factory=ClusterMemo)
    span: tuple[datetime, datetime, list[Item], list[float], dict[str, Classification]] | None = None

    def read_span(self, store: Store, start: datetime, end: datetime) -> None:
        """Read every item published in [start, end) at once; windows inside it are then cut from memory."""
        found, tags = gather_window(store, start, end)
        self.span = start, end, found, [-i.published.timestamp() for i in found], tags

    def cut(self, start: datetime, end: datetime) -> tuple[list[Item], dict[str, Classification]] | None:
        """The items of a window inside the span read, newest first as the store gives them; None outside it."""
        if self.span is None or not (self.span[0] <= start and end <= self.span[1]):
            return None
        _, _, found, keys, tags = self.span  # keys ascend as items go from newest to oldest
        inside = found[bisect_right(keys, -end.timestamp()) : bisect_right(keys, -start.timestamp())]
        return inside, {i.id: tags[i.id] for i in inside if i.id in tags}


def gather_window(store: Store, start: datetime, end: datetime) -> tuple[list[Item], dict[str, Classification]]:
    found = store.get_items(since=start, until=end)
    return found, store.get_tags(i.id for i in found)


def gather(
    store: Store, edition: Edition, day: date, shared: SharedWork | None = None
) -> tuple[list[Item], dict[str, Classification]]:
    """The stored items in the edition's window, with their tags."""
    window = edition_window(edition, day)
    if shared is None:
        return gather_window(store, *window)
    if window not in shared.windows:
        shared.windows[window] = shared.cut(*window) or gather_window(store, *window)
    return shared.windows[window]


def wanted(edition: Edition, classification: Classification | None) -> bool:
    """Does an item belong in this edition at all (its themes and countries)?"""
    tags = classification or Classification()
    if edition.themes and not set(edition.themes) & set(tags.theme_slugs):
        return False
    if edition.countries and not set(edition.countries) & set(tags.country_names):
        return False
    return True


# -- ranking and placing ---------------------------------------------------------


def score_cluster(
    cluster: Cluster, themes: Sequence[Tag], sources: Mapping[str, Source], start: datetime, end: datetime
) -> Score:
    """Theme score (0-5), outlets beyond the first (0-5), source priority (-2 to +2.5), recency (0-1)."""
    theme = min(sum(t.score for t in themes), 10.0) / 2
    outlets = min(len({i.source_id for i in cluster.items}) - 1, 5)
    source = sources.get(cluster.lead.source_id)
    priority = ((source.priority if source else 5) - 5) * 0.5
    span = (end - start).total_seconds() or 1.0
    newest = max(i.published for i in cluster.items)
    recency = min(max((newest - start).total_seconds() / span, 0.0), 1.0)
    return Score(theme=round(theme, 2), outlets=float(outlets), priority=priority, recency=round(recency, 2))


def is_long(item: Item, source: Source | None, long_words: int) -> bool:
    return len(item.summary.split()) >= long_words or (source is not None and source.kind == "analysis" and len(item.summary.split()) >= long_words // 2)


def place(
    edition: Edition, cluster: Cluster, themes: Sequence[Tag], countries: Sequence[str], source: Source | None,
    long: bool, theme_titles: Mapping[str, str],
) -> str | None:
    """The heading a story goes under, or None when no section takes it."""
    if edition.group_by == "theme":
        ranked = [t for t in themes if not edition.themes or t.name in edition.themes]
        return theme_titles.get(ranked[0].name, ranked[0].name) if ranked else None
    if edition.group_by == "country":
        return country_heading(countries)
    if edition.layout == "long-reads":
        return "Long-Reads" if long else None
    if not edition.sections:
        return "News"
    for section in sorted(edition.sections, key=lambda s: s.precedence):
        if _section_takes(section, themes, source, long):
            return section.heading
    return None


def _section_takes(section: Section, themes: Sequence[Tag], source: Source | None, long: bool) -> bool:
    if section.themes and not {t.name for t in themes} & set(section.themes):
        return False
    if section.kinds and (source is None or source.kind not in section.kinds):
        return False
    if section.lean and (source is None or source.lean != section.lean):
        return False
    if section.long is not None and section.long != long:
        return False
    return True


def country_heading(countries: Sequence[str]) -> str:
    """Isacson's headings: one country, two joined ("Bolivia, Colombia"), or the region."""
    unique = sorted(set(countries) - {"United States"}) or sorted(set(countries))
    if not unique or len(unique) > 2:
        return REGIONAL
    return ", ".join(unique)


def default_blurb(item: Item) -> str:
    """The first sentence or two of the summary, never cut mid-word."""
    text = item.summary or item.title
    sentences = re.split(r"(?<=[.!?…])\s+(?=[A-ZÁÉÍÓÚÑ¿¡“\"])", text)
    blurb = ""
    for sentence in sentences[:2]:
        if blurb and len(blurb) + len(sentence) + 1 > BLURB_LIMIT:
            break
        blurb = f"{blurb} {sentence}".strip()
    return truncate_words(blurb, BLURB_LIMIT)


def merged_tags(cluster: Cluster, tags: Mapping[str, Classification]) -> tuple[tuple[Tag, ...], tuple[str, ...]]:
    """A story's themes (best score per theme across its reports) and countries."""
    best: dict[str, Tag] = {}
    countries: dict[str, float] = {}
    for item in cluster.items:
        classification = tags.get(item.id)
        if classification is None:
            continue
        for tag in classification.themes:
            if tag.name not in best or tag.score > best[tag.name].score:
                best[tag.name] = tag
        for tag in classification.countries:
            countries[tag.name] = max(countries.get(tag.name, 0.0), tag.score)
    themes = tuple(sorted(best.values(), key=lambda t: (-t.score, t.name)))
    return themes, tuple(sorted(countries, key=lambda c: (-countries[c], c)))


def candidates(
    edition: Edition,
    day: date,
    found: Sequence[Item],
    tags: Mapping[str, Classification],
    sources: Mapping[str, Source],
    theme_titles: Mapping[str, str],
    shared: SharedWork | None = None,
) -> list[Candidate]:
    """Every story the edition could print, ranked within its section, best first."""
    from .cluster import cluster as cluster_items

    start, end = edition_window(edition, day)
    chosen = [i for i in found if wanted(edition, tags.get(i.id))]
    priority = {sid: s.priority for sid, s in sources.items()}
    result = []
    for story in cluster_items(chosen, priority=priority, memo=shared.clustering if shared else None):
        themes, countries = merged_tags(story, tags)
        if edition.themes:
            themes = tuple(t for t in themes if t.name in edition.themes) + tuple(t for t in themes if t.name not in edition.themes)
        source = sources.get(story.lead.source_id)
        long = is_long(story.lead, source, edition.long_words)
        heading = place(edition, story, themes, countries, source, long, theme_titles)
        if heading is None:
            continue
        relevant = [t for t in themes if not edition.themes or t.name in edition.themes]
        score = score_cluster(story, relevant, sources, start, end)
        result.append(Candidate(story, heading, score, themes, countries, default_blurb(story.lead), long))
    result.sort(key=lambda c: (section_order(edition, c.section, theme_titles), -c.score.total, c.cluster.id))
    return result


def section_order(edition: Edition, heading: str, theme_titles: Mapping[str, str]) -> tuple[int, str]:
    """Sections print in file order; theme sections in the edition's theme order; countries alphabetically, region last."""
    if edition.group_by == "theme":
        titles = [theme_titles.get(t, t) for t in edition.themes]
        return (titles.index(heading) if heading in titles else len(titles), heading)
    if edition.group_by == "country":
        return (1 if heading == REGIONAL else 0, heading)
    for position, section in enumerate(edition.sections):
        if section.heading == heading:
            return (position, heading)
    return (len(edition.sections), heading)


def select_automatic(edition: Edition, ranked: Sequence[Candidate]) -> list[Candidate]:
    """The selection without an editor: best per section within section and edition limits."""
    limits = {s.heading: s.limit for s in edition.sections if s.limit}
    taken: dict[str, int] = {}
    by_score = sorted(ranked, key=lambda c: -c.score.total)
    keep: set[str] = set()
    for candidate in by_score:
        if len(keep) >= edition.limit:
            break
        if edition.group_by == "theme" and taken.get(candidate.section, 0) >= edition.limit:
            continue
        if taken.get(candidate.section, 0) >= limits.get(candidate.section, edition.limit):
            continue
        taken[candidate.section] = taken.get(candidate.section, 0) + 1
        keep.add(candidate.cluster.id)
    return [c for c in ranked if c.cluster.id in keep]


# -- the review file and the digests --------------------------------------------


def fresh_review(edition: Edition, day: date, ranked: Sequence[Candidate], sources: Mapping[str, Source], theme_titles: Mapping[str, str]) -> Review:
    """What the tool would write now: every candidate, the automatic selection ticked."""
    chosen = {c.cluster.id for c in select_automatic(edition, ranked)}
    sections: dict[str, list[ReviewEntry]] = {}
    for c in ranked:
        lead = c.cluster.lead
        outlet = _outlet(lead, sources)
        also = ", ".join(dict.fromkeys(_outlet(i, sources) for i in c.cluster.others if _outlet(i, sources) != outlet))
        themes = ", ".join(f"{t.name} {t.score:.1f}" for t in c.themes) or "no theme"
        meta = f"{themes} · {c.score.describe()}"
        if c.countries:
            meta += " · " + ", ".join(c.countries)
        if also:
            meta += f" · also: {also}"
        entry = ReviewEntry(id=c.cluster.id, checked=c.cluster.id in chosen, title=lead.title, url=lead.url, outlet=outlet, blurb=c.blurb, meta=meta)
        sections.setdefault(c.section, []).append(entry)
    ordered = sorted(sections, key=lambda h: section_order(edition, h, theme_titles))
    if edition.group_by == "section":
        for s in edition.sections:  # keep every heading, so an editor can move items into an empty one
            if s.heading not in sections:
                ordered.append(s.heading)
        ordered.sort(key=lambda h: section_order(edition, h, theme_titles))
    title = edition_title(edition, day, theme="Some Links") if edition.group_by == "theme" else edition_title(edition, day)
    return Review(
        edition=edition.slug, date=day.isoformat(), title=title,
        sections=tuple(ReviewSection(h, tuple(sections.get(h, ()))) for h in ordered),
        known=tuple(c.cluster.id for c in ranked),
    )


def _outlet(item: Item, sources: Mapping[str, Source]) -> str:
    source = sources.get(item.source_id)
    return source.name if source else item.source_id


def digest_item(
    candidate_or_item: Candidate | Item, sources: Mapping[str, Source], blurb: str | None = None, *, timezone: str = "UTC"
) -> DigestItem:
    """An item as a digest prints it; its time in the edition's zone, so that its printed date is the reader's."""
    if isinstance(candidate_or_item, Candidate):
        lead = candidate_or_item.cluster.lead
        others = candidate_or_item.cluster.others
        themes = tuple(t.name for t in candidate_or_item.themes)
        countries = candidate_or_item.countries
        text = candidate_or_item.blurb if blurb is None else blurb
    else:
        lead, others, themes, countries = candidate_or_item, (), (), ()
        text = default_blurb(lead) if blurb is None else blurb
    source = sources.get(lead.source_id)
    outlet = _outlet(lead, sources)
    also: dict[str, str] = {}
    for other in others:
        name = _outlet(other, sources)
        if name != outlet and name not in also:
            also[name] = other.url
    return DigestItem(
        id=candidate_or_item.cluster.id if isinstance(candidate_or_item, Candidate) else lead.id,
        title=lead.title, url=lead.url, outlet=outlet, blurb=text, also=tuple(also.items()), author=lead.author,
        published=lead.published.astimezone(ZoneInfo(timezone)), outlet_country=(source.country or "") if source else "",
        language=lead.language, themes=themes, countries=countries,
    )


def digests_from_candidates(
    edition: Edition, day: date, chosen: Sequence[Candidate], sources: Mapping[str, Source], theme_titles: Mapping[str, str], intro: str = "",
) -> list[Digest]:
    """The automatic digests: the chosen candidates under their headings."""
    sections: dict[str, list[DigestItem]] = {}
    for c in chosen:
        sections.setdefault(c.section, []).append(digest_item(c, sources, timezone=edition.timezone))
    ordered = [(h, tuple(sections[h])) for h in sorted(sections, key=lambda h: section_order(edition, h, theme_titles))]
    return _posts(edition, day, ordered, intro, approved=False)


def digests_from_review(
    edition: Edition,
    day: date,
    review: Review,
    ranked: Sequence[Candidate],
    store: Store,
    sources: Mapping[str, Source],
) -> list[Digest]:
    """The editor's digests: ticked entries in the editor's order, with the editor's blurbs."""
    from .review import selected

    by_id = {c.cluster.id: c for c in ranked}
    for c in ranked:
        for member in c.cluster.items:
            by_id.setdefault(member.id, c)
    missing = [e.id for _, entries in selected(review) for e in entries if e.id and e.id not in by_id]
    stored = {i.id: i for i in store.get_items(ids=missing)} if missing else {}
    pasted = [canonical_url(e.url) for _, entries in selected(review) for e in entries if not e.id]
    by_url = {i.url: i for i in store.get_items(urls=pasted)} if pasted else {}
    ordered = []
    for heading, entries in selected(review):
        printed = []
        for e in entries:
            if e.id in by_id:
                printed.append(digest_item(by_id[e.id], sources, blurb=e.blurb, timezone=edition.timezone))
            elif e.id in stored:
                printed.append(digest_item(stored[e.id], sources, blurb=e.blurb, timezone=edition.timezone))
            elif not e.id:
                item = by_url.get(canonical_url(e.url))
                if item is not None:
                    printed.append(digest_item(item, sources, blurb=e.blurb or None, timezone=edition.timezone))
                else:
                    host = re.sub(r"^www\.", "", canonical_url(e.url).split("/")[2]) if "://" in e.url else e.url
                    printed.append(DigestItem(id="", title=e.title or e.url, url=e.url, outlet=e.outlet or host, blurb=e.blurb))
        if printed:
            ordered.append((heading, tuple(printed)))
    return _posts(edition, day, ordered, review.intro, approved=review.approved)


def _posts(edition: Edition, day: date, ordered: Iterable[tuple[str, tuple[DigestItem, ...]]], intro: str, approved: bool) -> list[Digest]:
    ordered = list(ordered)
    if edition.group_by == "theme":
        return [
            Digest(
                edition=edition.slug, slug=f"{edition.slug}/{_slugify(heading)}", title=edition_title(edition, day, theme=heading),
                date=day.isoformat(), layout=edition.layout, language=edition.language, intro=intro,
                sections=(DigestSection(heading, items),), approved=approved,
            )
            for heading, items in ordered
        ]
    return [
        Digest(
            edition=edition.slug, slug=edition.slug, title=edition_title(edition, day), date=day.isoformat(),
            layout=edition.layout, language=edition.language, intro=intro,
            sections=tuple(DigestSection(h, items) for h, items in ordered), approved=approved,
        )
    ]


def _slugify(text: str) -> str:
    from .folding import fold_text

    return "-".join(fold_text(text).split()) or "section"


def with_blurb(candidate: Candidate, blurb: str) -> Candidate:
    return replace(candidate, blurb=blurb)
