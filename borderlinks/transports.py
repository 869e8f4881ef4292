"""Transports: where `borderlinks send` hands its messages, a registry keyed by kind.

``smtp`` sends over one connection for the whole run (or ``per_connection``
messages), reopened when lost; ``file`` writes ``.eml`` files (``--dry-run``).
``deliver`` raises :class:`SendError` for one recipient (``permanent`` for a
5xx answer) and :class:`DeliveryError` when the run cannot go on; smtplib's
exceptions are translated here, once.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from .config import MailSettings
from .errors import DeliveryError, SendError
from .render import write_files


class Transport(Protocol):
    """Where messages go. ``deliver`` raises SendError for one recipient, DeliveryError for the run."""

    kind: str

    def deliver(self, sender: str, recipient: str, message: bytes, label: str) -> Path | None: ...

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

    @property
    def where(self) -> str:
        return f"{self.mail.host}:{self.mail.server_port}"

    def connect(self) -> smtplib.SMTP:
        mail = self.mail
        smtp: smtplib.SMTP | None = None
        try:
            if mail.tls == "ssl":
                smtp = smtplib.SMTP_SSL(mail.host, mail.server_port, timeout=mail.timeout, context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(mail.host, mail.server_port, timeout=mail.timeout)
            with contextlib.suppress(OSError, AttributeError):
                # Without it a message larger than a TCP segment waits for a delayed ACK (40 ms) over TLS.
                smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            smtp.ehlo()
            if mail.tls == "starttls":
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if mail.user:
                smtp.login(mail.user, mail.password)
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
        return smtp

    def deliver(self, sender: str, recipient: str, message: bytes, label: str = "") -> None:
        if self.smtp is None:
            self.smtp = self.connect()
        smtp = self.smtp
        try:
            smtp.sendmail(sender, [recipient], message)
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

    def _drop(self) -> None:
        if self.smtp is not None:
            with contextlib.suppress(OSError):
                self.smtp.close()
        self.smtp = None

    def close(self) -> None:
        _quit(self.smtp)
        self.smtp = None


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

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def deliver(self, sender: str, recipient: str, message: bytes, label: str = "") -> Path:
        name = re.sub(r"[^A-Za-z0-9@._+-]", "_", recipient) + ".eml"
        return write_files(self.folder, {f"{label}/{name}" if label else name: message})[0]

    def close(self) -> None:
        pass


TRANSPORTS: dict[str, Callable[[MailSettings, Path], Transport]] = {
    "smtp": lambda mail, outbox: SmtpTransport(mail),
    "file": lambda mail, outbox: FileTransport(outbox),
}
