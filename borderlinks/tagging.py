"""Tagging stored items: the classifier built from a home folder, and re-tagging.

Classification itself is pure (:mod:`borderlinks.classify`); this module is
the edge that reads theme files and writes tags to the store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from .classify import Classifier
from .config import Home
from .model import Classification, Item
from .store import Store
from .themes import load_places, load_theme_file, load_themes


def make_classifier(home: Home) -> Classifier:
    """The home folder's themes and places compiled into one classifier."""
    folder = home.content("classifiers")
    themes = load_themes(folder)
    places = folder / "places"
    gazetteer = load_places(places) if places.is_dir() else None
    return Classifier(themes, gazetteer)


def classify_item(classifier: Classifier, item: Item) -> Classification:
    return classifier.classify(item.title, item.summary, item.language, item.published.date())


def retag_all(store: Store, classifier: Classifier, batch_size: int = 2000, progress: Callable[[int], None] | None = None) -> int:
    """Classify every stored item again (after a theme file changed); returns the number of items."""
    done = 0
    batch: list[tuple[str, Classification]] = []
    for item in store.iter_items():
        batch.append((item.id, classify_item(classifier, item)))
        if len(batch) >= batch_size:
            store.save_tags(batch)
            done += len(batch)
            batch = []
            if progress:
                progress(done)
    if batch:
        store.save_tags(batch)
        done += len(batch)
    return done


def theme_diff(
    items: Iterable[Item], slug: str, current: Classifier, edited: Classifier
) -> tuple[list[tuple[Item, Classification]], list[tuple[Item, Classification]]]:
    """Items an edited theme would gain and lose, compared with the current one. Changes nothing."""
    gained, lost = [], []
    for item in items:
        before = slug in classify_item(current, item).theme_slugs
        after_tags = classify_item(edited, item)
        after = slug in after_tags.theme_slugs
        if after and not before:
            gained.append((item, after_tags))
        elif before and not after:
            lost.append((item, classify_item(current, item)))
    return gained, lost


def edited_classifier(home: Home, theme_file: Path) -> Classifier:
    """The home's classifier with one theme replaced by an edited file (for `themes test`)."""
    folder = home.content("classifiers")
    edited = load_theme_file(theme_file)
    themes = [t for t in load_themes(folder) if t.slug != edited.slug] + [edited]
    places = folder / "places"
    return Classifier(themes, load_places(places) if places.is_dir() else None)
