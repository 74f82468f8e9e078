"""`python -m crm_tasks`: serve the subgraph on TASKS_HOST:TASKS_PORT (127.0.0.1:4003)."""

from __future__ import annotations

from crm_kit.serve import serve

from .app import create_app
from .config import load_settings


def main() -> None:
    settings = load_settings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
