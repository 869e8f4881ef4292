"""How fast the classifier is, against a naive loop of one regular expression per term.

Run from the repository root::

    python benchmarks/classify.py            # 100,000 items
    python benchmarks/classify.py --items 20000 --naive-sample 500

Items are generated: titles and 1-3 sentence summaries sampled from the texts in
/work/shared/seeds/*.txt, with terms of the taxonomy spliced in so that items
match as news items do. Two taxonomies are measured on the same items: the one in
classifiers/ (a small built-in one when that folder is empty) and a synthetic one
of 300 themes x 30 terms. The naive loop runs on a sample and is extrapolated per
item. Folding is included in every figure. Times are the CPU time of this
process (time.process_time), best of --repeat runs, so that other work on the
machine disturbs the figures less.

Targets: >= 30,000 items/s with the default taxonomy on one core; >= 200x faster
than the naive loop at 9,000 terms; <= 2.5x slower at 9,000 terms than at default.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
import unicodedata
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from borderlinks.classify import Classifier, fold_text, load_places, load_themes  # noqa: E402
from borderlinks.errors import ConfigError  # noqa: E402
from borderlinks.themes import Country, Gazetteer, Term, Theme, parse_term  # noqa: E402

SEEDS = Path("/work/shared/seeds")

# A small taxonomy for when classifiers/ is still empty: the shape of the real one.
BUILTIN_THEMES = {
    "enforcement": ["Border Patrol", "CBP", "ICE", "border wall", "deportation*", "detention center*", "Patrulla Fronteriza", "deportaci*", "deportaç*"],
    "asylum": ["asylum seeker*", "asylum", "refugee*", "solicitante? de asilo", "refugiado?", "refúgio", "asilo"],
    "darien": ["Darien Gap", "Darién", "Tapón del Darién", "selva del Darién", "jungle crossing*"],
    "organized-crime": ["cartel*", "Sinaloa Cartel", "gang*", "Tren de Aragua", "MS-13", "narcotráfico", "crimen organizado", "crime organizado"],
    "remittances": ["remittance*", "remesa*", "remessa*"],
    "smuggling": ["smuggler*", "human smuggling", "coyote*", "tráfico de personas", "contrabando"],
    "policy": ["Title 42", "parole", "CBP One", "executive order*", "Remain in Mexico", "TPS", "Temporary Protected Status"],
    "security": ["security assistance", "military aid", "homicide*", "violence", "violencia", "violência"],
    "human-rights": ["human rights", "derechos humanos", "direitos humanos", "Human Rights Watch", "Amnesty International"],
    "elections": ["election*", "elección", "elecciones", "eleições", "ballot*", "vote*"],
}
BUILTIN_PLACES = {
    "United States": (["United States", "U.S.", "Estados Unidos", "EUA"], ["American?"], ["Texas", "Arizona", "El Paso", "Eagle Pass", "Washington", "Los Angeles"]),
    "Mexico": (["Mexico", "México"], ["Mexican?", "mexicano?"], ["Tamaulipas", "Tijuana", "Chiapas", "Ciudad Juárez", "Mexico City"]),
    "Colombia": (["Colombia", "Colômbia"], ["Colombian?", "colombiano?"], ["Bogotá", "Medellín", "Cauca", "ELN"]),
    "Panama": (["Panama", "Panamá"], ["Panamanian?"], ["Darién", "Darien Gap"]),
    "Venezuela": (["Venezuela"], ["Venezuelan?", "venezolano?"], ["Caracas", "Tren de Aragua"]),
    "El Salvador": (["El Salvador"], ["Salvadoran?"], ["San Salvador", "MS-13"]),
    "Guatemala": (["Guatemala"], ["Guatemalan?"], ["Guatemala City"]),
    "Honduras": (["Honduras"], ["Honduran?"], ["Tegucigalpa", "San Pedro Sula"]),
    "Haiti": (["Haiti", "Haití"], ["Haitian?"], ["Port-au-Prince"]),
    "Brazil": (["Brazil", "Brasil"], ["Brazilian?", "brasileiro?"], ["São Paulo", "Rio de Janeiro", "Roraima"]),
}


def builtin_taxonomy() -> tuple[list[Theme], Gazetteer]:
    themes = [
        Theme(slug, slug.replace("-", " ").title(), tuple(parse_term(t) for t in terms))
        for slug, terms in BUILTIN_THEMES.items()
    ]
    countries = tuple(
        Country(name, tuple(map(parse_term, names)), tuple(map(parse_term, demonyms)), tuple(map(parse_term, places)))
        for name, (names, demonyms, places) in BUILTIN_PLACES.items()
    )
    return themes, Gazetteer(countries)


def default_taxonomy() -> tuple[list[Theme], Gazetteer, str]:
    folder = REPO / "classifiers"
    try:
        themes = load_themes(folder)
        places = load_places(folder / "places") if (folder / "places").is_dir() else Gazetteer()
    except ConfigError as e:
        print(f"classifiers/ does not load ({str(e).splitlines()[0]}); using the built-in taxonomy", file=sys.stderr)
        themes, places = [], Gazetteer()
    if not themes:
        themes, places = builtin_taxonomy()
        return themes, places, "built-in (classifiers/ is empty)"
    return themes, places, f"classifiers/ ({len(themes)} themes, {len(places.countries)} countries)"


def all_terms(themes: list[Theme], places: Gazetteer) -> list[Term]:
    terms = [t for theme in themes for t in theme.terms]
    terms += [t for c in places.countries for _, t in c.evidence()]
    return terms


# --- items ---------------------------------------------------------------------


def seed_sentences() -> list[str]:
    sentences = []
    for path in sorted(SEEDS.glob("*.txt")):
        text = " ".join(path.read_text(encoding="utf-8", errors="replace").split())
        for sentence in re.split(r"(?<=[.!?”])\s+(?=[A-Z“¿¡])", text):
            words = sentence.split()
            if 6 <= len(words) <= 45 and not re.search(r"https?://|\d{4,}\s*\d", sentence):
                sentences.append(sentence)
    return sentences


def make_items(count: int, sentences: list[str], terms: list[str], rng: random.Random) -> list[tuple[str, str]]:
    """News-like items: a headline and 1-3 sentences, about half with a term or two spliced in."""

    def splice(words: list[str], n: int) -> list[str]:
        for _ in range(n):
            words.insert(rng.randrange(len(words) + 1), rng.choice(terms))
        return words

    items = []
    for _ in range(count):
        head = rng.choice(sentences).rstrip(".").split()[: rng.randint(6, 13)]
        title = " ".join(splice(head, rng.choice((0, 0, 1, 1, 2))))
        body = " ".join(rng.choice(sentences) for _ in range(rng.randint(1, 3))).split()
        summary = " ".join(splice(body, rng.choice((0, 1, 1, 2, 3))))
        items.append((title, summary))
    return items


SINGLE_WORDS = 0.25  # share of single-word terms
REAL_PHRASES = 0.10  # share of phrases that occur in the seed texts; the rest pair rare words
COMMON_WORDS = 2_000  # single words come from outside the most frequent ones


def synthetic_taxonomy(sentences: list[str], rng: random.Random, themes: int = 300, per_theme: int = 30) -> list[Theme]:
    """300 themes of 30 terms, shaped like a real taxonomy's terms.

    A quarter are single words, drawn from outside the 1,000 most frequent words
    of the seed texts (a theme's single words are specific: "remittances", not
    "government"); the rest are two- and three-word phrases that occur in the
    seed texts ("security assistance"); one in seven ends in a wildcard.
    """
    words_of = [re.findall(r"[a-zà-ÿ]+", s.lower()) for s in sentences]
    counts = Counter(w for words in words_of for w in words if len(w) >= 4)
    common = {w for w, _ in counts.most_common(COMMON_WORDS)}
    singles = sorted(w for w in counts if w not in common)
    phrases: set[tuple[str, ...]] = set()
    for words in words_of:
        for n in (2, 3):
            for i in range(len(words) - n + 1):
                gram = tuple(words[i : i + n])
                if len(gram[0]) >= 4 and len(gram[-1]) >= 4 and not set(gram) <= common:
                    phrases.add(gram)
    pool = sorted(phrases)
    result = []
    for number in range(themes):
        terms: dict[str, Term] = {}
        while len(terms) < per_theme:
            draw = rng.random()
            if draw < SINGLE_WORDS:
                words = [rng.choice(singles)]
            elif draw < SINGLE_WORDS + REAL_PHRASES:
                words = list(rng.choice(pool))
            else:
                words = rng.sample(singles, rng.choice((2, 3)))
            if rng.random() < 1 / 7:
                words[-1] += "*"
            text = " ".join(words)
            terms[text] = parse_term(text)
        result.append(Theme(f"synthetic-{number}", f"Synthetic {number}", tuple(terms.values())))
    return result


# --- measuring -------------------------------------------------------------------


def rate(classifier: Classifier, items: list[tuple[str, str]], repeat: int) -> tuple[float, float, float]:
    """Items per second (best of ``repeat`` runs), themes per item, and automaton hits per item."""
    classify = classifier.classify
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for title, summary in items:
            classify(title, summary)
        best = min(best, time.process_time() - start)
    sample = items[:5_000]
    themes = sum(len(classify(t, s).themes) for t, s in sample) / len(sample)
    hits = sum(len(d.matches) for t, s in sample for d in classifier.decide(t, s)) / len(sample)
    return len(items) / best, themes, hits


def naive_patterns(terms: list[Term]) -> list[re.Pattern[str]]:
    """The loop we replace: one compiled pattern per term, on lower-cased text."""
    patterns = []
    for term in terms:
        body = re.escape(term.text.lower()).replace(r"\*", r"\w*").replace(r"\?", r"\w?")
        patterns.append(re.compile(r"\b" + body + r"\b"))
    return patterns


def naive_rate(patterns: list[re.Pattern[str]], items: list[tuple[str, str]]) -> float:
    start = time.process_time()
    for title, summary in items:
        text = f"{title}\n{summary}".lower()
        found = [p for p in patterns if p.search(text)]
        del found
    return len(items) / (time.process_time() - start)


_PUNCT = re.compile(r"[\W_]+")


def textbook_fold(text: str) -> str:
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).lower()
    return _PUNCT.sub(" ", text).strip()


def fold_rates(texts: list[str]) -> tuple[float, float, float]:
    timings = []
    for fold in (fold_text, textbook_fold):
        start = time.process_time()
        for text in texts:
            fold(text)
        timings.append(time.process_time() - start)
    share = sum(not t.isascii() for t in texts) / len(texts)
    return len(texts) / timings[0], len(texts) / timings[1], share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--naive-sample", type=int, default=1_000, help="items the naive loop runs on (extrapolated per item)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per taxonomy; the best counts")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    themes, places, described = default_taxonomy()
    default_terms = all_terms(themes, places)
    sentences = seed_sentences()
    items = make_items(args.items, sentences, [t.text.rstrip("*?") for t in default_terms], rng)
    synthetic = synthetic_taxonomy(sentences, rng)
    synthetic_terms = [t for theme in synthetic for t in theme.terms]

    print(f"{len(items):,} items from {len(sentences):,} seed sentences; taxonomy: {described}")
    start = time.process_time()
    default = Classifier(themes, places)
    print(f"default taxonomy: {len(default_terms):,} terms, compiled in {time.process_time() - start:.2f}s")
    start = time.process_time()
    big = Classifier(synthetic, places)
    print(f"synthetic taxonomy: {len(synthetic_terms):,} theme terms + the places, compiled in {time.process_time() - start:.2f}s")

    default_rate, default_themes, default_hits = rate(default, items, args.repeat)
    big_rate, big_themes, big_hits = rate(big, items, args.repeat)
    sample = items[: args.naive_sample]
    naive = naive_rate(naive_patterns(synthetic_terms + all_terms([], places)), sample)

    fast, textbook, share = fold_rates([f"{t} {s}" for t, s in items[:20_000]])

    terms = f"{len(synthetic_terms):,} terms"
    print(f"\nbest of {args.repeat} runs over {len(items):,} items; CPU time of this one process (one core), folding included:")
    print(f"items/s, default taxonomy:       {default_rate:>10,.0f}   ({default_themes:.1f} themes and {default_hits:.1f} matches per item)")
    print(f"items/s, {terms}:            {big_rate:>10,.0f}   ({big_themes:.1f} themes and {big_hits:.1f} matches per item)")
    print(f"items/s, naive loop, {terms}: {naive:>10,.1f}   (measured on {len(sample):,} items, extrapolated per item)")
    print()
    speedup = big_rate / naive
    slowdown = default_rate / big_rate
    print(f"default taxonomy:    {default_rate:>8,.0f} items/s  target >= 30,000  {'ok' if default_rate >= 30_000 else 'MISSED'}")
    print(f"vs naive at {terms}: {speedup:>6,.0f}x faster   target >= 200x    {'ok' if speedup >= 200 else 'MISSED'}")
    print(f"{terms} vs default: {slowdown:>6.2f}x slower   target <= 2.5x    {'ok' if slowdown <= 2.5 else 'MISSED'}")
    print(f"fold_text: {fast:,.0f} texts/s; textbook NFKD loop: {textbook:,.0f} texts/s; "
          f"fold_text is {fast / textbook:.1f}x faster ({share:.0%} of the texts are not ASCII)")


if __name__ == "__main__":
    main()
