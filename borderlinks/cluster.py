"""Story clustering: group the items that report the same story.

Outlets rewrite a story in their own words and languages, so exact hashing
finds few duplicates, and comparing every pair of items is quadratic. Each
item is reduced to language-independent *keys*: folded names and acronyms,
normalised figures ("1,200", "1.200", "1200", "10 mil"), and content words
mapped through a small Spanish/Portuguese → English lexicon of the beat
(data/lexicon_es_en.tsv), other words to a cognate-friendly stem.

Candidates are the earlier items of a sliding time window that share two of
an item's rarest keys (an inverted index, so the cost grows linearly). Each
candidate pair is verified by :func:`same_story`: the weighted cosine of the
keys, with a bonus for resembling titles in one language (rapidfuzz), fading
in the second half of the window. Weights are fixed, not learned from the
batch: names and figures weigh most, words of the beat (border, migrant) the
lexicon's little, so a pair's score does not change with what else was
fetched. Verified links join groups from the strongest down, each join
needing the average score between the two groups to hold, so one vague item
cannot chain two stories.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import NamedTuple

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
TITLE_GATE = 0.1  # the key similarity a pair needs before its titles are compared
# An item looks for candidates through its LOOKUPS rarest keys held in the window, among the
# latest MAX_POSTINGS items holding each.
LOOKUPS = 8
MAX_POSTINGS = 20
# At most this many candidates are verified per item: those met first, through the rarest keys.
MAX_CANDIDATES = 8
# Keys weighing this much or more find candidates; a candidate shares two of them or more.
INDEX_WEIGHT = 0.8
# Joining two groups needs the average score between their members (the first GUARD_SAMPLE of
# each) to reach THRESHOLD: a guard against chaining two stories through one vague item.
GUARD_SAMPLE = 6
DEFAULT_PRIORITY = 5

# Weights of the kinds of key; lexicon entries carry their own.
NAME = 1.6  # capitalised word or acronym, not a lexicon word
WORD = 1.0  # other content word
NUMBER = 1.6  # a figure of 10 or more
ROUNDED = 0.8  # the same figure to two significant digits, for "8,347" / "about 8,300"
SMALL_NUMBER = 0.6
YEAR = 0.3
TITLE_BOOST = 1.5  # a key in the title says more about the story than one in the summary
SUMMARY_WORDS = 80

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

# "U.S.", "US", "EE.UU.", "EEUU", "EUA" are one country and "us" is a pronoun: settle it before folding.
_US = re.compile(r"\bU\.\s?S\.(?:\s?A\.)?|\bU\.\s?S\b|\bUSA\b|\bUS\b|\bEE\.\s?UU\.?|\bEEUU\b|\bEUA\b")
# A figure, a word, or the end of a sentence (after which a capital says nothing).
_TOKEN = re.compile(r"(\d+(?:[.,]\d+)*)|([^\W\d_]+)|[.!?:]")
_MULTIPLIERS = {
    "thousand": 1e3, "mil": 1e3, "million": 1e6, "millions": 1e6, "millon": 1e6, "millones": 1e6,
    "milhao": 1e6, "milhoes": 1e6, "billion": 1e9, "billions": 1e9, "bilhao": 1e9, "bilhoes": 1e9,
}

@dataclass(frozen=True, slots=True)
class _Lexicon:
    """One language's share of the lexicon, indexed three ways for fast lookup."""

    exact: dict[str, tuple[str, float]]
    prefixes: dict[str, tuple[tuple[str, str, float], ...]]  # first 3 letters -> (prefix, key, weight), longest first
    phrases: dict[str, tuple[tuple[tuple[str, ...], str, float], ...]]  # first word -> (words, key, weight)
    phrase_next: dict[str, frozenset[str]]  # first word of a phrase -> the second words that may follow


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
            # Stopwords never reach the matcher, so phrases are matched without theirs.
            words = [w for w in term.split() if w.rstrip("*") not in STOPWORDS.get(lang, STOPWORDS["en"])]
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
            prefixes=_by_first_letters(prefixes[lang]),
            phrases={
                first: tuple(sorted(entries, key=lambda e: -len(e[0]))) for first, entries in phrases[lang].items()
            },
            phrase_next=_phrase_next(phrases[lang]),
        )
    return result, frozenset(keys)


def _by_first_letters(prefixes: Mapping[str, tuple[str, float]]) -> dict[str, tuple[tuple[str, str, float], ...]]:
    """Prefixes grouped by their first three letters, longest first, so that a word tries only a few."""
    groups: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
    for prefix, (key, weight) in prefixes.items():
        groups[prefix[:3]].append((prefix, key, weight))
    return {first: tuple(sorted(group, key=lambda g: -len(g[0]))) for first, group in groups.items()}


def _phrase_next(phrases: Mapping[str, list[tuple[tuple[str, ...], str, float]]]) -> dict[str, frozenset[str]]:
    """For a quick check before matching phrases: each first word, with its plural forms, and what may follow it."""
    following: dict[str, set[str]] = defaultdict(set)
    for first, entries in phrases.items():
        for words, _, _ in entries:
            second = words[1]
            seconds = {second.rstrip("*")} | ({second[:-1] + "s", second[:-1] + "es"} if second.endswith("*") else set())
            for end in ("", "s", "es") if words[0].endswith("*") else ("",):
                following[first + end] |= seconds
    return {first: frozenset(seconds) for first, seconds in following.items()}


_DOUBLED = re.compile(r"(.)\1+")


def _one_letter(match: re.Match[str]) -> str:
    return match.group(1)


def _skeleton(word: str) -> str:
    """A cognate-friendly stem: doubled letters collapsed, a plural and final vowels dropped, six letters kept.

    "mission"/"misión" → "mision", "fraud"/"fraude" → "fraud", "votes"/"votos" → "vot".
    """
    stem = _DOUBLED.sub(_one_letter, word) if _DOUBLED.search(word) else word
    if len(stem) > 4 and stem[-1] == "s":
        stem = stem[:-1]
    while len(stem) > 4 and stem[-1] in "aeo":
        stem = stem[:-1]
    return stem[:6]


# What a token is. Words the lexicon knows weigh what it says; others are weighed by how they
# were written: a capital inside a sentence or an acronym marks a name.
_KNOWN, _LOWER, _CAPITAL, _ACRONYM, _FIGURE, _END = range(6)

# A token: (folded word or figure, key or None, weight, kind, special, capitalised). "Special"
# tokens need a second look: a figure, the end of a sentence, a word that may open a phrase.
_Token = tuple[str, str | None, float, int, bool, bool]
_SENTENCE_END: _Token = ("", None, 0.0, _END, True, False)


# (language, word as written) -> its token: the same word comes in many chunks ("Petro", "Petro,").
_WORDS: dict[tuple[str, str], _Token] = {}


def _word(lang: str, raw: str, word: str) -> _Token:
    """The token of one word, ``raw`` as written and ``word`` folded; see _read_word."""
    token = _WORDS.get((lang, raw))
    if token is None:
        token = _read_word(lang, raw, word)
        if len(_WORDS) < 200_000:
            _WORDS[(lang, raw)] = token
    return token


def _read_word(lang: str, raw: str, word: str) -> _Token:
    """Find a word's key: the lexicon's, exact then by prefix, else a cognate-friendly stem."""
    lexicons, keys = _lexicons()
    lexicon = lexicons.get(lang) or lexicons["en"]
    key: str | None = None
    weight = WORD
    kind = _KNOWN
    if word in lexicon.exact:
        key, weight = lexicon.exact[word]
    elif "=" + word in keys:
        key = "=" + word
    else:
        for prefix, lexicon_key, lexicon_weight in lexicon.prefixes.get(word[:3], ()):
            if word.startswith(prefix):
                key, weight = lexicon_key, lexicon_weight
                break
        if key is None:
            key = _skeleton(word)
            kind = _ACRONYM if raw[1:2].isupper() else _CAPITAL if raw[:1].isupper() else _LOWER
    special = word in lexicon.phrase_next or word in _MULTIPLIERS
    return (word, key, weight, kind, special, raw[:1].isupper())


# (language, whitespace-separated chunk as written) -> its tokens. Chunks repeat endlessly across
# items, so each is split, folded and looked up once.
_CHUNKS: dict[str, dict[str, tuple[_Token, ...]]] = defaultdict(dict)


def _chunk(lang: str, chunk: str) -> tuple[_Token, ...]:
    text = _US.sub(" EEUU ", chunk) if "U" in chunk else chunk
    tokens: list[_Token] = []
    stopwords = STOPWORDS.get(lang, STOPWORDS["en"])
    for figure, raw in _TOKEN.findall(text):
        if figure:
            tokens.append((figure, None, _number(figure), _FIGURE, True, False))
        elif not raw:
            tokens.append(_SENTENCE_END)
        elif len(raw) > 1:
            word = raw.lower() if raw.isascii() else fold_text(raw).replace(" ", "")
            if word not in stopwords:
                tokens.append(_word(lang, raw, word))
    result = tuple(tokens)
    cache = _CHUNKS[lang]
    if len(cache) < 200_000:
        cache[chunk] = result
    return result


def _phrase_at(lexicon: _Lexicon, tokens: Sequence[_Token], i: int) -> tuple[int, str, float] | None:
    """The longest lexicon phrase starting at ``tokens[i]``: its length in tokens, key and weight."""
    first = tokens[i][0]
    entries = lexicon.phrases.get(first) or lexicon.phrases.get(first[:-1]) or lexicon.phrases.get(first[:-2])
    if not entries:
        return None
    for pattern, key, weight in entries:
        n = len(pattern)
        if i + n > len(tokens):
            continue
        for token, expected in zip(tokens[i : i + n], pattern, strict=True):
            word = token[0]
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


@lru_cache(maxsize=65536)
def _number_keys(value: float, has_separator: bool) -> tuple[tuple[str, float], ...]:
    """The keys of a figure: exact, and rounded to two significant digits for figures of 100 or more."""
    if value != int(value) or value < 0:
        return ((f"#{value:g}", NUMBER),)
    n = int(value)
    if not has_separator and 1900 <= n <= 2100:
        return ((f"#{n}", YEAR),)
    if n < 10:
        return ((f"#{n}", SMALL_NUMBER),) if n >= 2 else ()
    if n < 100:
        return ((f"#{n}", NUMBER),)
    return ((f"#{n}", NUMBER), (f"~{round(n, 2 - len(str(n)))}", ROUNDED))


def _add_keys(keys: dict[str, float], text: str, lang: str, title: bool) -> None:
    """Add the keys of one field (title or summary) to ``keys``, keeping the heaviest weight of each."""
    if "EE" in text:
        text = _US.sub(" EEUU ", text)  # "EE. UU." spans two chunks
    cache = _CHUNKS[lang]
    chunks = text.split()
    found = [cache.get(c) for c in chunks]
    if None in found:
        found = [f if f is not None else _chunk(lang, c) for f, c in zip(found, chunks, strict=True)]
    tokens = [t for f in found for t in f]  # type: ignore[union-attr]
    # In a title-cased headline capitals say nothing.
    trust_case = True
    if title:
        words = [t for t in tokens if t[3] < _FIGURE]
        trust_case = sum(1 for t in words if t[5]) * 2 <= len(words)
    lexicons, _ = _lexicons()
    lexicon = lexicons.get(lang) or lexicons["en"]
    boost = TITLE_BOOST if title else 1.0
    get = keys.get
    start = True  # of a sentence, where a capital says nothing
    skip = 0
    for i, (word, key, weight, kind, special, _) in enumerate(tokens):
        if i < skip:
            continue
        if not special and kind < _CAPITAL:  # most words: the key and weight are the word's own
            weight *= boost
            if weight > get(key, 0.0):  # type: ignore[arg-type]
                keys[key] = weight  # type: ignore[index]
            start = False
            continue
        if special:
            if kind == _END:
                start = True
                continue
            if kind == _FIGURE:
                value = weight
                skip = i + 1
                while skip < len(tokens) and tokens[skip][0] in _MULTIPLIERS:  # "10 mil", "2,8 millones"
                    value *= _MULTIPLIERS[tokens[skip][0]]
                    skip += 1
                for key, weight in _number_keys(value, "," in word or "." in word):
                    weight *= boost
                    if weight > get(key, 0.0):
                        keys[key] = weight
                start = False
                continue
            following = lexicon.phrase_next.get(word)
            if following and i + 1 < len(tokens) and tokens[i + 1][0] in following:
                phrase = _phrase_at(lexicon, tokens, i)
                if phrase is not None:
                    length, key, weight = phrase
                    skip = i + length
                    kind = _KNOWN
        if key is not None:
            if kind == _CAPITAL:
                if trust_case and not start:
                    weight = NAME
            elif kind == _ACRONYM:
                weight = NAME
            weight *= boost
            if weight > get(key, 0.0):
                keys[key] = weight
        start = False


def story_keys(item: Item) -> dict[str, float]:
    """The language-independent keys of an item with their weights, title keys weighing more.

    Only the first SUMMARY_WORDS words of the summary count: the lead carries
    the story, and some feeds put whole articles there.
    """
    keys: dict[str, float] = {}
    _add_keys(keys, item.title, item.language, title=True)
    summary = item.summary
    if summary.count(" ") >= SUMMARY_WORDS:
        summary = " ".join(summary.split()[:SUMMARY_WORDS])
    _add_keys(keys, summary, item.language, title=False)
    return keys


class _Profile(NamedTuple):
    """What verification needs of an item, computed once."""

    item: Item
    time: float  # seconds since the epoch
    url: str
    language: str
    keys: dict[str, float]
    keyset: frozenset[str]
    index: list[str]  # the keys that find candidates: those weighing at least INDEX_WEIGHT
    norm: float  # square root of the sum of the key weights
    title: str  # folded, for the pairs whose titles are compared


def _profile(item: Item) -> _Profile:
    # Weights rounded to 1/64 add up exactly in any order, so a plain sum gives
    # the same score whichever way a set yields the shared keys.
    raw = story_keys(item)
    keys = {key: round(weight * 64) / 64 for key, weight in raw.items()}
    return _Profile(
        item=item,
        time=item.published.timestamp(),
        url=canonical_url(item.url),
        language=item.language,
        keys=keys,
        keyset=frozenset(keys),
        index=[key for key, weight in raw.items() if weight >= INDEX_WEIGHT],
        norm=math.sqrt(sum(keys.values())),
        title=fold_text(item.title),
    )


def _score(a: _Profile, b: _Profile, window_hours: float, ratio: Callable[..., float]) -> float:
    """Weighted cosine of the keys, plus a bonus for resembling titles in one language, fading late in the window.

    The title bonus needs some shared keys first: titles alike in their small
    words only say nothing. Reports of one story come within about a day of
    each other; a similar report two days later is more often a follow-up.
    """
    hours = abs(a.time - b.time) / 3600
    if hours >= window_hours:
        return 0.0
    common = a.keyset & b.keyset
    shared = sum(map(min, map(a.keys.__getitem__, common), map(b.keys.__getitem__, common)))
    similarity = shared / (a.norm * b.norm) if shared else 0.0
    if similarity >= TITLE_GATE and a.language == b.language:
        resemblance = ratio(a.title, b.title, score_cutoff=TITLE_FLOOR * 100) / 100
        if resemblance > TITLE_FLOOR:
            similarity += TITLE_BONUS * (resemblance - TITLE_FLOOR)
    if hours > window_hours / 2:
        similarity *= (window_hours - hours) / (window_hours / 2)
    return min(1.0, similarity)


def same_story(a: Item, b: Item, *, window_hours: float = 48) -> float:
    """How surely ``a`` and ``b`` report the same story, 0 to 1; :data:`THRESHOLD` and above links them.

    Items with the same canonical URL score 1. Otherwise the score is the
    weighted cosine of their keys (names, figures, lexicon words), raised when
    their titles nearly match, and fading to 0 as they grow ``window_hours`` apart.
    """
    from rapidfuzz.fuzz import token_set_ratio

    pa, pb = _profile(a), _profile(b)
    if pa.url and pa.url == pb.url:
        return 1.0
    return _score(pa, pb, window_hours, token_set_ratio)


def _lead(items: Sequence[Item], priority: Mapping[str, int]) -> int:
    """The index of the item to show: highest priority, then most complete (longer summary, an author), then earliest."""
    return min(
        range(len(items)),
        key=lambda k: (
            -priority.get(items[k].source_id, DEFAULT_PRIORITY),
            -len(items[k].summary),
            not items[k].author,
            items[k].published,
            items[k].id,
        ),
    )


def _candidates(profiles: Sequence[_Profile], window_seconds: float) -> Iterator[tuple[int, int]]:
    """Pairs of indexes (earlier, later) sharing rare keys within the window; ``profiles`` sorted by time.

    Each key lists the items that have it. An item looks up LOOKUPS of its
    keys held in the window, rarest first (fewest items of the batch), and the
    latest MAX_POSTINGS items holding each; an earlier item met through two of
    them is a candidate, and the lookups stop at MAX_CANDIDATES. So the cost
    grows with the number of items, not with its square.
    """
    frequency = Counter(key for p in profiles for key in p.index)
    rarity = frequency.__getitem__
    postings: dict[str, list[int]] = defaultdict(list)
    first = 0  # the earliest item still in the window
    for i, p in enumerate(profiles):
        horizon = p.time - window_seconds
        while profiles[first].time < horizon:
            first += 1
        seen: set[int] = set()
        found: set[int] = set()  # earlier items met through two keys or more
        lookups = 0
        for key in sorted(p.index, key=rarity):
            posting = postings.get(key)
            if not posting or posting[-1] < first:
                continue  # nobody in the window has it
            holders = posting[-MAX_POSTINGS:]
            if holders[0] < first:
                holders = holders[bisect_left(holders, first) :]
            found.update(seen.intersection(holders))
            if len(found) >= MAX_CANDIDATES:
                break
            seen.update(holders)
            lookups += 1
            if lookups == LOOKUPS:
                break
        for key in p.index:
            postings[key].append(i)
        if len(found) > MAX_CANDIDATES:  # the last key found several: keep the nearest in time
            found = set(sorted(found)[-MAX_CANDIDATES:])
        for j in sorted(found):
            yield j, i


class _Groups:
    """Union-find over item indexes, keeping each group's members for the chaining guard."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.groups: dict[int, list[int]] = {}  # root -> members, for groups of two or more

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def members(self, root: int) -> list[int]:
        return self.groups.get(root) or [root]

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        left, right = self.members(ra), self.members(rb)
        if len(left) < len(right):
            ra, rb, left, right = rb, ra, right, left
        self.parent[rb] = ra
        self.groups[ra] = left + right
        self.groups.pop(rb, None)


@dataclass
class ClusterMemo:
    """Keys and pair scores kept between calls, for callers that cluster overlapping sets of items.

    A build clusters each edition's items for each day and month; the same
    items and pairs come up again and again. Valid while the items do not change.
    """

    profiles: dict[str, _Profile] = field(default_factory=dict)  # item id -> keys
    scores: dict[tuple[str, str, float], float] = field(default_factory=dict)  # (earlier id, later id, window) -> score


def _holds_on_average(pair_score: Callable[[int, int], float], left: Sequence[int], right: Sequence[int]) -> bool:
    """Do the pairs across two groups score THRESHOLD on average? Stops as soon as the answer is sure: scores are never negative."""
    needed = THRESHOLD * len(left) * len(right)
    total = 0.0
    for x in left:
        for y in right:
            total += pair_score(x, y)
            if total >= needed:
                return True
    return False


def cluster(
    items: Sequence[Item],
    *,
    priority: Mapping[str, int] | None = None,
    window_hours: float = 48,
    memo: ClusterMemo | None = None,
) -> list[Cluster]:
    """Group the items that report the same story, one cluster per story.

    Every item is in exactly one cluster. Items with the same canonical URL are
    always together; others join when :func:`same_story` links them and the
    link holds on average against the group they join, so one vague item
    cannot chain two stories. ``priority`` maps a source id to 1-10 (default 5)
    and picks each cluster's lead; a cluster's id is its earliest item's, so it
    stays the same as later reports join. Clusters come newest lead first.
    ``memo`` saves computing keys and scores again when overlapping sets of
    items are clustered one after another (editions of a build).
    """
    from rapidfuzz.fuzz import token_set_ratio

    priority = priority or {}
    ordered = sorted(items, key=lambda it: (it.published, it.id))
    memo = memo or ClusterMemo()
    known, remembered = memo.profiles, memo.scores
    profiled = []
    for it in ordered:
        if (profile := known.get(it.id)) is None:
            profile = known[it.id] = _profile(it)
        profiled.append(profile)

    def score_of(x: int, y: int) -> float:
        """The score of two items by index, earlier first, remembered across calls."""
        key = (profiled[x].item.id, profiled[y].item.id, window_hours)
        score = remembered.get(key)
        if score is None:
            score = remembered[key] = _score(profiled[x], profiled[y], window_hours, token_set_ratio)
        return score

    groups = _Groups(len(profiled))

    by_url: dict[str, int] = {}
    for i, p in enumerate(profiled):
        if p.url:
            first = by_url.setdefault(p.url, i)
            if first != i:
                groups.union(first, i)

    links = []
    for j, i in _candidates(profiled, window_hours * 3600):
        score = score_of(j, i)
        if score >= THRESHOLD:
            links.append((-score, j, i))
    links.sort()

    scores: dict[tuple[int, int], float] = {}  # by index: the guard asks for the same pairs many times

    def pair_score(x: int, y: int) -> float:
        pair = (x, y) if x < y else (y, x)
        score = scores.get(pair)
        if score is None:
            score = scores[pair] = score_of(*pair)
        return score

    for _, j, i in links:
        a, b = groups.find(j), groups.find(i)
        if a == b:
            continue
        left, right = groups.members(a)[:GUARD_SAMPLE], groups.members(b)[:GUARD_SAMPLE]
        if (len(left) > 1 or len(right) > 1) and not _holds_on_average(pair_score, left, right):
            continue
        groups.union(a, b)

    by_root: dict[int, list[int]] = defaultdict(list)
    for i in range(len(ordered)):
        by_root[groups.find(i)].append(i)
    clusters = []
    for members in by_root.values():
        group = [ordered[k] for k in members]
        lead = _lead(group, priority)
        clusters.append(Cluster(id=group[0].id, lead=group[lead], others=(*group[:lead], *group[lead + 1 :])))
    clusters.sort(key=lambda c: (-c.lead.published.timestamp(), c.id))
    return clusters
