"""Apply a mapping to rows: each row becomes typed field values, or issues naming the row,
the column, the value and the reason. The mapping is compiled once per file (columns to
positions, templates to parts, value maps to look-ups), so a row costs a few dictionary
look-ups and one conversion per field."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import RowIssue, Severity, ValueProblem
from .mapping import Column, FieldRule, Mapping, parse_template
from .table import Row
from .values import Conversion, FieldType, Parser, parse_amount, parser_for

Reader = Callable[[tuple[str, ...]], str]


@dataclass(slots=True)
class MappedRow:
    row: int
    values: dict[str, Any] = field(default_factory=dict)
    issues: list[RowIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No error (warnings allowed): the row can be imported."""
        return not any(issue.is_error for issue in self.issues)

    def error(self, code: str, reason: str, **where: Any) -> None:
        self.issues.append(RowIssue(self.row, code, reason, **where))

    def warn(self, code: str, reason: str, **where: Any) -> None:
        self.issues.append(RowIssue(self.row, code, reason, severity=Severity.WARNING, **where))


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    label: str | None  # the column (or template) named in issues
    read: Reader
    values: dict[str, str]
    default: str | None
    required: bool
    how: Conversion
    parse: Parser


def value_key(text: str) -> str:
    """Value-map keys match ignoring case and repeated spaces."""
    return " ".join(text.split()).casefold()


class RowMapper:
    """`mapping` compiled against a file's header; raises MappingError if they disagree."""

    def __init__(self, mapping: Mapping, header: Sequence[str]) -> None:
        mapping.check_header(header)
        self.mapping = mapping
        positions = {name: index for index, name in enumerate(header)}
        self._fields = [
            self._compile(name, rule, positions) for name, rule in mapping.fields.items()
        ]
        self._currency_field = "currency" in mapping.spec.by_name
        self._amounts = [f for f in self._fields if f.how.type is FieldType.AMOUNT]

    def _compile(self, name: str, rule: FieldRule, positions: dict[str, int]) -> _Field:
        spec = self.mapping.field_spec(name)
        how = self.mapping.conversion(name)
        return _Field(
            name=name,
            label=rule.column if rule.column is not None else rule.template,
            read=_reader(rule, positions),
            values={value_key(k): v for k, v in rule.values.items()},
            default=rule.default.strip() if rule.default else None,
            required=spec.required,
            how=how,
            parse=parser_for(how),
        )

    def map(self, row: Row) -> MappedRow:
        mapped = MappedRow(row.number, issues=list(row.issues))
        if row.has_errors:
            return mapped  # a row of the wrong shape: its values are not where the header says
        cells = row.values
        values = mapped.values
        for spec in self._fields:
            text = spec.read(cells).strip()
            if spec.values and text:
                text = spec.values.get(value_key(text), text).strip()
            if not text:
                if spec.default is None:
                    if spec.required:
                        mapped.error("required", "must not be empty", column=spec.label,
                                     field=spec.name)  # fmt: skip
                    continue
                text = spec.default
            try:
                values[spec.name] = spec.parse(text)
            except ValueProblem as problem:
                mapped.error("bad_value", str(problem), column=spec.label, value=text,
                             field=spec.name)  # fmt: skip
        if self._currency_field:
            self._currency(row, mapped)
        return mapped

    def _currency(self, row: Row, mapped: MappedRow) -> None:
        """A currency mark on an amount (`€1.200,00`) fills a blank currency; the
        mapping's currency fills what is still blank."""
        values = mapped.values
        for spec in self._amounts:
            text = spec.read(row.values).strip()
            if not text or (text[0].isdigit() and text[-1].isdigit()):
                continue  # no room for a currency mark
            try:
                marked = parse_amount(text, spec.how.decimal_separator)[1]
            except ValueProblem:
                continue
            if marked is None:
                continue
            given = values.get("currency")
            if given is None:
                values["currency"] = marked
            elif given != marked:
                mapped.warn("currency_conflict",
                            f"says {marked}, the currency field {given}: read as {given}",
                            column=spec.label, value=text, field=spec.name)  # fmt: skip
        if values.get("currency") is None and self.mapping.currency is not None:
            values["currency"] = self.mapping.currency


def _reader(rule: FieldRule, positions: dict[str, int]) -> Reader:
    if rule.column is not None:
        index = positions[rule.column]
        return lambda cells: cells[index]
    if rule.constant is not None:
        constant = rule.constant
        return lambda cells: constant
    assert rule.template is not None
    parts: list[str | int] = [
        positions[part] if isinstance(part, Column) else part
        for part in parse_template(rule.template)
    ]
    columns = [part for part in parts if isinstance(part, int)]

    def render(cells: tuple[str, ...]) -> str:
        if not any(cells[index].strip() for index in columns):
            return ""
        text = "".join(cells[p].strip() if isinstance(p, int) else p for p in parts)
        # `{First} {Last}` with no first name is `Last`, not ` Last`.
        return _SPACES.sub(" ", text).strip()

    return render


_SPACES = re.compile(r"[ \t]{2,}")
