"""Print the subgraph SDL (`make schemas` writes it to services/imports/schema.graphql)."""

from __future__ import annotations

from .graphql.schema import schema


def sdl() -> str:
    return schema.as_str().rstrip() + "\n"


if __name__ == "__main__":
    print(sdl(), end="")
