"""Source definitions and settings: defaults, and mistakes reported by file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from borderlinks.config import Home, load_settings, load_sources, packaged_defaults
from borderlinks.errors import ConfigError
from conftest import SiteHome

GOOD = """
# two outlets
[[source]]
id = "el-paso-times"
name = "El Paso Times"
url = "https://www.elpasotimes.com/feed/"

[[source]]
id = "inm"
name = "Instituto Nacional de Migración"
url = "https://www.gob.mx/inm/archivo/prensa"
type = "page"
language = "es"
country = "Mexico"
kind = "official"
every = 120

[source.selectors]
items = "article"
title = "h2"
link = "a"
"""


def load(site: SiteHome, text: str):
    site.write_sources(text)
    return load_sources(site.root / "sources")


def error_of(site: SiteHome, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(site, text)
    return caught.value


def test_only_id_name_and_url_are_required(site: SiteHome):
    first, second = load(site, GOOD)
    assert (first.type, first.language, first.lean, first.kind, first.priority, first.enabled) == ("feed", "en", "center", "news", 5, True)
    assert first.line == 3
    assert second.selectors.items == "article"
    assert (second.language, second.kind, second.every) == ("es", "official", 120)


def test_unknown_key_names_file_line_and_suggests_the_fix(site: SiteHome):
    error = error_of(site, GOOD.replace('language = "es"', 'langauge = "es"'))
    assert error.path.name == "test.toml"
    assert error.line == 13
    assert "unknown key 'langauge'" in str(error)
    assert "Did you mean 'language'?" in str(error)


def test_duplicate_id_points_at_both_definitions(site: SiteHome):
    error = error_of(site, GOOD.replace('id = "inm"', 'id = "el-paso-times"'))
    assert "duplicate source id 'el-paso-times'" in str(error)
    assert "test.toml:3" in str(error)
    assert error.line == 8


def test_bad_url_is_reported_with_its_line(site: SiteHome):
    error = error_of(site, GOOD.replace("https://www.elpasotimes.com/feed/", "www.elpasotimes.com/feed/"))
    assert error.line == 6
    assert "must start with http:// or https://" in str(error)


def test_bad_selector_is_reported_with_its_line(site: SiteHome):
    error = error_of(site, GOOD.replace('title = "h2"', 'title = "h2[[["'))
    assert error.line == 20
    assert "bad CSS selector for 'title'" in str(error)


def test_missing_selectors_for_a_page_source(site: SiteHome):
    error = error_of(site, GOOD.split("[source.selectors]")[0])
    assert "needs a [source.selectors] table" in str(error)


def test_wrong_choice_lists_the_allowed_values(site: SiteHome):
    error = error_of(site, GOOD.replace('kind = "official"', 'kind = "press"'))
    assert "Use one of: news, analysis, official, opinion" in str(error)
    assert error.line == 15


def test_toml_syntax_error_names_the_line(site: SiteHome):
    error = error_of(site, GOOD.replace('name = "El Paso Times"', "name = El Paso Times"))
    assert error.line == 5
    assert "invalid TOML" in str(error)


def test_every_mistake_of_every_file_is_reported_at_once(site: SiteHome):
    site.write_sources('[[source]]\nid = "a"\nname = "A"\nurl = "ftp://a"\n', "one.toml")
    site.write_sources('[[source]]\nid = "B b"\nname = "B"\n', "two.toml")
    with pytest.raises(ConfigError) as caught:
        load_sources(site.root / "sources")
    text = str(caught.value)
    assert "one.toml:4" in text
    assert "two.toml:2: id 'B b' is not a slug" in text
    assert "two.toml:1: missing required key 'url'" in text


def test_not_utf8_file_is_reported(site: SiteHome):
    (site.root / "sources" / "latin.toml").write_bytes('[[source]]\nid = "a"\nname = "Migraci\xf3n"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        load_sources(site.root / "sources")


def test_settings_mistake_names_the_key(tmp_path: Path):
    path = tmp_path / "borderlinks.toml"
    path.write_text("[fetch]\nconcurrency = 100\nper_hots = 4\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.line == 3
    assert "Did you mean 'per_host'?" in str(caught.value)


def test_settings_defaults(tmp_path: Path):
    settings = load_settings(tmp_path / "missing.toml")
    assert (settings.fetch.concurrency, settings.fetch.per_host, settings.fetch.max_bytes) == (100, 4, 10_000_000)


def test_home_folder_replaces_a_content_folder_wholly_and_falls_back_otherwise(site: SiteHome):
    site.write_sources(GOOD)
    assert site.home.content("sources") == site.root / "sources"
    assert site.home.content("classifiers") == packaged_defaults() / "classifiers"
    assert [s.id for s in site.home.sources()] == ["el-paso-times", "inm"]


def test_home_defaults_to_the_environment_variable(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("BORDERLINKS_HOME", str(tmp_path))
    assert Home.resolve().root == tmp_path.resolve()


def test_packaged_catalogue_is_valid_and_broad():
    sources = load_sources(packaged_defaults() / "sources")
    assert len(sources) >= 60
    languages = {s.language for s in sources}
    assert {"en", "es"} <= languages
    assert sum(s.language == "es" for s in sources) >= 20
    assert sum(s.lean == "right" for s in sources) >= 5
    assert {"news", "analysis", "official"} <= {s.kind for s in sources}
    assert any(s.type == "page" for s in sources)
    countries = {s.country for s in sources}
    assert {"United States", "Mexico", "Colombia", "Venezuela", "Panama"} <= countries
