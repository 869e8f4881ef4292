"""Exceptions raised by borderlinks.

Every error the tool reports derives from :class:`BorderlinksError`, and its
message says what went wrong, where, and what to do about it::

    BorderlinksError
    ├── ConfigError(path, line, key)      a source, theme, place, edition or settings file is wrong
    ├── SourceError(source_id)            one source could not be brought in
    │   ├── FetchError                    network, HTTP status, size cap, deadline, redirects
    │   └── ParseError                    the body is not a feed / the page selectors found nothing
    ├── StoreError                        the database cannot be opened or written
    ├── ReviewFileError(path, line)       an editor's review file has a mistake
    ├── TemplateError(name)               a template is missing or broken
    ├── SendError(recipient)              a message could not be delivered to one recipient
    ├── DeliveryError                     the mail server cannot be reached or refuses us: the run stops
    └── LockError(holder)                 another build, send or scheduler holds the lock

Foreign exceptions are translated once, at the boundary, with ``raise ... from e``.
"""

from __future__ import annotations

from pathlib import Path


class BorderlinksError(Exception):
    """Base class of every error borderlinks reports to its user."""


class ConfigError(BorderlinksError):
    """A content or settings file is wrong; names the file, the line and the key."""

    def __init__(
        self,
        message: str,
        path: Path | str | None = None,
        line: int | None = None,
        key: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.line = line
        self.key = key
        self.fix = fix
        self.reason = message
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.path is not None:
            where = str(self.path)
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        text = where + self.reason
        if self.key and f"'{self.key}'" not in self.reason:
            text += f" (key '{self.key}')"
        if self.fix:
            text += f". {self.fix}"
        return text


class ConfigErrors(ConfigError):
    """Several configuration mistakes found in one pass, so the user can mend them all at once."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = list(errors)
        BorderlinksError.__init__(self, "\n".join(str(e) for e in self.errors))
        self.path = self.errors[0].path if self.errors else None
        self.line = self.errors[0].line if self.errors else None
        self.key = None
        self.fix = None
        self.reason = str(self)


class SourceError(BorderlinksError):
    """One source could not be brought in; the run goes on with the others."""

    def __init__(self, source_id: str, message: str, status: int | None = None) -> None:
        self.source_id = source_id
        self.status = status
        self.reason = message
        super().__init__(f"{source_id}: {message}")


class FetchError(SourceError):
    """The source's URL could not be fetched (network, HTTP status, size cap, deadline)."""


class ParseError(SourceError):
    """The fetched body is not a feed we can read, or a page's selectors found nothing."""


class SaveError(SourceError):
    """What a source brought in could not be stored (a busy or broken database, a worker that died).

    Nothing of it was saved, so the next fetch fetches and stores it again.
    """


class StoreError(BorderlinksError):
    """The item store cannot be opened, migrated or written."""


class ReviewFileError(BorderlinksError):
    """An editor's review file has a mistake at a given line."""

    def __init__(self, message: str, path: Path | str | None = None, line: int | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}: " if path is not None and line else (f"{self.path}: " if path else "")
        super().__init__(where + message)


class TemplateError(BorderlinksError):
    """A template is missing or broken."""

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        super().__init__(f"template {name}: {message}")


class SendError(BorderlinksError):
    """A message could not be delivered to one recipient."""

    def __init__(self, recipient: str, message: str, permanent: bool = False) -> None:
        self.recipient = recipient
        self.permanent = permanent
        super().__init__(f"{recipient}: {message}")


class DeliveryError(BorderlinksError):
    """Sending cannot go on at all: no connection, login or sender refused, another send running.

    ``temporary`` says whether trying again later may help (a network error,
    a 4xx greeting) or the settings must change first (a refused login).
    """

    def __init__(self, message: str, temporary: bool = False) -> None:
        self.temporary = temporary
        super().__init__(message)


class LockError(BorderlinksError):
    """Another process holds a lock: a build or send, or a running scheduler.

    ``holder`` is the :class:`borderlinks.lock.Holder` found in the store.
    """

    def __init__(self, message: str, holder: object = None) -> None:
        self.holder = holder
        super().__init__(message)
