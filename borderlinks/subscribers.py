"""The mailing list: ``subscribers.csv`` imported into the store, single addresses, unsubscribing.

The operator keeps the list in a spreadsheet saved as ``subscribers.csv`` in
the home folder, one row per address::

    email,name,editions,themes,language,status
    ana@example.org,Ana Pérez,daily-border-links;security-news,darien;asylum,es,active
    bob@example.org,Bob,,,en,active

Several editions or themes in one cell are separated by ``;``; an empty
editions cell means every edition, an empty themes cell every theme. Status is
``active`` or ``unsubscribed`` (empty: active). A bad row is reported with its
line and the others are imported.

The store is the truth for sending. Importing adds and updates addresses and
never deletes one; it never makes active again someone who unsubscribed
with their link (only ``borderlinks subscribers add`` does, on the operator's
word). Each subscriber gets a random, secret unsubscribe token when added.
"""

from __future__ import annotations

import csv
import html
import io
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email

from .config import Home
from .errors import ConfigError, ConfigErrors
from .model import LANGUAGES, SUBSCRIBER_STATUSES, Subscriber
from .store import Store, subscribers, utc_text
from .tomlfile import nearest

SUBSCRIBERS_FILE = "subscribers.csv"
COLUMNS = ("email", "name", "editions", "themes", "language", "status")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def normalise_email(text: str) -> str:
    """An address checked for syntax and written the one way the list keeps it.

    The domain is lower-cased and written in ASCII (IDNA); an address whose
    local part is not ASCII is refused, since not every server takes it. No DNS
    lookup: that belongs to the mail server. Raises ``ValueError`` saying why.
    """
    try:
        checked = validate_email(text.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as e:
        raise ValueError(str(e)) from e
    return checked.ascii_email or checked.normalized


def new_token() -> str:
    """A secret unsubscribe token: 32 URL-safe characters, 192 random bits."""
    return secrets.token_urlsafe(24)


def split_cell(cell: str | None) -> tuple[str, ...]:
    """``"darien; asylum;"`` → ``("darien", "asylum")``: a ``;``-separated cell, trimmed, without empties or repeats."""
    seen: dict[str, None] = {}
    for part in (cell or "").split(";"):
        if part.strip():
            seen[part.strip().lower()] = None
    return tuple(seen)


# -- reading subscribers.csv (pure) ---------------------------------------------------------


@dataclass(frozen=True)
class Known:
    """The edition and theme slugs a subscriber may name; None: anything goes."""

    editions: frozenset[str] | None = None
    themes: frozenset[str] | None = None


def known_slugs(home: Home) -> Known:
    from .editions import load_editions
    from .themes import load_themes

    return Known(
        frozenset(e.slug for e in load_editions(home.content("scheduler"))),
        frozenset(t.slug for t in load_themes(home.content("classifiers"))),
    )


def check_subscriber(
    email: str, name: str = "", editions: Iterable[str] = (), themes: Iterable[str] = (), language: str = "",
    status: str = "active", known: Known = Known(),
) -> tuple[Subscriber | None, list[tuple[str, str, str | None]]]:
    """A subscriber from the operator's values, or the problems: (column, message, fix)."""
    problems: list[tuple[str, str, str | None]] = []
    address = ""
    try:
        address = normalise_email(email)
    except ValueError as e:
        shown = email.strip() or "(empty)"
        problems.append(("email", f"{shown!r} is not a valid address: {e}", None))
    editions, themes = tuple(editions), tuple(themes)
    for column, slugs, allowed in (("editions", editions, known.editions), ("themes", themes, known.themes)):
        for slug in slugs:
            if allowed is not None and slug not in allowed:
                guess = nearest(slug, sorted(allowed))
                fix = f"Did you mean '{guess}'?" if guess else "Known: " + ", ".join(sorted(allowed))
                problems.append((column, f"unknown {column[:-1]} '{slug}'", fix))
    language = language.strip().lower()
    if language and language not in LANGUAGES:
        problems.append(("language", f"language {language!r} is not one of {', '.join(LANGUAGES)}", "Leave it empty or write one of those"))
    status = (status.strip().lower() or "active")
    if status not in SUBSCRIBER_STATUSES:
        problems.append(("status", f"status {status!r} is not one of {', '.join(SUBSCRIBER_STATUSES)}", "Write active or unsubscribed"))
    if problems:
        return None, problems
    clean_name = " ".join(name.split())  # no line breaks: it goes into the To header
    return Subscriber(address, clean_name, editions, themes, language, status), []


def read_subscribers_csv(text: str, path: Path | str = SUBSCRIBERS_FILE, known: Known = Known()) -> tuple[list[tuple[int, Subscriber]], list[ConfigError]]:
    """The rows of a subscribers.csv, each with its line, and the mistakes of the bad ones.

    A header without ``email`` is one error and no rows. Columns may come in
    any order and all but ``email`` may be left out. Comma, semicolon or tab
    separated, as spreadsheets save them in different countries.
    """
    first = text.split("\n", 1)[0]
    delimiter = "," if "," in first else ";" if ";" in first else "\t" if "\t" in first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [cell.strip().lower() for cell in next(reader)]
    except StopIteration:
        return [], [ConfigError("the file is empty", path, 1, fix="Write the header: " + ",".join(COLUMNS))]
    if "email" not in header:
        return [], [ConfigError("the first line has no 'email' column", path, 1, "email", fix="Write the header: " + ",".join(COLUMNS))]
    errors: list[ConfigError] = []
    for column in header:
        if column not in COLUMNS:
            guess = nearest(column, COLUMNS)
            errors.append(ConfigError(f"unknown column '{column}', ignored", path, 1, column, fix=f"Did you mean '{guess}'?" if guess else "Columns: " + ",".join(COLUMNS)))
    rows: list[tuple[int, Subscriber]] = []
    first_line: dict[str, int] = {}
    line = reader.line_num
    for cells in reader:
        start, line = line + 1, reader.line_num
        if not any(cell.strip() for cell in cells) or cells[0].lstrip().startswith("#"):
            continue
        if len(cells) > len(header):
            errors.append(ConfigError(f"{len(cells)} cells for {len(header)} columns", path, start, fix="Quote a cell that holds a comma"))
            continue
        values = dict(zip(header, cells, strict=False))
        subscriber, problems = check_subscriber(
            values.get("email", ""), values.get("name", ""), split_cell(values.get("editions")), split_cell(values.get("themes")),
            values.get("language", ""), values.get("status", ""), known,
        )
        if subscriber is None:
            errors.extend(ConfigError(message, path, start, column, fix=fix) for column, message, fix in problems)
            continue
        if subscriber.key in first_line:
            errors.append(ConfigError(f"{subscriber.email} is already on line {first_line[subscriber.key]}", path, start, "email", fix="Keep one row per address"))
            continue
        first_line[subscriber.key] = start
        rows.append((start, subscriber))
    return rows, errors


# -- the store ----------------------------------------------------------------------------------


def _now() -> str:
    return utc_text(datetime.now(UTC))


def _from_row(row: Any) -> Subscriber:
    return Subscriber(
        email=row.email, name=row.name, editions=split_cell(row.editions), themes=split_cell(row.themes),
        language=row.language, status=row.status, token=row.token,
    )


def _values(subscriber: Subscriber) -> dict[str, str]:
    return {
        "email": subscriber.email, "name": subscriber.name, "editions": ";".join(subscriber.editions),
        "themes": ";".join(subscriber.themes), "language": subscriber.language,
    }


def list_subscribers(store: Store, *, status: str | None = None, edition: str | None = None) -> list[Subscriber]:
    """The list, by address; only one status, or only those who get an edition, when given."""
    query = sa.select(subscribers).order_by(subscribers.c.key)
    if status is not None:
        query = query.where(subscribers.c.status == status)
    with store.engine.connect() as conn:
        found = [_from_row(row) for row in conn.execute(query)]
    if edition is not None:
        found = [s for s in found if not s.editions or edition in s.editions]
    return found


def find_subscriber(store: Store, email: str) -> Subscriber | None:
    try:
        key = normalise_email(email).lower()
    except ValueError:
        key = email.strip().lower()
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(subscribers).where(subscribers.c.key == key)).first()
    return _from_row(row) if row else None


@dataclass(frozen=True)
class ImportResult:
    """What an import did; the bad rows are errors with their line, the good ones are in."""

    path: Path
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_unsubscribed: tuple[str, ...] = ()  # active in the file, but they unsubscribed with their link
    errors: tuple[ConfigError, ...] = ()


def import_subscribers(home: Home, store: Store, path: Path | None = None) -> ImportResult:
    """``borderlinks subscribers import``: add and update every good row of subscribers.csv.

    Addresses in the store but not in the file stay as they are. Editions and
    themes must exist in the home's scheduler/ and classifiers/.
    """
    path = Path(path) if path is not None else home.root / SUBSCRIBERS_FILE
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as e:
        raise ConfigError("no such file", path, fix=f"Save the list as {SUBSCRIBERS_FILE} in the home folder with the header " + ",".join(COLUMNS)) from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"not valid UTF-8 (byte {e.start})", path, fix="Save the spreadsheet as 'CSV UTF-8'") from e
    rows, errors = read_subscribers_csv(text, path, known_slugs(home))
    now = _now()
    added = updated = unchanged = 0
    kept: list[str] = []
    with store.engine.begin() as conn:
        existing = {row.key: row for row in conn.execute(sa.select(subscribers))}
        inserts: list[dict[str, Any]] = []
        for _line, subscriber in rows:
            row = existing.get(subscriber.key)
            if row is None:
                inserts.append(_insert_values(subscriber, now))
                added += 1
                continue
            values: dict[str, Any] = _values(subscriber)
            keep = subscriber.active and row.status != "active"
            if keep:
                kept.append(subscriber.email)
            elif not subscriber.active and row.status == "active":
                values.update(status="unsubscribed", unsubscribed_at=now)
            if all(getattr(row, key) == value for key, value in values.items()):
                unchanged += not keep
                continue
            conn.execute(subscribers.update().where(subscribers.c.key == subscriber.key).values(changed_at=now, **values))
            updated += 1
        if inserts:
            conn.execute(subscribers.insert(), inserts)
    return ImportResult(path, added, updated, unchanged, tuple(kept), tuple(errors))


def _insert_values(subscriber: Subscriber, now: str) -> dict[str, Any]:
    return {
        "key": subscriber.key, **_values(subscriber), "status": subscriber.status, "token": new_token(),
        "added_at": now, "changed_at": now, "unsubscribed_at": None if subscriber.active else now,
    }


def add_subscriber(
    home: Home, store: Store, email: str, *, name: str = "", editions: Iterable[str] = (), themes: Iterable[str] = (),
    language: str = "",
) -> tuple[Subscriber, str]:
    """``borderlinks subscribers add``: add an address, or replace its name, editions and themes.

    Makes it active, even after an unsubscribe: this is the operator's word.
    Returns the subscriber and what happened: "added", "updated" or "resubscribed".
    """
    subscriber, problems = check_subscriber(email, name, editions, themes, language, "active", known_slugs(home))
    if subscriber is None:
        errors = [ConfigError(message, key=column, fix=fix) for column, message, fix in problems]
        raise errors[0] if len(errors) == 1 else ConfigErrors(errors)
    now = _now()
    with store.engine.begin() as conn:
        row = conn.execute(sa.select(subscribers).where(subscribers.c.key == subscriber.key)).first()
        if row is None:
            conn.execute(subscribers.insert().values(**_insert_values(subscriber, now)))
            what = "added"
        else:
            what = "updated" if row.status == "active" else "resubscribed"
            conn.execute(
                subscribers.update().where(subscribers.c.key == subscriber.key)
                .values(**_values(subscriber), status="active", unsubscribed_at=None, changed_at=now)
            )
    return find_subscriber(store, subscriber.email) or subscriber, what


def remove_subscriber(store: Store, email: str) -> Subscriber | None:
    """``borderlinks subscribers remove``: forget an address; None if it was not on the list.

    Its send records stay. Take it out of subscribers.csv too, or the next
    import adds it again.
    """
    found = find_subscriber(store, email)
    if found is not None:
        with store.engine.begin() as conn:
            conn.execute(subscribers.delete().where(subscribers.c.key == found.key))
    return found


def subscriber_for_token(store: Store, token: str) -> Subscriber | None:
    token = (token or "").strip()
    if not _TOKEN.match(token):
        return None
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(subscribers).where(subscribers.c.token == token)).first()
    return _from_row(row) if row else None


def unsubscribe(store: Store, token: str) -> Subscriber | None:
    """``borderlinks unsubscribe`` and the web endpoint: the token's subscriber gets nothing more.

    Idempotent; returns the subscriber as now stored, or None for an unknown token.
    """
    found = subscriber_for_token(store, token)
    if found is None:
        return None
    if found.active:
        now = _now()
        with store.engine.begin() as conn:
            conn.execute(
                subscribers.update().where(subscribers.c.token == found.token)
                .values(status="unsubscribed", unsubscribed_at=now, changed_at=now)
            )
    return subscriber_for_token(store, token)


def subscribers_csv(found: Iterable[Subscriber]) -> str:
    """The list as a subscribers.csv, to refresh the operator's spreadsheet from the store."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for s in found:
        writer.writerow([s.email, s.name, ";".join(s.editions), ";".join(s.themes), s.language, s.status])
    return out.getvalue()


# -- the web endpoint -----------------------------------------------------------------------------

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title></head>
<body style="font-family: sans-serif; max-width: 32rem; margin: 3rem auto; line-height: 1.5">
<h1 style="font-size: 1.4rem">{title}</h1>
{body}
</body></html>
"""


def unsubscribe_app(store: Store, site_title: str = "Border Links") -> Callable[[dict[str, Any], Callable[..., Any]], Iterator[bytes]]:
    """A WSGI application for ``<site_url>/unsubscribe?token=...``.

    POST unsubscribes (RFC 8058 one-click: mail clients post
    ``List-Unsubscribe=One-Click``; the page's button posts too). GET only
    shows the button, because mail scanners follow links.
    """

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        token = parse_qs(environ.get("QUERY_STRING", "")).get("token", [""])[0]
        if method == "POST" and not token:
            token = _posted_token(environ)
        if method == "POST":
            found = unsubscribe(store, token)
            body = (
                f"<p>{html.escape(_masked(found.email))} will get no more mail from {html.escape(site_title)}.</p>"
                if found else "<p>This unsubscribe link is not valid. Reply to any message and we will take you off the list.</p>"
            )
            status = "200 OK" if found else "404 Not Found"
        elif method in ("GET", "HEAD"):
            found = subscriber_for_token(store, token)
            if found is None:
                status, body = "404 Not Found", "<p>This unsubscribe link is not valid.</p>"
            elif not found.active:
                status, body = "200 OK", f"<p>{html.escape(_masked(found.email))} is already unsubscribed.</p>"
            else:
                status = "200 OK"
                body = (
                    f"<p>Stop sending {html.escape(site_title)} to {html.escape(_masked(found.email))}?</p>"
                    f'<form method="post"><input type="hidden" name="token" value="{html.escape(token)}">'
                    '<button type="submit">Unsubscribe</button></form>'
                )
        else:
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD, POST"), ("Content-Type", "text/plain")])
            return iter([b"GET or POST\n"])
        page = _PAGE.format(title=html.escape(f"{site_title}: unsubscribe"), body=body).encode("utf-8")
        start_response(status, [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(page))), ("Cache-Control", "no-store")])
        return iter([b"" if method == "HEAD" else page])

    return app


def _posted_token(environ: dict[str, Any]) -> str:
    """The token of the page's form; a body whose length is missing, not a number or negative is not read."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length <= 0:  # read(-1) would wait for the client to close: one request could hold the server
        return ""
    form = environ["wsgi.input"].read(min(length, 4096)).decode("latin-1")
    return parse_qs(form).get("token", [""])[0]


def _masked(email: str) -> str:
    """``ana.perez@example.org`` → ``a***@example.org``: enough to recognise, not to harvest."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"
