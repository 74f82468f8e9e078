"""Print the subgraph SDL: `python -m crm_tasks.export_schema > services/tasks/schema.graphql`."""

from __future__ import annotations

from .graphql.schema import schema


def sdl() -> str:
    return schema.as_str().rstrip() + "\n"


if __name__ == "__main__":
    print(sdl(), end="")
