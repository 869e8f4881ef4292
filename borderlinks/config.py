"""Loading configuration: the home folder, settings and source definitions.

Contains no business logic. Everything is validated up front into frozen
dataclasses, and every mistake names its file, line and key. Defaults live
here, in one place.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError, ConfigErrors
from .model import IDENTITIES, KINDS, LANGUAGES, LEANS, SOURCE_TYPES, PageSelectors, Source
from .tomlfile import LineIndex, nearest, read_toml

CONTENT_FOLDERS = ("sources", "classifiers", "templates", "scheduler")
SETTINGS_FILE = "borderlinks.toml"
HOME_ENV = "BORDERLINKS_HOME"

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def packaged_defaults() -> Path:
    """Where the default content folders live: inside the wheel, or the repository in development."""
    here = Path(__file__).resolve().parent
    bundled = here / "_defaults"
    if bundled.is_dir():
        return bundled
    return here.parent


@dataclass(frozen=True)
class FetchSettings:
    """Politeness and robustness limits for fetching."""

    concurrency: int = 100
    per_host: int = 4
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    deadline: float = 60.0
    retries: int = 2
    backoff: float = 1.0
    max_retry_after: float = 30.0
    max_redirects: int = 5
    max_bytes: int = 10_000_000
    user_agent: str = "borderlinks/{version} (+https://github.com/borderlinks/borderlinks; news digest bot)"
    dead_after_days: int = 7


TLS_MODES = ("none", "starttls", "ssl")
DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
# Each overrides one [mail] key; the password has no key, it only ever comes from here.
MAIL_ENVIRONMENT = {
    "BORDERLINKS_SMTP_HOST": "host",
    "BORDERLINKS_SMTP_PORT": "port",
    "BORDERLINKS_SMTP_USER": "user",
    "BORDERLINKS_SMTP_PASSWORD": "password",
    "BORDERLINKS_SMTP_TLS": "tls",
    "BORDERLINKS_MAIL_FROM": "sender",
}


@dataclass(frozen=True)
class MailSettings:
    """How `borderlinks send` reaches the mail server, from ``[mail]`` and the environment.

    The password is never read from a file: only from BORDERLINKS_SMTP_PASSWORD.
    """

    host: str = "localhost"
    port: int = 0  # 0: the usual port of the TLS mode (25, 587 or 465)
    tls: str = "starttls"  # "none", "starttls" or "ssl" (implicit TLS)
    user: str = ""
    password: str = field(default="", repr=False)
    sender: str = ""  # From and the envelope sender, e.g. "Border Links <links@example.org>"
    reply_to: str = ""  # default: the sender
    unsubscribe_mailto: str = ""  # the mailto: of List-Unsubscribe; default: the reply-to address
    rate: float = 0.0  # messages per second at most; 0: as fast as the server takes them
    retries: int = 3  # further attempts of a message after a temporary (4xx) error or a dropped connection
    backoff: float = 2.0  # seconds before the first retry; doubles each time
    timeout: float = 30.0  # seconds for the server's answer to any command
    per_connection: int = 0  # messages before a fresh connection; 0: one connection for the whole run

    @property
    def server_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.tls]


@dataclass(frozen=True)
class Settings:
    """Site-wide settings from ``borderlinks.toml`` in the home folder."""

    site_title: str = "Border Links"
    site_url: str = "https://example.org/borderlinks/"
    fetch: FetchSettings = field(default_factory=FetchSettings)
    mail: MailSettings = field(default_factory=MailSettings)


@dataclass(frozen=True)
class Home:
    """A digest site's home folder: its content folders, settings and database.

    A content folder present in the home replaces the packaged one wholly; a
    missing one falls back to the packaged default.
    """

    root: Path
    db_url: str | None = None

    @classmethod
    def resolve(cls, path: str | os.PathLike[str] | None = None, db_url: str | None = None) -> Home:
        chosen = path or os.environ.get(HOME_ENV) or "."
        return cls(Path(chosen).expanduser().resolve(), db_url)

    def content(self, name: str) -> Path:
        """The folder in use for one kind of content (``sources``, ``templates``...)."""
        own = self.root / name
        if own.is_dir():
            return own
        return packaged_defaults() / name

    @property
    def var(self) -> Path:
        return self.root / "var"

    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{self.var / 'borderlinks.sqlite3'}"

    def settings(self) -> Settings:
        return load_settings(self.root / SETTINGS_FILE)

    def sources(self) -> list[Source]:
        return load_sources(self.content("sources"))


def load_settings(path: Path) -> Settings:
    """Read ``borderlinks.toml``; a missing file means all defaults."""
    if not path.is_file():
        return Settings()
    data, lines = read_toml(path)
    known = {f.name for f in fields(Settings)}
    errors: list[ConfigError] = []
    top: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            errors.append(_unknown_key(path, lines.key("", 0, key), key, sorted(known)))
        elif key not in ("fetch", "mail"):
            top[key] = value
    fetch = FetchSettings()
    fetch_data = data.get("fetch", {})
    if isinstance(fetch_data, dict):
        names = {f.name: f for f in fields(FetchSettings)}
        values: dict[str, Any] = {}
        for key, value in fetch_data.items():
            line = lines.key("fetch", 0, key)
            if key not in names:
                errors.append(_unknown_key(path, line, key, sorted(names)))
                continue
            expected = type(getattr(fetch, key))
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, expected) or isinstance(value, bool) != (expected is bool):
                errors.append(
                    ConfigError(f"'{key}' must be a {expected.__name__}", path, line, key, fix=f"Write e.g. {key} = {getattr(fetch, key)!r}")
                )
                continue
            if expected in (int, float) and value <= 0 and key != "retries":
                errors.append(ConfigError(f"'{key}' must be positive", path, line, key))
                continue
            values[key] = value
        fetch = replace(fetch, **values)
    mail = _load_mail(data.get("mail", {}), path, lines, errors)
    if errors:
        raise ConfigErrors(errors) if len(errors) > 1 else errors[0]
    return replace(Settings(), fetch=fetch, mail=mail, **top)


def _load_mail(data: Any, path: Path, lines: LineIndex, errors: list[ConfigError]) -> MailSettings:
    """The ``[mail]`` table; a password in it is a mistake, never a setting."""
    mail = MailSettings()
    if not isinstance(data, dict):
        errors.append(ConfigError("'mail' must be a table", path, lines.key("", 0, "mail"), "mail", fix="Write [mail] and its keys below it"))
        return mail
    names = {f.name for f in fields(MailSettings)} - {"password"}
    values: dict[str, Any] = {}
    for key, value in data.items():
        line = lines.key("mail", 0, key)
        if key == "password":
            errors.append(
                ConfigError(
                    "a password is never read from a file", path, line, key,
                    fix="Remove it and set the environment variable BORDERLINKS_SMTP_PASSWORD instead",
                )
            )
            continue
        if key not in names:
            errors.append(_unknown_key(path, line, key, sorted(names)))
            continue
        problem, value = _mail_value(key, value)
        if problem:
            errors.append(ConfigError(problem, path, line, key, fix=f"Write e.g. {key} = {_mail_example(key)}"))
            continue
        values[key] = value
    return replace(mail, **values)


def _mail_value(key: str, value: Any) -> tuple[str | None, Any]:
    """A ``[mail]`` value checked against its default's type and range: (problem, value)."""
    expected = type(getattr(MailSettings(), key))
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, expected) or isinstance(value, bool):
        kind = {str: "a string", int: "a whole number", float: "a number"}[expected]
        return f"'{key}' must be {kind}", value
    if key == "tls" and value not in TLS_MODES:
        return f"'tls' is {value!r}; use one of: " + ", ".join(TLS_MODES), value
    if key == "port" and not 0 <= value <= 65535:
        return "'port' must be from 1 to 65535 (0: the usual port of the TLS mode)", value
    if expected in (int, float) and (value < 0 or (key == "timeout" and value == 0)):
        return f"'{key}' must be {'positive' if key == 'timeout' else 'zero or more'}", value
    if isinstance(value, str):
        value = value.strip()
    return None, value


def _mail_example(key: str) -> str:
    default = getattr(MailSettings(), key)
    examples = {"host": '"smtp.example.org"', "tls": '"starttls"', "sender": '"Border Links <links@example.org>"'}
    return examples.get(key, '"..."' if isinstance(default, str) else repr(default))


def mail_settings(settings: Settings, environ: Mapping[str, str] | None = None) -> MailSettings:
    """The ``[mail]`` settings with the environment's overrides (``MAIL_ENVIRONMENT``) applied."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for variable, key in MAIL_ENVIRONMENT.items():
        text = environ.get(variable)
        if text is None or (text.strip() == "" and key != "password"):
            continue
        value: Any = text if key == "password" else text.strip()
        if key == "port":
            if not value.isdigit():
                raise ConfigError(f"{variable} is {text!r}, not a port number", fix="Write e.g. 587")
            value = int(value)
        if key == "tls":
            value = value.lower()
        problem, value = _mail_value(key, value) if key != "password" else (None, value)
        if problem:
            raise ConfigError(f"{variable}: {problem}")
        values[key] = value
    return replace(settings.mail, **values)


SOURCE_KEYS = (
    "id", "name", "url", "type", "language", "country", "lean", "kind", "priority",
    "every", "enabled", "tags", "identity", "selectors",
)
SELECTOR_KEYS = ("items", "title", "link", "summary", "date", "date_format", "author")
_CHOICES = {"type": SOURCE_TYPES, "language": LANGUAGES, "lean": LEANS, "kind": KINDS, "identity": IDENTITIES}


def load_sources(folder: Path) -> list[Source]:
    """Every ``[[source]]`` of every ``*.toml`` in ``folder``, validated.

    All mistakes of all files are collected and raised together as
    :class:`ConfigErrors`, so a user mends them in one go.
    """
    errors: list[ConfigError] = []
    sources: list[Source] = []
    seen: dict[str, Source] = {}
    for path in sorted(folder.glob("*.toml")):
        try:
            data, lines = read_toml(path)
        except ConfigError as e:
            errors.append(e)
            continue
        for key in data:
            if key != "source":
                errors.append(
                    ConfigError(
                        f"unexpected top-level key '{key}'", path, lines.key("", 0, key), key,
                        fix="Each outlet is a [[source]] table; put keys under one",
                    )
                )
        tables = data.get("source", [])
        if not isinstance(tables, list):
            errors.append(ConfigError("'source' must be written as [[source]] tables", path, lines.key("", 0, "source")))
            continue
        for index, table in enumerate(tables):
            source, problems = _parse_source(table, path, index, lines)
            errors.extend(problems)
            if source is None:
                continue
            if source.id in seen:
                first = seen[source.id]
                errors.append(
                    ConfigError(
                        f"duplicate source id '{source.id}' (first defined in {first.path}:{first.line})",
                        path, source.line, "id", fix="Give each source a unique id",
                    )
                )
                continue
            seen[source.id] = source
            sources.append(source)
    if errors:
        raise ConfigErrors(errors) if len(errors) > 1 else errors[0]
    return sources


def _unknown_key(path: Path, line: int | None, key: str, known: list[str] | tuple[str, ...]) -> ConfigError:
    guess = nearest(key, known)
    fix = f"Did you mean '{guess}'?" if guess else "Known keys: " + ", ".join(known)
    return ConfigError(f"unknown key '{key}'", path, line, key, fix=fix)


def _parse_source(
    table: dict[str, Any], path: Path, index: int, lines: LineIndex
) -> tuple[Source | None, list[ConfigError]]:
    errors: list[ConfigError] = []
    header = lines.table("source", index)

    def where(key: str) -> int | None:
        return lines.key("source", index, key) or header

    def error(message: str, key: str, fix: str | None = None) -> None:
        errors.append(ConfigError(message, path, where(key), key, fix=fix))

    for key in table:
        if key not in SOURCE_KEYS:
            errors.append(_unknown_key(path, where(key), key, SOURCE_KEYS))
    for key in ("id", "name", "url"):
        if key not in table:
            errors.append(ConfigError(f"missing required key '{key}'", path, header, key, fix=f"Add {key} = \"...\" to this [[source]]"))
        elif not isinstance(table[key], str) or not table[key].strip():
            error(f"'{key}' must be a non-empty string", key)
    values: dict[str, Any] = {}
    for key in ("type", "language", "lean", "kind", "identity", "country"):
        if key in table:
            value = table[key]
            if not isinstance(value, str):
                error(f"'{key}' must be a string", key)
            elif key in _CHOICES and value not in _CHOICES[key]:
                error(f"'{key}' is {value!r}", key, fix="Use one of: " + ", ".join(_CHOICES[key]))
            else:
                values[key] = value
    for key, low, high in (("priority", 1, 10), ("every", 0, 60 * 24 * 31)):
        if key in table:
            value = table[key]
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                error(f"'{key}' must be a whole number from {low} to {high}", key)
            else:
                values[key] = value
    if "enabled" in table:
        if not isinstance(table["enabled"], bool):
            error("'enabled' must be true or false", "enabled")
        else:
            values["enabled"] = table["enabled"]
    if "tags" in table:
        tags = table["tags"]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            error("'tags' must be a list of strings", "tags", fix='Write e.g. tags = ["texas"]')
        else:
            values["tags"] = tuple(tags)
    source_id = table.get("id")
    if isinstance(source_id, str) and not _SLUG.match(source_id):
        error(f"id {source_id!r} is not a slug", "id", fix="Use lower-case letters, digits and hyphens, e.g. \"el-paso-times\"")
    url = table.get("url")
    if isinstance(url, str):
        problem = _url_problem(url)
        if problem:
            error(problem, "url", fix="Write the full address, e.g. https://www.example.com/feed/")
    selectors = None
    source_type = values.get("type", "feed")
    if source_type == "page":
        selectors = _parse_selectors(table.get("selectors"), path, index, lines, errors, header)
    elif "selectors" in table:
        error("'selectors' is only for type = \"page\" sources", "selectors", fix='Add type = "page" or remove the selectors')
    if errors:
        return None, errors
    source = Source(
        id=table["id"], name=table["name"].strip(), url=url.strip(), selectors=selectors,
        path=path, line=header, **values,
    )
    return source, []


def _url_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url.strip())
    except ValueError as e:
        return f"url {url!r} is not a valid URL ({e})"
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            return f"url {url!r} has no host"
        return None
    if parts.scheme == "file":
        return None
    return f"url {url!r} must start with http:// or https:// (or file: for local files)"


def _parse_selectors(
    value: Any, path: Path, index: int, lines: LineIndex, errors: list[ConfigError], header: int | None
) -> PageSelectors | None:
    table_line = lines.table("source.selectors", index) or lines.key("source", index, "selectors") or header
    if not isinstance(value, dict):
        errors.append(
            ConfigError(
                "a page source needs a [source.selectors] table", path, header, "selectors",
                fix="Add [source.selectors] with items, title and link CSS selectors after this source",
            )
        )
        return None
    import soupsieve

    ok = True
    for key, selector in value.items():
        line = lines.key("source.selectors", index, key) or table_line
        if key not in SELECTOR_KEYS:
            errors.append(_unknown_key(path, line, key, SELECTOR_KEYS))
            ok = False
            continue
        if not isinstance(selector, str) or not selector.strip():
            errors.append(ConfigError(f"selector '{key}' must be a non-empty string", path, line, key))
            ok = False
            continue
        if key == "date_format":
            continue
        try:
            soupsieve.compile(selector)
        except (soupsieve.SelectorSyntaxError, ValueError) as e:
            first = str(e).splitlines()[0]
            errors.append(
                ConfigError(f"bad CSS selector for '{key}': {selector!r} ({first})", path, line, key, fix="Write a CSS selector such as \"article h2 a\"")
            )
            ok = False
    for key in ("items", "title", "link"):
        if key not in value:
            errors.append(ConfigError(f"the selectors need '{key}'", path, table_line, key, fix=f"Add {key} = \"<CSS selector>\""))
            ok = False
    if not ok:
        return None
    return PageSelectors(**value)
