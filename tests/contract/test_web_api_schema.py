"""The web client's schema is the gateway's API schema as it is now: the web build generates
its typed documents from web/schema.graphql, so a stale copy would hide a breaking change."""

from __future__ import annotations

from crm_gateway.export_api_schema import api_sdl
from crm_kit.paths import REPO_ROOT


def test_committed_web_schema_is_the_gateways_api_schema() -> None:
    committed = (REPO_ROOT / "web" / "schema.graphql").read_text()
    assert committed == api_sdl(), "run: make api-schema"


def test_api_schema_hides_the_federation_machinery() -> None:
    text = api_sdl()
    for hidden in ("_entities", "_service", "join__", "link__", "@inaccessible"):
        assert hidden not in text, hidden
    assert "pipelineBoard(" in text and "myTasks:" in text
