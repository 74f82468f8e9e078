"""The shaper on its own: projection, null propagation, runtime types, enum checks."""

from __future__ import annotations

from typing import Any

from graphql import (
    FragmentDefinitionNode,
    GraphQLObjectType,
    OperationDefinitionNode,
    build_schema,
    parse,
)

from crm_gateway.planner import Planner, conflict_alias
from crm_gateway.shaper import Shaper

SCHEMA = build_schema(
    """
    type Query { deals: [Deal!]!  feed: [Item]  top: Deal }
    type Deal { id: ID!  title: String  stage: Stage!  owner: User! }
    type User { name: String! }
    type Note { text: String }
    union Item = Deal | Note
    enum Stage { LEAD WON }
    """
)


def shape(
    query: str, data: dict[str, Any], variables: dict[str, Any] | None = None
) -> tuple[Any, list[dict[str, Any]]]:
    doc = parse(query)
    op = next(d for d in doc.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
    names = Planner.condition_variables(op, fragments)
    errors: list[dict[str, Any]] = []
    root = SCHEMA.query_type
    assert isinstance(root, GraphQLObjectType)
    shaper = Shaper(SCHEMA, fragments, names)
    out = shaper.shape(root, tuple(op.selection_set.selections), data, variables or {}, errors)
    return out, errors


def test_keeps_what_was_asked_with_aliases_and_typename() -> None:
    # The planner sends the client's aliases, so the data is keyed by response key.
    data = {"deals": [{"key": "d1", "title": "Big", "__typename": "Deal", "extra": 1}]}
    out, errors = shape("{ deals { key: id title kind: __typename } }", data)
    assert out == {"deals": [{"key": "d1", "title": "Big", "kind": "Deal"}]}
    assert errors == []


def test_non_null_bubbles_to_the_nearest_nullable_parent_with_one_error() -> None:
    data = {"top": {"id": "d1", "owner": {"name": None}, "stage": "LEAD"}}
    out, errors = shape("{ top { id owner { name } } }", data)
    assert out == {"top": None}
    assert [e["path"] for e in errors] == [["top", "owner", "name"]]
    assert "Cannot return null for non-nullable field User.name." in errors[0]["message"]


def test_a_null_in_a_non_null_list_nulls_the_whole_data() -> None:
    out, errors = shape("{ deals { id } }", {"deals": [{"id": "d1"}, None]})
    assert out is None
    assert errors[0]["path"] == ["deals", 1]


def test_a_subgraph_error_already_explaining_a_null_is_not_repeated() -> None:
    errors = [{"message": "boom", "path": ["top", "owner"]}]
    doc = parse("{ top { owner { name } } }")
    op = doc.definitions[0]
    assert isinstance(op, OperationDefinitionNode) and SCHEMA.query_type is not None
    out = Shaper(SCHEMA, {}, []).shape(
        SCHEMA.query_type,
        tuple(op.selection_set.selections),
        {"top": {"owner": None}},
        {},
        errors,
    )
    assert out == {"top": None}
    assert errors == [{"message": "boom", "path": ["top", "owner"]}]


def test_fragments_apply_by_runtime_type_and_unknown_types_are_errors() -> None:
    data = {
        "feed": [
            {"__typename": "Deal", "id": "d1", "title": "Big"},
            {"__typename": "Note", "text": "hi"},
            {"__typename": "Ghost"},
        ]
    }
    out, errors = shape(
        "{ feed { __typename ...D ... on Note { text } } } fragment D on Deal { title }", data
    )
    assert out == {
        "feed": [
            {"__typename": "Deal", "title": "Big"},
            {"__typename": "Note", "text": "hi"},
            None,
        ]
    }
    assert errors[0]["path"] == ["feed", 2]
    assert "runtime type of Query.feed" in errors[0]["message"]


def test_an_enum_value_outside_the_api_schema_is_refused() -> None:
    data = {"top": {"id": "d1", "stage": "SECRET"}}
    out, errors = shape("{ top { stage } }", data)
    assert out == {"top": None}  # stage is non-null: the refused value bubbles up
    assert errors[0]["message"] == "Enum Stage cannot represent value: 'SECRET'"


def test_a_renamed_key_is_read_from_its_conflict_alias() -> None:
    data = {"top": {conflict_alias("title", "Deal"): "Aliased"}}
    out, _ = shape("{ top { title } }", data)
    assert out == {"top": {"title": "Aliased"}}


def test_skip_and_include_follow_the_variables_of_each_request() -> None:
    query = "query($t: Boolean!) { top { id title @include(if: $t) } }"
    data = {"top": {"id": "d1", "title": "Big"}}
    doc = parse(query)
    op = doc.definitions[0]
    assert isinstance(op, OperationDefinitionNode) and SCHEMA.query_type is not None
    shaper = Shaper(SCHEMA, {}, Planner.condition_variables(op, {}))
    sels = tuple(op.selection_set.selections)
    assert shaper.shape(SCHEMA.query_type, sels, data, {"t": True}, []) == {
        "top": {"id": "d1", "title": "Big"}
    }
    assert shaper.shape(SCHEMA.query_type, sels, data, {"t": False}, []) == {"top": {"id": "d1"}}
