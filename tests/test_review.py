"""The editor's review file: the format, the editor's edits, re-runs, checks and safe writes."""

from __future__ import annotations

import difflib
import os
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from borderlinks.errors import ReviewFileError
from borderlinks.model import Review, ReviewEntry, ReviewSection
from borderlinks.review import (
    check_review,
    merge_review,
    parse_review,
    read_review_file,
    selected,
    write_review,
    write_review_file,
)

BORDER = "Border and Migration"
ANALYSES = "Analyses and Feature Stories"

BUOYS = ReviewEntry(
    id="3f2a9c0d1e2b4a5c",
    checked=True,
    title="Texas installs more buoys near Eagle Pass",
    url="https://frontera.example/buoys",
    outlet="Frontera Daily",
    blurb="State officials said the barrier extends 300 metres.",
    meta="border-enforcement 4.0 · score 7.5 = theme 4.0 + outlets 2.0 + priority +1.0 + recency 0.5 · also: Diario del Río",
)
TAPACHULA = ReviewEntry(
    id="9b1c2d3e4f5a6b7c",
    checked=True,
    title="Migrantes salen en caravana desde Tapachula",
    url="https://diario.example/caravana",
    outlet="Diario del Sur",
    blurb="Unas 2.000 personas partieron el domingo rumbo al norte.",
    meta="caravans 3.0 · score 6.0",
)
DARIEN = ReviewEntry(
    id="0a1b2c3d4e5f6071",
    checked=False,
    title="Travessia do Darién bate recorde em março",
    url="https://noticias.example/darien",
    outlet="Notícias do Istmo",
    blurb="O número de migrantes cresceu pelo terceiro mês seguido.",
    meta="darien 2.0 · score 4.5",
)
ASYLUM = ReviewEntry(
    id="c0ffee0000000001",
    checked=True,
    title="Why asylum backlogs keep growing",
    url="https://analysis.example/backlogs",
    outlet="Policy Review",
    blurb="A long look at the immigration courts.",
    meta="asylum 3.5 · score 5.0",
)


def first_review() -> Review:
    """What the first run of `borderlinks review` writes for a day."""
    return Review(
        edition="daily-border-links",
        date="2025-03-21",
        title="Daily Border Links: March 21, 2025",
        sections=(ReviewSection(BORDER, (BUOYS, TAPACHULA, DARIEN)), ReviewSection(ANALYSES, (ASYLUM,))),
        known=(BUOYS.id, TAPACHULA.id, DARIEN.id, ASYLUM.id),
    )


def edit(text: str, old: str, new: str) -> str:
    """The editor's change: exactly one occurrence of ``old`` replaced."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.split("\n"), start=1) if fragment in line)


def entry_ids(review: Review) -> dict[str, list[str]]:
    return {s.heading: [e.id or e.url for e in s.entries] for s in review.sections}


def entry(review: Review, id_: str) -> ReviewEntry:
    return next(e for s in review.sections for e in s.entries if e.id == id_)


# -- the format ---------------------------------------------------------------------


def test_written_file_reads_back_as_the_same_review():
    review = first_review()
    assert parse_review(write_review(review)) == review


def test_written_entry_is_a_checkbox_line_with_its_information_and_blurb_indented_under_it():
    text = write_review(first_review())
    assert (
        "- [x] [Texas installs more buoys near Eagle Pass](https://frontera.example/buoys) — Frontera Daily"
        " <!-- id:3f2a9c0d1e2b4a5c -->\n"
        "    ~ border-enforcement 4.0 · score 7.5 = theme 4.0 + outlets 2.0 + priority +1.0 + recency 0.5"
        " · also: Diario del Río\n"
        "    > State officials said the barrier extends 300 metres.\n"
        "- [x] [Migrantes salen en caravana desde Tapachula]"
    ) in text
    assert "- [ ] [Travessia do Darién bate recorde em março]" in text


def test_written_file_starts_with_title_status_and_edition_and_ends_with_known_ids():
    lines = write_review(first_review()).split("\n")
    assert lines[:3] == [
        "# Daily Border Links: March 21, 2025",
        "status: draft",
        "<!-- edition: daily-border-links · date: 2025-03-21 -->",
    ]
    assert "## Introduction" in lines
    assert lines[-3:] == [
        "<!-- known:",
        "     3f2a9c0d1e2b4a5c 9b1c2d3e4f5a6b7c 0a1b2c3d4e5f6071 c0ffee0000000001 -->",
        "",
    ]


def test_known_ids_are_wrapped_at_about_a_hundred_characters():
    ids = tuple(f"{n:016x}" for n in range(30))
    text = write_review(replace(first_review(), known=ids + first_review().known))
    known_lines = text[text.index("<!-- known:") :].split("\n")
    assert len(known_lines) > 3
    assert all(len(line) <= 104 for line in known_lines)
    assert parse_review(text).known == ids + first_review().known


def test_written_file_passes_its_own_check():
    review = first_review()
    assert check_review(write_review(review), known_ids=review.known) == []


def test_entries_remember_their_line_numbers():
    text = write_review(first_review())
    review = parse_review(text)
    assert entry(review, DARIEN.id).line == line_of(text, DARIEN.id)


def test_new_entry_is_marked_on_its_information_line():
    review = replace(first_review(), sections=(ReviewSection(BORDER, (replace(BUOYS, new=True),)),))
    text = write_review(review)
    assert "    ~ NEW · border-enforcement 4.0" in text
    assert parse_review(text) == review


def test_information_that_happens_to_start_with_new_is_not_a_new_mark():
    odd = replace(BUOYS, meta="NEW · tool wrote this", new=False)
    review = replace(first_review(), sections=(ReviewSection(BORDER, (odd,)),))
    assert entry(parse_review(write_review(review)), BUOYS.id) == odd


@pytest.mark.parametrize(
    "title",
    [
        "Niños migrantes: “no nos dejan pasar” [video]",
        "Migração: 50% a mais — diz relatório ](https://evil.example)",
        "Comments <!-- like this --> and arrows -->",
        r"Back\slashes \[ and \] and \\ *stars* _under_ `code` # hash",
        "    leading and trailing spaces   ",
        "",
    ],
)
def test_titles_with_markdown_and_comment_characters_read_back_unchanged(title):
    tricky = replace(TAPACHULA, title=title, outlet="El País <b> — \\ ] [", url="https://es.example/a_(b)\\c")
    review = replace(first_review(), sections=(ReviewSection(BORDER, (tricky,)),))
    assert parse_review(write_review(review)) == review


# -- the editor's edits -----------------------------------------------------------------


def test_unticking_and_ticking_are_read_back():
    text = write_review(first_review())
    text = edit(text, "- [x] [Texas installs", "- [ ] [Texas installs")
    text = edit(text, "- [ ] [Travessia", "- [x] [Travessia")
    review = parse_review(text)
    assert not entry(review, BUOYS.id).checked
    assert entry(review, DARIEN.id).checked


def test_capital_X_also_ticks():
    text = edit(write_review(first_review()), "- [ ] [Travessia", "- [X] [Travessia")
    assert entry(parse_review(text), DARIEN.id).checked


def test_rewritten_blurb_keeps_the_editors_line_breaks():
    text = edit(
        write_review(first_review()),
        "    > State officials said the barrier extends 300 metres.",
        "    > The state added 300 metres of buoys,\n    > the third extension this year.",
    )
    assert (
        entry(parse_review(text), BUOYS.id).blurb
        == "The state added 300 metres of buoys,\nthe third extension this year."
    )


def test_entry_moved_to_another_section_stays_there():
    text = write_review(first_review())
    darien = "\n".join(
        write_review(first_review()).split("\n")[line_of(text, DARIEN.id) - 1 : line_of(text, DARIEN.id) + 2]
    )
    text = edit(text, darien + "\n", "")
    text = edit(text, f"## {ANALYSES}\n\n", f"## {ANALYSES}\n\n{darien}\n")
    assert entry_ids(parse_review(text)) == {BORDER: [BUOYS.id, TAPACHULA.id], ANALYSES: [DARIEN.id, ASYLUM.id]}


def test_reordered_entries_keep_the_editors_order():
    text = write_review(first_review())
    lines = text.split("\n")
    buoys = line_of(text, BUOYS.id) - 1
    tapachula = line_of(text, TAPACHULA.id) - 1
    lines[buoys : tapachula + 3] = lines[tapachula : tapachula + 3] + lines[buoys:tapachula]
    assert entry_ids(parse_review("\n".join(lines)))[BORDER] == [TAPACHULA.id, BUOYS.id, DARIEN.id]


def test_pasted_url_becomes_an_added_entry_without_id():
    text = edit(
        write_review(first_review()), f"## {ANALYSES}\n\n", f"## {ANALYSES}\n\n- [x] https://new.example/muro\n"
    )
    added = parse_review(text).sections[1].entries[0]
    assert added == ReviewEntry(id="", checked=True, title="", url="https://new.example/muro")


def test_pasted_url_with_a_blurb_and_a_pasted_markdown_link_are_both_added_entries():
    text = edit(
        write_review(first_review()),
        f"## {ANALYSES}\n\n",
        f"## {ANALYSES}\n\n- [x] <https://new.example/muro>\n    > Our own note.\n"
        "- [ ] [El muro, visto desde Nogales](https://new.example/nogales) — La Voz\n",
    )
    first, second = parse_review(text).sections[1].entries[:2]
    assert (first.url, first.blurb) == ("https://new.example/muro", "Our own note.")
    assert (second.id, second.title, second.outlet, second.checked) == (
        "",
        "El muro, visto desde Nogales",
        "La Voz",
        False,
    )


def test_introduction_is_read_back_line_for_line():
    intro = "Good morning.\n\nToday: *buoys* in the Rio Grande and a caravan in Chiapas.\n### A subheading stays text"
    text = edit(write_review(first_review()), "## Introduction\n", f"## Introduction\n{intro}\n")
    assert parse_review(text).intro == intro


def test_introduction_lines_that_look_like_structure_are_escaped_and_read_back():
    intro = "## not a section\n- [x] not an entry\nstatus: not the status\n<!-- not a comment\n\\o/"
    review = replace(first_review(), intro=intro)
    text = write_review(review)
    assert "\\## not a section" in text
    assert parse_review(text) == review


def test_status_approved_approves_the_edition():
    text = edit(write_review(first_review()), "status: draft\n", "status: approved\n")
    assert parse_review(text).approved


def test_status_is_read_whatever_its_case():
    text = edit(write_review(first_review()), "status: draft\n", "Status:  Approved\n")
    assert parse_review(text).status == "approved"


def test_every_kind_of_edit_reads_back_after_rewriting():
    text = write_review(first_review())
    text = edit(text, "status: draft\n", "status: approved\n")
    text = edit(text, "## Introduction\n", "## Introduction\nA quiet day at the border.\n")
    text = edit(text, "- [ ] [Travessia", "- [x] [Travessia")
    text = edit(text, "> A long look at the immigration courts.", "> Courts are years behind.")
    text = edit(text, f"## {ANALYSES}\n\n", f"## {ANALYSES}\n\n- [x] https://new.example/muro\n")
    edited = parse_review(text)
    assert parse_review(write_review(edited)) == edited


# -- re-runs: merging fresh candidates ---------------------------------------------------------

NEW_WALL = ReviewEntry(
    id="dddd000000000001",
    checked=True,
    title="New wall section approved in Arizona",
    url="https://frontera.example/wall",
    outlet="Frontera Daily",
    blurb="Tool blurb.",
    meta="border-enforcement 2.0 · score 3.0",
)
NEW_STUDY = ReviewEntry(
    id="dddd000000000002",
    checked=False,
    title="Um estudo sobre remessas",
    url="https://estudos.example/remessas",
    outlet="Estudos",
    blurb="Tool blurb.",
    meta="remittances 1.0 · score 2.0",
)


def fresh_with_new_items() -> Review:
    """What the tool would write an hour later: the same candidates, refreshed scores, two new ones."""
    buoys = replace(BUOYS, meta="border-enforcement 4.0 · score 8.0 · also: Diario del Río, Istmo Noticias")
    return Review(
        edition="daily-border-links",
        date="2025-03-21",
        title="Daily Border Links: March 21, 2025",
        sections=(
            ReviewSection(BORDER, (buoys, NEW_WALL, TAPACHULA, DARIEN)),
            ReviewSection(ANALYSES, (ASYLUM, NEW_STUDY)),
        ),
        known=(BUOYS.id, NEW_WALL.id, TAPACHULA.id, DARIEN.id, ASYLUM.id, NEW_STUDY.id),
    )


def edited_text() -> str:
    """The first file after an editor's morning: every kind of edit, once."""
    text = write_review(first_review())
    lines = text.split("\n")
    buoys, tapachula = line_of(text, BUOYS.id) - 1, line_of(text, TAPACHULA.id) - 1
    lines[buoys : tapachula + 3] = lines[tapachula : tapachula + 3] + lines[buoys:tapachula]  # reorder
    text = "\n".join(lines)
    text = edit(text, "status: draft\n", "status: approved\n")
    text = edit(text, "## Introduction\n", "## Introduction\nA quiet day at the border.\n")
    text = edit(text, "- [x] [Texas installs", "- [ ] [Texas installs")
    text = edit(text, "- [ ] [Travessia", "- [x] [Travessia")
    text = edit(
        text, "> Unas 2.000 personas partieron el domingo rumbo al norte.", "> Unas 2.000 personas, según la ONU."
    )
    asylum = "\n".join(text.split("\n")[line_of(text, ASYLUM.id) - 1 : line_of(text, ASYLUM.id) + 2])
    text = edit(text, asylum + "\n", "")
    text = edit(text, f"## {BORDER}\n\n", f"## {BORDER}\n\n{asylum}\n- [x] https://new.example/muro\n")  # move + paste
    return text


def test_merge_keeps_every_edit_and_appends_new_candidates_marked_new():
    existing = parse_review(edited_text())
    merged = merge_review(existing, fresh_with_new_items())
    assert merged.status == "approved"
    assert merged.intro == "A quiet day at the border."
    assert entry_ids(merged) == {
        BORDER: [ASYLUM.id, "https://new.example/muro", TAPACHULA.id, BUOYS.id, DARIEN.id, NEW_WALL.id],
        ANALYSES: [NEW_STUDY.id],
    }
    assert not entry(merged, BUOYS.id).checked and entry(merged, DARIEN.id).checked
    assert entry(merged, TAPACHULA.id).blurb == "Unas 2.000 personas, según la ONU."
    assert [e.id for s in merged.sections for e in s.entries if e.new] == [NEW_WALL.id, NEW_STUDY.id]
    assert parse_review(write_review(merged)) == merged


def test_rerun_rewrites_only_information_lines_and_adds_the_new_entries():
    before = edited_text()
    after = write_review(merge_review(parse_review(before), fresh_with_new_items()))
    cut = before.index("<!-- known:")
    diff = list(difflib.ndiff(before[:cut].split("\n"), after[: after.index("<!-- known:")].split("\n")))
    removed = [line[2:] for line in diff if line.startswith("- ")]
    added = [line[2:] for line in diff if line.startswith("+ ")]
    assert removed == ["    ~ border-enforcement 4.0 · score 7.5 = theme 4.0 + outlets 2.0 + priority +1.0 + recency 0.5"
                       " · also: Diario del Río"]  # fmt: skip
    assert [line for line in added if line.startswith("- [")] == [
        f"- [x] [{NEW_WALL.title}]({NEW_WALL.url}) — {NEW_WALL.outlet} <!-- id:{NEW_WALL.id} -->",
        f"- [ ] [{NEW_STUDY.title}]({NEW_STUDY.url}) — {NEW_STUDY.outlet} <!-- id:{NEW_STUDY.id} -->",
    ]


def test_merge_of_a_file_nobody_edited_only_adds_the_new_candidates():
    merged = merge_review(first_review(), fresh_with_new_items())
    untouched = [replace(e, meta=entry(merged, e.id).meta) for s in first_review().sections for e in s.entries]
    assert [e for s in merged.sections for e in s.entries if not e.new] == untouched


def test_merge_does_not_offer_again_an_entry_the_editor_deleted():
    text = write_review(first_review())
    darien = "\n".join(text.split("\n")[line_of(text, DARIEN.id) - 1 : line_of(text, DARIEN.id) + 2])
    existing = parse_review(edit(text, darien + "\n", ""))
    merged = merge_review(existing, fresh_with_new_items())
    assert DARIEN.id not in [e.id for s in merged.sections for e in s.entries]
    assert DARIEN.id in merged.known


def test_merge_refreshes_information_lines_but_not_titles_ticks_or_blurbs():
    existing = parse_review(
        edit(write_review(first_review()), "Texas installs more buoys near Eagle Pass", "Texas adds buoys")
    )
    fresh = replace(
        fresh_with_new_items(),
        sections=(
            ReviewSection(
                BORDER, (replace(BUOYS, title="Tool title", blurb="Tool blurb", checked=False, meta="score 9.0"),)
            ),
        ),
    )
    buoys = entry(merge_review(existing, fresh), BUOYS.id)
    assert (buoys.title, buoys.blurb, buoys.checked, buoys.meta) == ("Texas adds buoys", BUOYS.blurb, True, "score 9.0")


def test_merge_leaves_a_moved_entry_where_the_editor_put_it():
    existing = replace(
        first_review(), sections=(ReviewSection(BORDER, (BUOYS, TAPACHULA)), ReviewSection(ANALYSES, (DARIEN, ASYLUM)))
    )
    merged = merge_review(existing, fresh_with_new_items())
    assert entry_ids(merged)[ANALYSES][:2] == [DARIEN.id, ASYLUM.id]
    assert entry_ids(merged)[BORDER].count(DARIEN.id) == 0


def test_merge_puts_new_candidates_of_a_removed_section_in_a_new_section_at_the_end():
    existing = replace(first_review(), sections=(ReviewSection(BORDER, (BUOYS, TAPACHULA, DARIEN, ASYLUM)),))
    merged = merge_review(existing, fresh_with_new_items())
    assert [s.heading for s in merged.sections] == [BORDER, ANALYSES]
    assert entry_ids(merged)[ANALYSES] == [NEW_STUDY.id]


def test_merge_does_not_offer_a_candidate_whose_url_the_editor_already_pasted():
    pasted = ReviewEntry(id="", checked=True, title="", url="https://frontera.example/wall?utm_source=x")
    existing = replace(first_review(), sections=(ReviewSection(BORDER, (BUOYS, pasted)),))
    merged = merge_review(existing, fresh_with_new_items())
    assert NEW_WALL.id not in [e.id for s in merged.sections for e in s.entries]


def test_merge_clears_the_new_marks_of_the_previous_run():
    once = merge_review(first_review(), fresh_with_new_items())
    later = replace(fresh_with_new_items(), sections=(*fresh_with_new_items().sections, ReviewSection("Mexico", ())))
    twice = merge_review(once, later)
    assert [e for s in twice.sections for e in s.entries if e.new] == []


def test_merging_the_same_candidates_twice_changes_nothing_but_the_new_marks():
    fresh = fresh_with_new_items()
    once = merge_review(parse_review(edited_text()), fresh)
    twice = merge_review(once, fresh)
    assert twice == replace(
        once, sections=tuple(replace(s, entries=tuple(replace(e, new=False) for e in s.entries)) for s in once.sections)
    )


def test_merge_known_is_every_id_ever_offered():
    merged = merge_review(first_review(), fresh_with_new_items())
    assert set(merged.known) == set(first_review().known) | {NEW_WALL.id, NEW_STUDY.id}


# -- checking ------------------------------------------------------------------------------


def corrupt(old: str, new: str, at: str | None = None) -> tuple[str, int]:
    """A written file with one mistake, and the line of the mistake (of ``at``, or of the new text)."""
    text = edit(write_review(first_review()), old, new)
    return text, line_of(text, at or new.split("\n")[0])


@pytest.mark.parametrize("box", ["- [?]", "- [xx]", "-[x]", "* [x]", "+ [ ]", "- []", "[x]"])
def test_check_reports_a_malformed_checkbox_on_its_line(box):
    text, line = corrupt("- [ ] [Travessia", f"{box} [Travessia")
    problems = check_review(text)
    assert [(p.line, "malformed checkbox" in p.message) for p in problems] == [(line, True)]
    assert "- [x] " in problems[0].fix


def test_check_reports_a_checkbox_without_a_space_after_it():
    text, line = corrupt("- [ ] [Travessia", "- [ ][Travessia")
    assert [(p.line, p.message) for p in check_review(text)] == [(line, "no space after the checkbox '- [ ]'")]


def test_check_reports_an_unknown_id_with_its_line():
    text, line = corrupt(f"id:{DARIEN.id}", "id:0a1b2c3d4e5f6099")
    known = {BUOYS.id, TAPACHULA.id, DARIEN.id, ASYLUM.id}
    problems = check_review(text.replace(f" {DARIEN.id}", ""), known_ids=known)
    assert [(p.line, p.message) for p in problems] == [
        (line, "unknown id '0a1b2c3d4e5f6099': borderlinks never offered it")
    ]


def test_check_accepts_ids_the_files_known_comment_lists():
    text = write_review(first_review())
    assert check_review(text, known_ids={BUOYS.id}) == []


def test_check_reports_a_duplicate_id_naming_the_first_line():
    text = write_review(first_review())
    buoys = text.split("\n")[line_of(text, BUOYS.id) - 1]
    text = edit(text, f"## {ANALYSES}\n\n", f"## {ANALYSES}\n\n{buoys}\n")
    first, second = [n for n, line in enumerate(text.split("\n"), start=1) if f"id:{BUOYS.id}" in line]
    assert [(p.line, p.message) for p in check_review(text)] == [
        (second, f"duplicate id {BUOYS.id} (also on line {first})")
    ]


def test_check_reports_stray_text_between_entries():
    text, line = corrupt("- [ ] [Travessia", "I think we should drop this one\n- [ ] [Travessia")
    assert [(p.line, p.message) for p in check_review(text)] == [(line, "stray text between entries")]


def test_check_reports_a_blurb_line_that_lost_its_marker():
    text, line = corrupt("    > State officials", "    State officials")
    assert [(p.line, p.message) for p in check_review(text)] == [(line, "stray text between entries")]


def test_check_reports_a_list_line_without_a_checkbox():
    text, line = corrupt("- [ ] [Travessia", "- [Travessia")
    assert [(p.line, p.message) for p in check_review(text)] == [(line, "a list line without a checkbox")]


def test_check_reports_a_bad_status_value():
    text, line = corrupt("status: draft\n", "status: done\n")
    problems = check_review(text)
    assert [(p.line, p.message) for p in problems] == [(line, "unknown status 'done'")]
    assert problems[0].fix == "Write 'status: draft' or 'status: approved'"


def test_check_reports_a_missing_status_line():
    text = edit(write_review(first_review()), "status: draft\n", "")
    assert [(p.line, p.message) for p in check_review(text)] == [(1, "no status line")]


def test_check_reports_an_added_line_that_is_not_an_http_url():
    text, line = corrupt(f"## {ANALYSES}\n\n", f"## {ANALYSES}\n\n- [x] ftp://files.example/report.pdf\n", at="ftp:")
    assert [(p.line, p.message) for p in check_review(text)] == [
        (line, "'ftp://files.example/report.pdf' is not an http(s) URL")
    ]


def test_check_reports_a_checkbox_line_with_plain_text_instead_of_a_link():
    text, line = corrupt(f"## {ANALYSES}\n\n", f"## {ANALYSES}\n\n- [x] the story about the wall\n", at="the wall")
    assert [(p.line, p.message) for p in check_review(text)] == [(line, "a checkbox line needs a link")]


def test_check_reports_an_entry_in_the_introduction():
    text, line = corrupt("## Introduction\n", "## Introduction\n- [x] https://new.example/muro\n", at="muro")
    assert [(p.line, p.message) for p in check_review(text)] == [(line, "an entry in the introduction")]


def test_check_reports_text_above_the_introduction():
    text, line = corrupt("status: draft\n", "status: draft\nHello editors\n", at="Hello")
    assert [(p.line, p.message) for p in check_review(text)] == [(line, "text above the introduction")]


def test_check_reports_a_comment_that_is_never_closed():
    text = write_review(first_review()) + "<!-- a note to myself\n"
    assert [(p.line, p.message) for p in check_review(text)] == [
        (line_of(text, "a note"), "a comment is opened here and never closed")
    ]


def test_check_reports_a_comment_that_hides_entries_by_mistake():
    text, line = corrupt(f"## {ANALYSES}\n", f"<!-- ask Ana\n## {ANALYSES}\n", at="ask Ana")
    end = line_of(text, ASYLUM.id)  # its id comment's "-->" closes the editor's comment
    assert [(p.line, p.message) for p in check_review(text)] == [
        (line, f"a comment opened here hides the entries and headings from line {line + 1} to line {end}")
    ]


def test_check_reports_every_problem_at_once_in_line_order():
    text = write_review(first_review())
    text = edit(text, "status: draft\n", "status: maybe\n")
    text = edit(text, "- [ ] [Travessia", "- [?] [Travessia")
    text = edit(text, "    > A long look", "    A long look")
    problems = check_review(text)
    assert [p.line for p in problems] == [2, line_of(text, "- [?]"), line_of(text, "    A long look")]


def test_check_changes_nothing_and_a_good_file_has_no_problems():
    text = write_review(first_review())
    assert check_review(text) == []
    assert text == write_review(first_review())


# -- errors from parse_review -------------------------------------------------------------------


def test_parse_raises_review_file_error_with_path_line_and_fix():
    text, line = corrupt("- [ ] [Travessia", "- [xx] [Travessia")
    with pytest.raises(ReviewFileError) as caught:
        parse_review(text, Path("review/daily-border-links/2025-03-21.md"))
    assert caught.value.line == line
    assert str(caught.value).startswith(
        f"review/daily-border-links/2025-03-21.md:{line}: malformed checkbox '- [xx]'. "
    )
    assert "'- [x] '" in str(caught.value)


def test_parse_error_lists_every_problem():
    text = edit(write_review(first_review()), "status: draft\n", "status: maybe\n")
    text = edit(text, "- [ ] [Travessia", "- [?] [Travessia")
    with pytest.raises(ReviewFileError) as caught:
        parse_review(text)
    assert caught.value.line == 2
    assert f"\n  line {line_of(text, '- [?]')}: malformed checkbox '- [?]'" in str(caught.value)


def test_windows_line_endings_and_a_byte_order_mark_are_read():
    text = "\ufeff" + edit(write_review(first_review()), "- [ ] [Travessia", "- [x] [Travessia").replace("\n", "\r\n")
    review = parse_review(text)
    assert entry(review, DARIEN.id).checked
    assert entry(review, BUOYS.id).blurb == BUOYS.blurb


def test_edition_and_date_come_from_the_path_when_the_comment_is_lost():
    text = edit(write_review(first_review()), "<!-- edition: daily-border-links · date: 2025-03-21 -->\n", "")
    review = parse_review(text, Path("home/review/daily-border-links/2025-03-21.md"))
    assert (review.edition, review.date) == ("daily-border-links", "2025-03-21")
    with pytest.raises(ReviewFileError, match="no edition comment"):
        parse_review(text)


# -- property tests ------------------------------------------------------------------------------

TRICKY = st.sampled_from(
    ["](", "-->", "<!--", "—", "\\", "[", "]", "(", ")", "*", "_", "`", "#", "##", "> ", "~ ", "NEW", " · ",
     "- [x] ", "status: ", "“", "”", "ação", "niños", "Ñ", " ", "\u2028", "\u00a0", "<", ">"]
)  # fmt: skip
CHARS = st.characters(blacklist_categories=("Cc", "Cs"))
PIECES = st.lists(st.one_of(st.text(CHARS, max_size=12), TRICKY), max_size=6).map("".join)
ONE_LINE = PIECES  # any text but control characters: an entry title
TRIMMED = PIECES.map(str.strip)  # outlets, headings, the edition title: read without surrounding spaces
LINES = st.lists(TRIMMED, max_size=4).map(lambda lines: "\n".join(lines).strip("\n"))  # blurbs, information
INTRO = st.lists(PIECES.map(str.rstrip), max_size=5).map(lambda lines: "\n".join(lines).strip("\n"))
URL_CHARS = st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"))
URLS = st.one_of(
    st.text(URL_CHARS, max_size=20).map(lambda path: "https://example.org/" + path),
    st.text(URL_CHARS, max_size=20),
).filter(lambda url: not any(c.isspace() for c in url))
IDS = st.one_of(
    st.from_regex(r"[0-9a-f]{16}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9_.:]{1,8}(-[a-z0-9]{1,4}){0,2}", fullmatch=True),
)


@st.composite
def reviews(draw: st.DrawFn) -> Review:
    headings = draw(st.lists(TRIMMED.filter(lambda h: h and h.casefold() != "introduction"), max_size=3, unique=True))
    ids = iter(draw(st.lists(IDS, min_size=12, max_size=12, unique=True)))
    sections = []
    for heading in headings:
        entries = []
        for _ in range(draw(st.integers(0, 3))):
            entries.append(
                ReviewEntry(
                    id=next(ids) if draw(st.booleans()) else "",
                    checked=draw(st.booleans()),
                    title=draw(ONE_LINE),
                    url=draw(URLS),
                    outlet=draw(TRIMMED),
                    blurb=draw(LINES),
                    meta=draw(LINES),
                    new=draw(st.booleans()),
                )
            )
        sections.append(ReviewSection(heading, tuple(entries)))
    offered = [e.id for s in sections for e in s.entries if e.id] + draw(
        st.lists(IDS.map(lambda i: "old-" + i), unique=True, max_size=3)
    )
    return Review(
        edition=draw(st.from_regex(r"[a-z0-9]{1,10}(-[a-z0-9]{1,6}){0,2}", fullmatch=True)),
        date=draw(st.dates()).isoformat(),
        title=draw(TRIMMED),
        status=draw(st.sampled_from(["draft", "approved"])),
        intro=draw(INTRO),
        sections=tuple(sections),
        known=tuple(draw(st.permutations(list(dict.fromkeys(offered))))),
    )


@settings(max_examples=300)
@given(reviews())
def test_any_review_reads_back_unchanged(review):
    assert parse_review(write_review(review)) == review


@given(reviews())
def test_any_written_review_passes_its_check(review):
    assert check_review(write_review(review), known_ids=review.known) == []


@given(reviews(), reviews())
def test_merging_any_candidates_twice_changes_only_the_new_marks(existing, fresh):
    fresh = replace(fresh, edition=existing.edition, date=existing.date)
    once = merge_review(existing, fresh)
    twice = merge_review(once, fresh)
    assert twice == replace(
        once, sections=tuple(replace(s, entries=tuple(replace(e, new=False) for e in s.entries)) for s in once.sections)
    )
    assert parse_review(write_review(twice)) == twice


# -- selecting --------------------------------------------------------------------------------------


def test_selected_gives_the_ticked_entries_in_the_editors_order_without_empty_sections():
    review = replace(
        first_review(),
        sections=(
            ReviewSection(BORDER, (DARIEN, TAPACHULA, BUOYS)),
            ReviewSection(ANALYSES, (replace(ASYLUM, checked=False),)),
        ),
    )
    assert selected(review) == [(BORDER, [TAPACHULA, BUOYS])]


# -- files ----------------------------------------------------------------------------------------


def test_first_write_creates_the_folders_and_has_no_backup(tmp_path):
    path = tmp_path / "review" / "daily-border-links" / "2025-03-21.md"
    assert write_review_file(path, first_review()) is None
    assert read_review_file(path) == first_review()


def test_rewrite_keeps_the_previous_version_as_a_backup(tmp_path):
    path = tmp_path / "2025-03-21.md"
    write_review_file(path, first_review())
    before = path.read_text(encoding="utf-8")
    backup = write_review_file(path, merge_review(first_review(), fresh_with_new_items()))
    assert backup == tmp_path / "2025-03-21.md.bak"
    assert backup.read_text(encoding="utf-8") == before
    assert NEW_WALL.id in path.read_text(encoding="utf-8")


def test_rewriting_the_same_text_writes_nothing(tmp_path):
    path = tmp_path / "2025-03-21.md"
    write_review_file(path, first_review())
    assert write_review_file(path, first_review()) is None
    assert not (tmp_path / "2025-03-21.md.bak").exists()


def test_write_refuses_a_review_that_would_not_read_back_and_leaves_the_file_alone(tmp_path):
    path = tmp_path / "2025-03-21.md"
    write_review_file(path, first_review())
    before = path.read_text(encoding="utf-8")
    bad = replace(first_review(), sections=(ReviewSection(BORDER, (replace(BUOYS, blurb="  padded blurb"),)),))
    with pytest.raises(ReviewFileError, match="does not read back: the blurb '  padded blurb'"):
        write_review_file(path, bad)
    with pytest.raises(ReviewFileError, match="does not read back: unknown status 'published'"):
        write_review_file(path, replace(first_review(), status="published"))
    assert path.read_text(encoding="utf-8") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2025-03-21.md"]


def test_a_failed_rename_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "2025-03-21.md"
    write_review_file(path, first_review())
    before = path.read_text(encoding="utf-8")

    def fail(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(ReviewFileError, match="No space left on device") as caught:
        write_review_file(path, merge_review(first_review(), fresh_with_new_items()))
    assert isinstance(caught.value.__cause__, OSError)
    assert path.read_text(encoding="utf-8") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2025-03-21.md"]


def test_written_review_file_keeps_the_previous_files_permissions(tmp_path):
    path = tmp_path / "2025-03-21.md"
    write_review_file(path, first_review())
    path.chmod(0o640)
    write_review_file(path, replace(first_review(), status="approved"))
    assert path.stat().st_mode & 0o777 == 0o640


def test_reading_a_file_with_a_mistake_names_the_file_and_line(tmp_path):
    path = tmp_path / "2025-03-21.md"
    text, line = corrupt("- [ ] [Travessia", "* [x] [Travessia")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ReviewFileError, match=rf"2025-03-21.md:{line}: malformed checkbox '\* \[x\]'"):
        read_review_file(path)


def test_reading_a_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(ReviewFileError, match="run 'borderlinks review'"):
        read_review_file(tmp_path / "nope.md")
