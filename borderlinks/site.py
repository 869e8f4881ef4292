"""The web archive: a static site of every digest, its themes and countries, and Atom feeds.

:func:`site_files` computes every page in memory from the digests (pure);
:func:`write_site` then writes them atomically under ``out/site/``::

    index.html                      every post, newest first; editions, themes, countries
    latest.html                     the newest post in full, and the latest of each edition
    atom.xml                        the whole site
    site.css
    <edition>/index.html            one edition's posts, newest first
    <edition>/atom.xml              one edition's feed
    <slug>/<date>.html, .json       one post, and its structured digest
    themes/<theme>.html             a theme's items across dates
    countries/<country>.html        a country's items across dates

Links between pages are relative, so the site works opened from disk as
well as served; feeds and canonical links use ``site_url``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path, PurePosixPath
from typing import Any

import jinja2
from feedgen.feed import FeedGenerator

from .errors import TemplateError
from .model import Digest, DigestItem
from .render import (
    digest_to_json,
    format_date,
    labels,
    post_path,
    render_template,
    site_root,
    slug_parts,
    slugify,
    write_files,
)

FEED_LIMIT = 50
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class Post:
    """A digest placed in the site: its page, and its neighbours in the same series."""

    digest: Digest
    path: str  # "daily-border-links/2024-02-23.html"
    edition_path: str  # "daily-border-links/index.html"
    newer: str = ""
    older: str = ""

    @property
    def json_path(self) -> str:
        return self.path.removesuffix(".html") + ".json"


@dataclass
class Mention:
    """An item as a theme or country page lists it, with every post that printed it."""

    item: DigestItem
    layout: str
    language: str
    posts: list[Post] = field(default_factory=list)


@dataclass(frozen=True)
class Topic:
    """A theme or a country: its name, its page, and its items grouped by date, newest first."""

    kind: str  # "theme" or "country"
    key: str
    name: str
    path: str
    days: tuple[tuple[str, tuple[Mention, ...]], ...]

    @property
    def count(self) -> int:
        return sum(len(mentions) for _, mentions in self.days)


def humanize(slug: str) -> str:
    """A title for a slug nobody named: "border-enforcement" → "Border enforcement"."""
    words = slug.replace("-", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def newest_first(digests: Sequence[Digest]) -> list[Digest]:
    """Newest date first; on the same date, the order given (the editions' order)."""
    order = sorted(enumerate(digests), key=lambda pair: (pair[1].date, -pair[0]), reverse=True)
    return [d for _, d in order]


def place_posts(digests: Sequence[Digest]) -> list[Post]:
    """Every digest as a post, newest first, linked to its newer and older neighbours of the same slug."""
    by_path: dict[str, Digest] = {}
    for digest in newest_first(digests):
        by_path.setdefault(f"{post_path(digest)}.html", digest)  # a repeated slug and date: the first wins
    series: dict[str, list[str]] = {}
    for path, digest in by_path.items():
        series.setdefault("/".join(slug_parts(digest.slug)), []).append(path)
    posts = []
    for path, digest in by_path.items():
        paths = series["/".join(slug_parts(digest.slug))]
        at = paths.index(path)
        posts.append(
            Post(
                digest,
                path,
                f"{slug_parts(digest.edition)[0]}/index.html",
                newer=paths[at - 1] if at > 0 else "",
                older=paths[at + 1] if at + 1 < len(paths) else "",
            )
        )
    return posts


def topics(posts: Sequence[Post], kind: str, names: Mapping[str, str]) -> list[Topic]:
    """Every theme (``kind="theme"``) or country of the items, each with its items by date."""
    found: dict[str, dict[str, Mention]] = {}
    first_date: dict[tuple[str, str], str] = {}
    for post in posts:  # newest first, so an item is dated by its newest post
        for item in post.digest.items:
            for key in item.themes if kind == "theme" else item.countries:
                mentions = found.setdefault(key, {})
                ident = item.id or item.url
                if ident not in mentions:
                    mentions[ident] = Mention(item, post.digest.layout, post.digest.language)
                    first_date[(key, ident)] = post.digest.date
                if post not in mentions[ident].posts:
                    mentions[ident].posts.append(post)
    result = []
    folder = "themes" if kind == "theme" else "countries"
    taken: set[str] = set()
    for key in sorted(found, key=lambda k: slugify(names.get(k, humanize(k) if kind == "theme" else k))):
        days: dict[str, list[Mention]] = {}
        for ident, mention in found[key].items():
            days.setdefault(first_date[(key, ident)], []).append(mention)
        name = names.get(key, humanize(key) if kind == "theme" else key)
        ordered = tuple((day, tuple(days[day])) for day in sorted(days, reverse=True))
        slug, n = slugify(key), 1
        while slug in taken:  # "México" and "Mexico" fold alike; keep both pages
            n += 1
            slug = f"{slugify(key)}-{n}"
        taken.add(slug)
        result.append(Topic(kind, key, name, f"{folder}/{slug}.html", ordered))
    return result


def relative_root(path: str) -> str:
    """The way back to the site root from a page: "" at the top, "../" one folder down."""
    return "../" * (len(PurePosixPath(path).parts) - 1)


def post_time(digest: Digest) -> datetime:
    """A post's time for feeds: midnight UTC of its date, so a rebuild gives the same feed."""
    return datetime.combine(datetime.fromisoformat(digest.date).date(), time(0), UTC)


def site_files(
    digests: Sequence[Digest],
    env: jinja2.Environment,
    *,
    site_url: str,
    site_title: str,
    language: str = "en",
    theme_titles: Mapping[str, str] | None = None,
    edition_titles: Mapping[str, str] | None = None,
) -> dict[str, str | bytes]:
    """Every file of the site, relative to its root, computed before anything is written."""
    site_url = site_root(site_url)
    posts = place_posts(digests)
    themes = topics(posts, "theme", theme_titles or {})
    countries = topics(posts, "country", {})
    editions = _editions(digests, edition_titles or {})
    common = {
        "site_title": site_title,
        "site_url": site_url,
        "editions": editions,
        "themes": themes,
        "countries": countries,
        "posts": posts,
        "language": language,
        "t": labels(language),
    }
    files: dict[str, str | bytes] = {}

    def page(path: str, names: str | list[str], **context: Any) -> None:
        merged = {**common, **context}
        files[path] = render_template(env, names, path=path, root=relative_root(path), **merged)

    def post_context(post: Post) -> dict[str, Any]:
        digest = post.digest
        return {
            "post": post,
            "digest": digest,
            "layout": digest.layout,
            "language": digest.language,
            "t": labels(digest.language),
            "date_text": format_date(digest.date, digest.language),
        }

    page("index.html", "index.html", days=_by_day(posts, language), edition=None)
    for edition in editions:
        chosen = [p for p in posts if p.edition_path == edition["path"]]
        page(edition["path"], "index.html", days=_by_day(chosen, language), edition=edition)
        files[edition["feed"]] = atom_feed(
            chosen,
            env,
            site_url=site_url,
            feed_path=edition["feed"],
            alternate_path=edition["path"],
            title=f"{edition['name']} · {site_title}",
            author=site_title,
            language=language,
        )
    for post in posts:
        page(post.path, [f"edition-{post.digest.layout}.html", "edition.html"], **post_context(post))
        files[post.json_path] = json.dumps(digest_to_json(post.digest), ensure_ascii=False, indent=2) + "\n"
    for topic in (*themes, *countries):
        page(topic.path, f"{topic.kind}.html", topic=topic)
    if posts:
        latest = {edition["path"]: next(p for p in posts if p.edition_path == edition["path"]) for edition in editions}
        page("latest.html", "latest.html", latest=list(latest.values()), **post_context(posts[0]))
    else:
        page("latest.html", "index.html", days=[], edition=None)
    files["atom.xml"] = atom_feed(
        posts,
        env,
        site_url=site_url,
        feed_path="atom.xml",
        alternate_path="index.html",
        title=site_title,
        author=site_title,
        language=language,
    )
    files["site.css"] = _source(env, "site.css")
    return files


def write_site(
    digests: Sequence[Digest],
    out: Path,
    env: jinja2.Environment,
    *,
    site_url: str,
    site_title: str,
    language: str = "en",
    theme_titles: Mapping[str, str] | None = None,
    edition_titles: Mapping[str, str] | None = None,
) -> list[Path]:
    """Render the whole archive, then write it under ``out/site/``; returns the files written."""
    files = site_files(
        digests,
        env,
        site_url=site_url,
        site_title=site_title,
        language=language,
        theme_titles=theme_titles,
        edition_titles=edition_titles,
    )
    return write_files(out / "site", files)


def _editions(digests: Sequence[Digest], titles: Mapping[str, str]) -> list[dict[str, str]]:
    """Each edition once, in the order the digests came (the editions file's order, as the build passes them)."""
    seen: dict[str, dict[str, str]] = {}
    for digest in digests:
        folder = slug_parts(digest.edition)[0]
        if folder not in seen:
            name = titles.get(digest.edition, humanize(digest.edition))
            seen[folder] = {
                "key": digest.edition,
                "name": name,
                "path": f"{folder}/index.html",
                "feed": f"{folder}/atom.xml",
            }
    return list(seen.values())


def _by_day(posts: Sequence[Post], language: str) -> list[tuple[str, list[Post]]]:
    days: dict[str, list[Post]] = {}
    for post in posts:
        days.setdefault(post.digest.date, []).append(post)
    return [(format_date(day, language), day_posts) for day, day_posts in days.items()]


def _source(env: jinja2.Environment, name: str) -> str:
    """A file served as it is (the stylesheet), from the home folder or the packaged templates."""
    try:
        source, _, _ = env.loader.get_source(env, name) if env.loader else ("", None, None)
    except jinja2.TemplateNotFound as e:
        raise TemplateError(name, "not found; add it to your templates/ folder") from e
    return source


def xml_safe(text: str) -> str:
    """Drop the control characters XML 1.0 forbids, which a feed's text may carry."""
    return _NOT_XML.sub("", text)


def atom_feed(
    posts: Sequence[Post],
    env: jinja2.Environment,
    *,
    site_url: str,
    feed_path: str,
    alternate_path: str,
    title: str,
    author: str,
    language: str = "en",
) -> bytes:
    """An Atom feed of the newest posts, each entry carrying the post's full HTML."""
    feed = FeedGenerator()
    feed.id(site_url + feed_path)
    feed.title(xml_safe(title))
    feed.author({"name": xml_safe(author)})
    feed.link(href=site_url + alternate_path, rel="alternate", type="text/html")
    feed.link(href=site_url + feed_path, rel="self", type="application/atom+xml")
    feed.language(language)
    feed.generator("borderlinks")
    shown = list(posts[:FEED_LIMIT])
    feed.updated(max((post_time(p.digest) for p in shown), default=datetime(2000, 1, 1, tzinfo=UTC)))
    for post in shown:
        digest = post.digest
        url = site_url + post.path
        content = render_template(
            env,
            "atom-entry.html",
            digest=digest,
            layout=digest.layout,
            language=digest.language,
            t=labels(digest.language),
            post_url=url,
        )
        entry = feed.add_entry(order="append")
        entry.id(url)
        entry.title(xml_safe(digest.title))
        entry.link(href=url, rel="alternate", type="text/html")
        entry.published(post_time(digest))
        entry.updated(post_time(digest))
        entry.content(xml_safe(content), type="html")
    return feed.atom_str(pretty=True)
