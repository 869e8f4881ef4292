"""The item store: SQLite by default, any SQLAlchemy URL otherwise.

The schema lives here, in one place, with numbered migrations applied at
start (``SCHEMA_VERSION`` and ``MIGRATIONS``). Times are stored as ISO 8601
UTC strings so that they sort and compare the same on every backend.

Several processes may write at once (the fetch's worker processes each
store what they parse): every write transaction takes SQLite's write lock
when it begins, so what it looked up stays true until it commits.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .errors import StoreError
from .model import Classification, Item, Match, Tag
from .text import stable_id

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, nullable=False),
)

source_state = sa.Table(
    "source_state", metadata,
    sa.Column("source_id", sa.String(100), primary_key=True),
    sa.Column("etag", sa.Text),
    sa.Column("last_modified", sa.Text),
    sa.Column("last_fetch_at", sa.String(32)),
    sa.Column("last_success_at", sa.String(32)),
    sa.Column("last_status", sa.String(20)),
    sa.Column("last_http_status", sa.Integer),
    sa.Column("last_error", sa.Text),
    sa.Column("last_error_at", sa.String(32)),
    sa.Column("failing_since", sa.String(32)),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, default=0),
)

items = sa.Table(
    "items", metadata,
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("source_id", sa.String(100), nullable=False),
    sa.Column("identity", sa.Text, nullable=False),  # guid, link or folded title, per the source's identity
    sa.Column("url", sa.Text, nullable=False),  # canonical: see text.canonical_url
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("author", sa.Text, nullable=False, default=""),
    sa.Column("language", sa.String(8), nullable=False),
    sa.Column("published", sa.String(32), nullable=False),
    sa.Column("first_seen", sa.String(32), nullable=False),
    sa.Column("last_changed", sa.String(32), nullable=False),
    sa.Column("content_hash", sa.String(16), nullable=False),
    sa.Index("ix_items_source_identity", "source_id", "identity", unique=True),
    sa.Index("ix_items_url", "url"),
    sa.Index("ix_items_published", "published"),
)

item_tags = sa.Table(
    "item_tags", metadata,
    sa.Column("item_id", sa.String(16), primary_key=True),
    sa.Column("kind", sa.String(10), primary_key=True),  # "theme" or "country"
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("matches", sa.Text, nullable=False),  # JSON list of [term, field, start, end, weight]
    sa.Index("ix_item_tags_name", "kind", "name"),
)

V1_TABLES = (source_state, items, item_tags)


def _migrate_to_1(conn: Connection) -> None:
    metadata.create_all(conn, tables=list(V1_TABLES))


subscribers = sa.Table(
    "subscribers", metadata,
    sa.Column("key", sa.String(320), primary_key=True),  # the address in lower case: one subscriber per address
    sa.Column("email", sa.String(320), nullable=False),  # normalised, as mail goes to it
    sa.Column("name", sa.Text, nullable=False, default=""),
    sa.Column("editions", sa.Text, nullable=False, default=""),  # edition slugs joined by ";" (empty: all)
    sa.Column("themes", sa.Text, nullable=False, default=""),  # theme slugs joined by ";" (empty: all)
    sa.Column("language", sa.String(8), nullable=False, default=""),
    sa.Column("status", sa.String(16), nullable=False),  # "active" or "unsubscribed"
    sa.Column("token", sa.String(64), nullable=False),  # secret, random: the unsubscribe link's
    sa.Column("added_at", sa.String(32), nullable=False),
    sa.Column("changed_at", sa.String(32), nullable=False),
    sa.Column("unsubscribed_at", sa.String(32)),
    sa.Index("ix_subscribers_token", "token", unique=True),
)

# One row per message: written as "sending" before the SMTP transaction and
# "sent" (or "failed", "deferred") after it, so a run can resume exactly.
sends = sa.Table(
    "sends", metadata,
    sa.Column("post", sa.String(200), primary_key=True),  # the digest slug: edition, or edition/theme
    sa.Column("day", sa.String(10), primary_key=True),  # the edition's ISO date
    sa.Column("subscriber", sa.String(320), primary_key=True),  # subscribers.key
    sa.Column("edition", sa.String(100), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),  # the address it went to
    sa.Column("state", sa.String(10), nullable=False),  # "sending", "sent", "failed", "deferred" or "empty"
    sa.Column("message_id", sa.String(250), nullable=False, default=""),  # kept across retries: receivers can de-duplicate
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("error", sa.Text),  # the server's last answer on failure
    sa.Column("changed_at", sa.String(32), nullable=False),
    sa.Column("sent_at", sa.String(32)),
)

V2_TABLES = (subscribers, sends)


def _migrate_to_2(conn: Connection) -> None:
    metadata.create_all(conn, tables=list(V2_TABLES))


# One row per lock held: "build-send" (a build or a send, manual or scheduled) or "scheduler" (`borderlinks run`).
# Taken with an INSERT that fails while the row exists; a row whose process is gone or whose time ran out is stale.
locks = sa.Table(
    "locks", metadata,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("owner", sa.Text, nullable=False),  # what holds it, e.g. "borderlinks send" or "scheduler edition:daily-border-links"
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("acquired_at", sa.String(32), nullable=False),
    sa.Column("expires_at", sa.String(32), nullable=False),
)

# One row per run of a scheduled job, for `borderlinks status`. (APScheduler keeps its own
# table of jobs and next run times, "apscheduler_jobs", created by its job store.)
job_runs = sa.Table(
    "job_runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(200), nullable=False),  # "fetch", "review:SLUG", "edition:SLUG", "approval:SLUG"
    sa.Column("started_at", sa.String(32), nullable=False),
    sa.Column("finished_at", sa.String(32), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),  # "ok", "waiting", "skipped", "missed" or "failed"
    sa.Column("seconds", sa.Float, nullable=False),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Index("ix_job_runs_job_started", "job_id", "started_at"),
)

V3_TABLES = (locks, job_runs)


def _migrate_to_3(conn: Connection) -> None:
    metadata.create_all(conn, tables=list(V3_TABLES))


MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _migrate_to_1, 2: _migrate_to_2, 3: _migrate_to_3}
SCHEMA_VERSION = max(MIGRATIONS)


def utc_text(value: datetime) -> str:
    """The stored form of a time: ISO 8601, UTC, second precision."""
    value = value.astimezone(UTC)
    if value.year >= 1000:  # isoformat is several times faster than strftime, which does not pad years below 1000
        return value.isoformat()[:19] + "Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def from_utc_text(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value)  # "...Z" reads as UTC; ten times faster than strptime


@dataclass(frozen=True)
class SourceState:
    """What the store remembers about a source between runs."""

    source_id: str
    etag: str | None = None
    last_modified: str | None = None
    last_fetch_at: datetime | None = None
    last_success_at: datetime | None = None
    last_status: str | None = None
    last_http_status: int | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    failing_since: datetime | None = None
    consecutive_failures: int = 0


@dataclass(frozen=True)
class Fetched:
    """One source's fetch, to be stored: its new state, its items and their tags."""

    state: SourceState
    items: Sequence[Item] = ()
    identities: Sequence[str] = ()
    tags: Sequence[Classification | EncodedTags | None] = ()


@dataclass(frozen=True)
class StoreCounts:
    new: int = 0
    updated: int = 0
    new_ids: tuple[str, ...] = ()
    changed_ids: tuple[str, ...] = ()


class Store:
    """Items, per-source state and tags in one database."""

    def __init__(self, url: str, *, migrate: bool = True, lock: AbstractContextManager[object] | None = None) -> None:
        """Open (and migrate) the database at ``url``.

        ``lock`` is held around every write transaction, for processes that
        write to one SQLite file at once: SQLite's own wait for its write lock
        polls with sleeps of up to 100 ms, a shared lock hands over at once.
        """
        self.url = url
        self._lock = lock or nullcontext()
        try:
            if url.startswith("sqlite:///"):
                path = Path(url.removeprefix("sqlite:///"))
                if str(path) not in ("", ":memory:"):
                    path.parent.mkdir(parents=True, exist_ok=True)
            # The fetcher writes from a worker thread; SQLAlchemy's pool keeps each connection to one thread at a time.
            connect_args = {"check_same_thread": False} if url.startswith("sqlite") else {}
            self.engine: Engine = sa.create_engine(url, connect_args=connect_args)
            if self.engine.dialect.name == "sqlite":
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            try:
                if migrate:
                    self.migrate()
            except sa.exc.OperationalError as e:
                # Two processes opening a new database at once: the loser finds the tables made; once more.
                if "already exists" not in str(e):
                    raise
                self.migrate()
        except sa.exc.SQLAlchemyError as e:
            raise StoreError(f"cannot open the database {url}: {e.__class__.__name__}: {e.orig if hasattr(e, 'orig') else e}. Check the --db URL and that the folder is writable") from e
        except OSError as e:
            raise StoreError(f"cannot create the database folder for {url}: {e}") from e

    def close(self) -> None:
        self.engine.dispose()

    @property
    def is_sqlite_file(self) -> bool:
        """True for a SQLite database in a file, which other processes can open and write to as well."""
        url = self.engine.url
        return self.engine.dialect.name == "sqlite" and url.database not in (None, "", ":memory:") and "memory" not in str(url.query)

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A write transaction; on SQLite it takes the write lock at once.

        SQLite's default deferred transaction reads first and fails at its first
        write if another process wrote in between; an immediate one waits for the
        lock (busy_timeout) and then sees the latest rows, so the lookups that
        decide between insert and update stay true until the commit.
        """
        with self._lock, self.engine.begin() as conn:
            if self.engine.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema ---------------------------------------------------------
    def migrate(self) -> None:
        with self.engine.begin() as conn:
            metadata.create_all(conn, tables=[schema_version])
            current = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"the database is at schema version {current}, newer than this borderlinks ({SCHEMA_VERSION}); upgrade borderlinks"
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[version](conn)
                conn.execute(schema_version.delete())
                conn.execute(schema_version.insert().values(version=version))

    @property
    def version(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0

    # -- source state ---------------------------------------------------
    def source_states(self) -> dict[str, SourceState]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(source_state)).mappings().all()
        return {row["source_id"]: _state_from_row(row) for row in rows}

    def save_source_state(self, state: SourceState) -> None:
        with self._writing() as conn:
            _write_states(conn, [state])

    # -- items ----------------------------------------------------------
    def save_items(self, batch: Sequence[Item], identities: Sequence[str], state: SourceState | None = None) -> StoreCounts:
        """Store one source's items, and its new state in the same transaction.

        New items are inserted, changed ones updated in place. An item is the
        same as a stored one when it has the same (source, identity) or the
        same canonical URL; an unchanged item costs nothing.
        """
        prepared = _prepare([(batch, identities, [None] * len(batch))])
        with self._writing() as conn:
            counts = _save_prepared(conn, prepared)[0]
            if state is not None:
                _write_states(conn, [state])
        return counts

    def save_fetches(self, fetches: Sequence[Fetched]) -> list[StoreCounts]:
        """Several sources' items, tags and states in one transaction; counts per source, in order.

        The result is the same as saving the sources one after another, with a
        handful of statements for the lot instead of a handful per source.
        """
        prepared = _prepare([(f.items, f.identities, f.tags or [None] * len(f.items)) for f in fetches])
        with self._writing() as conn:
            results = _save_prepared(conn, prepared)
            _write_states(conn, [f.state for f in fetches])
        return results

    def get_items(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        source_ids: Iterable[str] | None = None,
        ids: Iterable[str] | None = None,
        urls: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> list[Item]:
        query = sa.select(items).order_by(items.c.published.desc(), items.c.id)
        if urls is not None:
            query = query.where(items.c.url.in_(list(urls)))
        if since is not None:
            query = query.where(items.c.published >= utc_text(since))
        if until is not None:
            query = query.where(items.c.published < utc_text(until))
        if source_ids is not None:
            query = query.where(items.c.source_id.in_(list(source_ids)))
        if ids is not None:
            query = query.where(items.c.id.in_(list(ids)))
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [_item_from_row(row) for row in conn.execute(query).mappings()]

    def iter_items(self, batch_size: int = 2000) -> Iterator[Item]:
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True).execute(sa.select(items).order_by(items.c.id))
            for row in result.mappings():
                yield _item_from_row(row)

    def count_items(self, since: datetime | None = None) -> dict[str, int]:
        """Items per source, optionally only those published since a time."""
        query = sa.select(items.c.source_id, sa.func.count()).group_by(items.c.source_id)
        if since is not None:
            query = query.where(items.c.published >= utc_text(since))
        with self.engine.connect() as conn:
            return {row[0]: row[1] for row in conn.execute(query)}

    # -- tags -----------------------------------------------------------
    def save_tags(self, tagged: Iterable[tuple[str, Classification]]) -> int:
        """Replace the tags of each given item with a new classification."""
        pairs = list(tagged)
        with self._writing() as conn:
            return _write_tags(conn, pairs, replace=True)

    def get_tags(self, item_ids: Iterable[str], *, with_matches: bool = False) -> dict[str, Classification]:
        """Stored tags per item; the matches that explain them are decoded only when asked for."""
        ids = list(item_ids)
        found: dict[str, dict[str, list[Tag]]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(ids, 500):
                query = sa.select(item_tags).where(item_tags.c.item_id.in_(chunk)).order_by(item_tags.c.score.desc())
                for row in conn.execute(query).mappings():
                    matches = (
                        tuple(Match(term=m[0], field=m[1], start=m[2], end=m[3], weight=m[4]) for m in json.loads(row["matches"]))
                        if with_matches
                        else ()
                    )
                    found.setdefault(row["item_id"], {"theme": [], "country": []})[row["kind"]].append(
                        Tag(name=row["name"], score=row["score"], matches=matches)
                    )
        return {
            item_id: Classification(themes=tuple(kinds["theme"]), countries=tuple(kinds["country"]))
            for item_id, kinds in found.items()
        }


_UPDATE_STATE = source_state.update().where(source_state.c.source_id == sa.bindparam("b_source_id"))
_KNOWN_STATES = sa.select(source_state.c.source_id).where(source_state.c.source_id.in_(sa.bindparam("ids", expanding=True)))


def _state_row(state: SourceState) -> dict[str, Any]:
    return {
        "source_id": state.source_id,
        "etag": state.etag,
        "last_modified": state.last_modified,
        "last_fetch_at": utc_text(state.last_fetch_at) if state.last_fetch_at else None,
        "last_success_at": utc_text(state.last_success_at) if state.last_success_at else None,
        "last_status": state.last_status,
        "last_http_status": state.last_http_status,
        "last_error": state.last_error,
        "last_error_at": utc_text(state.last_error_at) if state.last_error_at else None,
        "failing_since": utc_text(state.failing_since) if state.failing_since else None,
        "consecutive_failures": state.consecutive_failures,
    }


def _write_states(conn: Connection, states: Sequence[SourceState]) -> None:
    """Update the sources' stored states, inserting those seen for the first time; the last state of a source wins."""
    rows = {state.source_id: _state_row(state) for state in states}
    known: set[str] = set()
    for chunk in _chunks(list(rows), 500):
        known.update(conn.execute(_KNOWN_STATES, {"ids": chunk}).scalars())
    updates = [{"b_source_id": source_id, **row} for source_id, row in rows.items() if source_id in known]
    inserts = [row for source_id, row in rows.items() if source_id not in known]
    for row in updates:
        del row["source_id"]
    if updates:
        conn.execute(_UPDATE_STATE, updates)
    if inserts:
        conn.execute(source_state.insert(), inserts)


# Built once: rebuilding statements per source costs more than running them.
_BY_IDENTITY = sa.select(items.c.id, items.c.source_id, items.c.identity, items.c.content_hash).where(
    items.c.source_id.in_(sa.bindparam("sources", expanding=True)),
    items.c.identity.in_(sa.bindparam("identities", expanding=True)),
)
_BY_URL = sa.select(items.c.id, items.c.url, items.c.content_hash).where(items.c.url.in_(sa.bindparam("urls", expanding=True)))
_INSERT_ITEM = items.insert()
_UPDATE_ITEM = items.update().where(items.c.id == sa.bindparam("b_id")).values(
    title=sa.bindparam("title"), summary=sa.bindparam("summary"), author=sa.bindparam("author"),
    content_hash=sa.bindparam("content_hash"), last_changed=sa.bindparam("last_changed"),
)


def _prepare(batches: Sequence[Batch]) -> list[list[Prepared]]:
    """Hashes, rows and encoded tags of the items to save: the part of saving that needs no transaction."""
    stamps: dict[datetime | None, str] = {}
    prepared = []
    for batch, identities, tags in batches:
        rows = []
        for item, identity, tag in zip(batch, identities, tags, strict=True):
            if item.first_seen not in stamps:
                stamps[item.first_seen] = utc_text(item.first_seen or datetime.now(UTC))
            digest = content_hash(item)
            encoded = encode_tags(tag) if isinstance(tag, Classification) else tag
            rows.append((item, identity, encoded, digest, _item_row(item, identity, digest, stamps[item.first_seen])))
        prepared.append(rows)
    return prepared


def _save_prepared(conn: Connection, batches: Sequence[Sequence[Prepared]]) -> list[StoreCounts]:
    """Several sources' items and tags, with the result of saving them one source after another.

    Lookups, inserts, updates and tags each take one statement (or one per
    500 keys) for all the sources. What a source would have found stored by
    the sources before it is tracked in memory; within a source, as before,
    items are matched only against what was stored before it.
    """
    known: dict[tuple[str, str], str] = {}  # (source, identity) -> item id
    by_url: dict[str, str] = {}  # canonical URL -> item id
    hashes: dict[str, str] = {}  # item id -> content hash
    source_ids = list({p[0].source_id for batch in batches for p in batch})
    for chunk in _chunks(list({p[1] for batch in batches for p in batch}), 500):
        for row in conn.execute(_BY_IDENTITY, {"sources": source_ids, "identities": chunk}):
            known[(row.source_id, row.identity)] = row.id
            hashes[row.id] = row.content_hash
    for chunk in _chunks(list({p[0].url for batch in batches for p in batch if p[0].url}), 500):
        for row in conn.execute(_BY_URL, {"urls": chunk}):
            by_url[row.url] = row.id
            hashes[row.id] = row.content_hash
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    tag_rows: dict[str, EncodedTags] = {}
    retagged: list[str] = []
    results = []
    for batch in batches:
        new: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        tagged: list[tuple[str, EncodedTags]] = []
        seen: set[str] = set()
        for item, identity, tag, digest, row in batch:
            stored_id = known.get((item.source_id, identity)) or (by_url.get(item.url) if item.url else None)
            if stored_id is None:
                if item.id not in seen:
                    seen.add(item.id)
                    new.append(row)
                    if tag is not None:
                        tagged.append((item.id, tag))
                continue
            if hashes[stored_id] != digest and stored_id not in seen:
                seen.add(stored_id)
                changed.append(
                    {"b_id": stored_id, "title": item.title, "summary": item.summary, "author": item.author,
                     "content_hash": digest, "last_changed": row["last_changed"]}
                )
                if tag is not None:
                    tagged.append((stored_id, tag))
        # What the next source finds stored, as if this one had been written already.
        for row in new:
            known[(row["source_id"], row["identity"])] = row["id"]
            if row["url"]:
                by_url[row["url"]] = row["id"]
            hashes[row["id"]] = row["content_hash"]
        for row in changed:
            hashes[row["b_id"]] = row["content_hash"]
        for item_id, tag in tagged:
            tag_rows[item_id] = tag
            if changed:  # a source with updates replaces the tags of everything it tags
                retagged.append(item_id)
        inserts += new
        updates += changed
        results.append(
            StoreCounts(
                new=len(new), updated=len(changed),
                new_ids=tuple(r["id"] for r in new), changed_ids=tuple(r["b_id"] for r in changed),
            )
        )
    if inserts:
        conn.execute(_INSERT_ITEM, inserts)
    if updates:
        conn.execute(_UPDATE_ITEM, updates)
    for chunk in _chunks(retagged, 500):
        conn.execute(item_tags.delete().where(item_tags.c.item_id.in_(chunk)))
    rows = [
        {"item_id": item_id, "kind": kind, "name": name, "score": score, "matches": matches}
        for item_id, encoded in tag_rows.items()
        for kind, name, score, matches in encoded
    ]
    if rows:
        conn.execute(item_tags.insert(), rows)
    return results


# One stored tag: kind ("theme" or "country"), name, score, and its matches as JSON.
TagRow = tuple[str, str, float, str]
EncodedTags = tuple[TagRow, ...]
# One source's items to save: the items, their identities and their tags.
Batch = tuple[Sequence[Item], Sequence[str], Sequence[Classification | EncodedTags | None]]
# One item ready to save: the item, its identity, its encoded tags, its content hash and its row.
Prepared = tuple[Item, str, EncodedTags | None, str, dict[str, Any]]


def encode_tags(classification: Classification) -> EncodedTags:
    """A classification as the store keeps it, keeping each term's first match per field.

    That is enough to say why a tag was given (``classify --explain`` re-runs
    the classifier for every occurrence); a long summary can repeat a term a
    dozen times. Plain tuples and strings also pickle far faster than
    dataclasses, which matters when classification runs in other processes.
    """
    rows = []
    for kind, tags in (("theme", classification.themes), ("country", classification.countries)):
        for tag in tags:
            seen: set[tuple[str, str]] = set()
            matches = []
            for m in tag.matches:
                if (m.term, m.field) not in seen:
                    seen.add((m.term, m.field))
                    matches.append(f"[{_json_text(m.term)}, {_json_text(m.field)}, {m.start:d}, {m.end:d}, {float(m.weight)!r}]")
            rows.append((kind, tag.name, tag.score, "[" + ", ".join(matches) + "]"))
    return tuple(rows)


_JSON_TEXTS: dict[str, str] = {}  # terms come from a few thousand in the theme files: each is encoded once


def _json_text(value: str) -> str:
    """``json.dumps(value, ensure_ascii=False)``, cached: what json.dumps would write for the match lists."""
    encoded = _JSON_TEXTS.get(value)
    if encoded is None:
        if len(_JSON_TEXTS) > 100_000:
            _JSON_TEXTS.clear()
        encoded = _JSON_TEXTS[value] = json.dumps(value, ensure_ascii=False)
    return encoded


def _write_tags(conn: Connection, pairs: Sequence[tuple[str, Classification | EncodedTags]], replace: bool) -> int:
    rows = [
        {"item_id": item_id, "kind": kind, "name": name, "score": score, "matches": matches}
        for item_id, tags in pairs
        for kind, name, score, matches in (encode_tags(tags) if isinstance(tags, Classification) else tags)
    ]
    if replace:
        for chunk in _chunks([item_id for item_id, _ in pairs], 500):
            conn.execute(item_tags.delete().where(item_tags.c.item_id.in_(chunk)))
    if rows:
        conn.execute(item_tags.insert(), rows)
    return len(rows)


def content_hash(item: Item) -> str:
    return stable_id(item.title, item.summary, item.author)


def _item_row(item: Item, identity: str, digest: str, seen: str) -> dict[str, Any]:
    return {
        "id": item.id, "source_id": item.source_id, "identity": identity, "url": item.url,
        "title": item.title, "summary": item.summary, "author": item.author,
        "language": item.language, "published": utc_text(item.published), "first_seen": seen,
        "last_changed": seen, "content_hash": digest,
    }


def _item_from_row(row: Any) -> Item:
    return Item(
        id=row["id"], source_id=row["source_id"], url=row["url"], title=row["title"],
        summary=row["summary"], published=from_utc_text(row["published"]),  # type: ignore[arg-type]
        language=row["language"], author=row["author"], guid=row["identity"],
        first_seen=from_utc_text(row["first_seen"]),
    )


def _state_from_row(row: Any) -> SourceState:
    return SourceState(
        source_id=row["source_id"], etag=row["etag"], last_modified=row["last_modified"],
        last_fetch_at=from_utc_text(row["last_fetch_at"]), last_success_at=from_utc_text(row["last_success_at"]),
        last_status=row["last_status"], last_http_status=row["last_http_status"], last_error=row["last_error"],
        last_error_at=from_utc_text(row["last_error_at"]), failing_since=from_utc_text(row["failing_since"]),
        consecutive_failures=row["consecutive_failures"] or 0,
    )


def _chunks(values: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
