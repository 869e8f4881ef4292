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


def clean_text_reference(value: str | None, limit: int | None = None) -> str:
    """clean_text as first written, without its shortcuts: what the fast paths must give."""
    import html

    from borderlinks import text as t

    if not value:
        return ""
    text = value
    if t._TAG_HINT.search(text):
        for _ in range(2):
            if "<" in text:
                if "<!" in text or "]]>" in text:
                    text = t._COMMENT.sub(" ", text)
                if t._DROP_HINT.search(text):
                    text = t._DROP.sub(" ", text)
                text = t._TAG.sub(t._tag_replacement, text)
            if "&" not in text:
                break
            decoded = html.unescape(text)
            if decoded == text:
                break
            text = decoded
            if not t._TAG_HINT.search(text):
                break
    text = text.replace("\u00ad", "").replace("\ufeff", "").replace("\u200b", "")
    text = " ".join(text.split())
    return truncate_words(text, limit) if limit is not None else text


# Every kind of whitespace, the invisible characters clean_text drops, markup and entities.
TRICKY = st.sampled_from(
    [" ", "  ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u1680", "\u2007", "\u2028",
     "\u2029", "\u202f", "\u3000", "\u00ad", "\u200b", "\ufeff", "\u2060", "\x00", "&nbsp;", "&#10;", "&amp;",
     "&lt;p&gt;", "<p>", "</p>", "<b>", "<br/>", "<!-- x -->", "<script>x</script>", "<", "&", ">", "é", "“",
     "word", "a"]
)


@given(st.lists(TRICKY | st.text(max_size=3), max_size=30).map("".join), st.sampled_from([None, 20, 1200]))
def test_clean_text_shortcuts_give_what_the_general_path_gives(text, limit):
    assert clean_text(text, limit) == clean_text_reference(text, limit)


def test_clean_text_shortcuts_give_what_the_general_path_gives_on_the_corpus():
    import feedparser
    import pytest

    from conftest import CORPUS, DATA

    files = [p for p in (CORPUS / "feeds").rglob("*") if p.is_file()] if CORPUS.is_dir() else []
    files += [p for p in (DATA / "feeds").iterdir() if p.is_file()]
    if len(files) < 100:
        pytest.skip("../shared/corpus is not beside this clone")
    texts = 0
    for path in files:
        for entry in feedparser.parse(path.read_bytes(), sanitize_html=False).entries:
            values = [entry.get(k) for k in ("title", "summary", "author")] + [c.get("value") for c in entry.get("content") or []]
            for value in values:
                if isinstance(value, str):
                    texts += 1
                    assert clean_text(value, 1200) == clean_text_reference(value, 1200), (path.name, value[:200])
    assert texts > 1000
