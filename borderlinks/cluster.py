"""Story clustering: group the items that report the same story.

Outlets rewrite a story in their own words and languages, so exact hashing
finds few duplicates, and comparing every pair of items is quadratic. Each
item is reduced to language-independent *keys*: folded names and acronyms,
normalised numbers ("1,200", "1.200", "1200"), and content words mapped
through a small Spanish/Portuguese → English lexicon. Candidates are the
items that share rare keys within a sliding time window; each candidate pair
is verified by :func:`same_story`, and verified pairs are joined with a guard
against chaining two stories through one vague item.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from borderlinks.folding import fold_text
from borderlinks.model import Cluster, Item
from borderlinks.text import canonical_url

__all__ = ["cluster", "same_story", "story_keys", "THRESHOLD"]

LEXICON = Path(__file__).resolve().parent / "data" / "lexicon_es_en.tsv"

# A verified link needs at least this score; see same_story.
THRESHOLD = 0.15
# Same-language titles that resemble each other beyond this (rapidfuzz token_set_ratio, 0-1) add to the score.
TITLE_FLOOR = 0.6
TITLE_BONUS = 0.5
# A key shared by more than this many items in one window says nothing about a story.
MAX_POSTINGS = 60
# At most this many candidates are verified per item, the ones sharing the most key weight.
MAX_CANDIDATES = 24
# A candidate must share at least this much key weight: one strong key, a name or a figure.
MIN_SHARED = 1.5
# Joining two groups needs the average score between their members (the first GUARD_SAMPLE of
# each) to reach GUARD x THRESHOLD: a guard against chaining stories through one vague item.
GUARD = 1.0
GUARD_SAMPLE = 8

# Weights of the kinds of key; lexicon entries carry their own.
NAME = 1.6  # capitalised word or acronym, not a lexicon word
WORD = 1.0  # other content word
NUMBER = 1.6  # a figure of 10 or more
ROUNDED = 0.8  # the same figure to two significant digits, for "8,347" / "about 8,300"
SMALL_NUMBER = 0.6
YEAR = 0.3
TITLE_BOOST = 1.5  # a key in the title says more about the story than one in the summary

_STOPWORDS = {
    "en": """a about above after again against ago all also am amid among an and any are as at be because been
        before being below between both but by can could did do does doing down during each even ever every few for
        from further had has have having he her here hers him his how however i if in into is it its itself just
        least less like made make makes many may more most much must my near neither no nor not now of off on once
        one only or other our out over own per same says said say she should since so some still such than that the
        their them then there these they this those through to too under until up upon very via was we were what
        when where whether which while who whom whose why will with within without would yet you your us new news
        report reports reported according amid told tells latest update live week weeks today yesterday tomorrow
        monday tuesday wednesday thursday friday saturday sunday morning evening afternoon mr mrs ms
        el la los las de del""",
    "es": """a al algo algunos ante antes aquel aquella aquellos asi aun aunque bajo cada casi como con contra cual
        cuales cuando cuanto de del desde donde dos durante e el ella ellas ellos en entre era eran es esa esas ese
        eso esos esta estaba estan estar este esto estos fue fueron ha habia han hasta hay la las le les lo los mas
        me mi muy mientras ni no nos o otra otras otro otros para pero poco por porque que quien quienes se segun
        sea ser si sido sin sobre son su sus tambien tan tanto te tiene tienen todo todos tras tu un una unas uno
        unos y ya dijo dice dicen afirma afirmo asegura aseguro segun hoy ayer manana lunes martes miercoles jueves
        viernes sabado domingo luego tarde informo informa senalo senala explico mismo misma esto ello sera seran
        puede pueden podria habra hace hacen hizo tras cerca donde aun sr sra""",
    "pt": """a ao aos as ate com como contra da das de dela dele deles depois do dos e ela elas ele eles em entre
        era essa esse esta estao estava este eu foi foram ha isso isto ja la mais mas me mesmo muito na nas nao
        nem no nos num numa o os ou para pela pelas pelo pelos por porque quando que quem se sem ser seu seus sob
        sobre sua suas tambem tem ter todo todos tu um uma umas uns ao apos segundo disse diz afirma afirmou hoje
        ontem amanha segunda terca quarta quinta sexta sabado domingo ainda onde sera pode podem fez faz vez""",
}
STOPWORDS = {lang: frozenset(words.split()) for lang, words in _STOPWORDS.items()}

# "U.S.", "US", "EE.UU.", "EEUU", "EUA" are the same country and "us" is a pronoun: settle it before folding.
_US = re.compile(r"\bU\.\s?S\.(?:\s?A\.)?|\bU\.\s?S\b|\bUSA\b|\bUS\b|\bEE\.\s?UU\.?|\bEEUU\b|\bEUA\b")
_TOKEN = re.compile(r"(\d+(?:[.,]\d+)*)|([^\W\d_]+)")
_SENTENCE_END = re.compile(r"[.!?:]")
_MULTIPLIERS = {
    "thousand": 1e3, "mil": 1e3, "million": 1e6, "millions": 1e6, "millon": 1e6, "millones": 1e6,
    "milhao": 1e6, "milhoes": 1e6, "billion": 1e9, "billions": 1e9, "bilhao": 1e9, "bilhoes": 1e9,
}


@dataclass(frozen=True, slots=True)
class _Lexicon:
    """One language's share of the lexicon, indexed three ways for fast lookup."""

    exact: dict[str, tuple[str, float]]
    prefixes: dict[str, tuple[str, float]]
    prefix_lengths: tuple[int, ...]
    phrases: dict[str, tuple[tuple[tuple[str, ...], str, float], ...]]  # first word -> (words, key, weight)


@cache
def _lexicons() -> tuple[dict[str, _Lexicon], frozenset[str]]:
    """The lexicon per language, and the set of its keys (a word equal to a key maps to it in any language)."""
    exact: dict[str, dict[str, tuple[str, float]]] = defaultdict(dict)
    prefixes: dict[str, dict[str, tuple[str, float]]] = defaultdict(dict)
    phrases: dict[str, dict[str, list[tuple[tuple[str, ...], str, float]]]] = defaultdict(lambda: defaultdict(list))
    keys: set[str] = set()
    for line in LEXICON.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        langs, term, key = fields[0], fields[1], fields[2]
        weight = float(fields[3]) if len(fields) > 3 else 1.0
        key = "=" + key if not key.startswith("#") else key  # apart from the stems of words the lexicon doesn't know
        keys.add(key)
        for lang in langs.split(","):
            words = term.split()
            if len(words) > 1:
                # A star in a phrase allows a plural ending on that word; see _phrase_at.
                phrases[lang][words[0].rstrip("*")].append((tuple(words), key, weight))
            elif term.endswith("*"):
                prefixes[lang][term[:-1]] = (key, weight)
            else:
                exact[lang][term] = (key, weight)
    result = {}
    for lang in set(exact) | set(prefixes) | set(phrases):
        result[lang] = _Lexicon(
            exact=dict(exact[lang]),
            prefixes=dict(prefixes[lang]),
            prefix_lengths=tuple(sorted({len(p) for p in prefixes[lang]}, reverse=True)),
            phrases={
                first: tuple(sorted(entries, key=lambda e: -len(e[0]))) for first, entries in phrases[lang].items()
            },
        )
    return result, frozenset(keys)


def _skeleton(word: str) -> str:
    """A cognate-friendly stem: doubled letters collapsed, a plural and final vowels dropped, six letters kept.

    "mission"/"misión" → "mision", "fraud"/"fraude" → "fraud", "votes"/"votos" → "vot".
    """
    out = []
    previous = ""
    for ch in word:
        if ch != previous:
            out.append(ch)
        previous = ch
    stem = "".join(out)
    if len(stem) > 4 and stem.endswith("s"):
        stem = stem[:-1]
    while len(stem) > 4 and stem[-1] in "aeo":
        stem = stem[:-1]
    return stem[:6]


# (language, folded word) -> (key, weight, from the lexicon); words repeat endlessly across items.
_WORDS: dict[tuple[str, str], tuple[str, float, bool] | None] = {}


def _word_key(lang: str, word: str) -> tuple[str, float, bool] | None:
    """The key of one folded word, its weight, and whether the lexicon knew it; None for a stopword."""
    cached = _WORDS.get((lang, word), False)
    if cached is not False:
        return cached  # type: ignore[return-value]
    result: tuple[str, float, bool] | None
    lexicons, keys = _lexicons()
    lexicon = lexicons.get(lang) or lexicons["en"]
    if word in STOPWORDS.get(lang, STOPWORDS["en"]) or len(word) < 2:
        result = None
    elif word in lexicon.exact:
        key, weight = lexicon.exact[word]
        result = (key, weight, True)
    elif "=" + word in keys:
        result = ("=" + word, 1.0, True)
    else:
        result = None
        for length in lexicon.prefix_lengths:
            if length <= len(word):
                hit = lexicon.prefixes.get(word[:length])
                if hit is not None:
                    result = (hit[0], hit[1], True)
                    break
        if result is None:
            result = (_skeleton(word), WORD, False)
    if len(_WORDS) < 500_000:
        _WORDS[(lang, word)] = result
    return result


def _phrase_at(lexicon: _Lexicon, words: list[str], i: int) -> tuple[int, str, float] | None:
    """The longest lexicon phrase starting at ``words[i]``: its length, key and weight."""
    first = words[i]
    entries = lexicon.phrases.get(first)
    if entries is None and first.endswith("s"):
        entries = lexicon.phrases.get(first[:-1]) or lexicon.phrases.get(first[:-2])
    if not entries:
        return None
    for pattern, key, weight in entries:
        n = len(pattern)
        if i + n > len(words):
            continue
        for word, expected in zip(words[i : i + n], pattern, strict=True):
            if word == expected:
                continue
            if expected.endswith("*"):
                stem = expected[:-1]
                if word == stem or word == stem + "s" or word == stem + "es":
                    continue
            break
        else:
            return n, key, weight
    return None


def _number(text: str) -> float:
    """The value of "1,200", "1.200", "3,5" or "3.5": groups of three digits are thousands."""
    parts = re.split(r"[.,]", text)
    if len(parts) == 1:
        return float(text)
    if all(len(p) == 3 for p in parts[1:]):
        return float("".join(parts))
    return float("".join(parts[:-1]) + "." + parts[-1])


def _number_keys(value: float, has_separator: bool) -> list[tuple[str, float]]:
    if value != int(value) or value < 0:
        return [(f"#{value:g}", NUMBER)]
    n = int(value)
    if not has_separator and 1900 <= n <= 2100:
        return [(f"#{n}", YEAR)]
    if n < 10:
        return [(f"#{n}", SMALL_NUMBER)] if n >= 2 else []
    keys = [(f"#{n}", NUMBER)]
    if n >= 100:
        digits = len(str(n))
        rounded = round(n, 2 - digits)
        keys.append((f"~{rounded}", ROUNDED))
    return keys


def _text_keys(text: str, lang: str, title: bool) -> dict[str, float]:
    """The keys of one field with their weights."""
    lexicons, _ = _lexicons()
    lexicon = lexicons.get(lang) or lexicons["en"]
    text = _US.sub(" EEUU ", text)
    raw: list[str] = []
    numbers: dict[int, str] = {}
    starts: set[int] = {0}  # tokens that open a sentence, where a capital says nothing
    end = 0
    for m in _TOKEN.finditer(text):
        if _SENTENCE_END.search(text, end, m.start()):
            starts.add(len(raw))
        end = m.end()
        if m.group(1):
            numbers[len(raw)] = m.group(1)
            raw.append("")
        else:
            raw.append(m.group(2))
    words = [fold_text(w) if w else "" for w in raw]
    # In a title-cased headline capitals say nothing; elsewhere a capital inside a sentence marks a name.
    capitals = sum(1 for w in raw if w[:1].isupper())
    trust_case = not title or capitals * 2 <= len([w for w in raw if w])
    keys: dict[str, float] = {}

    def add(key: str, weight: float) -> None:
        if weight > keys.get(key, 0.0):
            keys[key] = weight

    i = 0
    n = len(words)
    while i < n:
        word = words[i]
        if not word:
            source = numbers[i]
            value = _number(source)
            i += 1
            while i < n and words[i] in _MULTIPLIERS:  # "10 mil", "2,8 millones", "mil millones"
                value *= _MULTIPLIERS[words[i]]
                i += 1
            for key, weight in _number_keys(value, "," in source or "." in source):
                add(key, weight)
            continue
        if " " in word:  # a letter folded into two, rare
            word = word.replace(" ", "")
        phrase = _phrase_at(lexicon, words, i) if word in lexicon.phrases or word[:-1] in lexicon.phrases else None
        if phrase is not None:
            length, key, weight = phrase
            add(key, weight)
            i += length
            continue
        found = _word_key(lang, word)
        if found is not None:
            key, weight, known = found
            original = raw[i]
            if not known and original[:1].isupper():
                if original[1:2].isupper() or (trust_case and i not in starts):
                    weight = NAME  # an acronym, or a capital inside a sentence
            add(key, weight)
        i += 1
    return keys


def story_keys(item: Item) -> dict[str, float]:
    """The language-independent keys of an item with their weights, title keys weighing more."""
    keys = _text_keys(item.summary, item.language, title=False)
    for key, weight in _text_keys(item.title, item.language, title=True).items():
        keys[key] = max(keys.get(key, 0.0), weight * TITLE_BOOST)
    return keys


@dataclass(frozen=True, slots=True)
class _Profile:
    """What verification needs of an item, computed once."""

    item: Item
    time: float  # seconds since the epoch
    url: str
    keys: dict[str, float]
    mass: float  # sum of the key weights
    title: str  # folded


def _profile(item: Item) -> _Profile:
    keys = story_keys(item)
    return _Profile(
        item=item,
        time=item.published.timestamp(),
        url=canonical_url(item.url),
        keys=keys,
        mass=sum(keys.values()),
        title=fold_text(item.title),
    )


def _score(a: _Profile, b: _Profile, window_hours: float) -> float:
    """Key-set cosine, plus a bonus for near-identical titles in one language, fading in the window's second half.

    Reports of one story come within about a day of each other; a similar report
    two days later is more often a follow-up, a distinct story.
    """
    hours = abs(a.time - b.time) / 3600
    if hours >= window_hours:
        return 0.0
    fade = 1.0 if hours <= window_hours / 2 else (window_hours - hours) / (window_hours / 2)
    small, large = (a.keys, b.keys) if len(a.keys) <= len(b.keys) else (b.keys, a.keys)
    shared = 0.0
    for key, weight in small.items():
        other = large.get(key)
        if other is not None:
            shared += weight if weight < other else other
    if not shared:
        return 0.0
    similarity = shared / math.sqrt(a.mass * b.mass)
    if a.item.language == b.item.language:
        from rapidfuzz.fuzz import token_set_ratio

        resemblance = token_set_ratio(a.title, b.title) / 100
        if resemblance > TITLE_FLOOR:
            similarity += TITLE_BONUS * (resemblance - TITLE_FLOOR)
    return min(1.0, similarity * fade)


def same_story(a: Item, b: Item, *, window_hours: float = 48) -> float:
    """How surely ``a`` and ``b`` report the same story, 0 to 1; :data:`THRESHOLD` and above links them.

    Items with the same canonical URL score 1. Otherwise the score is the
    weighted cosine of their keys (names, figures, lexicon words), raised when
    their titles nearly match, and fading to 0 as they grow ``window_hours`` apart.
    """
    pa, pb = _profile(a), _profile(b)
    if pa.url and pa.url == pb.url:
        return 1.0
    return _score(pa, pb, window_hours)


def _lead(items: Iterable[Item], priority: Mapping[str, int]) -> Item:
    """Highest priority, then most complete (longer summary, an author), then earliest."""
    return min(
        items,
        key=lambda it: (-priority.get(it.source_id, 5), -len(it.summary), not it.author, it.published, it.id),
    )


def _candidates(profiles: Sequence[_Profile], window_seconds: float) -> Iterable[tuple[int, int]]:
    """Pairs of indexes (earlier, later) sharing rare keys within the window; ``profiles`` sorted by time.

    Each key keeps the items of the window that have it; a key held by more
    than MAX_POSTINGS of them is too common to point at a story and is not
    followed. Each item is then compared with at most MAX_CANDIDATES earlier
    items, those sharing the most key weight, so the cost grows with the
    number of items, not its square.
    """
    postings: dict[str, deque[tuple[float, int, float]]] = defaultdict(deque)
    for i, p in enumerate(profiles):
        horizon = p.time - window_seconds
        shared: dict[int, float] = defaultdict(float)
        for key, weight in p.keys.items():
            posting = postings[key]
            while posting and posting[0][0] < horizon:
                posting.popleft()
            if len(posting) <= MAX_POSTINGS:
                for _, j, other in posting:
                    shared[j] += weight if weight < other else other
            posting.append((p.time, i, weight))
        if shared:
            best = sorted(shared.items(), key=lambda jw: (-jw[1], jw[0]))[:MAX_CANDIDATES]
            for j, weight in best:
                if weight >= MIN_SHARED:
                    yield j, i


class _Groups:
    """Union-find over item indexes, keeping each group's members for the chaining guard."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.members: dict[int, list[int]] = {i: [i] for i in range(n)}

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if len(self.members[ra]) < len(self.members[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.members[ra].extend(self.members.pop(rb))


def cluster(
    items: Sequence[Item], *, priority: Mapping[str, int] | None = None, window_hours: float = 48
) -> list[Cluster]:
    """Group the items that report the same story, one cluster per story.

    Every item is in exactly one cluster. Items with the same canonical URL are
    always together; others join when :func:`same_story` links them and the
    link holds on average against the cluster they join, so one vague item
    cannot chain two stories. ``priority`` maps a source id to 1-10 (default 5)
    and picks each cluster's lead; a cluster's id is its earliest item's, so it
    stays the same as later reports join. Clusters come newest lead first.
    """
    priority = priority or {}
    ordered = sorted(items, key=lambda it: (it.published, it.id))
    profiles = [_profile(it) for it in ordered]
    groups = _Groups(len(profiles))

    by_url: dict[str, int] = {}
    for i, p in enumerate(profiles):
        if p.url:
            first = by_url.setdefault(p.url, i)
            if first != i:
                groups.union(first, i)

    window_seconds = window_hours * 3600
    links = []
    for j, i in _candidates(profiles, window_seconds):
        score = _score(profiles[j], profiles[i], window_hours)
        if score >= THRESHOLD:
            links.append((-score, j, i))
    links.sort()

    for _, j, i in links:
        a, b = groups.find(j), groups.find(i)
        if a == b:
            continue
        left, right = groups.members[a][:GUARD_SAMPLE], groups.members[b][:GUARD_SAMPLE]
        if len(left) > 1 or len(right) > 1:
            total = sum(_score(profiles[x], profiles[y], window_hours) for x in left for y in right)
            if total / (len(left) * len(right)) < THRESHOLD * GUARD:
                continue
        groups.union(a, b)

    clusters = []
    for members in groups.members.values():
        group = [ordered[k] for k in sorted(members)]
        lead = _lead(group, priority)
        clusters.append(
            Cluster(id=group[0].id, lead=lead, others=tuple(it for it in group if it is not lead))
        )
    clusters.sort(key=lambda c: (-c.lead.published.timestamp(), c.id))
    return clusters
