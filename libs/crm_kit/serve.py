"""Run an app under uvicorn with the platform's JSON logging (`python -m crm_<svc>`)."""

from __future__ import annotations

import uvicorn
from starlette.applications import Starlette

from .logs import configure_logging
from .settings import Settings


def serve(app: Starlette, settings: Settings) -> None:
    configure_logging(settings.service, settings.log_level)
    # log_config=None keeps uvicorn on our root handler, so its lines are JSON too.
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
