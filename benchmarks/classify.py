"""How fast the classifier is, against a naive loop of one regular expression per term.

Run from the repository root::

    python benchmarks/classify.py            # 100,000 items
    python benchmarks/classify.py --items 20000 --naive-sample 500

Items are generated: titles and 1-3 sentence summaries sampled from the texts in
/work/shared/seeds/*.txt, with terms of the taxonomy spliced in so that items
match as news items do. Two taxonomies are measured on the same items: the one in
classifiers/ (a small built-in one when that folder is empty) and a synthetic one
of 300 themes x 30 terms. The naive loop runs on a sample and is extrapolated per
item. Folding is included in every figure.

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


def synthetic_taxonomy(sentences: list[str], rng: random.Random, themes: int = 300, per_theme: int = 30) -> list[Theme]:
    """300 themes of 30 terms of 1-3 content words drawn from the seed texts."""
    counts = Counter(w for s in sentences for w in re.findall(r"[A-Za-zÀ-ÿ]{4,}", s.lower()))
    common = {w for w, _ in counts.most_common(150)}
    vocabulary = sorted(w for w in counts if w not in common)
    result = []
    for number in range(themes):
        terms: dict[str, Term] = {}
        while len(terms) < per_theme:
            words = rng.sample(vocabulary, rng.choice((1, 1, 2, 2, 2, 3)))
            if rng.random() < 0.15:
                words[-1] += "*"
            text = " ".join(words)
            terms[text] = parse_term(text)
        result.append(Theme(f"synthetic-{number}", f"Synthetic {number}", tuple(terms.values())))
    return result


# --- measuring -------------------------------------------------------------------


def rate(classifier: Classifier, items: list[tuple[str, str]]) -> tuple[float, int]:
    classify = classifier.classify
    tagged = 0
    start = time.perf_counter()
    for title, summary in items:
        if classify(title, summary).themes:
            tagged += 1
    return len(items) / (time.perf_counter() - start), tagged


def naive_patterns(terms: list[Term]) -> list[re.Pattern[str]]:
    """The loop we replace: one compiled pattern per term, on lower-cased text."""
    patterns = []
    for term in terms:
        body = re.escape(term.text.lower()).replace(r"\*", r"\w*").replace(r"\?", r"\w?")
        patterns.append(re.compile(r"\b" + body + r"\b"))
    return patterns


def naive_rate(patterns: list[re.Pattern[str]], items: list[tuple[str, str]]) -> float:
    start = time.perf_counter()
    for title, summary in items:
        text = f"{title}\n{summary}".lower()
        found = [p for p in patterns if p.search(text)]
        del found
    return len(items) / (time.perf_counter() - start)


_PUNCT = re.compile(r"[\W_]+")


def textbook_fold(text: str) -> str:
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).lower()
    return _PUNCT.sub(" ", text).strip()


def fold_rates(texts: list[str]) -> tuple[float, float, float]:
    timings = []
    for fold in (fold_text, textbook_fold):
        start = time.perf_counter()
        for text in texts:
            fold(text)
        timings.append(time.perf_counter() - start)
    share = sum(not t.isascii() for t in texts) / len(texts)
    return len(texts) / timings[0], len(texts) / timings[1], share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--naive-sample", type=int, default=2_000, help="items the naive loop runs on (extrapolated per item)")
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
    start = time.perf_counter()
    default = Classifier(themes, places)
    print(f"default taxonomy: {len(default_terms):,} terms, compiled in {time.perf_counter() - start:.2f}s")
    start = time.perf_counter()
    big = Classifier(synthetic, places)
    print(f"synthetic taxonomy: {len(synthetic_terms):,} theme terms + the places, compiled in {time.perf_counter() - start:.2f}s")

    default_rate, tagged = rate(default, items)
    big_rate, big_tagged = rate(big, items)
    sample = items[: args.naive_sample]
    naive = naive_rate(naive_patterns(synthetic_terms + all_terms([], places)), sample)

    fast, textbook, share = fold_rates([f"{t} {s}" for t, s in items[:20_000]])

    print()
    print(f"items/s, default taxonomy:        {default_rate:>12,.0f}   ({tagged / len(items):.0%} of items get a theme)")
    print(f"items/s, {len(synthetic_terms):,} terms:              {big_rate:>12,.0f}   ({big_tagged / len(items):.0%} get a theme)")
    print(f"items/s, naive loop at {len(synthetic_terms):,} terms: {naive:>12,.1f}   (measured on {len(sample):,} items, extrapolated per item)")
    print()
    speedup = big_rate / naive
    slowdown = default_rate / big_rate
    print(f"default taxonomy:  {default_rate:,.0f} items/s   target >= 30,000   {'ok' if default_rate >= 30_000 else 'MISSED'}")
    print(f"vs naive at 9,000: {speedup:,.0f}x faster        target >= 200x     {'ok' if speedup >= 200 else 'MISSED'}")
    print(f"9,000 vs default:  {slowdown:.2f}x slower         target <= 2.5x     {'ok' if slowdown <= 2.5 else 'MISSED'}")
    print(f"fold_text: {fast:,.0f} texts/s; textbook NFKD loop: {textbook:,.0f} texts/s; "
          f"fold_text is {fast / textbook:.1f}x faster ({share:.0%} of texts are not ASCII)")


if __name__ == "__main__":
    main()
