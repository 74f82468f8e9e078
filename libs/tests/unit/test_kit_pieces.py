"""Cursors, the envelope, error formatting and update merging."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from graphql import GraphQLError, build_schema, graphql

from crm_contracts.envelope import CloudEvent, event_subject, new_event
from crm_kit.errors import BadUserInput, format_error, variable_field
from crm_kit.outbox import merge_update, outbox_fields, outbox_update
from crm_kit.pagination import decode_cursor, encode_cursor, keyset_filter, page_size
from crm_kit.profile import DatabaseProfile
from crm_kit.settings import Settings


def test_cursor_round_trip_keeps_datetimes() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert decode_cursor(encode_cursor(when, "abc")) == (when, "abc")
    assert decode_cursor(encode_cursor("Smith", "x1")) == ("Smith", "x1")


def test_malformed_cursor_and_page_sizes_are_input_errors() -> None:
    with pytest.raises(BadUserInput) as raised:
        decode_cursor("!!!not-a-cursor", field="after")
    assert raised.value.field == "after"
    with pytest.raises(BadUserInput):
        page_size(1000)
    assert page_size(None) == 20


def test_keyset_filter_breaks_ties_on_id() -> None:
    assert keyset_filter("last_name", False, ("Smith", "x1")) == {
        "$or": [{"last_name": {"$gt": "Smith"}}, {"last_name": "Smith", "_id": {"$gt": "x1"}}]
    }
    assert keyset_filter("_id", True, (None, "x1")) == {"_id": {"$lt": "x1"}}


def test_event_subjects_are_validated() -> None:
    assert event_subject("deals", "deal", "stage_changed") == "crm.deals.deal.stage_changed.v1"
    with pytest.raises(ValueError):
        event_subject("deals", "deal", "Stage Changed")


def test_envelope_round_trip() -> None:
    event = new_event(event_type="crm.x.y.created.v1", source="crm/x", workspace="w", data={"a": 1})
    again = CloudEvent.from_json(event.to_json())
    assert again == event and again.specversion == "1.0"


def test_error_formatting_carries_code_and_field_and_hides_internals() -> None:
    user = format_error(GraphQLError("bad", original_error=BadUserInput("bad", field="input.x")))
    assert user["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.x"}
    internal = format_error(
        GraphQLError("secret detail", path=["field"], original_error=KeyError("k"))
    )
    assert internal == {
        "message": "Internal server error",
        "path": ["field"],
        "extensions": {"code": "INTERNAL_SERVER_ERROR"},
    }
    coercion = format_error(
        GraphQLError(
            "Variable '$s' got invalid value 'X'; Value 'X' does not exist in 'Status' enum.",
            original_error=ValueError("no such value"),
        )
    )
    assert coercion["extensions"] == {"code": "BAD_USER_INPUT", "field": "s"}
    parse = format_error(GraphQLError("Syntax Error: Unexpected Name"))
    assert parse["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


async def test_variable_coercion_errors_name_the_field() -> None:
    schema = build_schema(
        "scalar Date input J { n: Int! } input I { d: Date, xs: [Int!], inner: J }"
        " type Query { f(i: I, n: Int): Int }"
    )
    cases = [
        ({"i": {"xs": [1, "a"]}}, "i.xs.1"),
        ({"i": {"inner": {}}}, "i.inner.n"),
        ({"i": {"zz": 1}}, "i.zz"),
        ({"i": 5}, "i"),
        ({"n": "x"}, "n"),
    ]
    for variables, field in cases:
        result = await graphql(
            schema, "query($i: I, $n: Int) { f(i: $i, n: $n) }", None, None, variables
        )
        [error] = result.errors or []
        assert format_error(error)["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    [missing] = (await graphql(schema, "query($n: Int!) { f(n: $n) }")).errors or []
    assert format_error(missing)["extensions"] == {"code": "BAD_USER_INPUT", "field": "n"}
    assert variable_field("Cannot query field 'x' on type 'Query'.") is None


def test_outbox_updates_merge_with_state_changes() -> None:
    event = new_event(event_type="crm.x.y.updated.v1", source="s", workspace="w", data={})
    merged = merge_update({"$set": {"name": "n"}}, outbox_update([event]))
    assert merged["$set"]["name"] == "n" and merged["$set"]["_outbox_pending"] is True
    assert merged["$push"]["_outbox"]["$each"][0]["id"] == event.id
    assert outbox_fields([])["_outbox_pending"] is False


def test_the_database_profile_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert DatabaseProfile.named("ferretdb").workarounds
    assert not DatabaseProfile.named("mongodb").workarounds
    with pytest.raises(ValueError):
        DatabaseProfile.named("sqlite")
    assert Settings(service="contacts").database_profile == "auto"
    monkeypatch.setenv("DATABASE_PROFILE", " MongoDB ")
    assert Settings.from_env("contacts").database_profile == "mongodb"
    monkeypatch.setenv("DATABASE_PROFILE", "fast")
    with pytest.raises(ValueError, match="DATABASE_PROFILE"):
        Settings.from_env("contacts")
