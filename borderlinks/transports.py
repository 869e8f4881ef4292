"""Transports: where `borderlinks send` hands its messages, a registry keyed by kind.

``smtp`` sends over one connection for the whole run (or ``per_connection``
messages), reopened when lost; ``file`` writes ``.eml`` files (``--dry-run``).
``deliver`` raises :class:`SendError` for one recipient (``permanent`` for a
5xx answer) and :class:`DeliveryError` when the run cannot go on; smtplib's
exceptions are translated here, once.

**Pipelining.** When the server offers PIPELINING (RFC 2920; Postfix, Exim,
Sendmail and the large providers all do), ``submit`` sends a message's MAIL,
RCPT and DATA in one write, its text after the server's 354, and returns
without waiting for the server's verdict on that text: the verdict is read
when the next message's commands have gone out, so the server checks one
message while the sender prepares the next. Each verdict comes back to the
caller (a :class:`Verdict`) in order, at most one message behind; ``flush``
collects the last one. Without PIPELINING, ``submit`` is ``deliver``.
"""

from __future__ import annotations

import base64
import contextlib
import re
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .config import MailSettings
from .errors import DeliveryError, SendError
from .render import write_files

Message = bytes | Callable[[], bytes]  # a message, or what makes it when the transport is ready for it


def _made(message: Message) -> bytes:
    return message() if callable(message) else message


@dataclass(frozen=True)
class Verdict:
    """The outcome of one submitted message: ``error`` None when the server took it."""

    key: int
    error: SendError | DeliveryError | None = None
    written: Path | None = None


class Transport(Protocol):
    """Where messages go. ``deliver`` raises SendError for one recipient, DeliveryError for the run."""

    kind: str

    def open(self) -> None:
        """Connect now, so that ``eight_bit`` is known before the first message is composed."""

    @property
    def eight_bit(self) -> bool:
        """Whether messages may carry 8-bit text (the server offers 8BITMIME)."""

    def deliver(self, sender: str, recipient: str, message: bytes, label: str) -> Path | None: ...

    def submit(self, key: int, sender: str, recipient: str, message: Message, label: str) -> list[Verdict]:
        """Send one message, perhaps without waiting for it; the verdicts known so far, in order.

        ``message`` may be a function that makes it: a pipelining transport calls
        it once the commands are out, so the server reads them meanwhile.
        """

    def flush(self) -> list[Verdict]:
        """The verdicts of every message submitted and not yet answered."""

    def close(self) -> None: ...


def _answer(code: int, text: bytes | str) -> str:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(message.split())}"


class SmtpTransport:
    """SMTP over one connection for the whole run (or ``per_connection`` messages), reopened when lost."""

    kind = "smtp"

    def __init__(self, mail: MailSettings) -> None:
        self.mail = mail
        self.smtp: smtplib.SMTP | None = None
        self.on_connection = 0
        self.connections = 0
        self.extensions: frozenset[str] | None = None  # as the first connection's EHLO listed them
        self.pending: tuple[int, str] | None = None  # (key, recipient) of the message whose verdict is unread
        self._unreported: list[Verdict] = []  # verdicts read while a submit failed: the next flush returns them
        self._tls: ssl.SSLContext | None = None

    def _tls_context(self) -> ssl.SSLContext:
        """One TLS context for the run: loading the system's CA certificates once, not per connection."""
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    @property
    def where(self) -> str:
        return f"{self.mail.host}:{self.mail.server_port}"

    def connect(self) -> smtplib.SMTP:
        mail = self.mail
        smtp: smtplib.SMTP | None = None
        try:
            if mail.tls == "ssl":
                smtp = smtplib.SMTP_SSL(mail.host, mail.server_port, timeout=mail.timeout, context=self._tls_context())
            else:
                smtp = smtplib.SMTP(mail.host, mail.server_port, timeout=mail.timeout)
            with contextlib.suppress(OSError, AttributeError):
                # Without it a message larger than a TCP segment waits for a delayed ACK (40 ms) over TLS.
                smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            smtp.ehlo()
            if mail.tls == "starttls":
                smtp.starttls(context=self._tls_context())
                smtp.ehlo()
            if mail.user:
                _login(smtp, mail.user, mail.password, self.where)
        except DeliveryError:
            _quit(smtp)
            raise
        except smtplib.SMTPAuthenticationError as e:
            _quit(smtp)
            raise DeliveryError(
                f"the mail server {self.where} refused the login of {mail.user!r}: {_answer(e.smtp_code, e.smtp_error)}. "
                "Check BORDERLINKS_SMTP_USER and BORDERLINKS_SMTP_PASSWORD"
            ) from e
        except smtplib.SMTPNotSupportedError as e:
            _quit(smtp)
            raise DeliveryError(
                f"the mail server {self.where} does not offer {'STARTTLS' if mail.tls == 'starttls' else 'login'}: {e}. "
                "Check tls (none, starttls or ssl) and the port in [mail] or BORDERLINKS_SMTP_TLS"
            ) from e
        except smtplib.SMTPResponseException as e:
            _quit(smtp)
            raise DeliveryError(f"the mail server {self.where} answered {_answer(e.smtp_code, e.smtp_error)}", temporary=e.smtp_code < 500) from e
        except ssl.SSLError as e:
            _quit(smtp)
            raise DeliveryError(f"no TLS with the mail server {self.where}: {e}. Check tls and the port (465 is ssl, 587 starttls)") from e
        except (smtplib.SMTPException, OSError) as e:
            _quit(smtp)
            raise DeliveryError(f"cannot reach the mail server {self.where}: {e}. Check host and port in [mail] or BORDERLINKS_SMTP_HOST/PORT", temporary=True) from e
        self.connections += 1
        self.on_connection = 0
        if self.extensions is None:
            self.extensions = frozenset(name for name in ("pipelining", "8bitmime", "size") if smtp.has_extn(name))
        return smtp

    def open(self) -> None:
        if self.smtp is None:
            self.smtp = self.connect()

    @property
    def eight_bit(self) -> bool:
        return "8bitmime" in (self.extensions or ())

    @property
    def pipelining(self) -> bool:
        return "pipelining" in (self.extensions or ())

    def _mail_options(self, message: Message, size: bool = True) -> list[str]:
        """BODY=8BITMIME when offered (a 7-bit message may say it too); SIZE when asked and offered."""
        options = ["BODY=8BITMIME"] if self.eight_bit else []
        if size and "size" in (self.extensions or ()) and isinstance(message, bytes):
            options.append(f"SIZE={len(message)}")
        return options

    def deliver(self, sender: str, recipient: str, message: bytes, label: str = "") -> None:
        if self.pending is not None:  # its verdict would be lost: a caller must collect it first
            raise RuntimeError("flush() the pipelined message before deliver()")
        if self.smtp is None:
            self.smtp = self.connect()
        smtp = self.smtp
        try:
            smtp.sendmail(sender, [recipient], message, mail_options=self._mail_options(message, size=False))
        except smtplib.SMTPRecipientsRefused as e:
            code, text = e.recipients.get(recipient, (550, b"refused"))
            raise SendError(recipient, _answer(code, text), permanent=code >= 500) from e
        except smtplib.SMTPSenderRefused as e:
            if e.smtp_code >= 500:
                raise DeliveryError(
                    f"the mail server {self.where} refused the sender {sender}: {_answer(e.smtp_code, e.smtp_error)}. "
                    "Check sender in [mail] or BORDERLINKS_MAIL_FROM"
                ) from e
            raise SendError(recipient, _answer(e.smtp_code, e.smtp_error)) from e
        except smtplib.SMTPResponseException as e:  # the data refused, or a 421 closing the connection
            raise SendError(recipient, _answer(e.smtp_code, e.smtp_error), permanent=e.smtp_code >= 500) from e
        except (smtplib.SMTPException, OSError) as e:
            self._drop()
            raise SendError(recipient, f"connection lost: {e}") from e
        finally:
            if self.smtp is not None and self.smtp.sock is None:  # smtplib closed it (421)
                self.smtp = None
        self.on_connection += 1
        if self.mail.per_connection and self.on_connection >= self.mail.per_connection:
            self.close()

    def submit(self, key: int, sender: str, recipient: str, message: Message, label: str = "") -> list[Verdict]:
        if self.smtp is None:
            try:
                self.smtp = self.connect()
            except DeliveryError as e:  # this message's: nothing is pending on a connection not yet made
                return [Verdict(key, e)]
        if not self.pipelining or not (sender + recipient).isascii():
            data = _made(message)  # before the flush: a failure here loses no verdict
            verdicts = self.flush()
            try:
                self.deliver(sender, recipient, data, label)
            except (SendError, DeliveryError) as e:
                return [*verdicts, Verdict(key, e)]
            return [*verdicts, Verdict(key)]
        if _UNSAFE.search(sender + recipient):  # checked when they were stored; never into a command line
            return [*self.flush(), Verdict(key, SendError(recipient, "not an address that can go in an SMTP command", permanent=True))]
        smtp = self.smtp
        # SIZE only when the message is made already: a message made after the commands are
        # out lets the server read them (and finish the one before) while it is composed.
        options = "".join(" " + option for option in self._mail_options(message, size=not callable(message)))
        commands = f"MAIL FROM:<{sender}>{options}\r\nRCPT TO:<{recipient}>\r\nDATA\r\n".encode("ascii")
        verdicts: list[Verdict] = []
        try:
            smtp.sock.sendall(commands)
            try:
                message = _made(message)
            except BaseException:
                # The server waits in the middle of a transaction: keep the verdict on the message
                # before (the caller's flush gets it), and drop the connection, which ends this one unsent.
                if self.pending is not None:
                    self._unreported.append(self._data_verdict())
                self._drop()
                raise
            if self.pending is not None:
                verdicts.append(self._data_verdict())
                if self.smtp is None:  # a 421 to the message before: the server has closed the connection
                    return [*verdicts, Verdict(key, SendError(recipient, "the server closed the connection (421) first"))]
            answers = [smtp.getreply() for _ in range(3)]
        except (smtplib.SMTPException, OSError) as e:
            return verdicts + self._lost(e, (key, recipient))
        (mail_code, mail_text), (rcpt_code, rcpt_text), (data_code, data_text) = answers
        if data_code == 354 and mail_code == 250 and rcpt_code in (250, 251):
            try:
                smtp.sock.sendall(_dot_stuffed(message))
            except OSError as e:
                return verdicts + self._lost(e, (key, recipient))
            self.pending = (key, recipient)
            self.on_connection += 1
            if self.mail.per_connection and self.on_connection >= self.mail.per_connection:
                verdicts += self.flush()
                self.close()
            return verdicts
        # Refused before the text: say why, and leave the server ready for the next message.
        if mail_code != 250:
            if mail_code >= 500:
                error: SendError | DeliveryError = DeliveryError(
                    f"the mail server {self.where} refused the sender {sender}: {_answer(mail_code, mail_text)}. "
                    "Check sender in [mail] or BORDERLINKS_MAIL_FROM"
                )
            else:
                error = SendError(recipient, _answer(mail_code, mail_text))
        elif rcpt_code not in (250, 251):
            error = SendError(recipient, _answer(rcpt_code, rcpt_text), permanent=rcpt_code >= 500)
        else:
            error = SendError(recipient, _answer(data_code, data_text), permanent=data_code >= 500)
        try:
            if data_code == 354:  # a server that took DATA after all: end the empty text, drop its answer
                smtp.sock.sendall(b".\r\n")
                smtp.getreply()
            if 421 in (mail_code, rcpt_code, data_code):
                raise smtplib.SMTPServerDisconnected("the server is closing the connection (421)")
            smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()
        return [*verdicts, Verdict(key, error)]

    def flush(self) -> list[Verdict]:
        verdicts, self._unreported = self._unreported, []
        if self.pending is None:
            return verdicts
        try:
            return [*verdicts, self._data_verdict()]
        except (smtplib.SMTPException, OSError) as e:
            return verdicts + self._lost(e)

    def _data_verdict(self) -> Verdict:
        """The server's answer to the pending message's text (raises when the connection is lost)."""
        assert self.smtp is not None and self.pending is not None
        key, recipient = self.pending
        code, text = self.smtp.getreply()
        self.pending = None
        if code == 250:
            return Verdict(key)
        if code == 421:
            self._drop()
        return Verdict(key, SendError(recipient, _answer(code, text), permanent=code >= 500))

    def _lost(self, error: Exception, *unanswered: tuple[int, str]) -> list[Verdict]:
        """The connection broke: every message without a verdict gets a temporary one."""
        lost = [self.pending] if self.pending is not None else []
        self.pending = None
        self._drop()
        return [Verdict(key, SendError(recipient, f"connection lost: {error}")) for key, recipient in [*lost, *unanswered]]

    def _drop(self) -> None:
        if self.smtp is not None:
            with contextlib.suppress(OSError):
                self.smtp.close()
        self.smtp = None

    def close(self) -> None:
        if self.pending is not None:  # a caller that closes without flushing: the verdict is lost, the message kept
            self._drop()
            self.pending = None
        _quit(self.smtp)
        self.smtp = None


def _login(smtp: smtplib.SMTP, user: str, password: str, where: str) -> None:
    """Log in; a user name or password beyond ASCII goes as UTF-8 in AUTH PLAIN (RFC 4616).

    smtplib encodes every AUTH exchange as ASCII and would raise UnicodeEncodeError
    on "contraseña"; PLAIN carries UTF-8 as it is.
    """
    if (user + password).isascii():
        smtp.login(user, password)
        return
    if "plain" not in smtp.esmtp_features.get("auth", "").lower().split():
        raise DeliveryError(
            f"the mail server {where} does not offer AUTH PLAIN, the only way to send a user name or password with non-ASCII "
            "characters. Use an ASCII password (BORDERLINKS_SMTP_PASSWORD) or a server that offers AUTH PLAIN"
        )
    token = base64.b64encode(b"\0" + user.encode("utf-8") + b"\0" + password.encode("utf-8")).decode("ascii")
    code, answer = smtp.docmd("AUTH", "PLAIN " + token)
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, answer)


_UNSAFE = re.compile(r"[\s<>]")


def _dot_stuffed(message: bytes) -> bytes:
    """The message as DATA text (RFC 5321 4.5.2): lines starting with a dot get another, then the end mark."""
    data = message.replace(b"\r\n.", b"\r\n..")
    if data.startswith(b"."):
        data = b"." + data
    return data + (b".\r\n" if data.endswith(b"\r\n") else b"\r\n.\r\n")


def _quit(smtp: smtplib.SMTP | None) -> None:
    if smtp is None:
        return
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        with contextlib.suppress(OSError):
            smtp.close()


class FileTransport:
    """``--dry-run``: each message as ``<folder>/<post>/<date>/<address>.eml``, written atomically."""

    kind = "file"
    eight_bit = False  # files for any reader: quoted-printable, 7-bit clean

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def open(self) -> None:
        pass

    def submit(self, key: int, sender: str, recipient: str, message: Message, label: str = "") -> list[Verdict]:
        try:
            return [Verdict(key, written=self.deliver(sender, recipient, _made(message), label))]
        except (SendError, DeliveryError) as e:
            return [Verdict(key, e)]

    def flush(self) -> list[Verdict]:
        return []

    def deliver(self, sender: str, recipient: str, message: bytes, label: str = "") -> Path:
        name = re.sub(r"[^A-Za-z0-9@._+-]", "_", recipient) + ".eml"
        return write_files(self.folder, {f"{label}/{name}" if label else name: message})[0]

    def close(self) -> None:
        pass


TRANSPORTS: dict[str, Callable[[MailSettings, Path], Transport]] = {
    "smtp": lambda mail, outbox: SmtpTransport(mail),
    "file": lambda mail, outbox: FileTransport(outbox),
}
