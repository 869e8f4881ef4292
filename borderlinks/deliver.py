"""Delivery: each post of an edition to each of its subscribers, exactly once.

::

    send(home, store, ...)                  `borderlinks send`: editions, approval, the lock
      └── make_mailer(home, store, ...)     settings, templates and a transport, wired once
            └── Mailer.deliver(digest, subscribers) -> SendResult

**Exactly once.** Every message has a row in the store's ``sends`` table,
keyed (post slug, date, subscriber). It is written ``sending``, with the
message's Message-ID, before the SMTP transaction, and ``sent`` (or
``failed``, ``deferred``) right after it. A run skips ``sent`` rows, so a
second run sends nothing; a run killed mid-way leaves at most the messages in
flight ``sending`` (one, or two when pipelined), and the next run sends exactly
the rows not ``sent``. The
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
and Message-ID (:mod:`borderlinks.messages` makes the bytes). When the server
offers PIPELINING, messages go out pipelined (see :mod:`borderlinks.transports`):
a message is claimed and composed while the server still checks the one
before, so at most two are ``sending`` at a time.

Transports (:mod:`borderlinks.transports`) are a registry keyed by kind: ``smtp`` sends
over one reused connection, ``file`` writes ``.eml`` files (``--dry-run``).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from email.headerregistry import Address
from email.utils import make_msgid, parseaddr
from pathlib import Path
from typing import Any

import jinja2
import sqlalchemy as sa

from .config import SETTINGS_FILE, Home, MailSettings, mail_settings
from .errors import ConfigError, DeliveryError, SendError
from .messages import Letterhead, Prepared, compose, filter_digest, header_text, prepare
from .model import Digest, SendResult, Subscriber
from .render import (
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

_LOOPBACK = ("localhost", "127.0.0.1", "::1")


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
        try:
            eight_bit = bool(plan) and self._open_transport()
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
        """Connect before the first message, to learn whether it may be 8-bit.

        A temporary failure is met again, and retried, per message; a lasting one
        (a refused login, no TLS) stops the run before anything is claimed, and
        a refused password is not tried again and again.
        """
        try:
            self.transport.open()
        except DeliveryError as e:
            if not e.temporary:
                raise _Stop(e) from e
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
