"""An imported company's row read in one pass (`row_company_values`) gives what the input
objects gave (`company_values(company_input(row))`, then the row's `created_at`): the same
attributes for every combination of given, blank, absent and bad fields, and for a bad row
the same error (type, message, field) first, whichever fields are bad together."""

from __future__ import annotations

import itertools
import random
from datetime import datetime
from typing import Any

import pytest

from crm_contacts.usecases.companies import company_values
from crm_contacts.usecases.imports.companies import (
    CompanySink,
    company_input,
    row_company_values,
)
from crm_contacts.usecases.imports.rows import PREFIX, moment
from crm_contacts.usecases.inputs import CompanyInput
from crm_contacts.usecases.scope import Scope
from crm_contracts.import_batches import ImportRow
from crm_kit.context import RequestContext
from crm_kit.errors import CRMError
from crm_kit.unset import UNSET

from .conftest import FakeStore

# Per column: values that pass, blanks, and values that fail (on reading or validating).
CHOICES: dict[str, list[Any]] = {
    "name": ["Acme", "  Acme   Corp ", "", "   ", None, 12, True, ["x"], "x" * 300],
    "domain": ["acme.com", "https://www.Acme.com/about", "", None, "not a domain", 5, {}],
    "industry": ["Software", " RETAIL ", "", None, "x" * 101, 3.5, False],
    "size": [12, "40", "", None, -1, "many", 1.5, True],
    "website": ["acme.com", "https://acme.com/x", "", None, "http://", 7, ["a"]],
    "owner_id": ["u1", " u2 ", "", None, "x" * 101, False],
    "tags": [["A", "b", "a"], "one", [], ["", "ok"], None, [1], "x" * 70, ["t"] * 60],
    "address.city": ["Oslo", "  ", None, 3, ["x"], "y" * 300],
    "address.country": ["Norway", "", None, {}],
    "custom.tier": ["gold", 3, None, {"x": 1}, [1, 2]],
    "custom.$bad": ["x"],
    "created_at": ["2024-05-01T10:00:00Z", "2024-05-01T10:00:00.123456+02:00", "", "soon", 5],
    "unknown": ["ignored"],
}


def reference(values: dict[str, Any]) -> tuple[dict[str, Any], datetime | None]:
    """What the sink read before: the input object, `created_at`, then the validation."""
    data = company_input(values)
    created = moment(values, "created_at")
    named = data if data.name is not UNSET else CompanyInput(**{**data.__dict__, "name": None})
    return company_values(named, PREFIX), created


def outcome(read: Any, values: dict[str, Any]) -> Any:
    try:
        return ("ok", read(values))
    except CRMError as error:
        return (type(error).__name__, error.message, error.field)


def rows() -> list[dict[str, Any]]:
    """Each column alone with each of its choices (beside a valid name), then random rows
    of several columns, often several bad at once."""
    out: list[dict[str, Any]] = [{}]
    for column, choices in CHOICES.items():
        for choice in choices:
            out.append({"name": "Base", column: choice})
            out.append({column: choice})
    rng = random.Random(17)
    columns = list(CHOICES)
    for _ in range(3000):
        picked = rng.sample(columns, rng.randint(1, len(columns)))
        out.append({column: rng.choice(CHOICES[column]) for column in picked})
    return out


def test_every_row_reads_as_the_input_objects_read_it() -> None:
    failures = 0
    for values in rows():
        assert outcome(row_company_values, values) == outcome(reference, values), values
        failures += outcome(reference, values)[0] != "ok"
    assert failures > 1000  # the rows exercise the errors, not only valid input


@pytest.mark.parametrize("pair", list(itertools.combinations(["name", "size", "tags"], 2)))
def test_the_first_bad_field_is_named_as_before(pair: tuple[str, str]) -> None:
    bad = {"name": ["x"], "size": "many", "tags": [1]}  # each fails as it is read
    values = {column: bad[column] for column in pair}
    assert outcome(row_company_values, values) == outcome(reference, values)
    assert outcome(row_company_values, values)[2] == f"row.{pair[0]}"


async def test_the_sink_builds_the_company_the_input_objects_made(store: FakeStore) -> None:
    scope = Scope(store.for_workspace("w1"), RequestContext("w1", "ann", frozenset({"admin"})))
    values = {
        "name": "Acme", "domain": "www.acme.com", "industry": "Energy", "size": "7",
        "address.city": "Oslo", "website": "acme.com", "owner_id": "u1", "tags": "t",
        "custom.tier": "gold", "external_id": "C1", "created_at": "2024-05-01T10:00:00Z",
    }  # fmt: skip
    built = await CompanySink(scope, "job-1").build(ImportRow(row=2, values=values), "c1")
    company = built.record
    attributes, created = reference(values)
    assert {name: getattr(company, name) for name in attributes} == attributes
    assert (company.created_at, company.updated_at) == (created, created)
    assert (company.created_by, company.import_job, company.external_id) == ("ann", "job-1", "C1")
    assert [type(event).__name__ for event in company.pending_events] == ["CompanyCreated"]
    assert built.keys == [("external_id", "C1"), ("domain", "acme.com")]
