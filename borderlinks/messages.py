"""Messages: a post as each subscriber gets it, a multipart/alternative MIME message in bytes.

Pure functions, no I/O: :func:`filter_digest` keeps a subscriber's themes,
:func:`prepare` renders what every reader of a copy shares (headers, the two
bodies with a placeholder for the unsubscribe link), :func:`compose` makes one
subscriber's message from it. Headers go through :mod:`email` with the SMTP
policy (encoded words, folding, no line breaks); the two bodies are put in a
multipart/alternative directly, because the email generator would cost more
than the SMTP transaction itself. When the server offers 8BITMIME (RFC 6152)
a body goes as UTF-8 text as it is (``8bit``, lines of at most 998 octets: a
longer HTML line is broken at a space between words): readable as it travels,
two bytes for an accented letter instead of six, and half the lines for the
server to read (294 instead of 542 for the demo's full digest); otherwise, and
in ``.eml`` files, quoted-printable.
"""

from __future__ import annotations

import binascii
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from html import escape as html_escape

from .model import Digest, Subscriber
from .render import UNSUBSCRIBE_PLACEHOLDER, fill_unsubscribe

__all__ = ["Letterhead", "Prepared", "compose", "filter_digest", "header_text", "prepare"]

POLICY = SMTP  # CRLF, folded at 78, non-ASCII as RFC 2047 encoded words
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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
    return _text_spans(text, state)[1]


_TAG_STOP = re.compile("[\"'>]")


def _text_spans(text: str, state: tuple[bool, str]) -> tuple[list[tuple[int, int]], tuple[bool, str]]:
    """The (start, end) spans of ``text`` outside tags, and the state after it.

    The state is (inside a tag, the attribute quote open). Jumps from one ``<``,
    ``>`` or quote to the next with ``str.find`` instead of stepping through
    every character: a digest's HTML is scanned once per distinct copy.
    """
    in_tag, quote = state
    spans: list[tuple[int, int]] = []
    at = 0
    while True:
        if not in_tag:
            opening = text.find("<", at)
            if opening < 0:
                spans.append((at, len(text)))
                return spans, (False, "")
            spans.append((at, opening))
            in_tag, quote, at = True, "", opening + 1
        elif quote:
            closing = text.find(quote, at)
            if closing < 0:
                return spans, (True, quote)
            quote, at = "", closing + 1
        else:
            stop = _TAG_STOP.search(text, at)
            if stop is None:
                return spans, (True, "")
            at = stop.end()
            if stop.group() == ">":
                in_tag = False
            else:
                quote = stop.group()


def _text_space_before(line: str, limit: int, state: tuple[bool, str]) -> int | None:
    """Index of the last space outside tags whose line start stays within ``limit`` octets.

    When there is none within the limit, the first one after it (the line stays
    too long, but shorter); None when the line has no space outside tags but at its start.
    """
    within = limit if line.isascii() else len(line.encode("utf-8")[:limit].decode("utf-8", "ignore"))
    spans = _text_spans(line, state)[0]
    best = None
    for start, end in spans:
        if start >= within:
            break
        found = line.rfind(" ", max(start, 1), min(end, within))
        if found > 0:
            best = found
    if best is not None:
        return best
    for start, end in spans:
        found = line.find(" ", max(start, within, 1), end)
        if found > 0:
            return found
    return None


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
