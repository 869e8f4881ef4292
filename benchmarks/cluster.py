"""How fast story clustering is, and how well it finds the labelled pairs.

Run from the repository root::

    python benchmarks/cluster.py                      # 20,000 items, naive loop on 1,000
    python benchmarks/cluster.py --items 40000 --naive-sample 500 --crowd 0
    python benchmarks/cluster.py --errors             # plus the labelled pairs it gets wrong

Speed. Items are generated over 30 days at a steady daily volume: titles and
summaries from a word chain over /work/shared/seeds/*.txt and the English
labelled items, with names and figures put in, about as long as the labelled
items (~45 words, ~28 keys). About 15% are rewrites of an earlier item by
another outlet within 30 hours, half of them in another language (words the
lexicon knows translated, names and figures kept, the rest partly dropped).
``cluster`` is timed once cold (first call in the process: lexicon loading and
empty caches included) on all items, then warm on the first 25%, 50% and 100%
of the period, so the volume per day stays the same while the number of items
grows, and on 4x the volume per day. The naive method, every pair compared
with rapidfuzz, is timed on a sample in the same run and extrapolated
quadratically. Figures depend on the machine and on what else runs on it; the
load average is printed.

Quality. tests/data/cluster_pairs.jsonl, split by a hash of the pair id into a
tuning half (thresholds and lexicon were tuned looking at it only) and a
held-out half. Figures are given all 179 items clustered together (the test of
chaining) and each pair clustered alone, then with the labelled items in a
crowd of generated ones, where candidates must be found among many. Exact
hashing (same canonical URL, title or summary) is the baseline.

Targets: 20,000 items in < 3 s; P >= 0.95 and R >= 0.90 on the labelled pairs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from borderlinks.cluster import LEXICON, STOPWORDS, cluster  # noqa: E402
from borderlinks.folding import fold_text  # noqa: E402
from borderlinks.model import Cluster, Item  # noqa: E402
from borderlinks.text import canonical_url, parse_date, stable_id  # noqa: E402

PAIRS = REPO / "tests" / "data" / "cluster_pairs.jsonl"
SEEDS = Path("/work/shared/seeds")
START = datetime(2025, 3, 1, tzinfo=UTC)
NAIVE_THRESHOLD = 60  # rapidfuzz token_set_ratio on folded title + summary


# --- the labelled pairs ---------------------------------------------------


def read_pairs(path: Path = PAIRS) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def half(pair_id: str) -> str:
    """The fixed split: "tuning" or "held-out", by a hash of the id, chosen before any tuning."""
    return "tuning" if int(hashlib.sha256(pair_id.encode()).hexdigest(), 16) % 2 == 0 else "held-out"


def pair_item(side: dict) -> Item:
    return Item(
        id=stable_id(side["url"]),
        source_id=re.sub(r"[^a-z0-9]+", "-", side["source"].lower()).strip("-"),
        url=side["url"],
        title=side["title"],
        summary=side["summary"],
        published=parse_date(side["published"]),
        language=side["language"],
    )


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def predict(rows: Sequence[dict], clusterer: Callable[[list[Item]], list[list[Item]]], together: bool) -> dict[str, bool]:
    """Pair id -> predicted same story, clustering all items at once or each pair alone."""
    if together:
        items = {side["url"]: pair_item(side) for row in rows for side in (row["a"], row["b"])}
        where = {it.url: n for n, group in enumerate(clusterer(list(items.values()))) for it in group}
        return {row["id"]: where[row["a"]["url"]] == where[row["b"]["url"]] for row in rows}
    return {row["id"]: len(clusterer([pair_item(row["a"]), pair_item(row["b"])])) == 1 for row in rows}


def score(rows: Sequence[dict], predicted: dict[str, bool]) -> tuple[float, float, float, list[str]]:
    tp = sum(1 for r in rows if r["same_story"] and predicted[r["id"]])
    fp = sum(1 for r in rows if not r["same_story"] and predicted[r["id"]])
    fn = sum(1 for r in rows if r["same_story"] and not predicted[r["id"]])
    wrong = [r["id"] for r in rows if predicted[r["id"]] != r["same_story"]]
    return (*prf(tp, fp, fn), wrong)


def by_cluster(items: list[Item]) -> list[list[Item]]:
    return [list(c.items) for c in cluster(items)]


def by_exact_hash(items: list[Item]) -> list[list[Item]]:
    """The baseline: items are one story when their canonical URL, folded title or folded summary is the same."""
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    seen: dict[str, int] = {}
    for i, it in enumerate(items):
        for key in ("u:" + canonical_url(it.url), "t:" + fold_text(it.title), "s:" + fold_text(it.summary)):
            if key in seen:
                parent[find(i)] = find(seen[key])
            else:
                seen[key] = i
    groups: dict[int, list[Item]] = defaultdict(list)
    for i, it in enumerate(items):
        groups[find(i)].append(it)
    return list(groups.values())


# --- generated items --------------------------------------------------------


def _sentences(text: str) -> list[str]:
    text = re.sub(r"\s+", " ", text)
    parts = re.split(r"(?<=[.!?])\s+(?=[A-ZÁÉÍÓÚÑ¿¡'\"“])", text)
    return [p for p in parts if 40 <= len(p) <= 240 and not re.search(r"\b\w \w \w\b", p)]


class Generator:
    """Items that look like a month of news: text from a word chain, names, figures, rewrites across languages.

    A first-order word chain over the seed texts and the English items of the
    labelled pairs gives new sentences with the words and word frequencies of
    the beat, without the long shared passages that splicing real sentences
    would plant between unrelated items. Spanish and Portuguese items are
    English ones passed through the lexicon (the labelled pairs alone hold too
    few words of those languages to vary on).
    """

    def __init__(self, rows: Sequence[dict], seed: int = 7) -> None:
        self.rng = random.Random(seed)
        sentences: dict[str, list[str]] = defaultdict(list)
        for path in sorted(SEEDS.glob("*.txt")):
            sentences["en"].extend(_sentences(path.read_text(encoding="utf-8", errors="replace")))
        for row in rows:
            for side in (row["a"], row["b"]):
                sentences[side["language"]].append(side["title"] + ".")
                sentences[side["language"]].extend(_sentences(side["summary"]))
        self.chain: dict[str, list[str]] = defaultdict(list)
        self.starts: list[str] = []
        for sentence in sentences["en"]:
            words = sentence.split()
            self.starts.append(words[0])
            for a, b in zip(words, words[1:], strict=False):
                self.chain[a].append(b)
        self.function_words = {lang: sorted(words) for lang, words in STOPWORDS.items()}
        text = " ".join(s for ss in sentences.values() for s in ss)
        self.names = sorted(set(re.findall(r"(?<=[a-z,] )([A-Z][a-záéíóúñ]{3,})", text)))
        self.translations = self._translations()
        self.outlets = {
            lang: [f"{lang}-outlet-{n:02d}" for n in range(count)] for lang, count in (("en", 30), ("es", 24), ("pt", 6))
        }

    def _translations(self) -> dict[str, dict[str, list[str]]]:
        """Per language, English word -> words of that language with the same lexicon key."""
        by_key: dict[tuple[str, str], list[str]] = defaultdict(list)
        english: dict[str, str] = {}
        for line in LEXICON.read_text(encoding="utf-8").splitlines():
            fields = line.split("\t")
            if len(fields) < 3 or line.startswith("#") or " " in fields[1]:
                continue
            for lang in fields[0].split(","):
                word = fields[1].rstrip("*")
                if lang == "en":
                    english.setdefault(word, fields[2])
                else:
                    by_key[(lang, fields[2])].append(word)
        return {
            lang: {w: by_key[(lang, k)] for w, k in english.items() if by_key.get((lang, k))} for lang in ("es", "pt")
        }

    def _sentence(self, most: int) -> str:
        words = [self.rng.choice(self.starts)]
        while len(words) < most:
            following = self.chain.get(words[-1])
            if words[-1].endswith((".", "?", "!")) or not following:
                if len(words) >= most // 2:
                    break
                following = self.starts  # too short: go on with another sentence
            words.append(self.rng.choice(following))
        words.insert(self.rng.randrange(1, len(words) + 1), self.rng.choice(self.names))
        if self.rng.random() < 0.5:
            words.insert(self.rng.randrange(1, len(words) + 1), f"{self.rng.randint(10, 9999):,}")
        return " ".join(words).rstrip(".,;:") + "."

    def original(self, n: int, when: datetime) -> Item:
        lang = self.rng.choices(("en", "es", "pt"), weights=(60, 33, 7))[0]
        title = self._sentence(self.rng.randint(8, 14)).rstrip(".")
        summary = " ".join(self._sentence(self.rng.randint(18, 32)) for _ in range(self.rng.randint(1, 2)))
        if lang != "en":
            title, summary = self._reword(title, "en", lang, keep=1.0), self._reword(summary, "en", lang, keep=1.0)
        return self._item(n, lang, title, summary, when)

    def rewrite(self, n: int, of: Item) -> Item:
        """Another outlet's report of the same story, within 30 hours, in its own words or language."""
        others = [x for x in ("en", "es", "pt") if x != of.language]
        lang = of.language if self.rng.random() < 0.5 else self.rng.choice(others)
        when = of.published + timedelta(hours=self.rng.uniform(0, 30))
        return self._item(
            n, lang, self._reword(of.title, of.language, lang), self._reword(of.summary, of.language, lang), when
        )

    def _reword(self, text: str, source: str, target: str, keep: float = 0.65) -> str:
        """Names and figures kept, known words translated, function words swapped, the rest kept or dropped."""
        out = []
        for word in text.split():
            bare = fold_text(word)
            if word[:1].isdigit() or word[:1].isupper():
                out.append(word)
            elif source != target and bare in self.translations.get(target, {}):
                out.append(self.rng.choice(self.translations[target][bare]))
            elif source != target and bare in STOPWORDS[source]:
                out.append(self.rng.choice(self.function_words[target]))
            elif self.rng.random() > keep:
                continue
            else:
                out.append(word)  # untranslated: a cognate, or a word the lexicon lacks
        if keep < 1.0:  # another newsroom puts things in another order
            start = self.rng.randrange(max(1, len(out) // 3))
            out = out[start:] + out[:start]
        return " ".join(out)

    def _item(self, n: int, lang: str, title: str, summary: str, when: datetime) -> Item:
        outlet = self.rng.choice(self.outlets[lang])
        url = f"https://{outlet}.example/{when:%Y/%m/%d}/story-{n}"
        return Item(
            id=stable_id(url), source_id=outlet, url=url, title=title, summary=summary, published=when, language=lang
        )

    def items(self, count: int, days: float = 30, rewrites: float = 0.15) -> tuple[list[Item], dict[str, int]]:
        """``count`` items over ``days`` in time order, and the story each belongs to (planted truth)."""
        items: list[Item] = []
        story: dict[str, int] = {}
        span = days * 86400
        for n in range(count):
            if items and self.rng.random() < rewrites:
                of = items[self.rng.randrange(max(0, len(items) - 500), len(items))]
                item = self.rewrite(n, of)
                story[item.id] = story[of.id]
            else:
                item = self.original(n, START + timedelta(seconds=span * n / count))
                story[item.id] = n
            items.append(item)
        items.sort(key=lambda it: it.published)
        return items, story


def planted_recall(clusters: list[Cluster], story: dict[str, int]) -> float:
    """The share of planted pairs (an item and a rewrite of it) that end up in one cluster.

    Precision is not given: unrelated generated items are word salad from a
    word chain, and two of them sharing a run of the chain, names and all, is
    the same text, which clustering rightly puts together.
    """
    where = {it.id: c.id for c in clusters for it in c.items}
    members: dict[int, list[str]] = defaultdict(list)
    for item_id, s in story.items():
        members[s].append(item_id)
    pairs = [(a, b) for ids in members.values() for i, a in enumerate(ids) for b in ids[i + 1 :]]
    return sum(1 for a, b in pairs if where[a] == where[b]) / len(pairs) if pairs else 1.0


def crowd(rows: Sequence[dict], per_item: int, seed: int = 5) -> list[Item]:
    """The labelled items among ``per_item`` generated items each, published within 36 hours of it.

    The generator learns its words from the seed texts only, not from the
    labelled items, so the crowd shares the beat and its names, not the items' text.
    """
    generator = Generator([], seed=seed)
    rng = random.Random(seed)
    labelled = {side["url"]: pair_item(side) for row in rows for side in (row["a"], row["b"])}
    background: list[Item] = []
    for it in labelled.values():
        for _ in range(per_item):
            n = len(background)
            if background and rng.random() < 0.15:
                background.append(generator.rewrite(n, rng.choice(background[-50:])))
            else:
                background.append(generator.original(n, it.published + timedelta(hours=rng.uniform(-36, 36))))
    return [*labelled.values(), *background]


# --- the naive method -------------------------------------------------------


def naive_all_pairs(items: Sequence[Item]) -> int:
    """Every pair compared with rapidfuzz: the quadratic method clustering replaces. Returns the links found."""
    from rapidfuzz.fuzz import token_set_ratio

    texts = [fold_text(f"{it.title} {it.summary}") for it in items]
    links = 0
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            if token_set_ratio(texts[i], texts[j]) >= NAIVE_THRESHOLD:
                links += 1
    return links


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--naive-sample", type=int, default=1_000)
    parser.add_argument("--crowd", type=int, default=100, help="generated items around each labelled item")
    parser.add_argument("--errors", action="store_true", help="list the labelled pairs clustered wrongly")
    args = parser.parse_args(argv)
    ok = True

    rows = read_pairs()
    items, story = Generator(rows).items(args.items, days=args.days)
    rewrites = len(items) - len(set(story.values()))
    print(f"{len(items):,} generated items over {args.days:g} days, {rewrites:,} of them rewrites of another; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    # -- speed
    cpu = time.process_time()
    cold = timed(lambda: cluster(items))
    cpu = time.process_time() - cpu
    print(f"\ncluster, first call in the process (lexicon and caches cold): {len(items):,} items in {cold:.2f} s "
          f"({cpu:.2f} s of CPU)")
    ok &= cold < 3.0
    print("\ncluster, warm (best of 3); the same volume per day over a longer period, then 4x the volume:")
    print(f"  {'items':>7} {'days':>5} {'seconds':>8} {'µs/item':>8}")
    end = items[-1].published
    for share in (0.25, 0.5, 1.0):
        subset = [it for it in items if it.published <= START + (end - START) * share]
        seconds = min(timed(lambda subset=subset: cluster(subset)) for _ in range(3))
        print(f"  {len(subset):>7,} {args.days * share:>5.1f} {seconds:>8.2f} {seconds / len(subset) * 1e6:>8.0f}")
    dense, _ = Generator(rows, seed=11).items(args.items, days=args.days / 4)
    seconds = min(timed(lambda: cluster(dense)) for _ in range(3))
    print(f"  {len(dense):>7,} {args.days / 4:>5.1f} {seconds:>8.2f} {seconds / len(dense) * 1e6:>8.0f}")

    clusters = cluster(items)
    print(f"\nplanted rewrites found (item and rewrite in one cluster): {planted_recall(clusters, story):.3f} "
          f"({len(clusters):,} clusters)")

    sample = items[:: max(1, len(items) // args.naive_sample)][: args.naive_sample]
    naive = timed(lambda: naive_all_pairs(sample))
    factor = (len(items) / len(sample)) ** 2
    print(f"naive all-pairs rapidfuzz, measured on {len(sample):,} items: {naive:.2f} s; extrapolated quadratically "
          f"(x{factor:,.0f}) to {len(items):,} items: {naive * factor / 60:,.1f} min, ~{naive * factor / cold:,.0f}x "
          "the time of cluster")

    # -- quality
    print("\nlabelled pairs (tests/data/cluster_pairs.jsonl), precision / recall / F1 of 'same story':")
    halves = {
        "tuning": [r for r in rows if half(r["id"]) == "tuning"],
        "held-out": [r for r in rows if half(r["id"]) == "held-out"],
        "all": list(rows),
    }
    print(f"  {'':<40} {'tuning':>17} {'held-out':>17} {'all':>17}")
    methods = (
        ("cluster: all 179 items together", by_cluster, True),
        ("cluster: each pair alone", by_cluster, False),
        ("exact hash (URL, title or summary)", by_exact_hash, True),
    )
    together = {}
    for label, clusterer, at_once in methods:
        predicted = predict(rows, clusterer, at_once)
        together.setdefault(label, predicted)
        cells = []
        for name, subset in halves.items():
            p, r, f, wrong = score(subset, predicted)
            cells.append(f"{p:.3f}/{r:.3f}/{f:.3f}")
            if clusterer is by_cluster and name == "all":
                ok &= p >= 0.95 and r >= 0.90
                if args.errors and wrong:
                    print(f"    wrong: {', '.join(wrong)}")
        print(f"  {label:<40} {cells[0]:>17} {cells[1]:>17} {cells[2]:>17}")
    print(f"  ({len(rows)} pairs, {sum(r['same_story'] for r in rows)} of them one story; "
          f"{len(halves['tuning'])} tuning, {len(halves['held-out'])} held-out)")

    predicted = together["cluster: all 179 items together"]
    print("\n  all together, by kind (pairs right / pairs):")
    for kind in sorted({r["kind"] for r in rows}):
        subset = [r for r in rows if r["kind"] == kind]
        right = sum(1 for r in subset if predicted[r["id"]] == r["same_story"])
        print(f"    {kind:<34} {right:>3} / {len(subset):<3}")
    cross = [r for r in rows if r["same_story"] and r["a"]["language"] != r["b"]["language"]]
    print(f"    {'one story, two languages':<34} {sum(predicted[r['id']] for r in cross):>3} / {len(cross):<3}")

    if args.crowd:
        items = crowd(rows, args.crowd)
        where = {it.url: c.id for c in cluster(items) for it in c.items}
        predicted = {r["id"]: where[r["a"]["url"]] == where[r["b"]["url"]] for r in rows}
        cells = []
        for subset in halves.values():
            p, r, f, _ = score(subset, predicted)
            cells.append(f"{p:.3f}/{r:.3f}/{f:.3f}")
        label = f"cluster: among {len(items) - 179:,} generated items"
        print(f"\n  {label:<40} {cells[0]:>17} {cells[1]:>17} {cells[2]:>17}")
        print(f"  ({args.crowd} generated items within 36 hours of each labelled item, so that candidates must be "
              "found in a crowd)")

    print("\ntargets: 20,000 items < 3 s; P >= 0.95 and R >= 0.90 on all labelled pairs:", "met" if ok else "NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
