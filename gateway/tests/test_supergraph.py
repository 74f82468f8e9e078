"""Supergraph loading, client-schema derivation and composition with the real composer."""

from __future__ import annotations

from pathlib import Path

from graphql import print_schema

from crm_gateway.api_schema import build_api_schema
from crm_gateway.supergraph import Supergraph

from .conftest import FIXTURES, REPO, SUBGRAPH_NAMES, compose


def test_composer_accepts_federation_2_9_and_emits_join_0_5(supergraph_sdl: str) -> None:
    for name in SUBGRAPH_NAMES:
        assert "federation/v2.9" in (FIXTURES / f"{name}.graphql").read_text()
    assert "https://specs.apollo.dev/join/v0.5" in supergraph_sdl
    sg = Supergraph.from_sdl(supergraph_sdl)
    assert sg.join_version == "v0.5"
    assert {s.name for s in sg.subgraphs.values()} == set(SUBGRAPH_NAMES)
    assert sg.url_of("DEALS") == "http://deals.test/graphql"


def test_join_metadata(supergraph_sdl: str) -> None:
    sg = Supergraph.from_sdl(supergraph_sdl)
    assert [k.fields for k in sg.keys("Company", "CONTACTS")] == ["id", "domain"]
    assert sg.keys("Contact", "DEALS")[0].resolvable is False
    assert sg.keys("Person", "CONTACTS")[0].fields == "org { id } login"
    assert sg.keys("StageChange", "TASKS")[0].fields == "dealId at"
    assert sg.field_graphs("Deal", "probability") == ["TASKS"]  # @override
    assert sg.field_in_graph("Deal", "riskScore", "TASKS").requires  # type: ignore[union-attr]
    assert sg.field_in_graph("Deal", "companyPreview", "DEALS").provides == "name"  # type: ignore[union-attr]
    assert sg.field_in_graph("Company", "name", "DEALS").external  # type: ignore[union-attr]
    assert sg.is_interface_object("Activity", "TASKS")
    assert set(sg.possible_types("Activity")) == {"Call", "Note"}
    assert set(sg.possible_types("FeedItem", "DEALS")) == {"Deal", "StageChange"}


def test_client_schema_hides_inaccessible_and_join_machinery(supergraph_sdl: str) -> None:
    printed = print_schema(build_api_schema(Supergraph.from_sdl(supergraph_sdl)))
    assert "secretNote" not in printed
    assert "join__" not in printed and "link__" not in printed and "@link" not in printed
    assert "_entities" not in printed and "_Any" not in printed
    assert "interface Activity" in printed and "followUps" in printed


def test_composition_fails_loudly_on_broken_subgraphs(tmp_path: Path) -> None:
    bad = tmp_path / "bad.graphql"
    bad.write_text(
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])\n'
        'type Query { x: Contact }\ntype Contact @key(fields: "nope") { id: ID! }\n'
    )
    import pytest

    with pytest.raises(AssertionError):
        compose({"bad": ("http://bad.test/graphql", bad)})


def test_committed_supergraph_is_fresh() -> None:
    """gateway/supergraph.graphql must equal the composition of the committed subgraph SDLs."""
    subgraphs = {
        name: (f"http://127.0.0.1:{port}/graphql", REPO / "services" / name / "schema.graphql")
        for name, port in (
            ("contacts", 4001),
            ("deals", 4002),
            ("tasks", 4003),
            ("capture", 4004),
            ("webhooks", 4005),
            ("imports", 4006),
        )
        if (REPO / "services" / name / "schema.graphql").exists()
    }
    assert subgraphs, "no committed subgraph SDL found"
    committed = (REPO / "gateway" / "supergraph.graphql").read_text()
    assert compose(subgraphs) == committed, "stale supergraph: run `make supergraph`"
