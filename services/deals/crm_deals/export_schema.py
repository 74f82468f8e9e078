"""`python -m crm_deals.export_schema`: print the subgraph SDL (committed as schema.graphql)."""

from __future__ import annotations

from .graphql.schema import schema


def sdl() -> str:
    return schema.as_str() + "\n"


if __name__ == "__main__":
    print(sdl(), end="")
