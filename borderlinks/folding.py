"""Folding text so that matching ignores case, accents and punctuation.

"Darién", "DARIEN" and "darien" must match the same term, and "U.S. Border-Patrol"
the phrase "U.S. Border Patrol". Both the item text and the terms are folded the
same way, once, by :func:`fold_text`. Folding runs for every item, so it is built
for speed: ASCII text (most of an English feed) takes one ``bytes.translate`` with
a fixed table; each non-ASCII character is folded once, on first sight, and
cached, instead of normalising (NFKD) the whole string every time. The textbook
NFKD-and-filter loop is several times slower (benchmarks/classify.py measures it).
"""

from __future__ import annotations

import unicodedata

__all__ = ["fold_text", "fold_char"]

# Letters that NFKD does not decompose but a reader sees as a base letter plus a mark.
_SPECIAL = {
    "ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ð": "d", "ł": "l", "ŀ": "l",
    "þ": "th", "ı": "i", "ħ": "h", "ŧ": "t", "ĸ": "k", "ŉ": "n",
}
# Marks, and invisible format characters such as the soft hyphen and zero-width
# joiners, vanish instead of splitting a word in two.
_VANISH = frozenset({"Mn", "Me", "Cf"})

_ASCII_TABLE = str.maketrans({chr(i): (chr(i).lower() if chr(i).isalnum() else " ") for i in range(128)})
# The same mapping for bytes: bytes.translate is a plain table lookup, several times
# faster than str.translate, which rebuilds its ASCII cache on every call.
_ASCII_BYTES = bytes(ord(chr(i).translate(_ASCII_TABLE)) for i in range(128)) + b" " * 128


def _fold_once(text: str) -> str:
    out: list[str] = []
    for ch in text:
        if unicodedata.category(ch) in _VANISH:
            continue
        for part in unicodedata.normalize("NFKD", ch).casefold():
            if unicodedata.category(part) in _VANISH:
                continue
            part = _SPECIAL.get(part, part)
            out.append(part if part.isalnum() else " ")
    return "".join(out)


def fold_char(ch: str) -> str:
    """The folded form of one character: lower-case letters or digits, a space, or nothing."""
    if ch.isascii():
        return ch.translate(_ASCII_TABLE)
    folded = ch
    # Casefolding may reveal marks or ligatures (İ → i + dot); repeat until nothing changes.
    for _ in range(4):
        again = _fold_once(folded)
        if again == folded:
            break
        folded = again
    return folded


# The folded form of every non-ASCII character seen so far.
_CHARS: dict[str, str] = {}
_ASCII_VALUES = bytes(range(128))


def fold_text(text: str) -> str:
    """Lower-case ``text``, strip accents, turn every non-alphanumeric run into one space.

    Matches report offsets into this folded text, so it is also what an
    explanation quotes. Idempotent: folding folded text changes nothing.
    """
    if not text.isascii():
        # A news text holds a handful of distinct non-ASCII characters (curly
        # quotes, dashes, accented letters): replace each once, from the cache.
        # Dropping every ASCII byte of the UTF-8 leaves those characters whole,
        # much faster than a regular expression over the text.
        chars = _CHARS
        try:
            others = set(text.encode("utf-8").translate(None, _ASCII_VALUES).decode("utf-8"))
        except UnicodeEncodeError:  # a lone surrogate, from text decoded with errors="surrogateescape"
            others = {ch for ch in text if not ch.isascii()}
        for ch in others:
            folded = chars.get(ch)
            if folded is None:
                folded = chars[ch] = fold_char(ch)
            text = text.replace(ch, folded)
    if text.isascii():
        data = text.encode("ascii").translate(_ASCII_BYTES)
        while True:  # collapse runs of spaces ("Texas, “" became four)
            shorter = data.replace(b"  ", b" ")
            if len(shorter) == len(data):
                return data.strip().decode("ascii")
            data = shorter
    # Letters that fold to non-ASCII (Greek, Cyrillic...) are folded already and pass through.
    text = text.translate(_ASCII_TABLE)
    while "  " in text:
        text = text.replace("  ", " ")
    return text.strip()
