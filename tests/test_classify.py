"""The classifier: folding, matching, themes, places, explanations and the JSONL interface.

The taxonomy used here is small and lives in tests/data/themes/ (themes) and
tests/data/themes/places/ (countries, officials, masks).
"""

from __future__ import annotations

import json
import unicodedata
from datetime import date
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from borderlinks.classify import Classifier, fold_text, load_places, load_themes
from borderlinks.errors import ConfigError, ConfigErrors
from borderlinks.explain import classify_jsonl, explain

THEMES = Path(__file__).parent / "data" / "themes"
PLACES = THEMES / "places"
TODAY = date(2025, 3, 1)


@cache
def classifier() -> Classifier:
    return Classifier(load_themes(THEMES), load_places(PLACES))


def themes(title: str, summary: str = "") -> list[str]:
    return classifier().classify(title, summary, when=TODAY).theme_slugs


def countries(title: str, summary: str = "", when: date = TODAY) -> list[str]:
    return classifier().classify(title, summary, when=when).country_names


def terms_of(title: str, summary: str, name: str) -> list[str]:
    result = classifier().classify(title, summary, when=TODAY)
    tag = next(t for t in (*result.themes, *result.countries) if t.name == name)
    return [m.term for m in tag.matches]


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# --- folding ----------------------------------------------------------------------


def test_fold_lowercases_strips_accents_and_sharp_s() -> None:
    assert fold_text("Tapón del DARIÉN, São Paulo, Straße") == "tapon del darien sao paulo strasse"


def test_fold_turns_curly_quotes_dashes_and_line_breaks_into_single_spaces() -> None:
    assert fold_text("“Border—Patrol”\n\tagents’ …  raid") == "border patrol agents raid"


def test_fold_keeps_decomposed_accents_inside_their_word() -> None:
    assert fold_text("Darie\u0301n") == "darien"


def test_fold_of_ascii_and_non_ascii_text_agree() -> None:
    assert fold_text("U.S. Border-Patrol") == fold_text("U.S.\u00a0Border–Patrol") == "u s border patrol"


def test_fold_survives_a_lone_surrogate() -> None:
    assert fold_text("Darie\udcffn gap") == "darie n gap"


@given(st.text())
@settings(max_examples=500)
def test_fold_is_idempotent(text: str) -> None:
    folded = fold_text(text)
    assert fold_text(folded) == folded


# --- matching ---------------------------------------------------------------------


def test_matching_ignores_case_and_accents() -> None:
    assert themes("TAPON DEL DARIEN: migrants") == ["darien"]
    assert themes("tapón del darién: migrantes") == ["darien"]


def test_star_matches_any_further_letters() -> None:
    assert terms_of("", "Deportations rose", "enforcement") == ["deportation*"]
    assert themes("", "Deportationism is not a word we use") == ["enforcement"]


def test_star_stops_at_the_word_end() -> None:
    assert themes("", "The cartel2 file") == []


def test_question_mark_matches_at_most_one_letter() -> None:
    assert terms_of("", "Los solicitantes de asilo esperan", "asylum")[0] == "solicitante? de asilo"
    assert terms_of("", "El solicitante de asilo espera", "asylum")[0] == "solicitante? de asilo"
    decisions = classifier().decide("", "Los solicitantesxx de asilo", when=TODAY)
    assert [m.term for d in decisions for m in d.matches] == ["asilo"]


def test_phrase_matches_across_punctuation_curly_quotes_and_line_breaks() -> None:
    assert "Border Patrol" in terms_of("", "agents of the “Border—\nPatrol” said", "enforcement")
    assert "U.S. Border Patrol" in terms_of("", "U.S.  Border-Patrol agents", "enforcement")


def test_nested_overlapping_terms_are_all_found() -> None:
    assert sorted(terms_of("", "The Sinaloa Cartel expanded", "organized-crime")) == ["Sinaloa Cartel", "cartel*"]
    assert sorted(terms_of("", "Border Patrol agents", "enforcement")) == ["Border Patrol", "border"]


def test_only_whole_words_match() -> None:
    assert themes("Police arrest a man", "The police said") == []
    assert countries("Police arrest a man", "The police said") == []


def test_a_term_written_with_and_without_accents_counts_once(tmp_path: Path) -> None:
    write(tmp_path, "gap.toml", 'slug = "gap"\ntitle = "Gap"\n[terms]\nen = ["Darien Gap"]\nes = ["Darién Gap"]\n')
    result = Classifier(load_themes(tmp_path)).classify("", "Darien Gap crossing")
    assert result.themes[0].score == 1.0


def test_repeated_term_counts_once_per_field() -> None:
    tag = classifier().classify("Deportation", "Deportation after deportation", when=TODAY).themes[0]
    assert tag.score == 3.0  # 2 in the title + 1 in the summary
    assert [(m.field, m.start) for m in tag.matches] == [("title", 0), ("summary", 0)]


def test_matches_report_offsets_in_the_folded_text() -> None:
    match = classifier().classify("", "Near the “Darién Gap”, migrants", when=TODAY).themes[0].matches[0]
    assert fold_text("Near the “Darién Gap”, migrants")[match.start : match.end] == "darien gap"
    assert (match.term, match.field) == ("Darien Gap", "summary")


def test_tags_and_matches_are_the_model_objects() -> None:
    import dataclasses

    from borderlinks.model import Classification, Match, Tag

    for cls in (Match, Tag, Classification):  # the classifier fills their dicts directly, for speed
        assert not hasattr(cls, "__post_init__") and "__slots__" not in vars(cls)
    result = classifier().classify("", "ICE agents", when=TODAY)
    assert result == Classification(result.themes, result.countries) and hash(result)
    tag = classifier().classify("", "ICE agents", when=TODAY).themes[0]
    assert tag == Tag("enforcement", 1.0, (Match("ICE", "summary", 0, 3, 1.0),))
    assert hash(tag) == hash(Tag("enforcement", 1.0, (Match("ICE", "summary", 0, 3, 1.0),)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        tag.score = 2.0  # type: ignore[misc]


# --- theme rules ------------------------------------------------------------------


def test_an_exclude_term_anywhere_vetoes_the_theme() -> None:
    assert themes("Gang members arrested", "") == ["organized-crime"]
    assert themes("Gang members arrested", "Separately, the OPEC cartel cut output.") == []


def test_an_exclude_near_term_drops_only_the_nearby_match() -> None:
    assert themes("", "An ice cream shop opened downtown") == []
    assert themes("", "ICE agents detained 40 people") == ["enforcement"]
    assert themes("", "ICE agents detained 40 people; a vendor sold ice cream to the crowd") == ["enforcement"]


def test_every_require_group_must_be_met() -> None:
    assert themes("Jungle survival tips", "") == []
    assert themes("Jungle survival tips for Panama", "") == []
    assert themes("Migrants cross the jungle", "They walked from Colombia into Panamá.") == ["darien"]


def test_title_matches_count_title_weight_times() -> None:
    # asylum: threshold 2.0, title_weight 3.0
    assert themes("", "Talks on asylum continue") == []
    tag = classifier().classify("Talks on asylum continue", "", when=TODAY).themes[0]
    assert (tag.name, tag.score) == ("asylum", 3.0)


def test_term_weights_add_up_to_the_threshold() -> None:
    tag = classifier().classify("", "Asylum seekers wait at the bridge", when=TODAY).themes[0]
    assert tag.name == "asylum"
    assert sorted((m.term, m.weight) for m in tag.matches) == [("asylum", 1.0), ("asylum seeker*", 2.0)]
    assert tag.score == 3.0


def test_spanish_item() -> None:
    result = classifier().classify("Miles de solicitantes de asilo esperan en Tijuana", "", "es", TODAY)
    assert result.theme_slugs == ["asylum"]
    assert result.country_names == ["Mexico"]


def test_portuguese_item() -> None:
    result = classifier().classify("Polícia Federal investiga deportações", "Voos de deportação chegam a Belo Horizonte.", "pt", TODAY)
    assert result.theme_slugs == ["enforcement"]
    assert terms_of("Polícia Federal investiga deportações", "", "enforcement") == ["Polícia Federal", "deportaç*"]


def test_themes_are_sorted_by_score() -> None:
    result = classifier().classify("Sinaloa Cartel smuggles migrants", "Border Patrol agents found them.", when=TODAY)
    assert result.theme_slugs == ["organized-crime", "enforcement"]
    assert result.themes[0].score >= result.themes[1].score


# --- places -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "country"),
    [
        ("Migrants crossed the Rio Grande near Eagle Pass", "United States"),
        ("Police in Tamaulipas found 30 migrants in a truck", "Mexico"),
        ("The ELN kidnapped two soldiers", "Colombia"),
        ("Record numbers walk through the Darién", "Panama"),
    ],
)
def test_places_imply_their_country(text: str, country: str) -> None:
    assert countries("", text) == [country]


def test_country_names_in_any_language_are_reported_in_english() -> None:
    assert countries("", "Deportados llegan a Estados Unidos y México") == ["Mexico", "United States"]


def test_a_mask_hides_the_names_inside_it() -> None:
    assert countries("Drownings rise at the U.S.-Mexico border") == []
    assert countries("Texas sends troops to the U.S.-Mexico border") == ["United States"]


def test_a_country_ignore_hides_only_its_own_names() -> None:
    assert countries("", "Wildfires in Colombia Británica") == ["Canada"]


def test_a_longer_place_hides_the_country_name_inside_it() -> None:
    assert countries("", "Migrants reach New Mexico") == ["United States"]


def test_a_country_named_once_in_a_story_about_another_is_a_passing_mention() -> None:
    title, summary = "Texas deploys troops in Eagle Pass", "Border Patrol agents met migrants from Venezuela."
    assert countries(title, summary) == ["United States"]
    decision = next(d for d in classifier().decide(title, summary, when=TODAY) if d.name == "Venezuela")
    assert "a passing mention" in decision.notes[0]


def test_a_country_named_twice_is_not_a_passing_mention() -> None:
    title, summary = "Texas deploys troops in Eagle Pass", "Border Patrol agents met migrants from Venezuela and Caracas."
    assert countries(title, summary) == ["United States", "Venezuela"]


def test_a_country_whose_state_acts_is_never_a_passing_mention() -> None:
    title, summary = "Texas deploys troops in Eagle Pass", "Border Patrol agents met migrants, and Venezuela agreed to take flights."
    assert countries(title, summary) == ["United States", "Venezuela"]
    [venezuela] = [d for d in classifier().decide(title, summary, when=TODAY) if d.name == "Venezuela"]
    assert venezuela.evidence == ("state",)
    assert countries(title, "Border Patrol agents met migrants; el gobierno de Venezuela no respondió.") == ["United States", "Venezuela"]
    assert countries(title, "Border Patrol agents met migrants from Venezuela who agreed to talk.") == ["United States"]


@cache
def packaged() -> Classifier:
    repo = Path(__file__).parent.parent
    return Classifier(load_themes(repo / "classifiers"), load_places(repo / "classifiers" / "places"))


def test_a_countrys_people_are_not_a_second_mention_of_the_country() -> None:
    title = "Texas deploys troops in Eagle Pass"
    summary = "Border Patrol agents in El Paso and Eagle Pass said most Venezuelans they met had left Venezuela years ago."
    assert packaged().classify(title, summary, when=TODAY).country_names == ["United States"]
    [venezuela] = [d for d in packaged().decide(title, summary, when=TODAY) if d.name == "Venezuela"]
    assert venezuela.evidence == ("people", "name") and "a passing mention" in venezuela.notes[-1]


def test_a_singular_demonym_beside_a_word_for_people_names_people_not_the_state() -> None:
    def venezuela(title: str) -> tuple[str, ...]:
        return next(d.evidence for d in packaged().decide(title, "", when=TODAY) if d.name == "Venezuela")

    assert venezuela("A Venezuelan man drowned near Eagle Pass") == ("people",)
    assert venezuela("Un migrante venezolano murió en Texas") == ("people",)
    assert venezuela("Venezuelan troops deploy along the border") == ("demonym",)


def test_an_official_counts_only_while_in_office() -> None:
    assert countries("López Obrador speaks on migration", when=date(2023, 5, 1)) == ["Mexico"]
    assert countries("López Obrador speaks on migration", when=date(2025, 5, 1)) == []
    assert countries("Sheinbaum speaks on migration", when=date(2025, 5, 1)) == ["Mexico"]


def test_the_outlets_country_and_language_are_never_assumed() -> None:
    result = classifier().classify("El gobierno anuncia nuevas medidas", "Las medidas entran en vigor el lunes.", "es", TODAY)
    assert result.countries == ()


def test_countries_are_sorted_by_score_and_keep_their_evidence() -> None:
    result = classifier().classify("Mexico deports Venezuelans", "Flights left from Tijuana to Caracas.", when=TODAY)
    assert result.country_names == ["Mexico", "Venezuela"]
    assert [m.term for m in result.countries[0].matches] == ["Mexico", "Tijuana"]


# --- hypothesis: case and accents never matter ---------------------------------------

WORDS = [
    "Darién", "Tapón del Darién", "Sinaloa Cartel", "ICE", "police", "Border Patrol", "solicitantes de asilo",
    "deportações", "Polícia Federal", "Tamaulipas", "México", "Colômbia", "ELN", "migrants", "Panamá",
    "the", "a", "of", "ice cream", "OPEC", "Texas", "U.S.-Mexico border", "jungle", "Ciudad Juárez",
]
SEPARATORS = [" ", ", ", " — ", "“", "”", "\n", ". ", "-"]


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


@given(st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPARATORS)), max_size=12), st.integers(0, 12))
@settings(max_examples=300, deadline=None)
def test_classification_does_not_depend_on_case_or_accents(parts: list[tuple[str, str]], split: int) -> None:
    text = "".join(word + sep for word, sep in parts)
    title, summary = text[: split * 5], text[split * 5 :]
    expected = classifier().classify(title, summary, when=TODAY)
    for variant in (str.upper, str.lower, str.swapcase, strip_accents):
        assert classifier().classify(variant(title), variant(summary), when=TODAY) == expected


@given(st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPARATORS)), max_size=16), st.integers(0, 16))
@settings(max_examples=300, deadline=None)
def test_classify_gives_exactly_what_decide_says_is_given(parts: list[tuple[str, str]], split: int) -> None:
    text = "".join(word + sep for word, sep in parts)
    title, summary = text[: split * 5], text[split * 5 :]
    result = classifier().classify(title, summary, when=TODAY)
    given = [d for d in classifier().decide(title, summary, when=TODAY) if d.given]
    assert [(t.name, t.score, t.matches) for t in (*result.themes, *result.countries)] == [
        (d.name, d.score, d.matches) for d in given
    ]


# --- explanations and the JSONL interface -----------------------------------------------


def test_explain_shows_scores_thresholds_terms_and_snippets() -> None:
    title, summary = "Sinaloa Cartel smuggles migrants", "Agents found them near Eagle Pass."
    text = explain(classifier().classify(title, summary, when=TODAY), title, summary, classifier(), TODAY)
    assert "organized-crime: score 4 >= threshold 1, given" in text
    assert "'Sinaloa Cartel' in title: [sinaloa cartel] smuggles migrants" in text
    assert "place 'Eagle Pass' in summary" in text


def test_explain_shows_near_misses_and_why() -> None:
    title, summary = "Asylum office reopens", "The OPEC cartel met."
    text = explain(classifier().classify(title, summary, when=TODAY), title, summary, classifier(), TODAY)
    assert "vetoed: the exclude term 'OPEC' is in the item" in text
    assert "asylum: score 3 >= threshold 2, given" in text


def test_explain_without_the_classifier_uses_the_stored_tags() -> None:
    result = classifier().classify("Deportation flights resume", "", when=TODAY)
    assert explain(result, "Deportation flights resume", "").splitlines()[:3] == [
        "Themes:",
        "  enforcement: score 2, given",
        "    +2     'deportation*' in title: [deportation] flights resume",
    ]


def test_classify_jsonl_gives_themes_countries_and_matches() -> None:
    line = json.dumps({"id": "a1", "title": "ELN kidnaps soldiers", "text": "Gang violence in Cauca.", "language": "en"})
    (out,) = classify_jsonl([line], classifier())
    assert json.loads(out) == {
        "id": "a1",
        "themes": ["organized-crime"],
        "countries": ["Colombia"],
        "matches": {"organized-crime": ["gang*"], "Colombia": ["ELN", "Cauca"]},
    }


def test_classify_jsonl_uses_the_item_date_for_officials() -> None:
    lines = [
        json.dumps({"id": 1, "title": "AMLO visits Texas", "text": "", "date": "2023-01-05"}),
        json.dumps({"id": 2, "title": "AMLO visits Texas", "text": "", "date": "2025-01-05T10:00:00Z"}),
    ]
    first, second = (json.loads(out) for out in classify_jsonl(lines, classifier()))
    assert first["countries"] == ["Mexico", "United States"]
    assert second["countries"] == ["United States"]


def test_classify_jsonl_reports_bad_lines_and_goes_on() -> None:
    lines = ["{not json", '["a list"]', '{"id": "x", "title": "t"}', '{"id": "y", "text": 3}', '{"id": "z", "text": "", "date": "soon"}', "", '{"id": "ok", "text": "ICE raid"}']
    out = [json.loads(line) for line in classify_jsonl(lines, classifier())]
    assert [o["id"] for o in out] == [None, None, "x", "y", "z", "ok"]
    assert all("error" in o for o in out[:5])
    assert "line 3: missing 'text'" in out[2]["error"]
    assert out[5]["themes"] == ["enforcement"]


def test_an_item_with_an_empty_title_is_classified_from_its_text() -> None:
    (out,) = classify_jsonl(['{"id": 7, "title": "", "text": "Record numbers walk through the Darién"}'], classifier())
    assert json.loads(out)["countries"] == ["Panama"]


# --- loading and validating files ----------------------------------------------------------


def test_the_test_taxonomy_loads() -> None:
    slugs = [t.slug for t in load_themes(THEMES)]
    assert slugs == ["asylum", "darien", "enforcement", "organized-crime"]
    places = load_places(PLACES)
    assert places.country("Colombia").groups[0].text == "ELN"
    assert places.officials[0].until == date(2026, 8, 7)


BROKEN_THEME = """\
slug = "wrong-slug"
title = "Broken"
treshold = 2.0
title_weight = "heavy"
require = ["Darien", "Panama"]
near = 0

[terms]
en = [
  "migrant*",
  "mig*rant",
  "*asylum",
]
es = []
fr = ["frontière"]
exclude = ["hockey"]

[weights]
"migrants" = 2.0
"migrant*" = -1
"""


def test_a_theme_file_with_every_kind_of_mistake_reports_each_with_its_line(tmp_path: Path) -> None:
    write(tmp_path, "broken.toml", BROKEN_THEME)
    write(tmp_path, "syntax.toml", 'slug = "syntax"\ntitle = "unterminated\n')
    with pytest.raises(ConfigErrors) as caught:
        load_themes(tmp_path)
    found = {(e.path.name, e.line, e.key): str(e) for e in caught.value.errors}
    expected = {
        ("broken.toml", 1, "slug"): "does not match the file name",
        ("broken.toml", 3, "treshold"): "Did you mean 'threshold'?",
        ("broken.toml", 4, "title_weight"): "must be a positive number",
        ("broken.toml", 5, "require"): "must be a list of lists",
        ("broken.toml", 6, "near"): "whole number of words",
        ("broken.toml", 11, "en"): "in the middle of a word",
        ("broken.toml", 12, "en"): "does not follow a letter",
        ("broken.toml", 14, "es"): "empty list",
        ("broken.toml", 15, "fr"): "unknown language 'fr'",
        ("broken.toml", 16, "exclude"): "Move 'exclude' above the [terms] table",
        ("broken.toml", 19, "migrants"): 'Did you mean "migrant*"?',
        ("broken.toml", 20, "migrant*"): "must be a positive number",
        ("syntax.toml", 2, None): "invalid TOML",
    }
    for where, words in expected.items():
        assert where in found, f"no error at {where}; got {sorted(found)}"
        assert words in found[where]
    assert len(found) == len(expected)
    assert "broken.toml:3: unknown key 'treshold'. Did you mean 'threshold'?" in str(caught.value)


PAIRED_THEME = """\
slug = "abuses"
title = "Abuses by state forces"
threshold = 2.0

[terms]
en = ["extrajudicial killing*"]

[[pair]]
first = ["soldier*", "troops", "police", "militares", "soldados", "policías"]
second = ["opened fire", "shot", "killed", "abrieron fuego", "dispararon", "mataron"]
within = 5
ordered = true
"""


def test_a_pair_weighs_when_its_two_terms_are_near_each_other_in_order(tmp_path: Path) -> None:
    write(tmp_path, "abuses.toml", PAIRED_THEME)
    paired = Classifier(load_themes(tmp_path))

    def slugs(title: str, summary: str = "") -> list[str]:
        return paired.classify(title, summary).theme_slugs

    assert slugs("Soldados abrieron fuego contra una camioneta con migrantes en Chiapas") == ["abuses"]
    assert slugs("", "Police in Rosario shot a teenager during a raid, witnesses said.") == ["abuses"]
    assert slugs("", "Troops arrived in the city. Nobody knows who, months earlier, had opened fire.") == []  # 7 words apart
    assert slugs("Gang killed two soldiers in an ambush") == []  # the first term must come first
    assert slugs("Soldiers", "A storm killed two people") == []  # not in the same field
    [decision] = paired.decide("", "Militares mataron a cinco jóvenes en Nuevo Laredo.")
    assert decision.given and decision.evidence == ("pair",) and decision.matches[0].term == "militares … mataron"
    assert decision.score == 2.0  # the weight defaults to the threshold: a pair alone gives the theme


def test_a_pair_with_mistakes_reports_each_with_its_line(tmp_path: Path) -> None:
    write(tmp_path, "abuses.toml", PAIRED_THEME.replace("within = 5", "within = 0\nwhithin = 3").replace(
        'first = ["soldier*", "troops", "police", "militares", "soldados", "policías"]\n', ""))
    with pytest.raises(ConfigErrors) as caught:
        load_themes(tmp_path)
    found = {(e.line, e.key): str(e) for e in caught.value.errors}
    assert "has no 'first'" in found[(8, "first")]
    assert "whole number of words" in found[(10, "within")]
    assert "Did you mean 'within'?" in found[(11, "whithin")]


def test_a_theme_without_terms_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "empty.toml", 'slug = "empty"\ntitle = "Empty"\n')
    with pytest.raises(ConfigError, match=r"empty.toml:1: missing \[terms\] table"):
        load_themes(tmp_path)


BROKEN_PLACES = """\
[[country]]
name = "Colombia"
demonym = ["Colombian*"]

[[official]]
name = "Gustavo Petro"
country = "Colombai"
from = "2022-08-07"

[[official]]
name = "Someone"
country = "Colombia"
from = 2024-01-01
until = 2023-01-01

[[official]]
name = "Nobody"
country = "Colombia"

[[mask]]
phrase = ["U.S.-Mexico border"]
"""


def test_a_place_file_with_mistakes_reports_each_with_its_line(tmp_path: Path) -> None:
    write(tmp_path, "broken.toml", BROKEN_PLACES)
    with pytest.raises(ConfigErrors) as caught:
        load_places(tmp_path)
    found = {(e.line, e.key): str(e) for e in caught.value.errors}
    assert "Did you mean 'demonyms'?" in found[(3, "demonym")]
    assert "not a date" in found[(8, "from")]
    assert "before 'from'" in found[(14, "until")]
    assert "took office" in found[(16, "from")]
    assert "Did you mean 'phrases'?" in found[(21, "phrase")]


def test_an_official_of_an_unknown_country_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", '[[country]]\nname = "Colombia"\n\n[[official]]\nname = "Gustavo Petro"\ncountry = "Colombai"\nfrom = 2022-08-07\n')
    with pytest.raises(ConfigError, match=r"a.toml:4: official 'Gustavo Petro' names unknown country 'Colombai'.*Did you mean 'Colombia'\?"):
        load_places(tmp_path)


def test_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no themes folder"):
        load_themes(tmp_path / "nowhere")


def test_a_term_counts_at_its_heaviest_occurrence_in_a_field():
    # "haitianos" (people, 0.25) comes first; "el gobierno haitiano" (the state, 1.0) must still count.
    from borderlinks.config import packaged_defaults

    folder = packaged_defaults() / "classifiers"
    packaged = Classifier(load_themes(folder), load_places(folder / "places"))
    text = "Cientos de haitianos esperan en Tijuana. El gobierno haitiano pidió ayuda a México."
    [haiti] = [d for d in packaged.decide("", text, "es") if d.name == "Haiti"]
    assert haiti.score == 1.0
    assert "Haiti" in packaged.classify("", text, "es").country_names


def test_stored_matches_are_the_json_of_each_terms_first_match_per_field() -> None:
    import json

    from borderlinks.store import encode_tags

    items = [json.loads(line) for line in (Path(__file__).parent / "data" / "classify_eval.jsonl").read_text(encoding="utf-8").splitlines()]
    for item in items[:120]:
        classification = packaged().classify(item["title"], item["text"], when=TODAY)
        for kind, name, score, matches in encode_tags(classification):
            tags = classification.themes if kind == "theme" else classification.countries
            tag = next(t for t in tags if t.name == name)
            first: dict[tuple[str, str], list] = {}
            for m in tag.matches:
                first.setdefault((m.term, m.field), [m.term, m.field, m.start, m.end, m.weight])
            assert matches == json.dumps(list(first.values()), ensure_ascii=False) and score == tag.score


def test_a_country_whose_name_is_a_common_name_is_placed_only_by_fuller_evidence() -> None:
    def names(title: str) -> list[str]:
        return packaged().classify(title, "", when=TODAY).country_names

    assert names("Lt. Chad Morris of the Texas DPS said the buoys stay") == ["United States"]
    assert names("Chad closes its border with Sudan as refugees pour into N'Djamena") == ["Chad", "Sudan"]
    assert names("Michael Jordan") == [] and names("Refugees in Jordan's Zaatari camp face aid cuts") == ["Jordan"]


def test_classify_gives_exactly_what_decide_says_on_the_evaluation_items() -> None:
    # The packaged lists have what the hypothesis test's small taxonomy lacks: pairs, people, masks, lists.
    import json

    for line in (Path(__file__).parent / "data" / "classify_eval.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        result = packaged().classify(item["title"], item["text"], when=TODAY)
        given = [d for d in packaged().decide(item["title"], item["text"], when=TODAY) if d.given]
        assert [(t.name, t.score, t.matches) for t in (*result.themes, *result.countries)] == [
            (d.name, d.score, d.matches) for d in given
        ], item["id"]
