"""Normalising text and URLs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from borderlinks.text import canonical_url, clean_text, is_web_url, parse_date, truncate_words


def test_canonical_url_drops_tracking_parameters_and_fragment():
    url = "HTTPS://WWW.Example.COM:443/Story?id=7&utm_source=rss&utm_medium=feed&fbclid=abc&gclid=x#comments"
    assert canonical_url(url) == "https://www.example.com/Story?id=7"


def test_canonical_url_keeps_meaningful_query_order_and_path_case():
    assert canonical_url("http://example.com:8080/a/B?z=1&a=2") == "http://example.com:8080/a/B?z=1&a=2"
    assert canonical_url("https://example.com") == "https://example.com/"


def test_clean_text_strips_tags_scripts_and_entities():
    html = '<p>Los &#8220;migrantes&#8221; llegaron&nbsp;a <a href="x" onclick="evil()">Tapachula</a>.</p><script>alert(1)</script>'
    assert clean_text(html) == "Los “migrantes” llegaron a Tapachula."


def test_clean_text_decodes_double_encoded_entities():
    assert clean_text("Caf&amp;eacute; &amp;amp; frontera") == "Café & frontera"


def test_clean_text_keeps_plain_text_with_angle_brackets_readable():
    assert clean_text("Apprehensions < 2,000 & falling") == "Apprehensions < 2,000 & falling"


def test_clean_text_separates_block_elements():
    assert clean_text("<p>One.</p><p>Two.</p>") == "One. Two."


def test_truncate_never_cuts_mid_word():
    text = "La Patrulla Fronteriza detuvo a migrantes cerca de Ciudad Juárez"
    short = truncate_words(text, 30)
    assert short == "La Patrulla Fronteriza detuvo…"
    assert len(short) <= 30


@given(st.text(min_size=1, max_size=200), st.integers(min_value=10, max_value=100))
def test_truncate_respects_the_limit(text, limit):
    assert len(truncate_words(text, limit)) <= limit


@given(st.text(max_size=300))
def test_clean_text_is_idempotent_on_plain_text(text):
    once = clean_text(text.replace("<", " ").replace("&", " "))
    assert clean_text(once) == once


def test_parse_date_handles_rfc822_and_iso_into_utc():
    assert parse_date("Thu, 20 Mar 2025 14:05:00 -0500").isoformat() == "2025-03-20T19:05:00+00:00"
    assert parse_date("2025-03-20T12:00:00Z").isoformat() == "2025-03-20T12:00:00+00:00"
    assert parse_date("2025-03-20").isoformat() == "2025-03-20T00:00:00+00:00"
    assert parse_date("20 de marzo") is None


def test_malformed_urls_are_kept_and_never_printed_as_links():
    assert canonical_url("https://x.com:abc/a") == "https://x.com:abc/a"
    assert not is_web_url("https://x.com:abc/a")
    assert not is_web_url("javascript:alert(1)")
    assert is_web_url("https://x.example/a?b=c")
