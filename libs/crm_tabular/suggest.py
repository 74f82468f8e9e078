"""A first mapping for a file: each column matched to a target field by its name (the
field's own name or an alias, compared without case, spaces or punctuation; then a close
spelling), with the date format and decimal separator its values showed. What it cannot
decide (ambiguous dates, unmatched columns) it says in notes, for the person to settle."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from . import dates
from .aliases import international
from .infer import ColumnProfile
from .mapping import FieldRule, Mapping
from .targets import FieldSpec, TargetSpec, custom_key
from .values import FieldType

FUZZY_CUTOFF = 0.88
NUMBERS = (FieldType.INTEGER, FieldType.DECIMAL, FieldType.AMOUNT)
# Which inferred column types fit each field type (text fits anything).
FITS = {
    FieldType.INTEGER: {"integer"},
    FieldType.DECIMAL: {"integer", "decimal"},
    FieldType.AMOUNT: {"integer", "decimal", "amount"},
    FieldType.DATE: {"date", "datetime"},
    FieldType.DATETIME: {"date", "datetime"},
    FieldType.EMAIL: {"email"},
    FieldType.BOOLEAN: {"boolean", "integer"},
}


@dataclass
class Suggestion:
    mapping: Mapping | None  # None when a required field found no column
    unmapped: list[str] = field(default_factory=list)  # columns no field took
    notes: list[str] = field(default_factory=list)


def name_key(text: str) -> str:
    """A column or field name as compared: no case, accents, spaces or punctuation."""
    plain = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(char for char in plain if not unicodedata.combining(char))
    return " ".join(re.sub(r"[^0-9a-z]+", " ", plain).split())


def _names(target: TargetSpec, spec: FieldSpec) -> list[str]:
    last = spec.name.rsplit(".", 1)[-1]
    names = (spec.name, last, *spec.aliases, *international(target.name, spec.name))
    return [name_key(n) for n in names]


def suggest_mapping(target: TargetSpec, profiles: Sequence[ColumnProfile]) -> Suggestion:
    keys: dict[str, FieldSpec] = {}
    # English names of every field first: an English name wins over a foreign one.
    for spec in target.fields:
        for key in _names(target, spec)[: 2 + len(spec.aliases)]:
            keys.setdefault(key, spec)
    for spec in target.fields:
        for key in _names(target, spec):
            keys.setdefault(key, spec)
    compact = {key.replace(" ", ""): spec for key, spec in keys.items()}
    chosen: dict[str, ColumnProfile] = {}

    def exact(key: str) -> FieldSpec | None:
        return keys.get(key)

    def spaceless(key: str) -> FieldSpec | None:
        return compact.get(key.replace(" ", ""))

    def close(key: str) -> FieldSpec | None:
        matches = difflib.get_close_matches(key, list(keys), 1, FUZZY_CUTOFF)
        return keys[matches[0]] if matches else None

    passes: tuple[Callable[[str], FieldSpec | None], ...] = (exact, spaceless, close)
    # A column headed `custom.<key>` (as an export writes one) is that custom field.
    custom = {
        profile.name.strip(): profile
        for profile in profiles
        if target.takes_custom and custom_key(profile.name.strip())
    }
    taken: set[str] = {profile.name for profile in custom.values()}
    for match in passes:
        for profile in profiles:
            if profile.name in taken:
                continue
            found = match(name_key(profile.name))
            if found is not None and found.name not in chosen:
                chosen[found.name] = profile
                taken.add(profile.name)
    _by_content(target, profiles, chosen, taken)
    notes: list[str] = []
    rules = {
        spec.name: _rule(spec, chosen[spec.name], notes)
        for spec in target.fields
        if spec.name in chosen
    }
    for name, profile in custom.items():
        rules[name] = _rule(FieldSpec(name, FieldType.AUTO, "a custom field"), profile, notes)
    unmapped = [profile.name for profile in profiles if profile.name not in taken]
    missing = [name for name in target.required if name not in rules]
    for name in missing:
        notes.append(f"no column looks like {name!r}, which {target.name} need: map one")
    # Partial when a required field found no column: the person maps what is left.
    mapping = Mapping(target.name, rules) if rules else None
    return Suggestion(mapping, unmapped, notes)


# What a column's values show -> the field type they fill, whatever the column's name.
_CONTENT = {"email": FieldType.EMAIL, "url": FieldType.URL, "phone": FieldType.LIST}


def _by_content(
    target: TargetSpec,
    profiles: Sequence[ColumnProfile],
    chosen: dict[str, ColumnProfile],
    taken: set[str],
) -> None:
    """Columns no name matched, judged by their values: the one column of email
    addresses (of URLs, of phone numbers) fills the first such field still free."""
    for kind, field_type in _CONTENT.items():
        columns = [p for p in profiles if p.name not in taken and p.type == kind]
        free = [
            spec
            for spec in target.fields
            if spec.type is field_type
            and spec.name not in chosen
            and (kind != "phone" or spec.name == "phones")
        ]
        if len(columns) == 1 and free:
            chosen[free[0].name] = columns[0]
            taken.add(columns[0].name)


def _rule(spec: FieldSpec, profile: ColumnProfile, notes: list[str]) -> FieldRule:
    rule = FieldRule(column=profile.name)
    fits = FITS.get(spec.type)
    if fits is not None and profile.type not in fits | {"empty"}:
        notes.append(
            f"column {profile.name!r} looks like {profile.type} for field {spec.name!r} "
            f"({spec.type}): check its values"
        )
    if spec.type in (FieldType.DATE, FieldType.DATETIME) and profile.date_formats:
        formats = profile.date_formats
        # Ambiguous formats are left for the person to choose (the preview says so).
        if not profile.ambiguous_dates and formats[0] != dates.ISO:
            rule = FieldRule(column=profile.name, date_format=formats[0])
    if profile.decimal_separator == "," and spec.type in NUMBERS:
        rule = FieldRule(column=profile.name, decimal_separator=",")
    return rule
