"""A character-for-character case folding that never tells apart two characters Python's
regular expressions match to each other under `re.IGNORECASE`: a text found by a
case-insensitive pattern is found, folded, in the folded string (the trigram postings of
`crm_kit.text_column` are kept over folded texts for case-insensitive searches).

Why not `str.casefold` or `str.lower`: they change lengths ('ß' -> 'ss', 'İ' -> 'i̇') and
differ from the engine, which compares characters one to one by their simple lower case
plus a few extra pairs (dotless i U+0131 ~ i, long s U+017F ~ s, micro ~ mu, the Kelvin
sign ~ k...). The
classes here are read from the engine itself: every character with a case mapping is
matched against all the others by `re.IGNORECASE`, and each class folds to its smallest
member. A character without a case mapping matches only itself and folds to itself.
Folding more than the engine would only add false hits (the caller checks every hit with
the real pattern); folding less would miss matches, which the unit tests rule out.
"""

from __future__ import annotations

import re
import sys
from functools import cache


def cased() -> list[str]:
    """Every character with a case mapping (the only ones a case-insensitive pattern may
    match to another character)."""
    found: list[str] = []
    for point in range(sys.maxunicode + 1):
        if 0xD800 <= point <= 0xDFFF:
            continue  # surrogates: never in a str from outside
        char = chr(point)
        if char.lower() != char or char.upper() != char or char.casefold() != char:
            found.append(char)
    return found


@cache
def table() -> dict[int, int]:
    """`str.translate` table: each character that folds to another, to it (~0.5 s, once)."""
    chars = cased()
    haystack = "".join(chars)
    smallest: dict[str, str] = {}
    for char in chars:
        # The engine's own class of `char`: all the cased characters it matches.
        matched = re.findall(re.escape(char), haystack, re.IGNORECASE)
        low = min(matched, default=char)
        for other in matched:
            if smallest.get(other, other) > low:
                smallest[other] = low
    # Classes are closed (the relation is symmetric and transitive, each class folds to
    # its own minimum); one more pass settles any chain the order above left behind.
    changed = True
    while changed:
        changed = False
        for char, low in smallest.items():
            lower = smallest.get(low, low)
            if lower < low:
                smallest[char] = lower
                changed = True
    return {ord(char): ord(low) for char, low in smallest.items() if low != char}


def ready() -> bool:
    """Whether `table` has been read from the engine (after that, `fold` never blocks)."""
    return table.cache_info().currsize > 0


def fold(text: str) -> str:
    """`text` with every character replaced by its class's smallest member (same length)."""
    if text.isascii():
        # The classes of ASCII letters have their capital as smallest member ('I' of
        # i, I, U+0130 and U+0131; 'K' of k, K and the Kelvin sign): in C, no table.
        return text.upper()
    return text.translate(table())
