"""Fetching against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import gzip
import threading
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from borderlinks.sources import fetch
from conftest import DATA, SiteHome, read_data, unused_port

RSS = "application/rss+xml; charset=utf-8"


def serve(server: HTTPServer, path: str, name: str, content_type: str = RSS) -> str:
    server.expect_request(path).respond_with_data(read_data(f"feeds/{name}"), content_type=content_type)
    return server.url_for(path)


def only(results):
    assert len(results) == 1
    return results[0]


@pytest.mark.parametrize(
    ("name", "content_type", "expected"),
    [
        ("border-rss2.xml", RSS, 3),
        ("border-atom.xml", "application/atom+xml", 2),
        ("border-rdf.xml", "application/rdf+xml", 1),
        ("border-rss091.xml", "text/xml", 1),
        ("border-feed.json", "application/feed+json", 2),
    ],
)
def test_every_feed_format_is_fetched_and_stored(site: SiteHome, httpserver: HTTPServer, name, content_type, expected):
    site.add_feed("outlet", serve(httpserver, "/feed", name, content_type))
    result = only(fetch(site.home))
    assert (result.status, result.new_items) == ("ok", expected)
    with site.store() as store:
        assert len(store.get_items()) == expected


def test_stored_item_is_normalised(site: SiteHome, httpserver: HTTPServer):
    site.add_feed("frontera", serve(httpserver, "/feed", "border-rss2.xml"), language="en", country="United States")
    fetch(site.home)
    with site.store() as store:
        items = {i.guid: i for i in store.get_items()}
    buoys = items["frontera-1001"]
    assert buoys.url == "https://frontera.example/2025/03/20/buoys?id=7"
    assert buoys.title == "Texas installs more buoys in the Río Grande near Eagle Pass"
    assert buoys.summary == "State officials said the new barrier extends 300 metres."
    assert buoys.published.isoformat() == "2025-03-20T19:05:00+00:00"
    assert buoys.author == "Ana Martínez"
    assert buoys.language == "en"
    assert "“sin citas”" in items["frontera-1002"].title


def test_second_fetch_sends_conditional_get_and_stores_nothing(site: SiteHome, httpserver: HTTPServer):
    body = read_data("feeds/border-rss2.xml")
    seen_headers: list[dict[str, str]] = []

    def handler(request: Request) -> Response:
        seen_headers.append(dict(request.headers))
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304)
        return Response(body, content_type=RSS, headers={"ETag": '"v1"', "Last-Modified": "Thu, 20 Mar 2025 20:00:00 GMT"})

    httpserver.expect_request("/feed").respond_with_handler(handler)
    site.add_feed("frontera", httpserver.url_for("/feed"))
    first = only(fetch(site.home))
    second = only(fetch(site.home))
    assert (first.status, first.new_items) == ("ok", 3)
    assert (second.status, second.http_status, second.new_items) == ("not-modified", 304, 0), second.error
    assert seen_headers[1]["If-None-Match"] == '"v1"'
    assert seen_headers[1]["If-Modified-Since"] == "Thu, 20 Mar 2025 20:00:00 GMT"
    with site.store() as store:
        assert len(store.get_items()) == 3


def test_fetching_twice_without_validators_stores_nothing_twice(site: SiteHome, httpserver: HTTPServer):
    site.add_feed("frontera", serve(httpserver, "/feed", "border-rss2.xml"))
    fetch(site.home)
    again = only(fetch(site.home))
    assert (again.status, again.new_items, again.updated_items) == ("ok", 0, 0)
    with site.store() as store:
        assert len(store.get_items()) == 3


def test_updated_entry_is_updated_in_place(site: SiteHome, httpserver: HTTPServer):
    body = read_data("feeds/border-rss2.xml")
    versions = [body, body.replace(b"Border Patrol reports fewer", b"Border Patrol reports far fewer")]
    httpserver.expect_request("/feed").respond_with_handler(lambda r: Response(versions.pop(0), content_type=RSS))
    site.add_feed("frontera", httpserver.url_for("/feed"))
    fetch(site.home)
    second = only(fetch(site.home))
    assert (second.new_items, second.updated_items) == (0, 1)
    with site.store() as store:
        titles = sorted(i.title for i in store.get_items())
    assert len(titles) == 3
    assert "Border Patrol reports far fewer apprehensions in March" in titles


def test_churning_guids_are_recognised_by_link_when_identity_is_link(site: SiteHome, httpserver: HTTPServer):
    body = read_data("feeds/border-rss2.xml")
    versions = [body, body.replace(b"frontera-10", b"churned-20")]
    httpserver.expect_request("/feed").respond_with_handler(lambda r: Response(versions.pop(0), content_type=RSS))
    site.add_feed("frontera", httpserver.url_for("/feed"), identity="link")
    fetch(site.home)
    assert only(fetch(site.home)).new_items == 0


def test_same_article_from_two_sources_is_stored_once(site: SiteHome, httpserver: HTTPServer):
    site.add_feed("one", serve(httpserver, "/one", "border-rss2.xml"))
    site.add_feed("two", serve(httpserver, "/two", "border-rss2.xml"))
    fetch(site.home)
    with site.store() as store:
        assert len(store.get_items()) == 3


def test_redirects_are_followed(site: SiteHome, httpserver: HTTPServer):
    serve(httpserver, "/new-feed", "border-rss2.xml")
    httpserver.expect_request("/old-feed").respond_with_data("", status=301, headers={"Location": "/new-feed"})
    site.add_feed("moved", httpserver.url_for("/old-feed"))
    assert only(fetch(site.home)).new_items == 3


def test_redirect_loop_is_an_error(site: SiteHome, httpserver: HTTPServer):
    httpserver.expect_request("/a").respond_with_data("", status=302, headers={"Location": "/b"})
    httpserver.expect_request("/b").respond_with_data("", status=302, headers={"Location": "/a"})
    site.add_feed("loop", httpserver.url_for("/a"))
    result = only(fetch(site.home))
    assert result.status == "error"
    assert "redirect loop" in result.error


def test_more_than_five_redirects_is_an_error(site: SiteHome, httpserver: HTTPServer):
    for n in range(7):
        httpserver.expect_request(f"/r{n}").respond_with_data("", status=302, headers={"Location": f"/r{n + 1}"})
    site.add_feed("chain", httpserver.url_for("/r0"))
    result = only(fetch(site.home))
    assert result.status == "error"
    assert "more than 5 redirects" in result.error


def test_redirect_to_a_file_url_is_refused(site: SiteHome, httpserver: HTTPServer):
    httpserver.expect_request("/feed").respond_with_data("", status=302, headers={"Location": "file:///etc/passwd"})
    site.add_feed("sneaky", httpserver.url_for("/feed"))
    result = only(fetch(site.home))
    assert result.status == "error"
    assert "only http and https" in result.error


@pytest.mark.parametrize(("status", "advice"), [(404, "not found"), (410, "gone for good"), (403, "refuses")])
def test_client_errors_are_reported_with_advice_and_not_retried(fast_settings: SiteHome, httpserver: HTTPServer, status, advice):
    httpserver.expect_request("/feed").respond_with_data("no", status=status)
    fast_settings.add_feed("broken", httpserver.url_for("/feed"))
    result = only(fetch(fast_settings.home))
    assert (result.status, result.http_status) == ("error", status)
    assert advice in result.error
    assert len(httpserver.log) == 1


def test_server_error_is_retried_then_succeeds(fast_settings: SiteHome, httpserver: HTTPServer):
    responses = [Response("oops", status=500), Response("busy", status=503), Response(read_data("feeds/border-rss2.xml"), content_type=RSS)]
    httpserver.expect_request("/feed").respond_with_handler(lambda r: responses.pop(0))
    fast_settings.add_feed("flaky", httpserver.url_for("/feed"))
    result = only(fetch(fast_settings.home))
    assert (result.status, result.new_items) == ("ok", 3)
    assert len(httpserver.log) == 3


def test_persistent_server_error_is_recorded_after_retries(fast_settings: SiteHome, httpserver: HTTPServer):
    httpserver.expect_request("/feed").respond_with_data("down", status=500)
    fast_settings.add_feed("down", httpserver.url_for("/feed"))
    result = only(fetch(fast_settings.home))
    assert result.status == "error"
    assert "HTTP 500" in result.error and "after 3 attempts" in result.error
    with fast_settings.store() as store:
        state = store.source_states()["down"]
    assert state.consecutive_failures == 1
    assert state.last_error == result.error


def test_retry_after_is_honoured(fast_settings: SiteHome, httpserver: HTTPServer):
    times: list[float] = []

    def handler(request: Request) -> Response:
        times.append(time.monotonic())
        if len(times) == 1:
            return Response("slow down", status=429, headers={"Retry-After": "1"})
        return Response(read_data("feeds/border-rss2.xml"), content_type=RSS)

    httpserver.expect_request("/feed").respond_with_handler(handler)
    fast_settings.add_feed("polite", httpserver.url_for("/feed"))
    assert only(fetch(fast_settings.home)).status == "ok"
    assert times[1] - times[0] >= 0.95


def test_retry_after_beyond_our_patience_gives_up_at_once(fast_settings: SiteHome, httpserver: HTTPServer):
    httpserver.expect_request("/feed").respond_with_data("later", status=503, headers={"Retry-After": "3600"})
    fast_settings.add_feed("later", httpserver.url_for("/feed"))
    result = only(fetch(fast_settings.home))
    assert "retry after 3600 s" in result.error
    assert len(httpserver.log) == 1


def test_slow_response_times_out(fast_settings: SiteHome, threaded_server: HTTPServer):
    def slow(request: Request) -> Response:
        time.sleep(2.5)
        return Response(read_data("feeds/border-rss2.xml"), content_type=RSS)

    threaded_server.expect_request("/feed").respond_with_handler(slow)
    fast_settings.write_settings("[fetch]\nread_timeout = 0.5\ndeadline = 2.0\nbackoff = 0.05\nretries = 1\n")
    fast_settings.add_feed("slow", threaded_server.url_for("/feed"))
    started = time.monotonic()
    result = only(fetch(fast_settings.home))
    assert result.status == "error"
    assert "timed out" in result.error or "gave up" in result.error
    assert time.monotonic() - started < 4


def test_dripping_server_is_cut_off_by_the_deadline(fast_settings: SiteHome, drip_server: str):
    fast_settings.write_settings("[fetch]\nread_timeout = 5.0\ndeadline = 1.5\nretries = 0\n")
    fast_settings.add_feed("drip", drip_server)
    started = time.monotonic()
    result = only(fetch(fast_settings.home))
    assert result.status == "error"
    assert "gave up after 1.5 s" in result.error
    assert time.monotonic() - started < 3


def test_connection_refused_is_an_error_and_others_still_fetch(fast_settings: SiteHome, httpserver: HTTPServer):
    fast_settings.add_feed("dead", f"http://127.0.0.1:{unused_port()}/feed")
    fast_settings.add_feed("alive", serve(httpserver, "/feed", "border-rss2.xml"))
    results = {r.source_id: r for r in fetch(fast_settings.home)}
    assert results["dead"].status == "error"
    assert "connection refused" in results["dead"].error
    assert (results["alive"].status, results["alive"].new_items) == ("ok", 3)


def test_response_over_the_size_cap_is_refused(fast_settings: SiteHome, httpserver: HTTPServer):
    fast_settings.write_settings("[fetch]\nmax_bytes = 10000\nbackoff = 0.05\n")
    big = read_data("feeds/border-rss2.xml").replace(b"</channel>", b"<!--" + b"x" * 50_000 + b"--></channel>")
    httpserver.expect_request("/feed").respond_with_data(big, content_type=RSS)
    fast_settings.add_feed("big", httpserver.url_for("/feed"))
    result = only(fetch(fast_settings.home))
    assert result.status == "error"
    assert "cap" in result.error


def test_gzip_bomb_is_stopped_at_the_cap(fast_settings: SiteHome, httpserver: HTTPServer):
    fast_settings.write_settings("[fetch]\nmax_bytes = 1000000\n")
    bomb = gzip.compress(b"<rss>" + b" " * 200_000_000, compresslevel=9)
    assert len(bomb) < 300_000
    httpserver.expect_request("/feed").respond_with_data(bomb, content_type=RSS, headers={"Content-Encoding": "gzip"})
    fast_settings.add_feed("bomb", httpserver.url_for("/feed"))
    result = only(fetch(fast_settings.home))
    assert result.status == "error"
    assert "once decompressed" in result.error


def test_gzip_encoded_feed_is_read(site: SiteHome, httpserver: HTTPServer):
    body = gzip.compress(read_data("feeds/border-rss2.xml"))
    httpserver.expect_request("/feed").respond_with_data(body, content_type=RSS, headers={"Content-Encoding": "gzip"})
    site.add_feed("zipped", httpserver.url_for("/feed"))
    assert only(fetch(site.home)).new_items == 3


def test_html_page_where_a_feed_was_expected_is_a_clear_error(site: SiteHome, httpserver: HTTPServer):
    site.add_feed("homepage", serve(httpserver, "/", "html-page.html", "text/html"))
    result = only(fetch(site.home))
    assert result.status == "error"
    assert "HTML page, not a feed" in result.error


def test_wrongly_declared_encoding_is_repaired(site: SiteHome, httpserver: HTTPServer):
    site.add_feed("liar", serve(httpserver, "/feed", "latin1-declared-utf8.xml"))
    fetch(site.home)
    with site.store() as store:
        (item,) = store.get_items()
    assert item.title == "Señales de alarma en la frontera de Panamá"
    assert item.summary == "Migración y niños en el Darién."


def test_latin1_feed_declared_correctly_is_read(site: SiteHome, httpserver: HTTPServer):
    site.add_feed("latin", serve(httpserver, "/feed", "latin1-declared.xml", "text/xml"))
    fetch(site.home)
    with site.store() as store:
        assert store.get_items()[0].title == "Señales de alarma en la frontera de Panamá"


def test_invalid_utf8_keeps_the_good_text(site: SiteHome, httpserver: HTTPServer):
    site.add_feed("damaged", serve(httpserver, "/feed", "invalid-utf8.xml"))
    assert only(fetch(site.home)).status == "ok"
    with site.store() as store:
        assert store.get_items()[0].title.startswith("Café y frontera")


def test_billion_laughs_entity_is_not_expanded(site: SiteHome, httpserver: HTTPServer):
    site.add_feed("laughs", serve(httpserver, "/feed", "billion-laughs.xml"))
    started = time.monotonic()
    result = only(fetch(site.home))
    assert time.monotonic() - started < 5
    if result.status == "error":
        assert "billion laughs" in result.error
    else:
        with site.store() as store:
            assert all(len(i.title) < 100 for i in store.get_items())


def test_user_agent_is_honest(site: SiteHome, httpserver: HTTPServer):
    serve(httpserver, "/feed", "border-rss2.xml")
    site.add_feed("ua", httpserver.url_for("/feed"))
    fetch(site.home)
    agent = httpserver.log[0][0].headers["User-Agent"]
    assert agent.startswith("borderlinks/") and "+https://" in agent


def test_per_host_limit_caps_concurrent_requests(site: SiteHome, threaded_server: HTTPServer):
    site.write_settings("[fetch]\nper_host = 2\n")
    active = 0
    peak = 0
    lock = threading.Lock()
    body = read_data("feeds/border-rss2.xml")

    def handler(request: Request) -> Response:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.2)
        with lock:
            active -= 1
        return Response(body.replace(b"frontera.example", request.path.strip("/").encode() + b".example"), content_type=RSS)

    for n in range(8):
        threaded_server.expect_request(f"/f{n}").respond_with_handler(handler)
        site.add_feed(f"feed-{n}", threaded_server.url_for(f"/f{n}"))
    started = time.monotonic()
    results = fetch(site.home)
    assert all(r.status == "ok" for r in results)
    assert peak == 2
    assert time.monotonic() - started >= 0.8


def test_source_not_due_is_skipped(site: SiteHome, httpserver: HTTPServer):
    site.add_feed("hourly", serve(httpserver, "/feed", "border-rss2.xml"), every=60)
    fetch(site.home)
    assert only(fetch(site.home)).status == "skipped"
    assert len(httpserver.log) == 1


def test_disabled_source_is_not_fetched(site: SiteHome, httpserver: HTTPServer):
    site.add_feed("off", serve(httpserver, "/feed", "border-rss2.xml"), enabled=False)
    assert only(fetch(site.home)).status == "skipped"
    assert httpserver.log == []


def test_page_source_is_scraped(site: SiteHome, httpserver: HTTPServer):
    httpserver.expect_request("/prensa").respond_with_data((DATA / "pages/press-releases.html").read_bytes(), content_type="text/html; charset=utf-8")
    site.write_sources(
        f"""
[[source]]
id = "migracion"
name = "Servicio de Migración"
url = "{httpserver.url_for('/prensa')}"
type = "page"
language = "es"

[source.selectors]
items = "article.comunicado"
title = "h2"
link = "h2 a"
summary = "p.resumen"
date = "time"
date_format = "%d/%m/%Y"
"""
    )
    result = only(fetch(site.home))
    assert (result.status, result.new_items) == ("ok", 3)
    with site.store() as store:
        items = {i.title: i for i in store.get_items()}
    darien = items["Operativo humanitario en el Darién atiende a 1.200 migrantes"]
    assert darien.url == httpserver.url_for("/prensa/2025/03/20/operativo-darien")
    assert darien.published.isoformat() == "2025-03-20T14:30:00+00:00"
    assert items["Nuevo vuelo de retorno voluntario a Colombia"].summary == "Ciento cuarenta personas regresaron a Bogotá & Medellín."
    assert items["Convenio con la OIM"].published.date().isoformat() == "2025-03-18"


def test_page_whose_selectors_match_nothing_is_a_clear_error(site: SiteHome, httpserver: HTTPServer):
    httpserver.expect_request("/prensa").respond_with_data((DATA / "pages/press-releases.html").read_bytes(), content_type="text/html")
    site.write_sources(
        f'[[source]]\nid = "p"\nname = "P"\nurl = "{httpserver.url_for("/prensa")}"\ntype = "page"\n\n'
        '[source.selectors]\nitems = "div.press"\ntitle = "h2"\nlink = "a"\n'
    )
    result = only(fetch(site.home))
    assert result.status == "error"
    assert "matched nothing" in result.error and "update the selectors" in result.error


def test_atom_xhtml_text_constructs_are_read(site: SiteHome, httpserver: HTTPServer):
    site.add_feed("xhtml", serve(httpserver, "/feed", "atom-xhtml.xml", "application/atom+xml"))
    fetch(site.home)
    with site.store() as store:
        (item,) = store.get_items()
    assert item.title == "Ecuador extends its emergency"
    assert item.summary == "The decree covers seven provinces."


def big_feed(outlet: str, shared: int = 0, items: int = 30) -> bytes:
    """An RSS feed over ParsePool.MIN_BYTES, so that a worker process parses and stores it; the first ``shared`` links are common to every outlet."""
    entries = []
    for i in range(items):
        wire = i < shared
        link = f"https://wire.example/story-{i}" if wire else f"https://{outlet}.example/story-{i}"
        entries.append(
            f"<item><title>{'Wire' if wire else outlet} story {i}</title><link>{link}</link><guid>{outlet}-{i}</guid>"
            f"<pubDate>Thu, 20 Mar 2025 14:{i % 60:02d}:00 -0500</pubDate>"
            f"<description>&lt;p&gt;{'Migrantes cruzan el Darién rumbo al norte. ' * 14}&lt;/p&gt;</description></item>"
        )
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{outlet}</title>{"".join(entries)}</channel></rss>'.encode()


def test_many_large_feeds_are_parsed_and_stored_by_worker_processes(site: SiteHome, httpserver: HTTPServer, monkeypatch):
    from borderlinks.sources import ParsePool

    handed: list[str] = []
    parse_and_save = ParsePool.parse_and_save

    async def spy(self, source, response, now, state):
        handed.append(source.id)
        return await parse_and_save(self, source, response, now, state)

    monkeypatch.setattr(ParsePool, "parse_and_save", spy)
    for n in range(20):
        httpserver.expect_request(f"/f{n}").respond_with_data(big_feed(f"outlet{n}", shared=5), content_type=RSS)
        site.add_feed(f"feed-{n}", httpserver.url_for(f"/f{n}"))
    results = fetch(site.home)
    assert len(handed) == 20
    assert all(r.status == "ok" and r.entries == 30 for r in results)
    # The five wire stories every outlet carries are stored once, by whichever source came first.
    assert (sum(r.new_items for r in results), sum(r.updated_items for r in results)) == (20 * 25 + 5, 0)
    with site.store() as store:
        assert len(store.get_items()) == 20 * 25 + 5
        assert all(state.last_status == "ok" for state in store.source_states().values())
    assert sum(r.new_items + r.updated_items for r in fetch(site.home)) == 0


def test_a_batch_the_database_refuses_fails_only_its_sources_and_nothing_of_it_is_half_stored(site: SiteHome, httpserver: HTTPServer):

    for n in range(20):
        httpserver.expect_request(f"/f{n}").respond_with_data(big_feed(f"outlet{n}"), content_type=RSS)
        site.add_feed(f"feed-{n}", httpserver.url_for(f"/f{n}"))
    with site.store() as store, store.engine.begin() as conn:  # a real refusal, from SQLite itself, for one source
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse BEFORE INSERT ON items WHEN NEW.source_id = 'feed-7' "
            "BEGIN SELECT RAISE(ABORT, 'simulated: disk I/O error'); END"
        )
    results = {r.source_id: r for r in fetch(site.home)}
    failed = {k for k, r in results.items() if r.status == "error"}
    assert "feed-7" in failed and "not stored" in results["feed-7"].error and "simulated" in results["feed-7"].error
    assert len(failed) < 20 and all(results[k].new_items == 30 for k in results.keys() - failed)  # the others went on
    with site.store() as store:
        stored = {item.source_id for item in store.get_items()}
        assert stored == results.keys() - failed  # a refused batch left nothing behind
        with store.engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER refuse")
        assert store.source_states()["feed-7"].last_status == "error"
    again = fetch(site.home, force=True)
    assert sum(r.new_items for r in again) == 30 * len(failed)


def saved_scenario(seed: int):
    """Fetches of a few sources whose items overlap by URL and identity, some changed since a first save."""
    import random
    from datetime import UTC, datetime

    from borderlinks.model import Classification, Item, Tag
    from borderlinks.store import Fetched, SourceState

    rng = random.Random(seed)
    now = datetime(2025, 3, 20, 12, tzinfo=UTC)

    def item(source: str) -> tuple[Item, str]:
        n = rng.randrange(12)
        url = rng.choice([f"https://wire.example/{n}", f"https://{source}.example/{n}", ""])
        identity = rng.choice([url, f"{source}-{n}", f"shared-{n}"]) or f"{source}-{n}"
        title = f"Story {n} v{rng.randrange(2)}"
        made = Item(
            id=f"{seed}-{source}-{n}-{url}"[-16:] if not url else url[-16:], source_id=source, url=url, title=title,
            summary=rng.choice(["", "Cruces en el Darién."]), published=now, language="es", guid=identity, first_seen=now,
        )
        return made, identity

    def tags() -> Classification | None:
        return rng.choice([None, Classification(themes=(Tag(name=f"theme-{rng.randrange(3)}", score=1.0),), countries=())])

    def fetches() -> list[Fetched]:
        made = []
        for source in rng.sample(["a", "b", "c", "d"], 3):
            pairs = {}
            for _ in range(rng.randrange(6)):
                pair = item(source)
                pairs.setdefault(pair[0].id, pair)  # one item per id, as a real feed's normalised entries would be
            chosen = list(pairs.values())
            made.append(Fetched(SourceState(source, etag=str(seed)), [p[0] for p in chosen], [p[1] for p in chosen], [tags() for _ in chosen]))
        return made

    return fetches(), fetches()


def dump(store) -> tuple:
    import sqlalchemy as sa

    with store.engine.connect() as conn:
        return tuple(
            sorted(tuple(row) for row in conn.execute(sa.text(f"SELECT * FROM {table}")))
            for table in ("items", "item_tags", "source_state")
        )


@pytest.mark.parametrize("seed", range(40))
def test_saving_sources_together_is_saving_them_one_after_another(tmp_path, seed):
    from sqlalchemy.exc import IntegrityError

    from borderlinks.store import Store

    first, second = saved_scenario(seed)
    together, one_by_one = Store(f"sqlite:///{tmp_path}/together.db"), Store(f"sqlite:///{tmp_path}/one-by-one.db")
    outcomes = []
    for store, grouped in ((together, True), (one_by_one, False)):
        try:
            counts = []
            for fetches in (first, second):
                counts += store.save_fetches(fetches) if grouped else [store.save_fetches([f])[0] for f in fetches]
            outcomes.append(counts)
        except IntegrityError:  # two items of one source with one identity: refused either way
            outcomes.append("refused")
    assert outcomes[0] == outcomes[1]
    if outcomes[0] != "refused":
        assert dump(together) == dump(one_by_one)


def test_stored_times_are_iso_utc_to_the_second():
    from datetime import UTC, datetime, timedelta, timezone

    from borderlinks.store import utc_text

    assert utc_text(datetime(2025, 3, 20, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5)))) == "2025-03-21T04:59:59Z"
    for when in (datetime(2025, 3, 20, 12, tzinfo=UTC), datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC)):
        assert utc_text(when) == when.strftime("%Y-%m-%dT%H:%M:%SZ")
