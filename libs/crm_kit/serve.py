"""Run an app under uvicorn with the platform's JSON logs, traces and metrics
(`python -m crm_<svc>`)."""

from __future__ import annotations

import uvicorn
from starlette.applications import Starlette

from .logs import configure_logging
from .metrics import serve_metrics
from .runtime import ROUTES
from .settings import Settings
from .telemetry import configure_tracing, instrument_app


def serve(app: Starlette, settings: Settings) -> None:
    configure_logging(settings.service, settings.log_level)
    # Before the lifespan opens any connection: MongoDB clients made later are traced.
    if configure_tracing(settings.service):
        instrument_app(app, ROUTES)
    serve_metrics(settings.service)
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
