"""Loading theme files (``classifiers/*.toml``) and place files (``classifiers/places/*.toml``).

Contains no business logic: files are read, validated against docs/themes.md and
turned into frozen dataclasses that :class:`borderlinks.classify.Classifier`
compiles. Every mistake of every file is collected and raised at once as
:class:`ConfigErrors`, each naming the file, the line, the key and the fix.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from .errors import ConfigError, ConfigErrors
from .folding import fold_text
from .model import LANGUAGES
from .tomlfile import LineIndex, nearest, read_toml

THEME_KEYS = (
    "slug", "title", "description", "threshold", "title_weight",
    "terms", "weights", "exclude", "exclude_near", "near", "require", "pair",
)
PAIR_KEYS = ("first", "second", "within", "ordered", "weight")
DEFAULT_WITHIN = 8
PLACE_KEYS = ("country", "official", "mask")
COUNTRY_KEYS = ("name", "names", "demonyms", "places", "institutions", "groups", "ignore")
OFFICIAL_KEYS = ("name", "aliases", "country", "role", "from", "until")
MASK_KEYS = ("phrases",)
# Evidence kinds of a country, from a country table's list keys.
COUNTRY_LISTS = {"names": "name", "demonyms": "demonym", "places": "place", "institutions": "institution", "groups": "group"}

DEFAULT_THRESHOLD = 1.0
DEFAULT_TITLE_WEIGHT = 2.0
DEFAULT_NEAR = 3

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'')  # a TOML basic or literal string, as written
_WILDCARDS = "*?"


@dataclass(frozen=True)
class Term:
    """One keyword or phrase as written in a file, and its folded words.

    A word may end in a wildcard: ``*`` (any further letters) or ``?`` (at most
    one further letter); ``words`` then holds the stem and ``wildcards`` the sign.
    """

    text: str
    words: tuple[str, ...]
    wildcards: tuple[str, ...]
    weight: float = 1.0
    language: str = ""
    line: int | None = field(default=None, compare=False)

    @property
    def pattern(self) -> tuple[tuple[str, str], ...]:
        """What the term matches, independent of how it was written ("Darién" == "darien")."""
        return tuple(zip(self.words, self.wildcards, strict=True))


@dataclass(frozen=True)
class Theme:
    """A topic of the digest and the terms that give it to an item."""

    slug: str
    title: str
    terms: tuple[Term, ...]
    description: str = ""
    threshold: float = DEFAULT_THRESHOLD
    title_weight: float = DEFAULT_TITLE_WEIGHT
    exclude: tuple[Term, ...] = ()
    exclude_near: tuple[Term, ...] = ()
    near: int = DEFAULT_NEAR
    require: tuple[tuple[Term, ...], ...] = ()
    pairs: tuple[Pair, ...] = ()
    path: Path | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Pair:
    """Two lists of terms that weigh together when a term of each is within ``within`` words.

    Neither word alone says much ("soldiers", "opened fire"); together, near,
    they say what the theme is about. The nearest couple in an item counts once.
    ``ordered``: the first term must come before the second ("soldiers killed",
    not "killed two soldiers").
    """

    first: tuple[Term, ...]
    second: tuple[Term, ...]
    within: int = DEFAULT_WITHIN
    weight: float = 1.0
    ordered: bool = False
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Country:
    """A country and every word that says an item happens there, by kind of evidence."""

    name: str
    names: tuple[Term, ...] = ()
    demonyms: tuple[Term, ...] = ()
    places: tuple[Term, ...] = ()
    institutions: tuple[Term, ...] = ()
    groups: tuple[Term, ...] = ()
    ignore: tuple[Term, ...] = ()
    path: Path | None = field(default=None, compare=False)
    line: int | None = field(default=None, compare=False)

    def evidence(self) -> Iterable[tuple[str, Term]]:
        """(kind, term) for every term that points at this country."""
        for key, kind in COUNTRY_LISTS.items():
            for term in getattr(self, key):
                yield kind, term


@dataclass(frozen=True)
class Official:
    """A head of state or senior official; counts for their country only while in office."""

    name: str
    country: str
    start: date
    terms: tuple[Term, ...]  # the name and its aliases
    until: date | None = None
    role: str = ""
    path: Path | None = field(default=None, compare=False)
    line: int | None = field(default=None, compare=False)

    def in_office(self, day: date) -> bool:
        return self.start <= day and (self.until is None or day <= self.until)


@dataclass(frozen=True)
class Gazetteer:
    """Every country, official and mask of the place files."""

    countries: tuple[Country, ...] = ()
    officials: tuple[Official, ...] = ()
    masks: tuple[Term, ...] = ()

    def country(self, name: str) -> Country | None:
        return next((c for c in self.countries if c.name == name), None)


# --- terms -----------------------------------------------------------------


def parse_term(text: str, weight: float = 1.0, language: str = "", line: int | None = None) -> Term:
    """Fold a term as written into words and wildcards; ValueError says what is wrong with it."""
    if not text.strip():
        raise ValueError("a term is empty")
    for i, ch in enumerate(text):
        if ch not in _WILDCARDS:
            continue
        before = text[i - 1] if i else ""
        after = text[i + 1] if i + 1 < len(text) else ""
        if not before or not (before.isalnum() or unicodedata.category(before) == "Mn"):
            raise ValueError(f"'{ch}' does not follow a letter in {text!r}")
        if after.isalnum():
            raise ValueError(f"'{ch}' in the middle of a word in {text!r}")
    words: list[str] = []
    wildcards: list[str] = []
    for piece in re.split(r"([*?])", text):
        if piece and piece in _WILDCARDS:
            wildcards[-1] = piece
            continue
        for word in fold_text(piece).split():
            words.append(word)
            wildcards.append("")
    if not words:
        raise ValueError(f"the term {text!r} has no letters or digits")
    return Term(text, tuple(words), tuple(wildcards), weight, language, line)


# --- locating lines -----------------------------------------------------------


class _Source:
    """One TOML file being validated: its data, its lines, and the errors found so far."""

    def __init__(self, path: Path, data: dict[str, Any], lines: LineIndex, text: str) -> None:
        self.path = path
        self.data = data
        self.lines = lines
        self.text_lines = text.splitlines()
        self.errors: list[ConfigError] = []
        self._strings: dict[str, list[int]] | None = None  # each quoted string -> the lines it is on

    def error(self, message: str, line: int | None, key: str | None = None, fix: str | None = None) -> None:
        self.errors.append(ConfigError(message, self.path, line, key, fix=fix))

    def unknown_key(self, key: str, line: int | None, known: tuple[str, ...]) -> None:
        guess = nearest(key, known)
        fix = f"Did you mean '{guess}'?" if guess else "Known keys: " + ", ".join(known)
        self.error(f"unknown key '{key}'", line, key, fix)

    def value_line(self, start: int | None, value: str) -> int | None:
        """The line, at or after ``start`` (and at most 500 lines on), that holds the string ``value`` of a list."""
        if start is None:
            return None
        if self._strings is None:  # built once per file: a theme file has thousands of terms
            self._strings = {}
            for number, line in enumerate(self.text_lines, start=1):
                for match in _QUOTED.finditer(line):
                    self._strings.setdefault(match.group(1) if match.group(1) is not None else match.group(2), []).append(number)
        numbers = self._strings.get(value, ())
        index = bisect_left(numbers, start)
        if index < len(numbers) and numbers[index] <= start + 500:
            return numbers[index]
        return start

    def terms(self, value: Any, key: str, line: int | None, language: str = "", allow_empty: bool = False) -> list[Term]:
        """A list of term strings, each parsed; mistakes are recorded, good terms returned.

        An empty list is a mistake where it makes the key pointless (a language
        of [terms], a require group, a mask); elsewhere it is a harmless placeholder.
        """
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.error(f"'{key}' must be a list of strings", line, key, f'Write e.g. {key} = ["migrant*", "asylum seeker*"]')
            return []
        if not value and not allow_empty:
            self.error(f"'{key}' is an empty list", line, key, "Add terms to it or remove the key")
            return []
        found: list[Term] = []
        for text in value:
            where = self.value_line(line, text)
            try:
                found.append(parse_term(text, language=language, line=where))
            except ValueError as e:
                self.error(str(e), where, key, _term_fix(str(e)))
        return found


def _term_fix(message: str) -> str:
    if "middle of a word" in message or "does not follow" in message:
        return "A '*' or '?' may only end a word: write \"migrant*\", \"solicitante? de asilo\""
    return "Write a word or phrase, e.g. \"asylum seeker*\""


def _open(path: Path, errors: list[ConfigError]) -> _Source | None:
    try:
        data, lines = read_toml(path)
    except ConfigError as e:
        errors.append(e)
        return None
    return _Source(path, data, lines, path.read_text(encoding="utf-8-sig"))


def _number(src: _Source, table: dict[str, Any], key: str, line: int | None, default: float, example: str) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        src.error(f"'{key}' must be a positive number", line, key, f"Write e.g. {key} = {example}")
        return default
    return float(value)


def _files(folder: Path, what: str) -> list[Path]:
    if not folder.is_dir():
        raise ConfigError(f"no {what} folder", folder, fix=f"Create it, or point to the folder that holds the {what} files")
    return sorted(folder.glob("*.toml"))


def _by_line(error: ConfigError) -> int:
    return error.line or 0


def _raise(errors: list[ConfigError]) -> None:
    if errors:
        raise ConfigErrors(errors) if len(errors) > 1 else errors[0]


# --- themes -------------------------------------------------------------------


def load_themes(folder: Path) -> list[Theme]:
    """Every theme file (``*.toml``) of ``folder``, validated, sorted by slug.

    Subfolders such as ``places/`` are not read. All mistakes of all files are
    raised together as :class:`ConfigErrors`.
    """
    errors: list[ConfigError] = []
    themes: list[Theme] = []
    for path in _files(folder, "themes"):
        src = _open(path, errors)
        if src is None:
            continue
        theme = _parse_theme(src)
        errors.extend(sorted(src.errors, key=_by_line))
        if theme is not None:
            themes.append(theme)
    _raise(errors)
    return themes


def _parse_theme(src: _Source) -> Theme | None:
    data, lines, path = src.data, src.lines, src.path

    def at(key: str) -> int | None:
        return lines.key("", 0, key) or 1

    for key in data:
        if key not in THEME_KEYS:
            src.unknown_key(key, at(key), THEME_KEYS)
    slug = data.get("slug")
    if slug is None:
        src.error("missing required key 'slug'", 1, "slug", f'Add slug = "{path.stem}" at the top')
    elif not isinstance(slug, str) or not _SLUG.match(slug):
        src.error(f"slug {slug!r} is not a slug", at("slug"), "slug", 'Use lower-case letters, digits and hyphens, e.g. slug = "darien"')
    elif slug != path.stem:
        src.error(
            f"slug '{slug}' does not match the file name '{path.name}'", at("slug"), "slug",
            f'Write slug = "{path.stem}", or rename the file to {slug}.toml',
        )
    title = data.get("title")
    if title is None:
        src.error("missing required key 'title'", 1, "title", 'Add title = "..." (the digest heading) at the top')
    elif not isinstance(title, str) or not title.strip():
        src.error("'title' must be a non-empty string", at("title"), "title")
    description = data.get("description", "")
    if not isinstance(description, str):
        src.error("'description' must be a string", at("description"), "description")
        description = ""
    threshold = _number(src, data, "threshold", at("threshold"), DEFAULT_THRESHOLD, "2.0")
    title_weight = _number(src, data, "title_weight", at("title_weight"), DEFAULT_TITLE_WEIGHT, "2.0")
    near = data.get("near", DEFAULT_NEAR)
    if isinstance(near, bool) or not isinstance(near, int) or near < 1:
        src.error("'near' must be a whole number of words, 1 or more", at("near"), "near", "Write e.g. near = 3")
        near = DEFAULT_NEAR

    terms = _theme_terms(src)
    terms = _apply_weights(src, terms)
    exclude = src.terms(data["exclude"], "exclude", at("exclude"), allow_empty=True) if "exclude" in data else []
    exclude_near = src.terms(data["exclude_near"], "exclude_near", at("exclude_near"), allow_empty=True) if "exclude_near" in data else []
    require = _require(src, data["require"], at("require")) if "require" in data else []
    pairs = _tables(src, "pair", lambda src, table, index: _parse_pair(src, table, index, threshold))
    if src.errors:
        return None
    return Theme(
        slug=slug, title=title.strip(), terms=tuple(terms), description=description.strip(),
        threshold=threshold, title_weight=title_weight, exclude=tuple(exclude),
        exclude_near=tuple(exclude_near), near=near, require=tuple(tuple(g) for g in require),
        pairs=tuple(pairs), path=path,
    )


def _parse_pair(src: _Source, table: dict[str, Any], index: int, threshold: float) -> Pair | None:
    """One [[pair]] table: first and second (lists of terms), within (words), weight (default: the threshold)."""
    before = len(src.errors)
    header = _check_keys(src, table, "pair", index, PAIR_KEYS)
    example = 'Write e.g. first = ["soldiers", "police"] and second = ["opened fire", "killed"]'
    sides = []
    for key in ("first", "second"):
        line = src.lines.key("pair", index, key) or header
        if key not in table:
            src.error(f"[[pair]] number {index + 1} has no '{key}'", header, key, example)
            sides.append([])
        else:
            sides.append(src.terms(table[key], key, line))
    within = table.get("within", DEFAULT_WITHIN)
    if isinstance(within, bool) or not isinstance(within, int) or within < 1:
        src.error("'within' must be a whole number of words, 1 or more", src.lines.key("pair", index, "within") or header,
                  "within", f"Write e.g. within = {DEFAULT_WITHIN}")
        within = DEFAULT_WITHIN
    weight = _number(src, table, "weight", src.lines.key("pair", index, "weight") or header, threshold, "2.0")
    ordered = table.get("ordered", False)
    if not isinstance(ordered, bool):
        src.error("'ordered' must be true or false", src.lines.key("pair", index, "ordered") or header, "ordered",
                  "Write ordered = true (the first term before the second) or leave it out")
    if len(src.errors) > before:
        return None
    return Pair(tuple(sides[0]), tuple(sides[1]), within, weight, bool(ordered), header)


def _misplaced(src: _Source, table: str, key: str) -> bool:
    """A top-level key written after a table header lands in that table; say so plainly."""
    if key in THEME_KEYS and key not in ("terms", "weights"):
        src.error(
            f"'{key}' is inside the [{table}] table", src.lines.key(table, 0, key), key,
            f"Move '{key}' above the [terms] table: keys after a table header belong to that table",
        )
        return True
    return False


def _theme_terms(src: _Source) -> list[Term]:
    table = src.data.get("terms")
    header = src.lines.table("terms") or src.lines.key("", 0, "terms")
    if table is None:
        src.error("missing [terms] table", 1, "terms", 'Add a [terms] table, e.g. en = ["asylum seeker*"]')
        return []
    if not isinstance(table, dict):
        src.error("'terms' must be a table of term lists by language", header, "terms", 'Write [terms] then en = ["..."]')
        return []
    terms: list[Term] = []
    for language, value in table.items():
        line = src.lines.key("terms", 0, language) or header
        if _misplaced(src, "terms", language):
            continue
        if language not in LANGUAGES:
            guess = nearest(language, LANGUAGES)
            fix = f"Did you mean '{guess}'?" if guess else "Use one of: " + ", ".join(LANGUAGES)
            src.error(f"unknown language '{language}' in [terms]", line, language, fix)
            continue
        terms.extend(src.terms(value, language, line, language=language))
    if not terms and not src.errors:
        src.error("the theme has no terms", header, "terms", 'Add terms, e.g. en = ["asylum seeker*"]')
    return terms


def _apply_weights(src: _Source, terms: list[Term]) -> list[Term]:
    table = src.data.get("weights")
    if table is None:
        return terms
    header = src.lines.table("weights") or src.lines.key("", 0, "weights")
    if not isinstance(table, dict):
        src.error("'weights' must be a table", header, "weights", 'Write [weights] then "Darien Gap" = 3.0')
        return terms
    written = [t.text for t in terms]
    weights: dict[str, float] = {}
    for text, value in table.items():
        line = src.lines.key("weights", 0, text) or header
        if _misplaced(src, "weights", text):
            continue
        if text not in written:
            guess = nearest(text, written)
            fix = f"Did you mean \"{guess}\"?" if guess else "Keys of [weights] must be written exactly as in [terms]"
            src.error(f"weight for unknown term {text!r}", line, text, fix)
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            src.error(
                f"the weight of {text!r} must be a positive number", line, text,
                "Write e.g. \"Darien Gap\" = 3.0; to count against a theme use exclude or exclude_near",
            )
            continue
        weights[text] = float(value)
    return [Term(t.text, t.words, t.wildcards, weights.get(t.text, t.weight), t.language, t.line) for t in terms]


def _require(src: _Source, value: Any, line: int | None) -> list[list[Term]]:
    fix = 'Write a list of groups: require = [["Darien", "Panama"], ["migrant*"]]'
    if not isinstance(value, list) or not value or not all(isinstance(g, list) for g in value):
        src.error("'require' must be a list of lists of terms", line, "require", fix)
        return []
    groups: list[list[Term]] = []
    for number, group in enumerate(value, start=1):
        if not group:
            src.error(f"require group {number} is empty", line, "require", fix)
            continue
        groups.append(src.terms(group, "require", line))
    return groups


# --- places -------------------------------------------------------------------


def load_places(folder: Path) -> Gazetteer:
    """Every place file (``*.toml``) of ``folder`` as one gazetteer, validated.

    Officials may name a country defined in another file of the folder. All
    mistakes of all files are raised together as :class:`ConfigErrors`.
    """
    errors: list[ConfigError] = []
    countries: list[Country] = []
    officials: list[Official] = []
    masks: list[Term] = []
    for path in _files(folder, "places"):
        src = _open(path, errors)
        if src is None:
            continue
        for key in src.data:
            if key not in PLACE_KEYS:
                src.unknown_key(key, src.lines.key("", 0, key) or 1, PLACE_KEYS)
        countries.extend(_tables(src, "country", _parse_country))
        officials.extend(_tables(src, "official", _parse_official))
        for masked in _tables(src, "mask", _parse_mask):
            masks.extend(masked)
        errors.extend(sorted(src.errors, key=_by_line))
    seen: dict[str, Country] = {}
    for country in countries:
        first = seen.setdefault(country.name, country)
        if first is not country:
            errors.append(
                ConfigError(
                    f"country '{country.name}' is defined twice (first in {first.path}:{first.line})",
                    country.path, country.line, "name", fix="Merge the two [[country]] tables into one",
                )
            )
    for official in officials:
        if official.country not in seen:
            guess = nearest(official.country, list(seen))
            fix = f"Did you mean '{guess}'?" if guess else "Add a [[country]] with that name, or fix the spelling"
            errors.append(ConfigError(f"official '{official.name}' names unknown country '{official.country}'", official.path, official.line, "country", fix=fix))
    _raise(errors)
    return Gazetteer(tuple(seen.values()), tuple(officials), tuple(masks))


def _tables(src: _Source, name: str, parse: Any) -> list[Any]:
    tables = src.data.get(name, [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        src.error(f"'{name}' must be written as [[{name}]] tables", src.lines.key("", 0, name) or 1, name, f"Write [[{name}]] on a line of its own")
        return []
    found = []
    for index, table in enumerate(tables):
        parsed = parse(src, table, index)
        if parsed is not None:
            found.append(parsed)
    return found


def _check_keys(src: _Source, table: dict[str, Any], name: str, index: int, known: tuple[str, ...]) -> int | None:
    header = src.lines.table(name, index)
    for key in table:
        if key not in known:
            src.unknown_key(key, src.lines.key(name, index, key) or header, known)
    return header


def _parse_country(src: _Source, table: dict[str, Any], index: int) -> Country | None:
    before = len(src.errors)
    header = _check_keys(src, table, "country", index, COUNTRY_KEYS)
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        src.error("a [[country]] needs a name", header, "name", 'Add name = "Colombia" (the English name, as reported)')
        return None
    lists: dict[str, list[Term]] = {}
    for key in (*COUNTRY_LISTS, "ignore"):
        line = src.lines.key("country", index, key) or header
        lists[key] = src.terms(table[key], key, line, allow_empty=True) if key in table else []
    try:
        own = parse_term(name, line=header)
    except ValueError as e:
        src.error(f"the country name {name!r} cannot be matched: {e}", src.lines.key("country", index, "name") or header, "name")
    else:
        if own.pattern not in {t.pattern for t in lists["names"]}:
            lists["names"].insert(0, own)
    if len(src.errors) > before:
        return None
    return Country(name=name.strip(), path=src.path, line=header, **{k: tuple(v) for k, v in lists.items()})


def _date(src: _Source, table: dict[str, Any], key: str, line: int | None) -> date | None:
    value = table.get(key)
    fix = f"Write a TOML date without quotes, e.g. {key} = 2024-10-01"
    if isinstance(value, datetime):
        src.error(f"'{key}' must be a date without a time", line, key, fix)
    elif isinstance(value, date):
        return value
    elif isinstance(value, str):
        src.error(f"'{key}' is the string {value!r}, not a date", line, key, fix)
    else:
        src.error(f"'{key}' must be a date", line, key, fix)
    return None


def _parse_official(src: _Source, table: dict[str, Any], index: int) -> Official | None:
    before = len(src.errors)
    header = _check_keys(src, table, "official", index, OFFICIAL_KEYS)

    def at(key: str) -> int | None:
        return src.lines.key("official", index, key) or header

    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        src.error("an [[official]] needs a name", header, "name", 'Add name = "Gustavo Petro"')
        return None
    country = table.get("country")
    if not isinstance(country, str) or not country.strip():
        src.error(f"official '{name}' needs a country", header, "country", 'Add country = "Colombia" (a [[country]] name)')
    role = table.get("role", "")
    if not isinstance(role, str):
        src.error("'role' must be a string", at("role"), "role")
    start = None
    if "from" not in table:
        src.error(f"official '{name}' needs the date they took office", header, "from", "Add from = 2022-08-07")
    else:
        start = _date(src, table, "from", at("from"))
    until = _date(src, table, "until", at("until")) if "until" in table else None
    if start and until and until < start:
        src.error(f"'until' ({until}) is before 'from' ({start})", at("until"), "until", "Swap the dates or correct the year")
    terms: list[Term] = []
    try:
        terms.append(parse_term(name, line=at("name")))
    except ValueError as e:
        src.error(f"the name {name!r} cannot be matched: {e}", at("name"), "name")
    if "aliases" in table:
        terms.extend(src.terms(table["aliases"], "aliases", at("aliases"), allow_empty=True))
    if len(src.errors) > before or start is None:
        return None
    return Official(
        name=name.strip(), country=country.strip(), start=start, terms=tuple(terms), until=until,
        role=role, path=src.path, line=header,
    )


def _parse_mask(src: _Source, table: dict[str, Any], index: int) -> list[Term] | None:
    header = _check_keys(src, table, "mask", index, MASK_KEYS)
    if "phrases" not in table:
        src.error("a [[mask]] needs phrases", header, "phrases", 'Add phrases = ["U.S.-Mexico border"]')
        return None
    return src.terms(table["phrases"], "phrases", src.lines.key("mask", index, "phrases") or header)


def load_theme_file(path: Path) -> Theme:
    """One theme file on its own (an edited copy being tried), validated like the others."""
    errors: list[ConfigError] = []
    src = _open(path, errors)
    theme = _parse_theme(src) if src is not None else None
    if src is not None:
        errors.extend(src.errors)
    _raise(errors)
    assert theme is not None
    return theme
