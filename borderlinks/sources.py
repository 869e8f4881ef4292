"""Fetching sources: every due feed and page, concurrently and politely.

One :class:`FetchResult` per source, an error being a result: a dead host or
a broken feed is a line in the summary, never an aborted run. Limits: a
global and a per-host concurrency cap, connect and read timeouts, a total
deadline per source (a server dripping a byte every two seconds cannot hold
a fetch), retries with backoff on 5xx/429/network errors honouring
``Retry-After``, at most ``max_redirects`` redirects and only to http(s), and
a cap on the decompressed body enforced while streaming.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from . import __version__
from .classify import Classifier
from .config import FetchSettings, Home
from .errors import FetchError, ParseError, SaveError, SourceError
from .feeds import NotAFeed, import_parsers, parse_feed
from .model import Entry, FetchResult, Item, Source
from .store import EncodedTags, Fetched, SourceState, Store, StoreCounts, encode_tags
from .text import canonical_url, clean_text, stable_id

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 507, 520, 521, 522, 523, 524})
SUMMARY_LIMIT = 1200
TITLE_LIMIT = 400

OnResult = Callable[[Source, FetchResult], None]
OnStored = Callable[[Sequence[Item]], None]


@dataclass(frozen=True)
class Response:
    """A fetched body and what we need to remember about it."""

    body: bytes
    status: int
    url: str
    headers: dict[str, str]
    etag: str | None = None
    last_modified: str | None = None


NOT_MODIFIED = object()


# -- normalising ------------------------------------------------------------


def normalise(entries: Iterable[Entry], source: Source, now: datetime) -> list[tuple[Item, str]]:
    """Entries as items, each with the identity that recognises it on the next fetch.

    Published time falls back to updated, then to first seen, and is never in
    the future. Identity follows the source's ``identity`` setting.
    """
    result: list[tuple[Item, str]] = []
    for entry in entries:
        url = canonical_url(entry.link)
        title = clean_text(entry.title, TITLE_LIMIT)
        summary = clean_text(entry.summary, SUMMARY_LIMIT)
        if not (title or summary) or not url:
            continue
        published = entry.published or entry.updated or now
        if published > now:
            published = now
        if source.identity == "link":
            identity = url
        elif source.identity == "title":
            identity = " ".join(title.lower().split())
        else:
            identity = entry.guid.strip() or url or title
        item = Item(
            id=stable_id(url) if url else stable_id(source.id, identity),
            source_id=source.id,
            url=url,
            title=title or clean_text(summary, 120),
            summary=summary,
            published=published,
            language=source.language,
            author=entry.author,
            guid=identity,
            first_seen=now,
        )
        result.append((item, identity))
    return result


# -- fetching one URL -------------------------------------------------------


class Fetcher:
    """Fetches URLs within the limits of :class:`FetchSettings`."""

    def __init__(self, settings: FetchSettings, client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self._shared_client = client
        self._global = asyncio.Semaphore(settings.concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        # One small connection pool per host: httpcore's pool does work in proportion to
        # its size on every request, so one pool of 100 connections costs seconds of CPU.
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._ssl: ssl.SSLContext | None = None  # loading CA certificates costs ~30 ms: once, at the first https URL
        # httpx builds a verifying context (that same 30 ms) for every client given none; a plain http client
        # never uses its context, and this one, trusting no certificate at all, could only fail if it did.
        self._no_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    def _host_limit(self, url: str) -> asyncio.Semaphore:
        host = (urlsplit(url).hostname or "").lower()
        if host not in self._hosts:
            self._hosts[host] = asyncio.Semaphore(self.settings.per_host)
        return self._hosts[host]

    def _client(self, url: str) -> httpx.AsyncClient:
        if self._shared_client is not None:
            return self._shared_client
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}".lower()
        if key not in self._clients:
            if parts.scheme.lower() == "https":
                if self._ssl is None:
                    self._ssl = httpx.create_ssl_context()
                context = self._ssl
            else:
                context = self._no_tls
            self._clients[key] = make_client(self.settings, self.settings.per_host, context)
        return self._clients[key]

    async def get(self, source: Source, state: SourceState | None) -> Response | object:
        """The body of a source, or NOT_MODIFIED; raises FetchError."""
        if source.url.startswith("file:"):
            return await asyncio.to_thread(_read_file, source, state)
        try:
            async with asyncio.timeout(self.settings.deadline):
                return await self._get_with_retries(source, state)
        except TimeoutError as e:
            raise FetchError(
                source.id,
                f"gave up after {self.settings.deadline:g} s (the server is too slow or keeps the connection dripping); "
                "it will be tried again next run",
            ) from e

    async def _get_with_retries(self, source: Source, state: SourceState | None) -> Response | object:
        attempt = 0
        while True:
            try:
                return await self._get_following_redirects(source, state)
            except _Retryable as e:
                if attempt >= self.settings.retries:
                    raise FetchError(source.id, f"{e.message} (after {attempt + 1} attempts)", e.status) from e.cause
                wait = e.retry_after if e.retry_after is not None else self.settings.backoff * (2**attempt)
                if wait > self.settings.max_retry_after:
                    raise FetchError(
                        source.id, f"{e.message}; the server asks to retry after {wait:g} s, later than we wait", e.status
                    ) from e.cause
                attempt += 1
                await asyncio.sleep(wait)

    async def _get_following_redirects(self, source: Source, state: SourceState | None) -> Response | object:
        url = source.url
        visited = [url]
        headers = {}
        if state is not None and state.etag:
            headers["If-None-Match"] = state.etag
        if state is not None and state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        for _ in range(self.settings.max_redirects + 1):
            async with self._global, self._host_limit(url):
                try:
                    async with self._client(url).stream("GET", url, headers=headers) as response:
                        if response.status_code == 304:
                            return NOT_MODIFIED
                        if response.status_code in REDIRECT_STATUSES and "location" in response.headers:
                            location = response.headers.get("location", "")
                            target = urljoin(url, location.strip())
                            scheme = urlsplit(target).scheme.lower()
                            if scheme not in ("http", "https"):
                                raise FetchError(
                                    source.id, f"redirected to {target!r}: only http and https redirects are followed", response.status_code
                                )
                            if target in visited:
                                raise FetchError(source.id, "redirect loop: " + " → ".join(visited + [target]), response.status_code)
                            visited.append(target)
                            url = target
                            continue
                        if response.status_code in RETRY_STATUSES:
                            raise _Retryable(
                                f"HTTP {response.status_code} {response.reason_phrase}",
                                response.status_code,
                                _retry_after(response.headers.get("retry-after")),
                            )
                        if response.status_code >= 400:
                            raise FetchError(source.id, _status_advice(response.status_code, response.reason_phrase), response.status_code)
                        body = await self._read_capped(source, response)
                        return Response(
                            body=body,
                            status=response.status_code,
                            url=str(response.url),
                            headers=dict(response.headers),
                            etag=response.headers.get("etag"),
                            last_modified=response.headers.get("last-modified"),
                        )
                except httpx.TimeoutException as e:
                    raise _Retryable(f"timed out ({type(e).__name__})", None, None, e) from e
                except httpx.ConnectError as e:
                    raise _Retryable(_connect_advice(e), None, None, e) from e
                except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as e:
                    raise _Retryable(f"the connection broke ({e or type(e).__name__})", None, None, e) from e
                except httpx.DecodingError as e:
                    raise FetchError(source.id, f"the compressed body is corrupt ({e})") from e
                except (httpx.UnsupportedProtocol, httpx.InvalidURL) as e:
                    raise FetchError(source.id, f"cannot fetch {url!r}: {e}") from e
        raise FetchError(source.id, f"more than {self.settings.max_redirects} redirects: " + " → ".join(visited))

    async def _read_capped(self, source: Source, response: httpx.Response) -> bytes:
        cap = self.settings.max_bytes
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cap and "content-encoding" not in response.headers:
            raise FetchError(source.id, f"the response is {int(declared):,} bytes, over the {cap:,}-byte cap", response.status_code)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > cap:
                raise FetchError(
                    source.id, f"the response is over the {cap:,}-byte cap once decompressed; raise fetch.max_bytes if this feed is really that big",
                    response.status_code,
                )
            chunks.append(chunk)
        return b"".join(chunks)


class _Retryable(Exception):
    def __init__(self, message: str, status: int | None, retry_after: float | None, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.cause = cause


def make_client(
    settings: FetchSettings, connections: int | None = None, ssl_context: ssl.SSLContext | None = None
) -> httpx.AsyncClient:
    """An HTTP client as every fetch uses it: honest User-Agent, limits, no automatic redirects."""
    timeout = httpx.Timeout(
        connect=settings.connect_timeout, read=settings.read_timeout, write=settings.read_timeout, pool=settings.deadline
    )
    connections = connections or settings.concurrency
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(
        timeout=timeout,
        limits=limits,
        follow_redirects=False,
        headers={
            "User-Agent": settings.user_agent.format(version=__version__),
            "Accept": "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.7, */*;q=0.5",
        },
        trust_env=False,
        verify=ssl_context if ssl_context is not None else True,
    )


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _status_advice(status: int, reason: str) -> str:
    advice = {
        401: "the feed needs a login; borderlinks reads public feeds only",
        403: "the server refuses us (perhaps it blocks bots); check the URL in a browser",
        404: "not found; the outlet may have moved its feed: check the url in the source definition",
        410: "gone for good; remove the source or set enabled = false",
    }.get(status, "the server refused the request; check the url in the source definition")
    return f"HTTP {status} {reason}: {advice}"


def _connect_advice(e: httpx.ConnectError) -> str:
    text = str(e)
    causes = []
    cause: BaseException | None = e
    while cause is not None and len(causes) < 10:
        causes.append(cause)
        nested = getattr(cause, "exceptions", None)  # anyio wraps each attempt's error in a group
        cause = cause.__cause__ or cause.__context__ or (nested[0] if nested else None)
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return "connection refused; the site may be down"
    lowered = " ".join(str(c) for c in causes).lower()
    if "name or service not known" in lowered or "nodename nor servname" in lowered or "getaddrinfo" in lowered or "temporary failure in name resolution" in lowered:
        return f"host not found ({text}); check the url, or the network"
    if "refused" in lowered:
        return "connection refused; the site may be down"
    return f"cannot connect ({text or type(e).__name__})"


def _read_file(source: Source, state: SourceState | None) -> Response | object:
    """Local ``file:`` sources, for the demo and for tests; the file's mtime acts as Last-Modified."""
    parts = urlsplit(source.url)
    raw_path = unquote(parts.path)
    path = Path(raw_path) if raw_path.startswith("/") else (source.path.parent if source.path else Path.cwd()) / raw_path
    try:
        stat = path.stat()
        stamp = str(stat.st_mtime_ns)
        if state is not None and state.last_modified == stamp and state.last_status in ("ok", "not-modified"):
            return NOT_MODIFIED
        body = path.read_bytes()
    except OSError as e:
        raise FetchError(source.id, f"cannot read {path}: {e.strerror}; check the file: url") from e
    return Response(body=body, status=200, url=source.url, headers={}, etag=None, last_modified=stamp)


# -- parsing, by source type ----------------------------------------------


def _parse_feed_response(source: Source, response: Response) -> list[Entry]:
    return parse_feed(response.body, response.url, response.headers)


def _parse_page_response(source: Source, response: Response) -> list[Entry]:
    from .pages import NothingScraped, scrape_page  # BeautifulSoup costs 60 ms to import: only for pages

    assert source.selectors is not None
    try:
        return scrape_page(response.body, response.url, source.selectors)
    except NothingScraped as e:
        raise NotAFeed(str(e)) from e


PARSERS: dict[str, Callable[[Source, Response], list[Entry]]] = {
    "feed": _parse_feed_response,
    "page": _parse_page_response,
}


def parse_response(source: Source, response: Response) -> list[Entry]:
    """Entries of a fetched body by the source's type; raises ParseError."""
    try:
        return PARSERS[source.type](source, response)
    except NotAFeed as e:
        raise ParseError(source.id, str(e), response.status) from e
    except Exception as e:  # noqa: BLE001 - a parser bug on one feed must not stop the run
        raise ParseError(source.id, f"could not parse the body ({type(e).__name__}: {e})", response.status) from e


# -- the run ---------------------------------------------------------------


def is_due(source: Source, state: SourceState | None, now: datetime) -> bool:
    if not source.every or state is None or state.last_fetch_at is None:
        return True
    return now - state.last_fetch_at >= timedelta(minutes=source.every)


async def fetch_sources(
    sources: Sequence[Source],
    store: Store,
    settings: FetchSettings,
    *,
    force: bool = False,
    client: httpx.AsyncClient | None = None,
    on_result: OnResult | None = None,
    on_stored: OnStored | None = None,
    now: datetime | None = None,
    parallel: bool = True,
    classifier: Classifier | None = None,
) -> list[FetchResult]:
    """Fetch, parse and store every due source; one result per source, in input order."""
    now = now or datetime.now(UTC)
    states = store.source_states()
    fetcher = Fetcher(settings, client)

    async def run_one(source: Source) -> FetchResult:
        state = states.get(source.id)
        if not source.enabled:
            result = FetchResult(source.id, "skipped", error="disabled")
        elif not force and not is_due(source, state, now):
            result = FetchResult(source.id, "skipped", error=f"not due (every {source.every} min)")
        else:
            started = time.perf_counter()
            result = await _fetch_and_store(source, state, fetcher, store, writer, now, on_stored, pool, classifier)
            result = replace(result, seconds=round(time.perf_counter() - started, 3))
        if on_result is not None:
            on_result(source, result)
        return result

    due = sum(1 for s in sources if s.enabled and (force or is_due(s, states.get(s.id), now)))
    pool = ParsePool.for_run(due, classifier, store) if parallel else None
    writer = StoreWriter(store)
    try:
        results = await asyncio.gather(*(run_one(s) for s in sources))
    finally:
        await writer.aclose()
        await fetcher.aclose()
        if pool is not None:
            pool.close()
    return list(results)


async def _fetch_and_store(
    source: Source,
    state: SourceState | None,
    fetcher: Fetcher,
    store: Store,
    writer: StoreWriter,
    now: datetime,
    on_stored: OnStored | None,
    pool: ParsePool | None,
    classifier: Classifier | None,
) -> FetchResult:
    previous = state or SourceState(source.id)
    try:
        response = await fetcher.get(source, state)
        if response is NOT_MODIFIED:
            await writer.save(
                replace(previous, last_fetch_at=now, last_success_at=now, last_status="not-modified", last_http_status=304,
                        consecutive_failures=0, failing_since=None)
            )
            return FetchResult(source.id, "not-modified", http_status=304)
        assert isinstance(response, Response)
        state = replace(
            previous, etag=response.etag, last_modified=response.last_modified, last_fetch_at=now,
            last_success_at=now, last_status="ok", last_http_status=response.status,
            consecutive_failures=0, failing_since=None,
        )
        if pool is not None and pool.saves(response):
            entries, counts = await pool.parse_and_save(source, response, now, state)
        else:
            entries, pairs, tags = await _parse_and_normalise(source, response, now, pool, classifier)
            counts = await writer.save(state, [p[0] for p in pairs], [p[1] for p in pairs], tags)
        if on_stored is not None and (counts.new_ids or counts.changed_ids):
            on_stored(store.get_items(ids=counts.new_ids + counts.changed_ids))
        return FetchResult(
            source.id, "ok", http_status=response.status, entries=entries, new_items=counts.new, updated_items=counts.updated
        )
    except SourceError as e:
        await writer.save(
            replace(
                previous, last_fetch_at=now, last_status="error", last_http_status=e.status, last_error=e.reason,
                last_error_at=now, consecutive_failures=previous.consecutive_failures + 1,
                failing_since=previous.failing_since or now,
            )
        )
        return FetchResult(source.id, "error", http_status=e.status, error=e.reason)


class StoreWriter:
    """Writes fetch results to the store in a thread, many sources per transaction.

    SQLite releases the GIL while it works, so the event loop goes on serving
    responses; grouping sources saves a commit each.
    """

    MAX_GROUP = 64

    def __init__(self, store: Store) -> None:
        self.store = store
        self.queue: asyncio.Queue[tuple[Fetched, asyncio.Future[StoreCounts]] | None] = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def save(
        self, state: SourceState, batch: Sequence[Item] = (), identities: Sequence[str] = (),
        tags: Sequence[EncodedTags | None] = (),
    ) -> StoreCounts:
        future: asyncio.Future[StoreCounts] = asyncio.get_running_loop().create_future()
        await self.queue.put((Fetched(state, batch, identities, tags), future))
        return await future

    async def _run(self) -> None:
        while True:
            job = await self.queue.get()
            if job is None:
                return
            jobs = [job]
            while len(jobs) < self.MAX_GROUP and not self.queue.empty():
                more = self.queue.get_nowait()
                if more is None:
                    self.queue.put_nowait(None)
                    break
                jobs.append(more)
            try:
                counts = await asyncio.to_thread(self.store.save_fetches, [j[0] for j in jobs])
            except Exception as e:  # noqa: BLE001 - handed to every waiting source
                for j in jobs:
                    if not j[1].done():
                        j[1].set_exception(e)
                continue
            for j, c in zip(jobs, counts, strict=True):
                if not j[1].done():
                    j[1].set_result(c)

    async def aclose(self) -> None:
        await self.queue.put(None)
        await self.task


Parsed = tuple[int, list[tuple[Item, str]], list[EncodedTags | None]]
_worker_classifier: Classifier | None = None


def parse_and_normalise(source: Source, response: Response, now: datetime, classifier: Classifier | None = None) -> Parsed | str:
    """The CPU part of a fetch, pure: entries count, items with identities, and their tags.

    Returns a ParseError's reason rather than raising it, so the result
    crosses a process boundary unchanged.
    """
    try:
        entries = parse_response(source, response)
    except ParseError as e:
        return e.reason
    pairs = normalise(entries, source, now)
    tags: list[EncodedTags | None] = [None] * len(pairs)
    if classifier is not None and not classifier.key_count:
        tags = [()] * len(pairs)  # no themes and no places: every item gets no tags, without folding its text
    elif classifier is not None:
        # Encoded here, in the worker: plain tuples and strings cross the process boundary far faster than dataclasses.
        tags = [encode_tags(classifier.classify(item.title, item.summary, item.language, item.published.date())) for item, _ in pairs]
    return len(entries), pairs, tags


_worker_store: Store | None = None


def _init_worker(classifier: Classifier | None, database_url: str | None, writing: AbstractContextManager[object] | None) -> None:
    """Set up a worker while the first responses are still on their way: its store, its parser."""
    global _worker_classifier, _worker_store
    _worker_classifier = classifier
    if database_url:
        _worker_store = Store(database_url, migrate=False, lock=writing)
        _worker_store.engine.connect().close()  # open the connection the first save will use
    import_parsers()


def _parse_in_worker(source: Source, response: Response, now: datetime) -> Parsed | str:
    return parse_and_normalise(source, response, now, _worker_classifier)


ToSave = tuple[Source, Response, datetime, SourceState]


def _parse_and_save_in_worker(jobs: list[ToSave]) -> list[tuple[int, StoreCounts] | str]:
    """Parse several sources' bodies and store the readable ones in one transaction; a ParseError's reason for the others."""
    outcomes: list[tuple[int, StoreCounts] | str] = []
    fetches: list[Fetched] = []
    for source, response, now, state in jobs:
        outcome = parse_and_normalise(source, response, now, _worker_classifier)
        if isinstance(outcome, str):
            outcomes.append(outcome)
            continue
        entries, pairs, tags = outcome
        outcomes.append((entries, StoreCounts()))
        fetches.append(Fetched(state, [p[0] for p in pairs], [p[1] for p in pairs], tags))
    assert _worker_store is not None
    counts = iter(_worker_store.save_fetches(fetches) if fetches else [])
    return [o if isinstance(o, str) else (o[0], next(counts)) for o in outcomes]


class ParsePool:
    """Parsing, normalising, classifying and storing in other processes, beside the network work.

    On two cores this more than halves a large fetch's wall time: the event
    loop keeps one core busy, the workers the other. When the store is a
    SQLite file, each worker writes what it parsed itself, one transaction
    per batch of sources, and sends back counts only: the items never cross
    back to the event loop's process, whose time goes to the network.
    Small bodies stay in-process, where a round trip would cost more than the work.
    """

    MIN_BYTES = 16_000
    MAX_BATCH = 16

    def __init__(self, workers: int, classifier: Classifier | None, store: Store | None = None) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.workers = workers
        self.classifier = classifier
        self._waiting: list[tuple[ToSave, asyncio.Future[tuple[int, StoreCounts] | str]]] = []
        self._busy = 0
        database_url = store.url if store is not None and store.is_sqlite_file else None
        methods = multiprocessing.get_all_start_methods()
        if "fork" in methods and threading.active_count() == 1:
            method = "fork"  # the cheapest: the classifier is inherited, not copied
        else:
            # A process with other threads (the scheduler's pool, a test's HTTP server) may fork while one of
            # them holds a lock, SQLite's among them, which the child would inherit held: start workers afresh.
            method = "forkserver" if "forkserver" in methods else "spawn"
        if database_url is not None and method == "fork":
            store.engine.dispose()  # no open SQLite connection may cross a fork (sqlite.org/howtocorrupt.html)
        self.saving = database_url is not None
        context = multiprocessing.get_context(method)
        writing = context.Lock() if self.saving else None  # the workers take turns to write
        self.executor = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init_worker, initargs=(classifier, database_url, writing)
        )
        # Start the workers now, while this process holds no database connection, rather than at the first body.
        self.executor.submit(int)

    @classmethod
    def for_run(cls, due_sources: int, classifier: Classifier | None, store: Store | None = None) -> ParsePool | None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        if cores < 2 or due_sources < 16:
            return None
        return cls(min(cores, 4), classifier, store)

    def saves(self, response: Response) -> bool:
        """Whether a worker parses and stores this body (see :meth:`parse_and_save`)."""
        return self.saving and len(response.body) >= self.MIN_BYTES

    async def run(self, source: Source, response: Response, now: datetime) -> Parsed | str:
        if len(response.body) < self.MIN_BYTES:
            return parse_and_normalise(source, response, now, self.classifier)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, _parse_in_worker, source, response, now)

    async def parse_and_save(self, source: Source, response: Response, now: datetime, state: SourceState) -> tuple[int, StoreCounts]:
        """Parse, classify and store a body in a worker, with the source's new state; raises ParseError."""
        future: asyncio.Future[tuple[int, StoreCounts] | str] = asyncio.get_running_loop().create_future()
        self._waiting.append(((source, response, now, state), future))
        self._hand_out()
        try:
            outcome = await future
        except Exception as e:  # the worker could not store its batch: a busy or broken database, a worker that died
            raise SaveError(
                source.id, f"not stored ({type(e).__name__}: {e}); nothing of it was saved, the next fetch tries again",
                response.status,
            ) from e
        if isinstance(outcome, str):
            raise ParseError(source.id, outcome, response.status)
        return outcome

    def _hand_out(self) -> None:
        """Give the waiting bodies to idle workers, shared out evenly.

        A body that arrives while every worker is busy waits for the next free
        one and goes with the others that arrived meanwhile: few, large
        hand-offs (and transactions) when bodies pour in, no delay when they trickle.
        """
        loop = asyncio.get_running_loop()
        while self._waiting and self._busy < self.workers:
            size = min(self.MAX_BATCH, -(-len(self._waiting) // (self.workers - self._busy)))
            batch, self._waiting = self._waiting[:size], self._waiting[size:]
            try:
                done = loop.run_in_executor(self.executor, _parse_and_save_in_worker, [job for job, _ in batch])
            except Exception as e:  # a broken pool: each of these sources fails, the others go on
                for _, future in batch:
                    future.set_exception(e)
                continue
            self._busy += 1
            done.add_done_callback(lambda finished, batch=batch: self._finished(finished, batch))

    def _finished(self, finished: asyncio.Future[list[tuple[int, StoreCounts] | str]], batch: list) -> None:
        self._busy -= 1
        error = finished.exception() if not finished.cancelled() else asyncio.CancelledError()
        for index, (_, future) in enumerate(batch):
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(finished.result()[index])
        self._hand_out()

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


async def _parse_and_normalise(
    source: Source, response: Response, now: datetime, pool: ParsePool | None, classifier: Classifier | None
) -> Parsed:
    if pool is not None:
        outcome = await pool.run(source, response, now)
    elif len(response.body) > 2_000_000 or source.type == "page":
        outcome = await asyncio.to_thread(parse_and_normalise, source, response, now, classifier)
    else:
        outcome = parse_and_normalise(source, response, now, classifier)
    if isinstance(outcome, str):
        raise ParseError(source.id, outcome, response.status)
    return outcome


def fetch(
    home: Home,
    *,
    source_ids: Iterable[str] | None = None,
    force: bool = False,
    store: Store | None = None,
    client: httpx.AsyncClient | None = None,
    on_result: OnResult | None = None,
    on_stored: OnStored | None = None,
    classifier: Classifier | None = None,
    sources: Sequence[Source] | None = None,
) -> list[FetchResult]:
    """Fetch the home folder's sources into its store and tag what is new (``borderlinks fetch``).

    ``sources``: the home's sources, when the caller has read them already.
    """
    sources = list(sources) if sources is not None else home.sources()
    if source_ids is not None:
        wanted = list(source_ids)
        known = {s.id for s in sources}
        unknown = [w for w in wanted if w not in known]
        if unknown:
            from .errors import ConfigError

            raise ConfigError(f"no source with id {', '.join(map(repr, unknown))}", home.content("sources"), fix="Run 'borderlinks status' to list source ids")
        sources = [s for s in sources if s.id in wanted]
        force = True
    settings = home.settings().fetch
    if classifier is None:
        from .tagging import make_classifier

        classifier = make_classifier(home)
    own_store = store is None
    store = store or Store(home.database_url)
    try:
        return asyncio.run(
            fetch_sources(
                sources, store, settings, force=force, client=client, on_result=on_result, on_stored=on_stored,
                classifier=classifier,
            )
        )
    finally:
        if own_store:
            store.close()
