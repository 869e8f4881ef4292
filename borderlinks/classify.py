"""Giving themes and countries to items, with the matches that explain them.

One :class:`Classifier` compiles every theme term, exclusion, requirement,
place, official and mask into a single Aho-Corasick automaton. Classifying an
item folds each field once (:func:`fold_text`) and makes one pass over it, so
the cost grows with the length of the text, not with the number of terms.

Keys of the automaton are padded with spaces (" border patrol ") and so is the
text, so every hit is already a whole word or phrase; a term with a wildcard
(``migrant*``, ``solicitante? de asilo``) is keyed by the words up to its first
wildcard, and a small regular expression checks the rest at that spot. All
overlapping hits are found: "cartel" inside "Sinaloa Cartel" counts for its theme.

A theme is given when its score reaches its threshold (docs/themes.md). A
country is given when its evidence (names, demonyms, places, institutions,
groups, officials in office on the item's date) reaches the
:class:`PlaceScoring` threshold, after masks, a country's ``ignore`` phrases and
longer place names have hidden the names inside them, and unless it is a
passing mention. :meth:`Classifier.decide` and :func:`borderlinks.explain.explain` say why.

File formats are specified in docs/themes.md; loading and validating the files
lives in :mod:`borderlinks.themes`, folding in :mod:`borderlinks.folding`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from operator import attrgetter

import ahocorasick

from .folding import fold_text
from .model import Classification, Match, Tag
from .themes import Country, Gazetteer, Official, Term, Theme, load_places, load_themes, parse_term

__all__ = [
    "Classifier", "Decision", "PlaceScoring", "fold_text",
    "load_places", "load_themes", "parse_term", "Country", "Gazetteer", "Official", "Term", "Theme",
]

TITLE, SUMMARY = "title", "summary"

# What a key of the automaton stands for: (kind, owner index, term, extra).
THEME, EXCLUDE, EXCLUDE_NEAR, REQUIRE, PLACE, OFFICIAL, MASK, IGNORE, PAIR = range(9)

# Evidence that the country's state acted, which is never a passing mention.
_STATE_ACTORS = frozenset({"institution", "official", "state"})
_ONLY_PEOPLE = frozenset({"people", "former_official"})  # evidence of people from a country, not of the country

_WILD = {"": "", "*": r"[^\W\d_]*", "?": r"[^\W\d_]?"}


@dataclass(frozen=True)
class PlaceScoring:
    """How much each kind of evidence says an item is about a country.

    Every mention in the title counts ``title_weight`` times one in the text, so a
    name in the title counts most. A country named only once, in an item whose
    main country scores more than 1/``relative`` times as much, is a passing
    mention and is not given, unless the mention is of its institutions or
    officials (the item reports something done by its state), or it is named more
    than once (``repeat``). Plural demonyms (``people``) and officials out of
    office (``former_official``) weigh less than other evidence; a country named
    once inside a row of ``listed`` countries is not given, nor, when
    ``group_alone`` is off, one named only by its groups' names. Defaults live
    here, in one place; they were tuned on the dev split of
    tests/data/classify_eval.jsonl (benchmarks/quality.py).
    """

    name: float = 1.0
    demonym: float = 1.0
    place: float = 1.0
    institution: float = 1.0
    group: float = 1.0
    official: float = 1.0
    former_official: float = 0.45  # an official named outside their term (an ex-president on trial)
    people: float = 0.25  # a plural demonym ("Haitians", "venezolanos"): people, not the country's state
    repeat: bool = True  # a country named twice (even by the same word) is not a passing mention
    listed: int = 3  # a country named once, only as one of this many or more in a row ("Cuba, Haiti and Venezuela"), is not given; 0: off
    group_alone: bool = True  # whether an armed or criminal group's name alone (ELN, FARC) gives its country
    title_weight: float = 2.0
    threshold: float = 1.0
    relative: float = 0.34


@dataclass(frozen=True)
class Decision:
    """Why a theme or country was given to an item, or not: for explanations and tuning."""

    kind: str  # "theme" or "country"
    name: str
    score: float
    threshold: float | None  # None when unknown (a stored classification explained on its own)
    given: bool
    matches: tuple[Match, ...] = ()
    evidence: tuple[str, ...] = ()  # per match: "term", or the kind of place evidence
    notes: tuple[str, ...] = ()  # vetoes, unmet requirements, dropped or hidden matches


def _compile_term(term: Term) -> tuple[str, re.Pattern[str] | None]:
    """The automaton key of a term, and the pattern that checks what follows the key."""
    pattern = term.pattern
    for i, (_word, wildcard) in enumerate(pattern):
        if wildcard:
            key = " " + " ".join(w for w, _ in pattern[: i + 1])
            rest = "".join(" " + re.escape(w) + _WILD[wc] for w, wc in pattern[i + 1 :])
            return key, re.compile(_WILD[wildcard] + rest + "(?= )")
    return " " + " ".join(term.words) + " ", None


def _distinct(terms: Iterable[Term]) -> list[Term]:
    """One term per pattern ("Darién Gap" and "Darien Gap" are one term), the heaviest kept."""
    best: dict[tuple[tuple[str, str], ...], Term] = {}
    for term in terms:
        kept = best.get(term.pattern)
        if kept is None or term.weight > kept.weight:
            best[term.pattern] = term
    return list(best.values())


def _compile(themes: tuple[Theme, ...], gazetteer: Gazetteer, scoring: PlaceScoring) -> tuple[ahocorasick.Automaton | None, int]:
    """One automaton for every term of every theme and place, and its number of keys.

    Each key maps, per tail pattern, to the uses of the terms that fold to it:
    (kind, owner index, term, extra, weight in the title, weight in the summary).
    """
    keys: dict[str, dict[str, tuple[re.Pattern[str] | None, list[tuple]]]] = {}

    def add(kind: int, owner: int, term: Term, extra: object = None, title: float = 0.0, summary: float = 0.0) -> None:
        key, tail = _compile_term(term)
        tails = keys.setdefault(key, {})
        tails.setdefault(tail.pattern if tail else "", (tail, []))[1].append((kind, owner, term, extra, title, summary))

    for i, theme in enumerate(themes):
        for term in _distinct(theme.terms):
            add(THEME, i, term, None, term.weight * theme.title_weight, term.weight)
        for term in _distinct(theme.exclude):
            add(EXCLUDE, i, term)
        for term in _distinct(theme.exclude_near):
            add(EXCLUDE_NEAR, i, term)
        for group, terms in enumerate(theme.require):
            for term in _distinct(terms):
                add(REQUIRE, i, term, group)
        for number, pair in enumerate(theme.pairs):
            for side, terms in enumerate((pair.first, pair.second)):
                for term in _distinct(terms):
                    add(PAIR, i, term, (number, side))
    index = {c.name: i for i, c in enumerate(gazetteer.countries)}
    for i, country in enumerate(gazetteer.countries):
        by_pattern: dict[tuple, tuple[str, Term]] = {}
        for kind, term in country.evidence():
            by_pattern.setdefault(term.pattern, (kind, term))
        for kind, term in by_pattern.values():
            weight = getattr(scoring, kind)
            add(PLACE, i, term, kind, weight * scoring.title_weight, weight)
        for term in _distinct(country.ignore):
            add(IGNORE, i, term)
    for i, official in enumerate(gazetteer.officials):
        if official.country in index:
            for term in _distinct(official.terms):
                add(OFFICIAL, index[official.country], term, i, scoring.official * scoring.title_weight, scoring.official)
    for term in _distinct(gazetteer.masks):
        add(MASK, -1, term)

    if not keys:
        return None, 0
    automaton = ahocorasick.Automaton()
    for key, tails in keys.items():
        # Uses are split by kind ahead of time, so the hot loop does not branch per use.
        patterns = tuple(
            (
                tail,
                tuple((u[1], u[2], u[4], u[5]) for u in uses if u[0] == THEME),
                tuple((u[1], u[2], u[4], u[5], u[3]) for u in uses if u[0] == PLACE),
                tuple((u[1], u[2], u[3][0] * 2 + u[3][1]) for u in uses if u[0] == PAIR),
                tuple(u for u in uses if u[0] not in (THEME, PLACE, PAIR)),
            )
            for tail, uses in tails.values()
        )
        automaton.add_word(key, (len(key), patterns))
    automaton.make_automaton()
    return automaton, len(keys)


class Classifier:
    """Themes and a gazetteer compiled into one automaton; classifies items one by one.

    Build it once per run (compiling 9,000 terms takes a tenth of a second)
    and call :meth:`classify` for every item.
    """

    def __init__(self, themes: Sequence[Theme], gazetteer: Gazetteer | None = None, scoring: PlaceScoring | None = None) -> None:
        self.themes = tuple(themes)
        self.gazetteer = gazetteer or Gazetteer()
        self.scoring = scoring or PlaceScoring()
        self._automaton, self.key_count = _compile(self.themes, self.gazetteer, self.scoring)
        # Per-theme and per-country values the hot path reads by index.
        self._required_groups = tuple(len(t.require) for t in self.themes)
        self._thresholds = tuple(t.threshold for t in self.themes)
        self._country_names = tuple(c.name for c in self.gazetteer.countries)
        self._slugs = tuple(t.slug for t in self.themes)
        # An official named outside their term of office (an ex-president on trial, a candidate)
        # still says the item is about that country, as a person from it, not as its state acting.
        self._former = self.scoring.former_official / self.scoring.official if self.scoring.official else 0.0
        # A plural demonym ("Haitians", "venezolanos") names people, often migrants, whose
        # nationality alone does not put a story in their country; a singular one ("the Mexican
        # government", "el gobierno hondureño") is usually the country's state or territory.
        self._people = self.scoring.people / self.scoring.demonym if self.scoring.demonym else 1.0

    def classify(self, title: str, summary: str, language: str | None = None, when: date | None = None) -> Classification:
        """Themes and countries of one item.

        ``language`` is recorded for the interface only: terms of every language
        match every item (docs/themes.md). ``when`` is the item's date, which
        decides the officials in office; it defaults to today.
        """
        themes, countries = self._decide(fold_text(title or ""), fold_text(summary or ""), when, detail=False)
        result = _new(Classification)
        fields = result.__dict__
        fields["themes"] = tuple(themes)
        fields["countries"] = tuple(countries)
        return result

    def decide(self, title: str, summary: str, language: str | None = None, when: date | None = None) -> list[Decision]:
        """Every theme and country with at least one match, given or not, and why.

        For ``--explain`` and for tuning a theme: shows near misses, vetoes,
        unmet requirements and hidden names that :meth:`classify` leaves out.
        """
        themes, countries = self._decide(fold_text(title or ""), fold_text(summary or ""), when, detail=True)
        return [*themes, *countries]

    def _decide(self, title: str, summary: str, when: date | None, detail: bool) -> tuple[list, list]:
        """Scan both fields, then decide every theme and country that matched.

        This is the hot path (every item, every run), so it is written for speed:
        one loop over the hits and no Python function call per hit; _theme and
        _countries state the same rules at leisure, with reasons, for decide().
        """
        # A hit is (term, field, start, end, weight, evidence kind); offsets in the folded field.
        # Place hits carry the country's index as a seventh item.
        theme_hits: dict[int, list[tuple]] = {}
        places: list[tuple] = []
        vetoes: dict[int, Term] = {}
        near: dict[int, list[tuple]] = {}
        required: dict[int, set[int]] = {}
        masks: list[tuple[int, Term, str, int, int]] = []  # owner -1: a mask; else an ignore of that country
        pair_hits: dict[int, dict[int, list[tuple]]] = {}  # theme -> pair * 2 + side -> (term, field, start, stop)
        absent: list[tuple[int, Official, Term]] = []
        nested = False  # whether two place hits share words, so that one may hide the other
        day = when
        people, former = self._people, self._former
        automaton = self._automaton
        if automaton is None:
            return [], []
        for field, folded in ((TITLE, title), (SUMMARY, summary)):
            if not folded:
                continue
            in_title = field == TITLE
            padded = f" {folded} "
            place_end = -1
            for end, (length, patterns) in automaton.iter(padded):
                start = end - length + 1
                for tail, theme_uses, place_uses, pair_uses, other_uses in patterns:
                    if tail is None:
                        stop = end - 1
                    else:
                        extended = tail.match(padded, end + 1)
                        if extended is None:
                            continue
                        stop = extended.end() - 1
                    for owner, term, title_weight, weight in theme_uses:
                        hit = (term, field, start, stop, title_weight if in_title else weight, "term")
                        hits = theme_hits.get(owner)
                        if hits is None:
                            theme_hits[owner] = [hit]
                        else:
                            hits.append(hit)
                    if place_uses:
                        # Hits come in order of their keys' ends, so comparing with the
                        # furthest end so far finds every overlap.
                        if start < place_end:
                            nested = True
                        if stop > place_end:
                            place_end = stop
                        for owner, term, title_weight, weight, kind in place_uses:
                            if kind == "demonym" and people != 1.0 and (padded[stop] == "s" or _of_people(padded, start, stop)):
                                places.append((term, field, start, stop, (title_weight if in_title else weight) * people, "people", owner))
                            elif kind == "name" and _acting_state(padded, start, stop):
                                places.append((term, field, start, stop, title_weight if in_title else weight, "state", owner))
                            else:
                                places.append((term, field, start, stop, title_weight if in_title else weight, kind, owner))
                    for owner, term, side in pair_uses:
                        found = pair_hits.get(owner)
                        if found is None:
                            pair_hits[owner] = found = {}
                        sides = found.get(side)
                        if sides is None:
                            found[side] = [(term, field, start, stop)]
                        else:
                            sides.append((term, field, start, stop))
                    for kind, owner, term, extra, title_weight, weight in other_uses:
                        if kind == REQUIRE:
                            groups = required.get(owner)
                            if groups is None:
                                required[owner] = {extra}
                            else:
                                groups.add(extra)
                        elif kind == OFFICIAL:
                            day = day or date.today()
                            official = self.gazetteer.officials[extra]
                            if official.in_office(day):
                                if start < place_end:
                                    nested = True
                                if stop > place_end:
                                    place_end = stop
                                places.append((term, field, start, stop, title_weight if in_title else weight, "official", owner))
                            else:
                                if former:
                                    if start < place_end:
                                        nested = True
                                    if stop > place_end:
                                        place_end = stop
                                    places.append(
                                        (term, field, start, stop, (title_weight if in_title else weight) * former, "former_official", owner)
                                    )
                                if detail:
                                    absent.append((owner, official, term))
                        elif kind == EXCLUDE:
                            vetoes.setdefault(owner, term)
                        elif kind == EXCLUDE_NEAR:
                            near.setdefault(owner, []).append((term, field, start, stop))
                        else:
                            masks.append((owner, term, field, start, stop))

        if pair_hits:
            texts = {TITLE: title, SUMMARY: summary}
            for i, by_side in pair_hits.items():
                if len(by_side) > 1:  # one side alone is no pair
                    for hit in self._paired(i, by_side, texts):
                        theme_hits.setdefault(i, []).append(hit)

        found = []
        if theme_hits:
            texts = {TITLE: title, SUMMARY: summary}
            groups, thresholds, slugs = self._required_groups, self._thresholds, self._slugs
            for i, hits in theme_hits.items():
                if detail:
                    found.append(self._theme(i, hits, vetoes.get(i), near.get(i), required.get(i), texts))
                    continue
                # The same rules as _theme, kept cheap for the common cases.
                if i in vetoes or (groups[i] and groups[i] > len(required.get(i, ()))):
                    continue
                if i in near:
                    window = self.themes[i].near
                    hits = [hit for hit in hits if _near_exclusion(hit, near[i], window, texts) is None]
                if len(hits) == 1:
                    term, field, start, stop, weight, _ = hits[0]
                    if weight >= thresholds[i]:
                        found.append(_tag(slugs[i], weight, (_match(term.text, field, start, stop, weight),)))
                elif hits:
                    chosen, score = _score(hits)
                    if score >= thresholds[i]:
                        found.append(_tag(slugs[i], score, _matches(chosen)))
            if len(found) > 1:
                _sort_by_score(found)
        countries = []
        if detail:
            if places or absent:
                countries = self._countries(places, masks, absent, day)
        elif places:
            countries = self._country_tags(places, masks, nested)
        if len(countries) > 1:
            _sort_by_score(countries)
        return found, countries

    def _paired(self, index: int, found: dict[int, list[tuple]], texts: dict[str, str]) -> list[tuple]:
        """A theme's pairs met in the item: per pair, its nearest couple (in the title first), as one hit.

        ``found``: the hits of each side of each pair, keyed pair number * 2 + side.
        """
        theme = self.themes[index]
        hits = []
        for side in sorted(found) if len(found) > 1 else ():  # in the file's order; one side alone is no pair
            if side % 2 or side + 1 not in found:
                continue
            firsts, pair = found[side], theme.pairs[side // 2]
            best = None
            for a, field, a_start, a_stop in firsts:
                folded = texts[field]
                for b, where, b_start, b_stop in found[side + 1]:
                    if where != field:
                        continue
                    if a_stop < b_start:
                        gap = folded.count(" ", a_stop, b_start)
                    elif b_stop < a_start and not pair.ordered:
                        gap = folded.count(" ", b_stop, a_start)
                    else:
                        continue
                    if gap <= pair.within:
                        rank = (field != TITLE, gap)
                        if best is None or rank < best[0]:
                            best = (rank, a, b, field, min(a_start, b_start), max(a_stop, b_stop))
            if best is not None:
                _rank, a, b, field, start, stop = best
                weight = pair.weight * (theme.title_weight if field == TITLE else 1.0)
                hits.append((Term(f"{a.text} … {b.text}", (), ()), field, start, stop, weight, "pair"))
        return hits

    def _theme(
        self, index: int, hits: list[tuple], veto: Term | None, near: list[tuple] | None, required: set[int] | None,
        texts: dict[str, str],
    ) -> Decision:
        """A theme's decision with every reason: vetoes, unmet groups, dropped matches, the threshold."""
        theme = self.themes[index]
        notes: list[str] = []
        if veto is not None:
            notes.append(f"vetoed: the exclude term {veto.text!r} is in the item")
        unmet = [g for g in range(len(theme.require)) if g not in (required or ())]
        for g in unmet:
            notes.append(f"no term of require group {g + 1} ({', '.join(t.text for t in theme.require[g])})")
        if near:
            kept = []
            for hit in hits:
                blocker = _near_exclusion(hit, near, theme.near, texts)
                if blocker is None:
                    kept.append(hit)
                else:
                    notes.append(f"dropped {hit[0].text!r} ({hit[1]}): {blocker.text!r} is within {theme.near} words")
            hits = kept
        chosen, score = _score(hits)
        given = veto is None and not unmet and bool(chosen) and score >= theme.threshold
        if chosen and score < theme.threshold:
            notes.append(f"below the threshold ({score:g} < {theme.threshold:g})")
        return Decision(
            "theme", theme.slug, score, theme.threshold, given, _matches(chosen), tuple(h[5] for h in chosen), tuple(notes)
        )

    def _country_tags(self, places: list[tuple], masks: list, nested: bool) -> list[Tag]:
        """The countries given, fast: the same rules as :meth:`_countries` without the notes."""
        if masks or nested:
            longer = places if nested else ()  # no two place hits overlap: only masks can hide one
            places = [hit for hit in places if _covering(hit, longer, masks) is None]
        by_country: dict[int, list[tuple]] = {}
        for hit in places:
            hits = by_country.get(hit[6])
            if hits is None:
                by_country[hit[6]] = [hit]
            else:
                hits.append(hit)
        # Rows of countries are looked for only when a country's fate depends on it (most items need not).
        may_list = len(by_country) >= self.scoring.listed > 0
        listed: set[int] | None = None
        scored = []
        top = 0.0
        for owner, hits in by_country.items():
            if len(hits) > 1:
                hits = _apposed(hits)
            chosen, score = (hits, hits[0][4]) if len(hits) == 1 else _score(hits)
            if score > top:
                top = score
            scored.append((owner, chosen, score, hits))
        threshold, floor, names = self.scoring.threshold, self.scoring.relative * top, self._country_names
        tags = []
        repeats, group_alone = self.scoring.repeat, self.scoring.group_alone
        for owner, chosen, score, hits in scored:
            if score < threshold:
                continue
            if not group_alone and _only_groups(chosen):
                continue
            if len(hits) == 1:  # the common case, without building lists
                kind = hits[0][5]
            else:
                named = _named(chosen)
                if len(named) > 1 or (repeats and len(_named(hits)) > 1):
                    tags.append(_tag(names[owner], score, _matches(chosen)))
                    continue
                kind = (named or chosen)[0][5]
            if kind not in _STATE_ACTORS:  # see _passing, _listed
                if score < floor:
                    continue
                if may_list:
                    if listed is None:
                        listed = _listed(by_country, self.scoring.listed)
                    if owner in listed:
                        continue
            tags.append(_tag(names[owner], score, _matches(chosen)))
        return tags

    def _countries(self, places: list[tuple], masks: list, absent: list, day: date | None) -> list[Decision]:
        """Every country with evidence, given or not, with notes on what was hidden or left out."""
        threshold, relative = self.scoring.threshold, self.scoring.relative
        notes: dict[int, list[str]] = {}
        by_country: dict[int, list[tuple]] = {}
        for hit in places:
            cover = _covering(hit, places, masks)
            if cover is None:
                by_country.setdefault(hit[6], []).append(hit)
            else:
                notes.setdefault(hit[6], []).append(f"{hit[0].text!r} ({hit[1]}) is hidden inside {cover!r}")
        for owner, official, term in absent:
            span = f"{official.start}..{official.until or ''}"
            notes.setdefault(owner, []).append(f"{term.text!r}: {official.name} is not in office on {day or date.today()} ({span})")
        # Lists are found before "City, Country" pairs are merged, as in _country_tags.
        listed = _listed(by_country, self.scoring.listed) if len(by_country) >= self.scoring.listed > 0 else ()
        for owner, hits in by_country.items():
            kept = _apposed(hits)
            for hit in hits:
                if hit not in kept:
                    notes.setdefault(owner, []).append(f"{hit[0].text!r} ({hit[1]}) only places the name before it")
            by_country[owner] = kept
        scored = {owner: _score(hits) for owner, hits in by_country.items()}
        for owner in notes.keys() - scored.keys():
            scored[owner] = ([], 0.0)
        floor = relative * max(score for _, score in scored.values())
        result = []
        for owner, (chosen, score) in scored.items():
            mentions = len(_named(by_country.get(owner, [])))
            passing = _passing(chosen, score, floor) and not (self.scoring.repeat and mentions > 1)
            groups_only = not self.scoring.group_alone and _only_groups(chosen)
            named = _named(chosen)
            in_list = owner in listed and mentions <= 1 and len(named) <= 1 and (named or chosen)[0][5] not in _STATE_ACTORS
            given = bool(chosen) and score >= threshold and not passing and not groups_only and not in_list
            extra = notes.get(owner, [])
            if chosen and score < threshold:
                extra.append(f"below the threshold ({score:g} < {threshold:g})")
            elif in_list:
                extra.append("named once, in a list of countries: an example, not where the item happens")
            elif groups_only:
                extra.append("only the names of groups, which operate across borders: they do not place the item")
            elif passing:
                extra.append(f"a passing mention: named once, and {score:g} is less than {relative:g} of the main country's score")
            result.append(
                Decision(
                    "country", self._country_names[owner], score, threshold, given, _matches(chosen),
                    tuple(h[5] for h in chosen), tuple(extra),
                )
            )
        return result


def _apposed(hits: list[tuple]) -> list[tuple]:
    """A country's hits without those that only place the one just before them.

    "Havana, Cuba" or "Springfield, Ohio" is one mention of one place, not two
    mentions of the country: a hit that starts right after another hit of the same
    country (folding turns the comma into a space) is dropped.
    """
    ends = {(hit[1], hit[3]) for hit in hits}
    kept = [hit for hit in hits if (hit[1], hit[2] - 1) not in ends]
    return kept or hits


def _listed(by_country: dict[int, list[tuple]], size: int) -> set[int]:
    """The countries named in a row of at least ``size`` countries ("Cuba, Haiti, Nicaragua and Venezuela").

    Names in a row are at most a connector apart (a comma folds to a space; "and",
    "y", "e", "or"): five characters. Such a list gives examples or origins
    (operations in Mexico, Brazil, Colombia...; minors from El Salvador, Honduras
    and Guatemala), so a country named only there is not what the item is about.
    """
    hits = sorted((hit[1], hit[2], hit[3], owner) for owner, found in by_country.items() for hit in found)
    listed: set[int] = set()
    run: list[tuple] = []
    for hit in hits:
        if run and (hit[0] != run[-1][0] or hit[1] - run[-1][2] > 5 or hit[1] < run[-1][2]):
            if len({h[3] for h in run}) >= size:
                listed.update(h[3] for h in run)
            run = []
        run.append(hit)
    if len({h[3] for h in run}) >= size:
        listed.update(h[3] for h in run)
    return listed


def _only_groups(chosen: list[tuple]) -> bool:
    """Whether every piece of a country's evidence is an armed or criminal group's name.

    MS-13 in a Honduran prison, the FARC buying arms from a Russian dealer in
    Thailand: a group says where it comes from, not where the item happens.
    """
    for hit in chosen:
        if hit[5] != "group":
            return False
    return bool(chosen)


# A singular demonym next to one of these words names a person or people, not the
# country's state: "Venezuelan migrants", "a Honduran man", "un migrante venezolano".
_PEOPLE_AFTER = frozenset(
    "migrant migrants immigrant immigrants national nationals citizen citizens refugee refugees deportee deportees "
    "asylum crosser crossers detainee detainees prisoner prisoners worker workers man men woman women child children "
    "boy boys girl girls teen teens teenager teenagers youth youths family families exile exiles passenger passengers "
    "student students people diaspora community communities father mother son daughter".split()
)
_PEOPLE_BEFORE = frozenset(
    "migrante inmigrante emigrante ciudadano ciudadana nacional refugiado refugiada deportado deportada solicitante "
    "nino nina menor joven mujer hombre familia trabajador trabajadora exiliado exiliada preso presa detenido detenida "
    "pasajero pasajera padre madre hijo hija imigrante cidadao cidada crianca".split()
)


# A country's name is its state acting ("Mexico agreed", "el gobierno de México", "Brasil asumió la
# custodia") when a word of government stands before it or a verb of state action right after it:
# something done by the country's state, which is never a passing mention.
_STATE_BEFORE = (
    " government of", " governments of", " gobierno de", " gobiernos de", " governo de", " governo do", " governo da",
    " authorities of", " autoridades de",
)
_STATE_VERBS = frozenset(
    "said says announced announces agreed agrees signed signs sent sends deported deports expelled expels extradited "
    "accused denied rejected rejects approved imposed demanded demands asked recognized recognised pledged offered deployed "
    "deploys suspended threatened warned protested ordered accepted refused granted closed reopened sanctioned "
    "anuncio anuncia dijo dice acordo acuerda firmo firma envio envia deporto deporta expulso expulsa extradito acuso "
    "nego rechazo rechaza aprobo impuso exigio exige pidio pide reconocio desplego suspendio amenazo advirtio ordeno "
    "acepto cerro otorgo concedio asumio sanciono "
    "anunciou disse assinou enviou deportou expulsou negou rejeitou aprovou pediu reconheceu suspendeu ameacou ordenou "
    "aceitou fechou concedeu".split()
)


def _acting_state(padded: str, start: int, stop: int) -> bool:
    """Whether a country's name (from ``start``, a space, to ``stop``, its last letter) is its state acting."""
    if padded.endswith(_STATE_BEFORE, 0, start):
        return True
    after = padded.find(" ", stop + 2)
    return after != -1 and padded[stop + 2:after] in _STATE_VERBS


def _of_people(padded: str, start: int, stop: int) -> bool:
    """Whether a singular demonym (from ``start``, a space, to ``stop``, its last letter) stands next to a word for people."""
    after = padded.find(" ", stop + 2)
    if after != -1 and padded[stop + 2:after] in _PEOPLE_AFTER:
        return True
    return padded[padded.rfind(" ", 0, start) + 1:start] in _PEOPLE_BEFORE


def _named(hits: list[tuple]) -> list[tuple]:
    """The hits that name the country itself: not its people ("venezolanos") nor its former officials.

    "Venezuela" once and "Venezuelans" once is still one mention of the country:
    a story about Venezuelans in the United States names the country in passing.
    """
    return [hit for hit in hits if hit[5] not in _ONLY_PEOPLE]


def _passing(chosen: list[tuple], score: float, floor: float) -> bool:
    """A country named once in an item about another country is a passing mention.

    "More than twenty times that of Spain", or "migrants from Venezuela" in a
    story about a raid in Texas, however clear the name. Its state acting (an
    institution, an official) is not. Its people do not make a second mention.
    """
    named = _named(chosen)
    return bool(chosen) and len(named) <= 1 and score < floor and (named or chosen)[0][5] not in _STATE_ACTORS


def _sort_by_score(tags: list) -> None:
    """Highest score first, ties by name; two stable sorts in C, no Python key function."""
    tags.sort(key=attrgetter("name"))
    tags.sort(key=attrgetter("score"), reverse=True)


def _score(hits: list[tuple]) -> tuple[list[tuple], float]:
    """The hits that count, in the order found, and their total weight.

    The same term twice in one field counts once, at its heavier occurrence
    (a wildcard demonym may match "haitianos", people, at 0.25 and then
    "haitiano", the state, at 1); two terms of one owner on exactly the same
    words count once (the heavier).
    """
    if len(hits) == 1:
        return hits, hits[0][4]
    if len(hits) == 2:  # the common case: two different terms on different words
        a, b = hits
        if (a[1] != b[1] or a[0].text != b[0].text) and (a[1], a[2], a[3]) != (b[1], b[2], b[3]):
            return hits, a[4] + b[4]
    best: dict[tuple[str, str], int] = {}  # (term, field) -> index of its heaviest hit
    for index, hit in enumerate(hits):
        once = (hit[0].text, hit[1])
        kept = best.get(once)
        if kept is None or hit[4] > hits[kept][4]:
            best[once] = index
    by_span: dict[tuple[str, int, int], int] = {}
    for index in sorted(best.values()):
        hit = hits[index]
        span = (hit[1], hit[2], hit[3])
        kept = by_span.get(span)
        if kept is None or hit[4] > hits[kept][4]:
            by_span[span] = index
    chosen = [hits[index] for index in sorted(by_span.values())]
    score = 0.0
    for hit in chosen:
        score += hit[4]
    return chosen, score


# The generated __init__ of a frozen dataclass sets every field through
# object.__setattr__; with about ten Tags and Matches an item that was an eighth
# of classify's time. These two (and classify, for the Classification) fill the
# instance's dict directly, item by item, with no keyword dict built: the objects
# are the same (equal, hashable, frozen). tests/test_classify.py checks that the
# model classes stay plain enough for this (no __post_init__, no __slots__).
_new = object.__new__


def _match(term: str, field: str, start: int, end: int, weight: float) -> Match:
    """``Match(term, field, start, end, weight)``, made faster."""
    match = _new(Match)
    fields = match.__dict__  # item assignment: no keyword dict built per call
    fields["term"] = term
    fields["field"] = field
    fields["start"] = start
    fields["end"] = end
    fields["weight"] = weight
    return match


def _tag(name: str, score: float, matches: tuple[Match, ...]) -> Tag:
    """``Tag(name, score, matches)``, made faster."""
    tag = _new(Tag)
    fields = tag.__dict__
    fields["name"] = name
    fields["score"] = score
    fields["matches"] = matches
    return tag


def _matches(hits: list[tuple]) -> tuple[Match, ...]:
    return tuple([_match(h[0].text, h[1], h[2], h[3], h[4]) for h in hits])


def _near_exclusion(hit: tuple, near: Sequence[tuple], window: int, texts: dict[str, str]) -> Term | None:
    """The exclude_near term within ``window`` words of a hit, if any."""
    field = hit[1]
    folded = texts[field]
    first = folded.count(" ", 0, hit[2])
    last = folded.count(" ", 0, hit[3])
    for term, where, start, end in near:
        if where != field:
            continue
        gap = max(folded.count(" ", 0, start) - last, first - folded.count(" ", 0, end))
        if gap <= window:
            return term
    return None


def _covering(hit: tuple, places: list[tuple], masks: list) -> str | None:
    """The phrase that hides a place hit: a mask, an ignore of its country, or a longer place name.

    "U.S.-Mexico border" (a mask) hides "Mexico"; "New Mexico" (a place in the
    United States) hides "Mexico" too.
    """
    field, start, end, owner = hit[1], hit[2], hit[3], hit[6]
    for mask_owner, term, where, mask_start, mask_end in masks:
        if where == field and mask_start <= start and end <= mask_end and (mask_owner == -1 or mask_owner == owner):
            return term.text
    length = end - start
    for other in places:
        if other[1] == field and other[2] <= start and end <= other[3] and other[3] - other[2] > length:
            return other[0].text
    return None
