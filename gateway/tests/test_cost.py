"""The demand-control cost model (IBM cost directive conventions) and the linear checks."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import (
    FragmentDefinitionNode,
    OperationDefinitionNode,
    build_schema,
    parse,
)

from crm_gateway.cost import CostModel
from crm_gateway.limits import LimitExceeded, Limits, check_shape

from .conftest import REPO

SDL = """
directive @cost(weight: Int!) on FIELD_DEFINITION | OBJECT | SCALAR | ENUM
directive @listSize(
  assumedSize: Int, slicingArguments: [String!], sizedFields: [String!]
) on FIELD_DEFINITION

type Query {
  contacts(first: Int, after: String): ContactConnection!
  tags: [String!]!
  teams: [Team!]!
  top(limit: Int): [Contact!]! @listSize(slicingArguments: ["limit"])
  few: [Contact!]! @listSize(assumedSize: 3)
  expensive: Contact @cost(weight: 50)
}
type Mutation { touch: Contact }
type ContactConnection { edges: [ContactEdge!]! totalCount: Int! }
type ContactEdge { node: Contact! cursor: String! }
type Contact {
  id: ID!
  name: String!
  company: Company
  interactions(first: Int): [Interaction!]!
}
type Company { id: ID! name: String! }
type Interaction { kind: String! }
type Team { id: ID! members: [Contact!]! }
"""


def _cost(query: str, variables: dict[str, Any] | None = None) -> tuple[int, bool]:
    model = CostModel(build_schema(SDL), SDL, default_list_size=10, default_page_size=20)
    doc = parse(query)
    op = next(d for d in doc.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
    return model.estimate(op, fragments, variables or {})


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # connection 1 + first x (edge 1 + node 1 + company 1)
        ("{ contacts(first: 5) { edges { node { name company { name } } } } }", 1 + 5 * 3),
        # no first: the default page size (20), not the assumed list size
        ("{ contacts { edges { node { id } } } }", 1 + 20 * 2),
        # a list with its own `first`, inside a connection
        (
            "{ contacts(first: 2) { edges { node { interactions(first: 7) { kind } } } } }",
            1 + 2 * (1 + 1 + 7 * 1),
        ),
        ("{ teams { members { id } } }", 10 * (1 + 10 * 1)),  # lists without sizes: 10
        ("{ tags }", 0),  # scalars are free
        ("{ top(limit: 4) { id } }", 4),  # @listSize(slicingArguments:)
        ("{ few { id } }", 3),  # @listSize(assumedSize:)
        ("{ expensive { id } }", 50),  # @cost(weight:)
        ("mutation { touch { company { id } } }", 10 + 1),  # a mutation field costs 10
        ("{ __schema { types { fields { name } } } }", 0),  # introspection: answered locally
    ],
)
def test_cost_follows_the_conventions(query: str, expected: int) -> None:
    assert _cost(query)[0] == expected


def test_page_size_from_variables_and_what_varies() -> None:
    q = "query($n: Int) { contacts(first: $n) { edges { node { id } } } }"
    assert _cost(q, {"n": 1_000_000}) == (1 + 1_000_000 * 2, True)
    assert _cost(q, {}) == (1 + 20 * 2, True)
    assert _cost("{ contacts(first: 3) { edges { node { id } } } }")[1] is False


def test_fragments_cost_what_they_expand_to_without_being_expanded() -> None:
    frag = "fragment E on ContactConnection { edges { node { id company { id } } } }"
    inline = _cost("{ a: contacts(first: 4) { edges { node { id company { id } } } } }")[0]
    spread = _cost("{ a: contacts(first: 4) { ...E } } " + frag)[0]
    assert spread == inline == 1 + 4 * 3
    # The same fragment under two page sizes: each sizes it.
    both = _cost("{ a: contacts(first: 4) { ...E } b: contacts(first: 40) { ...E } } " + frag)
    assert both[0] == (1 + 4 * 3) + (1 + 40 * 3)


def _bomb(levels: int) -> str:
    """Each level spreads the next twice: 2^levels `name` fields once expanded."""
    frags = "".join(
        f"fragment F{i} on Contact {{ ...F{i + 1} ...F{i + 1} }} " for i in range(levels)
    )
    return (
        "{ contacts(first: 1) { edges { node { ...F0 } } } } "
        + frags
        + f"fragment F{levels} on Contact {{ n: name company {{ id }} }}"
    )


def test_a_fragment_bomb_is_counted_not_expanded() -> None:
    cost, _ = _cost(_bomb(40))  # 2^40 expanded fields: expansion would never finish
    assert cost > 2**40
    doc = parse(_bomb(40))
    op = next(d for d in doc.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
    with pytest.raises(LimitExceeded) as refused:
        check_shape(Limits(), op, fragments)
    assert refused.value.code == "MAX_ALIASES_EXCEEDED"


def test_the_platforms_own_queries_fit_the_default_budget() -> None:
    """The bench's unified board query and the e2e board fit; a million-row page does not."""
    from crm_gateway.gateway import Gateway

    gateway = Gateway((REPO / "gateway" / "supergraph.graphql").read_text())
    board = (REPO / "bench" / "gateway" / "run.py").read_text()
    pipeline = board.split('PIPELINE_QUERY = """', 1)[1].split('"""', 1)[0]

    def cost(query: str) -> int:
        doc = parse(query)
        op = next(d for d in doc.definitions if isinstance(d, OperationDefinitionNode))
        return gateway.costs.estimate(op, {}, {})[0]

    assert cost(pipeline) < Limits().max_cost
    bomb = "{ contacts(first: 1000000) { edges { node { id } } } }"
    assert cost(bomb) > Limits().max_cost


def test_a_bomb_of_free_scalars_is_refused_by_its_expanded_size() -> None:
    """Scalars cost nothing and such a bomb has no aliases, depth or root fields to speak
    of; its expanded field count is what would make planning it exponential."""
    frags = "".join(f"fragment F{i} on Contact {{ ...F{i + 1} ...F{i + 1} }} " for i in range(30))
    doc = parse("{ teams { members { ...F0 } } } " + frags + "fragment F30 on Contact { id }")
    op = next(d for d in doc.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
    with pytest.raises(LimitExceeded) as refused:
        check_shape(Limits(), op, fragments)
    assert refused.value.code == "MAX_FIELDS_EXCEEDED"
    assert "2000" in refused.value.message or "2_000" in refused.value.message


def test_a_documents_cost_is_walked_once_per_page_size_it_is_asked_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The gateway keeps an operation's cost by the values of the variables that size its
    lists: the same refusals and admissions as walking every time, one walk per value."""
    from crm_gateway.gateway import Admitted, Gateway, GatewayRequest, GatewayResponse

    gateway = Gateway(
        (REPO / "gateway" / "supergraph.graphql").read_text(), limits=Limits(max_cost=5_000)
    )
    walks: list[dict[str, Any]] = []
    walk = gateway.costs.estimate_inputs

    def counted(op: Any, fragments: Any, variables: Any) -> tuple[int, tuple[str, ...]]:
        walks.append(dict(variables))
        return walk(op, fragments, variables)

    monkeypatch.setattr(gateway.costs, "estimate_inputs", counted)
    query = (
        "query($n: Int, $t: String) { contacts(first: $n, after: $t) { edges { node { id } } } }"
    )

    def refused(variables: dict[str, Any]) -> bool:
        admitted = gateway.admit(GatewayRequest(query, variables))
        if isinstance(admitted, GatewayResponse):
            assert admitted.body["errors"][0]["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
            return True
        assert isinstance(admitted, Admitted)
        return False

    asked = [
        {"n": 1_000_000},
        {"n": 5},
        {"n": 1_000_000, "t": "a"},  # another cursor: the same size, the same cost
        {"n": 5, "t": "b"},
        {},  # the default page size
        {"n": None},  # null: the default page size as well
        {"n": 3_000},
    ]
    answers = [refused(v) for v in asked]
    assert answers == [True, False, True, False, False, False, True]
    # Walked for 1,000,000, 5, the default and 3,000 only; the cursor never sizes anything.
    assert [w.get("n") for w in walks] == [1_000_000, 5, None, 3_000]
    fresh = Gateway(
        (REPO / "gateway" / "supergraph.graphql").read_text(), limits=Limits(max_cost=5_000)
    )
    for variables in asked:  # every kept cost equals a fresh walk's
        op = gateway.prepare(query).operations[None]
        kept = gateway._cost(op, {}, variables)
        assert kept == fresh.costs.estimate(op.operation, {}, variables)[0]
