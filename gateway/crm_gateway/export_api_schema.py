"""`python -m crm_gateway.export_api_schema > web/schema.graphql`: the API schema clients see.

The same derivation the gateway serves (`build_api_schema` over the committed supergraph),
printed as SDL, so the web client generates its typed documents from exactly what the
gateway validates against and a breaking change fails the web build.
"""

from __future__ import annotations

import sys
from pathlib import Path

from graphql import print_schema

from crm_gateway.api_schema import build_api_schema
from crm_gateway.supergraph import Supergraph
from crm_kit.paths import REPO_ROOT

SUPERGRAPH = REPO_ROOT / "gateway" / "supergraph.graphql"


def api_sdl(supergraph_path: Path = SUPERGRAPH) -> str:
    schema = build_api_schema(Supergraph.from_sdl(supergraph_path.read_text()))
    return print_schema(schema) + "\n"


if __name__ == "__main__":
    sys.stdout.write(api_sdl())
