"""Loading edition definitions (``scheduler/editions.toml``).

Contains no business logic: each ``[[edition]]`` and its ``[[edition.section]]``
tables are validated into frozen dataclasses; mistakes name file, line and key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, ConfigErrors
from .model import KINDS, LEANS
from .tomlfile import LineIndex, nearest, read_toml

LAYOUTS = ("daily", "roundup", "long-reads", "by-country")
WINDOWS = ("day", "month", "since-last")
GROUPINGS = ("section", "theme", "country")
EDITION_KEYS = (
    "slug", "name", "title", "description", "language", "window", "themes", "countries", "layout", "group_by",
    "template", "needs_approval", "limit", "long_words", "schedule", "timezone", "approval_deadline",
    "without_approval", "section",
)
SECTION_KEYS = ("heading", "themes", "kinds", "lean", "long", "limit", "precedence")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
SCHEDULE_FILE = "schedule.toml"  # the scheduler's own settings, beside the editions: not an editions file


@dataclass(frozen=True)
class Section:
    """A heading of an edition and the rule that places a story under it.

    A story goes to the section of lowest ``precedence`` whose every given
    criterion it meets; sections are printed in file order.
    """

    heading: str
    themes: tuple[str, ...] = ()  # any of these themes
    kinds: tuple[str, ...] = ()  # the lead's source kind is one of these
    lean: str | None = None  # the lead's source lean
    long: bool | None = None  # a long piece (at least the edition's long_words)
    limit: int = 0  # automatic selection keeps at most this many (0: the edition's limit)
    precedence: int = 0


@dataclass(frozen=True)
class Edition:
    """One kind of post the site publishes, e.g. the daily links or a monthly roundup."""

    slug: str
    title: str  # a format string: {date:%B %-d, %Y}, {month}, {theme}
    name: str = ""  # how the site's navigation names the edition (default: the slug, humanised)
    description: str = ""
    language: str = "en"
    window: str = "day"  # "day": the day before the edition's date; "month": the previous calendar month
    themes: tuple[str, ...] = ()  # items must carry one of these (empty: any theme, or none)
    countries: tuple[str, ...] = ()  # items must be about one of these (empty: any)
    layout: str = "daily"
    group_by: str = "section"  # "theme": one heading (and one post) per theme; "country": per country
    template: str = ""
    needs_approval: bool = False
    limit: int = 40  # automatic selection: items per edition
    long_words: int = 120  # a summary at least this long makes a "long piece"
    schedule: str = ""  # cron expression, for `borderlinks run`
    timezone: str = "America/New_York"
    approval_deadline: str = ""  # "HH:MM" in the edition's time zone
    without_approval: str = "skip"  # "skip" or "send-automatic", once the deadline passes
    sections: tuple[Section, ...] = ()
    path: Path | None = field(default=None, compare=False)
    line: int | None = field(default=None, compare=False)

    @property
    def template_name(self) -> str:
        return self.template or self.layout

    @property
    def display_name(self) -> str:
        return self.name or self.slug.replace("-", " ").capitalize()


def load_editions(folder: Path) -> list[Edition]:
    """Every ``[[edition]]`` of every ``*.toml`` in ``folder``, validated; all mistakes at once."""
    errors: list[ConfigError] = []
    editions: list[Edition] = []
    seen: set[str] = set()
    for path in sorted(folder.glob("*.toml")):
        if path.name == SCHEDULE_FILE:
            continue
        try:
            data, lines = read_toml(path)
        except ConfigError as e:
            errors.append(e)
            continue
        tables = data.get("edition", [])
        for key in data:
            if key != "edition":
                errors.append(ConfigError(f"unexpected top-level key '{key}'", path, lines.key("", 0, key), key, fix="Put keys inside an [[edition]] table"))
        if not isinstance(tables, list):
            errors.append(ConfigError("write editions as [[edition]] tables", path))
            continue
        for index, table in enumerate(tables):
            edition = _parse_edition(table, path, index, lines, errors)
            if edition is None:
                continue
            if edition.slug in seen:
                errors.append(ConfigError(f"duplicate edition slug '{edition.slug}'", path, edition.line, "slug", fix="Give each edition a unique slug"))
                continue
            seen.add(edition.slug)
            editions.append(edition)
    if errors:
        raise ConfigErrors(errors) if len(errors) > 1 else errors[0]
    return editions


def _parse_edition(table: dict[str, Any], path: Path, index: int, lines: LineIndex, errors: list[ConfigError]) -> Edition | None:
    header = lines.table("edition", index)
    count = len(errors)

    def at(key: str) -> int | None:
        return lines.key("edition", index, key) or header

    def fail(message: str, key: str, fix: str | None = None) -> None:
        errors.append(ConfigError(message, path, at(key), key, fix=fix))

    for key in table:
        if key not in EDITION_KEYS:
            guess = nearest(key, EDITION_KEYS)
            fail(f"unknown key '{key}'", key, f"Did you mean '{guess}'?" if guess else "Known keys: " + ", ".join(EDITION_KEYS))
    for key in ("slug", "title"):
        if not isinstance(table.get(key), str) or not table.get(key, "").strip():
            errors.append(ConfigError(f"missing or empty '{key}'", path, at(key), key, fix=f'Add {key} = "..."'))
    values: dict[str, Any] = {}
    choices = {"layout": LAYOUTS, "window": WINDOWS, "group_by": GROUPINGS, "language": ("en", "es", "pt"),
               "without_approval": ("skip", "send-automatic")}
    for key in ("name", "description", "template", "schedule", "timezone", "approval_deadline", *choices):
        if key in table:
            value = table[key]
            if not isinstance(value, str):
                fail(f"'{key}' must be a string", key)
            elif key in choices and value not in choices[key]:
                fail(f"'{key}' is {value!r}", key, "Use one of: " + ", ".join(choices[key]))
            else:
                values[key] = value
    for key in ("themes", "countries"):
        if key in table:
            value = table[key]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                fail(f"'{key}' must be a list of strings", key)
            else:
                values[key] = tuple(value)
    for key in ("limit", "long_words"):
        if key in table:
            value = table[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                fail(f"'{key}' must be a positive whole number", key)
            else:
                values[key] = value
    if "needs_approval" in table:
        if not isinstance(table["needs_approval"], bool):
            fail("'needs_approval' must be true or false", "needs_approval")
        else:
            values["needs_approval"] = table["needs_approval"]
    if "approval_deadline" in values and parse_clock(values["approval_deadline"]) is None:
        fail("'approval_deadline' must be a time such as \"11:00\"", "approval_deadline")
    slug = table.get("slug")
    if isinstance(slug, str) and not _SLUG.match(slug):
        fail(f"slug {slug!r} is not a slug", "slug", "Use lower-case letters, digits and hyphens")
    title = table.get("title")
    if isinstance(title, str):
        try:
            from datetime import date

            title.format(date=date(2025, 3, 21), month="March", theme="Theme", year=2025)
        except (KeyError, IndexError, ValueError) as e:
            fail(f"title {title!r} has an unknown placeholder ({e})", "title", "Use {date:%B %-d, %Y}, {month}, {year} or {theme}")
    sections = []
    raw_sections = table.get("section", [])
    if not isinstance(raw_sections, list):
        fail("sections must be [[edition.section]] tables", "section")
        raw_sections = []
    for position, raw in enumerate(raw_sections):
        section = _parse_section(raw, path, lines, errors, header, position)
        if section is not None:
            sections.append(section)
    if len(errors) > count:
        return None
    return Edition(slug=slug, title=title, sections=tuple(sections), path=path, line=header, **values)


def _parse_section(
    raw: Any, path: Path, lines: LineIndex, errors: list[ConfigError], header: int | None, position: int
) -> Section | None:
    # Sub-tables of an array of tables are counted per file by the line index.
    counts = sum(1 for (name, _i) in lines.tables if name == "edition.section")
    line = header
    if counts:
        found = sorted(ln for (name, _i), ln in lines.tables.items() if name == "edition.section" and ln and header and ln > header)
        line = found[position] if position < len(found) else header
    if not isinstance(raw, dict):
        errors.append(ConfigError("a section must be a table", path, line))
        return None
    count = len(errors)

    def fail(message: str, key: str, fix: str | None = None) -> None:
        errors.append(ConfigError(message, path, line, key, fix=fix))

    for key in raw:
        if key not in SECTION_KEYS:
            guess = nearest(key, SECTION_KEYS)
            fail(f"unknown key '{key}' in a section", key, f"Did you mean '{guess}'?" if guess else "Known keys: " + ", ".join(SECTION_KEYS))
    if not isinstance(raw.get("heading"), str) or not raw.get("heading", "").strip():
        fail("a section needs a heading", "heading", 'Add heading = "..."')
    values: dict[str, Any] = {}
    for key in ("themes", "kinds"):
        if key in raw:
            value = raw[key]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                fail(f"'{key}' must be a list of strings", key)
            elif key == "kinds" and any(v not in KINDS for v in value):
                fail(f"'kinds' has an unknown kind in {value!r}", key, "Use: " + ", ".join(KINDS))
            else:
                values[key] = tuple(value)
    if "lean" in raw:
        if raw["lean"] not in LEANS:
            fail(f"'lean' is {raw['lean']!r}", "lean", "Use one of: " + ", ".join(LEANS))
        else:
            values["lean"] = raw["lean"]
    if "long" in raw:
        if not isinstance(raw["long"], bool):
            fail("'long' must be true or false", "long")
        else:
            values["long"] = raw["long"]
    for key in ("limit", "precedence"):
        if key in raw:
            if not isinstance(raw[key], int) or isinstance(raw[key], bool) or raw[key] < 0:
                fail(f"'{key}' must be a whole number, 0 or more", key)
            else:
                values[key] = raw[key]
    values.setdefault("precedence", position)
    if len(errors) > count:
        return None
    return Section(heading=raw["heading"].strip(), **values)


@dataclass(frozen=True)
class ScheduleSettings:
    """How `borderlinks run` runs, from ``scheduler/schedule.toml``; a missing file means all defaults."""

    fetch_every: float = 30.0  # minutes between fetch runs; each source still waits its own `every`
    review_at: str = "07:00"  # "HH:MM" in each edition's time zone, on its days: draft the review file
    approval_check_every: float = 5.0  # minutes between looks at an unapproved review file, until the deadline
    send_grace: float = 30.0  # minutes an edition may start late (after downtime); later, it is reported, not sent
    lock_wait: float = 600.0  # seconds a scheduled build and send waits for a manual one to end
    path: Path | None = field(default=None, compare=False)


SCHEDULE_KEYS = ("fetch_every", "review_at", "approval_check_every", "send_grace", "lock_wait")


def load_schedule_settings(folder: Path) -> ScheduleSettings:
    """``schedule.toml`` in the scheduler folder, validated; every mistake at once."""
    path = folder / SCHEDULE_FILE
    if not path.is_file():
        return ScheduleSettings()
    data, lines = read_toml(path)
    errors: list[ConfigError] = []
    values: dict[str, Any] = {}
    for key, value in data.items():
        line = lines.key("", 0, key)
        if key not in SCHEDULE_KEYS:
            guess = nearest(key, SCHEDULE_KEYS)
            fix = f"Did you mean '{guess}'?" if guess else "Known keys: " + ", ".join(SCHEDULE_KEYS)
            errors.append(ConfigError(f"unknown key '{key}'", path, line, key, fix=fix))
        elif key == "review_at":
            if not isinstance(value, str) or parse_clock(value) is None:
                errors.append(ConfigError("'review_at' must be a time such as \"07:00\"", path, line, key))
            else:
                values[key] = value
        elif isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            example = getattr(ScheduleSettings(), key)
            errors.append(ConfigError(f"'{key}' must be a positive number", path, line, key, fix=f"Write e.g. {key} = {example:g}"))
        else:
            values[key] = float(value)
    if errors:
        raise ConfigErrors(errors) if len(errors) > 1 else errors[0]
    return ScheduleSettings(path=path, **values)


def parse_clock(text: str) -> tuple[int, int] | None:
    """``"09:30"`` → ``(9, 30)``; None if it is not a time of day."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        return None
    return int(match[1]), int(match[2])
