"""The editor's review file: writing, reading, checking and merging it.

A review file is Markdown that an editor edits by hand in any text editor::

    # Daily Border Links: March 21, 2025
    status: draft
    <!-- edition: daily-border-links · date: 2025-03-21 -->
    <!-- How to edit: ... -->

    ## Introduction
    Optional paragraphs written by the editor.

    ## Border and Migration

    - [x] [Texas installs more buoys near Eagle Pass](https://frontera.example/buoys) — Frontera Daily <!-- id:3f2a9c0d1e2b4a5c -->
        ~ NEW · border-enforcement 4.0 · score 7.5 = theme 4.0 + outlets 2.0 + priority +1.0 + recency 0.5
        > State officials said the barrier extends 300 metres.
    - [ ] https://pasted.example/by-the-editor
        >

    <!-- known:
         3f2a9c0d1e2b4a5c 9b1c... -->

The rules, each line read on its own:

- ``# Title`` is the edition's title; ``status: draft|approved`` approves;
  ``<!-- edition: SLUG · date: YYYY-MM-DD -->`` says which file this is (when
  it is missing, the path ``review/SLUG/DATE.md`` says it instead). Nothing
  else may stand above the first ``##`` heading.
- ``## Introduction`` holds the introduction, kept line for line; any other
  ``## Heading`` starts a section.
- ``- [x] `` keeps an entry, ``- [ ] `` drops it. Then either a Markdown link
  ``[Title](URL)`` with an optional `` — Outlet``, or a bare http(s) URL (an
  item the editor added), and last an optional ``<!-- id:ID -->``. In titles
  and outlets ``\\ [ ] <`` are backslash-escaped, in link URLs ``\\ ( )``.
- Under an entry, ``~`` lines are the tool's information (``NEW`` first when
  this run added it) and ``>`` lines the blurb. A blurb keeps the editor's
  line breaks, one per ``>`` line; renderers treat them as spaces.
- HTML comments are ignored, except the edition one and ``<!-- known: ... -->``,
  every id ever offered, so that an entry the editor deleted is not offered
  again. Comments the editor writes are not kept when the file is rewritten.

Everything here is pure, except :func:`read_review_file` and
:func:`write_review_file`, which write atomically and keep a backup.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import ReviewFileError
from .model import Review, ReviewEntry, ReviewSection
from .text import canonical_url, is_web_url

INTRODUCTION = "Introduction"
STATUSES = ("draft", "approved")
NEW = "NEW"

_HELP = (
    '<!-- How to edit: tick [x] to keep an item and [ ] to drop it; rewrite its blurb on the ">" lines.',
    '     Move and reorder items and sections as you like. Add an item by pasting its URL as "- [x] https://...".',
    '     Write an introduction under "## Introduction". Lines starting with "~" are information only.',
    '     Change "status: draft" to "status: approved" to approve. Check the file: borderlinks review --check.',
    "     Comments like this one are not kept when borderlinks review runs again. -->",
)
_WIDTH = 100  # of the wrapped known-ids comment

_ID = re.compile(r"[A-Za-z0-9_.:]+(?:-[A-Za-z0-9_.:]+)*")  # no spaces and no "--", so it sits in a comment
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_EDITION_COMMENT = re.compile(r"edition:\s*(\S+?)[\s·,;]+date:\s*(\S+)", re.I)

_HEADING = re.compile(r"##(?!#)(\s*)(.*?)\s*")
_TITLE = re.compile(r"#(?!#)\s*(.*)")
_STATUS = re.compile(r"\s*status\s*:(.*)", re.I)
_STATUS_LIKE = re.compile(r"\s*status\s*:\s*\S*\s*", re.I)  # a misplaced status line, below the headings
_CHECKBOX = re.compile(r"\s*- \[([ xX])\](?:\s+(.*))?")
_BAD_BOX = re.compile(r"\s*((?:(?:[-*+]|\d+[.)])\s*)?\[[^\[\]]{0,3}\](?!\())")
_GOOD_BOX = re.compile(r"\s*- \[[ xX]\]")
_LIST_ITEM = re.compile(r"\s*[-*+]\s")

_ID_TAIL = re.compile(r"(.*?)\s+<!--\s*id:\s*(\S*?)\s*-->")
_LINK = re.compile(r"\[((?:\\.|[^\\\]])*)\]\(((?:\\.|\([^()\s\\]*\)|[^\\()\s])*)\)(.*)")
_OUTLET = re.compile(r"\s*[—–-]\s*(.*)")
_UNESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")  # CommonMark: a backslash escapes ASCII punctuation only
_STRAY_COMMENT = re.compile(r"(?<!\\)<!--")


@dataclass(frozen=True)
class ReviewProblem:
    """One mistake in a review file: where it is, what it is, and how to mend it."""

    line: int
    message: str
    fix: str = ""

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" + (f". {self.fix}" if self.fix else "")


# -- writing ---------------------------------------------------------------------


def write_review(review: Review) -> str:
    """The text of a review file; :func:`parse_review` reads it back as the same Review.

    Never fails: a Review that cannot round-trip (a status other than draft or
    approved, a blurb line with leading spaces...) is caught by
    :func:`write_review_file` before anything is written.
    """
    lines: list[str] = []
    if review.title:
        lines.append(f"# {review.title}")
    lines.append(f"status: {review.status}")
    lines.append(f"<!-- edition: {review.edition} · date: {review.date} -->")
    lines.extend(_HELP)
    lines += ["", f"## {INTRODUCTION}"]
    if review.intro:
        lines += [_escape_intro_line(line) for line in review.intro.split("\n")]
    for section in review.sections:
        lines += ["", f"## {section.heading}"]
        if section.entries:
            lines.append("")
        for entry in section.entries:
            lines += _entry_lines(entry)
    lines.append("")
    lines += _known_lines(all_known(review))
    return "\n".join(lines) + "\n"


def _entry_lines(entry: ReviewEntry) -> list[str]:
    box = "- [x] " if entry.checked else "- [ ] "
    if not entry.title and not entry.outlet and _is_bare_url(entry.url):
        body = entry.url
    else:
        body = f"[{_escape_text(entry.title)}]({_escape_url(entry.url)})"
        if entry.outlet:
            body += f" — {_escape_text(entry.outlet)}"
    if entry.id:
        body += f" <!-- id:{entry.id} -->"
    lines = [box + body]
    meta = entry.meta.split("\n") if entry.meta else []
    if entry.new:
        meta = [f"{NEW} · {meta[0]}" if meta else NEW, *meta[1:]]
    elif meta and _looks_marked(meta[0]):
        meta[0] = "\\" + meta[0]
    lines += [f"    ~ {line}".rstrip() for line in meta]
    lines += [f"    > {line}".rstrip() for line in entry.blurb.split("\n")]
    return lines


def _known_lines(ids: Sequence[str]) -> list[str]:
    if not ids:
        return ["<!-- known: -->"]
    lines, current = ["<!-- known:"], "    "
    for id_ in ids:
        if len(current) + 1 + len(id_) > _WIDTH and current.strip():
            lines.append(current)
            current = "    "
        current += " " + id_
    lines.append(current + " -->")
    return lines


def _escape_text(text: str) -> str:
    return re.sub(r"([\\\[\]<])", r"\\\1", text)


def _escape_url(url: str) -> str:
    return re.sub(r"([\\()])", r"\\\1", url)


def _unescape(text: str) -> str:
    return _UNESCAPE.sub(r"\1", text)


def _escape_intro_line(line: str) -> str:
    """A backslash in front of an introduction line that would otherwise read as structure."""
    if (
        line.startswith("\\")
        or _HEADING.fullmatch(line)
        or line.lstrip().startswith("<!--")
        or _CHECKBOX.fullmatch(line)
        or _STATUS_LIKE.fullmatch(line)
    ):
        return "\\" + line
    return line


def _looks_marked(meta_line: str) -> bool:
    return meta_line == NEW or meta_line.startswith(f"{NEW} · ") or meta_line.startswith("\\")


def _is_bare_url(url: str) -> bool:
    return bool(url) and not any(c.isspace() for c in url) and is_web_url(url)


# -- reading and checking ----------------------------------------------------------


def parse_review(text: str, path: Path | str | None = None) -> Review:
    """Read a review file; every mistake is reported at once, in one ReviewFileError.

    The error's ``line`` is the first mistake's; its message lists the others.
    """
    review, problems, _ = _read(text, path)
    if problems:
        raise _error(problems, path)
    return review


def check_review(
    text: str, known_ids: Collection[str] | None = None, path: Path | str | None = None
) -> list[ReviewProblem]:
    """Every problem of a review file, in line order; an empty list means it is good.

    With ``known_ids``, an entry id that is neither there nor in the file's own
    ``known`` list (ids the tool offered before) is reported as unknown.
    """
    review, problems, written_known = _read(text, path)
    if known_ids is not None:
        offered = set(known_ids) | written_known
        problems += [
            ReviewProblem(
                entry.line or 0,
                f"unknown id {entry.id!r}: borderlinks never offered it",
                "Restore the id the line had, or delete the id comment to add the link as a new item",
            )
            for section in review.sections
            for entry in section.entries
            if entry.id and entry.id not in offered
        ]
    return sorted(problems, key=lambda p: p.line)


def _error(problems: Sequence[ReviewProblem], path: Path | str | None) -> ReviewFileError:
    first, *rest = sorted(problems, key=lambda p: p.line)
    message = first.message + (f". {first.fix}" if first.fix else "")
    if rest:
        message += "".join(f"\n  {p}" for p in rest)
    return ReviewFileError(message, path, first.line)


@dataclass
class _Draft:
    """An entry being read, before its ``~`` and ``>`` lines are all in."""

    line: int
    checked: bool
    id: str
    title: str
    url: str
    outlet: str
    meta: list[str] = field(default_factory=list)
    blurb: list[str] = field(default_factory=list)

    def entry(self) -> ReviewEntry:
        new, meta = False, list(self.meta)
        if meta and meta[0].startswith("\\"):
            meta[0] = meta[0][1:]
        elif meta and meta[0] == NEW:
            new, meta = True, meta[1:]
        elif meta and meta[0].startswith(f"{NEW} · "):
            new, meta[0] = True, meta[0].removeprefix(f"{NEW} · ")
        return ReviewEntry(
            id=self.id,
            checked=self.checked,
            title=self.title,
            url=self.url,
            outlet=self.outlet,
            blurb="\n".join(self.blurb).strip("\n"),
            meta="\n".join(meta).strip("\n"),
            new=new,
            line=self.line,
        )


@dataclass
class _Reading:
    """What has been read so far; one pass over the lines fills it."""

    problems: list[ReviewProblem] = field(default_factory=list)
    title: str | None = None
    status: str | None = None
    status_line: int = 0
    edition: str | None = None
    date: str | None = None
    edition_unreadable: bool = False
    intro: list[str] | None = None
    intro_line: int = 0
    sections: list[tuple[str, list[_Draft]]] = field(default_factory=list)
    headings: dict[str, int] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    known: list[str] = field(default_factory=list)
    place: str = "top"  # "top", "intro" or "section"

    def problem(self, line: int, message: str, fix: str = "") -> None:
        self.problems.append(ReviewProblem(line, message, fix))


def _read(text: str, path: Path | str | None) -> tuple[Review, list[ReviewProblem], set[str]]:
    """One pass over the lines: the Review as far as it reads, every problem, the ids of its ``known`` comment."""
    state = _Reading()
    comment: list[str] | None = None
    comment_line = hidden = 0
    lines = text.removeprefix("\ufeff").split("\n")
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip()
        if comment is not None:
            end = line.find("-->")
            if end < 0:
                comment.append(line)
                if not hidden and (_CHECKBOX.fullmatch(line) or _HEADING.fullmatch(line)):
                    hidden = number
                continue
            comment.append(line[:end])
            _read_comment(state, comment_line, "\n".join(comment))
            if hidden:
                state.problem(
                    comment_line,
                    f"a comment opened here hides the entries and headings from line {hidden} to line {number}",
                    "End the comment with '-->' where you meant it to end",
                )
            comment, hidden = None, 0
            if line[end + 3 :].strip():
                state.problem(number, "text after the end of a comment", "Put it on a line of its own")
            continue
        if not line:
            if state.place == "intro" and state.intro is not None:
                state.intro.append("")
            continue
        if line.lstrip().startswith("<!--"):
            body = line.lstrip()[4:]
            end = body.find("-->")
            if end < 0:
                comment, comment_line = [body], number
                continue
            _read_comment(state, number, body[:end])
            if body[end + 3 :].strip():
                state.problem(number, "text after the end of a comment", "Put it on a line of its own")
            continue
        heading = _HEADING.fullmatch(line)
        if heading:
            _read_heading(state, number, heading)
        elif state.place == "top":
            _read_top_line(state, number, line)
        elif state.place == "intro":
            _read_intro_line(state, number, line)
        else:
            _read_section_line(state, number, line)
    if comment is not None:
        state.problem(comment_line, "a comment is opened here and never closed", "End it with '-->'")
    return _finish(state, path), state.problems, set(state.known)


def _read_comment(state: _Reading, number: int, body: str) -> None:
    content = body.strip()
    if content.lower().startswith("known:"):
        state.known += content[len("known:") :].split()
    elif content.lower().startswith("edition:") and state.edition is None:
        found = _EDITION_COMMENT.match(content)
        if found is None or not _ID.fullmatch(found.group(1)) or not _is_date(found.group(2)):
            state.problem(number, "unreadable edition comment", "Write it as <!-- edition: SLUG · date: YYYY-MM-DD -->")
            state.edition_unreadable = True
        else:
            state.edition, state.date = found.group(1), found.group(2)


def _read_heading(state: _Reading, number: int, heading: re.Match[str]) -> None:
    space, name = heading.group(1), heading.group(2)
    if not name:
        state.problem(number, "a section heading without a name", "Write a name after '## ', or delete the line")
        return
    if not space:
        state.problem(number, f"heading '##{name}' needs a space after '##'", f"Write '## {name}'")
    if name.casefold() == INTRODUCTION.casefold():
        if state.intro is not None:
            state.problem(number, f"a second '## {INTRODUCTION}' (the first is on line {state.intro_line})", "Keep one")
        else:
            state.intro, state.intro_line = [], number
        state.place = "intro"
        return
    if name in state.headings:
        state.problem(
            number,
            f"a second section '## {name}' (the first is on line {state.headings[name]})",
            "Move its entries under the first one and delete this heading",
        )
    else:
        state.headings[name] = number
    state.sections.append((name, []))
    state.place = "section"


def _read_top_line(state: _Reading, number: int, line: str) -> None:
    status = _STATUS.fullmatch(line)
    title = _TITLE.fullmatch(line)
    if status:
        value = status.group(1).strip().lower()
        if state.status is not None:
            state.problem(number, f"a second status line (the first is on line {state.status_line})", "Keep one")
        elif value not in STATUSES:
            state.problem(
                number, f"unknown status {status.group(1).strip()!r}", "Write 'status: draft' or 'status: approved'"
            )
            state.status, state.status_line = "draft", number
        else:
            state.status, state.status_line = value, number
    elif title and state.title is None:
        state.title = title.group(1).strip()
    elif _CHECKBOX.fullmatch(line) or _BAD_BOX.match(line):
        state.problem(number, "an entry above the sections", "Move it under a '## ' section heading")
    else:
        state.problem(
            number,
            "text above the introduction",
            f"Only the '# title' and 'status:' lines go here; move the text under '## {INTRODUCTION}'",
        )


def _read_intro_line(state: _Reading, number: int, line: str) -> None:
    assert state.intro is not None
    if _CHECKBOX.fullmatch(line):
        state.problem(number, "an entry in the introduction", "Move it under a '## ' section heading")
    elif _STATUS_LIKE.fullmatch(line):
        state.problem(number, "a status line in the introduction", "Move it to the top of the file, under the title")
    else:
        state.intro.append(line[1:] if line.startswith("\\") else line)


def _read_section_line(state: _Reading, number: int, line: str) -> None:
    entries = state.sections[-1][1]
    stripped = line.lstrip()
    box = _CHECKBOX.fullmatch(line)
    if box:
        _read_entry(state, number, box.group(1) != " ", box.group(2) or "")
    elif stripped.startswith("~") or stripped.startswith(">"):
        if not entries:
            state.problem(
                number,
                "a blurb or information line before any entry",
                "Put it under an entry's checkbox line, or delete it",
            )
        elif stripped.startswith("~"):
            entries[-1].meta.append(stripped[1:].strip())
        else:
            entries[-1].blurb.append(stripped[1:].strip())
    elif _BAD_BOX.match(line):
        found = _BAD_BOX.match(line)
        assert found is not None
        mark = found.group(1)
        if _GOOD_BOX.fullmatch(mark):
            state.problem(
                number, f"no space after the checkbox '{mark.strip()}'", "Put a space between ']' and the link"
            )
        else:
            state.problem(
                number,
                f"malformed checkbox '{mark}'",
                "Start the line with '- [x] ' to keep the item or '- [ ] ' to drop it",
            )
    elif _LIST_ITEM.match(line):
        state.problem(
            number,
            "a list line without a checkbox",
            "Start it with '- [x] ' to keep the item or '- [ ] ' to drop it",
        )
    elif line.startswith("#"):
        state.problem(
            number, "a heading of the wrong level", "Sections are '## Heading'; the title is the '# ' line at the top"
        )
    elif _STATUS_LIKE.fullmatch(line):
        state.problem(number, "a status line below the headings", "Move it to the top of the file, under the title")
    else:
        state.problem(
            number,
            "stray text between entries",
            "Start a blurb line with '>' under its entry, move it to the introduction, or delete it",
        )


def _read_entry(state: _Reading, number: int, checked: bool, body: str) -> None:
    if not body:
        state.problem(number, "a checkbox with nothing after it", "Add '[Title](URL)' or a URL, or delete the line")
        return
    id_ = ""
    tail = _ID_TAIL.fullmatch(body)
    if tail:
        body, id_ = tail.group(1), tail.group(2)
        if not _ID.fullmatch(id_):
            state.problem(
                number, f"malformed id {id_!r}", "Restore the id the line had, or delete the whole id comment"
            )
            return
        if id_ in state.ids:
            state.problem(number, f"duplicate id {id_} (also on line {state.ids[id_]})", "Keep one of the two lines")
            return
        state.ids[id_] = number
    link = _LINK.fullmatch(body)
    if link:
        title, url, rest = _unescape(link.group(1)), _unescape(link.group(2)), link.group(3)
        outlet = ""
        if rest.strip():
            found = _OUTLET.fullmatch(rest)
            if found is None:
                state.problem(number, "unexpected text after the link", "Write the outlet as '— Outlet' after the link")
                return
            if _STRAY_COMMENT.search(found.group(1)):
                state.problem(
                    number, "the id comment must end the line", "Move the text after '-->' before the comment"
                )
                return
            outlet = _unescape(found.group(1)).strip()
    elif body.startswith("["):
        state.problem(number, "malformed link", "Write it as '[Title](URL)', or paste the bare URL")
        return
    elif any(c.isspace() for c in body):
        state.problem(number, "a checkbox line needs a link", "Write '[Title](URL) — Outlet', or paste a bare URL")
        return
    else:
        url = body[1:-1] if body.startswith("<") and body.endswith(">") else body
        if not is_web_url(url):
            state.problem(number, f"{url!r} is not an http(s) URL", "Paste the full address, starting with https://")
            return
        title, outlet = "", ""
    state.sections[-1][1].append(_Draft(number, checked, id_, title, url, outlet))


def _finish(state: _Reading, path: Path | str | None) -> Review:
    if state.status is None:
        state.problem(1, "no status line", "Add 'status: draft' (or 'status: approved') under the title")
    edition, date = state.edition, state.date
    if edition is None or date is None:
        edition, date = _from_path(path)
        if (edition is None or date is None) and not state.edition_unreadable:
            state.problem(
                1,
                "no edition comment",
                "Add '<!-- edition: SLUG · date: YYYY-MM-DD -->' under the status line",
            )
    sections = tuple(ReviewSection(heading, tuple(d.entry() for d in drafts)) for heading, drafts in state.sections)
    review = Review(
        edition=edition or "",
        date=date or "",
        title=state.title or "",
        status=state.status or "draft",
        intro="\n".join(state.intro or []).strip("\n"),
        sections=sections,
        known=tuple(dict.fromkeys(state.known)),
    )
    return replace(review, known=all_known(review))


def _from_path(path: Path | str | None) -> tuple[str | None, str | None]:
    """Edition and date from ``review/EDITION/DATE.md``, for a file whose edition comment was lost."""
    if path is None:
        return None, None
    path = Path(path)
    if _ID.fullmatch(path.parent.name) and _is_date(path.stem):
        return path.parent.name, path.stem
    return None, None


def _is_date(text: str) -> bool:
    return bool(_DATE.fullmatch(text))


# -- merging and selecting ----------------------------------------------------------


def all_known(review: Review) -> tuple[str, ...]:
    """Every id the review has offered: its ``known`` list and then any entry id missing from it."""
    ids = dict.fromkeys(review.known)
    for section in review.sections:
        ids.update(dict.fromkeys(e.id for e in section.entries if e.id))
    return tuple(ids)


def merge_review(existing: Review, fresh: Review) -> Review:
    """The review file after another run: the editor's edits intact, new candidates appended.

    ``existing`` keeps its title, status, intro, sections, order, ticks,
    titles and blurbs; only the ``~`` information of its entries is refreshed
    from ``fresh``. A ``fresh`` candidate never offered before goes to the end
    of the section of the same heading (added at the end of the file if the
    editor removed or renamed it), marked new, unless the editor already pasted
    its URL; ``new`` marks of earlier runs are cleared, so that they always
    mean "added by the latest run".
    """
    meta = {e.id: e.meta for s in fresh.sections for e in s.entries if e.id}
    offered = set(all_known(existing))
    pasted = {_url_key(e.url) for s in existing.sections for e in s.entries if not e.id}
    added: dict[str, list[ReviewEntry]] = {}
    for section in fresh.sections:
        for entry in section.entries:
            if entry.id and entry.id not in offered and _url_key(entry.url) not in pasted:
                offered.add(entry.id)
                added.setdefault(section.heading, []).append(replace(entry, new=True, line=None))
    sections = []
    for section in existing.sections:
        kept = tuple(replace(e, meta=meta.get(e.id, e.meta) if e.id else e.meta, new=False) for e in section.entries)
        sections.append(ReviewSection(section.heading, kept + tuple(added.pop(section.heading, ()))))
    sections += [ReviewSection(heading, tuple(entries)) for heading, entries in added.items()]
    merged = replace(existing, sections=tuple(sections), known=all_known(existing))
    return replace(merged, known=tuple(dict.fromkeys((*all_known(merged), *all_known(fresh)))))


def _url_key(url: str) -> str:
    try:
        return canonical_url(url)
    except ValueError:  # a port that is not a number
        return url


def selected(review: Review) -> list[tuple[str, list[ReviewEntry]]]:
    """The ticked entries of each section, in the editor's order; sections with none are left out."""
    chosen = [(s.heading, [e for e in s.entries if e.checked]) for s in review.sections]
    return [(heading, entries) for heading, entries in chosen if entries]


# -- files -----------------------------------------------------------------------------


def read_review_file(path: Path | str) -> Review:
    """Read and parse a review file; any trouble is a ReviewFileError naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ReviewFileError("no such review file; run 'borderlinks review' to write it", path) from e
    except UnicodeDecodeError as e:
        raise ReviewFileError(f"not UTF-8 text (byte {e.start}); save it as UTF-8", path) from e
    except OSError as e:
        raise ReviewFileError(f"cannot read the review file: {e.strerror or e}", path) from e
    return parse_review(text, path)


def write_review_file(path: Path | str, review: Review) -> Path | None:
    """Write a review file atomically, keeping the previous version as ``<name>.bak``.

    The text is read back first and nothing is written unless it gives the
    same Review: a file the editor cannot trust is never left behind. Returns
    the backup's path, or None when there was no previous file or the text has
    not changed (then nothing is written).
    """
    path = Path(path)
    review = replace(review, known=all_known(review))
    text = write_review(review)
    try:
        back = parse_review(text, path)
    except ReviewFileError as e:
        raise ReviewFileError(
            f"refusing to write a review file that does not read back: {e.reason}", path, e.line
        ) from e
    if back != review:
        raise ReviewFileError(
            f"refusing to write a review file that does not read back: {_difference(review, back)}", path
        )
    data = text.encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            old = path.read_bytes()
            mode: int | None = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            old, mode = None, None
        if old == data:
            return None
        backup = None
        if old is not None:
            backup = path.with_name(path.name + ".bak")
            _replace_atomically(backup, old, mode)
        _replace_atomically(path, data, mode)
    except OSError as e:
        raise ReviewFileError(f"cannot write the review file: {e.strerror or e}", path) from e
    return backup


def _replace_atomically(path: Path, data: bytes, mode: int | None) -> None:
    """Write a temporary file next to ``path`` and rename it over ``path``: readers see the old or the new, never half."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _difference(want: Review, got: Review) -> str:
    """The first thing that would read back differently, for the refusal message."""
    for name in ("edition", "date", "title", "status", "intro", "known"):
        if getattr(want, name) != getattr(got, name):
            return f"{name} {getattr(want, name)!r} would read back as {getattr(got, name)!r}"
    if [s.heading for s in want.sections] != [s.heading for s in got.sections]:
        return f"section headings {_headings(want.sections)} would read back as {_headings(got.sections)}"
    for mine, theirs in zip(want.sections, got.sections, strict=True):
        for a, b in zip(mine.entries, theirs.entries, strict=False):
            for name in ("id", "checked", "title", "url", "outlet", "blurb", "meta", "new"):
                if getattr(a, name) != getattr(b, name):
                    return f"the {name} {getattr(a, name)!r} of an entry would read back as {getattr(b, name)!r}"
        if len(mine.entries) != len(theirs.entries):
            return f"section {mine.heading!r} has {len(mine.entries)} entries but would read back with {len(theirs.entries)}"
    return "it would read back differently"


def _headings(sections: Iterable[ReviewSection]) -> list[str]:
    return [s.heading for s in sections]
