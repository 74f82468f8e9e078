"""A mapping: how a file's columns become a target's fields. Declarative, JSON both ways,
validated with every problem named by its place (`fields.stage.values.Won`).

    {
      "target": "deals",
      "fields": {
        "external_id": {"column": "Deal ID"},
        "title": {"template": "{Product} for {Account}"},
        "stage": {"column": "Status", "values": {"Closed Won": "won", "Closed Lost": "lost"}},
        "engaged_at": {"column": "Created", "date_format": "%d-%m-%Y"},
        "source": {"constant": "trade fair 2024"},
        "custom.region": {"column": "Region"}
      },
      "currency": "EUR",
      "timezone": "Europe/Paris"
    }

A field takes its text from one `column`, a `constant` or a `template` of columns
(`{First} {Last}`; `{{` and `}}` are literal braces). Then: `values` maps texts to others
(matched ignoring case and repeated spaces), `default` fills a blank, and the text is
read as the field's type with the rule's `date_format`, `timezone`, `decimal_separator`
or list `separator`, else the mapping's. One column may feed any number of fields.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from . import dates
from .errors import MappingError, MappingProblem, ValueProblem
from .targets import TARGETS, FieldSpec, TargetSpec, custom_key
from .values import Conversion, FieldType, convert

SOURCES = ("column", "constant", "template")
RULE_KEYS = (
    *SOURCES, "values", "default", "date_format", "timezone", "decimal_separator",
    "separator", "type",
)  # fmt: skip
MAPPING_KEYS = (
    "target", "fields", "timezone", "date_format", "currency", "decimal_separator",
    "match_by_name",
)  # fmt: skip
DATED = (FieldType.DATE, FieldType.DATETIME)
NUMERIC = (FieldType.INTEGER, FieldType.DECIMAL, FieldType.AMOUNT, FieldType.AUTO)
CUSTOM_TYPES = tuple(t for t in FieldType if t is not FieldType.ENUM)
MAX_RULE_TEXT = 1000  # a template, constant or value-map entry


@dataclass(frozen=True)
class FieldRule:
    column: str | None = None
    constant: str | None = None
    template: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    default: str | None = None
    date_format: str | None = None
    timezone: str | None = None
    decimal_separator: str | None = None
    separator: str | None = None
    type: FieldType | None = None  # custom fields only (others have their spec's)

    def columns(self) -> list[str]:
        if self.column is not None:
            return [self.column]
        if self.template is not None:
            return [part for part in parse_template(self.template) if isinstance(part, Column)]
        return []

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in RULE_KEYS:
            value = getattr(self, key)
            if value is None or value == {}:
                continue
            out[key] = str(value) if key == "type" else (dict(value) if key == "values" else value)
        return out


@dataclass(frozen=True)
class Mapping:
    target: str
    fields: dict[str, FieldRule]
    timezone: str = "UTC"
    date_format: str | None = None
    currency: str | None = None
    decimal_separator: str | None = None
    # Companies: whether a company's normalised name (case and repeated spaces ignored)
    # identifies it too, beside its external id and domain; None: when no domain is mapped.
    match_by_name: bool | None = None

    @property
    def spec(self) -> TargetSpec:
        return TARGETS[self.target]

    @property
    def companies_by_name(self) -> bool:
        """Whether companies are identified by their name too: as asked, else when the
        mapping gives no domain (a re-import of a file without domains must find the
        companies it made, as HubSpot's and Pipedrive's importers do by name)."""
        if self.target != "companies":
            return False
        if self.match_by_name is not None:
            return self.match_by_name
        return "domain" not in self.fields

    @property
    def identity(self) -> tuple[str, ...]:
        """The fields that identify a record of this mapping's target."""
        return (*self.spec.identity, "name") if self.companies_by_name else self.spec.identity

    def field_spec(self, name: str) -> FieldSpec:
        """The spec a field is read by (a custom field's rule may give its type)."""
        spec = self.spec.field(name)
        assert spec is not None, name  # validated
        rule = self.fields.get(name)
        if rule is not None and rule.type is not None and custom_key(name):
            return replace(spec, type=rule.type)
        return spec

    def conversion(self, name: str) -> Conversion:
        spec = self.field_spec(name)
        rule = self.fields.get(name, FieldRule())
        return Conversion(
            spec.type,
            date_format=rule.date_format or self.date_format,
            timezone=rule.timezone or self.timezone,
            decimal_separator=rule.decimal_separator or self.decimal_separator,
            separator=rule.separator,
            choices=spec.choices,
        )

    def columns(self) -> set[str]:
        return {column for rule in self.fields.values() for column in rule.columns()}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "target": self.target,
            "fields": {name: rule.to_json() for name, rule in self.fields.items()},
            "timezone": self.timezone,
        }
        for key in ("date_format", "currency", "decimal_separator", "match_by_name"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_json(cls, data: Any) -> Mapping:
        """The mapping `data` describes; MappingError lists everything wrong with it."""
        problems: list[MappingProblem] = []
        mapping = _parse(data, problems)
        if mapping is not None and not problems:
            problems.extend(mapping.problems())
        if problems or mapping is None:
            raise MappingError(problems)
        return mapping

    def problems(self) -> list[MappingProblem]:
        """What is wrong with this mapping on its own (no file needed)."""
        return _check(self)

    def check_header(self, header: Sequence[str]) -> None:
        """Raise MappingError if a rule names a column the file does not have."""
        problems = list(self.problems())
        present = set(header)
        for name, rule in self.fields.items():
            where = f"fields.{name}.{'column' if rule.column is not None else 'template'}"
            for column in rule.columns():
                if column not in present:
                    close = difflib.get_close_matches(column, list(header), n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    problems.append(
                        MappingProblem(where, f"the file has no column {column!r}{hint}")
                    )
        if problems:
            raise MappingError(problems)


# -- templates -------------------------------------------------------------------------


class Column(str):
    """A placeholder of a template: the column it names."""


def parse_template(template: str) -> list[str]:
    """`{First} {Last}` -> [Column('First'), ' ', Column('Last')]. Raises ValueProblem."""
    parts: list[str] = []
    literal: list[str] = []
    index = 0
    while index < len(template):
        char = template[index]
        if template.startswith(("{{", "}}"), index):
            literal.append(char)
            index += 2
        elif char == "{":
            end = template.find("}", index)
            name = template[index + 1 : end] if end > 0 else ""
            if end < 0 or "{" in name:
                raise ValueProblem(f"has a {{ at {index + 1} that is not closed")
            if not name.strip():
                raise ValueProblem("has an empty {}: name a column inside the braces")
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(Column(name))
            index = end + 1
        elif char == "}":
            raise ValueProblem(f"has a }} at {index + 1} that closes nothing (write }}}} for one)")
        else:
            literal.append(char)
            index += 1
    if literal:
        parts.append("".join(literal))
    if not any(isinstance(part, Column) for part in parts):
        raise ValueProblem("names no column: use {Column name}, or a constant")
    return parts


# -- reading JSON ----------------------------------------------------------------------


def _parse(data: Any, problems: list[MappingProblem]) -> Mapping | None:
    if not isinstance(data, dict):
        problems.append(MappingProblem("mapping", "must be a JSON object"))
        return None
    for key in data:
        if key not in MAPPING_KEYS:
            problems.append(
                MappingProblem(str(key), f"unknown key; one of {', '.join(MAPPING_KEYS)}")
            )
    target = data.get("target")
    if target not in TARGETS:
        problems.append(MappingProblem("target", f"{target!r} is not one of {', '.join(TARGETS)}"))
        return None
    raw_fields = data.get("fields")
    if not isinstance(raw_fields, dict) or not raw_fields:
        problems.append(MappingProblem("fields", "must be an object mapping fields to rules"))
        return None
    rules: dict[str, FieldRule] = {}
    for name, raw in raw_fields.items():
        rule = _parse_rule(f"fields.{name}", raw, problems)
        if rule is not None:
            rules[str(name)] = rule
    options: dict[str, Any] = {}
    for key in ("timezone", "date_format", "currency", "decimal_separator"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            problems.append(MappingProblem(key, "must be a string"))
        elif value is not None:
            options[key] = value
    by_name = data.get("match_by_name")
    if by_name is not None and not isinstance(by_name, bool):
        problems.append(MappingProblem("match_by_name", "must be true or false"))
    elif by_name is not None and target != "companies":
        problems.append(MappingProblem("match_by_name", "applies to companies only"))
    elif by_name is not None:
        options["match_by_name"] = by_name
    return Mapping(target, rules, **options)


def _parse_rule(where: str, raw: Any, problems: list[MappingProblem]) -> FieldRule | None:
    if isinstance(raw, str):
        return FieldRule(column=raw)  # shorthand: "email": "E-mail address"
    if not isinstance(raw, dict):
        problems.append(MappingProblem(where, 'must be a rule object such as {"column": "Email"}'))
        return None
    ok = True
    for key in raw:
        if key not in RULE_KEYS:
            problems.append(
                MappingProblem(f"{where}.{key}", f"unknown key; one of {', '.join(RULE_KEYS)}")
            )
            ok = False
    text: dict[str, Any] = {}
    for key in RULE_KEYS:
        value = raw.get(key)
        if value is None or key == "values":
            continue
        if key == "constant" and isinstance(value, bool | int | float):
            value = str(value).lower() if isinstance(value, bool) else str(value)
        if not isinstance(value, str):
            problems.append(MappingProblem(f"{where}.{key}", "must be a string"))
            ok = False
        elif len(value) > MAX_RULE_TEXT:
            problems.append(MappingProblem(f"{where}.{key}", f"longer than {MAX_RULE_TEXT}"))
            ok = False
        else:
            text[key] = value
    values = _parse_values(f"{where}.values", raw.get("values"), problems)
    kind = None
    if "type" in text:
        try:
            kind = FieldType(text.pop("type"))
        except ValueError:
            names = ", ".join(str(t) for t in CUSTOM_TYPES)
            problems.append(MappingProblem(f"{where}.type", f"one of {names}"))
            ok = False
    if values is None or not ok:
        return None
    return FieldRule(**text, values=values, type=kind)


def _parse_values(where: str, raw: Any, problems: list[MappingProblem]) -> dict[str, str] | None:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(MappingProblem(where, 'must map texts to texts: {"Closed Won": "won"}'))
        return None
    out: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(value, str) or len(value) > MAX_RULE_TEXT:
            problems.append(MappingProblem(f"{where}.{key}", "must be a string"))
            return None
        out[str(key)] = value
    return out


# -- checking against the target -------------------------------------------------------


def _check(mapping: Mapping) -> list[MappingProblem]:
    problems: list[MappingProblem] = []
    spec = mapping.spec
    for key, value in (("timezone", mapping.timezone),):
        try:
            dates.zone_info(value)
        except ValueProblem as error:
            problems.append(MappingProblem(key, str(error)))
    if mapping.date_format is not None and (why := dates.check_format(mapping.date_format)):
        problems.append(MappingProblem("date_format", why))
    if mapping.currency is not None and re.fullmatch(r"[A-Z]{3}", mapping.currency) is None:
        problems.append(MappingProblem("currency", "an ISO 4217 code such as USD or EUR"))
    if mapping.decimal_separator not in (None, ".", ","):
        problems.append(MappingProblem("decimal_separator", 'either "." or ","'))
    for name, rule in mapping.fields.items():
        where = f"fields.{name}"
        field_spec = spec.field(name)
        if field_spec is None:
            known = ", ".join([*spec.by_name, *(["custom.<key>"] if spec.takes_custom else [])])
            problems.append(
                MappingProblem(where, f"{spec.name} have no such field; one of {known}")
            )
            continue
        problems.extend(_check_rule(mapping, name, rule, where))
    for required in spec.required:
        if required not in mapping.fields:
            problems.append(
                MappingProblem(
                    f"fields.{required}",
                    f"{spec.name} need it: map a column, a template or a constant",
                )
            )
    return problems


def _check_rule(mapping: Mapping, name: str, rule: FieldRule, where: str) -> list[MappingProblem]:
    problems: list[MappingProblem] = []
    given = [key for key in SOURCES if getattr(rule, key) is not None]
    if len(given) != 1:
        what = "only one" if given else "one"
        problems.append(MappingProblem(where, f"give {what} of column, constant or template"))
    if rule.column is not None and not rule.column.strip():
        problems.append(MappingProblem(f"{where}.column", "must name a column"))
    if rule.template is not None:
        try:
            parse_template(rule.template)
        except ValueProblem as error:
            problems.append(MappingProblem(f"{where}.template", f"the template {error}"))
    if rule.type is not None and custom_key(name) is None:
        problems.append(MappingProblem(f"{where}.type", "only custom fields take a type"))
    elif rule.type is FieldType.ENUM:
        problems.append(MappingProblem(f"{where}.type", "a custom field cannot be an enum"))
    spec = mapping.field_spec(name)
    if rule.date_format is not None:
        if spec.type not in DATED:
            problems.append(MappingProblem(f"{where}.date_format", "only for date fields"))
        elif why := dates.check_format(rule.date_format):
            problems.append(MappingProblem(f"{where}.date_format", why))
    if rule.timezone is not None:
        if spec.type is not FieldType.DATETIME:
            problems.append(MappingProblem(f"{where}.timezone", "only for date-time fields"))
        else:
            try:
                dates.zone_info(rule.timezone)
            except ValueProblem as error:
                problems.append(MappingProblem(f"{where}.timezone", str(error)))
    if rule.decimal_separator is not None and (
        rule.decimal_separator not in (".", ",") or spec.type not in NUMERIC
    ):
        problems.append(
            MappingProblem(f"{where}.decimal_separator", 'either "." or ",", on number fields')
        )
    if rule.separator is not None and (
        len(rule.separator) != 1 or rule.separator.isalnum() or spec.type is not FieldType.LIST
    ):
        problems.append(
            MappingProblem(f"{where}.separator", "one character such as ; or |, on list fields")
        )
    if problems:
        return problems  # the values below are read with what was just found wrong
    how = mapping.conversion(name)
    for key in ("constant", "default"):
        text = getattr(rule, key)
        if text is not None and text.strip():
            problems.extend(_check_value(f"{where}.{key}", text.strip(), how))
    for source, target in rule.values.items():
        if target.strip():
            problems.extend(_check_value(f"{where}.values.{source}", target.strip(), how))
    return problems


def _check_value(where: str, text: str, how: Conversion) -> list[MappingProblem]:
    try:
        convert(text, how)
    except ValueProblem as error:
        return [MappingProblem(where, f"{text!r} {error}")]
    return []
