"""Which delimiter separates the fields: `,` `;` tab or `|`, judged on the first records.

Each candidate splits the sample with the csv module (so a delimiter inside quotes, or a
quoted newline, does not count); the winner gives the most records the same number of
fields, then the most fields, then comes first in CANDIDATES. A file no candidate splits
has one column.
"""

from __future__ import annotations

import csv
import io
from collections import Counter

from .errors import OptionError

CANDIDATES = (",", ";", "\t", "|")
SAMPLE_RECORDS = 200


def sniff_delimiter(sample: str, *, complete: bool) -> str:
    """The delimiter of a text whose start is `sample` (`complete` when it is all of it:
    otherwise its last record may be cut and is not counted)."""
    best: tuple[float, int, int] | None = None
    chosen = ","
    for preference, candidate in enumerate(CANDIDATES):
        widths = _widths(sample, candidate, complete)
        if not widths:
            continue
        mode, count = Counter(widths).most_common(1)[0]
        if mode < 2:
            continue
        score = (round(count / len(widths), 3), mode, -preference)
        if best is None or score > best:
            best, chosen = score, candidate
    return chosen


def _widths(sample: str, delimiter: str, complete: bool) -> list[int]:
    reader = csv.reader(io.StringIO(sample), delimiter=delimiter, strict=False)
    widths: list[int] = []
    try:
        for record in reader:
            if any(field.strip() for field in record):
                widths.append(len(record))
            if len(widths) > SAMPLE_RECORDS:
                break
    except csv.Error:
        return widths
    if not complete and len(widths) > 1 and len(widths) <= SAMPLE_RECORDS:
        widths.pop()  # the sample may end inside this record
    return widths


def check_delimiter(delimiter: str) -> str:
    """A delimiter the caller chose: one character, not a quote or a line break."""
    aliases = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
    chosen = aliases.get(delimiter.lower(), delimiter)
    if len(chosen) != 1 or chosen in '"\r\n' or chosen.isalnum():
        raise OptionError(f"delimiter {delimiter!r}: give one character such as , ; | or tab")
    return chosen
