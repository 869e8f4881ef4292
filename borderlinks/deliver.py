"""Delivery: each post of an edition to each of its subscribers, exactly once.

::

    send(home, store, ...)                  `borderlinks send`: editions, approval, the lock
      └── make_mailer(home, store, ...)     settings, templates and a transport, wired once
            └── Mailer.deliver(digest, subscribers) -> SendResult

**Exactly once.** Every message has a row in the store's ``sends`` table,
keyed (post slug, date, subscriber). It is written ``sending``, with the
message's Message-ID, before the SMTP transaction, and ``sent`` (or
``failed``, ``deferred``) right after it. A run skips ``sent`` rows, so a
second run sends nothing; a run killed mid-way leaves at most the message in
flight ``sending``, and the next run sends exactly the rows not ``sent``. The
one window no SMTP client can close (RFC 1047) is between the server's 250
to the data and the ``sent`` record: a crash or a lost connection there makes
the next run send that one message again, with the same Message-ID, so
servers and clients that de-duplicate drop the copy.

**States.** ``sent``; ``failed``: the server refused it for good (5xx), not
retried unless asked; ``deferred``: temporary failures (4xx, dropped
connection) after every retry, retried by the next run; ``empty``: the
subscriber's themes left nothing of the post, looked at again next run.

**Speed.** A post is rendered once per distinct filtered content, not per
subscriber; each message then only gets its own unsubscribe link, To, Date
and Message-ID. Headers go through :mod:`email` with the SMTP policy
(encoded words, folding, no line breaks); the two bodies are put in a
multipart/alternative directly, because the email generator would cost more
than the SMTP transaction itself. When the server offers 8BITMIME (RFC 6152)
a body goes as UTF-8 text as it is (``8bit``, lines of at most 998 octets: a
longer HTML line is broken at a space between words): readable as it travels,
two bytes for an accented letter instead of six, and half the lines for the
server to read (294 instead of 542 for the demo's full digest); otherwise, and
in ``.eml`` files, quoted-printable. When the server
offers PIPELINING, messages go out pipelined (see :mod:`borderlinks.transports`):
a message is claimed and composed while the server still checks the one
before, so at most two are ``sending`` at a time.

Transports (:mod:`borderlinks.transports`) are a registry keyed by kind: ``smtp`` sends
over one reused connection, ``file`` writes ``.eml`` files (``--dry-run``).
"""

from __future__ import annotations

import binascii
import contextlib
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from html import escape as html_escape
from pathlib import Path
from typing import Any

import jinja2
import sqlalchemy as sa

from .config import SETTINGS_FILE, Home, MailSettings, mail_settings
from .errors import ConfigError, DeliveryError, SendError
from .model import Digest, SendResult, Subscriber
from .render import (
    UNSUBSCRIBE_PLACEHOLDER,
    fill_unsubscribe,
    make_environment,
    post_path,
    render_email_html,
    render_email_text,
    site_root,
)
from .store import Store, sends, subscribers, utc_text
from .subscribers import list_subscribers, normalise_email
from .text import is_web_url
from .transports import TRANSPORTS, Transport, Verdict

POLICY = SMTP  # CRLF, folded at 78, non-ASCII as RFC 2047 encoded words
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


# -- the pure part: filtering and composing --------------------------------------------------


def filter_digest(digest: Digest, themes: Sequence[str] | frozenset[str]) -> Digest | None:
    """A subscriber's copy: only the items about their themes, emptied sections dropped.

    No themes means the whole post. None when nothing is left: that copy is not sent.
    """
    wanted = frozenset(themes)
    if not wanted:
        return digest if digest.items else None
    sections = []
    for section in digest.sections:
        kept = tuple(item for item in section.items if wanted.intersection(item.themes))
        if kept:
            sections.append(replace(section, items=kept))
    return replace(digest, sections=tuple(sections)) if sections else None


def header_text(value: str) -> str:
    """One line for a header: control characters out, line breaks and runs of spaces to one space."""
    return " ".join(_CONTROL.sub(" ", value).split())


def _folded(headers: Sequence[tuple[str, object]]) -> bytes:
    """Headers as the SMTP policy writes them; setting one with a line break raises, never injects."""
    message = EmailMessage(policy=POLICY)
    for name, value in headers:
        message[name] = value
    return b"".join(POLICY.fold_binary(name, value) for name, value in message.items())


def _to_header(name: str, address: str) -> bytes:
    """The To header: quoted or encoded by ``formataddr`` when it fits a line, else folded by the policy."""
    line = f"To: {formataddr((name, address), charset='utf-8')}"
    if len(line) <= 78:
        return line.encode("ascii") + b"\r\n"
    return _folded([("To", Address(display_name=name, addr_spec=address))])


def _quoted_printable(text: str) -> bytes:
    return binascii.b2a_qp(text.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")


_LINE_LIMIT = 998  # octets in a line of an 8bit body, CRLF not counted (RFC 5322 2.1.1)
_WIDE = 800  # where a long HTML line is broken, well inside the limit: the unsubscribe link may still go in


def fits_8bit(text: str, growth: int) -> bool:
    """Whether ``text`` can travel as an 8bit body: no NUL, and every line within the limit once each
    unsubscribe placeholder in it has become a link ``growth`` octets longer."""
    if "\x00" in text:
        return False
    for line in text.split("\n"):
        if len(line) * 4 + line.count(UNSUBSCRIBE_PLACEHOLDER) * growth > _LINE_LIMIT:  # else surely short enough
            if len(line.encode("utf-8")) + line.count(UNSUBSCRIBE_PLACEHOLDER) * growth > _LINE_LIMIT:
                return False
    return True


_RAW_TAG = re.compile(r"<(/?)(pre|textarea|script|style)\b", re.IGNORECASE)


def break_long_html_lines(html: str) -> str:
    """Lines over 800 octets broken at a space between words of text, where a line break means the same.

    Never inside a tag (an attribute value may hold spaces, and a tag may span
    lines) nor on a line in or touching ``pre``, ``textarea``, ``script`` or
    ``style``, where white space counts or is code; a line with no such space
    stays as it is (the body then goes quoted-printable).
    """
    if all(len(line.encode("utf-8")) <= _WIDE for line in html.split("\n")):
        return html
    lines, raw, state = [], 0, (False, "")  # raw: raw-text elements open; state: inside a tag, and its open quote
    for line in html.split("\n"):
        tags = _RAW_TAG.findall(line)
        if not raw and not tags:
            while len(line.encode("utf-8")) > _WIDE and (cut := _text_space_before(line, _WIDE, state)) is not None:
                state = _scan(line[: cut + 1], state)
                lines.append(line[:cut])
                line = line[cut + 1:]
        lines.append(line)
        state = _scan(line, state)
        for closing, _name in tags:
            raw = max(raw - 1, 0) if closing else raw + 1
    return "\n".join(lines)


def _scan(text: str, state: tuple[bool, str]) -> tuple[bool, str]:
    """Whether ``text`` ends inside a tag (and in which quote), given how it began."""
    in_tag, quote = state
    for char in text:
        if in_tag:
            if quote:
                quote = "" if char == quote else quote
            elif char in "\"'":
                quote = char
            elif char == ">":
                in_tag = False
        elif char == "<":
            in_tag = True
    return in_tag, quote


def _text_space_before(line: str, limit: int, state: tuple[bool, str]) -> int | None:
    """Index of the last space outside tags whose line start stays within ``limit`` octets."""
    best, size = None, 0
    in_tag, quote = state
    for index, char in enumerate(line):
        size += 1 if char < "\x80" else len(char.encode("utf-8"))
        if size > limit and best is not None:
            break
        if in_tag:
            if quote:
                quote = "" if char == quote else quote
            elif char in "\"'":
                quote = char
            elif char == ">":
                in_tag = False
        elif char == "<":
            in_tag = True
        elif char == " " and index:
            best = index
    return best


@dataclass(frozen=True)
class Letterhead:
    """What every message of a run says about who sends it."""

    sender: Address
    reply_to: Address
    unsubscribe_base: str  # "<site_url>/unsubscribe?token=", the token follows
    unsubscribe_mailto: str  # an address

    @property
    def domain(self) -> str:
        return self.sender.domain


@dataclass(frozen=True)
class Prepared:
    """One post as some subscribers get it, rendered once, waiting for each one's link and address."""

    text: str
    html: str
    head: bytes  # From, Reply-To, Subject, List-Id: the same for every reader of the post
    tail: bytes  # List-Unsubscribe-Post, MIME-Version, Content-Type
    boundary: bytes
    text_8bit: bool = False  # each part may go as 8bit when the server takes it
    html_8bit: bool = False


def prepare(digest: Digest, text: str, html: str, letterhead: Letterhead) -> Prepared:
    """The parts of a post's message that do not depend on the subscriber."""
    boundary = "=_borderlinks_" + secrets.token_hex(12)  # "=_" cannot occur in quoted-printable text
    head = _folded(
        [("From", letterhead.sender), ("Reply-To", letterhead.reply_to), ("Subject", header_text(digest.title)),
         ("List-Id", f"<{digest.edition}.{letterhead.domain}>")]
    )
    tail = _folded(
        [("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"), ("MIME-Version", "1.0"),
         ("Content-Type", f'multipart/alternative; boundary="{boundary}"')]
    )
    text, html = (part.replace("\r\n", "\n").replace("\r", "\n") for part in (text, html))
    html = break_long_html_lines(html)
    # The longest link a subscriber's copy may carry (tokens are 32 characters; 64 leaves room), HTML-escaped.
    link = html_escape(letterhead.unsubscribe_base + "x" * 64, quote=True)
    growth = max(len(link) - len(UNSUBSCRIBE_PLACEHOLDER), 0)
    return Prepared(text, html, head, tail, boundary.encode("ascii"), fits_8bit(text, growth), fits_8bit(html, growth))


def _body(text: str, eight_bit: bool) -> tuple[bytes, bytes]:
    """(transfer encoding, encoded text) of one part."""
    if eight_bit:
        return b"8bit", text.replace("\n", "\r\n").encode("utf-8")
    return b"quoted-printable", _quoted_printable(text)


def compose(
    prepared: Prepared, subscriber: Subscriber, letterhead: Letterhead, message_id: str, now: datetime, eight_bit: bool = False,
) -> bytes:
    """One subscriber's message: multipart/alternative (text, then HTML) with RFC 8058 one-click unsubscribe.

    ``eight_bit``: the server takes 8-bit text (8BITMIME); each part that fits goes as UTF-8 unencoded.
    """
    url = letterhead.unsubscribe_base + subscriber.token
    to = _to_header(header_text(subscriber.name), subscriber.email)
    # Written directly, being ASCII we made or checked when the run began: the header policy
    # would turn a long URL into encoded words, which no client follows, and costs more than the rest.
    ours = (
        f"Date: {format_datetime(now)}\r\nMessage-ID: {header_text(message_id)}\r\n"
        f"List-Unsubscribe: <{url}>,\r\n <mailto:{letterhead.unsubscribe_mailto}?subject=unsubscribe%20{subscriber.token}>\r\n"
    ).encode("ascii")
    b = prepared.boundary
    text_cte, text = _body(fill_unsubscribe(prepared.text, url, is_html=False), eight_bit and prepared.text_8bit)
    html_cte, html = _body(fill_unsubscribe(prepared.html, url, is_html=True), eight_bit and prepared.html_8bit)
    return b"".join((
        prepared.head, to, ours, prepared.tail, b"\r\n",
        b"--", b, b"\r\nContent-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: ", text_cte, b"\r\n\r\n",
        text, b"\r\n--", b, b"\r\nContent-Type: text/html; charset=\"utf-8\"\r\nContent-Transfer-Encoding: ", html_cte, b"\r\n\r\n",
        html, b"\r\n--", b, b"--\r\n",
    ))


# -- the record of sends ------------------------------------------------------------------------


_KEY = (
    sends.c.post == sa.bindparam("b_post"), sends.c.day == sa.bindparam("b_day"),
    sends.c.subscriber == sa.bindparam("b_subscriber"),
)
_ACTIVE = sa.exists().where(subscribers.c.key == sa.bindparam("b_subscriber"), subscribers.c.status == "active")
# Built once: building statements per message costs more than running them.
_BEGUN = sa.select(sends.c.subscriber, sends.c.state, sends.c.message_id).where(
    sends.c.post == sa.bindparam("b_post"), sends.c.day == sa.bindparam("b_day")
)
_IS_ACTIVE = sa.select(_ACTIVE)
# The subscriber's status is checked in the same statement that claims the message.
_CLAIM_NEW = sends.insert().from_select(
    ["post", "day", "subscriber", "edition", "email", "state", "message_id", "attempts", "changed_at"],
    sa.select(
        sa.bindparam("b_post", type_=sa.String), sa.bindparam("b_day", type_=sa.String), subscribers.c.key,
        sa.bindparam("b_edition", type_=sa.String), sa.bindparam("b_email", type_=sa.String), sa.literal("sending"),
        sa.bindparam("b_message_id", type_=sa.String), sa.literal(1), sa.bindparam("b_now", type_=sa.String),
    ).where(subscribers.c.key == sa.bindparam("b_subscriber"), subscribers.c.status == "active"),
)
_CLAIM_AGAIN = sends.update().where(*_KEY, _ACTIVE).values(
    state="sending", email=sa.bindparam("b_email"), message_id=sa.bindparam("b_message_id"),
    attempts=sends.c.attempts + 1, error=None, changed_at=sa.bindparam("b_now"),
)
_FINISH = sends.update().where(*_KEY).values(
    state=sa.bindparam("b_state"), error=sa.bindparam("b_error"), changed_at=sa.bindparam("b_now"),
    sent_at=sa.bindparam("b_sent_at"),
)
_EMPTY_NEW = sends.insert().values(
    post=sa.bindparam("b_post"), day=sa.bindparam("b_day"), subscriber=sa.bindparam("b_subscriber"),
    edition=sa.bindparam("b_edition"), email=sa.bindparam("b_email"), state="empty", message_id="", attempts=0,
    changed_at=sa.bindparam("b_now"),
)
_EMPTY_AGAIN = sends.update().where(*_KEY).values(state="empty", changed_at=sa.bindparam("b_now"))


class SendLog:
    """The ``sends`` table: one row per (post, date, subscriber), what makes sending exactly once.

    Each record is committed on its own, at once. With ``write=False`` (a dry
    run) it reads and checks but records nothing.
    """

    def __init__(self, store: Store, write: bool = True) -> None:
        self.store = store
        self.write = write
        self._conn: sa.Connection | None = None

    def _run(self, statement: sa.Executable, params: dict[str, object]) -> sa.CursorResult[Any]:
        if self._conn is None:
            self._conn = self.store.engine.connect()
        result = self._conn.execute(statement, params)
        self._conn.commit()
        return result

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def states(self, post: str, day: str) -> dict[str, tuple[str, str]]:
        """subscriber key → (state, Message-ID) of every message of a post already begun."""
        rows = self._run(_BEGUN, {"b_post": post, "b_day": day}).all()
        return {row.subscriber: (row.state, row.message_id) for row in rows}

    def claim(self, post: str, day: str, edition: str, subscriber: Subscriber, message_id: str, begun: bool) -> bool:
        """Record "sending" before the transaction; False if the subscriber left the list meanwhile.

        ``begun``: the message has a row already (an earlier run stopped or deferred it).
        """
        params = {"b_post": post, "b_day": day, "b_subscriber": subscriber.key}
        if not self.write:
            return bool(self._run(_IS_ACTIVE, params).scalar())
        params.update(b_edition=edition, b_email=subscriber.email, b_message_id=message_id, b_now=_now())
        return self._run(_CLAIM_AGAIN if begun else _CLAIM_NEW, params).rowcount == 1

    def finish(self, post: str, day: str, subscriber: Subscriber, state: str, error: str | None = None) -> None:
        """Record the outcome right after the transaction."""
        if self.write:
            now = _now()
            self._run(_FINISH, {
                "b_post": post, "b_day": day, "b_subscriber": subscriber.key, "b_state": state, "b_error": error or None,
                "b_now": now, "b_sent_at": now if state == "sent" else None,
            })

    def empty(self, post: str, day: str, edition: str, subscriber: Subscriber, begun: bool) -> None:
        """Record that the subscriber's themes left nothing of the post."""
        if self.write:
            params = {"b_post": post, "b_day": day, "b_subscriber": subscriber.key, "b_now": _now()}
            if not begun:
                params.update(b_edition=edition, b_email=subscriber.email)
            self._run(_EMPTY_AGAIN if begun else _EMPTY_NEW, params)


def _now() -> str:
    return utc_text(datetime.now(UTC))


# -- the mailer ----------------------------------------------------------------------------------


class Pacer:
    """At most ``rate`` messages a second (0: no limit)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next = 0.0

    def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        if self.next > now:
            time.sleep(self.next - now)
            now = self.next
        self.next = now + self.interval


class Mailer:
    """Sends posts to subscribers through one transport, recording every message in a SendLog."""

    def __init__(
        self, *, env: jinja2.Environment, site_url: str, letterhead: Letterhead, mail: MailSettings,
        transport: Transport, log: SendLog, retry_failed: bool = False, sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.env = env
        self.site_url = site_url
        self.letterhead = letterhead
        self.mail = mail
        self.transport = transport
        self.log = log
        self.retry_failed = retry_failed
        self.sleep = sleep
        self.pacer = Pacer(mail.rate)
        self._by_themes: dict[tuple[str, str, frozenset[str]], Prepared | None] = {}
        self._by_content: dict[tuple[str, str, tuple[tuple[str, ...], ...]], Prepared] = {}

    @property
    def renders(self) -> int:
        """How many distinct copies were rendered: one per filtered content, not per subscriber."""
        return len(self._by_content)

    def close(self) -> None:
        try:
            self.transport.close()
        finally:
            self.log.close()

    def prepared(self, digest: Digest, themes: frozenset[str]) -> Prepared | None:
        """The post as subscribers with these themes get it, rendered on first need; None when empty."""
        key = (digest.slug, digest.date, themes)
        if key not in self._by_themes:
            copy = filter_digest(digest, themes)
            if copy is None:
                self._by_themes[key] = None
            else:
                content = (digest.slug, digest.date, tuple(tuple(item.id for item in s.items) for s in copy.sections))
                if content not in self._by_content:
                    text = render_email_text(copy, self.env, site_url=self.site_url)
                    html = render_email_html(copy, self.env, site_url=self.site_url)
                    self._by_content[content] = prepare(copy, text, html, self.letterhead)
                self._by_themes[key] = self._by_content[content]
        return self._by_themes[key]

    def deliver(self, digest: Digest, listed: Sequence[Subscriber], note: str = "") -> SendResult:
        """Send one post to every listed subscriber of its edition who has not had it yet.

        Every copy is rendered before the first message goes out, so a broken
        template stops the run before anyone gets anything.
        """
        started = time.perf_counter()
        post, day = digest.slug, digest.date
        readers = [s for s in listed if s.wants(digest.edition)]
        begun = self.log.states(post, day)
        counts = {"already": 0, "empty": 0, "failed_before": 0}
        plan: list[tuple[Subscriber, Prepared, str, str]] = []  # subscriber, copy, Message-ID and state if begun
        for subscriber in readers:
            state, message_id = begun.get(subscriber.key, ("", ""))
            if state == "sent":
                counts["already"] += 1
            elif state == "failed" and not self.retry_failed:
                counts["failed_before"] += 1
            elif (copy := self.prepared(digest, frozenset(subscriber.themes))) is None:
                counts["empty"] += 1
                if state != "empty":
                    self.log.empty(post, day, digest.edition, subscriber, begun=bool(state))
            else:
                plan.append((subscriber, copy, message_id, state))
        label = str(post_path(digest))
        run = _Run(self, digest, label)
        eight_bit = bool(plan) and self._open_transport()
        try:
            for key, (subscriber, copy, message_id, before) in enumerate(plan):
                message_id = message_id or make_msgid(domain=self.letterhead.domain)
                if not self.log.claim(post, day, digest.edition, subscriber, message_id, begun=bool(before)):
                    continue
                message = _Composed(copy, subscriber, self.letterhead, message_id, eight_bit)
                run.waiting[key] = (subscriber, message, before)
                self.pacer.wait()
                run.settle(self.transport.submit(key, self.letterhead.sender.addr_spec, subscriber.email, message, label))
            run.settle(self.transport.flush())
        except _Stop as stop:
            run.stop(str(stop.error))
        except BaseException:
            run.salvage()
            raise
        counts.update(run.counts)
        return SendResult(
            edition=digest.edition, post=post, date=day, status=run.status, subscribers=len(readers), failed=tuple(run.failed),
            files=tuple(run.files), seconds=time.perf_counter() - started, note=run.stop_note or note, **counts,
        )

    def _open_transport(self) -> bool:
        """Connect before the first message, to learn whether it may be 8-bit; a failure is met again per message."""
        try:
            self.transport.open()
        except DeliveryError:
            return False
        return self.transport.eight_bit

    def transmit(
        self, recipient: str, message: bytes, label: str, failed: SendError | DeliveryError | None = None,
    ) -> tuple[str, str, Path | None]:
        """One message, retried on temporary errors: ("sent" | "failed" | "deferred", the server's answer, a file).

        ``failed``: how a first, pipelined attempt went wrong; it counts as the first attempt.
        """
        delay = self.mail.backoff
        reason = ""
        for attempt in range(self.mail.retries + 1):
            if attempt:
                self.sleep(delay)
                delay *= 2
            try:
                if attempt == 0 and failed is not None:
                    raise failed
                self.pacer.wait()
                written = self.transport.deliver(self.letterhead.sender.addr_spec, recipient, message, label)
            except SendError as e:
                reason = str(e).removeprefix(f"{recipient}: ")
                if e.permanent:
                    return "failed", reason, None
            except DeliveryError as e:
                if not e.temporary or attempt == self.mail.retries:
                    raise
            else:
                return "sent", "", written
        return "deferred", reason, None


class _Composed:
    """A subscriber's message, composed on first call (by the transport, when its commands are out)."""

    __slots__ = ("args", "data")

    def __init__(self, prepared: Prepared, subscriber: Subscriber, letterhead: Letterhead, message_id: str, eight_bit: bool) -> None:
        self.args = (prepared, subscriber, letterhead, message_id, eight_bit)
        self.data: bytes | None = None

    def __call__(self) -> bytes:
        if self.data is None:
            prepared, subscriber, letterhead, message_id, eight_bit = self.args
            self.data = compose(prepared, subscriber, letterhead, message_id, datetime.now(UTC), eight_bit)
        return self.data


class _Stop(Exception):
    """The run cannot go on (no server, sender refused): carries the DeliveryError."""

    def __init__(self, error: DeliveryError) -> None:
        self.error = error


class _Run:
    """One post's sending: the messages submitted and not yet settled, and what became of the others."""

    def __init__(self, mailer: Mailer, digest: Digest, label: str) -> None:
        self.mailer = mailer
        self.digest = digest
        self.label = label
        self.waiting: dict[int, tuple[Subscriber, _Composed, str]] = {}  # submitted, not yet recorded: subscriber, message, state before
        self.counts = {"sent": 0, "resumed": 0, "deferred": 0}
        self.failed: list[tuple[str, str]] = []
        self.files: list[Path] = []
        self.status, self.stop_note = "done", ""

    def settle(self, verdicts: list[Verdict]) -> None:
        """Record each verdict; then retry the temporary failures one by one, the connection quiet.

        Every success and permanent failure known, including the message still
        in flight, is recorded before a retry, which may stop the run: a message
        the server took is never left "deferred" to be sent again.
        """
        retry: list[Verdict] = []
        while verdicts:
            for verdict in verdicts:
                error = verdict.error
                if error is None:
                    self.record(verdict.key, "sent", "", verdict.written)
                elif isinstance(error, SendError) and error.permanent:
                    self.record(verdict.key, "failed", self.reason(verdict), None)
                else:
                    retry.append(verdict)
            verdicts = self.mailer.transport.flush() if retry else []
        for verdict in retry:
            subscriber, message, _before = self.waiting[verdict.key]
            if isinstance(verdict.error, DeliveryError) and not verdict.error.temporary:
                raise _Stop(verdict.error)
            try:
                state, reason, written = self.mailer.transmit(subscriber.email, message(), self.label, failed=verdict.error)
            except DeliveryError as e:
                raise _Stop(e) from e
            self.record(verdict.key, state, reason, written)

    def reason(self, verdict: Verdict) -> str:
        """The server's answer in a refusal, without the address it names."""
        return str(verdict.error).removeprefix(f"{self.waiting[verdict.key][0].email}: ")

    def record(self, key: int, state: str, reason: str, written: Path | None) -> None:
        """Record one message's outcome; it is no longer waiting."""
        subscriber, _message, before = self.waiting[key]
        self.mailer.log.finish(self.digest.slug, self.digest.date, subscriber, state, reason)
        del self.waiting[key]
        if state == "sent":
            self.counts["sent"] += 1
            self.counts["resumed"] += before == "sending"
            if written is not None:
                self.files.append(written)
        elif state == "failed":
            self.failed.append((subscriber.email, reason))
        else:
            self.counts["deferred"] += 1

    def stop(self, why: str) -> None:
        """The run ends here: what was in flight is deferred, the next run sends it (with its Message-ID)."""
        self.status, self.stop_note = "stopped", why
        self.salvage()
        for key in list(self.waiting):
            self.record(key, "deferred", why, None)

    def salvage(self) -> None:
        """Record what the server has answered already, before the run ends early.

        Called on the way out of an error between two pipelined messages (a
        database error, an interrupt): a message the server took is recorded
        sent, so the next run does not send it again; the others keep their
        "sending" rows and go again, with the same Message-ID.
        """
        with contextlib.suppress(Exception):
            for verdict in self.mailer.transport.flush():
                if verdict.key in self.waiting:
                    if verdict.error is None:
                        self.record(verdict.key, "sent", "", verdict.written)
                    elif isinstance(verdict.error, SendError) and verdict.error.permanent:
                        self.record(verdict.key, "failed", self.reason(verdict), None)


def letterhead(settings_path: Path, site_url: str, site_title: str, mail: MailSettings) -> Letterhead:
    """The run's sender, reply-to and unsubscribe addresses, checked once; mistakes name the setting."""

    def address(value: str, key: str, variable: str = "") -> Address:
        name, addr = parseaddr(value)
        try:
            checked = normalise_email(addr)
        except ValueError as e:
            where = f"{key} in [mail]" + (f" or {variable}" if variable else "")
            raise ConfigError(f"{key} {value!r} is not an address: {e}", settings_path, key=key, fix=f"Set {where}, e.g. \"Border Links <links@example.org>\"") from e
        local, _, domain = checked.rpartition("@")
        return Address(display_name=header_text(name or site_title), username=local, domain=domain)

    if not mail.sender:
        raise ConfigError(
            "no sender address for the messages", settings_path, key="sender",
            fix='Set sender = "Border Links <links@example.org>" in [mail] or the environment variable BORDERLINKS_MAIL_FROM',
        )
    sender = address(mail.sender, "sender", "BORDERLINKS_MAIL_FROM")
    reply_to = address(mail.reply_to, "reply_to") if mail.reply_to else sender
    mailto = address(mail.unsubscribe_mailto, "unsubscribe_mailto").addr_spec if mail.unsubscribe_mailto else reply_to.addr_spec
    base = site_root(site_url.strip()) + "unsubscribe?token="
    if not is_web_url(base) or re.search(r"[\s<>\"',]", base) or not base.isascii():
        raise ConfigError(
            f"site_url {site_url!r} cannot make an unsubscribe link", settings_path, key="site_url",
            fix="Write the site's full address, e.g. site_url = \"https://example.org/borderlinks/\"",
        )
    return Letterhead(sender, reply_to, base, mailto)


def make_mailer(
    home: Home, store: Store, *, dry_run: bool = False, retry_failed: bool = False, outbox: Path | None = None,
    environ: Mapping[str, str] | None = None, transport: Transport | None = None,
) -> Mailer:
    """Wire a Mailer from a home folder: settings and environment, templates, transport, the send log."""
    settings = home.settings()
    mail = mail_settings(settings, environ)
    path = home.root / SETTINGS_FILE
    if not dry_run and mail.user and not mail.password:
        raise ConfigError(f"a user is set ({mail.user!r}) but no password", path, key="user", fix="Set the environment variable BORDERLINKS_SMTP_PASSWORD")
    if not dry_run and mail.password and mail.tls == "none" and mail.host not in _LOOPBACK:
        raise ConfigError(
            f"refusing to send the password unencrypted to {mail.host}", path, key="tls",
            fix='Set tls = "starttls" or "ssl" in [mail] (or BORDERLINKS_SMTP_TLS)',
        )
    if dry_run:
        mail = replace(mail, rate=0.0)
    kind = "file" if dry_run else "smtp"
    chosen = transport or TRANSPORTS[kind](mail, outbox or home.root / "out" / "outbox")
    return Mailer(
        env=make_environment(home), site_url=settings.site_url, letterhead=letterhead(path, settings.site_url, settings.site_title, mail),
        mail=mail, transport=chosen, log=SendLog(store, write=not dry_run), retry_failed=retry_failed,
    )


def send(
    home: Home,
    store: Store,
    *,
    edition: str | None = None,
    day: date | None = None,
    dry_run: bool = False,
    force: bool = False,
    retry_failed: bool = False,
    outbox: Path | None = None,
    environ: Mapping[str, str] | None = None,
    transport: Transport | None = None,
    warn: Callable[[str], None] | None = None,
) -> list[SendResult]:
    """``borderlinks send``: every post of the editions (all, or one) for their date, to their active subscribers.

    An edition that needs approval is held unless its review file is approved;
    ``force`` sends the automatic selection anyway, with a warning (an
    unapproved review file is not used). ``dry_run`` writes ``.eml`` files
    under ``out/outbox/`` (or ``outbox``) and records nothing.
    """
    from .lock import hold_lock
    from .workflow import edition_date, load_context, pick_editions, review_path, select_digests

    context = load_context(home)
    chosen = pick_editions(context, edition)
    mailer = make_mailer(home, store, dry_run=dry_run, retry_failed=retry_failed, outbox=outbox, environ=environ, transport=transport)
    results: list[SendResult] = []
    # The build-send lock (in the store) keeps a send apart from any build or send, manual or scheduled:
    # two sends at once could both send a message not yet recorded. A killed run's lock is stale and taken over.
    held = contextlib.nullcontext() if dry_run else hold_lock(store, owner="borderlinks send")
    with contextlib.closing(mailer), held:
        listed = list_subscribers(store, status="active")
        for current in chosen:
            when = edition_date(current, day)
            selection = select_digests(context, store, current, when)
            note = ""
            if current.needs_approval and selection.origin != "review":
                path = review_path(home, current, when)
                if not force:
                    results.append(SendResult(
                        current.slug, current.slug, when.isoformat(), "held",
                        note=f"needs an approved review file: approve {path} (status: approved), or send with --force",
                    ))
                    continue
                note = f"sent without an approved review file ({path}) because of --force"
                if warn is not None:
                    warn(f"Warning: {current.slug} {when.isoformat()}: {note}")
            posts = [d for d in selection.digests if d.items]
            if not posts:
                results.append(SendResult(current.slug, current.slug, when.isoformat(), "nothing", note="no items in its window"))
                continue
            for digest in posts:
                result = mailer.deliver(digest, listed, note)
                results.append(result)
                if result.status == "stopped":
                    return results
    return results


def describe(result: SendResult, dry_run: bool = False) -> str:
    """One result as the command prints it, failures on their own lines."""
    where = f"{result.post} {result.date}"
    if result.status in ("held", "nothing"):
        return f"{where}: not sent: {result.note}"
    parts = [f"{'wrote' if dry_run else 'sent'} {result.sent}"]
    if result.resumed:
        parts.append(f"{result.resumed} of them resumed")
    parts += [f"{value} {label}" for value, label in (
        (result.already, "already sent"), (result.empty, "empty after their themes"), (result.deferred, "deferred"),
        (len(result.failed), "failed"), (result.failed_before, "failed before (--retry-failed to try again)"),
    ) if value]
    line = f"{where}: " + ", ".join(parts) + f" of {result.subscribers} subscribers"
    if result.sent:
        line += f" in {result.seconds:.1f} s ({result.rate:.0f}/s)"
    if dry_run and result.files:
        line += f" into {result.files[0].parent}"
    lines = [line]
    lines += [f"  failed: {address}: {answer}" for address, answer in result.failed]
    if result.note:
        lines.append(f"  {'stopped' if result.status == 'stopped' else 'note'}: {result.note}")
    return "\n".join(lines)
