"""The web app's own GraphQL documents (`web/src/**/*.ts(x)`, the `graphql(`...`)` calls),
so the load sends what the screens send and stays in step with them: an operation by its
name, with the fragments it spreads (transitively) appended."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

WEB_SRC = Path(__file__).resolve().parents[2] / "web" / "src"
_CALL = re.compile(r"graphql\(`(.*?)`\)", re.S)
_DEFINITION = re.compile(r"^\s*(query|mutation|subscription|fragment)\s+(\w+)", re.M)
_SPREAD = re.compile(r"\.\.\.\s*([A-Za-z_]\w*)")


@cache
def _definitions() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted(WEB_SRC.rglob("*.ts*")):
        for body in _CALL.findall(path.read_text()):
            head = _DEFINITION.search(body)
            if head is not None:
                found[head.group(2)] = body.strip()
    return found


def document(name: str) -> str:
    """The operation `name` with every fragment it needs (KeyError: no such operation)."""
    definitions = _definitions()
    parts = [definitions[name]]
    seen = {name}
    queue = [definitions[name]]
    while queue:
        for spread in _SPREAD.findall(queue.pop()):
            if spread in definitions and spread not in seen and spread != "on":
                seen.add(spread)
                parts.append(definitions[spread])
                queue.append(definitions[spread])
    return "\n".join(parts)
