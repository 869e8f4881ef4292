"""Rendering with Jinja2: autoescaped templates, overridable per file.

A template in the home folder's ``templates/`` wins over the packaged one of
the same name, and can ``{% extends "default:NAME" %}`` the packaged one to
override a single block. Everything here is pure (digest in, text out) except
:func:`write_email` and :func:`write_files`, which write atomically at the end.

The email templates are ``email-<layout>.html`` when one exists, else
``email.html``; both use the macros of ``_macros.html``, as the web archive
(:mod:`borderlinks.site`) does. A sent message carries the literal token
:data:`UNSUBSCRIBE_PLACEHOLDER` where each subscriber's unsubscribe link goes;
:func:`fill_unsubscribe` puts it in at send time.
"""

from __future__ import annotations

import dataclasses
import html
import os
import re
import tempfile
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import babel.dates
import css_inline
import jinja2

from .config import Home, packaged_defaults
from .errors import TemplateError
from .folding import fold_text
from .model import Digest, DigestItem, DigestSection
from .text import is_web_url

UNSUBSCRIBE_PLACEHOLDER = "%%UNSUBSCRIBE_URL%%"
TEXT_WIDTH = 72
EMAIL_WIDTH = 600
JSON_VERSION = 1

# The few words the templates print themselves, in each edition language.
LABELS: dict[str, dict[str, str]] = {
    "en": {
        "also": "also",
        "link": "link",
        "links": "links",
        "view_online": "Read this post on the web",
        "archive": "Archive",
        "unsubscribe": "Unsubscribe",
        "why": "You receive this email because you subscribed to these links.",
        "editions": "Editions",
        "latest": "Latest",
        "themes": "Themes",
        "countries": "Countries",
        "feed": "Atom feed",
        "data": "JSON data",
        "newer": "Newer",
        "older": "Older",
        "appeared_in": "In",
        "latest_by_edition": "Latest of each edition",
        "all_posts": "All posts",
        "theme": "Theme",
        "country": "Country",
        "skip": "Skip to content",
    },
    "es": {
        "also": "también",
        "link": "enlace",
        "links": "enlaces",
        "view_online": "Leer esta entrada en la web",
        "archive": "Archivo",
        "unsubscribe": "Darse de baja",
        "why": "Recibe este correo porque se suscribió a estos enlaces.",
        "editions": "Ediciones",
        "latest": "Lo último",
        "themes": "Temas",
        "countries": "Países",
        "feed": "Feed Atom",
        "data": "Datos JSON",
        "newer": "Más reciente",
        "older": "Anterior",
        "appeared_in": "En",
        "latest_by_edition": "Lo último de cada edición",
        "all_posts": "Todas las entradas",
        "theme": "Tema",
        "country": "País",
        "skip": "Saltar al contenido",
    },
    "pt": {
        "also": "também",
        "link": "link",
        "links": "links",
        "view_online": "Ler esta publicação na web",
        "archive": "Arquivo",
        "unsubscribe": "Cancelar inscrição",
        "why": "Você recebe este e-mail porque se inscreveu nestes links.",
        "editions": "Edições",
        "latest": "Mais recente",
        "themes": "Temas",
        "countries": "Países",
        "feed": "Feed Atom",
        "data": "Dados JSON",
        "newer": "Mais recente",
        "older": "Anterior",
        "appeared_in": "Em",
        "latest_by_edition": "O mais recente de cada edição",
        "all_posts": "Todas as publicações",
        "theme": "Tema",
        "country": "País",
        "skip": "Pular para o conteúdo",
    },
}


def labels(language: str) -> dict[str, str]:
    return LABELS.get(language, LABELS["en"])


def count_links(count: int, t: Mapping[str, str]) -> str:
    """ "1 link", "45 links" in the labels' language."""
    return f"{count} {t['link'] if count == 1 else t['links']}"


# -- the environment -------------------------------------------------------------


def make_environment(home: Home) -> jinja2.Environment:
    """The Jinja environment for a home folder: its templates first, then the packaged ones."""
    own = home.root / "templates"
    packaged = packaged_defaults() / "templates"
    loaders: list[jinja2.BaseLoader] = []
    if own.is_dir() and own.resolve() != packaged.resolve():
        loaders.append(jinja2.FileSystemLoader(str(own)))
    loaders.append(jinja2.FileSystemLoader(str(packaged)))
    loader = jinja2.PrefixLoader({"default": jinja2.FileSystemLoader(str(packaged))}, delimiter=":")
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([*loaders, loader]),
        # Everything is escaped but plain text and stylesheets, which no browser parses as HTML.
        autoescape=jinja2.select_autoescape(disabled_extensions=("txt", "css"), default_for_string=True, default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["safe_url"] = safe_url
    env.filters["datefmt"] = lambda value, fmt="%Y-%m-%d %H:%M": (
        value.strftime(fmt) if isinstance(value, datetime) else ""
    )
    env.filters["date"] = format_date
    env.filters["wrap"] = wrap_text
    env.filters["slugify"] = slugify
    env.globals["long_read_parts"] = long_read_parts
    env.globals["short_date"] = short_date
    env.globals["count_links"] = count_links
    return env


# Characters a printed link must not carry as they are: a line break in the text email would start a
# line of the feed's choosing (urlsplit drops CR, LF and tab before parsing, so is_web_url accepts them).
_NOT_IN_LINK = re.compile(r"[\x00-\x20\x7f-\x9f\s]")


def web_link(url: str) -> str:
    """A link from a feed as we print it: plain http(s), blanks and controls percent-encoded; else ""."""
    if not is_web_url(url):
        return ""
    return _NOT_IN_LINK.sub(lambda m: quote(m[0], safe=""), url.strip())


def safe_url(url: str) -> str:
    """A link from a feed, or ``#`` if it is not plain http(s): no ``javascript:`` ever reaches a page."""
    return web_link(url) or "#"


def without_placeholder(value: Any) -> Any:
    """Feed text (a string, or a digest and everything in it) with :data:`UNSUBSCRIBE_PLACEHOLDER` taken out.

    Only the templates may place a subscriber's unsubscribe link: a feed link
    carrying the placeholder would hand each reader's secret token to its site.
    """
    if isinstance(value, str):
        while UNSUBSCRIBE_PLACEHOLDER in value:  # "%%UNSUB%%UNSUBSCRIBE_URL%%SCRIBE_URL%%" hides a second one
            value = value.replace(UNSUBSCRIBE_PLACEHOLDER, "")
        return value
    if isinstance(value, tuple):
        return tuple(without_placeholder(part) for part in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: without_placeholder(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    return value


def render_template(env: jinja2.Environment, name: str | Sequence[str], **context: Any) -> str:
    """Render one template (the first that exists of several); a missing or broken one becomes a TemplateError."""
    names = [name] if isinstance(name, str) else list(name)
    shown = " or ".join(names)
    try:
        return env.select_template(names).render(**context)
    except jinja2.TemplateNotFound as e:
        searched = [getattr(loader, "searchpath", []) for loader in getattr(env.loader, "loaders", [])]
        paths = ", ".join(str(p) for group in searched for p in group)
        if [str(t) for t in e.templates] == names:
            raise TemplateError(shown, f"not found (searched {paths}); add it to your templates/ folder") from e
        missing = " or ".join(str(t) for t in e.templates)
        raise TemplateError(
            shown,
            f"uses {missing}, which is not found (searched {paths}); add it to your templates/ folder or fix the name",
        ) from e
    except jinja2.TemplateSyntaxError as e:
        raise TemplateError(shown, f"{e.filename or e.name or shown}:{e.lineno}: {e.message}") from e
    except jinja2.UndefinedError as e:
        raise TemplateError(shown, f"uses an unknown variable: {e.message}") from e


# -- dates, slugs and the long-read citation -------------------------------------------


def _as_date(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(value)


def format_date(value: date | datetime | str | None, language: str = "en", format: str = "full") -> str:
    """A date in the reader's language: "Friday, March 21, 2025", "viernes, 21 de marzo de 2025".

    ``format`` is a babel format ("full", "long", "medium", "short") or a
    pattern such as "MMMM y"; a datetime prints as its own calendar date.
    """
    if value is None or value == "":
        return ""
    return babel.dates.format_date(_as_date(value), format=format, locale=language or "en")


def short_date(value: date | datetime | str | None, language: str = "en") -> str:
    """Month and day without the year, as a monthly roundup dates its items: "March 3", "3 de marzo"."""
    if value is None or value == "":
        return ""
    return babel.dates.format_skeleton("MMMMd", _as_date(value), locale=language or "en")


def slugify(text: str) -> str:
    """A file-name-safe slug: folded, ASCII, words joined by hyphens ("México" → "mexico")."""
    return "-".join(fold_text(text).split()) or "untitled"


def long_read_parts(item: DigestItem, language: str = "en") -> tuple[str, str, str]:
    """The three parts of a long-read citation: "Author, ", the title, " (Outlet (Country), date)."

    Templates link the middle part; :func:`long_read_line` joins them.
    """
    lead = f"{item.author}, " if item.author.strip() else ""
    outlet = item.outlet.strip()
    if item.outlet_country.strip():
        outlet = f"{outlet} ({item.outlet_country.strip()})"
    when = format_date(item.published, language)
    inside = ", ".join(part for part in (outlet, when) if part)
    tail = f" ({inside})." if inside else "."
    return lead, item.title.strip(), tail


def long_read_line(item: DigestItem, language: str = "en") -> str:
    """Isacson's long-read line: ``Author, Title (Outlet (Country), Weekday, Month D, YYYY).``

    Without an author it starts with the title; without the outlet's country
    it reads ``(Outlet, Weekday, ...)``. The date is the published datetime's
    own calendar date.
    """
    return "".join(long_read_parts(item, language))


def slug_parts(slug: str) -> list[str]:
    """A digest slug as safe path segments: "monthly-roundups/Colombia Peace" → ["monthly-roundups", "colombia-peace"]."""
    parts = [slugify(part) for part in slug.split("/") if part.strip() and part.strip() not in (".", "..")]
    return parts or ["untitled"]


def post_path(digest: Digest) -> PurePosixPath:
    """Where a post lives, without extension, relative to the site or email root: ``<slug>/<date>``."""
    return PurePosixPath(*slug_parts(digest.slug), _as_date(digest.date).isoformat())


def post_url(digest: Digest, site_url: str) -> str:
    return site_root(site_url) + f"{post_path(digest)}.html"


def site_root(site_url: str) -> str:
    return site_url if site_url.endswith("/") else site_url + "/"


# -- the HTML email -----------------------------------------------------------------


def email_context(digest: Digest, *, site_url: str, archive_url: str | None = None) -> dict[str, Any]:
    """What every email template sees, HTML or text."""
    return {
        "digest": digest,
        "layout": digest.layout,
        "language": digest.language,
        "t": labels(digest.language),
        "date_text": format_date(digest.date, digest.language),
        "item_count": len(digest.items),
        "post_url": post_url(digest, site_url),
        "archive_url": archive_url or site_root(site_url) + "index.html",
        "unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER,
        "preheader": preheader(digest),
    }


def preheader(digest: Digest, limit: int = 150) -> str:
    """The line an inbox shows after the subject: the intro, else the first headlines."""
    text = plain(digest.intro or "; ".join(item.title for item in digest.items[:4]))
    if len(text) > limit:
        text = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:") + "…"
    return text


def email_templates(digest: Digest, extension: str) -> list[str]:
    return [f"email-{digest.layout}.{extension}", f"email.{extension}"]


_inliner = css_inline.CSSInliner(
    keep_style_tags=False,  # the stylesheet goes into style attributes...
    keep_at_rules=True,  # ...but @media rules (dark mode, small screens) cannot, and stay in the head
    keep_link_tags=False,
    load_remote_stylesheets=False,
)


def render_email_html(digest: Digest, env: jinja2.Environment, *, site_url: str, archive_url: str | None = None) -> str:
    """One self-contained HTML message: table layout, CSS inlined, no external resources.

    Only the ``@media`` rules for dark mode and small screens stay in a
    ``<style>`` in the head, since they cannot be inlined; a client that drops
    them still shows the inlined light design.
    """
    digest = without_placeholder(digest)
    names = email_templates(digest, "html")
    page = render_template(env, names, **email_context(digest, site_url=site_url, archive_url=archive_url))
    try:
        inlined = _inliner.inline(page)
    except (css_inline.InlineError, ValueError) as e:
        raise TemplateError(" or ".join(names), f"its CSS could not be inlined: {e}") from e
    return _media_rules_last(inlined)


_HEAD_STYLE = re.compile(r"(<head[^>]*>)\s*(<style>.*?</style>)(.*?)(</head>)", re.S | re.I)


def _media_rules_last(page: str) -> str:
    """The inliner puts the kept @media rules first in the head; the charset and title belong there."""
    return _HEAD_STYLE.sub(lambda m: f"{m[1]}{m[3].rstrip()}\n{m[2]}\n{m[4]}", page, count=1)


def fill_unsubscribe(message: str, url: str, *, is_html: bool) -> str:
    """Put one subscriber's unsubscribe link where the placeholder is, at send time."""
    if not is_web_url(url) and not url.startswith("mailto:"):
        raise ValueError(f"not an unsubscribe link: {url!r}")
    return message.replace(UNSUBSCRIBE_PLACEHOLDER, html.escape(url, quote=True) if is_html else url)


# -- the plain-text email -----------------------------------------------------------


@dataclass(frozen=True)
class TextEntry:
    """One item of the text email: paragraphs to wrap, the first after ``marker``."""

    marker: str
    paragraphs: tuple[str, ...]

    @property
    def indent(self) -> str:
        return " " * len(self.marker)


@dataclass(frozen=True)
class TextSection:
    """A section of the text email, its links numbered and listed at its end."""

    heading: str
    entries: tuple[TextEntry, ...]
    references: tuple[tuple[int, str], ...]


# A complete entity, as text.clean_text decodes them: html.unescape alone also reads "&para" in
# "Fondos&para migrantes" as "¶", which the HTML email (and the store) leave as they are.
_ENTITY = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")


def _decode(text: str) -> str:
    return _ENTITY.sub(lambda m: html.unescape(m[0]), text) if "&" in text else text


def plain(text: str) -> str:
    """Feed text for a plain-text message: entities a feed left in decoded (twice at most), whitespace folded.

    Decoding can spell out the unsubscribe placeholder (``&#37;&#37;...``): it is taken out again.
    """
    return without_placeholder(" ".join(_decode(_decode(text or "")).split()))


def wrap_text(text: str, width: int = TEXT_WIDTH, initial_indent: str = "", subsequent_indent: str = "") -> str:
    """Wrap a paragraph at ``width`` columns, never breaking inside a hyphenated word."""
    wrapper = textwrap.TextWrapper(
        width=width,
        initial_indent=initial_indent,
        subsequent_indent=subsequent_indent,
        break_on_hyphens=False,
        break_long_words=True,
    )
    return "\n".join(wrapper.wrap(plain(text))) or initial_indent.rstrip()


def text_sections(digest: Digest) -> list[TextSection]:
    """The digest as text entries with numbered references, numbered through the whole message."""
    number = 0
    result = []

    def ref(url: str, refs: list[tuple[int, str]]) -> str:
        nonlocal number
        link = web_link(url)
        if not link:
            return ""
        number += 1
        refs.append((number, link))
        return f" [{number}]"

    for section in digest.sections:
        refs: list[tuple[int, str]] = []
        entries = []
        for position, item in enumerate(section.items, 1):
            entries.append(_text_entry(item, digest, position, lambda url, refs=refs: ref(url, refs)))
        result.append(TextSection(plain(section.heading), tuple(entries), tuple(refs)))
    return result


def _text_entry(item: DigestItem, digest: Digest, position: int, ref: Any) -> TextEntry:
    language = digest.language
    if digest.layout == "long-reads":
        line = plain(long_read_line(item, language)) + ref(item.url)
        return TextEntry(f"{position}. ", (line, *([plain(item.blurb)] if item.blurb else [])))
    outlet = plain(item.outlet)
    if digest.layout == "roundup" and item.published:
        outlet = f"{outlet}, {short_date(item.published, language)}"
    head = f"{plain(item.title)} ({outlet}){ref(item.url)}"
    paragraphs = [head]
    if item.blurb:
        paragraphs.append(plain(item.blurb))
    if item.also:
        also = ", ".join(f"{plain(name)}{ref(url)}" for name, url in item.also)
        paragraphs.append(f"{labels(language)['also'].capitalize()}: {also}")
    return TextEntry("* ", tuple(paragraphs))


# A line that cannot be wrapped: one URL, or a numbered reference to one.
_UNBREAKABLE = re.compile(r"^\s*(?:\[\d+\] )?\S+$")


def render_email_text(digest: Digest, env: jinja2.Environment, *, site_url: str, archive_url: str | None = None) -> str:
    """The plain-text message: the same content wrapped at 72 columns, links as numbered references."""
    digest = without_placeholder(digest)
    context = email_context(digest, site_url=site_url, archive_url=archive_url)
    context.update(
        sections=text_sections(digest), width=TEXT_WIDTH, title=plain(digest.title), intro=plain(digest.intro)
    )
    text = render_template(env, email_templates(digest, "txt"), **context)
    return enforce_width(text, TEXT_WIDTH)


def enforce_width(text: str, width: int = TEXT_WIDTH) -> str:
    """Rewrap any line a template left too long (a URL reference may stay long); tidy blank lines."""
    lines: list[str] = []
    for line in text.splitlines():
        line = line.rstrip()
        if len(line) > width and not _UNBREAKABLE.match(line):
            indent = line[: len(line) - len(line.lstrip())]
            lines.extend(
                textwrap.wrap(
                    line.strip(),
                    width,
                    initial_indent=indent,
                    subsequent_indent=indent,
                    break_on_hyphens=False,
                    break_long_words=True,
                )
            )
        else:
            lines.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n") + "\n"


# -- structured data ---------------------------------------------------------------


def digest_to_json(digest: Digest) -> dict[str, Any]:
    """The structured digest for other tools; links that are not http(s) become ""."""

    def item(i: DigestItem) -> dict[str, Any]:
        return {
            "id": i.id,
            "title": i.title,
            "url": web_link(i.url),
            "outlet": i.outlet,
            "blurb": i.blurb,
            "also": [{"outlet": name, "url": web_link(url)} for name, url in i.also],
            "author": i.author,
            "published": i.published.isoformat() if i.published else None,
            "outlet_country": i.outlet_country,
            "language": i.language,
            "themes": list(i.themes),
            "countries": list(i.countries),
        }

    return {
        "version": JSON_VERSION,
        "edition": digest.edition,
        "slug": digest.slug,
        "title": digest.title,
        "date": digest.date,
        "layout": digest.layout,
        "language": digest.language,
        "intro": digest.intro,
        "approved": digest.approved,
        "sections": [{"heading": s.heading, "items": [item(i) for i in s.items]} for s in digest.sections],
    }


def digest_from_json(data: Mapping[str, Any]) -> Digest:
    """The inverse of :func:`digest_to_json`, for tools that read the archive back."""

    def item(d: Mapping[str, Any]) -> DigestItem:
        return DigestItem(
            id=d["id"],
            title=d["title"],
            url=d["url"],
            outlet=d["outlet"],
            blurb=d.get("blurb", ""),
            also=tuple((a["outlet"], a["url"]) for a in d.get("also", [])),
            author=d.get("author", ""),
            published=datetime.fromisoformat(d["published"]) if d.get("published") else None,
            outlet_country=d.get("outlet_country", ""),
            language=d.get("language", "en"),
            themes=tuple(d.get("themes", [])),
            countries=tuple(d.get("countries", [])),
        )

    return Digest(
        edition=data["edition"],
        slug=data["slug"],
        title=data["title"],
        date=data["date"],
        layout=data["layout"],
        language=data.get("language", "en"),
        intro=data.get("intro", ""),
        approved=data.get("approved", False),
        sections=tuple(DigestSection(s["heading"], tuple(item(i) for i in s["items"])) for s in data["sections"]),
    )


# -- writing ---------------------------------------------------------------------------


def email_files(
    digest: Digest, env: jinja2.Environment, *, site_url: str, archive_url: str | None = None
) -> dict[str, str]:
    """The email's files, relative to the email folder: ``<slug>/<date>.html`` and ``.txt``."""
    base = str(post_path(digest))
    return {
        f"{base}.html": render_email_html(digest, env, site_url=site_url, archive_url=archive_url),
        f"{base}.txt": render_email_text(digest, env, site_url=site_url, archive_url=archive_url),
    }


def write_email(
    digest: Digest, out: Path, env: jinja2.Environment, *, site_url: str, archive_url: str | None = None
) -> list[Path]:
    """Write ``out/email/<edition-slug>/<date>.html`` and ``.txt``; both are rendered before either is written."""
    files = email_files(digest, env, site_url=site_url, archive_url=archive_url)
    return write_files(out / "email", files)


def write_files(folder: Path, files: Mapping[str, str | bytes]) -> list[Path]:
    """Write every file under ``folder`` atomically (a temporary file, then ``os.replace``)."""
    written = []
    root = folder.resolve()
    for relative, content in files.items():
        path = (root / relative).resolve()
        if root not in path.parents:
            raise ValueError(f"refusing to write outside {root}: {relative}")
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode("utf-8") if isinstance(content, str) else content
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        written.append(path)
    return written
