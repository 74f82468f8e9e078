"""`python -m crm_imports`: serve the subgraph on IMPORTS_HOST:IMPORTS_PORT."""

from __future__ import annotations

from crm_kit.serve import serve

from .app import create_app
from .config import load_settings


def main() -> None:
    settings = load_settings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
