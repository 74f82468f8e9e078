"""`python -m crm_deals`: serve the subgraph on DEALS_HOST:DEALS_PORT (127.0.0.1:4002)."""

from __future__ import annotations

import uvicorn

from crm_kit.logs import configure_logging

from .app import create_app
from .config import SERVICE, load_settings


def main() -> None:
    settings = load_settings()
    configure_logging(SERVICE, settings.log_level)
    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.port, log_config=None, lifespan="on"
    )


if __name__ == "__main__":
    main()
