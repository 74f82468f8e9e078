"""Duplicates within one file, judged two ways and reported apart:

- whole rows: every cell the same (after trimming), mapped or not;
- identity keys: the same external id, email or domain (normalised: case, `www.`) in rows
  that may differ otherwise.

Memory: one 8-byte digest and a 4-byte row number per distinct row and per distinct key
value, in open-addressing tables kept between a quarter and half full (24 to 48 bytes an
entry, where a dict of Python ints takes some 100), so a million rows with one identity
key need 50 to 100 MB.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import RowIssue, Severity
from .values import normalise_domain


@dataclass
class DuplicateGroup:
    rows: list[int]  # the first occurrence, then each repeat
    key: str | None = None  # None for whole rows
    value: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "key": self.key, "value": self.value}


@dataclass
class DuplicateReport:
    whole_rows: list[DuplicateGroup] = field(default_factory=list)
    by_key: dict[str, list[DuplicateGroup]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "wholeRows": [group.as_dict() for group in self.whole_rows],
            "byKey": {k: [g.as_dict() for g in groups] for k, groups in self.by_key.items()},
        }


def _digest(text: str) -> int:
    """63 bits of BLAKE2b, never 0 (an empty slot): collisions among a million values have
    a chance of about 1 in 10^7."""
    digest = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
    return (digest >> 1) | 1


class FirstRows:
    """digest -> the first row it was seen in: linear probing over two flat arrays."""

    def __init__(self, slots: int = 1024) -> None:
        self._keys = array("q", bytes(8 * slots))
        self._rows = array("I", bytes(4 * slots))
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def setdefault(self, key: int, row: int) -> int:
        """The row first seen with `key`, recording `row` if it is this one."""
        keys = self._keys
        mask = len(keys) - 1
        slot = key & mask
        while True:
            found = keys[slot]
            if found == key:
                return self._rows[slot]
            if found == 0:
                keys[slot] = key
                self._rows[slot] = row
                self._count += 1
                if 2 * self._count > len(keys):
                    self._grow()
                return row
            slot = (slot + 1) & mask

    def _grow(self) -> None:
        keys, rows = self._keys, self._rows
        self._keys = array("q", bytes(16 * len(keys)))
        self._rows = array("I", bytes(8 * len(rows)))
        self._count = 0
        for key, row in zip(keys, rows, strict=True):
            if key:
                self.setdefault(key, row)


def identity_value(key: str, value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if key in ("email", "contact_email"):
        text = text.casefold()
    elif key.endswith("domain"):
        text = normalise_domain(text)
    elif key == "name":  # a company's name as an identity key: case and spacing ignored
        text = " ".join(text.split()).casefold()
    return text or None


class DuplicateFinder:
    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = tuple(keys)
        self._rows = FirstRows()
        self._keys = {key: FirstRows() for key in self.keys}
        self._groups: dict[tuple[str | None, int], DuplicateGroup] = {}

    def observe(self, row: int, cells: Sequence[str], values: Mapping[str, Any]) -> list[RowIssue]:
        """Warnings for `row` (its cells as read, its mapped values) repeating an earlier one."""
        found: list[RowIssue] = []
        whole = _digest("\x1f".join(cell.strip() for cell in cells))
        first = self._rows.setdefault(whole, row)
        if first != row:
            self._group(None, first, None).rows.append(row)
            found.append(
                RowIssue(row, "duplicate_row", f"repeats row {first} cell for cell",
                         severity=Severity.WARNING)
            )  # fmt: skip
        for key in self.keys:
            value = identity_value(key, values.get(key))
            if value is None:
                continue
            seen = self._keys[key]
            first = seen.setdefault(_digest(value), row)
            if first != row:
                self._group(key, first, value).rows.append(row)
                found.append(
                    RowIssue(row, "duplicate_key", f"{value!r} is also in row {first}",
                             field=key, value=value, severity=Severity.WARNING)
                )  # fmt: skip
        return found

    def _group(self, key: str | None, first: int, value: str | None) -> DuplicateGroup:
        group = self._groups.get((key, first))
        if group is None:
            group = self._groups[(key, first)] = DuplicateGroup([first], key, value)
        return group

    def report(self) -> DuplicateReport:
        report = DuplicateReport(by_key={key: [] for key in self.keys})
        for (key, _), group in sorted(self._groups.items(), key=lambda item: item[1].rows[0]):
            if key is None:
                report.whole_rows.append(group)
            else:
                report.by_key[key].append(group)
        return report
