"""Saying why an item got its themes and countries, and the JSON-lines interface for evaluations.

:func:`explain` turns a classification (and, with the classifier, its near
misses) into the text ``borderlinks classify --explain`` prints;
:func:`classify_jsonl` is the stable interface of ``borderlinks classify --jsonl``
that evaluations and other tools use. Both sit on :class:`borderlinks.classify.Classifier`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import date, datetime

from .classify import SUMMARY, TITLE, Classifier, Decision
from .folding import fold_text
from .model import Classification, Match

__all__ = ["classify_jsonl", "explain"]


def explain(
    classification: Classification, title: str, summary: str,
    classifier: Classifier | None = None, when: date | None = None,
) -> str:
    """A human-readable account of a classification: each theme and country, its
    score, and every matched term with the words around it in the folded text.

    With the ``classifier`` that made it, thresholds are shown too, and so are
    the near misses: themes and countries that matched but were not given, and why.
    """
    decided = {(d.kind, d.name): d for d in classifier.decide(title, summary, when=when)} if classifier else {}
    texts = {TITLE: fold_text(title or ""), SUMMARY: fold_text(summary or "")}
    lines: list[str] = []
    for kind, heading, tags in (("theme", "Themes", classification.themes), ("country", "Countries", classification.countries)):
        lines.append(f"{heading}:")
        shown = [decided.get((kind, t.name)) or Decision(kind, t.name, t.score, None, True, t.matches) for t in tags]
        given = {t.name for t in tags}
        shown += [d for (k, name), d in decided.items() if k == kind and name not in given]
        if not shown:
            lines.append("  none")
        for decision in shown:
            lines.extend(_describe(decision, decision.name in given, texts))
    return "\n".join(lines)


def _describe(decision: Decision, given: bool, texts: dict[str, str]) -> list[str]:
    threshold = ""
    if decision.threshold is not None:
        sign = ">=" if decision.score >= decision.threshold else "<"
        threshold = f" {sign} threshold {decision.threshold:g}"
    verdict = "given" if given else "not given"
    lines = [f"  {decision.name}: score {decision.score:g}{threshold}, {verdict}"]
    kinds = decision.evidence or ("term",) * len(decision.matches)
    for match, kind in sorted(zip(decision.matches, kinds, strict=True), key=_reading_order):
        label = "" if kind == "term" else f"{kind} "
        snippet = _snippet(texts[match.field], match.start, match.end)
        lines.append(f"    +{match.weight:<5g} {label}{match.term!r} in {match.field}: {snippet}")
    lines.extend(f"    - {note}" for note in decision.notes)
    return lines


def _reading_order(pair: tuple[Match, str]) -> tuple[bool, int, int]:
    """Title first, then by position; of two matches starting together, the longer first."""
    match = pair[0]
    return match.field != TITLE, match.start, -match.end


def _snippet(text: str, start: int, end: int, width: int = 40) -> str:
    """The words around a match, the match in [brackets]."""
    left = text.rfind(" ", 0, max(0, start - width)) + 1
    right = text.find(" ", min(len(text), end + width))
    right = len(text) if right < 0 else right
    return "".join(
        ("…" if left > 0 else "", text[left:start], "[", text[start:end], "]", text[end:right], "…" if right < len(text) else "")
    )


# --- the evaluation interface --------------------------------------------------------


def classify_jsonl(lines: Iterable[str], classifier: Classifier) -> Iterator[str]:
    """Classify JSON lines: the stable interface for evaluations and other tools.

    Each input line is ``{"id", "title", "text", "language"?, "date"?}`` (``summary``
    is accepted for ``text``; ``date`` is ISO 8601 and decides the officials in office); each
    output line is ``{"id", "themes", "countries", "matches"}``, with
    ``matches`` mapping a slug or a country to the terms that matched. A bad
    line gives ``{"id", "error"}`` and the run goes on. Blank lines are skipped.
    """
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        item_id = None
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("the line is not a JSON object")
            item_id = record.get("id")
            title, text, language, when = _item_fields(record)
        except ValueError as e:  # json.JSONDecodeError is a ValueError
            yield json.dumps({"id": item_id, "error": f"line {number}: {e}"}, ensure_ascii=False)
            continue
        result = classifier.classify(title, text, language, when)
        matches = {tag.name: list(dict.fromkeys(m.term for m in tag.matches)) for tag in (*result.themes, *result.countries)}
        yield json.dumps(
            {"id": item_id, "themes": result.theme_slugs, "countries": result.country_names, "matches": matches},
            ensure_ascii=False,
        )


def _item_fields(record: dict) -> tuple[str, str, str | None, date | None]:
    title = record.get("title") or ""
    text = record.get("text")
    if text is None:
        text = record.get("summary")
    language = record.get("language")
    if not isinstance(title, str):
        raise ValueError("'title' must be a string")
    if not isinstance(text, str):
        raise ValueError("'text' must be a string" if text is not None else "missing 'text'")
    if language is not None and not isinstance(language, str):
        raise ValueError("'language' must be a string")
    when = None
    raw = record.get("date")
    if raw is not None:
        if not isinstance(raw, str):
            raise ValueError("'date' must be an ISO 8601 string")
        try:
            when = datetime.fromisoformat(raw.replace("Z", "+00:00")).date()
        except ValueError:
            raise ValueError(f"'date' {raw!r} is not an ISO 8601 date") from None
    return title, text, language, when
