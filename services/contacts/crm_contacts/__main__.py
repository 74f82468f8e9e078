"""`python -m crm_contacts`: serve the subgraph on CONTACTS_HOST:CONTACTS_PORT."""

from __future__ import annotations

import uvicorn

from crm_kit.logs import configure_logging

from .app import create_app
from .config import SERVICE, load_settings


def main() -> None:
    settings = load_settings()
    configure_logging(SERVICE, settings.log_level)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
