"""Delivery: the subscriber list, and each post mailed exactly once to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import html
import io
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import wsgiref.simple_server
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from hypothesis import given, settings
from hypothesis import strategies as st

from borderlinks.cli import main
from borderlinks.config import ConfigError, Home, MailSettings, load_settings, mail_settings
from borderlinks.deliver import SendLog, compose, filter_digest, letterhead, make_mailer, prepare, send
from borderlinks.demo import run_demo
from borderlinks.model import Digest, DigestItem, DigestSection, Subscriber
from borderlinks.review import read_review_file, write_review_file
from borderlinks.store import Store, sends
from borderlinks.subscribers import (
    add_subscriber,
    import_subscribers,
    list_subscribers,
    read_subscribers_csv,
    unsubscribe,
    unsubscribe_app,
)
from borderlinks.workflow import load_context, select_digests
from conftest import REPO, unused_port

SECURITY, DAY = "security-news", date(2025, 3, 21)
HEADER = "email,name,editions,themes,language,status\n"


# -- a real SMTP server --------------------------------------------------------------------


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps what it accepts and answers as a test tells it."""

    messages: list[Received] = field(default_factory=list)
    connections: int = 0
    pipelining: bool = False  # offer PIPELINING (aiosmtpd reads commands in order, as RFC 2920 asks)
    mail_options: list[list[str]] = field(default_factory=list)
    refuse: dict[str, list[str]] = field(default_factory=dict)  # address -> answers to RCPT in turn, the last for good; "" accepts
    refuse_text: dict[str, list[str]] = field(default_factory=dict)  # the same for the answer to the message's text
    quota_after: int | None = None  # refuse every sender (5xx, a quota) from this connection on
    hold_after: int | None = None  # hold the DATA after this many messages until released
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802 - aiosmtpd's hook name
        self.connections += 1
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]] if self.pipelining else responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
        if self.quota_after is not None and self.connections >= self.quota_after:
            return "550 5.4.5 daily sending quota exceeded"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        answers = self.refuse.get(address)
        answer = (answers.pop(0) if len(answers) > 1 else answers[0]) if answers else ""
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.hold_after is not None and len(self.messages) >= self.hold_after:
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.01)
            return "451 4.3.0 the sender went away"  # never accepted: the client died waiting for this answer
        answers = self.refuse_text.get(envelope.rcpt_tos[0])
        answer = (answers.pop(0) if len(answers) > 1 else answers[0]) if answers else ""
        if answer:
            return answer
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        self.mail_options.append(list(envelope.mail_options))
        return "250 2.0.0 OK"

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages if address in m.recipients]


@pytest.fixture
def inbox(request: pytest.FixtureRequest) -> Iterator[tuple[Inbox, int]]:
    """The server; ``@both_ways`` runs a test against it with and without PIPELINING."""
    handler = Inbox(pipelining=getattr(request, "param", "") == "pipelining")
    port = unused_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, server_hostname="mx.test")
    controller.start()
    yield handler, port
    handler.release.set()
    controller.stop()


both_ways = pytest.mark.parametrize("inbox", ["one-by-one", "pipelining"], indirect=True)


# -- a home with the demo's items -----------------------------------------------------------


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo") / "home"
    run_demo(folder, echo=lambda _line: None)
    return folder


def settings_text(port: int, extra: str = "", retries: int = 2) -> str:
    return (
        'site_url = "https://links.example.org/"\n\n[mail]\nhost = "127.0.0.1"\n'
        f'port = {port}\ntls = "none"\nsender = "Border Links <links@example.org>"\n'
        f'reply_to = "editor@example.org"\nretries = {retries}\nbackoff = 0.01\n{extra}'
    )


@pytest.fixture
def home(demo_home: Path, tmp_path: Path, inbox: tuple[Inbox, int]) -> Home:
    root = tmp_path / "home"
    shutil.copytree(demo_home, root)
    (root / "borderlinks.toml").write_text(settings_text(inbox[1]), encoding="utf-8")
    return Home(root)


def subscribe(home: Home, rows: str) -> None:
    (home.root / "subscribers.csv").write_text(HEADER + rows, encoding="utf-8")
    with Store(home.database_url) as store:
        result = import_subscribers(home, store)
    assert not result.errors, result.errors


def run_send(home: Home, **options: object):
    with Store(home.database_url) as store:
        return send(home, store, environ={}, **options)  # type: ignore[arg-type]


def the_digest(home: Home, edition: str = SECURITY, day: date = DAY) -> list[Digest]:
    context = load_context(home)
    with Store(home.database_url) as store:
        return [d for d in select_digests(context, store, context.editions[edition], day).digests if d.items]


def send_rows(home: Home) -> dict[str, tuple[str, str]]:
    with Store(home.database_url) as store, store.engine.connect() as conn:
        return {row.subscriber: (row.state, row.message_id) for row in conn.execute(sa.select(sends))}


def parts(message: email.message.EmailMessage) -> tuple[str, str]:
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()  # type: ignore[union-attr]


# -- the subscriber list ------------------------------------------------------------------------


def test_csv_imports_the_good_rows_and_reports_each_bad_one_with_its_line(home: Home):
    (home.root / "subscribers.csv").write_text(
        HEADER
        + "Ana@Example.ORG,Ana Pérez,security-news,darien;asylum,es,active\n"
        + "not-an-address,,,,,\n"
        + "carol@example.org,Carol,security-newz,,,active\n"
        + "dan@example.org,Dan,,,xx,\n"
        + "ana@example.org,Ana again,,,,\n"
        + '"eve@example.org","Eve, the second",,"drugs; corruption",,unsubscribed\n',
        encoding="utf-8",
    )
    with Store(home.database_url) as store:
        result = import_subscribers(home, store)
        listed = {s.email: s for s in list_subscribers(store)}
    assert (result.added, [(e.line, e.key) for e in result.errors]) == (2, [(3, "email"), (4, "editions"), (5, "language"), (6, "email")])
    assert "Did you mean 'security-news'?" in str(result.errors[1])
    assert "already on line 2" in str(result.errors[3])
    assert listed["Ana@example.org"] == Subscriber("Ana@example.org", "Ana Pérez", ("security-news",), ("darien", "asylum"), "es", "active")
    assert listed["eve@example.org"].themes == ("drugs", "corruption") and not listed["eve@example.org"].active
    assert len({s.token for s in listed.values()}) == 2 and all(len(s.token) >= 32 for s in listed.values())


def test_importing_again_changes_nothing_and_never_resubscribes_who_unsubscribed(home: Home):
    subscribe(home, "ana@example.org,Ana,,,,active\nbob@example.org,Bob,,,,active\n")
    with Store(home.database_url) as store:
        bob = next(s for s in list_subscribers(store) if s.email == "bob@example.org")
        unsubscribe(store, bob.token)
        again = import_subscribers(home, store)
        statuses = {s.email: s.status for s in list_subscribers(store)}
    assert (again.added, again.updated, again.unchanged, again.kept_unsubscribed) == (0, 0, 1, ("bob@example.org",))
    assert statuses == {"ana@example.org": "active", "bob@example.org": "unsubscribed"}


def test_csv_in_a_semicolon_separated_spreadsheet_is_read_too():
    rows, errors = read_subscribers_csv("email;name;themes\nana@example.org;Ana;\"darien;asylum\"\n")
    assert not errors and rows == [(2, Subscriber("ana@example.org", "Ana", themes=("darien", "asylum")))]


def test_subscribers_commands_add_list_remove_and_unsubscribe(home: Home, capsys):
    root = str(home.root)
    assert main(["--home", root, "subscribers", "add", "Zoe@EXAMPLE.org", "--name", "Zoë", "--theme", "darien"]) == 0
    assert main(["--home", root, "subscribers", "add", "bad@", "--theme", "darien"]) == 1
    assert main(["--home", root, "subscribers", "list", "--csv"]) == 0
    out = capsys.readouterr().out
    assert "Added Zoe@example.org." in out and "Zoe@example.org,Zoë,,darien,,active" in out
    with Store(home.database_url) as store:
        token = list_subscribers(store)[0].token
    assert main(["--home", root, "unsubscribe", token]) == 0
    assert main(["--home", root, "unsubscribe", "no-such-token-aaaaaaaaaaaaaaaa"]) == 1
    assert main(["--home", root, "subscribers", "list", "--status", "unsubscribed"]) == 0
    assert "Zoe@example.org" in capsys.readouterr().out
    assert main(["--home", root, "subscribers", "remove", "zoe@example.org"]) == 0
    with Store(home.database_url) as store:
        assert list_subscribers(store) == []


def test_subscribers_add_reports_every_mistake_at_once(home: Home):
    with Store(home.database_url) as store, pytest.raises(ConfigError) as raised:
        add_subscriber(home, store, "bad@", editions=["securty-news"], language="fr")
    message = str(raised.value)
    assert "'bad@' is not a valid address" in message
    assert "unknown edition 'securty-news'" in message and "Did you mean 'security-news'?" in message
    assert "language 'fr' is not one of en, es, pt" in message


def test_unsubscribe_endpoint_changes_nothing_on_get_and_unsubscribes_on_one_click_post(home: Home):
    subscribe(home, "ana@example.org,Ana,,,,active\n")
    with Store(home.database_url) as store:
        token = list_subscribers(store)[0].token
        app = unsubscribe_app(store)

        def call(method: str, body: bytes = b"") -> tuple[str, bytes]:
            answer: list[str] = []
            environ = {"REQUEST_METHOD": method, "QUERY_STRING": f"token={token}", "CONTENT_LENGTH": str(len(body)),
                       "wsgi.input": io.BytesIO(body)}
            page = b"".join(app(environ, lambda status, headers: answer.append(status)))
            return answer[0], page

        status, page = call("GET")
        assert status == "200 OK" and b"<form method=\"post\">" in page and list_subscribers(store)[0].active
        status, page = call("POST", b"List-Unsubscribe=One-Click")
        assert status == "200 OK" and b"a***@example.org" in page and not list_subscribers(store)[0].active


@pytest.mark.parametrize("length", ["-1", "lots"])
def test_unsubscribe_endpoint_answers_a_post_with_a_bad_length_without_reading_it(home: Home, length: str):
    subscribe(home, "ana@example.org,Ana,,,,active\n")
    with Store(home.database_url) as store:
        token = list_subscribers(store)[0].token
        server = wsgiref.simple_server.make_server("127.0.0.1", 0, unsubscribe_app(store), handler_class=QuietHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            with socket.create_connection(server.server_address, timeout=5) as client:
                # The client keeps its side open, as a slow or hostile one would.
                client.sendall(f"POST /unsubscribe HTTP/1.0\r\nContent-Length: {length}\r\n\r\ntoken={token}".encode())
                answer = b"".join(iter(lambda: client.recv(65536), b"")).decode("utf-8", "replace")
        finally:
            server.shutdown()
            server.server_close()
        assert answer.startswith("HTTP/1.0 404") and "not valid" in answer
        assert list_subscribers(store)[0].active


class QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


# -- the messages -----------------------------------------------------------------------------


@both_ways
def test_each_message_is_multipart_alternative_with_headers_and_its_own_unsubscribe_link(home: Home, inbox):
    server, _port = inbox
    subscribe(home, "ana@example.org,Ana Pérez,,,,active\nbob@example.org,,security-news,,,active\n")
    [result] = run_send(home, edition=SECURITY, day=DAY)
    [digest] = the_digest(home)
    assert (result.sent, result.subscribers, len(server.messages)) == (2, 2, 2)
    with Store(home.database_url) as store:
        tokens = {s.email: s.token for s in list_subscribers(store)}
    ids = set()
    for received in server.messages:
        [address] = received.recipients
        token = tokens[address]
        message = received.message
        url = f"https://links.example.org/unsubscribe?token={token}"
        assert received.sender == "links@example.org"
        assert message.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
        assert message["Subject"] == digest.title
        assert message["From"] == "Border Links <links@example.org>"
        assert message["Reply-To"] == "Border Links <editor@example.org>"
        assert message["To"].addresses[0].addr_spec == address
        assert abs((parsedate_to_datetime(message["Date"]) - datetime.now(UTC)).total_seconds()) < 120
        assert message["List-Unsubscribe"] == f"<{url}>, <mailto:editor@example.org?subject=unsubscribe%20{token}>"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text, page = parts(message)
        assert url in text and html.escape(url) in page and "%%UNSUBSCRIBE_URL%%" not in text + page
        assert all(item.title.split()[0] in text for item in digest.items)
        ids.add(message["Message-ID"])
    assert server.to("ana@example.org")[0].message["To"].addresses[0].display_name == "Ana Pérez"
    assert len(ids) == 2 and all(i.startswith("<") and i.endswith("@example.org>") for i in ids)
    assert {row[1] for row in send_rows(home).values()} == ids


@both_ways
def test_a_subscriber_with_themes_gets_only_those_items_and_nothing_when_none_match(home: Home, inbox):
    server, _port = inbox
    [digest] = the_digest(home)
    present = {t for item in digest.items for t in item.themes}
    theme = next(t for t in sorted(present) if not all(t in item.themes for item in digest.items))
    absent = next((t for t in ("asylum", "arms-transfers", "human-rights", "drugs") if t not in present), None)
    if absent is None:
        pytest.skip("every theme is in the demo's edition")
    subscribe(home, f"all@example.org,,,,,active\none@example.org,,,{theme},,active\nnone@example.org,,,{absent},,active\n")
    [result] = run_send(home, edition=SECURITY, day=DAY)
    assert (result.sent, result.empty) == (2, 1)
    assert server.to("none@example.org") == [] and send_rows(home)["none@example.org"][0] == "empty"
    _, full = parts(server.to("all@example.org")[0].message)
    _, mine = parts(server.to("one@example.org")[0].message)
    for item in digest.items:
        assert html.escape(item.url) in full
        assert (html.escape(item.url) in mine) == (theme in item.themes)
    kept = filter_digest(digest, [theme])
    assert kept is not None
    assert [s.heading for s in kept.sections] == [s.heading for s in digest.sections if any(theme in i.themes for i in s.items)]


def test_filtering_keeps_items_about_any_of_the_themes_and_drops_emptied_sections():
    item = DigestItem(id="1", title="A", url="https://a.example/1", outlet="A", themes=("darien", "asylum"))
    other = DigestItem(id="2", title="B", url="https://a.example/2", outlet="A", themes=("drugs",))
    digest = Digest("e", "e", "T", "2025-03-21", "daily", sections=(DigestSection("One", (item, other)), DigestSection("Two", (other,))))
    assert filter_digest(digest, ["asylum"]) == replace(digest, sections=(DigestSection("One", (item,)),))
    assert filter_digest(digest, []) is digest
    assert filter_digest(digest, ["corruption"]) is None


def test_a_title_with_a_line_break_and_accents_is_one_encoded_subject_with_no_injected_header(home: Home, inbox):
    server, _port = inbox
    subscribe(home, "ana@example.org,\"Ana\r\nBcc: thief@evil.example\",,,,active\n")
    [digest] = the_digest(home)
    evil = replace(digest, title="Fronteras: São Paulo y Ñuñoa\r\nBcc: victim@evil.example\nX-Evil: 1")
    with Store(home.database_url) as store:
        mailer = make_mailer(home, store, environ={})
        try:
            result = mailer.deliver(evil, list_subscribers(store))
        finally:
            mailer.close()
    assert result.sent == 1
    [received] = server.messages
    head = received.data.split(b"\r\n\r\n", 1)[0]
    assert head.isascii() and b"=?utf-8?" in head
    assert received.recipients == ["ana@example.org"]
    message = received.message
    assert message["Subject"] == "Fronteras: São Paulo y Ñuñoa Bcc: victim@evil.example X-Evil: 1"
    assert message["Bcc"] is None and message["X-Evil"] is None
    assert message["To"].addresses[0].display_name == "Ana Bcc: thief@evil.example"
    assert all(not line.startswith((b"Bcc", b"X-Evil")) for line in head.split(b"\r\n"))


@both_ways
def test_messages_go_out_over_one_connection_at_the_configured_rate(home: Home, inbox):
    server, port = inbox
    subscribe(home, "".join(f"r{n}@example.org,,,,,active\n" for n in range(6)))
    (home.root / "borderlinks.toml").write_text(settings_text(port, "rate = 20\n"), encoding="utf-8")
    [result] = run_send(home, edition=SECURITY, day=DAY)
    assert result.sent == 6 and server.connections == 1
    assert result.seconds >= 5 / 20


# -- exactly once ----------------------------------------------------------------------------------


@both_ways
def test_second_send_sends_nothing(home: Home, inbox):
    server, _port = inbox
    subscribe(home, "ana@example.org,,,,,active\nbob@example.org,,,,,active\n")
    first = run_send(home, edition=SECURITY, day=DAY)
    second = run_send(home, edition=SECURITY, day=DAY)
    assert (first[0].sent, second[0].sent, second[0].already, len(server.messages)) == (2, 0, 2, 2)
    assert server.connections == 1  # the second run did not even connect


@both_ways
def test_killed_after_the_nth_message_the_next_send_delivers_to_exactly_the_others(home: Home, inbox):
    server, port = inbox
    addresses = [f"reader{n:02d}@example.org" for n in range(12)]
    subscribe(home, "".join(f"{a},,,,,active\n" for a in addresses))
    server.hold_after = 5
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BORDERLINKS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "borderlinks", "--home", str(home.root), "send", "--edition", SECURITY, "--date", DAY.isoformat()],
        env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    # One by one, only the message waiting for its answer is in flight; pipelined, the next one is claimed too.
    in_flight = 2 if server.pipelining else 1
    try:
        assert server.holding.wait(60), process.communicate(timeout=5)
        deadline = time.monotonic() + 30  # the pipelined client claims the seventh message just after the sixth's text
        while sum(state == "sending" for state, _ in send_rows(home).values()) < in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)  # while it waits for the server's answer to the sixth message
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    server.hold_after = None
    server.release.set()
    rows = send_rows(home)
    assert len(server.messages) == 5
    assert sorted(state for state, _ in rows.values()) == ["sending"] * in_flight + ["sent"] * 5
    kept = {k: v[1] for k, v in rows.items() if v[0] == "sending"}

    [result] = run_send(home, edition=SECURITY, day=DAY)
    assert (result.sent, result.resumed, result.already) == (7, in_flight, 5)
    assert sorted(r for m in server.messages for r in m.recipients) == addresses  # each exactly once
    for address, kept_id in kept.items():
        assert server.to(address)[0].message["Message-ID"] == kept_id  # the same Message-ID as the interrupted try
    assert {state for state, _ in send_rows(home).values()} == {"sent"}


@both_ways
def test_two_thousand_subscribers_with_their_own_themes_each_get_one_message(home: Home, inbox):
    server, _port = inbox
    [digest] = the_digest(home)
    themes = sorted({t for item in digest.items for t in item.themes})
    rows = "".join(
        f"reader{n:04d}@example.org,Reader {n},{SECURITY if n % 3 else ''},{'' if n % 2 else themes[n % len(themes)]},,active\n"
        for n in range(2000)
    )
    subscribe(home, rows)
    [result] = run_send(home, edition=SECURITY, day=DAY)
    assert (result.sent + result.empty, len(server.messages)) == (2000, result.sent)
    recipients = [r for m in server.messages for r in m.recipients]
    assert len(recipients) == len(set(recipients)) == result.sent
    assert server.connections == 1
    for received in server.messages[:: 97]:
        [address] = received.recipients
        n = int(address[6:10])
        _, page = parts(received.message)
        wanted = digest.items if n % 2 else [i for i in digest.items if themes[n % len(themes)] in i.themes]
        assert sorted(i.url for i in digest.items if html.escape(i.url) in page) == sorted(i.url for i in wanted)
    assert run_send(home, edition=SECURITY, day=DAY)[0].sent == 0


def test_one_post_per_theme_edition_sends_each_post_as_its_own_message(home: Home, inbox):
    server, _port = inbox
    subscribe(home, "ana@example.org,,monthly-roundups,,,active\nbob@example.org,,security-news,,,active\n")
    posts = the_digest(home, "monthly-roundups", date(2025, 4, 1))
    results = run_send(home, edition="monthly-roundups", day=date(2025, 4, 1))
    assert len(posts) > 1 and [r.post for r in results] == [p.slug for p in posts]
    assert sorted(m.message["Subject"] for m in server.to("ana@example.org")) == sorted(p.title for p in posts)
    assert server.to("bob@example.org") == []


@both_ways
def test_an_unsubscribed_reader_gets_nothing_after(home: Home, inbox):
    server, _port = inbox
    subscribe(home, "ana@example.org,,,,,active\nbob@example.org,,,,,active\n")
    run_send(home, edition=SECURITY, day=DAY)
    message = server.to("bob@example.org")[0].message
    token = message["List-Unsubscribe"].split("token=")[1].split(">")[0]
    assert main(["--home", str(home.root), "unsubscribe", token]) == 0
    run_send(home, edition="monthly-roundups", day=date(2025, 4, 1))
    assert len(server.to("bob@example.org")) == 1 and len(server.to("ana@example.org")) > 1


# -- failures --------------------------------------------------------------------------------------


@both_ways
def test_a_temporary_refusal_within_the_retries_is_sent_in_the_same_run(home: Home, inbox):
    server, _port = inbox
    subscribe(home, "ana@example.org,,,,,active\n")
    server.refuse["ana@example.org"] = ["451 4.7.1 greylisted, try again", "421 4.3.2 busy", ""]
    [result] = run_send(home, edition=SECURITY, day=DAY)
    assert (result.sent, result.deferred) == (1, 0)
    assert len(server.to("ana@example.org")) == 1 and send_rows(home)["ana@example.org"][0] == "sent"


@both_ways
def test_a_temporary_refusal_past_the_retries_is_deferred_and_sent_by_the_next_run(home: Home, inbox):
    server, _port = inbox
    subscribe(home, "ana@example.org,,,,,active\nbob@example.org,,,,,active\n")
    server.refuse["ana@example.org"] = ["452 4.2.2 mailbox full, try later"]
    [result] = run_send(home, edition=SECURITY, day=DAY)
    assert (result.sent, result.deferred) == (1, 1)
    assert send_rows(home)["ana@example.org"][0] == "deferred"
    server.refuse.clear()
    [again] = run_send(home, edition=SECURITY, day=DAY)
    assert (again.sent, again.already) == (1, 1)
    assert len(server.to("ana@example.org")) == 1 and len(server.to("bob@example.org")) == 1


@both_ways
def test_a_refused_text_is_retried_or_recorded_and_the_messages_around_it_go_out_once(home: Home, inbox):
    server, _port = inbox
    subscribe(home, "".join(f"{name}@example.org,,,,,active\n" for name in ("ana", "bob", "eva", "ivo")))
    server.refuse_text["bob@example.org"] = ["452 4.3.1 insufficient storage", ""]
    server.refuse_text["eva@example.org"] = ["554 5.6.0 message content rejected"]
    [result] = run_send(home, edition=SECURITY, day=DAY)
    assert (result.sent, result.deferred, result.failed) == (3, 0, (("eva@example.org", "554 5.6.0 message content rejected"),))
    assert sorted(r for m in server.messages for r in m.recipients) == ["ana@example.org", "bob@example.org", "ivo@example.org"]
    assert {k: v[0] for k, v in send_rows(home).items()} == {
        "ana@example.org": "sent", "bob@example.org": "sent", "eva@example.org": "failed", "ivo@example.org": "sent",
    }


pipelined = pytest.mark.parametrize("inbox", ["pipelining"], indirect=True)


@pipelined
def test_a_421_to_a_pipelined_text_is_retried_on_a_new_connection(home: Home, inbox):
    server, _port = inbox
    subscribe(home, "ana@example.org,,,,,active\nbob@example.org,,,,,active\neva@example.org,,,,,active\n")
    server.refuse_text["ana@example.org"] = ["421 4.3.2 shutting down", ""]
    [result] = run_send(home, edition=SECURITY, day=DAY)
    assert (result.sent, result.deferred, server.connections) == (3, 0, 2)
    assert sorted(r for m in server.messages for r in m.recipients) == ["ana@example.org", "bob@example.org", "eva@example.org"]


@pipelined
def test_a_message_the_server_took_is_recorded_sent_even_when_a_retry_before_it_stops_the_run(home: Home, inbox):
    server, port = inbox
    (home.root / "borderlinks.toml").write_text(settings_text(port, "per_connection = 2\n"), encoding="utf-8")
    subscribe(home, "ana@example.org,,,,,active\nbob@example.org,,,,,active\neva@example.org,,,,,active\n")
    server.refuse_text["ana@example.org"] = ["451 4.3.0 try later"]
    server.quota_after = 2  # the retry of ana, on a second connection, meets a refused sender: the run stops
    [result] = run_send(home, edition=SECURITY, day=DAY)
    assert result.status == "stopped" and "quota exceeded" in result.note
    assert len(server.to("bob@example.org")) == 1 and {k: v[0] for k, v in send_rows(home).items()} == {
        "ana@example.org": "deferred", "bob@example.org": "sent",
    }
    server.quota_after, server.refuse_text = None, {}
    [again] = run_send(home, edition=SECURITY, day=DAY)
    assert (again.sent, again.already) == (2, 1)
    assert sorted(r for m in server.messages for r in m.recipients) == ["ana@example.org", "bob@example.org", "eva@example.org"]


@pipelined
def test_an_error_between_two_pipelined_messages_keeps_the_verdict_already_given(home: Home, inbox, monkeypatch):
    server, _port = inbox
    subscribe(home, "ana@example.org,,,,,active\nbob@example.org,,,,,active\n")
    claim = SendLog.claim
    claims: list[str] = []

    def locked_at_the_second(self, post, day, edition, subscriber, *rest, **options):  # type: ignore[no-untyped-def]
        claims.append(subscriber.email)
        if len(claims) == 2:
            raise sa.exc.OperationalError("INSERT INTO sends", {}, Exception("database is locked"))
        return claim(self, post, day, edition, subscriber, *rest, **options)

    monkeypatch.setattr(SendLog, "claim", locked_at_the_second)
    with pytest.raises(sa.exc.OperationalError):
        run_send(home, edition=SECURITY, day=DAY)
    assert send_rows(home)["ana@example.org"][0] == "sent"  # her message was taken before the error: recorded
    monkeypatch.setattr(SendLog, "claim", claim)
    run_send(home, edition=SECURITY, day=DAY)
    assert len(server.to("ana@example.org")) == 1 and len(server.to("bob@example.org")) == 1


@both_ways
def test_a_permanent_refusal_is_recorded_with_the_servers_answer_and_not_retried(home: Home, inbox, capsys):
    server, _port = inbox
    subscribe(home, "ana@example.org,,,,,active\nghost@example.org,,,,,active\n")
    server.refuse["ghost@example.org"] = ["550 5.1.1 no such mailbox"]
    code = main(["--home", str(home.root), "send", "--edition", SECURITY, "--date", "2025-03-21"])
    out = capsys.readouterr().out
    assert code == 1 and "failed: ghost@example.org: 550 5.1.1 no such mailbox" in out
    with Store(home.database_url) as store, store.engine.connect() as conn:
        row = conn.execute(sa.select(sends).where(sends.c.subscriber == "ghost@example.org")).one()
    assert (row.state, row.error) == ("failed", "550 5.1.1 no such mailbox")
    [again] = run_send(home, edition=SECURITY, day=DAY)
    assert (again.sent, again.failed_before) == (0, 1)
    server.refuse.clear()
    [retried] = run_send(home, edition=SECURITY, day=DAY, retry_failed=True)
    assert retried.sent == 1 and len(server.to("ghost@example.org")) == 1


@both_ways
def test_no_server_stops_the_run_with_a_clear_message_and_loses_nothing(home: Home, inbox, capsys):
    _server, port = inbox
    subscribe(home, "ana@example.org,,,,,active\n")
    (home.root / "borderlinks.toml").write_text(settings_text(unused_port(), retries=0), encoding="utf-8")
    [result] = run_send(home, edition=SECURITY, day=DAY)
    assert result.status == "stopped" and "cannot reach the mail server 127.0.0.1" in result.note
    (home.root / "borderlinks.toml").write_text(settings_text(port), encoding="utf-8")
    assert run_send(home, edition=SECURITY, day=DAY)[0].sent == 1


def _tls_server_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """A certificate for 127.0.0.1 from a test authority, which the client is told to trust."""
    authority = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # read by ssl.create_default_context() in the client
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    return context


@pytest.mark.parametrize("tls", ["starttls", "ssl"])
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # implicit TLS: aiosmtpd cannot tell
def test_over_tls_with_a_login_each_message_arrives_once_and_a_wrong_password_names_the_setting(
    tls: str, demo_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    logins: list[tuple[bytes, bool]] = []

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login, auth_data.password) == (b"mailer", "contraseña segura".encode())
        logins.append((auth_data.login, ok))
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

    context = _tls_server_context(tmp_path, monkeypatch)
    # STARTTLS on a submission port: no MAIL before TLS, no login in the clear; or TLS from the first byte.
    # (aiosmtpd offers no AUTH on implicit TLS unless told TLS is not needed: it only knows of STARTTLS.)
    encryption = (
        {"tls_context": context, "require_starttls": True} if tls == "starttls" else {"ssl_context": context, "auth_require_tls": False}
    )
    handler, port = Inbox(pipelining=True), unused_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, server_hostname="mx.test",
        authenticator=authenticate, auth_required=True, **encryption,  # type: ignore[arg-type]
    )
    controller.start()
    try:
        root = tmp_path / "home"
        shutil.copytree(demo_home, root)
        home = Home(root)
        (root / "borderlinks.toml").write_text(settings_text(port, "per_connection = 2\n", retries=0), encoding="utf-8")
        subscribe(home, "ana@example.org,,,,,active\nbea@example.org,,,,,active\ncid@example.org,,,,,active\n")
        environ = {"BORDERLINKS_SMTP_TLS": tls, "BORDERLINKS_SMTP_USER": "mailer", "BORDERLINKS_SMTP_PASSWORD": "wrong"}
        with Store(home.database_url) as store:
            [refused] = send(home, store, edition=SECURITY, day=DAY, environ=environ)
        assert refused.status == "stopped" and refused.sent == 0 and not handler.messages
        assert send_rows(home) == {}  # nothing claimed: the next run starts clean
        assert "refused the login of 'mailer'" in refused.note and "BORDERLINKS_SMTP_PASSWORD" in refused.note

        environ["BORDERLINKS_SMTP_PASSWORD"] = "contraseña segura"
        with Store(home.database_url) as store:
            [result] = send(home, store, edition=SECURITY, day=DAY, environ=environ)
        assert result.sent == 3 and result.status == "done"
        assert sorted(r for m in handler.messages for r in m.recipients) == ["ana@example.org", "bea@example.org", "cid@example.org"]
        # A refused password is tried once (smtplib offers it by PLAIN, then LOGIN), not again for each message;
        # then two messages a connection: two logins.
        assert logins == [(b"mailer", False), (b"mailer", False), (b"mailer", True), (b"mailer", True)]
        assert handler.messages[0].message["Subject"].startswith("Latin America Security News")
    finally:
        controller.stop()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_a_non_ascii_password_without_auth_plain_stops_the_run_with_what_to_do(demo_home: Path, tmp_path: Path):
    handler, port = Inbox(), unused_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, authenticator=lambda *args: AuthResult(success=True),
        auth_required=True, auth_require_tls=False, auth_exclude_mechanism=["PLAIN"],
    )
    controller.start()
    try:
        root = tmp_path / "home"
        shutil.copytree(demo_home, root)
        home = Home(root)
        (root / "borderlinks.toml").write_text(settings_text(port, retries=0), encoding="utf-8")
        subscribe(home, "ana@example.org,,,,,active\n")
        environ = {"BORDERLINKS_SMTP_USER": "mailer", "BORDERLINKS_SMTP_PASSWORD": "contraseña"}
        with Store(home.database_url) as store:
            [result] = send(home, store, edition=SECURITY, day=DAY, environ=environ)
        assert result.status == "stopped" and not handler.messages and send_rows(home) == {}
        assert "does not offer AUTH PLAIN" in result.note and "BORDERLINKS_SMTP_PASSWORD" in result.note
    finally:
        controller.stop()


# -- approval, dry run, settings ---------------------------------------------------------------------


def test_an_edition_that_needs_approval_is_held_unless_approved_or_forced_with_a_warning(home: Home, inbox, capsys):
    server, _port = inbox
    root, daily = str(home.root), ["send", "--edition", "daily-border-links", "--date", "2025-03-21"]
    review = home.root / "review" / "daily-border-links" / "2025-03-21.md"
    assert read_review_file(review).approved  # the demo approves it, as an editor would
    subscribe(home, "ana@example.org,,,,,active\n")
    assert main(["--home", root, *daily]) == 0 and len(server.to("ana@example.org")) == 1
    write_review_file(review, replace(read_review_file(review), status="draft"))
    subscribe(home, "ana@example.org,,,,,active\nbob@example.org,,,,,active\n")
    assert main(["--home", root, *daily]) == 1
    assert "needs an approved review file" in capsys.readouterr().out and server.to("bob@example.org") == []
    assert main(["--home", root, *daily, "--force"]) == 0
    assert "Warning: daily-border-links 2025-03-21: sent without an approved review file" in capsys.readouterr().err
    assert len(server.to("bob@example.org")) == 1 and len(server.to("ana@example.org")) == 1


def test_dry_run_writes_eml_files_and_records_nothing(home: Home, inbox):
    server, _port = inbox
    subscribe(home, "ana@example.org,,,,,active\nbob@example.org,,,darien,,active\n")
    [result] = run_send(home, edition=SECURITY, day=DAY, dry_run=True)
    assert server.messages == [] and send_rows(home) == {}
    assert sorted(p.name for p in result.files) == [f"{a}.eml" for a in ("ana@example.org", "bob@example.org")][: result.sent]
    assert all(p.parent == home.root / "out" / "outbox" / SECURITY / DAY.isoformat() for p in result.files)
    message = email.message_from_bytes(result.files[0].read_bytes(), policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert {p["Content-Transfer-Encoding"] for p in message.iter_parts()} == {"quoted-printable"}  # 7-bit files


@both_ways
def test_a_server_offering_8bitmime_gets_the_text_unencoded_and_the_same_content(home: Home, inbox):
    server, _port = inbox
    subscribe(home, "ana@example.org,,,,,active\n")
    [dry] = run_send(home, edition=SECURITY, day=DAY, dry_run=True)
    [result] = run_send(home, edition=SECURITY, day=DAY)
    # One by one, smtplib declares the SIZE; pipelined, the commands go before the message is composed.
    size = [] if server.pipelining else [f"SIZE={len(server.messages[0].data)}"]
    assert result.sent == 1 and sorted(server.mail_options[0]) == ["BODY=8BITMIME", *size]
    sent = server.messages[0].message
    written = email.message_from_bytes(dry.files[0].read_bytes(), policy=email.policy.default)
    assert [p["Content-Transfer-Encoding"] for p in sent.iter_parts()] == ["8bit", "8bit"]
    assert b"Colombia" in server.messages[0].data and "ó".encode() in server.messages[0].data  # UTF-8 as is
    assert max(len(line) for line in server.messages[0].data.split(b"\r\n")) <= 998
    assert [p.get_content() for p in sent.iter_parts()] == [p.get_content() for p in written.iter_parts()]


def test_the_environment_overrides_the_mail_settings_and_a_password_in_the_file_is_refused(tmp_path: Path):
    path = tmp_path / "borderlinks.toml"
    path.write_text('[mail]\nhost = "smtp.example.org"\ntls = "ssl"\nsender = "a@example.org"\n', encoding="utf-8")
    mail = mail_settings(load_settings(path), {
        "BORDERLINKS_SMTP_HOST": "relay.example.org", "BORDERLINKS_SMTP_PORT": "2525", "BORDERLINKS_SMTP_TLS": "STARTTLS",
        "BORDERLINKS_SMTP_USER": "bot", "BORDERLINKS_SMTP_PASSWORD": "s3cret", "BORDERLINKS_MAIL_FROM": "Links <l@example.org>",
    })
    assert (mail.host, mail.server_port, mail.tls, mail.user, mail.password, mail.sender) == (
        "relay.example.org", 2525, "starttls", "bot", "s3cret", "Links <l@example.org>"
    )
    assert "s3cret" not in repr(mail)
    path.write_text('[mail]\nhost = "smtp.example.org"\npassword = "s3cret"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.line == 3 and "BORDERLINKS_SMTP_PASSWORD" in str(caught.value)
    with pytest.raises(ConfigError, match="BORDERLINKS_SMTP_TLS"):
        mail_settings(load_settings(tmp_path / "none.toml"), {"BORDERLINKS_SMTP_TLS": "tsl"})


def test_composed_message_round_trips_through_the_email_parser():
    head = letterhead(Path("borderlinks.toml"), "https://links.example.org/x", "Border Links", MailSettings(sender="l@example.org"))
    digest = Digest("e", "e", "Título", "2025-03-21", "daily")
    text = "Línea uno\n.\nFrom here =\n" + "x" * 200 + " \nUnsubscribe: %%UNSUBSCRIBE_URL%%\n"
    page = '<p>á</p>\n<a href="%%UNSUBSCRIBE_URL%%">u</a>\n'
    token = "t" * 32
    data = compose(prepare(digest, text, page, head), Subscriber("a@example.org", token=token), head, "<1@example.org>", datetime.now(UTC))
    message = email.message_from_bytes(data, policy=email.policy.default)
    plain, rich = parts(message)  # type: ignore[arg-type]
    url = "https://links.example.org/x/unsubscribe?token=" + token
    assert plain.replace("\r\n", "\n") == text.replace("%%UNSUBSCRIBE_URL%%", url)
    assert rich.replace("\r\n", "\n") == page.replace("%%UNSUBSCRIBE_URL%%", url)
    head, body = data.split(b"\r\n\r\n", 1)
    assert max(len(line) for line in body.split(b"\r\n")) <= 76  # quoted-printable's limit
    assert max(len(line) for line in head.split(b"\r\n")) <= 998
    assert message["From"] == "Border Links <l@example.org>" and message["Subject"] == "Título"


def test_8bit_parts_keep_lines_under_998_octets_and_fall_back_to_quoted_printable():
    head = letterhead(Path("borderlinks.toml"), "https://links.example.org/", "Border Links", MailSettings(sender="l@example.org"))
    digest = Digest("e", "e", "Título", "2025-03-21", "daily")
    summary = " ".join(["la migración por el Darién"] * 60)  # one paragraph of 1,700 octets
    page = f'<p class="item" style="margin: 0 0 16px;"><a href="https://x.example/a b" title="a b c">Título</a> {summary}</p>\n'
    long_word = "x" * 1200
    subscriber = Subscriber("a@example.org", token="t" * 32)
    for text, html_page, expected in (
        ("Línea\n.\n", page, ["8bit", "8bit"]),
        (f"{long_word}\n", f"<pre>{summary}</pre>\n", ["quoted-printable", "quoted-printable"]),
    ):
        prepared = prepare(digest, text, html_page, head)
        data = compose(prepared, subscriber, head, "<1@example.org>", datetime.now(UTC), eight_bit=True)
        message = email.message_from_bytes(data, policy=email.policy.default)
        assert [p["Content-Transfer-Encoding"] for p in message.iter_parts()] == expected
        assert max(len(line) for line in data.split(b"\r\n")) <= 998
        plain, rich = parts(message)  # type: ignore[arg-type]
        assert plain.replace("\r\n", "\n") == text
        assert " ".join(rich.split()) == " ".join(html_page.split())  # a line break only where a space was
    broken = prepare(digest, "", page, head).html
    assert '<a href="https://x.example/a b" title="a b c">' in broken  # never inside a tag
    assert all(len(line.encode()) <= 800 for line in broken.split("\n"))


def test_an_html_tag_across_lines_is_never_broken_and_a_long_link_makes_its_line_quoted_printable():
    from borderlinks.messages import break_long_html_lines

    words = " ".join(["palabra"] * 150)  # 1,200 octets
    spanning = f'<a href="https://x.example/"\n title="{words}">{words}</a>\n'
    broken = break_long_html_lines(spanning)
    assert f'title="{words}"' in broken  # the attribute value that began on the line before is left whole
    assert broken.replace("\n", " ").split() == spanning.replace("\n", " ").split()

    base = "https://links.example.org/" + "a" * 300 + "/unsubscribe?token="
    head = letterhead(Path("borderlinks.toml"), base.removesuffix("unsubscribe?token="), "B", MailSettings(sender="l@example.org"))
    digest = Digest("e", "e", "T", "2025-03-21", "daily")
    three_links = " ".join(['<a href="%%UNSUBSCRIBE_URL%%">x</a>'] * 3) + "\n"  # short now, 1,100 octets filled in
    prepared = prepare(digest, "Text\n", three_links, head)
    data = compose(prepared, Subscriber("a@example.org", token="t" * 32), head, "<1@example.org>", datetime.now(UTC), eight_bit=True)
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert [p["Content-Transfer-Encoding"] for p in message.iter_parts()] == ["8bit", "quoted-printable"]
    assert max(len(line) for line in data.split(b"\r\n")) <= 998


def _inside_tag_after(text: str, state: tuple[bool, str]) -> tuple[bool, str]:
    """The definition, one character at a time: inside a tag, and the attribute quote open."""
    in_tag, quote = state
    for char in text:
        if not in_tag:
            in_tag = char == "<"
        elif quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == ">":
            in_tag = False
    return in_tag, quote


def _last_text_space_by_hand(line: str, limit: int, state: tuple[bool, str]) -> int | None:
    best, size = None, 0
    for index, char in enumerate(line):
        size += len(char.encode("utf-8"))
        if size > limit and best is not None:
            break
        if char == " " and index and not state[0]:
            best = index
        state = _inside_tag_after(char, state)
    return best


@given(
    st.text(alphabet="<>\"' ab=é€\u00a0", max_size=80),
    st.sampled_from([(False, ""), (True, ""), (True, '"'), (True, "'")]),
    st.integers(min_value=0, max_value=60),
)
@settings(max_examples=3000, deadline=None)
def test_the_html_scanner_agrees_with_stepping_through_every_character(text, state, limit):
    from borderlinks.messages import _scan, _text_space_before

    assert _scan(text, state) == _inside_tag_after(text, state)
    assert _text_space_before(text, limit, state) == _last_text_space_by_hand(text, limit, state)


def test_send_is_in_the_readme():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for command in ("send", "unsubscribe", "subscribers import", "subscribers add", "subscribers remove", "subscribers list"):
        assert f"borderlinks {command}" in readme
