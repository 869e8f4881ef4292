"""How well the classifier tags themes and countries, against labelled items and a naive baseline.

Run from the repository root::

    python benchmarks/quality.py                  # the figures for dev, heldout and all
    python benchmarks/quality.py --errors         # plus every false positive and negative of dev
    python benchmarks/quality.py --errors --split heldout

Reads tests/data/classify_eval.jsonl and classify_fresh{,2,3,4,5}.jsonl, one labelled item a line:
``{"id", "title", "text", "language", "themes": [...], "countries": [...], "split": ...}``.
Items go through :func:`classify_jsonl`, the same interface other tools use.

Each set was written blind (without the term lists, the code or the
classifier's output) and read for tuning only after it had been reported on:
dev and fresh-tune first, then heldout, fresh-test and fresh2 (session 3),
then fresh3 and, after its one reading, fresh4 (session 4); fresh5 is the
one never tuned on: it is read only with --final, to report.

The baseline is what one gets without the engine: a theme is given when a word of its title (4 letters or more) is a lower-case
substring of the item, a country when its English name is.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from borderlinks.classify import Classifier, load_places, load_themes  # noqa: E402
from borderlinks.explain import classify_jsonl  # noqa: E402
from borderlinks.themes import Gazetteer, Theme  # noqa: E402

SECOND_ANNOTATOR = {"fresh2": REPO / "tests" / "data" / "classify_fresh2_second.jsonl"}
SPLITS = ("dev", "heldout", "fresh-tune", "fresh-test", "fresh2", "fresh3", "fresh4", "fresh5", "all")
NEVER_TUNED = "fresh5"


@dataclass
class Counts:
    """True positives, false positives and false negatives per label."""

    tp: Counter[str] = field(default_factory=Counter)
    fp: Counter[str] = field(default_factory=Counter)
    fn: Counter[str] = field(default_factory=Counter)

    def add(self, gold: Iterable[str], predicted: Iterable[str]) -> None:
        gold, predicted = set(gold), set(predicted)
        for label in gold & predicted:
            self.tp[label] += 1
        for label in predicted - gold:
            self.fp[label] += 1
        for label in gold - predicted:
            self.fn[label] += 1

    def labels(self) -> list[str]:
        return sorted(set(self.tp) | set(self.fp) | set(self.fn))

    def prf(self, label: str | None = None) -> tuple[float, float, float]:
        if label is None:
            tp, fp, fn = sum(self.tp.values()), sum(self.fp.values()), sum(self.fn.values())
        else:
            tp, fp, fn = self.tp[label], self.fp[label], self.fn[label]
        return prf(tp, fp, fn)

    def macro(self) -> tuple[float, float, float]:
        scores = [self.prf(label) for label in self.labels()]
        if not scores:
            return 0.0, 0.0, 0.0
        return tuple(sum(s[i] for s in scores) / len(scores) for i in range(3))  # type: ignore[return-value]


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def read_items(path: Path) -> list[dict]:
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            sys.exit(f"{path}:{number}: not JSON ({e.msg})")
        item.setdefault("split", "dev")
        items.append(item)
    return items


def engine_predictions(items: list[dict], classifier: Classifier) -> dict[str, dict]:
    lines = (json.dumps({k: item.get(k) for k in ("id", "title", "text", "language", "date") if k in item}) for item in items)
    predictions = {}
    for item, out in zip(items, classify_jsonl(lines, classifier), strict=True):
        result = json.loads(out)
        if "error" in result:
            print(f"item {item.get('id')}: {result['error']}", file=sys.stderr)
            result = {"themes": [], "countries": [], "matches": {}}
        predictions[str(item["id"])] = result
    return predictions


def baseline_predictions(items: list[dict], themes: list[Theme], places: Gazetteer) -> dict[str, dict]:
    words = {t.slug: [w for w in t.title.lower().split() if len(w.strip(".,:;")) >= 4] for t in themes}
    names = [c.name for c in places.countries]
    predictions = {}
    for item in items:
        text = f"{item.get('title') or ''}\n{item.get('text') or ''}".lower()
        predictions[str(item["id"])] = {
            "themes": [slug for slug, ws in words.items() if any(w.strip(".,:;") in text for w in ws)],
            "countries": [name for name in names if name.lower() in text],
            "matches": {},
        }
    return predictions


def score(items: list[dict], predictions: dict[str, dict]) -> tuple[Counts, Counts]:
    themes, countries = Counts(), Counts()
    for item in items:
        predicted = predictions[str(item["id"])]
        themes.add(item.get("themes") or [], predicted["themes"])
        countries.add(item.get("countries") or [], predicted["countries"])
    return themes, countries


def report(name: str, items: list[dict], predictions: dict[str, dict], per_theme: bool) -> tuple[float, float]:
    themes, countries = score(items, predictions)
    print(f"  {name}")
    if per_theme:
        print(f"    {'theme':<28} {'P':>6} {'R':>6} {'F1':>6}  {'tp':>4} {'fp':>4} {'fn':>4}")
        for label in themes.labels():
            p, r, f = themes.prf(label)
            print(f"    {label:<28} {p:6.2f} {r:6.2f} {f:6.2f}  {themes.tp[label]:4} {themes.fp[label]:4} {themes.fn[label]:4}")
    micro, macro, country = themes.prf(), themes.macro(), countries.prf()
    print(f"    {'themes micro':<28} {micro[0]:6.2f} {micro[1]:6.2f} {micro[2]:6.2f}")
    print(f"    {'themes macro':<28} {macro[0]:6.2f} {macro[1]:6.2f} {macro[2]:6.2f}")
    print(f"    {'countries micro':<28} {country[0]:6.2f} {country[1]:6.2f} {country[2]:6.2f}")
    return micro[2], country[2]


def print_errors(items: list[dict], predictions: dict[str, dict], classifier: Classifier, split: str) -> None:
    chosen = [i for i in items if split == "all" or i["split"] == split]
    print(f"\nErrors on {split} ({len(chosen)} items); FP = given but not labelled, FN = labelled but not given")
    for item in chosen:
        predicted = predictions[str(item["id"])]
        lines: list[str] = []
        for kind in ("themes", "countries"):
            gold, got = set(item.get(kind) or []), set(predicted[kind])
            for label in sorted(got - gold):
                lines.append(f"  FP {kind[:-1] if kind == 'themes' else 'country'} {label}: {predicted['matches'].get(label)}")
            if gold - got:
                why = _near_misses(item, classifier, gold - got)
                for label in sorted(gold - got):
                    lines.append(f"  FN {kind[:-1] if kind == 'themes' else 'country'} {label}: {why.get(label, 'no term matched')}")
        if lines:
            print(f"\n[{item['id']}] ({item.get('language', '?')}) {item.get('title') or ''}")
            print(f"  text: {(item.get('text') or '')[:300]}")
            print("\n".join(lines))


def _near_misses(item: dict, classifier: Classifier, labels: set[str]) -> dict[str, str]:
    from datetime import date

    when = date.fromisoformat(item["date"][:10]) if item.get("date") else None
    found = {}
    for decision in classifier.decide(item.get("title") or "", item.get("text") or "", item.get("language"), when):
        if decision.name in labels:
            terms = [m.term for m in decision.matches]
            found[decision.name] = f"score {decision.score:g} of {decision.threshold:g}, matched {terms}; " + "; ".join(decision.notes)
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, nargs="+",
        default=[REPO / "tests" / "data" / name for name in ("classify_eval.jsonl", "classify_fresh.jsonl", "classify_fresh2.jsonl", "classify_fresh3.jsonl", "classify_fresh4.jsonl", "classify_fresh5.jsonl")
                 if (REPO / "tests" / "data" / name).exists()],
    )
    parser.add_argument("--themes", type=Path, default=REPO / "classifiers")
    parser.add_argument("--places", type=Path, default=REPO / "classifiers" / "places")
    parser.add_argument("--errors", action="store_true", help="print false positives and negatives, with their matches")
    parser.add_argument("--split", choices=SPLITS, default="dev", help="the split whose errors --errors prints (default: dev)")
    parser.add_argument("--brief", action="store_true", help="averages only, no per-theme lines")
    parser.add_argument("--final", action="store_true", help=f"also read {NEVER_TUNED}, the set never tuned on (to report, not to tune)")
    args = parser.parse_args(argv)
    if args.split == NEVER_TUNED and args.errors:
        parser.error(f"{NEVER_TUNED} is the set never tuned on: its errors are not printed (its figures are, with --final)")

    themes = load_themes(args.themes)
    places = load_places(args.places) if args.places.is_dir() else Gazetteer()
    classifier = Classifier(themes, places)
    items = [item for path in args.data for item in read_items(path) if args.final or item["split"] != NEVER_TUNED]
    engine = engine_predictions(items, classifier)
    baseline = baseline_predictions(items, themes, places)
    counts = Counter(i["split"] for i in items)
    print(f"{len(items)} items ({', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))}); "
          f"{len(themes)} themes, {len(places.countries)} countries")
    select: dict[str, Callable[[dict], bool]] = {
        "dev": lambda i: i["split"] == "dev",
        "heldout": lambda i: i["split"] == "heldout",
        "fresh-tune": lambda i: i["split"] == "fresh-tune",
        "fresh-test": lambda i: i["split"] == "fresh-test",
        "fresh2": lambda i: i["split"] == "fresh2",
        "fresh3": lambda i: i["split"] == "fresh3",
        "fresh4": lambda i: i["split"] == "fresh4",
        "fresh5": lambda i: i["split"] == "fresh5",
        "all": lambda i: True,
    }
    for split in SPLITS:
        chosen = [i for i in items if select[split](i)]
        if not chosen:
            continue
        print(f"\n== {split} ({len(chosen)} items)")
        report("engine", chosen, engine, per_theme=not args.brief)
        report("baseline (title words / English name as substrings)", chosen, baseline, per_theme=not args.brief)
        if split in SECOND_ANNOTATOR and SECOND_ANNOTATOR[split].exists():
            # What a second careful reader gives, against the same labels: the ceiling to judge the engine by.
            second = {str(d["id"]): d for d in read_items(SECOND_ANNOTATOR[split])}
            report("second annotator, labelling blind", chosen, second, per_theme=not args.brief)
    if args.errors:
        print_errors(items, engine, classifier, args.split)


if __name__ == "__main__":
    main()
