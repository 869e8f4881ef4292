"""Reading TOML files so that every mistake can name its line.

Contains no business logic: :func:`read_toml` parses a file and returns the
data together with a :class:`LineIndex` that finds the line of a key, so that
loaders can report "sources/mexico.toml:42: unknown key 'langauge'".
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_.-]+)\s*=""")
_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")


@dataclass
class LineIndex:
    """Lines of tables and keys in a TOML file, as written."""

    # (table path, occurrence) -> header line; arrays of tables count occurrences.
    tables: dict[tuple[str, int], int] = field(default_factory=dict)
    # (table path, occurrence, key) -> line
    keys: dict[tuple[str, int, str], int] = field(default_factory=dict)

    def table(self, name: str, index: int = 0) -> int | None:
        return self.tables.get((name, index))

    def key(self, table: str, index: int, key: str) -> int | None:
        line = self.keys.get((table, index, key))
        if line is None:
            return self.tables.get((table, index))
        return line


def index_lines(text: str) -> LineIndex:
    """Scan TOML text for table headers and keys; tolerant of what it does not know."""
    index = LineIndex()
    counts: dict[str, int] = {}
    current, occurrence = "", 0
    parent_of: dict[str, tuple[str, int]] = {}
    in_multiline: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if in_multiline:
            if in_multiline in stripped:
                in_multiline = None
            continue
        if not stripped or stripped.startswith("#"):
            continue
        header = _HEADER.match(line)
        if header:
            name = header.group(2).replace('"', "").replace(" ", "")
            if header.group(1) == "[[":
                occurrence = counts.get(name, 0)
                counts[name] = occurrence + 1
                index.tables[(name, occurrence)] = number
                current = name
            else:
                # A sub-table such as [source.selectors] belongs to the latest [[source]].
                head = name.split(".")[0]
                owner = counts.get(head, 1) - 1 if head in counts else 0
                current, occurrence = name, owner
                index.tables[(name, owner)] = number
                parent_of[name] = (head, owner)
            continue
        key = _KEY.match(line)
        if key:
            name = key.group(1).strip("\"'")
            index.keys.setdefault((current, occurrence, name), number)
            for quote in ('"""', "'''"):
                if stripped.count(quote) == 1:
                    in_multiline = quote
    return index


def read_toml(path: Path) -> tuple[dict[str, Any], LineIndex]:
    """Parse a TOML file; a syntax or encoding mistake becomes a ConfigError with its line."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read the file: {e.strerror}", path, fix="Check that it exists and is readable") from e
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ConfigError(
            "the file is not valid UTF-8", path, line, fix="Save it as UTF-8 in your editor"
        ) from e
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        message = str(e)
        position = _TOML_POS.search(message)
        line = int(position.group(1)) if position else None
        reason = _TOML_POS.sub("", message).strip()
        raise ConfigError(
            f"invalid TOML: {reason}",
            path,
            line,
            fix="Check quotes, brackets and commas on that line (strings need double quotes)",
        ) from e
    return data, index_lines(text)


def nearest(word: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """The known name closest to a misspelt one, for "did you mean" hints."""
    import difflib

    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None
